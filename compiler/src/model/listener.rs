//! Listeners as the Model holds them (`ListenerSpec`): address, limits, mode, TLS, and the
//! routes tried on them.

use std::net::SocketAddr;
use std::time::Duration;

use edge_dsl::value::Cidr;

use super::Route;

/// `ListenerSpec`, with its routes in the order they are tried.
#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    pub bind: SocketAddr,
    pub limits: Limits,
    /// `ListenerLimits::trusted_proxies`; empty: nobody's forwarding fields are believed.
    pub trusted_proxies: Vec<Cidr>,
    pub mode: Mode,
    pub tls: Option<Tls>,
    pub routes: Vec<Route>,
}

/// `ListenerLimits`: what the config sets; `None` keeps the runtime's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub max_header_size: Option<u64>,
    pub header_timeout: Option<Duration>,
    pub keepalive_timeout: Option<Duration>,
    pub body_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub max_body: Option<u64>,
    pub max_connections: Option<u32>,
    pub max_streams: Option<u32>,
    pub underscores_in_headers: Option<bool>,
    pub allow_encoded_slashes: Option<bool>,
    pub allow_semicolons: Option<bool>,
    pub case_insensitive_paths: Option<bool>,
    pub accept_proxy: Option<bool>,
}

/// `ListenerMode`: what a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Http,
    /// Content-blind forwarding (`TcpSpec`); a tunnel silent this long in both directions is
    /// closed.
    Tcp {
        idle_timeout: Duration,
    },
}

/// `TlsSpec`: TLS termination; file paths are absolute.
#[derive(Clone, Debug)]
pub struct Tls {
    pub certs: Vec<Cert>,
    pub client_auth: Option<ClientAuth>,
    pub hsts: Option<Duration>,
}

/// `CertSpec`: a certificate for SNI names (`*.example.com` for wildcards; none for the
/// default).
#[derive(Clone, Debug)]
pub struct Cert {
    pub names: Vec<String>,
    pub cert: String,
    pub key: String,
}

/// `ClientAuth`: client certificates verified against a CA bundle.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    pub ca: String,
    /// Whether a client without a certificate is turned away.
    pub required: bool,
}
