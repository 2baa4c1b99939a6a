//! The chunked transfer coding of HTTP/1.1 (RFC 9112 §7.1): a [`Decoder`] that splits a body's
//! data off the front of a connection's read buffer without copying it, strict about framing
//! because its input may come from an untrusted client, and the pieces an encoder writes
//! ([`chunk_size_line`], [`CRLF`], [`LAST_CHUNK`], [`encode_trailers`]).

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use http::{header::HeaderName, HeaderMap, HeaderValue};

/// The most bytes of chunk extensions one body may carry, counting the whitespace after each
/// chunk size and any leading zeros of a size as well, so that no size line can be padded
/// without bound.
const EXTENSIONS_LIMIT: usize = 16 * 1024;

/// The largest trailer section, final empty line included.
const TRAILERS_LIMIT: usize = 16 * 1024;

/// The most fields a trailer section may hold.
const MAX_TRAILER_FIELDS: usize = 100;

/// What ends every chunk's data.
pub(crate) const CRLF: &[u8] = b"\r\n";

/// The last chunk and the empty trailer section.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Decodes one chunked body, fed from the front of a connection's read buffer.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Where in the body the next byte falls.
    state: State,
    /// Bytes of chunk extensions (and size-line padding) seen so far in this body.
    extensions: usize,
}

/// What one call to [`Decoder::decode`] found.
#[derive(Debug)]
pub(crate) enum Step {
    /// Bytes of the body (never empty), split off the front of the buffer without a copy
    /// (`BytesMut::split_to(..).freeze()`).
    Data(Bytes),
    /// The buffer holds no complete next step: read more bytes and call again.
    More,
    /// The body has ended; the trailer fields if it had any. The buffer now starts right
    /// after the body (a pipelined next message stays in it untouched).
    End(Option<HeaderMap>),
}

/// A fault in a chunked body's framing; the body cannot be read past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkedError {
    /// A chunk size line does not start with a hex digit, or holds a byte it may not.
    InvalidSize,
    /// A chunk size does not fit in 64 bits.
    SizeTooLarge,
    /// The body's chunk extensions (with size-line padding) exceed [`EXTENSIONS_LIMIT`].
    ExtensionsTooLong,
    /// A line ends in LF without CR before it.
    BareLf,
    /// A CR is not followed by LF, or a chunk's data is not followed by CRLF.
    MissingCrlf,
    /// A trailer field line is malformed, or its name or value is not a valid field.
    InvalidTrailer,
    /// The trailer section exceeds [`TRAILERS_LIMIT`] bytes or [`MAX_TRAILER_FIELDS`] fields.
    TrailersTooLarge,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkedError::InvalidSize => "invalid chunk size line",
            ChunkedError::SizeTooLarge => "chunk size too large",
            ChunkedError::ExtensionsTooLong => "chunk extensions too long",
            ChunkedError::BareLf => "bare lf in chunked framing",
            ChunkedError::MissingCrlf => "missing crlf in chunked framing",
            ChunkedError::InvalidTrailer => "invalid trailer field",
            ChunkedError::TrailersTooLarge => "trailer section too large",
        })
    }
}

impl std::error::Error for ChunkedError {}

/// Where in a chunked body the decoder stands. The size carried by the size-line states is the
/// chunk size read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first digit of a chunk size.
    Start,
    /// Among the hex digits of a chunk size.
    Size(u64),
    /// In whitespace after a chunk size.
    SizeWs(u64),
    /// In a chunk extension, which is skipped.
    Extension(u64),
    /// After the CR that ends a size line.
    SizeLf(u64),
    /// In a chunk's data, with this many bytes still to come.
    Data(u64),
    /// After a chunk's data, where CR must follow.
    DataCr,
    /// After the CR that follows a chunk's data.
    DataLf,
    /// In the trailer section, whose bytes stay in the buffer until it is complete.
    Trailers(TrailerScan),
    /// The body has ended.
    Done,
}

/// How far a trailer section still in the buffer has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TrailerScan {
    /// Bytes checked, from the front of the buffer.
    len: usize,
    /// Field lines begun.
    fields: usize,
    /// Where in a line the next byte falls.
    at: LineAt,
}

