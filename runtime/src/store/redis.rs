//! A Redis store: one connection per worker (redis-rs's `ConnectionManager`: requests
//! pipelined on it, and a new connection made in the background after a failure), made by a
//! task of the worker's own on its first call (a call waits for it only within its deadline:
//! a slow handshake, TLS say, goes on after the call has given up). Behind Sentinel, the
//! connection is to the primary the Sentinels name when it is made, and is forgotten when a
//! call on it fails (the primary gone, or turned replica and answering `READONLY`), so the
//! next call after the rest asks the Sentinels again and follows a failover. One
//! server-side script for the rate limits' GCRA (`gcra.lua`, sent by its digest, `EVALSHA`),
//! a deadline on every call, and a rest after a failure: for a second no call is tried, so a
//! Redis that is down or silent costs requests nothing but their fallback. Failures are
//! counted by kind and logged once per interval, never per request; the first call after a
//! rest tries again, so a Redis that comes back is used again without a restart.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionInfo, IntoConnectionInfo};

use super::{StorePassword, StoreServers, StoreSpec};
use crate::clock::{self, Nanos};

/// The GCRA script.
const GCRA: &str = include_str!("gcra.lua");

/// How long no call is tried after one failed.
const REST: Nanos = 1_000_000_000;

/// How long making a connection may take, at least (the call's deadline when longer).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a failing store is logged, at most.
const LOG_EVERY: Nanos = 10_000_000_000;

/// Upper bounds of the round-trip histogram, in microseconds (and `+Inf`).
pub(crate) const ROUND_TRIP_BUCKETS_US: [u64; 8] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000];

/// What a call could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// A call failed less than a second ago: none is tried.
    Resting,
    /// No answer within the deadline.
    Timeout,
    /// No connection (refused, reset, closed).
    Connection,
    /// An answer that is an error, or not the script's.
    Reply,
}

impl StoreError {
    /// The kinds counted in `edge_store_errors_total`, in [`Figures::errors`] order.
    pub(crate) const KINDS: [&'static str; 3] = ["timeout", "connection", "reply"];

    fn index(self) -> Option<usize> {
        match self {
            StoreError::Resting => None,
            StoreError::Timeout => Some(0),
            StoreError::Connection => Some(1),
            StoreError::Reply => Some(2),
        }
    }
}

/// What the script granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    /// Requests granted, at most the number asked for; 0: refused.
    pub(crate) granted: u32,
    /// How far the key's theoretical arrival time is ahead of now, after the grant.
    pub(crate) ahead: Nanos,
}

/// The figures `/metrics` reports for a store. Decisions, counted on every request, have a
/// row per worker (on its own cache line, as the request metrics do); round trips and
/// failures, counted only with a call, are shared.
pub(crate) struct Figures {
    /// Round trips per histogram bucket, then `+Inf`.
    pub(crate) round_trips: [AtomicU64; ROUND_TRIP_BUCKETS_US.len() + 1],
    /// The sum of round trips, in microseconds.
    pub(crate) round_trip_us: AtomicU64,
    /// Failed calls by [`StoreError::KINDS`].
    pub(crate) errors: [AtomicU64; 3],
    /// Each worker's rate-limit decisions, by [`Decided`].
    decisions: Box<[Decisions]>,
}

/// One worker's decisions: from a batch taken earlier, from the store, by the fallback.
#[repr(align(128))]
#[derive(Default)]
struct Decisions([AtomicU64; 3]);

/// Where a rate-limit decision was taken, in [`Figures::decisions`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decided {
    /// From requests this process took from the store earlier: no round trip.
    Batch,
    /// By a round trip to the store.
    Store,
    /// By `on_store_error`, the store not answering.
    Fallback,
}

impl Decided {
    pub(crate) const LABELS: [&'static str; 3] = ["batch", "store", "fallback"];
}

impl Figures {
    fn new(workers: usize) -> Figures {
        Figures {
            round_trips: Default::default(),
            round_trip_us: AtomicU64::new(0),
            errors: Default::default(),
            decisions: (0..workers).map(|_| Decisions::default()).collect(),
        }
    }

