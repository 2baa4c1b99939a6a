//! One client connection's TLS handshake, and what it settled: whether HTTP/2 was agreed by
//! ALPN, and the subject of the client's verified certificate, rendered once per connection
//! for the `X-Client-Cert-Subject` request header.

use std::{net::SocketAddr, time::Duration};

use http::HeaderValue;
use tokio::net::TcpStream;
use tokio_rustls::{server::TlsStream, TlsAcceptor};
use x509_cert::{der::Decode, Certificate};

use super::TlsListener;

/// What a finished handshake settled.
pub(crate) struct Negotiated {
    /// ALPN chose `h2`; otherwise the connection speaks HTTP/1.1.
    pub(crate) h2: bool,
    /// The verified client certificate's subject (RFC 4514), when the client sent one.
    pub(crate) client_subject: Option<HeaderValue>,
}

/// Runs the server side of the handshake on `stream` with the listener's current certificates,
/// within `timeout`. Failures are the client's business and only logged at debug.
pub(crate) async fn handshake(
    listener: &TlsListener,
    stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<(TlsStream<TcpStream>, Negotiated)> {
    let acceptor = TlsAcceptor::from(listener.config());
    let name = listener.name();
    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(listener = name, %peer, %error, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(listener = name, %peer, ?timeout, "TLS handshake timed out");
            return None;
        }
    };
    let (_, connection) = stream.get_ref();
    let negotiated = Negotiated {
        h2: connection.alpn_protocol() == Some(b"h2"),
        client_subject: connection
            .peer_certificates()
            .and_then(<[_]>::first)
            .and_then(|cert| subject(cert)),
    };
    Some((stream, negotiated))
}

/// The subject of a DER certificate as an RFC 4514 string (`CN=client,O=Example`).
fn subject(der: &[u8]) -> Option<HeaderValue> {
    let cert = Certificate::from_der(der).ok()?;
    HeaderValue::try_from(cert.tbs_certificate.subject.to_string()).ok()
}
