//! Upstream pools: a set of servers, a balancing strategy, live per-server state, and the
//! request loop: pick a usable server, send, and on a retryable failure try another one.
//! Tunnels (`tunnel`) pick and retry the same way, then relay bytes instead of a request.
//! Upgrade requests (`upgrade`, WebSockets) take one server, one fresh connection and no
//! retry, and become a tunnel when the server agrees.
//!
//! A pool with `tls` reaches its servers over TLS: its rustls client configuration is built
//! once, by [`Pool::load`], and shared by every worker, health checker and connection.
//!
//! Per-server state (health, requests in flight, latency, passive failures) is shared by all
//! workers; idle connections are kept per worker (`conn`). `Pool::new` runs once, on worker 0's
//! runtime, and starts the background tasks there: the idle-connection reaper and, with active
//! health checks, one checker per server. They end when the pool is dropped.
//!
//! A pool's server set (`servers`) is replaced whole when a server is given another weight
//! and, in a pool with names (`live`), by a background task as the names resolve to other
//! addresses; each pick reads the current set once, without a lock.
//!
//! A pool's guard (its second type parameter, see `circuit`) adds circuit breakers and outlier
//! detection: a place in `max_requests` is reserved before each pick, a request finding every
//! usable server at `max_conns` may wait in the pool's queue (`queue`), and each attempt's
//! outcome is recorded for the outlier detector, which runs beside the other background tasks.

use std::{
    fmt,
    future::Future,
    net::IpAddr,
    sync::{Arc, Weak},
    time::Duration,
};

use http::{HeaderMap, Request};
use smallvec::SmallVec;

mod exchange;
mod live;
mod queue;
mod servers;
mod sticky;
mod tunnel;
mod upgrade;

use servers::{ServerSet, Servers};

use crate::{
    address::Upstream,
    body::Outgoing,
    clock::{self, Nanos},
    cx::Outcome,
    observe::TRACEPARENT,
    upstream::backend::{Backend, ErrorKind, Slot},
    upstream::balance::Target,
    upstream::budget::RetryBudget,
    upstream::circuit::{Circuit, Guard, Unguarded},
    upstream::error::UpstreamError,
    upstream::forward::{self, Upgrade},
    upstream::health,
    upstream::outlier,
    upstream::passive::Ejected,
    upstream::pools::{Forwarding, Pools, Roster},
    upstream::retry::{Failure, Replay},
    upstream::spec::{PoolSpec, ServerSpec, UpstreamProtocol},
    upstream::tls::Connector,
    Cx, LoadError, Response, Strategy,
};

/// A pool of upstream servers balanced by `S` and guarded by `G` (by default, not at all).
pub struct Pool<S: Strategy, G: Guard = Unguarded> {
    spec: &'static PoolSpec,
    strategy: S,
    guard: G,
    servers: Arc<Servers<S>>,
    /// For a pool with names, the task that resolves them, stopped with the pool.
    _names: Option<live::Names>,
    budget: RetryBudget,
    /// The TLS client, for a pool with `tls`.
    tls: Option<Arc<Connector>>,
    /// What the process asks of every request forwarded.
    forwarding: Forwarding,
}

/// Why no place was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoPlace {
    /// No server is usable and has room.
    Servers,
    /// The pool is at `max_requests`.
    Pool,
}

impl<S: Strategy, G: Guard> fmt::Debug for Pool<S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("spec", self.spec).finish()
    }
}

impl<S: Strategy> Pool<S> {
    /// Builds the pool, one of the process's `pools` (which list it for the admin listener
    /// and for certificate reloads, and wait for its first name resolution and health checks
    /// before serving). Inside a tokio runtime this also starts its background tasks; with
    /// servers given by name, that includes resolving them (see [`crate::Upstream`]). A pool
    /// with `tls` reads files that may be unusable: build it with [`Pool::load`].
    ///
    /// # Panics
    ///
    /// When the spec's TLS files cannot be used. Generated code builds pools with `tls` with
    /// [`Pool::load`], which reports that instead.
    pub fn new(spec: &'static PoolSpec, strategy: S, pools: &Pools) -> Self {
        match Pool::load(spec, strategy, pools) {
            Ok(pool) => pool,
            Err(error) => panic!("{error}"),
        }
    }

