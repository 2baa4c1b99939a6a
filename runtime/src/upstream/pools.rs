//! The pools of one process, as the process finds them again: each pool lists its server set
//! and, when guarded, its counts (for the admin listener) and its TLS client (for SIGHUP) here
//! when it is built, and the first-time work it starts (names resolved, servers checked) that
//! the process waits for before serving. Built by the process and handed to every pool it builds; also carries what
//! the process asks of every forwarded request. Only the admin listener and the start walk the
//! lists, so the trait object behind each roster costs nothing on the request path.

use std::sync::{Arc, Weak};

use http::HeaderValue;

use crate::{
    registry::{Firsts, Started},
    tls::TlsError,
    upstream::{backend::Backend, counts::Gauge, tls::Connector},
};

/// A pool's current servers.
pub(crate) trait Roster: Send + Sync {
    fn backends(&self) -> Vec<Arc<Backend>>;

    /// Builds the pool's set again with each server's weight in force
    /// ([`Backend::reweigh`]) and swaps it in: picks follow from then on.
    fn reweigh(&self);
}

/// Servers of one pool, as a name or an address finds them.
pub(crate) struct Named {
    pub(crate) pool: &'static str,
    roster: Arc<dyn Roster>,
    /// At least one.
    pub(crate) backends: Vec<Arc<Backend>>,
}

impl Named {
    /// Gives every server found weight `to` (the config's weight takes an operator's away),
    /// as `by` asked, and swaps in the pool's set built with it.
    pub(crate) fn reweigh(&self, to: u32, by: &str) {
        for backend in &self.backends {
            backend.reweigh(to, by.to_owned());
        }
        self.roster.reweigh();
    }
}

/// A pool or server [`Pools::servers`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unknown {
    Pool {
        pool: String,
        /// The pools there are.
        pools: Vec<&'static str>,
    },
    Server {
        pool: &'static str,
        server: String,
        /// The pool's servers, by address.
        servers: Vec<String>,
    },
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unknown::Pool { pool, pools } => {
                write!(f, "no pool `{pool}`: the pools are {}", pools.join(", "))
            }
            Unknown::Server {
                pool,
                server,
                servers,
            } => write!(
                f,
                "pool `{pool}` has no server `{server}`: its servers are {}",
                servers.join(", ")
            ),
        }
    }
}

/// What a process knows of its pools; cheap to clone (one shared registry).
#[derive(Clone)]
pub struct Pools(Arc<Registry>);

struct Registry {
    rosters: Started<dyn Roster>,
    connectors: Started<Connector>,
    /// The counts of guarded pools with `max_requests` or `max_pending`, for metrics.
    gauges: Started<Gauge>,
    /// Pools whose names have not been resolved once yet.
    resolving: Firsts,
    /// Health checkers whose first check has not completed yet.
    checking: Firsts,
    forwarding: Forwarding,
}

/// What the process asks of every request its pools forward.
#[derive(Clone, Default)]
pub(crate) struct Forwarding {
    /// The `Via` value added to every forwarded request.
    pub(crate) via: Option<HeaderValue>,
    /// Whether the server tried is reported to the request's context (for the access log).
    pub(crate) report_server: bool,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.rosters.live().into_iter().map(|(name, _)| name))
            .finish()
    }
}

impl Pools {
    pub(crate) fn new(forwarding: Forwarding) -> Pools {
        Pools(Arc::new(Registry {
            rosters: Started::new(),
            connectors: Started::new(),
            gauges: Started::new(),
            resolving: Firsts::new(),
            checking: Firsts::new(),
            forwarding,
        }))
    }

    /// Lists a pool's servers; they leave the list when the set is gone.
    pub(crate) fn register(&self, pool: &'static str, roster: Weak<dyn Roster>) {
        self.0.rosters.register(pool, roster);
    }

    /// Lists `connector`, pool `pool`'s, for [`Pools::connectors`].
    pub(crate) fn register_connector(&self, pool: &'static str, connector: &Arc<Connector>) {
        self.0.connectors.register(pool, Arc::downgrade(connector));
    }

    /// Lists `gauge`, pool `pool`'s, for [`Pools::gauges`].
    pub(crate) fn register_gauge(&self, pool: &'static str, gauge: &Arc<Gauge>) {
        self.0.gauges.register(pool, Arc::downgrade(gauge));
    }

    /// Every live guarded pool's counts, in the order they were built.
    pub(crate) fn gauges(&self) -> Vec<(&'static str, Arc<Gauge>)> {
        self.0.gauges.live()
    }

    /// The servers of pool `pool` that `server` names: an address as `/status` shows it
    /// (`10.0.0.11:8080`, `[::1]:8080`), or the `host:port` servers were found by (every
    /// address found for it).
    pub(crate) fn servers(&self, pool: &str, server: &str) -> Result<Named, Unknown> {
        let rosters = self.0.rosters.live();
        let Some((name, roster)) = rosters.iter().find(|(name, _)| *name == pool) else {
            return Err(Unknown::Pool {
                pool: pool.to_owned(),
                pools: rosters.iter().map(|(name, _)| *name).collect(),
            });
        };
        let all = roster.backends();
        let backends: Vec<Arc<Backend>> = all
            .iter()
            .filter(|backend| {
                backend.spec.upstream.to_string() == server
                    || backend.host.as_deref() == Some(server)
            })
            .cloned()
            .collect();
        if backends.is_empty() {
            return Err(Unknown::Server {
                pool: name,
                server: server.to_owned(),
                servers: all.iter().map(|b| b.spec.upstream.to_string()).collect(),
            });
        }
        Ok(Named {
            pool: name,
            roster: Arc::clone(roster),
            backends,
        })
    }

    /// Every live pool with its current servers, in the order they were built.
    pub(crate) fn rosters(&self) -> Vec<(&'static str, Vec<Arc<Backend>>)> {
        self.0
            .rosters
            .live()
            .into_iter()
            .map(|(pool, roster)| (pool, roster.backends()))
            .collect()
    }

    /// Re-reads the files of every pool's TLS client (with [`crate::CertReloader`], on
    /// SIGHUP under `run`). Blocking file I/O.
    pub(crate) fn reload_tls(&self) -> Vec<TlsError> {
        self.0
            .connectors
            .live()
            .into_iter()
            .filter_map(|(pool, connector)| {
                let failed = connector.reload().err()?;
                Some(TlsError::pool(pool, failed))
            })
            .collect()
    }

    pub(crate) fn resolving(&self) -> &Firsts {
        &self.0.resolving
    }

    pub(crate) fn checking(&self) -> &Firsts {
        &self.0.checking
    }

    pub(crate) fn forwarding(&self) -> &Forwarding {
        &self.0.forwarding
    }

    /// Waits until every pool built so far has resolved its names once (each for at most its
    /// connect timeout from when it was built), then until every health checker started so
    /// far has completed its first check (each for at most its interval and timeout).
    pub(crate) async fn started(&self) {
        self.0.resolving.wait().await;
        self.0.checking.wait().await;
    }
}
