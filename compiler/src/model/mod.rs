//! The checked Model, the compiler's one intermediate form: names resolved to indices, file
//! paths absolute, routes grouped by listener in match order, policy instances decided, no
//! spans and no AST types. Code generation prints it and nothing else; `test` blocks are
//! routed against it.
//!
//! Field names are the runtime specs' own (`PoolSpec::protocol` is [`Pool::protocol`]).
//!
//! Defaults follow one rule: a default the runtime publishes as a const of its spec
//! (`ListenerLimits::DEFAULT`, `UpstreamTimeouts::DEFAULT`, `UpstreamTls::DEFAULT`,
//! `RequestIdSpec::DEFAULT`, `RateLimitSpec::IPV6_PREFIX`, `StoreSpec::TIMEOUT`) stays the runtime's: the Model holds
//! `None` for what the config leaves out (and only for that: a value written out is kept,
//! even when it equals the default), and the generated code names the const. Every other
//! default is applied by the checker while it builds the Model, from the consts of
//! [`defaults`], so the Model holds the value the proxy runs with. (A route's `upgrades` left
//! empty is not a default but the runtime's plain `forward`, which tunnels WebSocket.)

pub mod defaults;
mod listener;
mod policy;
mod pool;
mod route;
mod store;

use std::net::SocketAddr;
use std::time::Duration;

use edge_dsl::value::{LogFormat, RequestId, Tracing};

pub use listener::{Cert, ClientAuth, Limits, Listener, Mode, Tls};
pub use policy::*;
pub use pool::{
    Circuit, ClientCert, HealthCheck, HttpCheck, Outlier, Passive, Pool, Retry, RetryOn, Server,
    Sticky, TcpCheck, Timeouts, UpstreamTls,
};
pub use route::{Action, Instance, Mirror, Route};
pub use store::{Store, StorePassword, StoreServers};

/// `Site`: the listeners with their routes, the pools, policies and stores they use, and what
/// the process reports.
#[derive(Clone, Debug)]
pub struct Model {
    pub listeners: Vec<Listener>,
    pub pools: Vec<Pool>,
    /// Every policy, in the order written.
    pub policies: Vec<Policy>,
    /// Every store, in the order written; rate limits refer to them by index.
    pub stores: Vec<Store>,
    /// The policy objects the proxy holds, which routes refer to.
    pub instances: Vec<Instance>,
    pub admin: Option<Admin>,
    pub access_log: Option<AccessLog>,
    /// `None`: the runtime's `RequestIdSpec::DEFAULT`.
    pub request_id: Option<RequestId>,
    /// Spans exported over OTLP; `None`: none.
    pub tracing: Option<Tracing>,
    /// `None`: the runtime's `ShutdownSpec::DEFAULT`.
    pub shutdown: Option<Shutdown>,
    /// Worker threads; 0: one per core.
    pub workers: usize,
    pub error_pages: Vec<ErrorPage>,
    pub via: Option<String>,
}

/// `AdminSpec`: the admin listener.
#[derive(Clone, Debug)]
pub struct Admin {
    pub bind: SocketAddr,
    /// The environment variable holding the admin bearer token.
    pub token_env: Option<String>,
}

/// `ShutdownSpec`: what the config sets; `None` keeps the runtime's default.
#[derive(Clone, Copy, Debug)]
pub struct Shutdown {
    pub drain_delay: Option<Duration>,
    pub drain_timeout: Option<Duration>,
}

/// `AccessLogSpec`.
#[derive(Clone, Debug)]
pub struct AccessLog {
    pub format: LogFormat,
    /// The file, absolute; `None`: stdout.
    pub path: Option<String>,
}

/// `ErrorPage`: the body of the proxy's own answers with this status.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub status: u16,
    pub body: String,
    pub html: bool,
}
