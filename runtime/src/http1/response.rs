//! Response heads from upstream servers: parsed with `httparse` from the front of the
//! connection's read buffer, their fields kept as slices of the bytes read (no copy), and their
//! framing decided as RFC 9112 §6.3 tells a client, along with whether the connection may carry
//! another request. A head whose framing is ambiguous or malformed is refused, never guessed.

use std::{fmt, mem::MaybeUninit};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, Method, StatusCode, Version};
use smallvec::SmallVec;

use crate::http1::{buffers, fields};

/// The most fields a response head may have (hyper's default).
pub(crate) const MAX_HEADERS: usize = 100;

/// The longest response head accepted (nginx's `proxy_buffer_size` is 4–8 KiB).
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Fields an answer may gain on its way to the client (request id, security headers, `Via`),
/// room for which is made at once rather than by growing the map.
const ROOM: usize = 8;

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request once this answer's body has ended.
    pub(crate) keep_alive: bool,
}

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: the answer to `HEAD`, a `1xx`, `204` or `304`.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// Why a response head was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not an HTTP/1.x response head.
    Malformed(httparse::Error),
    /// More than [`MAX_HEADERS`] fields.
    TooManyFields,
    /// Longer than [`MAX_HEAD`] bytes.
    TooLarge,
    /// A field name or value `http` does not accept.
    InvalidField,
    /// A `Content-Length` that is not a number, or several that differ.
    InvalidLength,
    /// `Transfer-Encoding` in an HTTP/1.0 answer, where it cannot be trusted (RFC 9112 §6.1).
    TransferEncodingInHttp10,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::Malformed(error) => write!(f, "malformed response head: {error}"),
            HeadError::TooManyFields => write!(f, "more than {MAX_HEADERS} response fields"),
            HeadError::TooLarge => write!(f, "response head longer than {MAX_HEAD} bytes"),
            HeadError::InvalidField => f.write_str("invalid response field"),
            HeadError::InvalidLength => f.write_str("invalid or conflicting Content-Length"),
            HeadError::TransferEncodingInHttp10 => {
                f.write_str("Transfer-Encoding in an HTTP/1.0 response")
            }
        }
    }
}

impl std::error::Error for HeadError {}

/// Which of an answer's fields never reach the map, whatever its `Connection` says: the
/// hop-by-hop and revealing fields the proxy drops (`forward::stripped_from_answers`).
pub(crate) type Stripped = fn(&HeaderName) -> bool;

/// Parses the response head at the front of `buf`, the answer to a `method` request. `None`
/// when the head is not complete yet; otherwise the head's bytes are taken off `buf`. The
/// fields `stripped` names, and those the answer's `Connection` names (but `Host`), are read
/// for framing and persistence and left out of the map: one pass does the proxy's hygiene.
pub(crate) fn parse(
    buf: &mut BytesMut,
    method: &Method,
    stripped: Stripped,
) -> Result<Option<Head>, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
        Err(error) => return Err(HeadError::Malformed(error)),
    };
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(HeadError::Malformed(httparse::Error::Status))?;
    // Where each field lies in the head, so that values become slices of the bytes read.
    let base = buf.as_ptr() as usize;
    let spans: SmallVec<[Span; 24]> = response
        .headers
        .iter()
        .map(|field| Span {
            name: field.name.as_ptr() as usize - base,
            name_len: field.name.len(),
            value: field.value.as_ptr() as usize - base,
            value_len: field.value.len(),
        })
        .collect();
    let head = buf.split_to(length).freeze();
    let mut reading = Reading::new(version);
    let mut headers = buffers::header_map(spans.len() + ROOM);
    for span in &spans {
        let name = fields::field_name(&head[span.name..span.name + span.name_len])
            .map_err(|_| HeadError::InvalidField)?;
        let value = span.value..span.value + span.value_len;
        reading.note(&name, &head[value.clone()])?;
        // A field left out needs no value of its own.
        if stripped(&name) {
            continue;
        }
        headers.append(name, fields::parsed_value(head.slice(value)));
    }
    // Fields the answer's `Connection` names are its connection's, not its own.
    if !reading.listed.is_empty() {
        for listed in &reading.listed {
            if let Ok(name) = HeaderName::from_bytes(listed) {
                if name != header::HOST {
                    headers.remove(name);
                }
            }
        }
    }
    if reading.transfer.is_some() && reading.length.is_some() {
        // The length is not the body's: it must not travel on with it (RFC 9112 §6.3).
        headers.remove(header::CONTENT_LENGTH);
    }
    let framing = reading.framing(status, method)?;
    let keep_alive = reading.keep_alive() && framing != Framing::UntilClose;
    Ok(Some(Head {
        status,
        headers,
        framing,
        keep_alive,
    }))
}

/// Where a field's name and value lie in the head's bytes.
struct Span {
    name: usize,
    name_len: usize,
    value: usize,
    value_len: usize,
}

/// What the fields read so far say about framing and persistence.
struct Reading {
    version: Version,
    length: Option<u64>,
    /// `Transfer-Encoding` was present; whether its last coding is `chunked`.
    transfer: Option<bool>,
    close: bool,
    keep_alive: bool,
    /// Other fields `Connection` names.
    listed: SmallVec<[Bytes; 2]>,
}

