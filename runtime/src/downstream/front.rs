//! What every client connection of a process shares: the observer its requests are recorded
//! in, and whether the process has handed its sockets over to a successor.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::observe::Observer;

pub(crate) struct Front {
    pub(crate) observer: Observer,
    /// Raised once, when the sockets are handed over.
    handed_over: AtomicBool,
}

impl Front {
    pub(crate) fn new(observer: Observer) -> Front {
        Front {
            observer,
            handed_over: AtomicBool::new(false),
        }
    }

    /// From now on every HTTP/1 answer carries `Connection: close`, so that each keep-alive
    /// client moves to the new process after its next request rather than sending one on a
    /// connection the drain closes (HAProxy's `idle-close-on-response`); idle connections end
    /// at their keep-alive timeout. Called when the process hands over.
    pub(crate) fn close_after_each_answer(&self) {
        self.handed_over.store(true, Ordering::Relaxed);
    }

    /// Whether the process has handed over (one relaxed load of a flag written once).
    pub(crate) fn handed_over(&self) -> bool {
        self.handed_over.load(Ordering::Relaxed)
    }
}
