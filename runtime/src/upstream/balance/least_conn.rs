//! Least connections, weight-aware: the usable server with the fewest requests in flight per
//! unit of weight. The scan starts at a rotating offset, so ties go round robin.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Choice, Strategy, Target};
use crate::upstream::spec::ServerSpec;

/// Fewest requests in flight per unit of weight; ties round robin.
#[derive(Debug, Default)]
pub struct LeastConn {
    next: AtomicUsize,
}

impl Strategy for LeastConn {
    type Table = ();

    fn table(_: &[ServerSpec]) {}

    fn pick(&self, _: &(), choice: &Choice<'_>, _: &Target<'_>) -> Option<usize> {
        let members = choice.members();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<usize> = None;
        for offset in 0..members.len() {
            let index = members[(start + offset) % members.len()];
            if choice.usable(index) && best.is_none_or(|best| choice.less_loaded(index, best)) {
                best = Some(index);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn the_idle_server_is_preferred() {
        let bench = Bench::new(servers(&[1, 1, 1]));
        let strategy = bench.strategy(LeastConn::default());
        let _busy = (bench.hold(0, 3), bench.hold(2, 1));
        assert_eq!(bench.counts(&strategy, 100), [0, 100, 0]);
    }

    #[test]
    fn ties_go_round_robin() {
        let bench = Bench::new(servers(&[1, 1, 1]));
        let strategy = bench.strategy(LeastConn::default());
        assert_eq!(bench.counts(&strategy, 300), [100, 100, 100]);
    }

    #[test]
    fn load_is_compared_per_unit_of_weight() {
        let bench = Bench::new(servers(&[4, 1]));
        let strategy = bench.strategy(LeastConn::default());
        // 3 in flight on weight 4 is lighter than 1 on weight 1.
        let _busy = (bench.hold(0, 3), bench.hold(1, 1));
        assert_eq!(bench.counts(&strategy, 10), [10, 0]);
    }

    #[test]
    fn in_flight_requests_spread_by_weight() {
        let bench = Bench::new(servers(&[3, 1]));
        let strategy = bench.strategy(LeastConn::default());
        let headers = http::HeaderMap::new();
        let mut held = Vec::new();
        let mut counts = [0; 2];
        for _ in 0..40 {
            let index = bench.pick(&strategy, &target(&headers, "/")).unwrap();
            counts[index] += 1;
            held.extend(bench.hold(index, 1));
        }
        assert_eq!(counts, [30, 10]);
    }

    #[test]
    fn full_and_down_servers_are_skipped() {
        let bench = Bench::new(servers(&[1, 1]));
        let strategy = bench.strategy(LeastConn::default());
        bench.backends[0].set_up(false);
        assert_eq!(bench.counts(&strategy, 10), [0, 10]);
        bench.backends[1].set_up(false);
        let headers = http::HeaderMap::new();
        assert_eq!(bench.pick(&strategy, &target(&headers, "/")), None);
    }
}
