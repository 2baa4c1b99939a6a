//! `mode tcp` listeners: each accepted connection goes, unparsed, to the gateway's
//! `handle_tcp` on its own task, which normally tunnels it to a pool (`Pool::tunnel`).
//!
//! Open tunnels are tracked for the drain: each task holds a receiver of the server's `closing`
//! channel, so the server can wait until none is left, and once the drain deadline has passed
//! it raises the flag and every task drops its tunnel, closing both connections.

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpStream, sync::watch};

use crate::{
    server::{Bound, TcpSpec, ACCEPT_BACKOFF},
    Gateway,
};

/// An accepted client connection on a `mode tcp` listener, built by the runtime and handed to
/// [`Gateway::handle_tcp`]. Dropping it closes the connection.
pub struct TcpConnection {
    pub(crate) stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    listener: &'static str,
    idle_timeout: Duration,
}

impl fmt::Debug for TcpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnection")
            .field("listener", &self.listener)
            .field("peer", &self.peer)
            .field("local", &self.local)
            .finish()
    }
}

impl TcpConnection {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The address the client connected to.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The name of the listener that accepted the connection.
    pub fn listener(&self) -> &'static str {
        self.listener
    }

    /// How long a tunnel of this connection may carry no byte before it is closed.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

/// Accepts connections on a `mode tcp` listener and hands each to the gateway on its own task,
/// which ends early only if `closing` is raised (the drain deadline passed).
pub(crate) async fn accept<G: Gateway>(
    bound: Bound<G::Listener>,
    tcp: TcpSpec,
    gateway: Arc<G>,
    closing: watch::Receiver<bool>,
) {
    let name = bound.spec.name;
    loop {
        let (stream, peer) = match bound.listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(listener = name, %error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        // The accepted socket's own address: the listener's, with a wildcard bind resolved.
        let local = stream.local_addr().unwrap_or(bound.addr);
        let conn = TcpConnection {
            stream,
            peer,
            local,
            listener: name,
            idle_timeout: tcp.idle_timeout,
        };
        let (gateway, mut closing, id) = (Arc::clone(&gateway), closing.clone(), bound.id);
        tokio::spawn(async move {
            tokio::select! {
                () = gateway.handle_tcp(id, conn) => {}
                _ = closing.wait_for(|closing| *closing) => {
                    tracing::debug!(listener = name, %peer, "drain deadline passed: connection closed");
                }
            }
        });
    }
}
