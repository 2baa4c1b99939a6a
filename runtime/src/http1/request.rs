//! Request heads sent upstream: the request line and fields written in one pass into the
//! connection's write buffer, with framing of Edge's own choosing for the body that follows.
//! Whatever `Content-Length` or `Transfer-Encoding` the fields carry is left out: the body
//! is re-framed, never described by the client's bytes.

use bytes::{BufMut, BytesMut};
use http::{header, HeaderMap, Method, Uri};

use crate::http1::fields;

/// How a request's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body, and no field saying so.
    None,
    /// `Content-Length`: a body known to be this long (0 for an empty body of a method that
    /// normally has one).
    Length(u64),
    /// Chunked transfer coding, for a body of unknown length.
    Chunked,
}

impl BodyFraming {
    /// The framing for a body of `exact` bytes if known, `ended` when it has no bytes at all.
    pub(crate) fn of(method: &Method, ended: bool, exact: Option<u64>) -> BodyFraming {
        match (ended, exact) {
            (true, _) | (false, Some(0)) if expects_body(method) => BodyFraming::Length(0),
            (true, _) | (false, Some(0)) => BodyFraming::None,
            (false, Some(length)) => BodyFraming::Length(length),
            (false, None) => BodyFraming::Chunked,
        }
    }
}

/// Methods whose requests normally carry a body, so that an empty one is said to be empty
/// (RFC 9110 §8.6), as hyper and curl do.
fn expects_body(method: &Method) -> bool {
    method == Method::POST || method == Method::PUT || method == Method::PATCH
}

/// Appends the head of a `method` request for `uri` with `headers`, as HTTP/1.1 with
/// `framing`, to `out`.
pub(crate) fn encode(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    framing: BodyFraming,
    out: &mut BytesMut,
) {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let target = if target.is_empty() { "/" } else { target };
    out.put_slice(method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    match framing {
        BodyFraming::None => {}
        BodyFraming::Length(length) => {
            out.put_slice(b"content-length: ");
            out.put_slice(fields::decimal(length).as_bytes());
            out.put_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(req: http::Request<()>, framing: BodyFraming) -> String {
        let mut out = BytesMut::new();
        encode(req.method(), req.uri(), req.headers(), framing, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn the_head_is_the_request_line_the_fields_and_the_framing() {
        let req = http::Request::post("http://example.com/a/b?c=d")
            .header("host", "example.com")
            .header("x-many", "1")
            .header("x-many", "2")
            .body(())
            .unwrap();
        assert_eq!(
            encoded(req, BodyFraming::Length(12)),
            "POST /a/b?c=d HTTP/1.1\r\nhost: example.com\r\nx-many: 1\r\nx-many: 2\r\n\
             content-length: 12\r\n\r\n"
        );
    }

    #[test]
    fn the_clients_framing_fields_are_replaced() {
        let req = http::Request::put("/up")
            .header("content-length", "5")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        assert_eq!(
            encoded(req, BodyFraming::Chunked),
            "PUT /up HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn an_empty_target_is_the_root() {
        let req = http::Request::get("http://example.com").body(()).unwrap();
        assert_eq!(encoded(req, BodyFraming::None), "GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn framing_is_chosen_by_method_and_body() {
        assert_eq!(
            BodyFraming::of(&Method::GET, true, Some(0)),
            BodyFraming::None
        );
        assert_eq!(
            BodyFraming::of(&Method::POST, true, Some(0)),
            BodyFraming::Length(0)
        );
        assert_eq!(
            BodyFraming::of(&Method::GET, false, Some(3)),
            BodyFraming::Length(3)
        );
        assert_eq!(
            BodyFraming::of(&Method::POST, false, None),
            BodyFraming::Chunked
        );
    }
}
