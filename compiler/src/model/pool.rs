//! Pools as the Model holds them (`PoolSpec`): servers, timeouts, health, retries, TLS, the
//! protocol spoken to the servers, and the circuit breakers and outlier detection
//! (`CircuitSpec`).

use std::time::Duration;

use edge_dsl::value::{Address, Balance, ProxyVersion, StatusRange, UpstreamProtocol};

/// `PoolSpec`, with the strategy that picks its servers.
#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub balance: Balance,
    pub servers: Vec<Server>,
    pub timeouts: Timeouts,
    pub health: Option<HealthCheck>,
    pub passive: Option<Passive>,
    /// `None`: the runtime's `Retry::NONE`.
    pub retry: Option<Retry>,
    /// `None`: no PROXY protocol header.
    pub proxy_protocol: Option<ProxyVersion>,
    /// TLS towards every server: from a `tls` block, or servers written `https://`.
    pub tls: Option<UpstreamTls>,
    pub protocol: UpstreamProtocol,
    /// `None`: no circuit breakers and no outlier detection, an unguarded pool.
    pub circuit: Option<Circuit>,
    /// `None`: no sticky sessions.
    pub sticky: Option<Sticky>,
}

/// `StickySpec`: a client keeps its server through a cookie.
#[derive(Clone, Debug)]
pub struct Sticky {
    pub cookie: String,
    /// `None`: a session cookie.
    pub ttl: Option<std::time::Duration>,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
}

/// `CircuitSpec`: at least one of its settings is on.
#[derive(Clone, Copy, Debug)]
pub struct Circuit {
    /// 0: none wait.
    pub max_pending: u32,
    /// 0: no cap.
    pub max_requests: u32,
    pub outlier: Option<Outlier>,
}

/// `Outlier`, every default applied.
#[derive(Clone, Copy, Debug)]
pub struct Outlier {
    pub interval: Duration,
    pub min_requests: u32,
    /// 0: not compared.
    pub success_rate: u32,
    /// 0: not compared.
    pub latency: u32,
    pub base_ejection_time: Duration,
    pub max_ejection_time: Duration,
    pub max_ejection_percent: u32,
}

/// `ServerSpec`.
#[derive(Clone, Debug)]
pub struct Server {
    pub upstream: Address,
    pub weight: u32,
    /// 0: no cap.
    pub max_conns: u32,
    pub backup: bool,
}

/// `UpstreamTimeouts`: what the config sets; `None` keeps the runtime's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub response: Option<Duration>,
    pub idle: Option<Duration>,
    pub tunnel: Option<Duration>,
}

/// `UpstreamTls`: file paths are absolute; `None` keeps the runtime's default (built-in
/// roots, each server's own name, no client certificate, verified).
#[derive(Clone, Debug, Default)]
pub struct UpstreamTls {
    pub ca: Option<String>,
    pub server_name: Option<String>,
    pub client_cert: Option<ClientCert>,
    pub verify: Option<bool>,
}

/// `ClientCert`: a certificate chain and its key.
#[derive(Clone, Debug)]
pub struct ClientCert {
    pub cert: String,
    pub key: String,
}

/// `HealthCheck`: an active health check.
#[derive(Clone, Debug)]
pub enum HealthCheck {
    Http(HttpCheck),
    Tcp(TcpCheck),
}

/// `HttpCheck`.
#[derive(Clone, Debug)]
pub struct HttpCheck {
    pub path: String,
    pub expect: StatusRange,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// `TcpCheck`.
#[derive(Clone, Copy, Debug)]
pub struct TcpCheck {
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// `Passive`: servers that fail requests are taken out for a while.
#[derive(Clone, Copy, Debug)]
pub struct Passive {
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// 0: off.
    pub consecutive_5xx: u32,
}

/// `Retry`.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub on: RetryOn,
}

/// `RetryOn`: the failures that lead to a retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryOn {
    pub connect_error: bool,
    pub timeout: bool,
    pub status_5xx: bool,
}
