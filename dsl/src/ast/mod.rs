//! The typed AST: every directive of a `.edge` file with its literals already typed and every
//! node carrying its span. Names are not resolved yet; that is the compiler's job.

mod policy;
mod store;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::span::{Ident, Span, Spanned};

pub use crate::value::*;
pub use policy::*;
pub use store::*;

/// A whole `.edge` file, each kind of item in source order.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub pools: Vec<Pool>,
    pub routes: Vec<Route>,
    pub policies: Vec<Policy>,
    pub stores: Vec<Store>,
    pub tests: Vec<Test>,
    /// `admin { bind ADDR }`: metrics, health and status.
    pub admin: Option<Spanned<Admin>>,
    /// `access_log { format json|combined  path "FILE" }`.
    pub access_log: Option<Spanned<AccessLog>>,
    /// `request_id { trust_client }` or `request_id off`.
    pub request_id: Option<Spanned<RequestId>>,
    /// `tracing { otlp "URL"  sample P%  service "NAME" }`: spans exported over OTLP.
    pub tracing: Option<Spanned<Tracing>>,
    /// `shutdown { drain_delay D  drain_timeout D }`: how the process stops on SIGTERM.
    pub shutdown: Option<Spanned<Shutdown>>,
    /// `workers N`: worker threads; one per core when absent.
    pub workers: Option<Spanned<u32>>,
    /// `error_page STATUS "BODY" [html]`: bodies of the proxy's own error answers.
    pub error_pages: Vec<Spanned<ErrorPage>>,
    /// `via "NAME"`: a `Via` header on requests and answers.
    pub via: Option<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorPage {
    pub status: Spanned<u16>,
    pub body: String,
    pub html: bool,
}

/// The admin listener.
#[derive(Clone, Debug)]
pub struct Admin {
    /// `None`: the default, 127.0.0.1:9900.
    pub bind: Option<Spanned<SocketAddr>>,
    /// The environment variable that holds the admin bearer token.
    pub token_env: Option<Spanned<String>>,
}

/// How the process stops on SIGTERM.
#[derive(Clone, Debug)]
pub struct Shutdown {
    /// How long `/ready` says 503 while the proxy still serves, before it stops accepting.
    pub drain_delay: Option<Spanned<Duration>>,
    /// How long connections may take to finish once it stopped accepting.
    pub drain_timeout: Option<Spanned<Duration>>,
}

/// The access log.
#[derive(Clone, Debug)]
pub struct AccessLog {
    /// `None`: the default format.
    pub format: Option<LogFormat>,
    /// A file, as written (relative to the config); `None`: stdout.
    pub path: Option<Spanned<String>>,
}

/// `test "NAME" { [on LISTENER]  METHOD URL -> ROUTE|STATUS ... }`: routing expectations
/// checked at build time.
#[derive(Clone, Debug)]
pub struct Test {
    pub name: Spanned<String>,
    /// The listener the requests arrive on; may be left out when there is one HTTP listener.
    pub on: Option<Ident>,
    pub cases: Vec<Case>,
    pub span: Span,
}

/// `GET https://api.example.com/users/42 header "authorization: Bearer x" from 10.0.0.7 ->
/// users via auth, limit`
#[derive(Clone, Debug)]
pub struct Case {
    pub method: Spanned<Method>,
    pub url: RequestUrl,
    /// `header "NAME: VALUE"` (the name lower-cased) and `cookie "NAME=VALUE"` (gathered into
    /// one `cookie` header), in order.
    pub headers: Vec<(String, String)>,
    /// `from IP`: the client's address; `None`: 127.0.0.1.
    pub client: Option<Spanned<IpAddr>>,
    pub expect: Spanned<Expect>,
    /// `after N`: the request follows N like it, sent at once (for rate limits).
    pub after: Option<Spanned<u32>>,
    /// `via P, Q`: the policies the request passes through, in order.
    pub via: Option<Spanned<Vec<Ident>>>,
    pub span: Span,
}

