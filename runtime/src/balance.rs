//! Balancing strategies: which server of a pool gets the next request.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A balancing strategy, chosen at build time as `Pool`'s type parameter.
pub trait Strategy: Send + Sync + 'static {
    /// A strategy for a pool of `servers` servers (at least one).
    fn new(servers: usize) -> Self;

    /// The index of the server for the next request, below the `servers` given to `new`.
    fn pick(&self) -> usize;
}

/// Each server in turn.
#[derive(Debug)]
pub struct RoundRobin {
    next: AtomicUsize,
    servers: usize,
}

impl Strategy for RoundRobin {
    fn new(servers: usize) -> Self {
        RoundRobin {
            next: AtomicUsize::new(0),
            servers: servers.max(1),
        }
    }

    fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_each_server_in_turn() {
        let strategy = RoundRobin::new(3);
        let picks: Vec<usize> = (0..7).map(|_| strategy.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn round_robin_is_fair_across_threads() {
        let strategy = RoundRobin::new(4);
        let counts: Vec<[usize; 4]> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut counts = [0; 4];
                        for _ in 0..1000 {
                            counts[strategy.pick()] += 1;
                        }
                        counts
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let totals: Vec<usize> = (0..4).map(|i| counts.iter().map(|c| c[i]).sum()).collect();
        assert_eq!(totals, [1000; 4]);
    }

    #[test]
    fn one_server_always_wins() {
        let strategy = RoundRobin::new(1);
        assert!((0..5).all(|_| strategy.pick() == 0));
    }
}
