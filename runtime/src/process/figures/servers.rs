//! Each server's figures for the admin page: what each interval added to its attempts and
//! failed attempts, the mean time its answers took, and when its health changed (as seen at each sample: a change undone
//! within one interval is not seen), for the servers the pools list now.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;

use super::{Series, KEPT};
use crate::clock::Nanos;
use crate::upstream::backend::Backend;

/// Health changes kept per server.
const CHANGES: usize = 16;

/// One server as read at a sample.
pub(super) struct Reading {
    pub(super) pool: &'static str,
    pub(super) server: String,
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) answers: u64,
    /// Nanoseconds.
    pub(super) waited: u64,
    pub(super) up: bool,
}

impl Reading {
    pub(super) fn of(pool: &'static str, backend: &Backend, now: Nanos) -> Reading {
        Reading {
            pool,
            server: backend.spec.upstream.to_string(),
            requests: backend.stats.requests.load(Ordering::Relaxed),
            errors: backend
                .stats
                .errors
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .sum(),
            answers: backend.stats.answers.load(Ordering::Relaxed),
            waited: backend.stats.waited.load(Ordering::Relaxed),
            up: backend.is_up(now),
        }
    }
}

/// A sample's mean answer time without answers.
const NO_ANSWER: u32 = u32::MAX;

/// What is kept of one server.
struct Server {
    requests: u64,
    errors: u64,
    answers: u64,
    waited: u64,
    up: bool,
    /// Per interval, oldest first: attempts, failed attempts, and the answers' mean time in
    /// microseconds ([`NO_ANSWER`] without answers).
    samples: VecDeque<[u32; 3]>,
    /// When its health changed, and to what, oldest first.
    changes: VecDeque<(SystemTime, bool)>,
}

/// Every server's figures, by pool and address.
#[derive(Default)]
pub(super) struct Servers(HashMap<(&'static str, String), Server>);

impl Servers {
    /// Adds a sample per server of `readings` (taken at `at`); forgets the servers no pool
    /// lists any more.
    pub(super) fn sample(&mut self, readings: Vec<Reading>, at: SystemTime) {
        let mut seen = HashMap::with_capacity(readings.len());
        for reading in readings {
            let key = (reading.pool, reading.server);
            let server = match self.0.remove(&key) {
                Some(mut server) => {
                    if server.samples.len() == KEPT {
                        server.samples.pop_front();
                    }
                    let added = |now: u64, before: u64| {
                        u32::try_from(now.saturating_sub(before)).unwrap_or(u32::MAX)
                    };
                    server.samples.push_back([
                        added(reading.requests, server.requests),
                        added(reading.errors, server.errors),
                        mean_micros(
                            reading.answers.saturating_sub(server.answers),
                            reading.waited.saturating_sub(server.waited),
                        ),
                    ]);
                    if server.up != reading.up {
                        if server.changes.len() == CHANGES {
                            server.changes.pop_front();
                        }
                        server.changes.push_back((at, reading.up));
                    }
                    Server {
                        requests: reading.requests,
                        errors: reading.errors,
                        answers: reading.answers,
                        waited: reading.waited,
                        up: reading.up,
                        ..server
                    }
                }
                // Counters start with the server: its first sample holds everything since.
                None => Server {
                    requests: reading.requests,
                    errors: reading.errors,
                    answers: reading.answers,
                    waited: reading.waited,
                    up: reading.up,
                    samples: VecDeque::from([[
                        u32::try_from(reading.requests).unwrap_or(u32::MAX),
                        u32::try_from(reading.errors).unwrap_or(u32::MAX),
                        mean_micros(reading.answers, reading.waited),
                    ]]),
                    changes: VecDeque::new(),
                },
            };
            seen.insert(key, server);
        }
        self.0 = seen;
    }

    /// Every server's figures, for JSON, in pool and address order.
    pub(super) fn json(&self) -> impl Serialize + '_ {
        let mut servers: Vec<_> = self.0.iter().collect();
        servers.sort_by(|a, b| a.0.cmp(b.0));
        Series(move || {
            servers
                .clone()
                .into_iter()
                .map(|((pool, address), server)| {
                    let series =
                        move |at: usize| Series(move || server.samples.iter().map(move |s| s[at]));
                    ServerFigures {
                        pool,
                        server: address,
                        up: server.up,
                        history: ServerHistory {
                            requests: series(0),
                            errors: series(1),
                            response_ms: Series(move || {
                                server
                                    .samples
                                    .iter()
                                    .map(|s| (s[2] != NO_ANSWER).then(|| f64::from(s[2]) / 1000.0))
                            }),
                        },
                        health_changes: Series(move || {
                            server.changes.iter().map(|(at, up)| HealthChange {
                                at: humantime::format_rfc3339_seconds(*at),
                                up: *up,
                            })
                        }),
                    }
                })
        })
    }
}

#[derive(Serialize)]
struct ServerFigures<'a, H, R, C> {
    pool: &'static str,
    server: &'a str,
    up: bool,
    history: ServerHistory<H, R>,
    health_changes: C,
}