    /// Builds the pool as [`Pool::new`] does, reading its TLS files first (the CA bundle, the
    /// client certificate and its key); a file that cannot be used is a [`LoadError::Pool`]
    /// naming it. The files are read again on SIGHUP (with [`crate::CertReloader`]).
    pub fn load(spec: &'static PoolSpec, strategy: S, pools: &Pools) -> Result<Self, LoadError> {
        Pool::build(spec, strategy, Unguarded, pools)
    }
}

impl<S: Strategy> Pool<S, Circuit> {
    /// Builds a pool guarded by `circuit` (circuit breakers, outlier detection), reading its
    /// TLS files as [`Pool::load`] does; with `outlier`, the detector starts with the pool's
    /// other background tasks.
    pub fn guarded(
        spec: &'static PoolSpec,
        strategy: S,
        circuit: Circuit,
        pools: &Pools,
    ) -> Result<Self, LoadError> {
        Pool::build(spec, strategy, circuit, pools)
    }
}

impl<S: Strategy, G: Guard> Pool<S, G> {
    fn build(
        spec: &'static PoolSpec,
        strategy: S,
        guard: G,
        pools: &Pools,
    ) -> Result<Self, LoadError> {
        let tls = spec
            .tls
            .as_ref()
            .map(|tls| Connector::load(tls, spec.protocol))
            .transpose()
            .map_err(|error| LoadError::Pool {
                name: spec.name,
                error,
            })?
            .map(Arc::new);
        if let Some(tls) = &tls {
            pools.register_connector(spec.name, tls);
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        let named = spec
            .servers
            .iter()
            .any(|server| !matches!(server.upstream, Upstream::Socket(_)));
        let circuit = guard.circuit();
        let gauge = circuit.and_then(Circuit::gauge);
        if let Some(gauge) = gauge {
            pools.register_gauge(spec.name, gauge);
        }
        let backend = |server: &ServerSpec| Arc::new(Backend::new(*server, None, gauge.cloned()));
        let (servers, names) = match &runtime {
            // A pool with names starts with its addresses, and the rest as they resolve.
            Some(runtime) if named => {
                let addresses = spec
                    .servers
                    .iter()
                    .filter(|server| matches!(server.upstream, Upstream::Socket(_)));
                let servers = Arc::new(Servers::<S>::new(addresses.map(backend).collect()));
                let names = live::Names::start(spec, runtime, &servers, tls.clone(), gauge, pools);
                (servers, Some(names))
            }
            _ => {
                let servers = Arc::new(Servers::<S>::new(
                    spec.servers.iter().map(backend).collect(),
                ));
                if let (Some(runtime), Some(check)) = (&runtime, spec.health) {
                    for backend in servers.load().backends.iter() {
                        let checked = pools.checking();
                        health::spawn(runtime, spec, check, backend, tls.clone(), checked);
                    }
                }
                (servers, None)
            }
        };
        if let Some(runtime) = &runtime {
            let weak = Arc::downgrade(&servers);
            runtime.spawn(reap(
                move || weak.upgrade().map(|servers| servers.load_full()),
                spec.timeouts.idle,
            ));
        }
        let roster = Arc::downgrade(&servers) as Weak<dyn Roster>;
        if let (Some(runtime), Some(outlier)) = (&runtime, circuit.and_then(Circuit::outlier)) {
            outlier::spawn(runtime, spec.name, outlier, roster.clone());
        }
        pools.register(spec.name, roster);
        Ok(Pool {
            spec,
            strategy,
            guard,
            servers,
            _names: names,
            budget: RetryBudget::default(),
            tls,
            forwarding: pools.forwarding().clone(),
        })
    }

    /// The pool as the `.edge` file writes it.
    pub(crate) fn spec(&self) -> &'static PoolSpec {
        self.spec
    }

