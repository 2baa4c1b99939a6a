//! Live figures for the admin page (`GET /stats`): per route, the request rate, answers by
//! status class, the policies' and the proxy's refusals, and latency percentiles; per listener,
//! connections and requests ([`listeners`]); per server, attempts, failures and health changes
//! ([`servers`]); per cache, its hit ratio ([`caches`]); now and over the last minutes. A task
//! on the admin listener's side reads the counters every [`EVERY`] (the same relaxed loads a
//! scrape makes: nothing on the request path waits for it) and keeps what each interval added
//! in a ring of [`KEPT`] samples each, in memory, so a page opened now shows the minutes before
//! it.

mod caches;
mod listeners;
mod servers;

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use serde::{Serialize, Serializer};

use super::Process;
use crate::clock;
use crate::observe::{
    metrics::{sum, RouteRow, BUCKETS, CODES},
    Observer,
};
use crate::policy::CacheFigures;

/// How often the counters are sampled.
pub(crate) const EVERY: Duration = Duration::from_secs(2);

/// Samples kept per route: five minutes.
const KEPT: usize = 150;

/// The refusals shown: authentication, authorisation, rate limits, and the proxy's own
/// failures to get an answer.
const REFUSALS: [u16; 6] = [401, 403, 429, 502, 503, 504];

/// What one interval added to one route: 12 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Sample {
    requests: u32,
    errors: u32,
    /// The histogram buckets the interval's latency percentiles (p50, p95, p99) fall in;
    /// [`NO_LATENCY`] without requests.
    latency: [u8; 3],
}

/// A sample's latency without requests.
const NO_LATENCY: [u8; 3] = [u8::MAX; 3];

impl Sample {
    /// The percentiles in seconds: the upper bound of each one's bucket (the last bound for
    /// the overflow bucket).
    fn latency(&self) -> Option<[f64; 3]> {
        (self.latency != NO_LATENCY).then(|| {
            self.latency
                .map(|bucket| BUCKETS[usize::from(bucket).min(BUCKETS.len() - 1)])
        })
    }
}

/// One route's counters as last read.
#[derive(Clone, Default)]
struct Totals {
    classes: [u64; 5],
    codes: [u64; CODES.len()],
    buckets: [u64; BUCKETS.len() + 1],
}

impl Totals {
    fn read<'a>(rows: impl Iterator<Item = &'a RouteRow> + Clone) -> Totals {
        Totals {
            classes: std::array::from_fn(|i| sum(rows.clone(), |r| &r.classes[i])),
            codes: std::array::from_fn(|i| sum(rows.clone(), |r| &r.codes[i])),
            buckets: std::array::from_fn(|i| sum(rows.clone(), |r| &r.buckets[i])),
        }
    }

    fn requests(&self) -> u64 {
        self.classes.iter().sum()
    }

    /// What was added since `before`, as a sample.
    fn since(&self, before: &Totals) -> Sample {
        let added: [u64; BUCKETS.len() + 1] =
            std::array::from_fn(|i| self.buckets[i].saturating_sub(before.buckets[i]));
        let requests = self.requests().saturating_sub(before.requests());
        Sample {
            requests: u32::try_from(requests).unwrap_or(u32::MAX),
            errors: u32::try_from(self.classes[4].saturating_sub(before.classes[4]))
                .unwrap_or(u32::MAX),
            latency: percentiles(&added).unwrap_or(NO_LATENCY),
        }
    }
}

/// The buckets p50, p95 and p99 fall in, of a histogram of non-cumulative bucket counts.
fn percentiles(buckets: &[u64; BUCKETS.len() + 1]) -> Option<[u8; 3]> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    Some([0.50, 0.95, 0.99].map(|quantile| {
        let rank = (quantile * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        let bucket = buckets
            .iter()
            .position(|&count| {
                seen += count;
                seen >= rank
            })
            .unwrap_or(BUCKETS.len());
        u8::try_from(bucket).expect("fewer than 255 buckets")
    }))
}

/// The figures kept for the page.
#[derive(Clone, Default)]
pub(crate) struct Figures(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    /// Per route: the counters as last read, and the samples, oldest first.
    routes: Vec<(Totals, std::collections::VecDeque<Sample>)>,
    listeners: listeners::Listeners,
    servers: servers::Servers,
    caches: caches::Caches,
}

