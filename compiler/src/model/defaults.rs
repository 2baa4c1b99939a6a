//! The defaults the checker applies while it builds the Model, for what a config leaves out
//! and the runtime has no const for. The cache's sizes are the language's own consts, since
//! the parser checks a given `max_object` against the default `max_size`, and so is the size of
//! `ext_auth`'s kept answers, beside its smallest value.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use edge_dsl::value::{
    Balance, CacheKey, Coding, LimitAlgorithm, LimitKey, LogFormat, Method, OnStoreError,
    StatusRange, UpstreamProtocol,
};

pub use edge_dsl::value::{CACHE_MAX_OBJECT, CACHE_MAX_SIZE, EXT_AUTH_CACHE_MAX_SIZE};

use super::RetryOn;

/// Where the admin listener binds unless `bind` says otherwise: loopback only.
pub const ADMIN_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9900);

/// The access log's format unless `format` says otherwise: Apache's combined log format.
pub const ACCESS_LOG_FORMAT: LogFormat = LogFormat::Combined;

/// How long a tcp tunnel may stay silent (nginx's `proxy_timeout` in its stream module).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// A server's share of the traffic, and its cap on requests in flight (0: none).
pub const SERVER_WEIGHT: u32 = 1;
pub const SERVER_MAX_CONNS: u32 = 0;

/// How a pool spreads requests over its servers unless `balance` says otherwise.
pub const POOL_BALANCE: Balance = Balance::RoundRobin;

/// What a pool speaks to its servers unless `protocol` says otherwise.
pub const UPSTREAM_PROTOCOL: UpstreamProtocol = UpstreamProtocol::Http1;

/// Active health checks (HAProxy's `rise 2 fall 3`, a quicker interval).
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
pub const HEALTH_RISE: u32 = 2;
pub const HEALTH_FALL: u32 = 3;
pub const HEALTH_PATH: &str = "/";
pub const HEALTH_EXPECT: StatusRange = StatusRange { min: 200, max: 399 };

/// Passive health (nginx's `max_fails=1 fail_timeout=10s`); no 5xx counting.
pub const PASSIVE_MAX_FAILS: u32 = 1;
pub const PASSIVE_FAIL_TIMEOUT: Duration = Duration::from_secs(10);
pub const PASSIVE_CONSECUTIVE_5XX: u32 = 0;

/// Outlier detection (Envoy's `outlier_detection`: interval, request volume, base and
/// maximum ejection times, ejection percent).
pub const OUTLIER_INTERVAL: Duration = Duration::from_secs(10);
pub const OUTLIER_MIN_REQUESTS: u32 = 100;
pub const OUTLIER_BASE_EJECTION_TIME: Duration = Duration::from_secs(30);
pub const OUTLIER_MAX_EJECTION_TIME: Duration = Duration::from_secs(300);
pub const OUTLIER_MAX_EJECTION_PERCENT: u32 = 10;

/// What `retry N` retries on without `on`: failures where the request never reached a server
/// or got no answer in time.
pub const RETRY_ON: RetryOn = RetryOn {
    connect_error: true,
    timeout: true,
    status_5xx: false,
};

/// How far clocks may disagree on a token's `exp` and `nbf` (jsonwebtoken's default).
pub const JWT_LEEWAY: Duration = Duration::from_secs(60);
/// Claims a token must carry unless `require` says otherwise.
pub const JWT_REQUIRED: &[&str] = &["exp"];

/// The header an API key is read from unless `header` or `query` says otherwise.
pub const API_KEY_HEADER: &str = "x-api-key";

pub const BASIC_AUTH_REALM: &str = "edge";

/// What a rate limit counts by, and how, unless `key` and `algorithm` say otherwise.
pub const RATE_LIMIT_KEY: LimitKey = LimitKey::ClientIp;
pub const RATE_LIMIT_ALGORITHM: LimitAlgorithm = LimitAlgorithm::TokenBucket;
/// Distinct rate-limit keys remembered at once; idle ones are forgotten first.
pub const RATE_LIMIT_MAX_KEYS: u32 = 100_000;
/// While a rate limit's store does not answer, this proxy's own bucket decides.
pub const RATE_LIMIT_ON_STORE_ERROR: OnStoreError = OnStoreError::Local;

/// The request headers an `ext_auth` check carries.
pub const EXT_AUTH_FORWARD_HEADERS: [&str; 2] = ["authorization", "cookie"];
/// The longest wait for an `ext_auth` answer.
pub const EXT_AUTH_TIMEOUT: Duration = Duration::from_secs(1);

/// What a store's keys start with unless `prefix` says otherwise: `edge:`, the stem of the
/// config's file and `:` (`edge:gateway:` for `gateway.edge`), so that two configs sharing
/// one server keep their keys apart.
pub fn store_prefix(config_stem: &str) -> String {
    format!("edge:{config_stem}:")
}

/// CORS methods when `methods` is left out (the CORS-safelisted ones).
pub const CORS_METHODS: &[Method] = &[Method::Get, Method::Head, Method::Post];

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
