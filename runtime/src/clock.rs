//! A process-wide monotonic clock counting nanoseconds from a fixed point, so that shared
//! per-server times (ejection deadlines, latency stamps, budget buckets) fit in atomics.
//!
//! It reads tokio's clock, which is the system's monotonic clock (`std::time::Instant`, at the
//! same cost) in every build but the runtime's own tests, where tokio's `test-util` lets a
//! test pause and advance time (`#[tokio::test(start_paused = true)]`) and this clock follows.

use std::{sync::OnceLock, time::Duration};

use tokio::time::Instant;

/// Nanoseconds since the clock's epoch.
pub(crate) type Nanos = u64;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// What the clock reads at its epoch: a day, so that an instant up to a day before the
/// clock's first use still reads as earlier, not as the same time (a paused test clock starts
/// where the system clock was when its runtime was built, which may be before).
const AT_EPOCH: Duration = Duration::from_secs(24 * 3600);

/// The current time.
pub(crate) fn now() -> Nanos {
    let epoch = *EPOCH.get_or_init(Instant::now);
    let now = Instant::now();
    nanos(match now.checked_duration_since(epoch) {
        Some(since) => AT_EPOCH + since,
        None => AT_EPOCH.saturating_sub(epoch - now),
    })
}

/// A duration in nanoseconds, saturating at about 584 years.
pub(crate) fn nanos(duration: Duration) -> Nanos {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_a_paused_clock() {
        let before = now();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let after = now();
        assert!(after - before >= nanos(Duration::from_secs(3600)));
    }
}
