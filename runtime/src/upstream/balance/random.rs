//! Random with two choices: draw two servers at random, each with a chance proportional to its
//! weight, and send to the one with fewer requests in flight per unit of weight. Almost as
//! even as least connections, without looking at every server.

use super::{max_weight, two_choices, Choice, Strategy, Target};
use crate::upstream::spec::ServerSpec;

/// Power of two random choices, weight-aware.
#[derive(Debug, Default)]
pub struct Random {}

impl Strategy for Random {
    /// The largest weight of the set.
    type Table = u64;

    fn table(servers: &[ServerSpec]) -> u64 {
        max_weight(servers)
    }

    fn pick(&self, max_weight: &u64, choice: &Choice<'_>, _: &Target<'_>) -> Option<usize> {
        two_choices(choice, *max_weight, |a, b| choice.less_loaded(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn idle_picks_spread_by_weight() {
        let bench = Bench::new(servers(&[2, 1, 1]));
        let strategy = bench.strategy(Random::default());
        let counts = bench.counts(&strategy, 4_000);
        assert!((1_700..2_300).contains(&counts[0]), "{counts:?}");
        assert!((700..1_300).contains(&counts[1]), "{counts:?}");
        assert!((700..1_300).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn of_two_choices_the_less_loaded_wins() {
        let bench = Bench::new(servers(&[1, 1]));
        let strategy = bench.strategy(Random::default());
        let _busy = bench.hold(0, 5);
        // With two servers both are always drawn, so the idle one always wins.
        assert_eq!(bench.counts(&strategy, 200), [0, 200]);
    }

    #[test]
    fn the_most_loaded_server_is_rarely_picked() {
        let bench = Bench::new(servers(&[1; 8]));
        let strategy = bench.strategy(Random::default());
        let _busy = bench.hold(3, 10);
        let counts = bench.counts(&strategy, 8_000);
        // Picked only when drawn twice ... which two distinct draws never do.
        assert_eq!(counts[3], 0, "{counts:?}");
    }

    #[test]
    fn one_usable_server_is_found() {
        let bench = Bench::new(servers(&[1; 6]));
        let strategy = bench.strategy(Random::default());
        for index in [0, 1, 2, 4, 5] {
            bench.backends[index].set_up(false);
        }
        assert_eq!(bench.counts(&strategy, 100), [0, 0, 0, 100, 0, 0]);
    }
}