/// Every server of `process`'s pools, as read now.
fn servers(process: &Process) -> Vec<servers::Reading> {
    let now = clock::now();
    process
        .pools()
        .rosters()
        .into_iter()
        .flat_map(|(pool, backends)| {
            backends
                .iter()
                .map(|backend| servers::Reading::of(pool, backend, now))
                .collect::<Vec<_>>()
        })
        .collect()
}

impl Figures {
    /// Reads the counters of `process` once, adding a sample of each thing.
    pub(crate) fn read(&self, process: &Process) {
        self.sample(
            process.observer(),
            servers(process),
            &process.caches().figures(),
            SystemTime::now(),
        );
    }

    /// Adds a sample per route and listener of `observer`, per server of `servers` and per
    /// cache of `caches`, taken at `at`.
    fn sample(
        &self,
        observer: &Observer,
        servers: Vec<servers::Reading>,
        caches: &[CacheFigures],
        at: SystemTime,
    ) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.listeners.sample(observer);
        kept.servers.sample(servers, at);
        kept.caches.sample(caches);
        let routes = observer.routes.len();
        if kept.routes.len() != routes {
            // Counters start at zero with the process: the first sample holds everything
            // since, whenever the sampler starts.
            kept.routes = (0..routes)
                .map(|_| {
                    (
                        Totals::default(),
                        std::collections::VecDeque::with_capacity(KEPT),
                    )
                })
                .collect();
        }
        for (route, (last, samples)) in kept.routes.iter_mut().enumerate() {
            let now = Totals::read(observer.metrics.route_rows(route));
            if samples.len() == KEPT {
                samples.pop_front();
            }
            samples.push_back(now.since(last));
            *last = now;
        }
    }

    /// Samples `process` every [`EVERY`] until the process ends.
    pub(crate) async fn keep_sampling(&self, process: &Process) {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.read(process);
        }
    }

    /// `GET /stats`: every route's, listener's, server's and cache's figures, as JSON.
    pub(crate) fn json(&self, process: &Process) -> String {
        self.json_of(process.observer(), &process.caches().figures())
    }

    fn json_of(&self, observer: &Observer, caches: &[CacheFigures]) -> String {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let routes = Series(|| {
            observer.routes.iter().enumerate().map(|(id, info)| {
                let totals = Totals::read(observer.metrics.route_rows(id));
                let samples = kept.routes.get(id).map(|(_, samples)| samples);
                let last = samples.and_then(|samples| samples.back()).copied();
                let samples = move || samples.into_iter().flatten();
                let count = move |pick: fn(&Sample) -> u32| Series(move || samples().map(pick));
                RouteFigures {
                    route: info.name,
                    listener: info.listener,
                    requests: totals.requests(),
                    classes: Classes {
                        informational: totals.classes[0],
                        success: totals.classes[1],
                        redirection: totals.classes[2],
                        client_error: totals.classes[3],
                        server_error: totals.classes[4],
                    },
                    refusals: Pairs(move || {
                        REFUSALS.iter().map(move |&code| {
                            let at = CODES
                                .iter()
                                .position(|&c| c == code)
                                .expect("a counted code");
                            (code, totals.codes[at])
                        })
                    }),
                    rate: last.map_or(0.0, |s| f64::from(s.requests) / EVERY.as_secs_f64()),
                    latency: last
                        .and_then(|s| s.latency())
                        .map(|[p50, p95, p99]| Latency { p50, p95, p99 }),
                    history: RouteHistory {
                        requests: count(|s| s.requests),
                        errors: count(|s| s.errors),
                        p99: Series(move || samples().map(|s| s.latency().map(|l| l[2]))),
                    },
                }
            })
        });
        let stats = Stats {
            interval_seconds: EVERY.as_secs(),
            routes,
            listeners: kept.listeners.json(observer, EVERY.as_secs_f64()),
            servers: kept.servers.json(),
            caches: kept.caches.json(caches),
        };
        let mut body = serde_json::to_string(&stats).expect("figures serialise");
        body.push('\n');
        body
    }
}

/// A sequence written from an iterator made when it is serialised: nothing is collected, so
/// `/stats` writes its figures straight from the rings that keep them.
pub(super) struct Series<F>(pub(super) F);

impl<F, I> Serialize for Series<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// A map written from an iterator of pairs made when it is serialised.
pub(super) struct Pairs<F>(pub(super) F);

impl<F, I, K, V> Serialize for Pairs<F>
where
    F: Fn() -> I,
    I: Iterator<Item = (K, V)>,
    K: std::fmt::Display,
    V: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map((self.0)().map(|(key, value)| (key.to_string(), value)))
    }
}

