//! Request heads from clients, parsed once with `httparse` from the front of the connection's
//! read buffer: the fields become slices of the bytes read (no copy) in the request the gateway
//! gets, and the framing rules are hyper's (RFC 9112 §6): `Transfer-Encoding` only in HTTP/1.1
//! and ending in `chunked`, `Content-Length` digits only and never two different ones. A head
//! with both stays for admission to refuse (`admit`), with no body read after it.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::{Method, Request, Uri, Version};
use smallvec::SmallVec;

use crate::http1::{buffers, fields};

/// The most fields a request head may have (hyper's default).
const MAX_FIELDS: usize = 100;

/// The longest request target accepted (hyper's limit).
const MAX_TARGET: usize = u16::MAX as usize - 1;

/// Fields a request may gain on its way upstream (forwarding fields, request id, trace
/// context), room for which is made at once rather than by growing the map.
const ROOM: usize = 8;

/// The start of the HTTP/2 connection preface, as `httparse` would meet it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A request head and what it says of its body and its connection.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request<()>,
    pub(crate) body: BodyLength,
    /// Whether the client lets the connection carry another request after this one.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending its body.
    pub(crate) expect_continue: bool,
    /// An HTTP/1.1 request with `Upgrade`: it may switch protocols.
    pub(crate) upgrade: bool,
}

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLength {
    /// No body; also for a head with both framings, which admission refuses.
    None,
    Length(u64),
    Chunked,
}

/// Why a request head was refused, and the status that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// `400`: not an HTTP/1.x request head, or fields `http` does not accept.
    Malformed,
    /// `400`: a `Content-Length` that is not a number, or several that differ.
    InvalidLength,
    /// `400`: `Transfer-Encoding` in HTTP/1.0, or not ending in `chunked`.
    InvalidTransferEncoding,
    /// `431`: longer than the listener's `max_header_size`, or too many fields.
    TooLarge,
    /// `414`: a request target longer than 64 KiB.
    TargetTooLong,
}

impl HeadError {
    pub(crate) fn status(self) -> u16 {
        match self {
            HeadError::Malformed
            | HeadError::InvalidLength
            | HeadError::InvalidTransferEncoding => 400,
            HeadError::TooLarge => 431,
            HeadError::TargetTooLong => 414,
        }
    }
}

/// Whether a connection's first bytes are the HTTP/2 preface; `None` while they may still be.
pub(crate) fn is_http2_preface(first: &[u8]) -> Option<bool> {
    if first.starts_with(H2_PREFACE) {
        Some(true)
    } else if H2_PREFACE.starts_with(first) {
        None
    } else {
        Some(false)
    }
}

/// Parses the request head at the front of `buf`, at most `max_head` bytes long. `None` when
/// it is not complete yet.
pub(crate) fn parse(buf: &mut BytesMut, max_head: usize) -> Result<Option<Head>, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(length)) if length > max_head => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buf.len() >= max_head => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Err(HeadError::Malformed);
    };
    if target.len() > MAX_TARGET {
        return Err(HeadError::TargetTooLong);
    }
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed)?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let base = buf.as_ptr() as usize;
    let target = span(base, target.as_bytes());
    let spans: SmallVec<[(Span, Span); 24]> = request
        .headers
        .iter()
        .map(|field| (span(base, field.name.as_bytes()), span(base, field.value)))
        .collect();
    let mut reading = Reading::new(version);
    for (name, value) in &spans {
        reading.look(&buf[name.range()], &buf[value.range()]);
    }
    let body = reading.body()?;
    let head = buf.split_to(length).freeze();
    let uri =
        Uri::from_maybe_shared(head.slice(target.range())).map_err(|_| HeadError::Malformed)?;
    let mut headers = buffers::header_map(spans.len() + ROOM);
    for (name, value) in &spans {
        let name = fields::field_name(&head[name.range()]).map_err(|_| HeadError::Malformed)?;
        headers.append(name, fields::parsed_value(head.slice(value.range())));
    }
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Ok(Some(Head {
        request: req,
        body,
        keep_alive: reading.keep_alive(),
        expect_continue: reading.expect_continue,
        upgrade: reading.upgrade && !reading.ambiguous(),
    }))
}

/// Where a part of the head lies in the buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

fn span(base: usize, part: &[u8]) -> Span {
    Span {
        start: part.as_ptr() as usize - base,
        len: part.len(),
    }
}

/// What the fields say of framing and persistence, read before the request is built.
struct Reading {
    version: Version,
    length: Option<Result<u64, HeadError>>,
    /// `Transfer-Encoding` was present; whether its last field ends in `chunked`.
    transfer: Option<bool>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    upgrade: bool,
}

impl Reading {
    fn new(version: Version) -> Reading {
        Reading {
            version,
            length: None,
            transfer: None,
            close: false,
            keep_alive: false,
            expect_continue: false,
            upgrade: false,
        }
    }

