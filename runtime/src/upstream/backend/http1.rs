//! Keep-alive HTTP/1.1 connections to one server: opening them (TCP, then TLS in a pool with
//! `tls`), and the idle lists they wait in between requests. They speak Edge's own HTTP/1.1
//! (`http1::client`), which needs no task per connection. Connections for upgrade requests
//! are opened here too, with hyper's client, whose upgrade hand-over the tunnel uses, and are
//! never kept.
//!
//! Each server keeps a list of idle connections per worker (most recently used first out), so a
//! connection is only ever used by the worker thread whose runtime drives it. Idle connections
//! older than the idle timeout, or closed by the server, are dropped when met and by the pool's
//! reaper task.

use std::{
    collections::VecDeque,
    future::Future,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::time::timeout;

use crate::{
    body::Outgoing, http1::client::Connection, stream::Stream, upstream::backend::Backend,
    upstream::error::UpstreamError, upstream::tls::Connector, worker,
};

/// Idle connections kept per server and worker; more are closed when released.
const MAX_IDLE_PER_SERVER: usize = 128;

/// The sending half of a connection opened for an upgrade request.
pub(crate) type Sender = SendRequest<Outgoing>;

/// One server's idle connections, one list per worker.
#[derive(Debug)]
pub(crate) struct IdleLists {
    lists: Box<[Mutex<VecDeque<Idle>>]>,
}

/// A kept-alive connection waiting for its next request.
#[derive(Debug)]
struct Idle {
    connection: Connection,
    since: Instant,
}

impl IdleLists {
    pub(crate) fn new() -> IdleLists {
        IdleLists {
            lists: (0..worker::count())
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
        }
    }

    /// The current worker's list. It is only held to push or pop, so a poisoned lock still
    /// holds sound data.
    fn current(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        lock(&self.lists[worker::current() % self.lists.len()])
    }

    /// The most recently used idle connection that is still open, if any.
    pub(crate) fn checkout(&self, max_idle: Duration) -> Option<Connection> {
        let now = Instant::now();
        loop {
            let mut conn = {
                let mut idle = self.current();
                let conn = idle.pop_back()?;
                if now.duration_since(conn.since) >= max_idle {
                    // Everything before it is older still.
                    idle.clear();
                    return None;
                }
                conn
            };
            if conn.connection.is_usable() {
                return Some(conn.connection);
            }
        }
    }

    pub(crate) fn push(&self, connection: Connection) {
        let mut idle = self.current();
        if idle.len() < MAX_IDLE_PER_SERVER {
            idle.push_back(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    /// Closes every idle connection.
    pub(crate) fn close_all(&self) {
        for idle in &self.lists {
            lock(idle).clear();
        }
    }

    /// Closes the connections idle for `max_idle` or more, and those the server has closed.
    pub(crate) fn drop_stale(&self, max_idle: Duration) {
        let now = Instant::now();
        for idle in &self.lists {
            lock(idle).retain_mut(|conn| {
                now.duration_since(conn.since) < max_idle && conn.connection.is_usable()
            });
        }
    }
}

fn lock(idle: &Mutex<VecDeque<Idle>>) -> MutexGuard<'_, VecDeque<Idle>> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a keep-alive HTTP/1.1 connection to `backend` (over TLS with `tls`).
pub(crate) async fn connect(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<Connection, UpstreamError> {
    stream(backend, tls, connect_timeout)
        .await
        .map(Connection::new)
}

/// Opens an HTTP/1.1 connection for one upgrade request, driven by hyper: once the server has
/// answered `101`, `hyper::upgrade::on` on the response gives the connection back for a
/// tunnel.
pub(crate) async fn connect_for_upgrade(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<Sender, UpstreamError> {
    let stream = stream(backend, tls, connect_timeout).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Handshake)?;
    tokio::spawn(drive(connection.with_upgrades()));
    Ok(sender)
}

/// A TCP connection to `backend`, and TLS over it when the pool has it, both within
/// `connect_timeout`.
pub(crate) async fn stream(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<Stream, UpstreamError> {
    let upstream = &backend.spec.upstream;
    let connecting = async {
        let tcp = crate::upstream::stream::tcp(upstream)
            .await
            .map_err(UpstreamError::Connect)?;
        match tls {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => tls
                .handshake(tcp, upstream, backend.host.as_deref())
                .await
                .map(|tls| Stream::Tls(Box::new(tls)))
                .map_err(UpstreamError::Tls),
        }
    };
    timeout(connect_timeout, connecting)
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(connect_timeout))?
}

/// Drives a connection until it closes (or is handed over after an upgrade).
pub(crate) async fn drive(connection: impl Future<Output = hyper::Result<()>>) {
    if let Err(error) = connection.await {
        tracing::debug!(%error, "upstream connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose server end stays open while the returned stream is kept.
    async fn open_connection() -> (Connection, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        (
            Connection::new(Stream::Plain(client.unwrap())),
            server.unwrap().0,
        )
    }

    #[tokio::test]
    async fn the_most_recent_idle_connection_goes_first() {
        let idle = IdleLists::new();
        let (first, _keep_first) = open_connection().await;
        let (second, _keep_second) = open_connection().await;
        idle.push(first);
        idle.push(second);
        let hour = Duration::from_secs(3600);
        assert!(idle.checkout(hour).is_some());
        assert!(idle.checkout(hour).is_some());
        assert!(idle.checkout(hour).is_none());
    }

    #[tokio::test]
    async fn expired_idle_connections_are_dropped() {
        let idle = IdleLists::new();
        let (conn, _keep) = open_connection().await;
        idle.push(conn);
        assert!(idle.checkout(Duration::ZERO).is_none());
        assert!(idle.current().is_empty());

        let (conn, _keep) = open_connection().await;
        idle.push(conn);
        idle.drop_stale(Duration::ZERO);
        assert!(idle.current().is_empty());
    }

    /// Whether checking out refuses the only idle connection within a bounded wait (its
    /// server's bytes or end of stream take a moment to arrive).
    async fn refused_soon(idle: &IdleLists) -> bool {
        for _ in 0..200 {
            match idle.checkout(Duration::from_secs(3600)) {
                None => return true,
                Some(conn) => idle.push(conn),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn closed_idle_connections_are_skipped() {
        let idle = IdleLists::new();
        let (conn, peer) = open_connection().await;
        idle.push(conn);
        drop(peer);
        assert!(refused_soon(&idle).await);
    }

    #[tokio::test]
    async fn the_reaper_drops_closed_idle_connections() {
        let idle = IdleLists::new();
        let (conn, peer) = open_connection().await;
        idle.push(conn);
        drop(peer);
        for _ in 0..200 {
            idle.drop_stale(Duration::from_secs(3600));
            if idle.current().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("a closed idle connection was kept");
    }

    #[tokio::test]
    async fn a_connection_that_received_unasked_bytes_is_not_used() {
        use tokio::io::AsyncWriteExt;
        let idle = IdleLists::new();
        let (conn, mut peer) = open_connection().await;
        idle.push(conn);
        peer.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(refused_soon(&idle).await);
    }

    #[tokio::test]
    async fn idle_connections_are_capped() {
        let idle = IdleLists::new();
        let mut peers = Vec::new();
        for _ in 0..MAX_IDLE_PER_SERVER + 2 {
            let (conn, peer) = open_connection().await;
            peers.push(peer);
            idle.push(conn);
        }
        assert_eq!(idle.current().len(), MAX_IDLE_PER_SERVER);
    }
}
