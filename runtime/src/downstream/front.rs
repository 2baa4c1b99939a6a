//! What every client connection of a process shares: the observer its requests are recorded
//! in, and how far the process is in stopping (draining, handed over to a successor).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::observe::Observer;

pub(crate) struct Front {
    pub(crate) observer: Observer,
    /// Raised once, when the process begins to drain or hands its sockets over: every HTTP/1
    /// answer then carries `Connection: close`.
    closing: AtomicBool,
    /// Raised once, when the sockets are handed over.
    handed_over: AtomicBool,
    /// Raised once, on SIGTERM: `/ready` answers 503 from then on.
    draining: AtomicBool,
}

impl Front {
    pub(crate) fn new(observer: Observer) -> Front {
        Front {
            observer,
            closing: AtomicBool::new(false),
            handed_over: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    /// From now on every HTTP/1 answer carries `Connection: close`, so that each keep-alive
    /// client moves to the new process after its next request rather than sending one on a
    /// connection the drain closes (HAProxy's `idle-close-on-response`); idle connections end
    /// at their keep-alive timeout. Called when the process hands over.
    pub(crate) fn hand_over(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.handed_over.store(true, Ordering::Relaxed);
    }

    /// From now on `/ready` answers 503 and every HTTP/1 answer carries `Connection: close`,
    /// so that clients reconnect through their load balancer, which soon stops choosing this
    /// process. Called on SIGTERM, before the drain delay.
    pub(crate) fn begin_draining(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether each HTTP/1 answer closes its connection (one relaxed load of a flag written
    /// once, per request).
    pub(crate) fn closes_each_answer(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Whether the process has handed over.
    pub(crate) fn handed_over(&self) -> bool {
        self.handed_over.load(Ordering::Relaxed)
    }

    /// Whether the process should get traffic: it has started (the admin listener answers
    /// only then) and is not draining.
    pub(crate) fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }
}
