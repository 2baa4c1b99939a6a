//! `mode tcp` listeners: each accepted connection goes, unparsed, to the gateway's
//! `handle_tcp` on its own task, which normally tunnels it to a pool (`Pool::tunnel`).
//!
//! Open tunnels are tracked for the drain: each task holds a receiver of the server's `closing`
//! channel, so the server can wait until none is left, and once the drain deadline has passed
//! it raises the flag and every task drops its tunnel, closing both connections.

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{io::AsyncReadExt, net::TcpStream, sync::watch};

use crate::{
    downstream::bound::{Bound, ACCEPT_BACKOFF},
    downstream::listener::TcpSpec,
    downstream::proxy_header,
    Gateway,
};

/// An accepted client connection on a `mode tcp` listener, built by the runtime and handed to
/// [`Gateway::handle_tcp`]. Dropping it closes the connection.
pub struct TcpConnection {
    pub(crate) stream: TcpStream,
    peer: SocketAddr,
    /// The address the client connected to as a PROXY protocol header gave it, on an
    /// `accept_proxy` listener.
    announced_local: Option<SocketAddr>,
    /// The listener's address, for when the connection's own cannot be read.
    bound: SocketAddr,
    listener: &'static str,
    idle_timeout: Duration,
    /// Bytes already read from the client (its TLS hello), to be sent to the server first.
    pub(crate) preread: Vec<u8>,
    /// The TLS server name, once looked for.
    server_name: Option<Option<Box<str>>>,
}

/// How long a client has to send its TLS hello when a route needs its server name.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS hello fits in one record (16 KiB) and its header; anything longer is not one.
const MAX_HELLO: usize = 16 * 1024 + 5;

impl fmt::Debug for TcpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnection")
            .field("listener", &self.listener)
            .field("peer", &self.peer)
            .field("local", &self.local())
            .finish()
    }
}

impl TcpConnection {
    /// The client's address (on an `accept_proxy` listener, as its PROXY protocol header
    /// says).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The address the client connected to: on an `accept_proxy` listener, as its PROXY
    /// protocol header says; else asked of the socket when needed (a system call most tunnels
    /// never make), as a listener on an unspecified address has many.
    pub fn local(&self) -> SocketAddr {
        self.announced_local
            .unwrap_or_else(|| self.stream.local_addr().unwrap_or(self.bound))
    }

    /// The name of the listener that accepted the connection.
    pub fn listener(&self) -> &'static str {
        self.listener
    }

    /// The server name the client asks for in its TLS hello (lower-case), read without
    /// terminating TLS: the bytes read are kept and sent to the server ahead of the rest, so
    /// the handshake goes through untouched. `None` when the client speaks something else than
    /// TLS, names no server, or has not sent its hello within 10 s.
    pub async fn server_name(&mut self) -> Option<&str> {
        if self.server_name.is_none() {
            let read = read_hello(&mut self.stream, &mut self.preread);
            let name = tokio::time::timeout(HELLO_TIMEOUT, read)
                .await
                .ok()
                .flatten();
            self.server_name = Some(name);
        }
        self.server_name.as_ref().and_then(|name| name.as_deref())
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
    let room = crate::downstream::bound::connection_room(&bound.spec.limits);
    loop {
        let Ok(place) = Arc::clone(&room).acquire_owned().await else {
            return;
        };
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
        let mut conn = TcpConnection {
            stream,
            peer,
            announced_local: None,
            bound: bound.addr,
            listener: name,
            idle_timeout: tcp.idle_timeout,
            preread: Vec::new(),
            server_name: None,
        };
        let (gateway, mut closing, id) = (Arc::clone(&gateway), closing.clone(), bound.id);
        let proxy_header = bound
            .spec
            .limits
            .accept_proxy
            .then_some(bound.spec.limits.header_timeout);
        // Boxed, as HTTP connections' tasks are (`accept`): spawning then moves a pointer
        // rather than the tunnel's whole state, several times.
        tokio::spawn(Box::pin(async move {
            let _place = place;
            if let Some(within) = proxy_header {
                match proxy_header::receive(&mut conn.stream, within).await {
                    Ok(Some(addresses)) => {
                        conn.peer = addresses.client;
                        conn.announced_local = Some(addresses.local);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::debug!(listener = name, %peer, %error, "connection refused");
                        return;
                    }
                }
            }
            tokio::select! {
                () = gateway.handle_tcp(id, conn) => {}
                _ = closing.wait_for(|closing| *closing) => {
                    tracing::debug!(listener = name, %peer, "drain deadline passed: connection closed");
                }
            }
        }));
    }
}

/// Reads the client's TLS hello into `buf` and returns the server name it carries.
async fn read_hello(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Box<str>> {
    loop {
        let mut acceptor = rustls::server::Acceptor::default();
        let mut unread = &buf[..];
        while !unread.is_empty() {
            if acceptor.read_tls(&mut unread).ok()? == 0 {
                break;
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let hello = accepted.client_hello();
                let name = hello.server_name()?.to_ascii_lowercase();
                return Some(name.into_boxed_str());
            }
            Ok(None) => {}
            Err(_) => return None,
        }
        if buf.len() >= MAX_HELLO || stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A real client hello for `name`, as rustls sends it.
    fn hello(name: &str) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        client.write_tls(&mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn the_server_name_is_read_from_a_hello_sent_in_pieces_and_kept() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bytes = hello("A.Example.com");
        let sent = bytes.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (first, rest) = sent.split_at(20);
            client.write_all(first).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            client.write_all(rest).await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let (stream, peer) = listener.accept().await.unwrap();
        let mut conn = TcpConnection {
            stream,
            peer,
            announced_local: None,
            bound: addr,
            listener: "edge",
            idle_timeout: Duration::from_secs(1),
            preread: Vec::new(),
            server_name: None,
        };
        assert_eq!(conn.server_name().await, Some("a.example.com"));
        assert_eq!(conn.preread, bytes);
    }

    #[tokio::test]
    async fn a_client_that_does_not_speak_tls_has_no_server_name() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        assert_eq!(read_hello(&mut stream, &mut buf).await, None);
    }
}
