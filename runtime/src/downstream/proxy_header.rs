//! The PROXY protocol header (HAProxy's `doc/proxy-protocol.txt`, version 1 or 2) that every
//! connection on an `accept_proxy` listener starts with: the client as the load balancer in
//! front saw it. Parsed with `ppp`, and read off the socket without taking a byte after it, so
//! what follows (a request head, a TLS hello, a tunnel's bytes) is read as if the header had
//! not been there. A connection without a valid header is refused, as HAProxy's
//! `accept-proxy` and nginx's `proxy_protocol` refuse it: its bytes are not trusted to be the
//! client's.

use std::{
    fmt, io,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use ppp::{v1, v2, HeaderResult, PartialResult};
use tokio::{io::AsyncReadExt, net::TcpStream};

/// The longest header read: version 1's is 107 bytes at most; version 2's is 16 bytes, the
/// addresses (36 for TCP over IPv6) and whatever TLVs the sender adds (cloud load balancers
/// add tens of bytes).
const MAX_HEADER: usize = 2048;

/// How long to wait before looking again at a header that came in pieces (a sender should
/// write it at once, and most do).
const PIECE_WAIT: Duration = Duration::from_millis(5);

/// Who the connection is for, as its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addresses {
    /// The client's address and port.
    pub(crate) client: SocketAddr,
    /// The address and port the client connected to.
    pub(crate) local: SocketAddr,
}

/// Why a connection was refused.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No complete header within the listener's `header_timeout`.
    Timeout,
    /// The client closed the connection before sending anything.
    Closed,
    Io(io::Error),
    /// The connection does not start with a PROXY protocol header, or with a malformed one.
    Malformed,
    /// A header longer than [`MAX_HEADER`] bytes.
    TooLong,
    /// A header for a transport other than TCP (UDP, unix sockets).
    NotTcp,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Timeout => f.write_str("no PROXY protocol header in time"),
            Refused::Closed => f.write_str("closed before sending a PROXY protocol header"),
            Refused::Io(error) => write!(f, "reading the PROXY protocol header: {error}"),
            Refused::Malformed => f.write_str("no valid PROXY protocol header"),
            Refused::TooLong => write!(f, "PROXY protocol header over {MAX_HEADER} bytes"),
            Refused::NotTcp => f.write_str("PROXY protocol header for another transport than TCP"),
        }
    }
}

impl From<io::Error> for Refused {
    fn from(error: io::Error) -> Self {
        Refused::Io(error)
    }
}

/// Reads the header `stream` starts with, within `within`. `None` for a header that names no
/// client (version 1's `UNKNOWN`, version 2's `LOCAL` command: the load balancer's own health
/// checks), whose connection keeps its own addresses.
pub(crate) async fn receive(
    stream: &mut TcpStream,
    within: Duration,
) -> Result<Option<Addresses>, Refused> {
    tokio::time::timeout(within, read(stream))
        .await
        .map_err(|_| Refused::Timeout)?
}

async fn read(stream: &mut TcpStream) -> Result<Option<Addresses>, Refused> {
    let mut buf = [0; MAX_HEADER];
    loop {
        let seen = stream.peek(&mut buf).await?;
        if seen == 0 {
            return Err(Refused::Closed);
        }
        let parsed = HeaderResult::parse(&buf[..seen]);
        if parsed.is_incomplete() {
            if seen == MAX_HEADER {
                return Err(Refused::TooLong);
            }
            // Peeking again at once would see the same bytes: the rest is waited for.
            tokio::time::sleep(PIECE_WAIT).await;
            continue;
        }
        let (length, addresses) = match parsed {
            HeaderResult::V1(Ok(header)) => (header.header.len(), from_v1(header.addresses)),
            HeaderResult::V2(Ok(header)) => (header.len(), from_v2(&header)?),
            HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => return Err(Refused::Malformed),
        };
        // Only the header is taken off the socket: what follows is the client's.
        stream.read_exact(&mut buf[..length]).await?;
        return Ok(addresses);
    }
}

