//! Round robin. With equal weights, plain rotation on one shared counter. With unequal weights,
//! nginx's smooth weighted round robin: each pick adds every usable server's weight to its
//! current weight, takes the server with the largest, and subtracts the total from it, which
//! interleaves heavy servers instead of sending them bursts (weights 5/1/1 give a a b a c a a).
//! The current weights are kept per worker, as nginx keeps them per worker process, so picks
//! on different threads never contend.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex, PoisonError,
};

use super::{Choice, Strategy, Target};
use crate::{upstream::spec::ServerSpec, worker};

/// Smooth weighted round robin; plain rotation when all weights are equal.
#[derive(Debug, Default)]
pub struct RoundRobin {
    /// The rotation, kept across server sets.
    next: AtomicUsize,
}

/// Round robin's table for one server set: the current weights per worker and server, empty
/// when all weights are equal. A new set starts from zero, as nginx does on a reload.
#[doc(hidden)]
#[derive(Debug)]
pub struct Weights {
    current: Box<[Mutex<Box<[i64]>>]>,
}

impl Strategy for RoundRobin {
    type Table = Weights;

    fn table(servers: &[ServerSpec]) -> Weights {
        let first = servers.first().map(ServerSpec::weight);
        let equal = servers.iter().all(|s| Some(s.weight()) == first);
        let current = if equal {
            Box::default()
        } else {
            (0..worker::count())
                .map(|_| Mutex::new(vec![0; servers.len()].into_boxed_slice()))
                .collect()
        };
        Weights { current }
    }

    fn pick(&self, weights: &Weights, choice: &Choice<'_>, _: &Target<'_>) -> Option<usize> {
        if weights.current.is_empty() {
            self.rotate(choice)
        } else {
            smooth(weights, choice)
        }
    }
}

impl RoundRobin {
    /// The next member in turn. A skipped server uses up its turn, so the servers after it do
    /// not get its share.
    fn rotate(&self, choice: &Choice<'_>) -> Option<usize> {
        let members = choice.members();
        for _ in 0..members.len() {
            let index = members[self.next.fetch_add(1, Ordering::Relaxed) % members.len()];
            if choice.usable(index) {
                return Some(index);
            }
        }
        // Other threads took turns meanwhile; look at every member once more.
        members.iter().copied().find(|&index| choice.usable(index))
    }
}

/// nginx's smooth weighted round robin over this worker's current weights.
fn smooth(weights: &Weights, choice: &Choice<'_>) -> Option<usize> {
    let slot = &weights.current[worker::current() % weights.current.len()];
    let mut current = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let mut total = 0i64;
    let mut best: Option<usize> = None;
    for &index in choice.members() {
        if !choice.usable(index) {
            continue;
        }
        let weight = choice.weight(index) as i64;
        current[index] += weight;
        total += weight;
        if best.is_none_or(|best| current[index] > current[best]) {
            best = Some(index);
        }
    }
    let best = best?;
    current[best] -= total;
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn equal_weights_visit_each_server_in_turn() {
        let bench = Bench::new(servers(&[1, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        let headers = http::HeaderMap::new();
        let picks: Vec<usize> = (0..7)
            .map(|_| bench.pick(&strategy, &target(&headers, "/")).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn equal_weights_are_fair_across_threads() {
        let bench = Bench::new(servers(&[1, 1, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        let counts: Vec<Vec<usize>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| bench.counts(&strategy, 1000)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let totals: Vec<usize> = (0..4).map(|i| counts.iter().map(|c| c[i]).sum()).collect();
        assert_eq!(totals, [1000; 4]);
    }

    #[test]
    fn a_down_server_does_not_double_its_neighbours_share() {
        let bench = Bench::new(servers(&[1, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        bench.backends[1].set_up(false);
        assert_eq!(bench.counts(&strategy, 1000), [500, 0, 500]);
    }

    #[test]
    fn smooth_weighted_sequence_3_1_1() {
        let bench = Bench::new(servers(&[3, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        let headers = http::HeaderMap::new();
        let picks: Vec<usize> = (0..10)
            .map(|_| bench.pick(&strategy, &target(&headers, "/")).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 0, 2, 0, 0, 1, 0, 2, 0]);
    }

    #[test]
    fn smooth_weighted_5_1_1_is_nginxs_sequence() {
        let bench = Bench::new(servers(&[5, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        let headers = http::HeaderMap::new();
        let picks: Vec<usize> = (0..7)
            .map(|_| bench.pick(&strategy, &target(&headers, "/")).unwrap())
            .collect();
        assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn smooth_weighted_60_20_20_over_2000_picks() {
        let bench = Bench::new(servers(&[3, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        assert_eq!(bench.counts(&strategy, 2000), [1200, 400, 400]);
    }

    #[test]
    fn smooth_weighted_skips_unusable_servers() {
        let bench = Bench::new(servers(&[3, 1, 1]));
        let strategy = bench.strategy(RoundRobin::default());
        bench.backends[0].set_up(false);
        assert_eq!(bench.counts(&strategy, 1000), [0, 500, 500]);
        bench.backends[1].set_up(false);
        bench.backends[2].set_up(false);
        let headers = http::HeaderMap::new();
        assert_eq!(bench.pick(&strategy, &target(&headers, "/")), None);
    }
}
