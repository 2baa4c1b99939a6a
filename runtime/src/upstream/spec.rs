//! A pool's static description, as generated from the config: its servers, timeouts, health
//! checks, passive health, retry policy, TLS towards its servers and, for tunnels, the PROXY
//! protocol. Plain data, constructible in a `static`.

use std::time::Duration;

use crate::{address::Upstream, ProxyProtocol};

/// A pool's static description.
#[derive(Debug)]
pub struct PoolSpec {
    /// The pool's name, for logs.
    pub name: &'static str,
    /// Its server entries: addresses, and names that each stand for the addresses they
    /// resolve to (the pool's live set; see [`Upstream`]).
    pub servers: &'static [ServerSpec],
    pub timeouts: UpstreamTimeouts,
    /// Active health checks, one checker task per server; `None` leaves every server up.
    pub health: Option<HealthCheck>,
    /// Passive health: servers that fail requests are taken out for a while.
    pub passive: Option<Passive>,
    pub retry: Retry,
    /// The header tunnels send to the server first; HTTP requests ignore it.
    pub proxy_protocol: ProxyProtocol,
    /// `Some`: every server of the pool speaks TLS (requests, upgrades and HTTP health checks
    /// go over it); `None`: cleartext. Tunnels of `mode tcp` listeners stay content-blind and
    /// ignore it.
    pub tls: Option<UpstreamTls>,
    /// The HTTP version requests are sent to the servers in.
    pub protocol: UpstreamProtocol,
    /// `Some`: a client keeps its server through a cookie the proxy sets.
    pub sticky: Option<StickySpec>,
}

impl PoolSpec {
    /// A pool named `name` of `servers` with default timeouts, cleartext HTTP/1.1, and none of
    /// the rest: no health checks (active or passive), no retries, no PROXY protocol header,
    /// no sticky sessions. Set what differs with struct update syntax.
    pub const fn new(name: &'static str, servers: &'static [ServerSpec]) -> PoolSpec {
        PoolSpec {
            name,
            servers,
            timeouts: UpstreamTimeouts::DEFAULT,
            health: None,
            passive: None,
            retry: Retry::NONE,
            proxy_protocol: ProxyProtocol::None,
            tls: None,
            protocol: UpstreamProtocol::Http1,
            sticky: None,
        }
    }
}

/// Sticky sessions by an inserted cookie (HAProxy's `cookie NAME insert`): the proxy sets a
/// cookie naming the server that answered (an opaque id, a fixed hash of its address, so every
/// proxy of a fleet names a server alike), and sends a request carrying it to that server
/// while the server is usable; a request whose server is not goes where the pool's strategy
/// says, and gets a new cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StickySpec {
    /// The cookie's name.
    pub cookie: &'static str,
    /// Its `Max-Age`; `None`: a session cookie.
    pub max_age: Option<std::time::Duration>,
    /// Its `Path`.
    pub path: &'static str,
    pub secure: bool,
    pub http_only: bool,
}

/// The HTTP version a pool speaks to its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 over kept-alive connections, one request at a time on each (the default).
    #[default]
    Http1,
    /// HTTP/2: one connection per server and worker carries every request at once. Over TLS
    /// it is offered by ALPN (`h2`); in cleartext it is spoken from the first byte (prior
    /// knowledge, as gRPC servers expect). Trailers pass both ways, so gRPC works end to end;
    /// WebSocket upgrades are not tunnelled.
    Http2,
}

/// How a pool's servers are reached over TLS. The files are read once, when the pool is
/// built ([`crate::Pool::load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Path of a PEM bundle of CA certificates servers are verified against, instead of the
    /// built-in roots (Mozilla's, from `webpki-roots`).
    pub ca: Option<&'static str>,
    /// The name sent by SNI and verified in the server's certificate. `None`: the host name
    /// a server was given by (`users.internal` for `users.internal:8443`, an SRV record's
    /// target for SRV servers), or, for a server given by address, the IP address itself
    /// (verified against the certificate's IP address entries; no SNI is sent).
    pub server_name: Option<&'static str>,
    /// A client certificate to present to servers that ask for one (mTLS).
    pub client_cert: Option<ClientCert>,
    /// `false` accepts any server certificate, unverified (signatures of the handshake are
    /// still checked). For tests and closed networks only.
    pub verify: bool,
}

impl UpstreamTls {
    /// TLS with the built-in roots, the server's own name, no client certificate, verified:
    /// what `server https://...` means.
    pub const DEFAULT: UpstreamTls = UpstreamTls {
        ca: None,
        server_name: None,
        client_cert: None,
        verify: true,
    };
}

/// A client certificate chain and its key, both PEM files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCert {
    /// Path of the PEM certificate chain, leaf first.
    pub cert: &'static str,
    /// Path of the PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: &'static str,
}

/// One server of a pool; for a name, every address it resolves to is a server like this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerSpec {
    pub upstream: Upstream,
    /// Relative share of the traffic; 0 counts as 1.
    pub weight: u32,
    /// Most requests in flight to this server at once; 0 is no cap.
    pub max_conns: u32,
    /// Used only when no primary server is usable.
    pub backup: bool,
}

impl ServerSpec {
    /// A primary server of weight 1 without a connection cap.
    pub const fn new(upstream: Upstream) -> ServerSpec {
        ServerSpec {
            upstream,
            weight: 1,
            max_conns: 0,
            backup: false,
        }
    }

