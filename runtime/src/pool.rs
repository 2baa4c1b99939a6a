//! Upstream pools: a static set of servers, a balancing strategy, and per-server keep-alive
//! connections over HTTP/1.1.
//!
//! Each server keeps a list of idle connections per worker (most recently used first out), so a
//! connection is only ever used by the worker thread whose runtime drives it. A connection goes
//! back to its list when the response body it carried has ended; a body dropped early drops
//! its connection. Idle connections older than `timeouts.idle`, or closed by the server, are
//! dropped when met and by a reaper task that runs every half idle timeout.

use std::{
    collections::VecDeque,
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{Duration, Instant},
};

use hyper::{body::Incoming, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, time::timeout};

use crate::{error::UpstreamError, forward, worker, Body, Cx, Request, Response, Strategy};

/// Idle connections kept per server; more are closed when released.
const MAX_IDLE_PER_SERVER: usize = 128;

/// A pool's static description, as generated from the config.
#[derive(Debug)]
pub struct PoolSpec {
    /// The pool's name, for logs.
    pub name: &'static str,
    /// Its servers; the strategy picks among them by index.
    pub servers: &'static [Upstream],
    pub timeouts: UpstreamTimeouts,
}

/// One upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// A fixed address.
    Socket(SocketAddr),
    /// `host:port`, resolved each time a connection is opened.
    Name(&'static str),
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Socket(addr) => addr.fmt(f),
            Upstream::Name(name) => name.fmt(f),
        }
    }
}

/// How long to wait on an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// To open a TCP connection (504 when exceeded).
    pub connect: Duration,
    /// From sending the request to receiving the response head (504 when exceeded).
    pub response: Duration,
    /// How long an unused keep-alive connection is kept.
    pub idle: Duration,
}

impl UpstreamTimeouts {
    pub const DEFAULT: UpstreamTimeouts = UpstreamTimeouts {
        connect: Duration::from_secs(5),
        response: Duration::from_secs(60),
        idle: Duration::from_secs(60),
    };
}

/// A pool of upstream servers balanced by `S`.
pub struct Pool<S: Strategy> {
    spec: &'static PoolSpec,
    strategy: S,
    servers: Arc<[Server]>,
}

impl<S: Strategy> fmt::Debug for Pool<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("spec", self.spec).finish()
    }
}

impl<S: Strategy> Pool<S> {
    /// Builds the pool. Inside a tokio runtime this also starts its idle-connection reaper.
    pub fn new(spec: &'static PoolSpec) -> Self {
        let servers: Arc<[Server]> = spec.servers.iter().map(Server::new).collect();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap(Arc::downgrade(&servers), spec.timeouts.idle));
        }
        Pool {
            spec,
            strategy: S::new(spec.servers.len()),
            servers,
        }
    }

    /// Sends `req` to the server the strategy picks and streams its response back.
    /// Failures become 502 or 504 and are logged with the pool and server.
    pub async fn forward(&self, mut req: Request, cx: &Cx) -> Response {
        let index = self.strategy.pick();
        let Some(server) = self.servers.get(index) else {
            tracing::warn!(pool = self.spec.name, "pool has no servers");
            return UpstreamError::NoServer.response();
        };
        forward::to_upstream(&mut req, cx);
        match self.exchange(index, server, req).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(pool = self.spec.name, server = %server.upstream, %error, "upstream request failed");
                error.response()
            }
        }
    }

    async fn exchange(
        &self,
        index: usize,
        server: &Server,
        mut req: Request,
    ) -> Result<Response, UpstreamError> {
        let timeouts = &self.spec.timeouts;
        let (mut sender, mut reused) = match server.checkout(timeouts).await {
            Some(sender) => (sender, true),
            None => (connect(server.upstream, timeouts.connect).await?, false),
        };
        loop {
            let sent = timeout(timeouts.response, sender.try_send_request(req)).await;
            match sent.map_err(|_| UpstreamError::ResponseTimeout(timeouts.response))? {
                Ok(response) => {
                    let (mut parts, body) = response.into_parts();
                    forward::from_upstream(&mut parts.headers);
                    let pooled = Pooled {
                        servers: Arc::clone(&self.servers),
                        index,
                        sender,
                    };
                    return Ok(Response::from_parts(parts, Body::upstream(body, pooled)));
                }
                Err(mut failed) => match failed.take_message() {
                    // A kept-alive connection closed before the request went out: nothing was
                    // sent, so a fresh connection may carry it.
                    Some(unsent) if reused => {
                        req = unsent;
                        sender = connect(server.upstream, timeouts.connect).await?;
                        reused = false;
                    }
                    _ => return Err(UpstreamError::Exchange(failed.into_error())),
                },
            }
        }
    }
}

/// One server's state.
struct Server {
    upstream: &'static Upstream,
    /// Idle connections, one list per worker.
    idle: Box<[Mutex<VecDeque<Idle>>]>,
}

/// A kept-alive connection waiting for its next request.
struct Idle {
    sender: SendRequest<Incoming>,
    since: Instant,
}

impl Server {
    fn new(upstream: &'static Upstream) -> Server {
        Server {
            upstream,
            idle: (0..worker::count())
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
        }
    }