    fn look(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = fields::parse_length(value).ok_or(HeadError::InvalidLength);
            self.length = match (self.length, length) {
                (Some(Ok(seen)), Ok(length)) if seen != length => {
                    Some(Err(HeadError::InvalidLength))
                }
                (Some(Err(error)), _) => Some(Err(error)),
                (_, length) => Some(length),
            };
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer = Some(fields::ends_chunked(value));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in fields::tokens(value) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            self.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            // Upgrades are HTTP/1.1's.
            self.upgrade |= self.version == Version::HTTP_11;
        }
    }

    fn body(&self) -> Result<BodyLength, HeadError> {
        match (self.transfer, self.length) {
            (Some(_), _) if self.version == Version::HTTP_10 => {
                Err(HeadError::InvalidTransferEncoding)
            }
            (Some(false), _) => Err(HeadError::InvalidTransferEncoding),
            // Both: admission refuses the request, and nothing after its head is read.
            (Some(true), Some(_)) => Ok(BodyLength::None),
            (Some(true), None) => Ok(BodyLength::Chunked),
            (None, Some(Err(error))) => Err(error),
            (None, Some(Ok(0)) | None) => Ok(BodyLength::None),
            (None, Some(Ok(length))) => Ok(BodyLength::Length(length)),
        }
    }

    /// Both `Transfer-Encoding` and `Content-Length`: the shape of request smuggling.
    fn ambiguous(&self) -> bool {
        self.transfer.is_some() && self.length.is_some()
    }

    fn keep_alive(&self) -> bool {
        let framed = !self.ambiguous();
        let persistent = match self.version {
            Version::HTTP_10 => self.keep_alive && !self.close,
            _ => !self.close,
        };
        framed && persistent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;

    fn parsed(head: &str) -> Result<Option<Head>, HeadError> {
        parse(&mut BytesMut::from(head), MAX)
    }

    fn head(head: &str) -> Head {
        parsed(head).unwrap().expect("a whole head")
    }

    #[test]
    fn a_head_becomes_the_request_and_the_rest_stays() {
        let mut buf =
            BytesMut::from("POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET");
        let head = parse(&mut buf, MAX).unwrap().expect("a whole head");
        assert_eq!(head.request.method(), Method::POST);
        assert_eq!(head.request.uri(), "/a?b=c");
        assert_eq!(head.request.version(), Version::HTTP_11);
        assert_eq!(head.request.headers()["host"], "x");
        assert_eq!(head.body, BodyLength::Length(3));
        assert!(head.keep_alive);
        assert_eq!(&buf[..], b"abcGET");
    }

    #[test]
    fn incomplete_heads_wait_and_oversized_ones_are_refused() {
        assert!(parsed("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX));
        assert_eq!(parsed(&long).unwrap_err(), HeadError::TooLarge);
        let complete = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(100));
        assert_eq!(
            parse(&mut BytesMut::from(complete.as_str()), 64).unwrap_err(),
            HeadError::TooLarge
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_FIELDS + 1)
        );
        assert_eq!(parsed(&many).unwrap_err(), HeadError::TooLarge);
        let target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET));
        assert_eq!(
            parse(&mut BytesMut::from(target.as_str()), 2 * MAX).unwrap_err(),
            HeadError::TargetTooLong
        );
    }

    #[test]
    fn framing_follows_hypers_rules() {
        assert_eq!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").body,
            BodyLength::Chunked
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body,
            BodyLength::None
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n").body,
            BodyLength::Length(4)
        );
        let both =
            head("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(both.body, BodyLength::None);
        assert!(!both.keep_alive);
        assert!(both
            .request
            .headers()
            .contains_key(http::header::CONTENT_LENGTH));
        let refused = |text: &str| parsed(text).unwrap_err();
        assert_eq!(
            refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            HeadError::InvalidTransferEncoding
        );
        assert_eq!(
            refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::InvalidTransferEncoding
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"),
            HeadError::InvalidLength
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\n"),
            HeadError::InvalidLength
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            HeadError::InvalidLength
        );
    }

    #[test]
    fn persistence_follows_the_version_and_connection() {
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn upgrades_are_marked_and_the_http2_preface_known() {
        let text = "GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert!(head(text).upgrade);
        // HTTP/1.0 has no upgrades: the field is only forwarded.
        assert!(!head("GET / HTTP/1.0\r\nUpgrade: x\r\n\r\n").upgrade);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(is_http2_preface(preface), Some(true));
        assert_eq!(is_http2_preface(&preface[..10]), None);
        assert_eq!(is_http2_preface(b"GET / HTTP/1.1\r\n"), Some(false));
        // Anywhere but as a connection's first bytes, it is no request.
        assert!(parse(&mut BytesMut::from(&preface[..]), MAX).is_err());
    }

    #[test]
    fn malformed_heads_are_refused() {
        for text in [
            "GET / HTTP/2.0\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "G@T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
        ] {
            assert_eq!(parsed(text).unwrap_err().status(), 400, "{text:?}");
        }
    }

    #[test]
    fn values_are_slices_of_the_bytes_read() {
        let mut buf = BytesMut::from("GET / HTTP/1.1\r\nX-Long: abcdefghijklmnop\r\n\r\n");
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let head = parse(&mut buf, MAX).unwrap().expect("a whole head");
        let value = head.request.headers()["x-long"].as_bytes().as_ptr() as usize;
        assert!(range.contains(&value));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::http1::chunked::{Decoder, Step};
    use proptest::prelude::*;

    /// What the engine makes of one request in a stream.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        /// A request and its body, read to the end.
        Request(Vec<u8>),
        /// A request with both framings: admission refuses it and nothing after it is read.
        Ambiguous,
        /// A head or body the engine refuses; nothing after it is read.
        Refused,
    }

    /// Reads `bytes`, arriving in pieces cut at `cuts`, as the engine does: each head parsed
    /// once, its body skipped by its framing, until the stream ends or a request ends it.
    fn read(bytes: &[u8], cuts: &[usize]) -> Vec<Seen> {
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(bytes.len());
        let mut pieces = cuts.into_iter().scan(0, |start, cut| {
            let piece = &bytes[*start..cut.max(*start)];
            *start = cut.max(*start);
            Some(piece)
        });
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        let mut more = |buf: &mut BytesMut| match pieces.next() {
            Some(piece) => {
                buf.extend_from_slice(piece);
                true
            }
            None => false,
        };
        loop {
            let head = loop {
                match parse(&mut buf, 8192) {
                    Ok(Some(head)) => break head,
                    Ok(None) if more(&mut buf) => {}
                    Ok(None) => return seen,
                    Err(_) => {
                        seen.push(Seen::Refused);
                        return seen;
                    }
                }
            };
            let headers = head.request.headers();
            if headers.contains_key(http::header::TRANSFER_ENCODING)
                && headers.contains_key(http::header::CONTENT_LENGTH)
            {
                seen.push(Seen::Ambiguous);
                return seen;
            }
            let mut body = Vec::new();
            match head.body {
                BodyLength::None => {}
                BodyLength::Length(length) => {
                    let length = usize::try_from(length).unwrap();
                    while buf.len() < length {
                        if !more(&mut buf) {
                            return seen;
                        }
                    }
                    body.extend_from_slice(&buf.split_to(length));
                }
                BodyLength::Chunked => {
                    let mut decoder = Decoder::new();
                    loop {
                        match decoder.decode(&mut buf) {
                            Ok(Step::Data(data)) => body.extend_from_slice(&data),
                            Ok(Step::End(_)) => break,
                            Ok(Step::More) if more(&mut buf) => {}
                            Ok(Step::More) => return seen,
                            Err(_) => {
                                seen.push(Seen::Refused);
                                return seen;
                            }
                        }
                    }
                }
            }
            seen.push(Seen::Request(body));
        }
    }

    /// A few pipelined requests, each with a body framed by `Content-Length`, chunks, both or
    /// neither.
    fn requests() -> impl Strategy<Value = Vec<u8>> {
        let one = (0u8..4, "[a-z]{0,8}").prop_map(|(framing, body)| {
            let mut request = b"POST /x HTTP/1.1\r\nHost: a\r\n".to_vec();
            let chunked = if body.is_empty() {
                "0\r\n\r\n".to_owned()
            } else {
                format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len())
            };
            let (head, payload) = match framing {
                0 => (format!("Content-Length: {}\r\n", body.len()), body),
                1 => ("Transfer-Encoding: chunked\r\n".to_owned(), chunked),
                2 => (
                    format!(
                        "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                        body.len()
                    ),
                    chunked,
                ),
                _ => (String::new(), String::new()),
            };
            request.extend_from_slice(head.as_bytes());
            request.extend_from_slice(b"\r\n");
            request.extend_from_slice(payload.as_bytes());
            request
        });
        proptest::collection::vec(one, 1..4).prop_map(|requests| requests.concat())
    }

    proptest! {
        /// Where the reads fall never changes what the engine reads: a smuggling attempt split
        /// across any reads is still found, a clean stream is never flagged, and every body is
        /// read whole.
        #[test]
        fn what_is_read_does_not_depend_on_how_reads_fall(
            bytes in requests(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let whole = read(&bytes, &[]);
            prop_assert_eq!(&read(&bytes, &cuts), &whole);
            let text = String::from_utf8_lossy(&bytes);
            let smuggling = text
                .split("POST")
                .any(|r| r.contains("Content-Length") && r.contains("Transfer-Encoding"));
            prop_assert_eq!(whole.contains(&Seen::Ambiguous), smuggling, "{}", text);
            prop_assert!(!whole.contains(&Seen::Refused), "{}", text);
        }

        /// Arbitrary bytes in arbitrary reads never panic the engine's reading.
        #[test]
        fn any_bytes_in_any_reads_are_safe(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(read(&bytes, &cuts), read(&bytes, &[]));
        }
    }
}