    /// The decisions of every worker, by [`Decided`].
    pub(crate) fn decisions(&self) -> [u64; 3] {
        let mut sums = [0; 3];
        for row in &self.decisions {
            for (sum, count) in sums.iter_mut().zip(&row.0) {
                *sum += count.load(Ordering::Relaxed);
            }
        }
        sums
    }

    fn round_trip(&self, micros: u64) {
        let bucket = ROUND_TRIP_BUCKETS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(ROUND_TRIP_BUCKETS_US.len());
        self.round_trips[bucket].fetch_add(1, Ordering::Relaxed);
        self.round_trip_us.fetch_add(micros, Ordering::Relaxed);
    }
}

/// How the store is reached.
#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per store, made at start-up and cloned only to connect"
)]
enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
    Sentinel(Sentinels),
}

/// Where the Sentinels are, what they call the primary, and how to reach it.
#[derive(Clone)]
struct Sentinels {
    sentinels: Vec<ConnectionInfo>,
    master: &'static str,
    primary: SentinelNodeConnectionInfo,
}

impl Client {
    /// A connection made within `timeout` (each node's, for a cluster); behind Sentinel, to
    /// the primary they name now (whose role is checked), the whole within `timeout`.
    async fn connect(self, store: &str, timeout: Duration) -> redis::RedisResult<Connection> {
        match self {
            Client::Sentinel(sentinels) => {
                let found = async {
                    let primary = SentinelClient::build(
                        sentinels.sentinels,
                        sentinels.master,
                        Some(sentinels.primary),
                        SentinelServerType::Master,
                    )?
                    .async_get_client()
                    .await?;
                    let config = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(None);
                    let connection = primary
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?;
                    tracing::info!(
                        store,
                        master = sentinels.master,
                        primary = %primary.get_connection_info().addr(),
                        "the Sentinels name the store's primary"
                    );
                    Ok(Connection::Primary(connection))
                };
                tokio::time::timeout(timeout, found)
                    .await
                    .unwrap_or_else(|_| {
                        Err(redis::RedisError::from(std::io::Error::from(
                            std::io::ErrorKind::TimedOut,
                        )))
                    })
            }
            Client::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(None)
                    .set_number_of_retries(2);
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map(Connection::Single)
            }
            Client::Cluster(client) => client.get_async_connection().await.map(Connection::Cluster),
        }
    }

    /// Whether a connection the failure of a call on which is `error` is to be forgotten, so
    /// that the next call makes another: behind Sentinel, unless the server answered something
    /// other than `READONLY` (a replica's answer to a write: a failover made the primary one).
    /// The other kinds reconnect by themselves.
    fn forgets(&self, error: &StoreError, reply: Option<&redis::RedisError>) -> bool {
        matches!(self, Client::Sentinel(_))
            && match error {
                StoreError::Reply => reply.is_some_and(|reply| {
                    matches!(
                        reply.kind(),
                        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
                    )
                }),
                StoreError::Timeout | StoreError::Connection => true,
                StoreError::Resting => false,
            }
    }
}

/// One worker's connection: redis-rs reconnects it after a failure (and, to a cluster,
/// follows moved slots and failed-over primaries).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    /// To the primary a Sentinel named; replaced after a failure rather than reconnected.
    Primary(MultiplexedConnection),
}