/// A position within a line of the trailer section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineAt {
    /// At the start of a line.
    Start,
    /// Within a field line.
    Field,
    /// After the CR ending a field line.
    FieldCr,
    /// After the CR of the empty line that ends the section.
    EndCr,
}

impl TrailerScan {
    /// Nothing of the section checked yet.
    const NEW: TrailerScan = TrailerScan {
        len: 0,
        fields: 0,
        at: LineAt::Start,
    };

    /// Checks `byte`, the next of the section; whether it ends the section.
    fn feed(&mut self, byte: u8) -> Result<bool, ChunkedError> {
        if self.len >= TRAILERS_LIMIT {
            return Err(ChunkedError::TrailersTooLarge);
        }
        let (at, end) = match (self.at, byte) {
            (LineAt::Start, b'\r') => (LineAt::EndCr, false),
            (LineAt::Start | LineAt::Field, b'\n') => return Err(ChunkedError::BareLf),
            (LineAt::Start, _) => {
                if self.fields >= MAX_TRAILER_FIELDS {
                    return Err(ChunkedError::TrailersTooLarge);
                }
                self.fields += 1;
                (LineAt::Field, false)
            }
            (LineAt::Field, b'\r') => (LineAt::FieldCr, false),
            (LineAt::Field, _) => (LineAt::Field, false),
            (LineAt::FieldCr, b'\n') => (LineAt::Start, false),
            (LineAt::EndCr, b'\n') => (LineAt::Start, true),
            (LineAt::FieldCr | LineAt::EndCr, _) => return Err(ChunkedError::MissingCrlf),
        };
        self.at = at;
        self.len += 1;
        Ok(end)
    }
}