    /// The weight strategies use: never 0.
    pub(crate) fn weight(&self) -> u32 {
        self.weight.max(1)
    }
}

/// How long to wait on an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// To open a TCP connection and, for TLS servers, finish the TLS handshake too (504 when
    /// exceeded; for a tunnel, the next server is tried or the client connection closed).
    pub connect: Duration,
    /// From sending the request to receiving the response head (504 when exceeded).
    pub response: Duration,
    /// How long an unused keep-alive connection is kept.
    pub idle: Duration,
    /// How long an upgraded connection (a WebSocket) may carry no byte either way before it is
    /// closed (HAProxy's `timeout tunnel`).
    pub tunnel: Duration,
}

impl UpstreamTimeouts {
    pub const DEFAULT: UpstreamTimeouts = UpstreamTimeouts {
        connect: Duration::from_secs(5),
        response: Duration::from_secs(60),
        idle: Duration::from_secs(60),
        tunnel: Duration::from_secs(3600),
    };
}

/// An active health check, run against each server of the pool in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    Http(HttpCheck),
    Tcp(TcpCheck),
}

impl HealthCheck {
    pub(crate) fn interval(&self) -> Duration {
        match self {
            HealthCheck::Http(check) => check.interval,
            HealthCheck::Tcp(check) => check.interval,
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        match self {
            HealthCheck::Http(check) => check.timeout,
            HealthCheck::Tcp(check) => check.timeout,
        }
    }

    /// Consecutive successes that mark a down server up, and failures that mark it down.
    pub(crate) fn thresholds(&self) -> (u32, u32) {
        match self {
            HealthCheck::Http(check) => (check.rise, check.fall),
            HealthCheck::Tcp(check) => (check.rise, check.fall),
        }
    }
}

/// `GET path` over a fresh HTTP/1.1 connection (TLS in a pool with `tls`); healthy when the status is within `expect`
/// and arrives within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCheck {
    pub path: &'static str,
    pub expect: StatusRange,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// A TCP connect within `timeout` (and the TLS handshake, in a pool with `tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpCheck {
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// Status codes from `min` to `max`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub min: u16,
    pub max: u16,
}

impl StatusRange {
    pub(crate) fn contains(&self, status: u16) -> bool {
        (self.min..=self.max).contains(&status)
    }
}

/// Passive health with nginx's semantics: `max_fails` failed requests (connect errors,
/// timeouts, connections broken before the response) within `fail_timeout` take a server out
/// for `fail_timeout`, after which it is tried again. `consecutive_5xx` N > 0 also takes it
/// out after N 5xx responses in a row. `max_fails` 0 counts no failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passive {
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub consecutive_5xx: u32,
}

/// How often a failed request is tried again on another server, and on what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Extra tries after the first, each on a server this request has not tried yet.
    pub attempts: u32,
    pub on: RetryOn,
}

impl Retry {
    /// No retries.
    pub const NONE: Retry = Retry {
        attempts: 0,
        on: RetryOn {
            connect_error: false,
            timeout: false,
            status_5xx: false,
        },
    };
}

/// The failures that lead to a retry. Whatever is enabled, a request is only re-sent when that
/// is safe: after a connect error always (nothing was sent); after a timeout, a connection
/// broken before the response, or a 5xx only for an idempotent method with an empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// No connection could be made, or it broke before the response head arrived.
    pub connect_error: bool,
    /// No connection or no response head within the timeouts.
    pub timeout: bool,
    /// The server answered with a status from 500 to 599.
    pub status_5xx: bool,
}

/// A pool's circuit breakers and outlier detection, as Envoy's `circuit_breakers` and
/// `outlier_detection`. A pool without any is built without them (`Pool<S>`, whose guard is
/// [`crate::Unguarded`]); one with them is a `Pool<S, Circuit>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSpec {
    /// Requests that may wait for a place on a server when every usable server is at its
    /// `max_conns`, each for at most the connect timeout; the next ones get `503` at once.
    /// 0: none wait.
    pub max_pending: u32,
    /// Attempts in flight to the whole pool at once (retries included), beyond which a
    /// request gets `503` at once. 0: no cap.
    pub max_requests: u32,
    /// Ejection of servers whose success rate or latency stands out from the others'.
    pub outlier: Option<Outlier>,
}

/// Outlier detection: every `interval`, each server that had at least `min_requests` attempts
/// is compared with the median of the other such servers (at least one other is needed). A
/// server whose success rate is more than `success_rate` percentage points below theirs, or
/// whose mean latency is more than `latency` times theirs (a median below 1 ms counts as
/// 1 ms), is ejected for `base_ejection_time` × the times it was ejected, at most
/// `max_ejection_time`; never more than `max_ejection_percent` of the servers at once (one
/// may always be). Each interval a server spends in the pool without being an outlier takes
/// one off its count of ejections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlier {
    pub interval: Duration,
    pub min_requests: u32,
    /// Percentage points below the others' median success rate; 0: success rates are not
    /// compared.
    pub success_rate: u32,
    /// Times the others' median mean latency; 0: latencies are not compared.
    pub latency: u32,
    pub base_ejection_time: Duration,
    pub max_ejection_time: Duration,
    pub max_ejection_percent: u32,
}
