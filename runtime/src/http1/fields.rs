//! Small readers and writers of field values that both sides of the wire share: a
//! `Content-Length`'s digits, the comma-separated tokens of `Connection` and
//! `Transfer-Encoding`, lengths written in decimal without allocating, and the values of
//! heads `httparse` accepted.

use bytes::Bytes;
use http::HeaderValue;

/// A `Content-Length` value: digits only, no sign, no list, no overflow.
pub(crate) fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |length, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        length.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A field value of a head `httparse` accepted, as the slice of the head's bytes it is.
///
/// `httparse` accepts in a value exactly the bytes `HeaderValue` does (tab, space, visible
/// ASCII and obs-text; never a control character), so checking them a second time is waste:
/// 950 instructions of a keep-alive request's 28,200 (`docs/benchmarks.md`). hyper builds its
/// values the same way. Debug builds check anyway (`http` does), and a test holds the two
/// byte sets equal.
#[allow(unsafe_code)]
pub(crate) fn parsed_value(value: Bytes) -> HeaderValue {
    // SAFETY: `value` is a field value `httparse` parsed, so every byte of it is one
    // `HeaderValue` accepts (`accepted_value_bytes_are_the_same` below).
    unsafe { HeaderValue::from_maybe_shared_unchecked(value) }
}

/// The comma-separated items of a field value, without the spaces around them.
pub(crate) fn tokens(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// Whether a `Transfer-Encoding` value ends in `chunked`.
pub(crate) fn ends_chunked(value: &[u8]) -> bool {
    tokens(value)
        .next_back()
        .is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"))
}

/// `value` in decimal, without allocating.
pub(crate) fn decimal(value: u64) -> Decimal {
    let mut digits = [0; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    Decimal { digits, start }
}

/// A number's decimal digits.
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_value_bytes_are_the_same() {
        for byte in 0..=u8::MAX {
            let value = [b'a', byte, b'a'];
            let mut request = b"GET / HTTP/1.1\r\nX: ".to_vec();
            request.extend_from_slice(&value);
            request.extend_from_slice(b"\r\n\r\n");
            let mut response = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            response.extend_from_slice(&value);
            response.extend_from_slice(b"\r\n\r\n");
            let http = HeaderValue::from_bytes(&value).is_ok();
            let mut fields = [httparse::EMPTY_HEADER; 1];
            let parsed = httparse::Request::new(&mut fields).parse(&request);
            assert_eq!(parsed.is_ok(), http, "request, byte {byte:#04x}");
            let mut fields = [httparse::EMPTY_HEADER; 1];
            let parsed = httparse::Response::new(&mut fields).parse(&response);
            assert_eq!(parsed.is_ok(), http, "response, byte {byte:#04x}");
        }
    }

    #[test]
    fn lengths_are_digits_only() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"1024"), Some(1024));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1 ",
            b"1,1",
            b"0x10",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_trimmed_and_the_last_coding_counts() {
        let items: Vec<&[u8]> = tokens(b" close ,\tkeep-alive").collect();
        assert_eq!(items, [&b"close"[..], b"keep-alive"]);
        assert!(ends_chunked(b"gzip, Chunked "));
        assert!(!ends_chunked(b"chunked, gzip"));
        assert!(!ends_chunked(b""));
    }

    #[test]
    fn decimals_are_written_whole() {
        assert_eq!(decimal(0).as_bytes(), b"0");
        assert_eq!(decimal(1024).as_bytes(), b"1024");
        assert_eq!(
            decimal(u64::MAX).as_bytes(),
            u64::MAX.to_string().as_bytes()
        );
    }
}