impl Decoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Decoder {
        Decoder {
            state: State::Start,
            extensions: 0,
        }
    }

    /// Consumes from the front of `buf` what it decodes.
    ///
    /// Bytes left in `buf` must still lead it on the next call, with more read behind them: an
    /// incomplete trailer section stays there until it is whole. After the end it returns
    /// `End(None)` and consumes nothing; after an error, the same error.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkedError> {
        loop {
            match self.state {
                State::Data(remaining) => return Ok(self.data(remaining, buf)),
                State::Trailers(scan) => return self.trailers(scan, buf),
                State::Done => return Ok(Step::End(None)),
                _ => {
                    if !self.framing(buf)? {
                        return Ok(Step::More);
                    }
                }
            }
        }
    }

    /// Whether the end of the body has been decoded.
    #[cfg(test)]
    fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Splits off what `buf` holds of the current chunk's `remaining` bytes.
    fn data(&mut self, remaining: u64, buf: &mut BytesMut) -> Step {
        if buf.is_empty() {
            return Step::More;
        }
        let len = usize::try_from(remaining).map_or(buf.len(), |rest| rest.min(buf.len()));
        let left = remaining - len as u64;
        self.state = if left == 0 {
            State::DataCr
        } else {
            State::Data(left)
        };
        Step::Data(buf.split_to(len).freeze())
    }

    /// Consumes size-line and CRLF bytes until data or trailers begin; false if `buf` ran out
    /// first. On an error the faulty byte stays at the front of `buf`.
    fn framing(&mut self, buf: &mut BytesMut) -> Result<bool, ChunkedError> {
        let mut used = 0;
        let outcome = loop {
            if matches!(
                self.state,
                State::Data(_) | State::Trailers(_) | State::Done
            ) {
                break Ok(true);
            }
            let Some(&byte) = buf.get(used) else {
                break Ok(false);
            };
            match self.after(byte) {
                Ok(state) => self.state = state,
                Err(error) => break Err(error),
            }
            used += 1;
        };
        buf.advance(used);
        outcome
    }

    /// The state after `byte`, read in a framing state.
    fn after(&mut self, byte: u8) -> Result<State, ChunkedError> {
        match self.state {
            State::Start => match hex_digit(byte) {
                Some(digit) => Ok(State::Size(digit)),
                None => Err(line_fault(byte)),
            },
            State::Size(size) => self.after_size(size, byte),
            State::SizeWs(size) => self.after_whitespace(size, byte),
            State::Extension(size) => self.in_extension(size, byte),
            State::SizeLf(size) => match byte {
                b'\n' if size == 0 => Ok(State::Trailers(TrailerScan::NEW)),
                b'\n' => Ok(State::Data(size)),
                _ => Err(ChunkedError::MissingCrlf),
            },
            State::DataCr => match byte {
                b'\r' => Ok(State::DataLf),
                b'\n' => Err(ChunkedError::BareLf),
                _ => Err(ChunkedError::MissingCrlf),
            },
            State::DataLf => match byte {
                b'\n' => Ok(State::Start),
                _ => Err(ChunkedError::MissingCrlf),
            },
            State::Data(_) | State::Trailers(_) | State::Done => Ok(self.state),
        }
    }

    /// The state after `byte`, read among the digits of a chunk `size`.
    fn after_size(&mut self, size: u64, byte: u8) -> Result<State, ChunkedError> {
        match hex_digit(byte) {
            Some(digit) => {
                if size == 0 {
                    self.count_extension()?;
                }
                size.checked_mul(16)
                    .and_then(|size| size.checked_add(digit))
                    .map(State::Size)
                    .ok_or(ChunkedError::SizeTooLarge)
            }
            None => self.after_whitespace(size, byte),
        }
    }

    /// The state after `byte`, read after a chunk `size` and any whitespace.
    fn after_whitespace(&mut self, size: u64, byte: u8) -> Result<State, ChunkedError> {
        match byte {
            b' ' | b'\t' => {
                self.count_extension()?;
                Ok(State::SizeWs(size))
            }
            b';' => {
                self.count_extension()?;
                Ok(State::Extension(size))
            }
            b'\r' => Ok(State::SizeLf(size)),
            _ => Err(line_fault(byte)),
        }
    }

    /// The state after `byte`, read in an extension of a chunk of `size` bytes.
    fn in_extension(&mut self, size: u64, byte: u8) -> Result<State, ChunkedError> {
        match byte {
            b'\r' => Ok(State::SizeLf(size)),
            b'\n' => Err(ChunkedError::BareLf),
            _ => {
                self.count_extension()?;
                Ok(State::Extension(size))
            }
        }
    }

    /// Counts one more byte against the body's extension limit.
    fn count_extension(&mut self) -> Result<(), ChunkedError> {
        if self.extensions >= EXTENSIONS_LIMIT {
            return Err(ChunkedError::ExtensionsTooLong);
        }
        self.extensions += 1;
        Ok(())
    }

    /// Checks the trailer section from where `scan` stopped; once it is whole, consumes it and
    /// ends the body.
    fn trailers(
        &mut self,
        mut scan: TrailerScan,
        buf: &mut BytesMut,
    ) -> Result<Step, ChunkedError> {
        while let Some(&byte) = buf.get(scan.len) {
            if scan.feed(byte)? {
                let fields = if scan.fields == 0 {
                    None
                } else {
                    Some(parse_trailers(&buf[..scan.len])?)
                };
                buf.advance(scan.len);
                self.state = State::Done;
                return Ok(Step::End(fields));
            }
        }
        self.state = State::Trailers(scan);
        Ok(Step::More)
    }
}

/// The value of a hex digit, either case.
fn hex_digit(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// The error for `byte` where a size line does not allow it: LF is a bare LF, anything else
/// makes the line invalid.
fn line_fault(byte: u8) -> ChunkedError {
    match byte {
        b'\n' => ChunkedError::BareLf,
        _ => ChunkedError::InvalidSize,
    }
}

/// Parses a whole trailer section (its final empty line included) into fields.
fn parse_trailers(section: &[u8]) -> Result<HeaderMap, ChunkedError> {
    let mut parsed = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
    let fields = match httparse::parse_headers(section, &mut parsed) {
        Ok(httparse::Status::Complete((len, fields))) if len == section.len() => fields,
        _ => return Err(ChunkedError::InvalidTrailer),
    };
    let mut map = HeaderMap::with_capacity(fields.len());
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| ChunkedError::InvalidTrailer)?;
        let value =
            HeaderValue::from_bytes(field.value).map_err(|_| ChunkedError::InvalidTrailer)?;
        map.append(name, value);
    }
    Ok(map)
}

