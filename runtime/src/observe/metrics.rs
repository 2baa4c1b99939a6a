//! Counters and histograms, kept per worker in fixed arrays indexed by compile-time ids (a
//! route's id is its position in the generated `ROUTES`, a listener's its position in
//! `LISTENERS`), so recording a request is a few relaxed atomic adds on memory no other
//! thread writes; nothing is hashed or looked up. The admin listener sums the workers' rows
//! when it renders them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds (the last bucket is `+Inf`).
pub(crate) const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Statuses counted one by one, besides their class: the answers policies and the proxy give.
pub(crate) const CODES: [u16; 11] = [401, 403, 404, 405, 413, 415, 429, 431, 502, 503, 504];

/// One route's counts on one worker (or, for `unrouted`, one listener's requests that matched
/// no route).
#[derive(Default)]
pub(crate) struct RouteRow {
    /// By status class: 1xx to 5xx.
    pub(crate) classes: [AtomicU64; 5],
    /// By the statuses of [`CODES`].
    pub(crate) codes: [AtomicU64; CODES.len()],
    /// Non-cumulative: `buckets[i]` counts durations in `(BUCKETS[i-1], BUCKETS[i]]`, the last
    /// one those above every bound.
    pub(crate) buckets: [AtomicU64; BUCKETS.len() + 1],
    pub(crate) sum_nanos: AtomicU64,
}

impl RouteRow {
    fn record(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.classes[class].fetch_add(1, Ordering::Relaxed);
        if let Some(code) = CODES.iter().position(|&code| code == status) {
            self.codes[code].fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// One listener's connection counts on one worker.
#[derive(Default)]
pub(crate) struct ListenerRow {
    pub(crate) accepted: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) tls_failures: AtomicU64,
}

/// Every worker's rows.
pub(crate) struct Metrics {
    routes: usize,
    listeners: usize,
    /// `[worker][route]`.
    route_rows: Box<[RouteRow]>,
    /// `[worker][listener]`: requests of each listener that no route took.
    unrouted_rows: Box<[RouteRow]>,
    /// `[worker][listener]`.
    listener_rows: Box<[ListenerRow]>,
    workers: usize,
}

impl Metrics {
    pub(crate) fn new(workers: usize, routes: usize, listeners: usize) -> Metrics {
        let rows = |count: usize| (0..workers * count).map(|_| RouteRow::default()).collect();
        Metrics {
            routes,
            listeners,
            route_rows: rows(routes),
            unrouted_rows: rows(listeners),
            listener_rows: (0..workers * listeners)
                .map(|_| ListenerRow::default())
                .collect(),
            workers,
        }
    }

    /// Records one answered request: on its route's row, or on its listener's unrouted row
    /// when `route` is `None` (or not a known id).
    pub(crate) fn request(
        &self,
        worker: usize,
        listener: usize,
        route: Option<usize>,
        status: u16,
        elapsed: Duration,
    ) {
        let worker = worker % self.workers;
        let row = match route.filter(|&route| route < self.routes) {
            Some(route) => self.route_rows.get(worker * self.routes + route),
            None => self.unrouted_rows.get(worker * self.listeners + listener),
        };
        if let Some(row) = row {
            row.record(status, elapsed);
        }
    }

    /// The listener's row of the current worker, if the listener is known.
    pub(crate) fn listener(&self, worker: usize, listener: usize) -> Option<&ListenerRow> {
        (listener < self.listeners)
            .then(|| &self.listener_rows[(worker % self.workers) * self.listeners + listener])
    }

    /// Route `route`'s row on every worker.
    pub(crate) fn route_rows(&self, route: usize) -> impl Iterator<Item = &RouteRow> + Clone {
        (0..self.workers).map(move |worker| &self.route_rows[worker * self.routes + route])
    }

    pub(crate) fn unrouted_rows(&self, listener: usize) -> impl Iterator<Item = &RouteRow> {
        (0..self.workers).map(move |worker| &self.unrouted_rows[worker * self.listeners + listener])
    }

    pub(crate) fn listener_rows(&self, listener: usize) -> impl Iterator<Item = &ListenerRow> {
        (0..self.workers).map(move |worker| &self.listener_rows[worker * self.listeners + listener])
    }
}

/// The sum of one counter over rows.
pub(crate) fn sum<'a, R: 'a>(
    rows: impl Iterator<Item = &'a R>,
    counter: impl Fn(&R) -> &AtomicU64,
) -> u64 {
    rows.map(|row| counter(row).load(Ordering::Relaxed)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lands_in_its_class_code_and_bucket() {
        let metrics = Metrics::new(2, 3, 1);
        metrics.request(1, 0, Some(2), 429, Duration::from_millis(3));
        metrics.request(0, 0, Some(2), 200, Duration::from_secs(30));
        metrics.request(0, 0, None, 404, Duration::from_micros(100));
        let rows = || metrics.route_rows(2);
        assert_eq!(sum(rows(), |r| &r.classes[3]), 1);
        assert_eq!(sum(rows(), |r| &r.classes[1]), 1);
        let code_429 = CODES.iter().position(|&c| c == 429).unwrap();
        assert_eq!(sum(rows(), |r| &r.codes[code_429]), 1);
        // 3 ms is in (2.5 ms, 5 ms]; 30 s is above every bound.
        assert_eq!(sum(rows(), |r| &r.buckets[3]), 1);
        assert_eq!(sum(rows(), |r| &r.buckets[BUCKETS.len()]), 1);
        assert_eq!(sum(metrics.unrouted_rows(0), |r| &r.classes[3]), 1);
        assert_eq!(sum(metrics.route_rows(0), |r| &r.classes[1]), 0);
    }
}
