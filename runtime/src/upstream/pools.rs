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
