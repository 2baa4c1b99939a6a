//! A small per-thread pseudo-random generator (wyrand) for balancing choices and jitter: no
//! lock, no allocation, not for anything secret. Each thread seeds itself from std's
//! per-process random hash keys.

use std::{cell::Cell, collections::hash_map::RandomState, hash::BuildHasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let thread = std::thread::current().id();
    RandomState::new().hash_one(thread)
}

/// The next random 64-bit number.
pub(crate) fn next() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    })
}

/// A number in `0..bound` (0 when `bound` is 0), by multiply-shift; the bias is below 2^-32 for
/// any bound a pool can have.
pub(crate) fn below(bound: usize) -> usize {
    ((u128::from(next()) * bound as u128) >> 64) as usize
}

/// A number in `[0, 1)`.
pub(crate) fn unit() -> f64 {
    (next() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[below(7)] += 1;
        }
        assert!(seen.iter().all(|&n| (700..1300).contains(&n)), "{seen:?}");
        assert_eq!(below(0), 0);
    }

    #[test]
    fn unit_is_in_the_unit_interval() {
        assert!((0..1000).map(|_| unit()).all(|x| (0.0..1.0).contains(&x)));
    }
}
