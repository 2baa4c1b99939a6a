//! The checked model: names resolved to indices, defaults not yet applied (the runtime owns
//! them), routes grouped by listener in match order. Code generation reads only this.

use std::net::SocketAddr;
use std::time::Duration;

use edge_dsl::ast::{
    Address, Balance, CacheKey, Coding, HostPattern, LogFormat, Method, PathMatch, PolicyKind,
    ProxyVersion, RequestId, RequestMatch, StatusRange,
};

#[derive(Clone, Debug)]
pub struct Model {
    pub listeners: Vec<Listener>,
    pub pools: Vec<Pool>,
    pub policies: Vec<Policy>,
    /// The admin listener's address, and the variable holding its token.
    pub admin: Option<(SocketAddr, Option<String>)>,
    /// The access log's format and file (absolute; `None`: stdout).
    pub access_log: Option<(LogFormat, Option<String>)>,
    pub request_id: RequestId,
    /// Worker threads; `None`: one per core.
    pub workers: Option<u32>,
    /// (status, body, html)
    pub error_pages: Vec<(u16, String, bool)>,
    pub via: Option<String>,
}

/// Where the admin listener binds unless `bind` says otherwise: loopback only.
pub const ADMIN_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9900);

/// A policy as written, with every file it names checked and its path made absolute. Fields
/// left out keep the defaults below.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub kind: PolicyKind,
}

/// How far clocks may disagree on a token's `exp` and `nbf` (jsonwebtoken's default).
pub const JWT_LEEWAY: Duration = Duration::from_secs(60);
/// Claims a token must carry unless `require` says otherwise.
pub const JWT_REQUIRED: &[&str] = &["exp"];
/// The header an API key is read from unless `header` or `query` says otherwise.
pub const API_KEY_HEADER: &str = "x-api-key";
pub const BASIC_AUTH_REALM: &str = "edge";
/// Distinct rate-limit keys remembered at once; idle ones are forgotten first.
pub const RATE_LIMIT_MAX_KEYS: u32 = 100_000;
/// Codings offered when `algorithms` is left out, preferred first: brotli compresses text
/// best, zstd is fastest, gzip is understood by every client.
pub const COMPRESS_ALGORITHMS: &[Coding] = &[Coding::Brotli, Coding::Zstd, Coding::Gzip];
/// Answers declaring fewer bytes are not worth compressing.
pub const COMPRESS_MIN_SIZE: u64 = 1024;
/// Media types compressed when `types` is left out: text, and the text-based application
/// formats (images other than SVG, audio, video and archives are compressed already).
pub const COMPRESS_TYPES: &[&str] = &[
    "text/*",
    "application/json",
    "application/ld+json",
    "application/problem+json",
    "application/manifest+json",
    "application/javascript",
    "application/x-javascript",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/wasm",
    "image/svg+xml",
    "font/ttf",
    "font/otf",
];
/// The `security_headers` preset (values as OWASP's secure headers project recommends).
pub const SECURITY_HSTS_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);
pub const SECURITY_FRAME_OPTIONS: &str = "DENY";
pub const SECURITY_CONTENT_TYPE_OPTIONS: &str = "nosniff";
pub const SECURITY_REFERRER_POLICY: &str = "strict-origin-when-cross-origin";
pub const SECURITY_PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=()";

/// What tells cached answers apart when `key` is left out: the whole URL but its scheme.
pub const CACHE_KEY: CacheKey = CacheKey {
    host: true,
    path: true,
    query: true,
    headers: Vec::new(),
};

/// CORS methods when `methods` is left out (the CORS-safelisted ones).
pub const CORS_METHODS: &[Method] = &[Method::Get, Method::Head, Method::Post];

#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    pub bind: SocketAddr,
    pub mode: Mode,
    pub tls: Option<Tls>,
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
    /// The routes attached to this listener, in the order they are tried.
    pub routes: Vec<Route>,
}

/// TLS termination; file paths are absolute.
#[derive(Clone, Debug)]
pub struct Tls {
    pub certificates: Vec<Certificate>,
    /// The CA bundle, and whether a client certificate is required.
    pub client_ca: Option<(String, bool)>,
    pub hsts: Option<Duration>,
}

/// A certificate for SNI names (`*.example.com` for wildcards; none for the default).
#[derive(Clone, Debug)]
pub struct Certificate {
    pub names: Vec<String>,
    pub cert: String,
    pub key: String,
}

/// What a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Http,
    /// Content-blind forwarding; a tunnel silent this long in both directions is closed.
    Tcp {
        idle_timeout: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub balance: Balance,
    pub servers: Vec<Server>,
    pub connect_timeout: Option<Duration>,
    pub response_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub tunnel_timeout: Option<Duration>,
    pub health: Option<Health>,
    pub passive: Option<Passive>,
    pub retry: Option<Retry>,
    pub proxy_protocol: Option<ProxyVersion>,
    /// TLS towards every server: from a `tls` block, or servers written `https://`.
    pub tls: Option<PoolTls>,
    /// `protocol h2`: HTTP/2 to the servers, instead of HTTP/1.1.
    pub http2: bool,
}

/// TLS towards a pool's servers; file paths are absolute. `None` fields keep the runtime's
/// defaults (built-in roots, each server's own name, no client certificate).
#[derive(Clone, Debug, Default)]
pub struct PoolTls {
    pub ca: Option<String>,
    pub server_name: Option<String>,
    /// A client certificate chain and its key.
    pub client_cert: Option<(String, String)>,
    /// `false` for `verify off`.
    pub verify: bool,
}

#[derive(Clone, Debug)]
pub struct Server {
    pub address: Address,
    pub weight: u32,
    /// 0: no cap.
    pub max_conns: u32,
    pub backup: bool,
}

/// An active health check with every default applied.
#[derive(Clone, Debug)]
pub struct Health {
    pub check: HealthCheck,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

#[derive(Clone, Debug)]
pub enum HealthCheck {
    Http { path: String, expect: StatusRange },
    Tcp,
}

/// Passive health with every default applied (nginx's `max_fails` / `fail_timeout`).
#[derive(Clone, Debug)]
pub struct Passive {
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// 0: off.
    pub consecutive_5xx: u32,
}

#[derive(Clone, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub connect_error: bool,
    pub timeout: bool,
    pub status_5xx: bool,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub name: String,
    pub hosts: Vec<HostPattern>,
    /// (tcp) server names of the client's TLS handshake.
    pub sni: Vec<HostPattern>,
    pub path: Option<PathMatch>,
    pub methods: Vec<Method>,
    /// Header, query and cookie conditions.
    pub matchers: Vec<RequestMatch>,
    /// Indices into `Model::policies`, in `use` order.
    pub policies: Vec<usize>,
    /// The longest wait for the answer's head, policies included.
    pub timeout: Option<Duration>,
    /// The protocols tunnelled after a `101`; empty: the runtime's default (`websocket`).
    pub upgrades: Vec<String>,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub enum Action {
    /// Forward to the pool with this index in `Model::pools`.
    Forward(usize),
    Respond {
        status: u16,
        body: String,
    },
    /// To the same URL over HTTPS.
    RedirectHttps,
    Redirect {
        status: u16,
        location: String,
    },
    /// Files from a folder (absolute); `strip` is the route's path prefix, removed before
    /// lookup.
    Serve {
        root: String,
        strip: String,
    },
}
