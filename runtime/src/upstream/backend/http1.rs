//! Keep-alive HTTP/1.1 connections to one server: opening them (TCP, then TLS in a pool with
//! `tls`), and the idle lists they wait in between requests. Connections for upgrade requests
//! are opened here too, but never kept.
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

use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::time::timeout;

use crate::{
    body::Outgoing, upstream::backend::Backend, upstream::error::UpstreamError,
    upstream::stream::Stream, upstream::tls::Connector, worker,
};

/// Idle connections kept per server and worker; more are closed when released.
const MAX_IDLE_PER_SERVER: usize = 128;

/// The sending half of an upstream connection.
pub(crate) type Sender = SendRequest<Outgoing>;

/// One server's idle connections, one list per worker.
#[derive(Debug)]
pub(crate) struct IdleLists {
    lists: Box<[Mutex<VecDeque<Idle>>]>,
}

/// A kept-alive connection waiting for its next request.
#[derive(Debug)]
struct Idle {
    sender: Sender,
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

    /// The most recently used idle connection that is still open and ready, if any.
    pub(crate) async fn checkout(
        &self,
        max_idle: Duration,
        ready_within: Duration,
    ) -> Option<Sender> {
        while let Some(mut sender) = self.pop(max_idle) {
            // Ready at once unless the connection is still finishing its previous response.
            if let Ok(Ok(())) = timeout(ready_within, sender.ready()).await {
                return Some(sender);
            }
        }
        None
    }

    fn pop(&self, max_idle: Duration) -> Option<Sender> {
        let now = Instant::now();
        let mut idle = self.current();
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

    pub(crate) fn push(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.current();
        if idle.len() < MAX_IDLE_PER_SERVER {
            idle.push_back(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    pub(crate) fn drop_stale(&self, max_idle: Duration) {
        let now = Instant::now();
        for idle in &self.lists {
            lock(idle).retain(|conn| {
                now.duration_since(conn.since) < max_idle && !conn.sender.is_closed()
            });
        }
    }
}

fn lock(idle: &Mutex<VecDeque<Idle>>) -> MutexGuard<'_, VecDeque<Idle>> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a keep-alive HTTP/1.1 connection to `backend` (over TLS with `tls`) and spawns the
/// task that drives it.
pub(crate) async fn connect(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<Sender, UpstreamError> {
    let (sender, connection) = handshake(backend, tls, connect_timeout).await?;
    tokio::spawn(drive(connection));
    Ok(sender)
}

/// Opens an HTTP/1.1 connection for one upgrade request: once the server has answered `101`,
/// `hyper::upgrade::on` on the response gives the connection back for a tunnel.
pub(crate) async fn connect_for_upgrade(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<Sender, UpstreamError> {
    let (sender, connection) = handshake(backend, tls, connect_timeout).await?;
    tokio::spawn(drive(connection.with_upgrades()));
    Ok(sender)
}

/// TCP, TLS when the pool has it (both within `connect_timeout`), then HTTP/1.1.
async fn handshake(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<(Sender, Connection<TokioIo<Stream>, Outgoing>), UpstreamError> {
    let stream = stream(backend, tls, connect_timeout).await?;
    hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Handshake)
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

    /// A sender whose connection stays open while the returned duplex end is kept.
    async fn open_sender() -> (Sender, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1024);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(ours))
            .await
            .unwrap();
        tokio::spawn(connection);
        (sender, theirs)
    }

    #[tokio::test]
    async fn the_most_recent_idle_connection_goes_first() {
        let idle = IdleLists::new();
        let (first, _keep_first) = open_sender().await;
        let (second, _keep_second) = open_sender().await;
        idle.push(first);
        idle.push(second);
        let hour = Duration::from_secs(3600);
        assert!(idle.pop(hour).is_some());
        assert!(idle.pop(hour).is_some());
        assert!(idle.pop(hour).is_none());
    }

    #[tokio::test]
    async fn expired_idle_connections_are_dropped() {
        let idle = IdleLists::new();
        let (sender, _keep) = open_sender().await;
        idle.push(sender);
        assert!(idle.pop(Duration::ZERO).is_none());
        assert!(idle.current().is_empty());

        let (sender, _keep) = open_sender().await;
        idle.push(sender);
        idle.drop_stale(Duration::ZERO);
        assert!(idle.current().is_empty());
    }

    #[tokio::test]
    async fn closed_idle_connections_are_skipped() {
        let idle = IdleLists::new();
        let (sender, peer) = open_sender().await;
        idle.push(sender);
        drop(peer);
        // The connection task sees the end of its stream and closes (bounded wait).
        for _ in 0..200 {
            if idle.current()[0].sender.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(idle.pop(Duration::from_secs(3600)).is_none());
    }

    #[tokio::test]
    async fn idle_connections_are_capped() {
        let idle = IdleLists::new();
        let mut peers = Vec::new();
        for _ in 0..MAX_IDLE_PER_SERVER + 2 {
            let (sender, peer) = open_sender().await;
            peers.push(peer);
            idle.push(sender);
        }
        assert_eq!(idle.current().len(), MAX_IDLE_PER_SERVER);
    }
}
