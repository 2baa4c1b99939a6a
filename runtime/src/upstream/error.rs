//! Why a request could not be forwarded, and the one place that turns that into a status.

use std::{fmt, io, time::Duration};

use http::{header::RETRY_AFTER, HeaderValue};

use crate::{body::BodyFault, http1::client::Broken, respond, Response};

/// How long a client is asked to wait when no server can take its request.
const RETRY_AFTER_SECS: HeaderValue = HeaderValue::from_static("1");

/// A failed exchange with an upstream server.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No TCP connection within the connect timeout.
    ConnectTimeout(Duration),
    /// The TCP connection failed (refused, unreachable, name not resolved).
    Connect(io::Error),
    /// The TLS handshake failed: the server's certificate did not verify, it wanted a client
    /// certificate the pool has not, or it does not speak TLS.
    Tls(io::Error),
    /// The HTTP/1 handshake over a fresh connection failed.
    Handshake(hyper::Error),
    /// No response head within the response timeout.
    ResponseTimeout(Duration),
    /// The connection broke while sending the request or reading the response head (hyper's
    /// client: HTTP/2, upgrades).
    Exchange(hyper::Error),
    /// The same, on an HTTP/1.1 connection of Edge's own client; or the head was refused.
    Broken(Broken),
    /// The server answered `101 Switching Protocols` to a request that asked for no upgrade
    /// (or for one that is not tunnelled): passing it on would hand the client's connection to
    /// a protocol no route or policy sees.
    UnaskedSwitch,
    /// No server of the pool is usable: all down, or all at their connection cap.
    Unavailable,
    /// The client's body failed while it was being sent: past the cap a policy set, malformed
    /// or cut off, or stalled past the body timeout. The client's fault, never the server's:
    /// not counted against it, never retried.
    ClientBody(BodyFault),
}

impl UpstreamError {
    /// The answer the client gets: 504 for timeouts, 503 with `Retry-After` when no server is
    /// usable, 413, 400 or 408 for the client's own body, 502 otherwise. No detail leaks.
    pub(crate) fn response(&self) -> Response {
        match self {
            UpstreamError::ConnectTimeout(_) | UpstreamError::ResponseTimeout(_) => {
                respond(504, "504 Gateway Timeout\n")
            }
            UpstreamError::Connect(_)
            | UpstreamError::Tls(_)
            | UpstreamError::Handshake(_)
            | UpstreamError::Exchange(_)
            | UpstreamError::Broken(_)
            | UpstreamError::UnaskedSwitch => respond(502, "502 Bad Gateway\n"),
            UpstreamError::ClientBody(BodyFault::TooLarge) => {
                respond(413, "413 Content Too Large\n")
            }
            UpstreamError::ClientBody(BodyFault::Broken) => {
                respond(400, "400 Bad Request: the request body could not be read\n")
            }
            UpstreamError::ClientBody(BodyFault::TimedOut) => respond(408, "408 Request Timeout\n"),
            UpstreamError::Unavailable => {
                let mut response = respond(503, "503 Service Unavailable\n");
                response.headers_mut().insert(RETRY_AFTER, RETRY_AFTER_SECS);
                response
            }
        }
    }
}

impl UpstreamError {
    /// The kind of failure, as a span's `error.type` names it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            UpstreamError::ConnectTimeout(_) => "connect_timeout",
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Tls(_) => "tls",
            UpstreamError::Handshake(_) => "handshake",
            UpstreamError::ResponseTimeout(_) => "response_timeout",
            UpstreamError::Exchange(_) | UpstreamError::Broken(_) => "exchange",
            UpstreamError::UnaskedSwitch => "unasked_switch",
            UpstreamError::Unavailable => "unavailable",
            UpstreamError::ClientBody(_) => "client_body",
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::ConnectTimeout(after) => write!(f, "no connection within {after:?}"),
            UpstreamError::Connect(e) => write!(f, "cannot connect: {e}"),
            UpstreamError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            UpstreamError::Handshake(e) => write!(f, "handshake failed: {e}"),
            UpstreamError::ResponseTimeout(after) => write!(f, "no response within {after:?}"),
            UpstreamError::Exchange(e) => write!(f, "exchange failed: {e}"),
            UpstreamError::Broken(e) => write!(f, "exchange failed: {e}"),
            UpstreamError::UnaskedSwitch => f.write_str("switched protocols unasked"),
            UpstreamError::Unavailable => f.write_str("no server is usable"),
            UpstreamError::ClientBody(fault) => {
                write!(f, "the client's request body failed: {fault:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_504_and_the_rest_502() {
        let second = Duration::from_secs(1);
        assert_eq!(
            UpstreamError::ConnectTimeout(second).response().status(),
            504
        );
        assert_eq!(
            UpstreamError::ResponseTimeout(second).response().status(),
            504
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(UpstreamError::Connect(refused).response().status(), 502);
    }

    #[test]
    fn no_usable_server_is_503_with_retry_after() {
        let response = UpstreamError::Unavailable.response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }
}
