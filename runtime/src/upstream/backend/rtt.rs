//! A server's latency estimate for peak EWMA (`balance::Ewma`), as in Finagle and Linkerd: a
//! moving average of its response latency that jumps up to any slower sample at once and
//! decays towards faster ones with a time constant of 10 s.

use std::sync::{Mutex, PoisonError};

use crate::clock::Nanos;

/// The time constant of the moving average, in nanoseconds.
const DECAY: f64 = 10e9;

/// The estimate of a server not measured yet: low enough that a new server is tried soon,
/// high enough that it does not take every request before its first answer.
const DEFAULT_RTT: f64 = 1e6;

/// One server's latency estimate. Behind a mutex, as in tower's `PeakEwma`: it is written once
/// per response and read by two picks per request, never held across anything else.
#[derive(Debug)]
pub(crate) struct Rtt {
    state: Mutex<Estimate>,
}

#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Nanoseconds.
    rtt: f64,
    at: Nanos,
}

impl Default for Rtt {
    fn default() -> Rtt {
        Rtt {
            state: Mutex::new(Estimate {
                rtt: DEFAULT_RTT,
                at: crate::clock::now(),
            }),
        }
    }
}

impl Rtt {
    /// Records a response that took `rtt` nanoseconds and arrived at `now`.
    pub(crate) fn observe(&self, rtt: Nanos, now: Nanos) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let rtt = rtt as f64;
        state.rtt = if rtt > state.rtt {
            rtt
        } else {
            let decay = decay(now.saturating_sub(state.at));
            state.rtt * decay + rtt * (1.0 - decay)
        };
        state.at = state.at.max(now);
    }

    /// The estimate at `now`: the last one, decayed towards zero for the time since, so an
    /// avoided server is tried again eventually.
    pub(crate) fn estimate(&self, now: Nanos) -> f64 {
        let state = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.rtt * decay(now.saturating_sub(state.at))
    }
}

fn decay(elapsed: Nanos) -> f64 {
    (-(elapsed as f64) / DECAY).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn peaks_are_taken_at_once_and_decay_slowly() {
        let rtt = Rtt::default();
        let now = crate::clock::now();
        rtt.observe(50 * MS, now);
        assert_eq!(rtt.estimate(now), (50 * MS) as f64);
        rtt.observe(MS, now + 100 * MS);
        let after = rtt.estimate(now + 100 * MS);
        assert!(
            after > (45 * MS) as f64 && after < (50 * MS) as f64,
            "{after}"
        );
        // Ten seconds of fast answers bring it most of the way down.
        let mut at = now + 100 * MS;
        for _ in 0..100 {
            at += 100 * MS;
            rtt.observe(MS, at);
        }
        let settled = rtt.estimate(at);
        assert!(settled < (20 * MS) as f64, "{settled}");
    }
}