/// A chunk size line: hex digits and CRLF, on the stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeLine {
    /// The line, from the front.
    bytes: [u8; 18],
    /// How many of `bytes` it takes.
    len: u8,
}

impl SizeLine {
    /// The line's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

// A size line holds at most 16 hex digits: `usize` must not be wider than 64 bits.
const _: () = assert!(usize::BITS <= 64);

/// The size line that starts a chunk of `len` bytes (`len > 0`): lower-case hex and CRLF,
/// e.g. `400\r\n`, written into a fixed stack buffer (no allocation). A `len` of 0 gives
/// `0\r\n`, the start of the last chunk.
pub(crate) fn chunk_size_line(len: usize) -> SizeLine {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = len.checked_ilog2().map_or(1, |bit| bit / 4 + 1);
    let mut bytes = [0; 18];
    for (at, shift) in (0..digits).rev().map(|place| place * 4).enumerate() {
        bytes[at] = HEX[(len >> shift) & 0xf];
    }
    let digits = digits as usize;
    bytes[digits..digits + 2].copy_from_slice(CRLF);
    SizeLine {
        bytes,
        len: (digits + 2) as u8,
    }
}

/// Appends the last chunk followed by `trailers` and the final CRLF to `out`.
pub(crate) fn encode_trailers(trailers: &HeaderMap, out: &mut BytesMut) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(CRLF);
    }
    out.extend_from_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// How a decoder ended on some input.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        /// The body ended, with these trailers.
        End(Option<HeaderMap>),
        /// The input ran out before the end.
        More,
        /// The body was refused.
        Failed(ChunkedError),
    }

    /// Feeds `wire` in pieces cut at `cuts` (taken modulo its length), calling `decode` until it
    /// asks for more; the data, how it ended and what was left in the buffer.
    fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> (Vec<u8>, Outcome, BytesMut) {
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut outcome = Outcome::More;
        let mut start = 0;
        for cut in cuts {
            buf.extend_from_slice(&wire[start..cut]);
            start = cut;
            while outcome == Outcome::More {
                match decoder.decode(&mut buf) {
                    Ok(Step::Data(bytes)) => {
                        assert!(!bytes.is_empty(), "empty data");
                        data.extend_from_slice(&bytes);
                    }
                    Ok(Step::More) => break,
                    Ok(Step::End(trailers)) => {
                        assert!(decoder.is_done());
                        outcome = Outcome::End(trailers);
                    }
                    Err(error) => outcome = Outcome::Failed(error),
                }
            }
        }
        (data, outcome, buf)
    }

    /// Decodes `wire` in one piece.
    fn decode_whole(wire: &[u8]) -> (Vec<u8>, Outcome, BytesMut) {
        decode_in_pieces(wire, &[])
    }

    /// Decodes `wire` one byte at a time.
    fn decode_bytewise(wire: &[u8]) -> (Vec<u8>, Outcome, BytesMut) {
        let cuts: Vec<usize> = (0..wire.len()).collect();
        decode_in_pieces(wire, &cuts)
    }

    /// The error `wire` is refused with, checked to be the same when fed byte by byte.
    fn error_of(wire: &[u8]) -> ChunkedError {
        let (_, whole, _) = decode_whole(wire);
        let (_, bytewise, _) = decode_bytewise(wire);
        assert_eq!(whole, bytewise);
        match whole {
            Outcome::Failed(error) => error,
            other => panic!("{wire:?} decoded to {other:?}"),
        }
    }

    /// A trailer map from name/value pairs.
    fn fields(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    /// One chunk and the last chunk, then `End(None)` again once done.
    #[test]
    fn simple_body() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::Data(data)) if data == "hello"));
        assert!(!decoder.is_done());
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::End(None))));
        assert!(decoder.is_done());
        assert!(buf.is_empty());
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::End(None))));
    }

    /// Chunks of several sizes, whole and byte by byte.
    #[test]
    fn several_chunks() {
        let wire = b"3\r\nabc\r\n1\r\nd\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
        for decode in [decode_whole, decode_bytewise] {
            let (data, outcome, rest) = decode(wire);
            assert_eq!(data, b"abcd0123456789abcdef");
            assert_eq!(outcome, Outcome::End(None));
            assert!(rest.is_empty());
        }
    }

    /// What has arrived of a chunk is returned before the rest of it.
    #[test]
    fn partial_chunks_are_returned_as_they_arrive() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"a\r\n0123"[..]);
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::Data(data)) if data == "0123"));
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::More)));
        buf.extend_from_slice(b"456789\r");
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::Data(data)) if data == "456789"));
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::More)));
        assert!(buf.is_empty());
    }

    /// Chunk extensions, quoted or not, leave the data alone.
    #[test]
    fn extensions_are_ignored() {
        let wire = b"5;name=value;quoted=\"a;b\"\r\nhello\r\n6 ; x\r\n world\r\n0;last\r\n\r\n";
        let (data, outcome, _) = decode_bytewise(wire);
        assert_eq!(data, b"hello world");
        assert_eq!(outcome, Outcome::End(None));
    }

    /// Sizes in upper-case hex and with leading zeros.
    #[test]
    fn upper_case_hex_and_leading_zeros() {
        let (data, outcome, _) = decode_whole(b"A\r\n0123456789\r\n00001\r\nx\r\n000\r\n\r\n");
        assert_eq!(data, b"0123456789x");
        assert_eq!(outcome, Outcome::End(None));
    }

    /// Spaces and tabs between a size and its extensions or CRLF.
    #[test]
    fn whitespace_after_the_size() {
        let (data, outcome, _) = decode_bytewise(b"5 \t\r\nhello\r\n1\t;ext\r\n!\r\n0 \r\n\r\n");
        assert_eq!(data, b"hello!");
        assert_eq!(outcome, Outcome::End(None));
    }

    /// Trailer fields come back with `End`, repeated names kept.
    #[test]
    fn trailers_are_returned() {
        let wire =
            b"5\r\nhello\r\n0\r\nChecksum: abc\r\nX-Extra:  two words \r\nchecksum: def\r\n\r\n";
        for decode in [decode_whole, decode_bytewise] {
            let (data, outcome, rest) = decode(wire);
            assert_eq!(data, b"hello");
            let expected = fields(&[
                ("checksum", "abc"),
                ("checksum", "def"),
                ("x-extra", "two words"),
            ]);
            assert_eq!(outcome, Outcome::End(Some(expected)));
            assert!(rest.is_empty());
        }
    }

    /// A trailer section is consumed only once it is whole.
    #[test]
    fn an_incomplete_trailer_section_waits_in_the_buffer() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"0\r\nA: 1\r\n"[..]);
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::More)));
        assert_eq!(&buf[..], b"A: 1\r\n");
        buf.extend_from_slice(b"\r\nnext");
        let trailers = match decoder.decode(&mut buf) {
            Ok(Step::End(Some(trailers))) => trailers,
            other => panic!("{other:?}"),
        };
        assert_eq!(trailers, fields(&[("a", "1")]));
        assert_eq!(&buf[..], b"next");
    }

    /// The bytes after the body are left for the next message.
    #[test]
    fn pipelined_bytes_stay_in_the_buffer() {
        let next = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
        for end in [&b"0\r\n\r\n"[..], b"0\r\nA: b\r\n\r\n"] {
            let wire = [&b"3\r\nabc\r\n"[..], end, next].concat();
            for decode in [decode_whole, decode_bytewise] {
                let (data, outcome, rest) = decode(&wire);
                assert_eq!(data, b"abc");
                assert!(matches!(outcome, Outcome::End(_)));
                assert_eq!(&rest[..], next);
            }
        }
    }

    /// LF without CR in a size line.
    #[test]
    fn bare_lf_in_the_size_line_is_refused() {
        assert_eq!(error_of(b"5\nhello\r\n0\r\n\r\n"), ChunkedError::BareLf);
        assert_eq!(error_of(b"5 \nhello\r\n0\r\n\r\n"), ChunkedError::BareLf);
        assert_eq!(error_of(b"\n"), ChunkedError::BareLf);
        assert_eq!(error_of(b"0\n\r\n"), ChunkedError::BareLf);
    }

    /// LF without CR in a chunk extension.
    #[test]
    fn bare_lf_in_an_extension_is_refused() {
        assert_eq!(error_of(b"5;a=b\nhello\r\n0\r\n\r\n"), ChunkedError::BareLf);
    }

    /// CR followed by anything but LF, in size lines and trailers.
    #[test]
    fn cr_without_lf_is_refused() {
        assert_eq!(error_of(b"5\rhello"), ChunkedError::MissingCrlf);
        assert_eq!(error_of(b"5;x\r\r\n"), ChunkedError::MissingCrlf);
        assert_eq!(error_of(b"0\r\nA: b\rC"), ChunkedError::MissingCrlf);
        assert_eq!(error_of(b"0\r\n\rx"), ChunkedError::MissingCrlf);
    }

    /// A chunk's data longer than its size, or ended by a bare LF.
    #[test]
    fn data_must_be_followed_by_crlf() {
        assert_eq!(
            error_of(b"5\r\nhelloX\r\n0\r\n\r\n"),
            ChunkedError::MissingCrlf
        );
        assert_eq!(error_of(b"5\r\nhello0\r\n\r\n"), ChunkedError::MissingCrlf);
        assert_eq!(error_of(b"5\r\nhello\n0\r\n\r\n"), ChunkedError::BareLf);
        assert_eq!(error_of(b"5\r\nhello\rX"), ChunkedError::MissingCrlf);
    }

    /// Size lines that do not start with hex digits, or mix in other bytes.
    #[test]
    fn invalid_hex_is_refused() {
        assert_eq!(error_of(b"g\r\n"), ChunkedError::InvalidSize);
        assert_eq!(error_of(b"5x\r\nhello\r\n"), ChunkedError::InvalidSize);
        assert_eq!(error_of(b"5 5\r\nhello\r\n"), ChunkedError::InvalidSize);
        assert_eq!(error_of(b"-5\r\n"), ChunkedError::InvalidSize);
        assert_eq!(error_of(b"0x5\r\n"), ChunkedError::InvalidSize);
        assert_eq!(error_of(b";a\r\n"), ChunkedError::InvalidSize);
        assert_eq!(error_of(b"\r\n"), ChunkedError::InvalidSize);
    }

    /// Sizes beyond 64 bits; the largest that fits is accepted.
    #[test]
    fn overflowing_sizes_are_refused() {
        assert_eq!(
            error_of(b"10000000000000000\r\n"),
            ChunkedError::SizeTooLarge
        );
        assert_eq!(
            error_of(b"fffffffffffffffff\r\n"),
            ChunkedError::SizeTooLarge
        );
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"ffffffffffffffff\r\nab"[..]);
        assert!(matches!(decoder.decode(&mut buf), Ok(Step::Data(data)) if data == "ab"));
    }

    /// Extensions, leading zeros or whitespace beyond the body's limit.
    #[test]
    fn oversized_extensions_are_refused() {
        let extension = format!(";{}", "e".repeat(1023));
        let chunk = format!("1{extension}\r\nx\r\n");
        let fits = [chunk.repeat(16), "0\r\n\r\n".to_owned()].concat();
        let (data, outcome, _) = decode_whole(fits.as_bytes());
        assert_eq!(data.len(), 16);
        assert_eq!(outcome, Outcome::End(None));
        let over = [chunk.repeat(16), "0;\r\n\r\n".to_owned()].concat();
        assert_eq!(error_of(over.as_bytes()), ChunkedError::ExtensionsTooLong);
        let padded = format!("{}1\r\nx\r\n", "0".repeat(EXTENSIONS_LIMIT + 1));
        assert_eq!(error_of(padded.as_bytes()), ChunkedError::ExtensionsTooLong);
        let spaced = format!("1{}\r\nx\r\n", " ".repeat(EXTENSIONS_LIMIT + 1));
        assert_eq!(error_of(spaced.as_bytes()), ChunkedError::ExtensionsTooLong);
    }

    /// A trailer section over its byte or field limit.
    #[test]
    fn oversized_trailers_are_refused() {
        let line = format!("a: {}\r\n", "v".repeat(TRAILERS_LIMIT));
        assert_eq!(
            error_of(format!("0\r\n{line}\r\n").as_bytes()),
            ChunkedError::TrailersTooLarge
        );
        let many = "a: b\r\n".repeat(MAX_TRAILER_FIELDS);
        let (_, outcome, _) = decode_whole(format!("0\r\n{many}\r\n").as_bytes());
        assert!(matches!(outcome, Outcome::End(Some(map)) if map.len() == MAX_TRAILER_FIELDS));
        let too_many = "a: b\r\n".repeat(MAX_TRAILER_FIELDS + 1);
        assert_eq!(
            error_of(format!("0\r\n{too_many}\r\n").as_bytes()),
            ChunkedError::TrailersTooLarge
        );
    }

    /// Trailer lines `httparse` or `http` refuse, and bare LFs among them.
    #[test]
    fn invalid_trailers_are_refused() {
        for wire in [
            &b"0\r\nBad Name: x\r\n\r\n"[..],
            b"0\r\nno-colon\r\n\r\n",
            b"0\r\n: empty-name\r\n\r\n",
            b"0\r\nA: b\r\n folded\r\n\r\n",
            b"0\r\nA: b\x01c\r\n\r\n",
        ] {
            assert_eq!(error_of(wire), ChunkedError::InvalidTrailer, "{wire:?}");
        }
        assert_eq!(error_of(b"0\r\nA: b\nC: d\r\n\r\n"), ChunkedError::BareLf);
        assert_eq!(error_of(b"0\r\nA: b\r\n\n"), ChunkedError::BareLf);
    }

    /// An error leaves the faulty byte in the buffer and comes back on the next call.
    #[test]
    fn errors_repeat_and_consume_nothing_more() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"5\nhello"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap_err(), ChunkedError::BareLf);
        assert_eq!(decoder.decode(&mut buf).unwrap_err(), ChunkedError::BareLf);
        assert_eq!(&buf[..], b"\nhello");
    }

    /// Errors display as short lower-case messages.
    #[test]
    fn error_messages() {
        assert_eq!(
            ChunkedError::InvalidSize.to_string(),
            "invalid chunk size line"
        );
        assert_eq!(
            ChunkedError::TrailersTooLarge.to_string(),
            "trailer section too large"
        );
    }

    /// Size lines in lower-case hex, up to `usize::MAX`.
    #[test]
    fn size_lines() {
        assert_eq!(chunk_size_line(1).as_bytes(), b"1\r\n");
        assert_eq!(chunk_size_line(0x400).as_bytes(), b"400\r\n");
        assert_eq!(chunk_size_line(0xabcdef).as_bytes(), b"abcdef\r\n");
        assert_eq!(
            chunk_size_line(usize::MAX).as_bytes(),
            format!("{:x}\r\n", usize::MAX).as_bytes()
        );
        assert_eq!(chunk_size_line(0).as_bytes(), b"0\r\n");
    }

    /// The last chunk with and without trailer fields.
    #[test]
    fn trailers_are_encoded() {
        let mut out = BytesMut::new();
        encode_trailers(&HeaderMap::new(), &mut out);
        assert_eq!(&out[..], LAST_CHUNK);
        out.clear();
        encode_trailers(&fields(&[("checksum", "abc"), ("x-n", "1")]), &mut out);
        assert_eq!(&out[..], b"0\r\nchecksum: abc\r\nx-n: 1\r\n\r\n");
    }

    /// `chunks` as a chunked body, ended with `trailers` or, without them, [`LAST_CHUNK`].
    fn encode(chunks: &[Vec<u8>], trailers: Option<&HeaderMap>) -> Vec<u8> {
        let mut wire = BytesMut::new();
        for chunk in chunks {
            wire.extend_from_slice(chunk_size_line(chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(CRLF);
        }
        match trailers {
            Some(map) => encode_trailers(map, &mut wire),
            None => wire.extend_from_slice(LAST_CHUNK),
        }
        wire.to_vec()
    }

    /// Chunk contents: mostly short and arbitrary, sometimes long (up to five hex digits of
    /// size) and patterned, to keep generation cheap.
    fn chunk() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => proptest::collection::vec(any::<u8>(), 1..64),
            1 => (64usize..0x12000, any::<u8>()).prop_map(|(len, seed)| {
                (0..len).map(|at| (at as u8).wrapping_mul(31) ^ seed).collect()
            }),
        ]
    }

    /// A small trailer map, possibly empty, with repeated names.
    fn trailer_map() -> impl Strategy<Value = HeaderMap> {
        proptest::collection::vec(("[a-c]{1,3}", "[!-~]{0,8}"), 0..4).prop_map(|pairs| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("a token");
                map.append(name, HeaderValue::from_str(&value).expect("visible ASCII"));
            }
            map
        })
    }

    /// Bytes of arbitrary values or, more often, pieces of chunked framing, so that the input
    /// reaches every state of the decoder.
    fn noise() -> impl Strategy<Value = Vec<u8>> {
        const PIECES: &[&str] = &[
            "0", "1", "3", "a", "F", "\r\n", "\r", "\n", ";", " ", "\t", "x=\"y\"", "A: b",
            "\r\n\r\n", "0\r\n", "abc\r\n",
        ];
        let piece = prop_oneof![
            1 => any::<u8>().prop_map(|byte| vec![byte]),
            4 => proptest::sample::select(PIECES).prop_map(|piece| piece.as_bytes().to_vec()),
        ];
        proptest::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
    }

    /// A byte that often steers a chunked decoder.
    fn steering_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            1 => any::<u8>(),
            2 => proptest::sample::select(&b"\r\n;: \t0aF"[..]),
        ]
    }

    /// A small encoded body with a few bytes replaced, inserted or removed.
    fn damaged_body() -> impl Strategy<Value = Vec<u8>> {
        let chunks = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..8), 0..4);
        let edits = proptest::collection::vec((any::<usize>(), steering_byte(), 0u8..3), 1..4);
        (chunks, trailer_map(), edits).prop_map(|(chunks, trailers, edits)| {
            let mut wire = encode(&chunks, Some(&trailers));
            for (at, byte, kind) in edits {
                let at = at % wire.len();
                match kind {
                    0 => wire.insert(at, byte),
                    1 => wire[at] = byte,
                    _ => {
                        wire.remove(at);
                    }
                }
            }
            wire
        })
    }

    proptest! {
        /// Chunks encoded with the encoder's pieces decode back to their contents and trailers
        /// wherever reads split them, and the bytes after the body stay in the buffer.
        #[test]
        fn encoded_bodies_round_trip_across_any_reads(
            chunks in proptest::collection::vec(chunk(), 0..6),
            trailers in proptest::option::of(trailer_map()),
            garbage in proptest::collection::vec(any::<u8>(), 0..32),
            cuts in proptest::collection::vec(any::<usize>(), 0..16),
        ) {
            let mut wire = encode(&chunks, trailers.as_ref());
            wire.extend_from_slice(&garbage);
            let (data, outcome, rest) = decode_in_pieces(&wire, &cuts);
            prop_assert_eq!(data, chunks.concat());
            prop_assert_eq!(outcome, Outcome::End(trailers.filter(|map| !map.is_empty())));
            prop_assert_eq!(&rest[..], &garbage[..]);
        }

        /// Any bytes in any reads never panic the decoder, never yield empty data, and give
        /// the same data and outcome however they are split.
        #[test]
        fn any_bytes_in_any_reads_are_safe(
            bytes in prop_oneof![noise(), damaged_body()],
            cuts in proptest::collection::vec(any::<usize>(), 0..16),
        ) {
            let (whole_data, whole, _) = decode_whole(&bytes);
            let (data, outcome, _) = decode_in_pieces(&bytes, &cuts);
            prop_assert!(data.len() <= bytes.len());
            prop_assert_eq!(data, whole_data);
            prop_assert_eq!(outcome, whole);
        }
    }
}