impl Connection {
    /// Runs the script on the key (for a cluster, on the node serving its slot).
    async fn invoke(
        &mut self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<(u32, i64)> {
        match self {
            Connection::Single(connection) => invocation.invoke_async(connection).await,
            Connection::Cluster(connection) => invocation.invoke_async(connection).await,
            Connection::Primary(connection) => invocation.invoke_async(connection).await,
        }
    }
}

/// One worker's connection, and the task making it.
#[derive(Default)]
struct Slot {
    /// Locked once per round trip, by the worker's own calls (and taken from after a failure
    /// behind Sentinel).
    ready: Mutex<Option<Connection>>,
    connecting: AtomicBool,
    /// Woken when a connection attempt ends, made or not.
    attempted: tokio::sync::Notify,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection made, if there is one.
    fn connection(&self) -> Option<Connection> {
        self.lock().clone()
    }
}

/// A Redis server shared by the proxies that use it.
pub(crate) struct RedisStore {
    spec: &'static StoreSpec,
    client: Client,
    /// One connection per worker, made on the worker's first call (on its own runtime).
    connections: Arc<[Slot]>,
    script: redis::Script,
    /// Until when no call is tried (nanoseconds on the process clock).
    resting_until: AtomicU64,
    /// When a failure was last logged, and how many failed since.
    logged_at: AtomicU64,
    unlogged: AtomicU64,
    figures: Figures,
}

impl RedisStore {
    /// Reads the password and checks the address; connects nothing yet.
    pub(super) fn start(spec: &'static StoreSpec) -> Result<RedisStore, String> {
        let password = password(spec.password)?;
        let client = match spec.servers {
            StoreServers::Single(url) => {
                let mut info = url
                    .into_connection_info()
                    .map_err(|error| format!("cannot use {url}: {error}"))?;
                if let Some(password) = password {
                    let settings = info.redis_settings().clone().set_password(password);
                    info = info.set_redis_settings(settings);
                }
                Client::Single(
                    redis::Client::open(info)
                        .map_err(|error| format!("cannot use {url}: {error}"))?,
                )
            }
            StoreServers::Cluster(nodes) => {
                let mut builder = ClusterClientBuilder::new(nodes.to_vec())
                    .connection_timeout(spec.timeout.max(CONNECT_TIMEOUT));
                if let Some(password) = password {
                    builder = builder.password(password);
                }
                Client::Cluster(builder.build().map_err(|error| {
                    format!("cannot use the cluster {}: {error}", nodes.join(" "))
                })?)
            }
            StoreServers::Sentinel {
                sentinels,
                master,
                database,
            } => {
                let sentinels = sentinels
                    .iter()
                    .map(|url| {
                        url.into_connection_info()
                            .map_err(|error| format!("cannot use the Sentinel {url}: {error}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut login = redis::RedisConnectionInfo::default().set_db(i64::from(database));
                if let Some(password) = password {
                    login = login.set_password(password);
                }
                let mut primary =
                    SentinelNodeConnectionInfo::default().set_redis_connection_info(login);
                // The Sentinels' scheme is the primary's: one knob for TLS, as one deployment.
                if sentinels
                    .iter()
                    .any(|info| matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }))
                {
                    primary = primary.set_tls_mode(redis::TlsMode::Secure);
                }
                Client::Sentinel(Sentinels {
                    sentinels,
                    master,
                    primary,
                })
            }
        };
        let workers = crate::worker::count().max(1);
        Ok(RedisStore {
            spec,
            client,
            connections: (0..workers).map(|_| Slot::default()).collect(),
            script: redis::Script::new(GCRA),
            resting_until: AtomicU64::new(0),
            logged_at: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            figures: Figures::new(workers),
        })
    }

    pub(crate) fn spec(&self) -> &'static StoreSpec {
        self.spec
    }

    pub(crate) fn figures(&self) -> &Figures {
        &self.figures
    }

    /// Counts a rate-limit decision.
    pub(crate) fn decided(&self, decided: Decided) {
        let rows = &self.figures.decisions;
        rows[crate::worker::current() % rows.len()].0[decided as usize]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// This worker's connection slot.
    fn slot(&self) -> &Slot {
        &self.connections[crate::worker::current() % self.connections.len()]
    }

    /// This worker's connection; the first call (or the first after one was forgotten)
    /// starts a task making it and waits for it until `deadline` at most.
    async fn connection(&self, deadline: Instant) -> Result<Connection, StoreError> {
        let index = crate::worker::current() % self.connections.len();
        let slot = &self.connections[index];
        if let Some(connection) = slot.connection() {
            return Ok(connection);
        }
        let mut attempted = pin!(slot.attempted.notified());
        attempted.as_mut().enable();
        if !slot.connecting.swap(true, Ordering::AcqRel) {
            let (slots, client) = (Arc::clone(&self.connections), self.client.clone());
            let timeout = self.spec.timeout.max(CONNECT_TIMEOUT);
            let name = self.spec.name;
            tokio::spawn(async move {
                let slot = &slots[index];
                if let Ok(connection) = client.connect(name, timeout).await {
                    *slot.lock() = Some(connection);
                }
                slot.connecting.store(false, Ordering::Release);
                slot.attempted.notify_waiters();
            });
        }
        let _ = tokio::time::timeout_at(deadline.into(), attempted).await;
        match slot.connection() {
            Some(connection) => Ok(connection),
            None if Instant::now() >= deadline => Err(StoreError::Timeout),
            None => Err(StoreError::Connection),
        }
    }

    /// Takes up to `want` requests of `key`'s bucket, whose emission interval is `interval`
    /// and tolerance `tolerance` (both at least a microsecond), within the store's deadline.
    pub(crate) async fn take(
        &self,
        key: &str,
        interval: Nanos,
        tolerance: Nanos,
        want: u32,
    ) -> Result<Grant, StoreError> {
        let now = clock::now();
        if now < self.resting_until.load(Ordering::Relaxed) {
            return Err(StoreError::Resting);
        }
        let started = Instant::now();
        let deadline = started + self.spec.timeout;
        let mut connection = match self.connection(deadline).await {
            Ok(connection) => connection,
            Err(error) => return Err(self.failed(error, now)),
        };
        let (interval_us, tolerance_us) = (micros(interval).max(1), micros(tolerance));
        let mut invocation = self.script.key(key);
        invocation.arg(interval_us).arg(tolerance_us).arg(want);
        let call = connection.invoke(&invocation);
        match tokio::time::timeout_at(deadline.into(), call).await {
            Ok(Ok((granted, ahead))) => {
                let elapsed = started.elapsed().as_micros();
                self.figures
                    .round_trip(u64::try_from(elapsed).unwrap_or(u64::MAX));
                Ok(Grant {
                    granted: granted.min(want),
                    ahead: u64::try_from(ahead).unwrap_or(0).saturating_mul(1_000),
                })
            }
            Ok(Err(error)) => {
                let failure = if is_connection(&error) {
                    StoreError::Connection
                } else {
                    tracing::debug!(store = self.spec.name, %error, "the store's answer is an error");
                    StoreError::Reply
                };
                self.forget(&failure, Some(&error));
                Err(self.failed(failure, now))
            }
            Err(_) => {
                self.forget(&StoreError::Timeout, None);
                Err(self.failed(StoreError::Timeout, now))
            }
        }
    }

    /// After a call failed with `error` (the server's `reply` when it answered one): behind
    /// Sentinel, forgets this worker's connection, so the next call asks the Sentinels where
    /// the primary is.
    fn forget(&self, error: &StoreError, reply: Option<&redis::RedisError>) {
        if self.client.forgets(error, reply) {
            self.slot().lock().take();
        }
    }

    /// Counts a failure, rests, and logs once per interval.
    fn failed(&self, error: StoreError, now: Nanos) -> StoreError {
        if let Some(index) = error.index() {
            self.figures.errors[index].fetch_add(1, Ordering::Relaxed);
        }
        self.resting_until
            .fetch_max(now.saturating_add(REST), Ordering::Relaxed);
        let unlogged = self.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
        let logged_at = self.logged_at.load(Ordering::Relaxed);
        let due = logged_at == 0 || now.saturating_sub(logged_at) >= LOG_EVERY;
        if due
            && self
                .logged_at
                .compare_exchange(logged_at, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.unlogged.fetch_sub(unlogged, Ordering::Relaxed);
            tracing::warn!(
                store = self.spec.name,
                server = self.spec.servers.first(),
                ?error,
                failures = unlogged,
                "the store does not answer; rate limits use their on_store_error fallback \
                 (calls are tried again every second)"
            );
        }
        error
    }
}

fn micros(nanos: Nanos) -> u64 {
    nanos / 1_000
}

/// Whether an error is the connection's rather than the server's answer.
fn is_connection(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
}

/// The password from its source; `None` when the store has none.
fn password(source: StorePassword) -> Result<Option<String>, String> {
    match source {
        StorePassword::None => Ok(None),
        StorePassword::Env(name) => match std::env::var(name) {
            Ok(password) if !password.is_empty() => Ok(Some(password)),
            _ => Err(format!("the password variable {name} is not set")),
        },
        StorePassword::File(path) => {
            let path = crate::root::resolve(path);
            let text = std::fs::read_to_string(&path).map_err(|error| {
                format!("cannot read the password file {}: {error}", path.display())
            })?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(format!("the password file {} is empty", path.display()));
            }
            Ok(Some(password.to_owned()))
        }
    }
}
