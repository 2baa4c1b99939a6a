//! One server's live state, shared by every worker: whether it is up (active checks), whether
//! passive health or outlier detection has taken it out, whether an operator has drained it or
//! put it in maintenance ([`Steering`], through the admin listener) or given it another weight,
//! how many requests it has in flight, its latency estimate, and its idle connections (HTTP/2
//! ones for pools with `protocol h2`).
//!
//! A weight set here is not read by picks: they read the weights of their server set, which
//! the pool builds again from its servers' weights and swaps in
//! ([`crate::upstream::pools::Roster::reweigh`]).
//! In a pool with `max_requests` or `max_pending`, it also reports the end of each request to
//! the pool's [`Gauge`].
//!
//! A backend is one address. It is shared (`Arc`) by the server sets that list it and by the
//! requests in flight to it, so when a pool's membership changes, an address that stays keeps
//! its state, and one that left lives on until its last request has ended.

pub(crate) mod http1;
pub(crate) mod http2;
mod rtt;

pub(crate) use rtt::Rtt;

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::SystemTime,
};

use crate::{
    body::{Lease, Lessor},
    clock::Nanos,
    http1::client::Connection,
    upstream::backend::http1::IdleLists,
    upstream::backend::http2::SharedConns,
    upstream::counts::{Gauge, OutlierCounts},
    upstream::passive::PassiveState,
    upstream::spec::ServerSpec,
};

/// The largest weight a server may be given, as the language's `weight N` allows.
pub(crate) const MAX_WEIGHT: u32 = 1_000_000;

#[derive(Debug)]
pub(crate) struct Backend {
    /// For an address found by a name, the entry's spec with `upstream` set to the address
    /// (and, for SRV, the record's weight and tier).
    pub(crate) spec: ServerSpec,
    /// The `host:port` the address was found by, if any: for logs, and as the health check's
    /// `Host`.
    pub(crate) host: Option<Arc<str>>,
    pub(crate) idle: IdleLists,
    /// HTTP/2 connections, for pools with `protocol h2`.
    pub(crate) shared: SharedConns,
    pub(crate) passive: PassiveState,
    pub(crate) rtt: Rtt,
    /// Attempts since the outlier detector last looked (pools with `outlier` only).
    pub(crate) outlier: OutlierCounts,
    /// The pool's counts, told when a request ends (pools with `max_requests` or
    /// `max_pending` only).
    gauge: Option<Arc<Gauge>>,
    /// Set by the active health checker; servers start up.
    up: AtomicBool,
    /// A [`Steering`], as `u8`.
    steering: AtomicU8,
    /// The weight an operator set, or 0 for the config's (`spec.weight`).
    weight: AtomicU32,
    /// Requests sent and whose response has not ended yet.
    active: AtomicU32,
    /// Counts for the admin listener.
    pub(crate) stats: Stats,
    /// The server's id in a sticky pool's cookie: a fixed hash of its address, the same in
    /// every proxy of a fleet, which does not show the address.
    pub(crate) sticky_id: u64,
}

/// What went wrong with an attempt, as metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// No connection (refused, unreachable, timed out, handshake failed).
    Connect = 0,
    /// No response head within the response timeout.
    Timeout = 1,
    /// A 5xx answer.
    Status5xx = 2,
    /// The connection failed while the request or the response head was on the way.
    Broken = 3,
}

impl ErrorKind {
    pub(crate) const ALL: [ErrorKind; 4] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Status5xx,
        ErrorKind::Broken,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status5xx => "5xx",
            ErrorKind::Broken => "broken",
        }
    }
}

/// A server's request and error counts, the time its answers took, and its last error.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) errors: [AtomicU64; 4],
    /// Attempts answered: a response head arrived (for a tunnel, the connection opened).
    pub(crate) answers: AtomicU64,
    /// The time those answers took in all, from the attempt's start, in nanoseconds.
    pub(crate) waited: AtomicU64,
    /// Only written when an attempt fails.
    last_error: Mutex<Option<(SystemTime, String)>>,
    /// When the server's [`Steering`] last changed, and who changed it; only written then.
    last_steered: Mutex<Option<(SystemTime, String)>>,
    /// When the server's weight last changed, and who changed it; only written then.
    last_weighed: Mutex<Option<(SystemTime, String)>>,
}

/// What an operator has said of a server, through the admin listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Steering {
    /// Takes requests as its health allows.
    Ready,
    /// Takes no new request; those in flight finish. Health checks go on.
    Drain,
    /// Takes no new request, its idle connections are closed and its health is not checked;
    /// requests in flight finish.
    Maintenance,
}

impl Steering {
    pub(crate) const ALL: [Steering; 3] = [Steering::Ready, Steering::Drain, Steering::Maintenance];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Steering::Ready => "ready",
            Steering::Drain => "drain",
            Steering::Maintenance => "maintenance",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Steering> {
        Steering::ALL.into_iter().find(|state| state.name() == name)
    }
}

