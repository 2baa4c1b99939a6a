//! Workers: the proxy runs one single-threaded tokio runtime per core, each accepting on its
//! own `SO_REUSEPORT` socket, so a connection and everything it causes (upstream connections
//! included) stay on one thread. This module knows how many workers there are and which one
//! the current thread is; per-worker state (such as idle upstream connections) is indexed by it.

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// How many workers to run: `EDGE_WORKERS` when set to a positive number, else `configured`
/// (the config's `workers`) when positive, else one per core this process may run on (CPU
/// affinity respected).
pub(crate) fn configured(configured: usize) -> usize {
    std::env::var("EDGE_WORKERS")
        .ok()
        .and_then(|value| value.parse::<NonZeroUsize>().ok())
        .or(NonZeroUsize::new(configured))
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
}

/// Records the number of workers; pools built afterwards keep one idle list per worker.
pub(crate) fn set_count(count: usize) {
    COUNT.store(count.max(1), Ordering::Relaxed);
}

/// The number of workers (1 outside `run`, e.g. when a test serves on its own runtime).
pub(crate) fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// Marks the current thread as worker `index`.
pub(crate) fn enter(index: usize) {
    CURRENT.with(|current| current.set(index));
}

/// The current thread's worker index (0 on threads that are not workers).
pub(crate) fn current() -> usize {
    CURRENT.with(Cell::get)
}
