//! A process-wide monotonic clock counting nanoseconds from its first use, so that shared
//! per-server times (ejection deadlines, latency stamps, budget buckets) fit in atomics.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

/// Nanoseconds since the clock's epoch.
pub(crate) type Nanos = u64;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The current time.
pub(crate) fn now() -> Nanos {
    let epoch = *EPOCH.get_or_init(Instant::now);
    nanos(Instant::now().saturating_duration_since(epoch))
}

/// A duration in nanoseconds, saturating at about 584 years.
pub(crate) fn nanos(duration: Duration) -> Nanos {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
