//! Passive health, with nginx's semantics: a server that fails `max_fails` requests (connect
//! errors, timeouts, connections broken before the response) within `fail_timeout` of the first
//! of them is taken out for `fail_timeout`, then tried again. With `consecutive_5xx` N > 0, N
//! 5xx responses in a row take it out too. The state is shared by all workers: the ejection
//! deadline is an atomic read on every pick; the failure window sits behind a mutex that only
//! failures take. Outlier detection takes servers out through the same deadline
//! ([`PassiveState::hold_out`]), so a pick still reads one atomic per server.

use std::sync::{
    atomic::{AtomicU32, AtomicU64, Ordering},
    Mutex, PoisonError,
};

use crate::{
    clock::{self, Nanos},
    upstream::spec::Passive,
};

/// One server's passive-health state.
#[derive(Debug, Default)]
pub(crate) struct PassiveState {
    /// Out of rotation until this time (0: never taken out).
    out_until: AtomicU64,
    /// Failures counted in the current window.
    window: Mutex<Window>,
    /// 5xx responses in a row.
    streak_5xx: AtomicU32,
}

#[derive(Debug, Default)]
struct Window {
    /// When the first failure of the window happened.
    start: Nanos,
    fails: u32,
}

/// Why a server was taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ejected {
    Failures(u32),
    Consecutive5xx(u32),
}

impl PassiveState {
    /// Whether the server is taken out at `now`.
    pub(crate) fn is_out(&self, now: Nanos) -> bool {
        now < self.out_until.load(Ordering::Relaxed)
    }

    /// Counts a failed request; `Some` when this failure takes the server out.
    pub(crate) fn failure(&self, spec: &Passive, now: Nanos) -> Option<Ejected> {
        if spec.max_fails == 0 || self.is_out(now) {
            return None;
        }
        let fail_timeout = clock::nanos(spec.fail_timeout);
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.fails == 0 || now.saturating_sub(window.start) > fail_timeout {
            *window = Window {
                start: now,
                fails: 0,
            };
        }
        window.fails += 1;
        if window.fails < spec.max_fails {
            return None;
        }
        *window = Window::default();
        self.take_out(now, fail_timeout);
        Some(Ejected::Failures(spec.max_fails))
    }

    /// Counts a response; `Some` when this 5xx takes the server out.
    pub(crate) fn response(&self, spec: &Passive, status_5xx: bool, now: Nanos) -> Option<Ejected> {
        if spec.consecutive_5xx == 0 {
            return None;
        }
        if !status_5xx {
            // Read first, so a healthy server's responses do not all write the shared line.
            if self.streak_5xx.load(Ordering::Relaxed) != 0 {
                self.streak_5xx.store(0, Ordering::Relaxed);
            }
            return None;
        }
        let streak = self.streak_5xx.fetch_add(1, Ordering::Relaxed) + 1;
        if streak < spec.consecutive_5xx || self.is_out(now) {
            return None;
        }
        self.streak_5xx.store(0, Ordering::Relaxed);
        self.take_out(now, clock::nanos(spec.fail_timeout));
        Some(Ejected::Consecutive5xx(spec.consecutive_5xx))
    }

    /// Keeps the server out until `until` at least (outlier detection's ejections).
    pub(crate) fn hold_out(&self, until: Nanos) {
        self.out_until.fetch_max(until.max(1), Ordering::Relaxed);
    }

    fn take_out(&self, now: Nanos, fail_timeout: Nanos) {
        self.out_until
            .store(now.saturating_add(fail_timeout).max(1), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SECOND: Nanos = 1_000_000_000;

    fn spec(max_fails: u32, consecutive_5xx: u32) -> Passive {
        Passive {
            max_fails,
            fail_timeout: Duration::from_secs(10),
            consecutive_5xx,
        }
    }

    #[test]
    fn max_fails_within_the_window_take_the_server_out_for_fail_timeout() {
        let (state, spec) = (PassiveState::default(), spec(3, 0));
        let start = 100 * SECOND;
        assert_eq!(state.failure(&spec, start), None);
        assert_eq!(state.failure(&spec, start + SECOND), None);
        assert!(!state.is_out(start + SECOND));
        let third = start + 2 * SECOND;
        assert_eq!(state.failure(&spec, third), Some(Ejected::Failures(3)));
        assert!(state.is_out(third));
        assert!(state.is_out(third + 10 * SECOND - 1));
        // Then it is tried again, with a fresh window.
        assert!(!state.is_out(third + 10 * SECOND));
        assert_eq!(state.failure(&spec, third + 10 * SECOND), None);
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_add_up() {
        let (state, spec) = (PassiveState::default(), spec(2, 0));
        let mut now = SECOND;
        for _ in 0..10 {
            assert_eq!(state.failure(&spec, now), None);
            now += 11 * SECOND;
        }
        assert!(!state.is_out(now));
    }

    #[test]
    fn max_fails_zero_counts_nothing() {
        let (state, spec) = (PassiveState::default(), spec(0, 0));
        for i in 0..100 {
            assert_eq!(state.failure(&spec, i), None);
        }
        assert!(!state.is_out(100));
    }

    #[test]
    fn consecutive_5xx_take_the_server_out_and_a_good_answer_resets_the_streak() {
        let (state, spec) = (PassiveState::default(), spec(0, 3));
        let now = SECOND;
        assert_eq!(state.response(&spec, true, now), None);
        assert_eq!(state.response(&spec, true, now), None);
        assert_eq!(state.response(&spec, false, now), None);
        assert_eq!(state.response(&spec, true, now), None);
        assert_eq!(state.response(&spec, true, now), None);
        assert!(!state.is_out(now));
        assert_eq!(
            state.response(&spec, true, now),
            Some(Ejected::Consecutive5xx(3))
        );
        assert!(state.is_out(now + 9 * SECOND));
        assert!(!state.is_out(now + 10 * SECOND));
    }

    #[test]
    fn a_server_taken_out_at_time_zero_is_out() {
        let (state, spec) = (PassiveState::default(), spec(1, 0));
        assert_eq!(state.failure(&spec, 0), Some(Ejected::Failures(1)));
        assert!(state.is_out(0));
    }
}