/// What a test case expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// This route matches.
    Route(Ident),
    /// The answer has this status without reaching a pool: a `respond` route with it, or 404
    /// when no route matches.
    Status(u16),
}

/// `listener NAME { bind ADDR ... }`
#[derive(Clone, Debug)]
pub struct Listener {
    pub name: Ident,
    /// The `listener NAME` head.
    pub span: Span,
    pub bind: Spanned<SocketAddr>,
    /// `mode tcp`; HTTP when absent.
    pub mode: Option<Spanned<Mode>>,
    pub max_header_size: Option<Spanned<u64>>,
    pub header_timeout: Option<Spanned<Duration>>,
    /// How long a connection may be idle between requests (HTTP/2: without a stream).
    pub keepalive_timeout: Option<Spanned<Duration>>,
    /// Longest wait for the next bytes of a request body.
    pub body_timeout: Option<Spanned<Duration>>,
    /// Longest a client may leave an answer unread.
    pub send_timeout: Option<Spanned<Duration>>,
    /// HTTP/2: how long a client connection may send nothing before it is sent a PING.
    pub ping_interval: Option<Spanned<Duration>>,
    pub max_body: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<u32>>,
    pub max_streams: Option<Spanned<u32>>,
    /// `underscores_in_headers on`: header names with `_` pass instead of being dropped.
    pub underscores_in_headers: Option<Spanned<bool>>,
    /// `allow_encoded_slashes on`: `%2F`, `%5C` and `\` may appear in request paths.
    pub allow_encoded_slashes: Option<Spanned<bool>>,
    /// `allow_semicolons on`: `;` may appear in request paths.
    pub allow_semicolons: Option<Spanned<bool>>,
    /// `case_insensitive_paths on`: request paths are lower-cased before routing.
    pub case_insensitive_paths: Option<Spanned<bool>>,
    /// `accept_proxy on`: connections start with a PROXY protocol header naming the client.
    pub accept_proxy: Option<Spanned<bool>>,
    /// `trusted_proxies CIDR...`: peers whose forwarding fields are believed.
    pub trusted_proxies: Option<Spanned<Vec<Spanned<Cidr>>>>,
    /// (tcp) how long a tunnel may stay silent in both directions.
    pub idle_timeout: Option<Spanned<Duration>>,
    /// `tls { ... }`: terminate TLS on this listener.
    pub tls: Option<Spanned<Tls>>,
}

/// `tls { cert ".."  key ".."  sni "name" { cert ".."  key ".." }  client_ca ".."  hsts 365d }`
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// The default certificate (`cert` and `key` directly in the block) comes first when
    /// given; `sni` blocks follow in order.
    pub certificates: Vec<Certificate>,
    pub client_ca: Option<ClientCa>,
    pub hsts: Option<Spanned<Duration>>,
}

/// A certificate chain and its key, served for the given SNI names (none: the default).
#[derive(Clone, Debug)]
pub struct Certificate {
    pub names: Vec<Spanned<HostPattern>>,
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    /// The `sni` block, or the `tls` block for the default certificate.
    pub span: Span,
}

/// `client_ca "ca.pem" [optional]`: verify client certificates against this CA.
#[derive(Clone, Debug)]
pub struct ClientCa {
    pub ca: Spanned<String>,
    /// Clients without a certificate are let in (verified when they present one).
    pub optional: bool,
}

/// What a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Http,
    /// Content-blind TCP forwarding.
    Tcp,
}

