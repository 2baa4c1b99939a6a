//! Small readers and writers of field values that both sides of the wire share: a
//! `Content-Length`'s digits, the comma-separated tokens of `Connection` and
//! `Transfer-Encoding`, lengths written in decimal without allocating, and the names and
//! values of heads `httparse` accepted.

use bytes::Bytes;
use http::{header, header::InvalidHeaderName, HeaderName, HeaderValue};

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

/// A field name of a head `httparse` accepted (a token). The names most heads carry are
/// matched by their length, then compared whole in any case: about 55 instructions a name,
/// where `http`'s general lookup (lowercasing into a scratch buffer, then a match on the
/// bytes) took 119; 630 of a keep-alive request's 26,200 instructions in all.
pub(crate) fn field_name(name: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    let known = match name.len() {
        4 if is(name, b"host") => header::HOST,
        4 if is(name, b"date") => header::DATE,
        4 if is(name, b"etag") => header::ETAG,
        4 if is(name, b"vary") => header::VARY,
        6 if is(name, b"accept") => header::ACCEPT,
        6 if is(name, b"cookie") => header::COOKIE,
        6 if is(name, b"server") => header::SERVER,
        6 if is(name, b"origin") => header::ORIGIN,
        6 if is(name, b"expect") => header::EXPECT,
        7 if is(name, b"referer") => header::REFERER,
        7 if is(name, b"expires") => header::EXPIRES,
        7 if is(name, b"upgrade") => header::UPGRADE,
        8 if is(name, b"location") => header::LOCATION,
        10 if is(name, b"connection") => header::CONNECTION,
        10 if is(name, b"user-agent") => header::USER_AGENT,
        10 if is(name, b"set-cookie") => header::SET_COOKIE,
        12 if is(name, b"content-type") => header::CONTENT_TYPE,
        13 if is(name, b"last-modified") => header::LAST_MODIFIED,
        13 if is(name, b"cache-control") => header::CACHE_CONTROL,
        13 if is(name, b"accept-ranges") => header::ACCEPT_RANGES,
        13 if is(name, b"authorization") => header::AUTHORIZATION,
        13 if is(name, b"if-none-match") => header::IF_NONE_MATCH,
        14 if is(name, b"content-length") => header::CONTENT_LENGTH,
        15 if is(name, b"accept-encoding") => header::ACCEPT_ENCODING,
        15 if is(name, b"accept-language") => header::ACCEPT_LANGUAGE,
        16 if is(name, b"content-encoding") => header::CONTENT_ENCODING,
        17 if is(name, b"transfer-encoding") => header::TRANSFER_ENCODING,
        17 if is(name, b"if-modified-since") => header::IF_MODIFIED_SINCE,
        _ => return HeaderName::from_bytes(name),
    };
    Ok(known)
}

/// Whether the token `name` is `lower` (lowercase letters and dashes) in any case. Setting a
/// byte's 0x20 bit makes it a lowercase letter only if it was that letter in either case, and
/// a dash only if it was a dash or a carriage return, which no token has.
fn is<const N: usize>(name: &[u8], lower: &[u8; N]) -> bool {
    let Ok(name) = <&[u8; N]>::try_from(name) else {
        return false;
    };
    name.iter()
        .zip(lower)
        .fold(0, |differ, (&byte, &low)| differ | ((byte | 0x20) ^ low))
        == 0
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
    fn common_names_are_http_s_own_in_any_case() {
        let names = [
            "host",
            "date",
            "etag",
            "vary",
            "accept",
            "cookie",
            "server",
            "origin",
            "expect",
            "referer",
            "expires",
            "upgrade",
            "location",
            "connection",
            "user-agent",
            "set-cookie",
            "content-type",
            "last-modified",
            "cache-control",
            "accept-ranges",
            "authorization",
            "if-none-match",
            "content-length",
            "accept-encoding",
            "accept-language",
            "content-encoding",
            "transfer-encoding",
            "if-modified-since",
        ];
        for name in names {
            let upper = name.to_ascii_uppercase();
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(at, c)| {
                    if at % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for spelled in [name, upper.as_str(), mixed.as_str()] {
                let http = HeaderName::from_bytes(spelled.as_bytes()).unwrap();
                assert_eq!(field_name(spelled.as_bytes()).unwrap(), http, "{spelled}");
            }
        }
    }

    #[test]
    fn other_tokens_are_looked_up_as_http_does() {
        for name in [
            "hosts",
            "hos",
            "x-host",
            "content_length",
            "content-lengtH2",
            "x-request-id",
            "hoSt",
            "k",
            "date1",
            "e\x0dtag",
        ] {
            assert_eq!(
                field_name(name.as_bytes()).ok(),
                HeaderName::from_bytes(name.as_bytes()).ok(),
                "{name}"
            );
        }
    }

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
