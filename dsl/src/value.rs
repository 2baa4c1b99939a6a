//! The span-free values of the language: methods, host and path patterns, balancing
//! strategies, codings and the like. The AST carries them with spans; the compiler's model
//! holds them as they are.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Combined,
}

/// Request ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId {
    pub enabled: bool,
    pub trust_client: bool,
}

/// Spans exported over OTLP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracing {
    /// The OTLP/HTTP receiver: `http://HOST:PORT/PATH`, its path `/v1/traces` when written
    /// without one.
    pub otlp: String,
    /// The share of traces started here that are recorded, in hundredths of a percent
    /// (1 to 10,000).
    pub sample: u32,
    /// The `service.name` of the exported spans.
    pub service: String,
}

/// The HTTP version a pool speaks to its servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamProtocol {
    Http1,
    Http2,
}

/// The PROXY protocol version sent to servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// How a pool picks a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    LeastConn,
    Random,
    Ewma,
    Hash(HashKey),
}

/// What `balance hash` hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    ClientIp,
    /// A request header, lower-cased.
    Header(String),
    Cookie(String),
    Path,
}

/// An inclusive range of statuses: `200..299`, or one status `200`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange {
    pub min: u16,
    pub max: u16,
}

/// A server address: an IP socket address, or a DNS name with a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Socket(SocketAddr),
    Name {
        host: String,
        port: u16,
    },
    /// `dns_srv "_http._tcp.users.internal"`: servers from SRV records.
    Srv(String),
}

/// A condition on the request beyond method, host and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMatch {
    pub part: RequestPart,
    /// The header (lower-cased), query parameter or cookie name.
    pub name: String,
    /// The exact value required; `None`: present with any value.
    pub value: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestPart {
    Header,
    Query,
    Cookie,
}

/// A request's URL as `edgec explain` and `test` blocks write it: `https://HOST[:PORT]/PATH`
/// or `/PATH`, with an optional query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestUrl {
    /// Lower-case, without port; empty when the URL is only a path.
    pub host: String,
    pub port: Option<u16>,
    /// In the normal form the proxy matches (no `//`, `.` or `..` segments).
    pub path: String,
    /// After the `?`, as written.
    pub query: Option<String>,
}

/// A `host` pattern, lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `"api.example.com"`
    Exact(String),
    /// `"*.example.com"`, kept as the suffix `".example.com"`.
    Suffix(String),
}

/// A `path` matcher; paths are normalised (the runtime matches normalised request paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// `path /users`: `/users` and everything under `/users/`.
    Prefix(String),
    /// `path = /health`: exactly `/health`.
    Exact(String),
}

/// An HTTP method, upper-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
}

impl Method {
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Connect,
        Method::Trace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
        }
    }
}

/// A JWT signature algorithm, written in the language as RFC 7518 names it
/// ([`JwtAlgorithm::name`]): the type the key files' readers and the proxy use too.
pub use edge_formats::public_key::Algorithm as JwtAlgorithm;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Header(String),
    Query(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitKey {
    ClientIp,
    Header(String),
    Claim(String),
    Consumer,
    Route,
}

/// `10/s`: `count` requests per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitAlgorithm {
    TokenBucket,
    Gcra,
}

/// What a request gets when its rate limit's store does not answer in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// This proxy's own bucket decides, at the policy's rate.
    Local,
    /// The request passes.
    Allow,
    /// The request gets `503`.
    Deny,
}

/// An IP network: an address with its prefix length (a host: 32 or 128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
    Zstd,
}

/// What tells cached answers apart: parts of the URL and request headers (lower-cased).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheKey {
    pub host: bool,
    pub path: bool,
    pub query: bool,
    pub headers: Vec<String>,
}

/// Bytes of stored answers a cache keeps when `max_size` is left out; the parser checks a
/// given `max_object` against it.
pub const CACHE_MAX_SIZE: u64 = 64 << 20;
/// The largest answer a cache stores when `max_object` is left out (at most `max_size`).
pub const CACHE_MAX_OBJECT: u64 = 8 << 20;

/// Bytes an `ext_auth` policy's kept answers weigh in all, keys included, when its `cache`
/// gives no `max_size`.
pub const EXT_AUTH_CACHE_MAX_SIZE: u64 = 4 << 20;
/// The smallest `max_size` of an `ext_auth` policy's kept answers: the proxy splits them in 16
/// parts, and a sixteenth of this (4 KiB) holds one answer kept by a large token.
pub const EXT_AUTH_CACHE_MIN_SIZE: u64 = 64 << 10;