/// `pool NAME { server ADDR ... }`
#[derive(Clone, Debug)]
pub struct Pool {
    pub name: Ident,
    pub span: Span,
    /// `balance STRATEGY`; left out, the checker applies its default.
    pub balance: Option<Spanned<Balance>>,
    pub servers: Vec<Server>,
    pub timeouts: Timeouts,
    pub health: Option<Spanned<Health>>,
    pub passive: Option<Spanned<Passive>>,
    pub retry: Option<Spanned<Retry>>,
    /// `send_proxy v1|v2`: a PROXY protocol header at the start of each tunnel.
    pub send_proxy: Option<Spanned<ProxyVersion>>,
    /// `tls { ... }`: every server of the pool speaks TLS.
    pub tls: Option<Spanned<PoolTls>>,
    /// `protocol h2|http1`: the HTTP version spoken to the servers.
    pub protocol: Option<Spanned<UpstreamProtocol>>,
    /// `max_pending N`: requests that may wait for a place on a server at `max_conns`.
    pub max_pending: Option<Spanned<u32>>,
    /// `max_requests N`: requests in flight to the whole pool at once.
    pub max_requests: Option<Spanned<u32>>,
    /// `outlier { ... }`: ejection of servers that stand out from the others.
    pub outlier: Option<Spanned<Outlier>>,
    /// `sticky cookie "NAME" { ... }`: a client keeps its server through a cookie the proxy
    /// sets.
    pub sticky: Option<Spanned<Sticky>>,
}

/// `sticky cookie "NAME" { ttl D  path "/"  secure  httponly }`
#[derive(Clone, Debug)]
pub struct Sticky {
    pub cookie: Spanned<String>,
    /// The cookie's `Max-Age`; `None`: a session cookie.
    pub ttl: Option<Spanned<Duration>>,
    pub path: Option<Spanned<String>>,
    pub secure: bool,
    pub http_only: bool,
}

/// `outlier { success_rate N  latency N  interval D  min_requests N  base_ejection_time D
/// max_ejection_time D  max_ejection_percent N }`; at least one of `success_rate` and
/// `latency`. `None` fields keep the documented defaults.
#[derive(Clone, Debug, Default)]
pub struct Outlier {
    pub success_rate: Option<Spanned<u32>>,
    pub latency: Option<Spanned<u32>>,
    pub interval: Option<Spanned<Duration>>,
    pub min_requests: Option<Spanned<u32>>,
    pub base_ejection_time: Option<Spanned<Duration>>,
    pub max_ejection_time: Option<Spanned<Duration>>,
    pub max_ejection_percent: Option<Spanned<u32>>,
}

/// `tls { ca ".."  sni "name"  cert ".."  key ".."  verify off }` in a pool: how its servers
/// are reached over TLS.
#[derive(Clone, Debug, Default)]
pub struct PoolTls {
    /// The CA bundle servers are verified against, instead of the built-in roots.
    pub ca: Option<Spanned<String>>,
    /// The name sent and verified (a DNS name or an IP address), instead of each server's own.
    pub sni: Option<Spanned<String>>,
    /// The client certificate chain and its key, presented to servers that ask.
    pub client_cert: Option<(Spanned<String>, Spanned<String>)>,
    /// `verify on|off`; on when absent.
    pub verify: Option<Spanned<bool>>,
}

/// `server ADDR [weight N] [max_conns N] [backup]`
#[derive(Clone, Debug)]
pub struct Server {
    pub address: Spanned<Address>,
    /// Written with `https://`: the server speaks TLS.
    pub https: bool,
    pub weight: Option<Spanned<u32>>,
    pub max_conns: Option<Spanned<u32>>,
    pub backup: Option<Span>,
    /// The whole directive.
    pub span: Span,
}

/// `health http { ... }` or `health tcp { ... }`; `None` fields keep the documented defaults.
#[derive(Clone, Debug)]
pub struct Health {
    pub check: HealthCheck,
    pub interval: Option<Spanned<Duration>>,
    pub timeout: Option<Spanned<Duration>>,
    pub rise: Option<Spanned<u32>>,
    pub fall: Option<Spanned<u32>>,
}

#[derive(Clone, Debug)]
pub enum HealthCheck {
    Http {
        path: Option<Spanned<String>>,
        expect: Option<Spanned<StatusRange>>,
    },
    Tcp,
}

