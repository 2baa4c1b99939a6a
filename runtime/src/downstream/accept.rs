//! HTTP listeners: accept connections, run the TLS handshake on TLS listeners, and serve each
//! connection: HTTP/1.x with Edge's own engine (`http1`, which hands HTTP/2 prior-knowledge
//! and upgrade requests to hyper), HTTP/2 with hyper when ALPN chose it. Each request goes
//! through its `connection` (admission, ids, the gateway, counting and logging).
//!
//! Each connection is driven by its watchdog (`watchdog`), which closes it past a deadline of
//! its listener and stops it gracefully on a drain; writes reach the connection through
//! `reported`, which tells the watchdog when one waits for the client.

use std::{
    pin::{pin, Pin},
    sync::Arc,
    time::Duration,
};

use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::{
    cx::peer_ip,
    downstream::admit::Rules,
    downstream::bound::{connection_room, Bound, ACCEPT_BACKOFF},
    downstream::connection::{Connection, TlsConnection},
    downstream::forwarded,
    downstream::front::Front,
    downstream::http1::{self, Serving},
    downstream::listener::ListenerLimits,
    downstream::normalize::PathRules,
    downstream::proxy_header,
    downstream::reported::Reported,
    downstream::tls::{self, TlsListener},
    downstream::watchdog::{self, Activity, Drain},
    Gateway,
};