impl Reading {
    fn new(version: Version) -> Reading {
        Reading {
            version,
            length: None,
            transfer: None,
            close: false,
            keep_alive: false,
            listed: SmallVec::new(),
        }
    }

    fn note(&mut self, name: &HeaderName, value: &[u8]) -> Result<(), HeadError> {
        if name == header::CONTENT_LENGTH {
            for item in fields::tokens(value) {
                let length = fields::parse_length(item).ok_or(HeadError::InvalidLength)?;
                if self.length.is_some_and(|seen| seen != length) {
                    return Err(HeadError::InvalidLength);
                }
                self.length = Some(length);
            }
        } else if name == header::TRANSFER_ENCODING {
            if self.version == Version::HTTP_10 {
                return Err(HeadError::TransferEncodingInHttp10);
            }
            // Only the last coding of the last field counts.
            self.transfer = Some(fields::ends_chunked(value));
        } else if name == header::CONNECTION {
            for token in fields::tokens(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                } else if !token.is_empty() {
                    self.listed.push(Bytes::copy_from_slice(token));
                }
            }
        }
        Ok(())
    }

    /// RFC 9112 §6.3, in its order.
    fn framing(&self, status: StatusCode, method: &Method) -> Result<Framing, HeadError> {
        if method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(Framing::Empty);
        }
        Ok(match (self.transfer, self.length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(length)) => Framing::Length(length),
            (None, None) => Framing::UntilClose,
        })
    }

    /// Whether the server keeps the connection open after this answer. A `Transfer-Encoding`
    /// beside a `Content-Length` is obeyed, but the connection is not trusted again.
    fn keep_alive(&self) -> bool {
        let persistent = match self.version {
            Version::HTTP_10 => self.keep_alive && !self.close,
            _ => !self.close,
        };
        persistent && !(self.transfer.is_some() && self.length.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str, method: Method) -> Result<Option<Head>, HeadError> {
        parse(&mut BytesMut::from(head), &method, |_| false)
    }

    fn framing(head: &str) -> (Framing, bool) {
        let head = parsed(head, Method::GET).unwrap().unwrap();
        (head.framing, head.keep_alive)
    }

    #[test]
    fn a_head_is_taken_off_the_buffer_and_the_body_left() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello");
        let head = parse(&mut buf, &Method::GET, |_| false).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.headers["x-a"], "b");
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(&buf[..], b"hello");
    }

    #[test]
    fn an_incomplete_head_waits_for_more() {
        assert!(parsed("HTTP/1.1 200 OK\r\nContent-Len", Method::GET)
            .unwrap()
            .is_none());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            (Framing::Chunked, true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            (Framing::Chunked, true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n"),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
            (Framing::Empty, true)
        );
        assert_eq!(
            framing("HTTP/1.1 304 Not Modified\r\n\r\n"),
            (Framing::Empty, true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n"),
            (Framing::Length(3), true)
        );
        let head = parsed("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::HEAD)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn transfer_encoding_beside_a_length_wins_and_ends_the_connection() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(framing(text), (Framing::Chunked, false));
        let head = parsed(text, Method::GET).unwrap().unwrap();
        assert!(!head.headers.contains_key(header::CONTENT_LENGTH));
    }

    #[test]
    fn persistence_follows_the_version_and_connection() {
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            (Framing::Length(0), false)
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            (Framing::Length(0), false)
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n"),
            (Framing::Length(0), true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: upgrade, close\r\n\r\n"),
            (Framing::Length(0), false)
        );
    }

    #[test]
    fn bad_heads_are_refused() {
        let refused = |head: &str| parsed(head, Method::GET).unwrap_err();
        assert_eq!(
            refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            HeadError::InvalidLength
        );
        assert_eq!(
            refused("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n"),
            HeadError::InvalidLength
        );
        assert_eq!(
            refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            HeadError::InvalidLength
        );
        assert_eq!(
            refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::TransferEncodingInHttp10
        );
        assert!(matches!(
            refused("HTTP/2 200 OK\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            refused("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(refused(&many), HeadError::TooManyFields);
        let long = format!("HTTP/1.1 200 OK\r\nA: {}", "b".repeat(MAX_HEAD));
        assert_eq!(refused(&long), HeadError::TooLarge);
    }

    #[test]
    fn stripped_fields_and_those_connection_names_stay_out() {
        let text = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop, Host\r\nServer: nginx\r\n\
                    X-Hop: 1\r\nHost: h\r\nX-End: 2\r\nContent-Length: 0\r\n\r\n";
        let stripped: Stripped = |name| name == header::SERVER || name == header::CONNECTION;
        let head = parse(&mut BytesMut::from(text), &Method::GET, stripped)
            .unwrap()
            .unwrap();
        let mut names: Vec<&str> = head.headers.keys().map(|name| name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-length", "host", "x-end"]);
        assert!(head.keep_alive);
    }

    #[test]
    fn values_are_slices_of_the_bytes_read() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nX-Long: abcdefghijklmnop\r\n\r\n");
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let head = parse(&mut buf, &Method::GET, |_| false).unwrap().unwrap();
        let value = head.headers["x-long"].as_bytes().as_ptr() as usize;
        assert!((start..end).contains(&value));
    }
}
