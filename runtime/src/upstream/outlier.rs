//! Outlier detection, as Envoy's `outlier_detection` but judged against the median of the
//! other servers, which works for pools of two or three servers too (Envoy's standard
//! deviation needs five). One background task per pool, on worker 0's runtime, wakes every
//! `interval`, takes each server's counts of the interval (`counts::OutlierCounts`, which
//! requests fill with two relaxed adds per attempt) and ejects the outliers by holding them
//! out of passive health's deadline, so a pick reads nothing more. Nothing here runs on a
//! request's path.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc, Weak},
    time::Duration,
};

use crate::{
    clock::{self, Nanos},
    upstream::backend::Backend,
    upstream::counts::Sample,
    upstream::pools::Roster,
    upstream::spec::Outlier,
};

/// A reference latency below this counts as this much: sub-millisecond differences are noise,
/// not outliers.
const LATENCY_FLOOR: Nanos = 1_000_000;

/// Why a server stands out, with its figure and the others' median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Success rates, in percent.
    SuccessRate { rate: f64, others: f64 },
    /// Mean latencies.
    Latency { mean: Duration, others: Duration },
}

/// Starts the detector of pool `pool` on `runtime`; it ends when the pool's servers are gone.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    pool: &'static str,
    spec: &'static Outlier,
    roster: Weak<dyn Roster>,
) {
    runtime.spawn(detect(pool, spec, roster));
}

async fn detect(pool: &'static str, spec: &'static Outlier, roster: Weak<dyn Roster>) {
    let mut tick = tokio::time::interval(spec.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(backends) = roster.upgrade().map(|roster| roster.backends()) else {
            return;
        };
        judge_and_eject(pool, spec, &backends, clock::now());
    }
}

/// One interval's work: the samples taken, outliers ejected within the pool's limit, and the
/// ejection counts of servers that did not stand out brought down by one.
fn judge_and_eject(pool: &'static str, spec: &Outlier, backends: &[Arc<Backend>], now: Nanos) {
    let samples: Vec<Sample> = backends.iter().map(|b| b.outlier.take()).collect();
    let verdicts = outliers(spec, &samples);
    let ejected_now = |backend: &Backend| now < backend.outlier.ejected_until.load(Relaxed);
    let mut ejected = backends.iter().filter(|b| ejected_now(b)).count();
    let total = backends.len();
    for (index, backend) in backends.iter().enumerate() {
        let counts = &backend.outlier;
        let verdict = verdicts.iter().find(|(i, _)| *i == index).map(|(_, v)| v);
        let Some(verdict) = verdict else {
            if !ejected_now(backend) {
                let _ = counts
                    .multiplier
                    .fetch_update(Relaxed, Relaxed, |times| times.checked_sub(1));
            }
            continue;
        };
        if ejected_now(backend) {
            continue;
        }
        if ejected * 100 >= total * spec.max_ejection_percent as usize {
            tracing::info!(pool, server = %backend, ?verdict, max_percent = spec.max_ejection_percent, "outlier left in: too many servers ejected already");
            continue;
        }
        let times = counts.multiplier.fetch_add(1, Relaxed) + 1;
        let out_for = ejection_time(spec, times);
        let until = now.saturating_add(clock::nanos(out_for));
        counts.ejected_until.store(until, Relaxed);
        counts.ejections.fetch_add(1, Relaxed);
        backend.passive.hold_out(until);
        ejected += 1;
        tracing::warn!(pool, server = %backend, ?verdict, times, ?out_for, "server taken out (outlier)");
    }
}

/// `base_ejection_time` × `times`, at most `max_ejection_time` (or the base, if larger).
fn ejection_time(spec: &Outlier, times: u32) -> Duration {
    spec.base_ejection_time
        .saturating_mul(times.max(1))
        .min(spec.max_ejection_time.max(spec.base_ejection_time))
}

/// The servers (indices into `samples`) that stand out, each with why: only servers with at
/// least `min_requests` attempts are judged, each against the median of the others judged.
pub(crate) fn outliers(spec: &Outlier, samples: &[Sample]) -> Vec<(usize, Verdict)> {
    let judged: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].attempts >= u64::from(spec.min_requests.max(1)))
        .collect();
    if judged.len() < 2 {
        return Vec::new();
    }
    let rate =
        |s: &Sample| 100.0 * (s.attempts - s.failures.min(s.attempts)) as f64 / s.attempts as f64;
    let mean = |s: &Sample| s.latency / s.attempts;
    let mut found = Vec::new();
    for &index in &judged {
        let others = judged.iter().filter(|&&i| i != index).map(|&i| &samples[i]);
        let sample = &samples[index];
        if spec.success_rate > 0 {
            let others = median_f64(others.clone().map(rate).collect());
            let rate = rate(sample);
            if others - rate > f64::from(spec.success_rate) {
                found.push((index, Verdict::SuccessRate { rate, others }));
                continue;
            }
        }
        if spec.latency > 0 {
            let others = median_u64(others.map(mean).collect()).max(LATENCY_FLOOR);
            let mean = mean(sample);
            if mean > others.saturating_mul(u64::from(spec.latency)) {
                found.push((
                    index,
                    Verdict::Latency {
                        mean: Duration::from_nanos(mean),
                        others: Duration::from_nanos(others),
                    },
                ));
            }
        }
    }
    found
}