/// How long an HTTP/2 client may take to answer a PING before its connection is closed.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Accepts connections on one HTTP listener and serves each on its own task.
pub(crate) async fn accept<G: Gateway>(
    bound: Bound<G::Listener>,
    gateway: Arc<G>,
    front: Arc<Front>,
    drain: Arc<Drain>,
) {
    let limits = &bound.spec.limits;
    let protocols = Arc::new(Protocols::new(limits, bound.tls.clone()));
    let room = connection_room(limits);
    loop {
        let Ok(place) = Arc::clone(&room).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match bound.listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(listener = bound.spec.name, %error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let counted = Counted::new(&front, bound.index);
        let activity = Activity::new();
        let connection = Connection {
            gateway: Arc::clone(&gateway),
            front: Arc::clone(&front),
            id: bound.id,
            index: bound.index,
            name: bound.spec.name,
            peer,
            peer_ip: peer_ip(peer),
            activity: Arc::clone(&activity),
            tls: None,
            max_body: limits.max_body,
            body_timeout: limits.body_timeout,
            rules: Rules {
                underscores: limits.underscores_in_headers,
                paths: PathRules {
                    encoded_slashes: limits.allow_encoded_slashes,
                    semicolons: limits.allow_semicolons,
                    lower_case: limits.case_insensitive_paths,
                },
                trusted: forwarded::trusts(limits.trusted_proxies, peer.ip()),
            },
            trusted_proxies: limits.trusted_proxies,
        };
        let accepted = Accepted {
            _counted: (counted, place),
            connection,
            activity,
            // Taken now, so the drain waits for connections still in their handshake too.
            signal: drain.signal(),
            limits: &bound.spec.limits,
            protocols: Arc::clone(&protocols),
            peer,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        // Two kinds of task, so that a cleartext connection's task has no room for a TLS one's
        // state (a task is allocated for the largest state its future can be in). Boxed first:
        // spawning moves its future several times (into the task cell, into its stage, and
        // the stage again when the task ends), each a copy of the whole state, KiBs, into
        // memory the cache has not seen; a box moves as a pointer, for one more allocation
        // (measured: 3,900 fewer instructions per connection).
        if protocols.tls.is_none() {
            tokio::spawn(Box::pin(cleartext(stream, accepted)));
        } else {
            tokio::spawn(Box::pin(over_tls(stream, accepted)));
        }
    }
}

/// What every accepted connection's task starts from.
struct Accepted<G: Gateway> {
    /// Counted as open, and holding its place under the listener's connection cap, until the
    /// task ends.
    _counted: (Counted, tokio::sync::OwnedSemaphorePermit),
    connection: Connection<G>,
    activity: Arc<Activity>,
    signal: tokio::sync::watch::Receiver<bool>,
    limits: &'static ListenerLimits,
    protocols: Arc<Protocols>,
    peer: std::net::SocketAddr,
}

/// Serves a cleartext connection with Edge's HTTP/1 engine (which hands h2c to hyper).
async fn cleartext<G: Gateway>(mut stream: tokio::net::TcpStream, mut accepted: Accepted<G>) {
    if !accepted.proxied(&mut stream).await {
        return;
    }
    let io = Reported::new(stream, Arc::clone(&accepted.activity));
    let peer = accepted.peer;
    ended(peer, accepted.http1(io, false).await);
}

/// Runs the TLS handshake, then serves the connection: HTTP/2 with hyper when ALPN chose it,
/// else with Edge's HTTP/1 engine.
async fn over_tls<G: Gateway>(mut stream: tokio::net::TcpStream, mut accepted: Accepted<G>) {
    if !accepted.proxied(&mut stream).await {
        return;
    }
    let protocols = Arc::clone(&accepted.protocols);
    let Some(TlsProtocols {
        listener,
        http2,
        handshake_timeout,
    }) = &protocols.tls
    else {
        return;
    };
    let (peer, connection) = (accepted.peer, &mut accepted.connection);
    let Some((stream, negotiated)) =
        tls::handshake(listener, stream, peer, *handshake_timeout).await
    else {
        connection.front.observer.tls_failure(connection.index);
        return;
    };
    connection.tls = Some(TlsConnection {
        client_subject: negotiated.client_subject,
        hsts: listener.hsts().cloned(),
    });
    let io = Reported::new(stream, Arc::clone(&accepted.activity));
    if !negotiated.h2 {
        return ended(peer, accepted.http1(io, true).await);
    }
    let Accepted {
        connection,
        activity,
        signal,
        limits,
        ..
    } = accepted;
    // Boxed, once per connection: hyper's HTTP/2 connection is several KiB that TLS
    // HTTP/1.1 connections, sharing this task's type, would otherwise carry too.
    let mut conn = Box::pin(http2.serve_connection(TokioIo::new(io), connection.service()));
    let stop = |conn: Pin<&mut http2::Connection<_, _, _>>| conn.graceful_shutdown();
    let served = watchdog::watch(conn.as_mut(), stop, &activity, limits, signal).await;
    ended(peer, served.map_err(watchdog::Closed::boxed));
}

impl<G: Gateway> Accepted<G> {
    /// On an `accept_proxy` listener, reads the PROXY protocol header the connection starts
    /// with and makes its client the connection's. `false` when the connection is refused
    /// (closed by the caller).
    async fn proxied(&mut self, stream: &mut tokio::net::TcpStream) -> bool {
        if !self.limits.accept_proxy {
            return true;
        }
        match proxy_header::receive(stream, self.limits.header_timeout).await {
            Ok(Some(addresses)) => {
                let client = addresses.client;
                self.peer = client;
                self.connection.peer = client;
                self.connection.peer_ip = peer_ip(client);
                let trusted = forwarded::trusts(self.limits.trusted_proxies, client.ip());
                self.connection.rules.trusted = trusted;
                true
            }
            Ok(None) => true,
            Err(error) => {
                let (listener, peer) = (self.connection.name, self.peer);
                tracing::debug!(listener, %peer, %error, "connection refused");
                false
            }
        }
    }

    /// Serves `io` (cleartext, or decrypted with `tls`) with Edge's HTTP/1 engine, under the
    /// connection's watchdog.
    async fn http1<T>(self, io: T, tls: bool) -> Result<(), watchdog::Closed<http1::Error>>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let serving = Serving {
            connection: self.connection,
            http2: &self.protocols.h2c,
            max_head: self.limits.max_header_size,
            tls,
        };
        let conn = pin!(http1::serve(io, serving));
        watchdog::watch(conn, |_| {}, &self.activity, self.limits, self.signal).await
    }
}

/// Logs how a connection ended, if not well.
fn ended(peer: std::net::SocketAddr, served: Result<(), watchdog::Closed<http1::Error>>) {
    if let Err(error) = served {
        tracing::debug!(%peer, %error, "client connection ended with an error");
    }
}

/// How a listener's connections are served, set up once per listener and worker.
struct Protocols {
    /// hyper's HTTP/2 server for cleartext connections that open with its preface.
    h2c: http2::Builder<TokioExecutor>,
    /// `None` on cleartext listeners.
    tls: Option<TlsProtocols>,
}

/// What a TLS listener adds: the handshake, then HTTP/2 when ALPN agreed on it.
struct TlsProtocols {
    listener: Arc<TlsListener>,
    http2: http2::Builder<TokioExecutor>,
    /// The client's time to complete the handshake: the listener's header timeout.
    handshake_timeout: std::time::Duration,
}

impl Protocols {
    fn new(limits: &ListenerLimits, tls: Option<Arc<TlsListener>>) -> Protocols {
        let tls = tls.map(|listener| TlsProtocols {
            listener,
            http2: http2_builder(limits),
            handshake_timeout: limits.header_timeout,
        });
        Protocols {
            h2c: http2_builder(limits),
            tls,
        }
    }
}

/// hyper's HTTP/2 server as a listener's limits set it.
fn http2_builder(limits: &ListenerLimits) -> http2::Builder<TokioExecutor> {
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_size).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.max_streams)
        .keep_alive_interval(Some(limits.ping_interval))
        .keep_alive_timeout(PING_TIMEOUT);
    http2
}

/// An open connection, counted as closed when dropped.
struct Counted {
    front: Arc<Front>,
    listener: usize,
}

impl Counted {
    fn new(front: &Arc<Front>, listener: usize) -> Counted {
        front.observer.accepted(listener);
        Counted {
            front: Arc::clone(front),
            listener,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.front.observer.closed(self.listener);
    }
}