fn from_v1(addresses: v1::Addresses) -> Option<Addresses> {
    match addresses {
        v1::Addresses::Unknown => None,
        v1::Addresses::Tcp4(ip) => Some(Addresses {
            client: SocketAddr::new(IpAddr::V4(ip.source_address), ip.source_port),
            local: SocketAddr::new(IpAddr::V4(ip.destination_address), ip.destination_port),
        }),
        v1::Addresses::Tcp6(ip) => Some(Addresses {
            client: SocketAddr::new(IpAddr::V6(ip.source_address), ip.source_port),
            local: SocketAddr::new(IpAddr::V6(ip.destination_address), ip.destination_port),
        }),
    }
}

fn from_v2(header: &v2::Header<'_>) -> Result<Option<Addresses>, Refused> {
    if header.command == v2::Command::Local {
        return Ok(None);
    }
    match header.addresses {
        v2::Addresses::Unspecified => Ok(None),
        _ if header.protocol != v2::Protocol::Stream => Err(Refused::NotTcp),
        v2::Addresses::IPv4(ip) => Ok(Some(Addresses {
            client: SocketAddr::new(IpAddr::V4(ip.source_address), ip.source_port),
            local: SocketAddr::new(IpAddr::V4(ip.destination_address), ip.destination_port),
        })),
        v2::Addresses::IPv6(ip) => Ok(Some(Addresses {
            client: SocketAddr::new(IpAddr::V6(ip.source_address), ip.source_port),
            local: SocketAddr::new(IpAddr::V6(ip.destination_address), ip.destination_port),
        })),
        v2::Addresses::Unix(_) => Err(Refused::NotTcp),
    }
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncWriteExt, net::TcpListener};

    use super::*;

    /// The two versions, as a balancer in front sends them.
    #[derive(Debug, Clone, Copy)]
    enum Version {
        V1,
        V2,
    }

    const CLIENT: &str = "203.0.113.7:5555";
    const LOCAL: &str = "192.0.2.1:443";

    /// A connected pair on loopback: (the proxy's end, the sender's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sender = TcpStream::connect(listener.local_addr().unwrap());
        let (sender, accepted) = tokio::join!(sender, listener.accept());
        (accepted.unwrap().0, sender.unwrap())
    }

    /// Sends `bytes`, reads the header within a second, then what follows it.
    async fn received(bytes: &[u8]) -> (Result<Option<Addresses>, Refused>, Vec<u8>) {
        let (mut proxy, mut sender) = pair().await;
        sender.write_all(bytes).await.unwrap();
        sender.shutdown().await.unwrap();
        let addresses = receive(&mut proxy, Duration::from_secs(1)).await;
        let mut rest = Vec::new();
        if addresses.is_ok() {
            proxy.read_to_end(&mut rest).await.unwrap();
        }
        (addresses, rest)
    }

    fn announced(client: &str, local: &str) -> Option<Addresses> {
        Some(Addresses {
            client: client.parse().unwrap(),
            local: local.parse().unwrap(),
        })
    }

    /// A header announcing `client` connecting to `local` (both IPv4 or both IPv6).
    fn sent(version: Version, client: &str, local: &str) -> Vec<u8> {
        let (client, local): (SocketAddr, SocketAddr) =
            (client.parse().unwrap(), local.parse().unwrap());
        match version {
            Version::V1 => {
                let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
                let (src, dst) = (client.ip(), local.ip());
                let (sport, dport) = (client.port(), local.port());
                format!("PROXY {family} {src} {dst} {sport} {dport}\r\n").into_bytes()
            }
            Version::V2 => {
                let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21".to_vec();
                let addresses = match (client.ip(), local.ip()) {
                    (IpAddr::V4(src), IpAddr::V4(dst)) => {
                        header.push(0x11);
                        [src.octets().to_vec(), dst.octets().to_vec()].concat()
                    }
                    (IpAddr::V6(src), IpAddr::V6(dst)) => {
                        header.push(0x21);
                        [src.octets().to_vec(), dst.octets().to_vec()].concat()
                    }
                    _ => panic!("one family"),
                };
                header.extend_from_slice(&(addresses.len() as u16 + 4).to_be_bytes());
                header.extend_from_slice(&addresses);
                header.extend_from_slice(&client.port().to_be_bytes());
                header.extend_from_slice(&local.port().to_be_bytes());
                header
            }
        }
    }

    #[tokio::test]
    async fn both_versions_give_the_client_and_leave_what_follows() {
        for version in [Version::V1, Version::V2] {
            for (client, local) in [(CLIENT, LOCAL), ("[2001:db8::7]:5555", "[2001:db8::1]:443")] {
                let mut bytes = sent(version, client, local);
                bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
                let (addresses, rest) = received(&bytes).await;
                assert_eq!(addresses.unwrap(), announced(client, local), "{version:?}");
                assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");
            }
        }
    }

    #[tokio::test]
    async fn a_header_in_pieces_is_waited_for() {
        let (mut proxy, mut sender) = pair().await;
        let header = sent(Version::V1, CLIENT, LOCAL);
        let (first, second) = header.split_at(9);
        sender.write_all(first).await.unwrap();
        let receiving = tokio::spawn(async move {
            let addresses = receive(&mut proxy, Duration::from_secs(5)).await;
            (addresses, proxy)
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        sender.write_all(second).await.unwrap();
        sender.write_all(b"rest").await.unwrap();
        sender.shutdown().await.unwrap();
        let (addresses, mut proxy) = receiving.await.unwrap();
        assert_eq!(addresses.unwrap(), announced(CLIENT, LOCAL));
        let mut rest = Vec::new();
        proxy.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"rest");
    }

    #[tokio::test]
    async fn health_checks_keep_the_connections_own_addresses() {
        let (addresses, rest) = received(b"PROXY UNKNOWN\r\nping").await;
        assert_eq!(addresses.unwrap(), None);
        assert_eq!(rest, b"ping");
        // Version 2, command LOCAL, no addresses.
        let mut local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec();
        local.extend_from_slice(b"ping");
        let (addresses, rest) = received(&local).await;
        assert_eq!(addresses.unwrap(), None);
        assert_eq!(rest, b"ping");
    }

    #[tokio::test]
    async fn version_2_tlvs_are_skipped() {
        let mut header = sent(Version::V2, CLIENT, LOCAL);
        // An AWS-style TLV (type 0xEA, 5 bytes) after the addresses; the length grows by 8.
        header.extend_from_slice(&[0xEA, 0x00, 0x05, 0x01, b'v', b'p', b'c', b'e']);
        let length = u16::from_be_bytes([header[14], header[15]]) + 8;
        header[14..16].copy_from_slice(&length.to_be_bytes());
        header.extend_from_slice(b"after");
        let (addresses, rest) = received(&header).await;
        assert_eq!(addresses.unwrap(), announced(CLIENT, LOCAL));
        assert_eq!(rest, b"after");
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        let refused = |result: Result<Option<Addresses>, Refused>| result.unwrap_err();
        assert!(matches!(
            refused(received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0),
            Refused::Malformed
        ));
        // A TLS hello where a header should be.
        assert!(matches!(
            refused(
                received(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                    .await
                    .0
            ),
            Refused::Malformed
        ));
        assert!(matches!(
            refused(
                received(b"PROXY TCP4 203.0.113.7 192.0.2.1 99999 443\r\n")
                    .await
                    .0
            ),
            Refused::Malformed
        ));
        assert!(matches!(refused(received(b"").await.0), Refused::Closed));
        // Cut short: peeking cannot tell a sender that closed from a slow one, so it waits.
        assert!(matches!(
            refused(received(b"PROXY TCP4 203.0.113").await.0),
            Refused::Timeout
        ));
        // Version 2 announcing more bytes than any header needs.
        let mut long = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00".to_vec();
        long.extend(std::iter::repeat_n(0, MAX_HEADER));
        assert!(matches!(refused(received(&long).await.0), Refused::TooLong));
        // Version 2 over UDP.
        let mut udp = sent(Version::V2, CLIENT, LOCAL);
        udp[13] = 0x12;
        assert!(matches!(refused(received(&udp).await.0), Refused::NotTcp));
    }

    #[tokio::test]
    async fn a_silent_client_is_refused_in_time() {
        let (mut proxy, mut sender) = pair().await;
        sender.write_all(b"PROXY TCP4 ").await.unwrap();
        let refused = receive(&mut proxy, Duration::from_millis(100)).await;
        assert!(matches!(refused, Err(Refused::Timeout)));
    }
}
