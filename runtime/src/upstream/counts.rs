//! What each request adds to a guarded pool's shared counts: the pool's [`Gauge`] (attempts in
//! flight for `max_requests`, requests waiting for a place for `max_pending`, and the refusals,
//! for metrics) and each server's [`OutlierCounts`] (attempts, failures and latency since the
//! detector last looked). Atomics shared by every worker, written with a few relaxed
//! read-modify-writes per attempt; nothing here knows servers or pools.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tokio::sync::Notify;

use crate::clock::Nanos;

/// A guarded pool's counts, shared by its servers: each server reports the end of every
/// attempt on it here ([`Gauge::release`]), which wakes a request waiting for a place.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    /// Attempts holding a place on one of the pool's servers.
    in_flight: AtomicU32,
    /// Requests waiting for a place.
    waiting: AtomicU32,
    /// Told when an attempt ends while requests wait.
    room: Notify,
    /// Requests refused, by [`Refusal`].
    refused: [AtomicU64; 3],
}

/// Why a guarded pool answered `503` at once, or after a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The pool had `max_requests` attempts in flight.
    MaxRequests = 0,
    /// Every usable server was at `max_conns` and `max_pending` requests were waiting.
    MaxPending = 1,
    /// A request waited for a place for the whole connect timeout.
    QueueTimeout = 2,
}

impl Refusal {
    pub(crate) const ALL: [Refusal; 3] = [
        Refusal::MaxRequests,
        Refusal::MaxPending,
        Refusal::QueueTimeout,
    ];

    /// The metric's label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Refusal::MaxRequests => "max_requests",
            Refusal::MaxPending => "max_pending",
            Refusal::QueueTimeout => "queue_timeout",
        }
    }
}

impl Gauge {
    /// Counts an attempt about to take a place, unless `max` (0: no cap) are in flight.
    pub(crate) fn reserve(&self, max: u32) -> bool {
        if max == 0 {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// A reservation that found no place on a server is given back. Nothing is woken: no
    /// server has more room than before.
    pub(crate) fn unreserve(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// An attempt ended: its place is free, so one waiting request, if any, is woken.
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_one();
        }
    }

    /// Takes a place in the queue unless `max` requests wait already; the queue is left when
    /// the returned [`Waiting`] is dropped.
    pub(crate) fn enqueue(&self, max: u32) -> Option<Waiting<'_>> {
        self.waiting
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Waiting(self))
    }

    pub(crate) fn refused(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused so far for `why`.
    pub(crate) fn refusals(&self, why: Refusal) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A request's place in a pool's queue.
#[derive(Debug)]
pub(crate) struct Waiting<'a>(&'a Gauge);

impl Waiting<'_> {
    /// Told when an attempt ends; enable it before looking for a place, so that a place freed
    /// meanwhile is not missed.
    pub(crate) fn room(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.room.notified()
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One server's attempts since the outlier detector last looked, and what it decided.
#[derive(Debug, Default)]
pub(crate) struct OutlierCounts {
    /// Attempts in the low 32 bits, failed ones in the high 32: one add records both.
    calls: AtomicU64,
    /// The attempts' durations added up, in nanoseconds.
    latency: AtomicU64,
    /// Times ejected, less one per interval spent in the pool without standing out.
    pub(crate) multiplier: AtomicU32,
    /// Ejected by the detector until this time (0: never).
    pub(crate) ejected_until: AtomicU64,
    /// Ejections so far, for metrics.
    pub(crate) ejections: AtomicU64,
}

/// What a server did over one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sample {
    pub(crate) attempts: u64,
    pub(crate) failures: u64,
    /// Nanoseconds, added up over the attempts.
    pub(crate) latency: u64,
}

impl OutlierCounts {
    /// Records one attempt that took `elapsed`.
    pub(crate) fn record(&self, failed: bool, elapsed: Nanos) {
        let call = 1 | (u64::from(failed) << 32);
        self.calls.fetch_add(call, Ordering::Relaxed);
        self.latency.fetch_add(elapsed, Ordering::Relaxed);
    }

    /// What was recorded since the last call, and starts again from nothing.
    pub(crate) fn take(&self) -> Sample {
        let calls = self.calls.swap(0, Ordering::Relaxed);
        Sample {
            attempts: calls & u64::from(u32::MAX),
            failures: calls >> 32,
            latency: self.latency.swap(0, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_cap_and_come_back_when_released() {
        let gauge = Gauge::default();
        assert!(gauge.reserve(2));
        assert!(gauge.reserve(2));
        assert!(!gauge.reserve(2));
        gauge.release();
        assert!(gauge.reserve(2));
        gauge.unreserve();
        assert!(gauge.reserve(2));
        assert_eq!(gauge.in_flight(), 2);
    }

    #[test]
    fn the_queue_holds_at_most_its_size() {
        let gauge = Gauge::default();
        let first = gauge.enqueue(1).expect("room in the queue");
        assert!(gauge.enqueue(1).is_none());
        drop(first);
        assert!(gauge.enqueue(1).is_some());
        assert_eq!(gauge.waiting(), 0);
    }

    #[test]
    fn a_sample_holds_what_was_recorded_since_the_last() {
        let counts = OutlierCounts::default();
        counts.record(false, 10);
        counts.record(true, 30);
        counts.record(false, 20);
        let sample = counts.take();
        assert_eq!(
            sample,
            Sample {
                attempts: 3,
                failures: 1,
                latency: 60
            }
        );
        assert_eq!(counts.take(), Sample::default());
    }
}