    /// The current worker's idle list. It is only held to push or pop, so a poisoned lock
    /// still holds sound data.
    fn idle(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        lock(&self.idle[worker::current() % self.idle.len()])
    }

    /// The most recently used idle connection that is still open and ready, if any.
    async fn checkout(&self, timeouts: &UpstreamTimeouts) -> Option<SendRequest<Incoming>> {
        while let Some(mut sender) = self.pop_idle(timeouts.idle) {
            // Ready at once unless the connection is still finishing its previous response.
            if let Ok(Ok(())) = timeout(timeouts.response, sender.ready()).await {
                return Some(sender);
            }
        }
        None
    }

    fn pop_idle(&self, max_idle: Duration) -> Option<SendRequest<Incoming>> {
        let now = Instant::now();
        let mut idle = self.idle();
        while let Some(conn) = idle.pop_back() {
            if now.duration_since(conn.since) >= max_idle {
                // Everything before it is older still.
                idle.clear();
                return None;
            }
            if !conn.sender.is_closed() {
                return Some(conn.sender);
            }
        }
        None
    }

    fn push_idle(&self, sender: SendRequest<Incoming>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE_PER_SERVER {
            idle.push_back(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn drop_stale(&self, max_idle: Duration) {
        let now = Instant::now();
        for idle in &self.idle {
            lock(idle).retain(|conn| {
                now.duration_since(conn.since) < max_idle && !conn.sender.is_closed()
            });
        }
    }
}

fn lock(idle: &Mutex<VecDeque<Idle>>) -> MutexGuard<'_, VecDeque<Idle>> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection lent to one response; [`Body`] gives it back when the response has ended.
#[derive(Debug)]
pub(crate) struct Pooled {
    servers: Arc<[Server]>,
    index: usize,
    sender: SendRequest<Incoming>,
}

impl Pooled {
    pub(crate) fn release(self) {
        self.servers[self.index].push_idle(self.sender);
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("upstream", self.upstream)
            .finish()
    }
}

/// Opens an HTTP/1.1 connection to `upstream` and spawns the task that drives it.
async fn connect(
    upstream: &Upstream,
    connect_timeout: Duration,
) -> Result<SendRequest<Incoming>, UpstreamError> {
    let connecting = async {
        match *upstream {
            Upstream::Socket(addr) => TcpStream::connect(addr).await,
            Upstream::Name(name) => TcpStream::connect(name).await,
        }
    };
    let stream = timeout(connect_timeout, connecting)
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(connect_timeout))?
        .map_err(UpstreamError::Connect)?;
    stream.set_nodelay(true).map_err(UpstreamError::Connect)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Handshake)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Drops stale idle connections until the pool is gone.
async fn reap(servers: Weak<[Server]>, max_idle: Duration) {
    let mut tick = tokio::time::interval((max_idle / 2).max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(servers) = servers.upgrade() else {
            return;
        };
        for server in servers.iter() {
            server.drop_stale(max_idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static UPSTREAM: Upstream = Upstream::Name("test.invalid:80");

    /// A sender whose connection stays open while the returned duplex end is kept.
    async fn open_sender() -> (SendRequest<Incoming>, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1024);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(ours))
            .await
            .unwrap();
        tokio::spawn(connection);
        (sender, theirs)
    }

    #[tokio::test]
    async fn the_most_recent_idle_connection_goes_first() {
        let server = Server::new(&UPSTREAM);
        let (first, _keep_first) = open_sender().await;
        let (second, _keep_second) = open_sender().await;
        server.push_idle(first);
        server.push_idle(second);
        let hour = Duration::from_secs(3600);
        assert!(server.pop_idle(hour).is_some());
        assert!(server.pop_idle(hour).is_some());
        assert!(server.pop_idle(hour).is_none());
    }

    #[tokio::test]
    async fn expired_idle_connections_are_dropped() {
        let server = Server::new(&UPSTREAM);
        let (sender, _keep) = open_sender().await;
        server.push_idle(sender);
        assert!(server.pop_idle(Duration::ZERO).is_none());
        assert!(server.idle().is_empty());

        let (sender, _keep) = open_sender().await;
        server.push_idle(sender);
        server.drop_stale(Duration::ZERO);
        assert!(server.idle().is_empty());
    }

    #[tokio::test]
    async fn closed_idle_connections_are_skipped() {
        let server = Server::new(&UPSTREAM);
        let (sender, peer) = open_sender().await;
        server.push_idle(sender);
        drop(peer);
        // The connection task sees the end of its stream and closes (bounded wait).
        for _ in 0..200 {
            if server.idle()[0].sender.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(server.pop_idle(Duration::from_secs(3600)).is_none());
    }

    #[tokio::test]
    async fn idle_connections_are_capped() {
        let server = Server::new(&UPSTREAM);
        let mut peers = Vec::new();
        for _ in 0..MAX_IDLE_PER_SERVER + 2 {
            let (sender, peer) = open_sender().await;
            peers.push(peer);
            server.push_idle(sender);
        }
        assert_eq!(server.idle().len(), MAX_IDLE_PER_SERVER);
    }
}
