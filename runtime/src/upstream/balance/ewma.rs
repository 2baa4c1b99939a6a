//! Peak EWMA, as in Finagle and Linkerd: each server keeps a moving average of its response
//! latency that jumps up to any slower sample at once and decays towards faster ones with a
//! time constant of 10 s. A server's cost is its estimate times its requests in flight plus
//! one, divided by its weight; of two random draws the cheaper wins. Slow or overloaded servers
//! are avoided within a few requests, and probed again as their estimate decays.

use super::{max_weight, two_choices, Choice, Strategy, Target};
use crate::upstream::spec::ServerSpec;

/// Peak-EWMA latency times load, best of two random choices.
#[derive(Debug, Default)]
pub struct Ewma {}

impl Strategy for Ewma {
    const MEASURES_LATENCY: bool = true;

    /// The largest weight of the set.
    type Table = u64;

    fn table(servers: &[ServerSpec]) -> u64 {
        max_weight(servers)
    }

    fn pick(&self, max_weight: &u64, choice: &Choice<'_>, _: &Target<'_>) -> Option<usize> {
        let cost = |index: usize| {
            let backend = &choice.backends[index];
            backend.rtt.estimate(choice.now) * (choice.active(index) + 1) as f64
                / choice.weight(index) as f64
        };
        two_choices(choice, *max_weight, |a, b| cost(a) < cost(b))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::clock::Nanos;

    const MS: Nanos = 1_000_000;

    #[test]
    fn the_slow_server_is_avoided() {
        let bench = Bench::new(servers(&[1, 1, 1]));
        let strategy = bench.strategy(Ewma::default());
        let now = crate::clock::now();
        bench.backends[0].rtt.observe(MS, now);
        bench.backends[1].rtt.observe(60 * MS, now);
        bench.backends[2].rtt.observe(2 * MS, now);
        let counts = bench.counts(&strategy, 3_000);
        assert_eq!(counts[1], 0, "{counts:?}");
        assert!(counts[0] > counts[2], "{counts:?}");
    }

    #[test]
    fn load_raises_the_cost() {
        let bench = Bench::new(servers(&[1, 1]));
        let strategy = bench.strategy(Ewma::default());
        let now = crate::clock::now();
        bench.backends[0].rtt.observe(MS, now);
        bench.backends[1].rtt.observe(3 * MS, now);
        // 1 ms × (3 + 1) is dearer than 3 ms × 1.
        let _busy = bench.hold(0, 3);
        assert_eq!(bench.counts(&strategy, 100), [0, 100]);
    }
}
