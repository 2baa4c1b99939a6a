//! A listener as generated from the config: its address, its mode, its TLS certificates and
//! the limits on what a client may send.

use std::{net::SocketAddr, time::Duration};

use crate::cidr::Cidr;

/// A listener, as generated from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The listener's name, for the start-up line and logs; `Cx::listener()` returns it.
    pub name: &'static str,
    /// Where to listen; port 0 picks a free port (the start-up line shows which).
    pub bind: SocketAddr,
    /// HTTP only: what a client may send.
    pub limits: ListenerLimits,
    pub mode: ListenerMode,
    /// HTTP only: terminate TLS with these certificates; `None` serves cleartext.
    pub tls: Option<TlsSpec>,
}

/// What a listener does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerMode {
    /// Serves HTTP/1.1 and cleartext HTTP/2; requests go to [`Gateway::handle`](crate::Gateway::handle).
    Http,
    /// Layer 4: connections go unparsed to [`Gateway::handle_tcp`](crate::Gateway::handle_tcp).
    Tcp(TcpSpec),
}

/// A `mode tcp` listener's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSpec {
    /// A tunnel that carries no byte either way for this long is closed.
    pub idle_timeout: Duration,
}

/// Limits on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Largest request head in bytes (HTTP/1 read buffer, at least 8192; HTTP/2 header list).
    /// Larger heads get 431.
    pub max_header_size: usize,
    /// How long a client may take to send its first request head once connected (the TLS
    /// handshake included, and an HTTP/2 client its preface), and any later head once it has
    /// sent its first byte (nginx's `client_header_timeout`).
    pub header_timeout: Duration,
    /// How long a connection may stay idle between requests (HTTP/1.1 keep-alive), or without
    /// an open stream (HTTP/2), before it is closed (nginx's `keepalive_timeout`).
    pub keepalive_timeout: Duration,
    /// Longest wait for the next bytes of a request body; a client past it gets 408 (nginx's
    /// `client_body_timeout`).
    pub body_timeout: Duration,
    /// Longest a client may leave an answer unread (the connection takes no byte) before the
    /// connection is closed (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// An HTTP/2 connection that has sent nothing for this long is sent a PING; one that does
    /// not answer within 20 s is closed, so dead clients do not keep streams open.
    pub ping_interval: Duration,
    /// Largest request body in bytes (0: no limit); larger bodies get 413, while they stream.
    pub max_body: u64,
    /// Client connections open at once on this listener (HTTP or `mode tcp`); past it, new
    /// connections wait in the kernel's queue until one closes. Each worker takes its share
    /// (as nginx's `worker_connections`), since the kernel spreads connections evenly over the
    /// workers.
    pub max_connections: u32,
    /// HTTP/2 streams a client may have open at once on one connection.
    pub max_streams: u32,
    /// Whether header names with `_` pass; by default they are dropped, since CGI-style
    /// servers read `X_Real_IP` as `X-Real-IP` (nginx's `underscores_in_headers`).
    pub underscores_in_headers: bool,
    /// Whether `%2F`, `%5C` and `\` may appear in paths (kept as sent); by default such a
    /// request gets 400, since nginx and IIS backends read them as separators and a route
    /// guarding `/admin` would not see `/admin%2Fusers` (Apache's `AllowEncodedSlashes`).
    pub allow_encoded_slashes: bool,
    /// Whether `;` may appear in paths; by default such a request gets 400, since Tomcat and
    /// Spring backends drop path parameters and read `/public/..;/admin` as `/admin`.
    pub allow_semicolons: bool,
    /// Whether paths are lower-cased (ASCII) before routing and forwarding, for backends that
    /// ignore case (IIS): `/ADMIN` then meets the routes of `/admin`.
    pub case_insensitive_paths: bool,
    /// Whether every connection starts with a PROXY protocol header (version 1 or 2) from the
    /// load balancer in front, whose client then is the connection's client (for routing,
    /// policies, logs and the forwarding fields). A connection without a valid header within
    /// `header_timeout` is closed (HAProxy's `accept-proxy`, nginx's `proxy_protocol`).
    pub accept_proxy: bool,
    /// Peers whose forwarding fields are believed (load balancers and proxies in front): from
    /// them, the client is the right-most address of `X-Forwarded-For` not among these
    /// networks, and `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded` pass as sent.
    /// From anyone else `X-Forwarded-For` is replaced by the peer's address, the other two set
    /// by the proxy and `Forwarded` dropped. Empty: nobody's are believed.
    pub trusted_proxies: &'static [Cidr],
}
impl ListenerLimits {
    pub const DEFAULT: ListenerLimits = ListenerLimits {
        max_header_size: 64 * 1024,
        header_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(75),
        body_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(60),
        ping_interval: Duration::from_secs(60),
        max_body: 0,
        max_connections: 50_000,
        max_streams: 128,
        underscores_in_headers: false,
        allow_encoded_slashes: false,
        allow_semicolons: false,
        case_insensitive_paths: false,
        accept_proxy: false,
        trusted_proxies: &[],
    };
}

/// A listener's TLS settings, as generated from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSpec {
    /// The certificates served, chosen by SNI; at least one.
    pub certs: &'static [CertSpec],
    /// Client certificates asked for and verified; `None` asks for none.
    pub client_auth: Option<ClientAuth>,
    /// `Some(max_age)` adds `Strict-Transport-Security: max-age=N` (whole seconds) to every
    /// response on this listener that has none.
    pub hsts: Option<Duration>,
}

/// One certificate chain and its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSpec {
    /// The SNI names it serves: exact (`api.example.com`) or one-label wildcards
    /// (`*.example.com`), case-insensitive. Empty: the default certificate, for clients whose
    /// SNI matches no other (or who send none).
    pub names: &'static [&'static str],
    /// Path of the PEM certificate chain, leaf first.
    pub cert: &'static str,
    /// Path of the PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: &'static str,
}

/// Client certificate verification (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAuth {
    /// Path of the PEM bundle of CA certificates client certificates must chain to.
    pub ca: &'static str,
    /// `true`: a client without a valid certificate fails the handshake. `false`: a client may
    /// send none, but one it sends must be valid.
    pub required: bool,
}