impl Stats {
    /// Counts an answer that took `took`.
    pub(crate) fn answered(&self, took: Nanos) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        self.waited.fetch_add(took, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, kind: ErrorKind, error: impl fmt::Display) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some((SystemTime::now(), error.to_string()));
    }

    pub(crate) fn last_error(&self) -> Option<(SystemTime, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When the server's steering last changed, and by whom.
    pub(crate) fn last_steered(&self) -> Option<(SystemTime, String)> {
        self.last_steered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When the server's weight last changed, and by whom.
    pub(crate) fn last_weighed(&self) -> Option<(SystemTime, String)> {
        self.last_weighed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Backend {
    /// A server of a pool whose `gauge`, if it has one, counts the end of every request.
    pub(crate) fn new(
        spec: ServerSpec,
        host: Option<Arc<str>>,
        gauge: Option<Arc<Gauge>>,
    ) -> Backend {
        Backend {
            spec,
            host,
            idle: IdleLists::new(),
            shared: SharedConns::new(),
            passive: PassiveState::default(),
            rtt: Rtt::default(),
            outlier: OutlierCounts::default(),
            gauge,
            up: AtomicBool::new(true),
            steering: AtomicU8::new(Steering::Ready as u8),
            weight: AtomicU32::new(0),
            active: AtomicU32::new(0),
            stats: Stats::default(),
            sticky_id: crate::fixed_hash::stable_hash(spec.upstream.to_string().as_bytes()),
        }
    }

    /// Identifies this backend among all live ones (its address in memory), so a request can
    /// remember the servers it tried across a change of the server set.
    pub(crate) fn id(&self) -> usize {
        self as *const Backend as usize
    }

    /// Up for the health checker and not taken out by passive health or outlier detection.
    pub(crate) fn is_up(&self, now: Nanos) -> bool {
        self.up.load(Ordering::Relaxed) && !self.passive.is_out(now)
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// What an operator has said of the server.
    pub(crate) fn steering(&self) -> Steering {
        match self.steering.load(Ordering::Relaxed) {
            1 => Steering::Drain,
            2 => Steering::Maintenance,
            _ => Steering::Ready,
        }
    }

    /// Whether the server may be given a new request: not drained, not in maintenance.
    pub(crate) fn takes_new(&self) -> bool {
        self.steering.load(Ordering::Relaxed) == Steering::Ready as u8
    }

    /// Sets the server's steering, as `by` asked; into maintenance, its idle connections are
    /// closed.
    pub(crate) fn steer(&self, to: Steering, by: String) {
        self.steering.store(to as u8, Ordering::Relaxed);
        *self
            .stats
            .last_steered
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((SystemTime::now(), by));
        if to == Steering::Maintenance {
            self.idle.close_all();
        }
    }

    /// The weight in force: the one an operator set, else the config's (for an address an
    /// SRV record gave, the record's).
    pub(crate) fn weight(&self) -> u32 {
        match self.weight.load(Ordering::Relaxed) {
            0 => self.spec.weight,
            set => set,
        }
    }

    /// The weight an operator set, when it differs from the config's.
    pub(crate) fn live_weight(&self) -> Option<u32> {
        match self.weight.load(Ordering::Relaxed) {
            0 => None,
            set => Some(set),
        }
    }

    /// Gives the server weight `to` (at least 1), as `by` asked; the config's weight takes
    /// the operator's away. Picks follow once the pool's set has been built again
    /// ([`crate::upstream::pools::Roster::reweigh`]).
    pub(crate) fn reweigh(&self, to: u32, by: String) {
        let set = if to == self.spec.weight { 0 } else { to.max(1) };
        self.weight.store(set, Ordering::Relaxed);
        *self
            .stats
            .last_weighed
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((SystemTime::now(), by));
    }

    pub(crate) fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Below `max_conns`, if it has one.
    pub(crate) fn has_room(&self) -> bool {
        self.spec.max_conns == 0 || self.active() < self.spec.max_conns
    }
}

/// `10.0.0.1:8080`, or `users.internal:8080 (10.0.0.1:8080)` for an address found by name.
impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host} ({})", self.spec.upstream),
            None => self.spec.upstream.fmt(f),
        }
    }
}

/// One request in flight to one server, counted in its `active` from `acquire` until dropped,
/// or until the answer's body ends once the slot is lent to it.
#[derive(Debug)]
pub(crate) struct Slot {
    /// `None` once lent: the answer's [`Lease`] counts the request from then on.
    backend: Option<Arc<Backend>>,
}

impl Slot {
    /// Counts a request to `backend`; `None` if it is at `max_conns` (another worker may have
    /// taken the last place since the strategy looked).
    pub(crate) fn acquire(backend: &Arc<Backend>) -> Option<Slot> {
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
            backend: Some(Arc::clone(backend)),
        })
    }

    pub(crate) fn backend(&self) -> &Backend {
        self.backend
            .as_deref()
            .expect("a slot holds its backend until it is lent, which consumes it")
    }

    /// Hands the request's place to the answer's body, with the connection of an upgrade
    /// request answered without switching (closed at the end): the request stops counting as
    /// active when the body ends or is dropped.
    pub(crate) fn lend(mut self, single_use: Option<http1::Sender>) -> Lease {
        let backend = self
            .backend
            .take()
            .expect("a slot holds its backend until it is lent, which consumes it");
        Lease::new(backend, single_use)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(backend) = &self.backend {
            backend.finished();
        }
    }
}

impl Lessor for Backend {
    fn take_back(&self, connection: Connection) {
        self.idle.push(connection);
    }

    fn finished(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        if let Some(gauge) = &self.gauge {
            gauge.release();
        }
    }
}