#[derive(Serialize)]
struct ServerHistory<H, R> {
    requests: H,
    errors: H,
    /// The mean time the interval's answers took, in milliseconds; `null` without answers.
    response_ms: R,
}

/// The mean of `answers` taking `waited` nanoseconds in all, in microseconds.
fn mean_micros(answers: u64, waited: u64) -> u32 {
    match waited.checked_div(answers) {
        Some(mean) => u32::try_from(mean / 1000).unwrap_or(NO_ANSWER - 1),
        None => NO_ANSWER,
    }
}

#[derive(Serialize)]
struct HealthChange {
    #[serde(serialize_with = "display")]
    at: humantime::Rfc3339Timestamp,
    up: bool,
}

/// Writes a value as the string it displays as.
fn display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every attempt that did not fail was answered in 2 ms.
    fn reading(server: &str, requests: u64, errors: u64, up: bool) -> Reading {
        Reading {
            pool: "app",
            server: server.to_owned(),
            requests,
            errors,
            answers: requests - errors,
            waited: (requests - errors) * 2_000_000,
            up,
        }
    }

    #[test]
    fn samples_hold_each_interval_and_health_changes_are_kept_bounded() {
        let mut servers = Servers::default();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |tick: u64| start + Duration::from_secs(2 * tick);
        servers.sample(vec![reading("10.0.0.1:80", 5, 0, true)], at(0));
        servers.sample(
            vec![
                reading("10.0.0.1:80", 12, 2, false),
                reading("10.0.0.2:80", 3, 0, true),
            ],
            at(1),
        );
        let json = serde_json::to_value(servers.json()).unwrap();
        assert_eq!(json[0]["history"]["requests"], serde_json::json!([5, 7]));
        assert_eq!(json[0]["history"]["errors"], serde_json::json!([0, 2]));
        assert_eq!(
            json[0]["history"]["response_ms"],
            serde_json::json!([2.0, 2.0])
        );
        assert_eq!(
            json[0]["health_changes"],
            serde_json::json!([{ "at": "2027-01-15T08:00:02Z", "up": false }])
        );
        assert_eq!(json[1]["server"], "10.0.0.2:80");
        assert_eq!(json[1]["history"]["requests"], serde_json::json!([3]));
        // A server the pool no longer lists is forgotten; flapping keeps the last changes.
        for tick in 2..40 {
            servers.sample(vec![reading("10.0.0.1:80", 12, 2, tick % 2 == 0)], at(tick));
        }
        let json = serde_json::to_value(servers.json()).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 1);
        assert_eq!(json[0]["health_changes"].as_array().unwrap().len(), CHANGES);
        assert_eq!(json[0]["history"]["requests"].as_array().unwrap().len(), 40);
        // Intervals without answers have no mean.
        assert_eq!(
            json[0]["history"]["response_ms"][39],
            serde_json::Value::Null
        );
        assert_eq!(json[0]["up"], false);
    }
}
