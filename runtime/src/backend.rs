//! One server's live state, shared by every worker: whether it is up (active checks), whether
//! passive health has taken it out, how many requests it has in flight, its latency estimate,
//! and its idle connections.

use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc,
};

use crate::{
    balance::Rtt,
    clock::Nanos,
    conn::{IdleLists, Sender},
    passive::PassiveState,
    spec::ServerSpec,
};

#[derive(Debug)]
pub(crate) struct Backend {
    pub(crate) spec: &'static ServerSpec,
    pub(crate) idle: IdleLists,
    pub(crate) passive: PassiveState,
    pub(crate) rtt: Rtt,
    /// Set by the active health checker; servers start up.
    up: AtomicBool,
    /// Requests sent and whose response has not ended yet.
    active: AtomicU32,
}

impl Backend {
    pub(crate) fn new(spec: &'static ServerSpec) -> Backend {
        Backend {
            spec,
            idle: IdleLists::new(),
            passive: PassiveState::default(),
            rtt: Rtt::default(),
            up: AtomicBool::new(true),
            active: AtomicU32::new(0),
        }
    }

    /// Up for the health checker and not taken out by passive health.
    pub(crate) fn is_up(&self, now: Nanos) -> bool {
        self.up.load(Ordering::Relaxed) && !self.passive.is_out(now)
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Below `max_conns`, if it has one.
    pub(crate) fn has_room(&self) -> bool {
        self.spec.max_conns == 0 || self.active() < self.spec.max_conns
    }
}

/// One request in flight to one server, counted in its `active` from `acquire` until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    backends: Arc<[Backend]>,
    index: usize,
}

impl Slot {
    /// Counts a request to server `index`; `None` if it is at `max_conns` (another worker may
    /// have taken the last place since the strategy looked).
    pub(crate) fn acquire(backends: &Arc<[Backend]>, index: usize) -> Option<Slot> {
        let backend = &backends[index];
        let max = backend.spec.max_conns;
        if max == 0 {
            backend.active.fetch_add(1, Ordering::Relaxed);
        } else {
            backend
                .active
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |active| {
                    (active < max).then_some(active + 1)
                })
                .ok()?;
        }
        Some(Slot {
            backends: Arc::clone(backends),
            index,
        })
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backends[self.index]
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.backend().active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection lent to one response, and the request's place in its server's count.
/// [`crate::Body`] gives the connection back when the response has ended; dropped early, the
/// connection is closed. Either way the request stops counting as active.
#[derive(Debug)]
pub(crate) struct Pooled {
    sender: Sender,
    slot: Slot,
}

impl Pooled {
    pub(crate) fn new(sender: Sender, slot: Slot) -> Pooled {
        Pooled { sender, slot }
    }

    pub(crate) fn release(self) {
        self.slot.backend().idle.push(self.sender);
    }
}