/// `passive { max_fails N  fail_timeout D  consecutive_5xx N }`
#[derive(Clone, Debug, Default)]
pub struct Passive {
    pub max_fails: Option<Spanned<u32>>,
    pub fail_timeout: Option<Spanned<Duration>>,
    pub consecutive_5xx: Option<Spanned<u32>>,
}

/// `retry N [on connect_error timeout 5xx]`
#[derive(Clone, Debug)]
pub struct Retry {
    pub attempts: Spanned<u32>,
    /// Empty when no `on` is given (the default conditions apply).
    pub on: Vec<Spanned<RetryOn>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOn {
    ConnectError,
    Timeout,
    Status5xx,
}

/// A pool's upstream timeouts; `None` keeps the runtime's default.
#[derive(Clone, Debug, Default)]
pub struct Timeouts {
    pub connect: Option<Spanned<Duration>>,
    pub response: Option<Spanned<Duration>>,
    pub idle: Option<Spanned<Duration>>,
    /// How long an upgraded connection (a WebSocket) may stay silent.
    pub tunnel: Option<Spanned<Duration>>,
}

/// `route NAME { on LISTENER ... forward POOL | respond STATUS "BODY" }`
#[derive(Clone, Debug)]
pub struct Route {
    pub name: Ident,
    pub span: Span,
    pub on: Ident,
    pub hosts: Vec<Spanned<HostPattern>>,
    /// (tcp) `sni "a.example.com"`: the server name of the client's TLS handshake, read
    /// without terminating it.
    pub sni: Vec<Spanned<HostPattern>>,
    pub path: Option<Spanned<PathMatch>>,
    pub methods: Vec<Spanned<Method>>,
    /// `header`, `query` and `cookie` conditions; all must hold.
    pub matchers: Vec<Spanned<RequestMatch>>,
    /// `use a, b, c`: the policies the request goes through, in order.
    pub uses: Vec<Ident>,
    /// `timeout D`: the longest wait for the answer's head, policies included.
    pub timeout: Option<Spanned<Duration>>,
    /// `upgrade websocket x-proto`: the protocols tunnelled after a `101` (default:
    /// `websocket`).
    pub upgrades: Vec<Spanned<String>>,
    /// `mirror shadow 10% { ... }`: a copy of some requests to another pool.
    pub mirror: Option<Spanned<Mirror>>,
    pub action: Spanned<Action>,
}

/// `mirror POOL [SHARE%] [{ max_body SIZE  max_in_flight N }]`: copies of the route's
/// requests sent to another pool, whose answers are counted and dropped.
#[derive(Clone, Debug)]
pub struct Mirror {
    pub pool: Ident,
    /// The share of requests copied, in hundredths of a percent (1 to 10,000); `None`: all.
    pub share: Option<Spanned<u32>>,
    /// The largest request body copied; a longer one is not mirrored.
    pub max_body: Option<Spanned<u64>>,
    /// The most copies on their way at once; past it, requests are not mirrored.
    pub max_in_flight: Option<Spanned<u32>>,
}

/// What a route does with a request it matches.
#[derive(Clone, Debug)]
pub enum Action {
    Forward(Ident),
    /// `forward app 95, app_v2 5 [by KEY]`: each request to one of the pools, by weight; with
    /// a key, the key's pool.
    Split {
        pools: Vec<(Ident, Spanned<u32>)>,
        by: Option<Spanned<HashKey>>,
    },
    /// `redirect https`: send the client to the same URL over HTTPS.
    RedirectHttps,
    /// `redirect 301 "https://example.com/new"`: send the client elsewhere.
    Redirect {
        status: Spanned<u16>,
        location: Spanned<String>,
    },
    /// `serve dir "public"`: files from a folder (relative to the config).
    Serve(Spanned<String>),
    Respond {
        status: Spanned<u16>,
        body: Option<Spanned<String>>,
    },
}
