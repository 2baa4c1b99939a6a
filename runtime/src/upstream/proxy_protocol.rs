//! The PROXY protocol header a tunnel sends to its server before the client's bytes, so the
//! server learns who the client is (HAProxy's `send-proxy` / `send-proxy-v2`; the spec is
//! HAProxy's `doc/proxy-protocol.txt`). Version 1 is a text line, version 2 a binary block; both
//! carry the client's address and port and the address and port it connected to. A header is
//! built on the stack: nothing is allocated.

use std::{
    fmt::Display,
    io::Write,
    net::{IpAddr, Ipv6Addr, SocketAddr},
};

/// Whether, and in which version, a pool's tunnels start with a PROXY protocol header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// No header: the server sees the proxy as its client.
    None,
    /// The text header, `PROXY TCP4 src dst sport dport\r\n`.
    V1,
    /// The binary header.
    V2,
}

/// The longest version 1 header, per the spec; a header is built in a buffer this long.
const V1_MAX: usize = 107;

/// Starts every version 2 header.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 2, command PROXY (the connection was relayed for a client).
const V2_PROXY: u8 = 0x21;
/// Address family and transport: TCP over IPv4, TCP over IPv6.
const V2_TCP4: u8 = 0x11;
const V2_TCP6: u8 = 0x21;

/// A header ready to be written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    bytes: [u8; V1_MAX],
    len: usize,
}

impl Header {
    /// The header for a connection from `source` to `destination`, or `None` for
    /// [`ProxyProtocol::None`]. Two IPv4 addresses (IPv4-mapped IPv6 ones included) are sent as
    /// TCP4; anything else as TCP6, an IPv4 address among them mapped into IPv6.
    pub(crate) fn new(
        version: ProxyProtocol,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Option<Header> {
        let mut header = Header {
            bytes: [0; V1_MAX],
            len: 0,
        };
        let ports = (source.port(), destination.port());
        match (source.ip().to_canonical(), destination.ip().to_canonical()) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => match version {
                ProxyProtocol::None => return None,
                ProxyProtocol::V1 => header.v1("TCP4", src, dst, ports),
                ProxyProtocol::V2 => header.v2(V2_TCP4, &src.octets(), &dst.octets(), ports),
            },
            (src, dst) => {
                let (src, dst) = (ipv6(src), ipv6(dst));
                match version {
                    ProxyProtocol::None => return None,
                    ProxyProtocol::V1 => header.v1("TCP6", src, dst, ports),
                    ProxyProtocol::V2 => header.v2(V2_TCP6, &src.octets(), &dst.octets(), ports),
                }
            }
        }
        Some(header)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn v1(&mut self, family: &str, src: impl Display, dst: impl Display, ports: (u16, u16)) {
        let (sport, dport) = ports;
        let mut out = &mut self.bytes[..];
        write!(out, "PROXY {family} {src} {dst} {sport} {dport}\r\n")
            .expect("the longest header fits in V1_MAX bytes");
        self.len = V1_MAX - out.len();
    }

    fn v2(&mut self, family: u8, src: &[u8], dst: &[u8], ports: (u16, u16)) {
        let (sport, dport) = ports;
        let addresses = src.len() + dst.len() + 4;
        let length = u16::try_from(addresses).expect("at most 36 bytes of addresses");
        let parts: [&[u8]; 7] = [
            &V2_SIGNATURE,
            &[V2_PROXY, family],
            &length.to_be_bytes(),
            src,
            dst,
            &sport.to_be_bytes(),
            &dport.to_be_bytes(),
        ];
        for part in parts {
            self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
            self.len += part.len();
        }
    }
}

fn ipv6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(ip) => ip.to_ipv6_mapped(),
        IpAddr::V6(ip) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: ProxyProtocol, source: &str, destination: &str) -> Vec<u8> {
        Header::new(
            version,
            source.parse().unwrap(),
            destination.parse().unwrap(),
        )
        .unwrap()
        .as_bytes()
        .to_vec()
    }

    #[test]
    fn no_header_without_the_protocol() {
        let addr = "192.0.2.1:1".parse().unwrap();
        assert!(Header::new(ProxyProtocol::None, addr, addr).is_none());
    }

    #[test]
    fn v1_ipv4() {
        assert_eq!(
            header(ProxyProtocol::V1, "192.168.0.1:56324", "192.168.0.11:443"),
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
    }

    #[test]
    fn v1_ipv6() {
        assert_eq!(
            header(ProxyProtocol::V1, "[2001:db8::1]:56324", "[::1]:8443"),
            b"PROXY TCP6 2001:db8::1 ::1 56324 8443\r\n"
        );
    }

    #[test]
    fn v1_longest_header_fits() {
        let full = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        let bytes = header(ProxyProtocol::V1, full, full);
        // The spec's 107 bytes is for `PROXY UNKNOWN`, which is never sent.
        assert_eq!(bytes.len(), 104);
        assert!(bytes.ends_with(b" 65535 65535\r\n"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        assert_eq!(
            header(
                ProxyProtocol::V1,
                "[::ffff:10.0.0.1]:1000",
                "[::ffff:10.0.0.2]:80"
            ),
            b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\n"
        );
    }

    #[test]
    fn mixed_families_are_sent_as_ipv6() {
        assert_eq!(
            header(ProxyProtocol::V1, "10.0.0.1:1000", "[2001:db8::2]:80"),
            b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1000 80\r\n"
        );
    }

    #[test]
    fn v2_ipv4() {
        let expected: &[u8] = &[
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
            0x0a, // signature
            0x21, // version 2, PROXY
            0x11, // TCP over IPv4
            0x00, 0x0c, // 12 bytes of addresses
            192, 168, 0, 1, // source
            192, 168, 0, 11, // destination
            0xdc, 0x04, // 56324
            0x01, 0xbb, // 443
        ];
        assert_eq!(
            header(ProxyProtocol::V2, "192.168.0.1:56324", "192.168.0.11:443"),
            expected
        );
    }

    #[test]
    fn v2_ipv6() {
        let expected: &[u8] = &[
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
            0x0a, // signature
            0x21, // version 2, PROXY
            0x21, // TCP over IPv6
            0x00, 0x24, // 36 bytes of addresses
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // ::1
            0xdc, 0x04, // 56324
            0x20, 0xfb, // 8443
        ];
        assert_eq!(
            header(ProxyProtocol::V2, "[2001:db8::1]:56324", "[::1]:8443"),
            expected
        );
    }

    /// What a pool sends, a listener with `accept_proxy` reads back whole, and nothing more.
    #[tokio::test]
    async fn an_accepting_listener_reads_what_a_pool_sends() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        for version in [ProxyProtocol::V1, ProxyProtocol::V2] {
            for (source, destination) in [
                ("203.0.113.7:5555", "192.0.2.1:443"),
                ("[2001:db8::7]:5555", "[2001:db8::1]:443"),
            ] {
                let mut sender = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap();
                let (mut accepted, _) = listener.accept().await.unwrap();
                sender
                    .write_all(&header(version, source, destination))
                    .await
                    .unwrap();
                sender.write_all(b"after").await.unwrap();
                let within = std::time::Duration::from_secs(5);
                let read = crate::downstream::proxy_header::receive(&mut accepted, within);
                let addresses = read.await.unwrap().expect("a client");
                assert_eq!(addresses.client, source.parse().unwrap(), "{version:?}");
                assert_eq!(addresses.local, destination.parse().unwrap(), "{version:?}");
                let mut after = [0; 5];
                accepted.read_exact(&mut after).await.unwrap();
                assert_eq!(&after, b"after");
            }
        }
    }
}
