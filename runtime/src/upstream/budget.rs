//! The retry budget: per pool and shared by all workers, retries may add at most 20% to the
//! requests of the last 10 seconds, plus a reserve of 10 retries per second so a quiet pool can
//! still retry. When it is spent a failure is returned as it is, so an outage cannot multiply
//! the load on the servers that are left (Finagle's and Linkerd's retry budgets).
//!
//! The window is 10 one-second buckets of atomic counters. A bucket is reset by the first
//! thread to reach it in a new second; an increment racing that reset may be lost, which only
//! makes the budget a little looser or stricter for that second.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::clock::Nanos;

/// Seconds in the sliding window.
const WINDOW_SECS: u64 = 10;
/// Retries allowed per 100 requests in the window.
const RETRY_PERCENT: u64 = 20;
/// Retries allowed per second whatever the traffic.
const MIN_RETRIES_PER_SEC: u64 = 10;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A pool's retry budget.
#[derive(Debug, Default)]
pub(crate) struct RetryBudget {
    buckets: [Bucket; WINDOW_SECS as usize],
}

#[derive(Debug, Default)]
struct Bucket {
    /// The second this bucket counts, plus one (0: never used).
    second: AtomicU64,
    requests: AtomicU32,
    retries: AtomicU32,
}

impl RetryBudget {
    /// Counts a request (its first attempt).
    pub(crate) fn request(&self, now: Nanos) {
        self.bucket(now).requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub(crate) fn try_retry(&self, now: Nanos) -> bool {
        let current = now / NANOS_PER_SEC + 1;
        let (mut requests, mut retries) = (0u64, 0u64);
        for bucket in &self.buckets {
            let second = bucket.second.load(Ordering::Relaxed);
            if second != 0 && second + WINDOW_SECS > current && second <= current {
                requests += u64::from(bucket.requests.load(Ordering::Relaxed));
                retries += u64::from(bucket.retries.load(Ordering::Relaxed));
            }
        }
        let allowed = requests * RETRY_PERCENT / 100 + MIN_RETRIES_PER_SEC * WINDOW_SECS;
        if retries >= allowed {
            return false;
        }
        self.bucket(now).retries.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The bucket for `now`, reset if it last counted an older second.
    fn bucket(&self, now: Nanos) -> &Bucket {
        let second = now / NANOS_PER_SEC + 1;
        let bucket = &self.buckets[(second % WINDOW_SECS) as usize];
        let seen = bucket.second.load(Ordering::Relaxed);
        if seen != second
            && bucket
                .second
                .compare_exchange(seen, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            bucket.requests.store(0, Ordering::Relaxed);
            bucket.retries.store(0, Ordering::Relaxed);
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Nanos = NANOS_PER_SEC;

    fn retries_granted(budget: &RetryBudget, now: Nanos, wanted: u32) -> u32 {
        (0..wanted).filter(|_| budget.try_retry(now)).count() as u32
    }

    #[test]
    fn a_quiet_pool_gets_the_reserve_and_no_more() {
        let budget = RetryBudget::default();
        assert_eq!(retries_granted(&budget, 5 * SECOND, 1000), 100);
    }

    #[test]
    fn busy_pools_may_retry_a_fifth_of_their_requests() {
        let budget = RetryBudget::default();
        let now = 50 * SECOND;
        for _ in 0..10_000 {
            budget.request(now);
        }
        assert_eq!(retries_granted(&budget, now, 10_000), 2_000 + 100);
    }

    #[test]
    fn the_window_slides() {
        let budget = RetryBudget::default();
        let start = 20 * SECOND;
        assert_eq!(retries_granted(&budget, start, 1000), 100);
        // Nine seconds later the spent retries still count ...
        assert_eq!(retries_granted(&budget, start + 9 * SECOND, 10), 0);
        // ... ten seconds later they have left the window.
        assert_eq!(retries_granted(&budget, start + 10 * SECOND, 1000), 100);
    }

    #[test]
    fn requests_older_than_the_window_are_forgotten() {
        let budget = RetryBudget::default();
        for _ in 0..1_000 {
            budget.request(0);
        }
        assert_eq!(retries_granted(&budget, 10 * SECOND, 1000), 100);
    }
}