/// `GET /stats`.
#[derive(Serialize)]
struct Stats<R, L, V, C> {
    interval_seconds: u64,
    routes: R,
    listeners: L,
    servers: V,
    caches: C,
}

#[derive(Serialize)]
struct RouteFigures<M, C, P> {
    route: &'static str,
    listener: &'static str,
    requests: u64,
    classes: Classes,
    refusals: M,
    rate: f64,
    latency: Option<Latency>,
    history: RouteHistory<C, P>,
}

#[derive(Serialize)]
struct Classes {
    #[serde(rename = "1xx")]
    informational: u64,
    #[serde(rename = "2xx")]
    success: u64,
    #[serde(rename = "3xx")]
    redirection: u64,
    #[serde(rename = "4xx")]
    client_error: u64,
    #[serde(rename = "5xx")]
    server_error: u64,
}

#[derive(Serialize)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
}

#[derive(Serialize)]
struct RouteHistory<C, P> {
    requests: C,
    errors: C,
    p99: P,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_bounds_of_their_buckets() {
        let mut buckets = [0; BUCKETS.len() + 1];
        // 90 requests within 1 ms, 9 within 50 ms, 1 above every bound.
        buckets[1] = 90;
        buckets[6] = 9;
        buckets[BUCKETS.len()] = 1;
        fn sample(buckets: &[u64; BUCKETS.len() + 1]) -> Sample {
            Sample {
                requests: 100,
                errors: 0,
                latency: percentiles(buckets).unwrap_or(NO_LATENCY),
            }
        }
        assert_eq!(sample(&buckets).latency(), Some([0.001, 0.05, 0.05]));
        buckets[BUCKETS.len()] = 2;
        assert_eq!(sample(&buckets).latency().unwrap()[2], 10.0);
        assert_eq!(sample(&[0; BUCKETS.len() + 1]).latency(), None);
        assert_eq!(std::mem::size_of::<Sample>(), 12);
    }

    #[test]
    fn each_sample_holds_what_its_interval_added_and_the_ring_is_bounded() {
        let observer = Observer::quiet_with_routes(&[crate::observe::RouteInfo {
            name: "api",
            listener: "web",
        }]);
        let figures = Figures::default();
        let sample = |figures: &Figures| figures.sample(&observer, vec![], &[], SystemTime::now());
        let read = |figures: &Figures| -> serde_json::Value {
            serde_json::from_str(&figures.json_of(&observer, &[])).unwrap()
        };
        observer.accepted(0);
        observer.request(0, Some(0), 200, Duration::from_millis(3));
        sample(&figures);
        for _ in 0..3 {
            observer.request(0, Some(0), 200, Duration::from_millis(3));
        }
        observer.request(0, Some(0), 503, Duration::from_millis(30));
        observer.request(0, None, 404, Duration::from_millis(1));
        observer.accepted(0);
        observer.closed(0);
        sample(&figures);
        let json = read(&figures);
        let route = &json["routes"][0];
        assert_eq!(route["route"], "api");
        assert_eq!(route["requests"], 5);
        assert_eq!(route["classes"]["5xx"], 1);
        assert_eq!(route["refusals"]["503"], 1);
        assert_eq!(route["rate"], 2.0);
        assert_eq!(route["latency"]["p50"], 0.005);
        assert_eq!(route["latency"]["p99"], 0.05);
        // The request before the first sample is in it: counters start with the process.
        assert_eq!(route["history"]["requests"], serde_json::json!([1, 4]));
        assert_eq!(route["history"]["errors"], serde_json::json!([0, 1]));
        // The listener counts its routes' requests and those no route took.
        let listener = &json["listeners"][0];
        assert_eq!(listener["listener"], "web");
        assert_eq!(listener["connections_open"], 1);
        assert_eq!(listener["requests"], 6);
        assert_eq!(
            listener["history"]["connections"],
            serde_json::json!([1, 1])
        );
        assert_eq!(listener["history"]["requests"], serde_json::json!([1, 5]));
        assert_eq!(listener["request_rate"], 2.5);
        for _ in 0..KEPT + 10 {
            sample(&figures);
        }
        let json = read(&figures);
        let history = json["routes"][0]["history"]["requests"].as_array().unwrap();
        assert_eq!(history.len(), KEPT);
        assert_eq!(json["routes"][0]["rate"], 0.0);
    }
}
