//! Spots HTTP/1 requests whose framing is ambiguous: `Transfer-Encoding` and `Content-Length`
//! together, the shape of request smuggling (RFC 9112 §6.1).
//!
//! hyper accepts such a request, drops `Content-Length` and closes the connection after it, so
//! the runtime cannot see the conflict in the parsed request. [`Guarded`] therefore follows the
//! client's byte stream as hyper reads it: it parses each request head with `httparse` (hyper's
//! own parser) and skips the body by its framing to find the next head. When it meets an
//! ambiguous head it raises a per-connection flag, which the request checks turn into a 400
//! before the gateway runs. The scan stops on anything it does not follow (an HTTP/2 preface,
//! a malformed head, which hyper refuses itself) and after raising the flag.
//!
//! The same reader tells the connection's watchdog when a head has begun and not yet ended,
//! and when a write waits for the client to take bytes (`watchdog::Activity`).

use std::{
    io,
    mem::MaybeUninit,
    pin::Pin,
    sync::{atomic::Ordering, Arc},
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::downstream::watchdog::Activity;

/// hyper's default limit on the number of request headers.
const MAX_HEADERS: usize = 100;

/// A client connection whose requests' framing is watched.
#[derive(Debug)]
pub(crate) struct Guarded<T> {
    io: T,
    scanner: Scanner,
    activity: Arc<Activity>,
}

impl<T> Guarded<T> {
    /// Watches `io`; `activity.ambiguous_framing` is set once a request with ambiguous framing
    /// has been read.
    pub(crate) fn new(io: T, activity: Arc<Activity>, max_head: usize) -> Self {
        Guarded {
            io,
            scanner: Scanner::new(max_head),
            activity,
        }
    }

    /// Reports writes only, for a connection that is not HTTP/1 (HTTP/2 chosen by ALPN).
    pub(crate) fn unscanned(io: T, activity: Arc<Activity>) -> Self {
        Guarded {
            io,
            scanner: Scanner::off(),
            activity,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if this.scanner.state != State::Off {
            if this.scanner.feed(&buf.filled()[before..]) == Verdict::Ambiguous {
                this.activity
                    .ambiguous_framing
                    .store(true, Ordering::Relaxed);
            }
            this.activity.head(!this.scanner.partial.is_empty());
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.activity.write(written.is_pending());
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.activity.write(written.is_pending());
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        this.activity.write(flushed.is_pending());
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Fine,
    Ambiguous,
}

/// Follows request boundaries in a client's byte stream.
#[derive(Debug)]
struct Scanner {
    state: State,
    /// A request head split across reads; empty in the common case of a head in one read.
    partial: Vec<u8>,
    max_head: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a request head.
    Head,
    /// Inside a body of known length: bytes left.
    Fixed(u64),
    Chunked(Chunk),
    /// No longer scanning.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex chunk size.
    Size(u64),
    /// Skipping a chunk extension up to the end of the size line.
    Extension(u64),
    /// Inside chunk data: bytes left.
    Data(u64),
    /// Expecting the line end after chunk data.
    DataEnd,
    /// Reading trailer lines after the last chunk; true at the start of a line.
    Trailers(bool),
}

/// How a parsed head says its body is framed.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Ambiguous,
    Unknown,
}

impl Scanner {
    fn new(max_head: usize) -> Self {
        Scanner {
            state: State::Head,
            partial: Vec::new(),
            max_head,
        }
    }

    fn off() -> Self {
        Scanner {
            state: State::Off,
            partial: Vec::new(),
            max_head: 0,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) -> Verdict {
        while !bytes.is_empty() {
            match self.state {
                State::Off => break,
                State::Head => match self.head(bytes) {
                    Some((used, verdict)) => {
                        bytes = &bytes[used..];
                        if verdict == Verdict::Ambiguous {
                            return verdict;
                        }
                    }
                    None => break,
                },
                State::Fixed(left) => {
                    let skipped = left.min(bytes.len() as u64);
                    bytes = &bytes[skipped as usize..];
                    self.state = match left - skipped {
                        0 => State::Head,
                        left => State::Fixed(left),
                    };
                }
                State::Chunked(Chunk::Data(left)) => {
                    let skipped = left.min(bytes.len() as u64);
                    bytes = &bytes[skipped as usize..];
                    self.state = State::Chunked(match left - skipped {
                        0 => Chunk::DataEnd,
                        left => Chunk::Data(left),
                    });
                }
                State::Chunked(chunk) => {
                    self.state = chunk_step(chunk, bytes[0]);
                    bytes = &bytes[1..];
                }
            }
        }
        Verdict::Fine
    }

    /// Parses a head at the start of `bytes` (after any partial head kept from earlier reads).
    /// Returns how many bytes of `bytes` it used, or `None` when all were used or kept.
    fn head(&mut self, bytes: &[u8]) -> Option<(usize, Verdict)> {
        let kept = self.partial.len();
        if kept > 0 {
            self.partial.extend_from_slice(bytes);
        }
        let head = if kept > 0 { &self.partial[..] } else { bytes };
        // Left uninitialised: the parser writes the headers it finds (no 3 KiB fill per head).
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(head, &mut headers) {
            Ok(httparse::Status::Complete(len)) => {
                let framing = framing(request.headers);
                self.partial.clear();
                let (state, verdict) = match framing {
                    Framing::None => (State::Head, Verdict::Fine),
                    Framing::Length(0) => (State::Head, Verdict::Fine),
                    Framing::Length(n) => (State::Fixed(n), Verdict::Fine),
                    Framing::Chunked => (State::Chunked(Chunk::Size(0)), Verdict::Fine),
                    Framing::Ambiguous => (State::Off, Verdict::Ambiguous),
                    Framing::Unknown => (State::Off, Verdict::Fine),
                };
                self.state = state;
                Some((len - kept, verdict))
            }
            Ok(httparse::Status::Partial) if head.len() <= self.max_head => {
                if kept == 0 {
                    self.partial.extend_from_slice(bytes);
                }
                None
            }
            Ok(httparse::Status::Partial) | Err(_) => {
                self.partial = Vec::new();
                self.state = State::Off;
                None
            }
        }
    }
}

/// Reads the body framing from a request's headers the way hyper does.
fn framing(headers: &[httparse::Header<'_>]) -> Framing {
    let mut length: Option<u64> = None;
    let mut has_length = false;
    let mut chunked = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if header.name.eq_ignore_ascii_case("content-length") {
            has_length = true;
            let value = std::str::from_utf8(header.value).ok();
            match (value.and_then(|v| v.trim().parse().ok()), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Framing::Unknown,
            }
        }
    }
    match (chunked, has_length) {
        (Some(_), true) => Framing::Ambiguous,
        (Some(true), false) => Framing::Chunked,
        (Some(false), false) => Framing::Unknown,
        (None, _) => length.map_or(Framing::None, Framing::Length),
    }
}

/// One byte of chunked framing outside chunk data.
fn chunk_step(chunk: Chunk, byte: u8) -> State {
    let next = match (chunk, byte) {
        (Chunk::Size(size), b'\n') | (Chunk::Extension(size), b'\n') => match size {
            0 => Chunk::Trailers(true),
            size => Chunk::Data(size),
        },
        (Chunk::Size(size), _) if byte.is_ascii_hexdigit() => {
            let digit = u64::from(char::from(byte).to_digit(16).unwrap_or(0));
            match size.checked_mul(16) {
                Some(size) => Chunk::Size(size + digit),
                None => return State::Off,
            }
        }
        (Chunk::Size(size), b'\r') => Chunk::Size(size),
        (Chunk::Size(size), b';' | b' ' | b'\t') => Chunk::Extension(size),
        (Chunk::Extension(size), _) => Chunk::Extension(size),
        (Chunk::DataEnd, b'\r') => Chunk::DataEnd,
        (Chunk::DataEnd, b'\n') => Chunk::Size(0),
        (Chunk::Trailers(true), b'\n') => return State::Head,
        (Chunk::Trailers(_), b'\n') => Chunk::Trailers(true),
        (Chunk::Trailers(at_start), b'\r') => Chunk::Trailers(at_start),
        (Chunk::Trailers(_), _) => Chunk::Trailers(false),
        (Chunk::Size(_) | Chunk::DataEnd | Chunk::Data(_), _) => return State::Off,
    };
    State::Chunked(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(pieces: &[&[u8]]) -> (Verdict, State) {
        let mut scanner = Scanner::new(8192);
        for piece in pieces {
            if scanner.feed(piece) == Verdict::Ambiguous {
                return (Verdict::Ambiguous, scanner.state);
            }
        }
        (Verdict::Fine, scanner.state)
    }

    /// Feeds `stream` whole, then in every split into two reads, then byte by byte.
    fn scan_all_ways(stream: &[u8]) -> (Verdict, State) {
        let whole = scan(&[stream]);
        for split in 1..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(scan(&[a, b]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(scan(&bytes), whole, "byte by byte");
        whole
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn plain_requests_are_fine() {
        assert_eq!(scan_all_ways(GET), (Verdict::Fine, State::Head));
        let two = [GET, GET].concat();
        assert_eq!(scan_all_ways(&two), (Verdict::Fine, State::Head));
    }

    #[test]
    fn te_and_cl_together_are_ambiguous() {
        let cases: &[&[u8]] = &[
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 0\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(
                scan_all_ways(case).0,
                Verdict::Ambiguous,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn smuggling_after_a_sized_body_is_found() {
        let stream = [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\nGET / HTTP/1.1"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        ]
        .concat();
        assert_eq!(scan_all_ways(&stream).0, Verdict::Ambiguous);
    }

    #[test]
    fn chunked_bodies_are_skipped() {
        let stream = [
            &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            GET,
        ]
        .concat();
        assert_eq!(scan_all_ways(&stream), (Verdict::Fine, State::Head));
        // A chunk that only looks like a smuggled head is data.
        let body = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
        let stream = [
            &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            format!("{:x}\r\n", body.len()).as_bytes(),
            body,
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(scan_all_ways(&stream), (Verdict::Fine, State::Head));
    }

    #[test]
    fn unfollowable_streams_stop_the_scan() {
        assert_eq!(scan(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]).1, State::Off);
        assert_eq!(
            scan(&[b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"]).1,
            State::Off
        );
        let mut scanner = Scanner::new(16);
        scanner.feed(b"GET /a-very-long-path HTTP/1.1\r\n");
        assert_eq!(scanner.state, State::Off);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `bytes` in pieces cut at `cuts`; whether a request was found ambiguous.
    fn verdict(bytes: &[u8], cuts: &[usize]) -> bool {
        let mut scanner = Scanner::new(8192);
        let mut ambiguous = false;
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(bytes.len());
        for cut in cuts {
            if cut > start {
                ambiguous |= scanner.feed(&bytes[start..cut]) == Verdict::Ambiguous;
                start = cut;
            }
        }
        ambiguous
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
        /// Where the reads fall never changes what the guard sees: a smuggling attempt split
        /// across any reads is still found, and a clean stream is never flagged.
        #[test]
        fn the_verdict_does_not_depend_on_how_reads_fall(
            bytes in requests(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let whole = verdict(&bytes, &[]);
            prop_assert_eq!(verdict(&bytes, &cuts), whole);
            let text = String::from_utf8_lossy(&bytes);
            let smuggling = text.contains("Content-Length") && text.contains("Transfer-Encoding")
                && text.split("POST").any(|r| r.contains("Content-Length") && r.contains("Transfer-Encoding"));
            prop_assert_eq!(whole, smuggling, "{}", text);
        }

        /// Arbitrary bytes in arbitrary reads never panic the guard.
        #[test]
        fn any_bytes_in_any_reads_are_safe(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            verdict(&bytes, &cuts);
        }
    }
}