/// The median of a non-empty list (the mean of the middle two for an even count).
fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn median_u64(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        values[middle - 1] / 2 + values[middle] / 2
    } else {
        values[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{address::Upstream, upstream::spec::ServerSpec};

    const MS: u64 = 1_000_000;

    fn spec() -> Outlier {
        Outlier {
            interval: Duration::from_secs(10),
            min_requests: 10,
            success_rate: 20,
            latency: 3,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }

    fn sample(attempts: u64, failures: u64, mean_ms: u64) -> Sample {
        Sample {
            attempts,
            failures,
            latency: attempts * mean_ms * MS,
        }
    }

    #[test]
    fn a_failing_server_stands_out_from_two_good_ones() {
        let samples = [sample(100, 1, 5), sample(100, 40, 5), sample(100, 0, 5)];
        let found = outliers(&spec(), &samples);
        assert_eq!(found.len(), 1);
        assert!(
            matches!(found[0], (1, Verdict::SuccessRate { rate, others }) if rate == 60.0 && others == 99.5)
        );
    }

    #[test]
    fn a_slow_server_stands_out_but_sub_millisecond_noise_does_not() {
        let samples = [sample(50, 0, 2), sample(50, 0, 30), sample(50, 0, 3)];
        let found = outliers(&spec(), &samples);
        assert_eq!(found.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
        let fast = [
            Sample {
                attempts: 50,
                failures: 0,
                latency: 50 * 100_000,
            },
            Sample {
                attempts: 50,
                failures: 0,
                latency: 50 * 900_000,
            },
        ];
        assert!(outliers(&spec(), &fast).is_empty());
    }

    #[test]
    fn servers_with_too_few_requests_are_not_judged_nor_compared_with() {
        let samples = [sample(9, 9, 500), sample(100, 0, 5)];
        assert!(outliers(&spec(), &samples).is_empty());
        let alone = [sample(100, 100, 500)];
        assert!(outliers(&spec(), &alone).is_empty());
    }

    #[test]
    fn off_comparisons_find_nothing() {
        let spec = Outlier {
            success_rate: 0,
            latency: 0,
            ..spec()
        };
        let samples = [sample(100, 100, 500), sample(100, 0, 5)];
        assert!(outliers(&spec, &samples).is_empty());
    }

    #[test]
    fn ejection_time_grows_with_each_ejection_up_to_the_cap() {
        let spec = spec();
        assert_eq!(ejection_time(&spec, 1), Duration::from_secs(30));
        assert_eq!(ejection_time(&spec, 3), Duration::from_secs(90));
        assert_eq!(ejection_time(&spec, 50), Duration::from_secs(300));
    }

    fn backends(count: u8) -> Vec<Arc<Backend>> {
        (0..count)
            .map(|i| {
                let addr = std::net::SocketAddr::from(([10, 0, 0, i + 1], 80));
                Arc::new(Backend::new(
                    ServerSpec::new(Upstream::Socket(addr)),
                    None,
                    None,
                ))
            })
            .collect()
    }

    fn feed(backend: &Backend, attempts: u64, failures: u64) {
        for i in 0..attempts {
            backend.outlier.record(i < failures, 5 * MS);
        }
    }

    #[test]
    fn ejections_respect_the_percent_and_come_back_after_their_time() {
        let spec = spec();
        let servers = backends(4);
        let now = 1_000 * 1_000 * MS;
        for (backend, failures) in servers.iter().zip([0, 90, 80, 0]) {
            feed(backend, 100, failures);
        }
        judge_and_eject("p", &spec, &servers, now);
        let out: Vec<bool> = servers.iter().map(|b| !b.is_up(now)).collect();
        // 50 % of four: two may be out at once.
        assert_eq!(out, [false, true, true, false]);
        let back = now + clock::nanos(Duration::from_secs(30));
        assert!(servers[1].is_up(back));
        // Not standing out for an interval takes one off the count of ejections.
        judge_and_eject("p", &spec, &servers, back);
        assert_eq!(servers[1].outlier.multiplier.load(Relaxed), 0);
    }

    #[test]
    fn at_least_one_server_may_be_ejected_whatever_the_percent() {
        let spec = Outlier {
            max_ejection_percent: 1,
            ..spec()
        };
        let servers = backends(3);
        for (backend, failures) in servers.iter().zip([0, 90, 90]) {
            feed(backend, 100, failures);
        }
        judge_and_eject("p", &spec, &servers, 1);
        let out = servers.iter().filter(|b| !b.is_up(1)).count();
        assert_eq!(out, 1);
    }
}