    /// Sends `req` to a server the strategy picks and streams its response back. Retryable
    /// failures go to other servers as the pool's `retry` allows; the last failure becomes 502
    /// or 504 (logged with pool and server). With no usable server the answer is 503 at once.
    ///
    /// An upgrade request (an HTTP/1.1 `GET` with `Connection: upgrade` and `Upgrade:
    /// websocket`, a WebSocket handshake) goes on a fresh connection, without retries; when the server
    /// answers `101`, the client gets the `101` and the two connections are joined until
    /// either side closes or the tunnel is idle for `timeouts.tunnel`.
    ///
    /// Not an `async fn` of its own: one would hold the request twice more (its argument, and
    /// the future it awaits), in every proxied request's future.
    pub fn forward<'a>(
        &'a self,
        req: crate::Request,
        cx: &'a Cx,
    ) -> impl Future<Output = Response> + Send + 'a {
        self.forward_upgrading(req, cx, forward::WEBSOCKET_ONLY)
    }

    /// [`Pool::forward`], tunnelling upgrades to the protocols of `upgrades` (lower-case,
    /// as a route's `upgrade` directive lists them) instead of WebSockets only. `h2c` is never
    /// tunnelled, whatever the list.
    #[allow(clippy::manual_async_fn)] // on purpose, see below
    pub fn forward_upgrading<'a>(
        &'a self,
        mut req: crate::Request,
        cx: &'a Cx,
        upgrades: &'static [&'static str],
    ) -> impl Future<Output = Response> + Send + 'a {
        // A plain `fn` around an `async move` block: an `async fn` would hold the request
        // twice, once as an argument and once as a local, in every proxied request's future.
        async move {
            let http2 = self.spec.protocol == UpstreamProtocol::Http2;
            // HTTP/2 servers are not sent upgrades: such a request goes as a plain one.
            let upgrade = if http2 {
                None
            } else {
                Upgrade::of(&req, upgrades)
            };
            let upgrading = upgrade.is_some();
            // Read for the pick and removed: the sticky cookie never reaches the servers.
            let stuck_to = self
                .spec
                .sticky
                .and_then(|sticky| sticky::take(req.headers_mut(), &sticky));
            forward::to_upstream(&mut req, cx, upgrade, self.forwarding.via.as_ref());
            if http2 {
                forward::to_http2(&mut req, self.tls.is_some());
            }
            if upgrading {
                // Boxed: the upgrade's future (3.2 KiB: the tunnel's) would otherwise be part of
                // every request's, and every move of it; upgrades are rare and long-lived, so one
                // allocation each costs less.
                return Box::pin(self.upgrade(req, cx, stuck_to)).await;
            }
            let retry = &self.spec.retry;
            let replay = Replay::capture(&req, retry);
            let mut req = req.map(Outgoing::Client);
            let now = clock::now();
            if retry.attempts > 0 {
                self.budget.request(now);
            }
            // Servers tried by this request, or found full when taking a place.
            let mut excluded: SmallVec<[usize; 4]> = SmallVec::new();
            let mut slot =
                match self.acquire(&target(&req, cx).sticking_to(stuck_to), &mut excluded, now) {
                    Ok(slot) => slot,
                    Err(no_place) => {
                        // Only a guarded pool may wait: boxed, so that the wait's future is no
                        // part of every request's.
                        let queued = match self.guard.circuit() {
                            Some(circuit) => {
                                let target = target(&req, cx).sticking_to(stuck_to);
                                Box::pin(self.queue(circuit, no_place, &target, &mut excluded))
                                    .await
                            }
                            None => None,
                        };
                        match queued {
                            Some(slot) => slot,
                            None => {
                                tracing::debug!(
                                    pool = self.spec.name,
                                    ?no_place,
                                    "no place for the request"
                                );
                                return UpstreamError::Unavailable.response();
                            }
                        }
                    }
                };
            let mut retries = 0;
            loop {
                excluded.push(slot.backend().id());
                let server = slot.backend().spec.upstream;
                let sticky_id = slot.backend().sticky_id;
                if let Some(recording) = cx.trace() {
                    let traceparent = recording.attempt_started();
                    req.headers_mut().insert(TRACEPARENT, traceparent);
                }
                let answered = self.exchange(slot, req).await;
                let status = answered.as_ref().ok().map(|r| r.status().as_u16());
                if let Some(recording) = cx.trace() {
                    let outcome = match &answered {
                        Ok(response) | Err(Failure::Status(response)) => {
                            Outcome::Answered(response.status().as_u16())
                        }
                        Err(Failure::Error { error, .. }) => Outcome::Failed(error.kind()),
                    };
                    recording.attempt_ended(self.spec.name, server, retries, outcome);
                }
                // Only the access log reads it: no lock per attempt without one.
                if self.forwarding.report_server {
                    cx.upstream_seen(server, status);
                }
                let mut failure = match answered {
                    Ok(mut response) if !self.retries_status(&response, replay.as_ref()) => {
                        if let Some(sticky) = &self.spec.sticky {
                            sticky::stick(&mut response, sticky, stuck_to, sticky_id);
                        }
                        return response;
                    }
                    Ok(response) => Failure::Status(response),
                    Err(failure) => failure,
                };
                if let Failure::Error { error, .. } = &failure {
                    tracing::warn!(pool = self.spec.name, server = %server, %error, "upstream request failed");
                }
                let again = if retries < retry.attempts {
                    failure.again(&retry.on, replay.as_ref())
                } else {
                    None
                };
                let Some(again) = again else {
                    return failure.into_response();
                };
                let now = clock::now();
                let Ok(next) = self.acquire(
                    &target(&again, cx).sticking_to(stuck_to),
                    &mut excluded,
                    now,
                ) else {
                    return failure.into_response();
                };
                if !self.budget.try_retry(now) {
                    tracing::debug!(pool = self.spec.name, "retry budget spent");
                    return failure.into_response();
                }
                retries += 1;
                (slot, req) = (next, again);
            }
        }
    }

    /// One pick as [`Pool::forward`] makes it, without a request and without I/O: the strategy
    /// chooses a usable server for a request with `headers` and `path` from `client`, a place
    /// on it is taken and given back at once. The chosen server's address; `None` when no
    /// server is usable.
    ///
    /// For the balancer benches (`benches/benches/balancers.rs`) only: not part of the
    /// runtime's contract, which generated code keeps to.
    #[doc(hidden)]
    pub fn pick_for_bench(
        &self,
        headers: &HeaderMap,
        path: &str,
        client: IpAddr,
    ) -> Option<Upstream> {
        let stuck_to = self
            .spec
            .sticky
            .and_then(|sticky| sticky::wanted(headers, &sticky));
        let target = Target::request(headers, path, client).sticking_to(stuck_to);
        let slot = self
            .acquire(&target, &mut SmallVec::new(), clock::now())
            .ok()?;
        Some(slot.backend().spec.upstream)
    }

    /// The id a sticky pool's cookie names the server at `upstream` by.
    ///
    /// For the balancer benches only, as [`Pool::pick_for_bench`].
    #[doc(hidden)]
    pub fn sticky_id_for_bench(upstream: &Upstream) -> u64 {
        crate::fixed_hash::stable_hash(upstream.to_string().as_bytes())
    }

    /// Whether a response is a 5xx this pool would retry.
    fn retries_status(&self, response: &Response, replay: Option<&Replay>) -> bool {
        let retry = &self.spec.retry;
        retry.on.status_5xx
            && retry.attempts > 0
            && replay.is_some()
            && response.status().is_server_error()
    }

    /// Takes a place on a usable server of the current set: a primary if any is usable, else
    /// a backup. `excluded` holds the [`Backend::id`]s of servers not to pick. In a guarded
    /// pool, a place in `max_requests` is reserved first.
    fn acquire(
        &self,
        target: &Target<'_>,
        excluded: &mut SmallVec<[usize; 4]>,
        now: Nanos,
    ) -> Result<Slot, NoPlace> {
        let circuit = self.guard.circuit();
        if circuit.is_some_and(|circuit| !circuit.reserve()) {
            return Err(NoPlace::Pool);
        }
        let slot = self.acquire_in(&self.servers.load(), target, excluded, now);
        match (slot, circuit) {
            (Some(slot), _) => Ok(slot),
            (None, Some(circuit)) => {
                circuit.unreserve();
                Err(NoPlace::Servers)
            }
            (None, None) => Err(NoPlace::Servers),
        }
    }

    /// Whether a usable server of the current set is at its `max_conns`, so that waiting
    /// may give a place.
    fn any_full(&self, now: Nanos) -> bool {
        self.servers
            .load()
            .backends
            .iter()
            .any(|backend| backend.is_up(now) && backend.takes_new() && !backend.has_room())
    }

    fn acquire_in(
        &self,
        set: &ServerSet<S::Table>,
        target: &Target<'_>,
        excluded: &mut SmallVec<[usize; 4]>,
        now: Nanos,
    ) -> Option<Slot> {
        if let Some(id) = target.sticky {
            let stuck = set.backends.iter().position(|b| b.sticky_id == id);
            let choice = set.choice(&[], false, excluded, now);
            if let Some(index) = stuck.filter(|&index| choice.usable(index)) {
                if let Some(slot) = Slot::acquire(&set.backends[index]) {
                    return Some(slot);
                }
            }
        }
        for (members, backup) in [(&set.primaries, false), (&set.backups, true)] {
            // Each round either returns or excludes one more server.
            for _ in 0..=members.len() {
                let choice = set.choice(members, backup, excluded, now);
                let Some(index) = self.strategy.pick(&set.table, &choice, target) else {
                    break;
                };
                let backend = &set.backends[index];
                match Slot::acquire(backend) {
                    Some(slot) => return Some(slot),
                    // Another request took the last place meanwhile.
                    None => excluded.push(backend.id()),
                }
            }
        }
        None
    }

    /// Tells passive health and metrics that `backend` answered, with a 5xx or not.
    fn answered(&self, backend: &Backend, status: http::StatusCode) {
        if status.is_server_error() {
            backend
                .stats
                .failed(ErrorKind::Status5xx, format_args!("answered {status}"));
        }
        if let Some(passive) = &self.spec.passive {
            let ejected = backend
                .passive
                .response(passive, status.is_server_error(), clock::now());
            self.log_ejection(backend, ejected);
        }
    }

    /// Counts a failed attempt for passive health and metrics.
    fn failed(
        &self,
        backend: &Backend,
        error: UpstreamError,
        unsent: Option<Request<Outgoing>>,
    ) -> Failure {
        let kind = match error {
            UpstreamError::ResponseTimeout(_) => ErrorKind::Timeout,
            UpstreamError::Exchange(_)
            | UpstreamError::Broken(_)
            | UpstreamError::UnaskedSwitch => ErrorKind::Broken,
            _ => ErrorKind::Connect,
        };
        backend.stats.failed(kind, &error);
        self.count_failure(backend);
        Failure::Error { error, unsent }
    }

    /// Tells passive health that an attempt on `backend` failed.
    fn count_failure(&self, backend: &Backend) {
        if let Some(passive) = &self.spec.passive {
            let ejected = backend.passive.failure(passive, clock::now());
            self.log_ejection(backend, ejected);
        }
    }

    /// Counts the time an attempt started at `started` took to be `answered` (or to give up)
    /// for the admin listener, and feeds the latency estimate of strategies that use it.
    fn measured(&self, backend: &Backend, started: Nanos, answered: bool) {
        let now = clock::now();
        let took = now.saturating_sub(started);
        if answered {
            backend.stats.answered(took);
        }
        if S::MEASURES_LATENCY {
            backend.rtt.observe(took, now);
        }
    }

    fn log_ejection(&self, backend: &Backend, ejected: Option<Ejected>) {
        let Some(why) = ejected else {
            return;
        };
        let out_for = self.spec.passive.map_or(Duration::ZERO, |p| p.fail_timeout);
        let server = backend;
        match why {
            Ejected::Failures(fails) => {
                tracing::warn!(pool = self.spec.name, %server, fails, ?out_for, "server taken out (passive health: failures)");
            }
            Ejected::Consecutive5xx(count) => {
                tracing::warn!(pool = self.spec.name, %server, count, ?out_for, "server taken out (passive health: consecutive 5xx)");
            }
        }
    }
}

/// What a request's pick may hash.
fn target<'a>(req: &'a Request<Outgoing>, cx: &Cx) -> Target<'a> {
    Target::request(req.headers(), req.uri().path(), cx.client().ip())
}

/// Drops stale idle connections of the current set until the pool is gone (`current`
/// gives `None`).
async fn reap<T>(current: impl Fn() -> Option<Arc<ServerSet<T>>>, max_idle: Duration) {
    let mut tick = tokio::time::interval((max_idle / 2).max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(set) = current() else {
            return;
        };
        for backend in set.backends.iter() {
            backend.idle.drop_stale(max_idle);
            backend.shared.drop_stale(max_idle);
        }
    }
}
