//! Request ids and trace context: every request gets an `X-Request-Id` (generated unless the
//! client's may be trusted), sent upstream, returned to the client and written in the access
//! log; a W3C `traceparent` is passed through, or started when the client sent none (or a
//! malformed one), so upstream services can join the trace.

use http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// How request ids are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestIdSpec {
    /// Ids and trace context are added at all.
    pub enabled: bool,
    /// A client's own `X-Request-Id` is kept (when it is 1 to 128 visible characters).
    pub trust_client: bool,
}

impl RequestIdSpec {
    pub const DEFAULT: RequestIdSpec = RequestIdSpec {
        enabled: true,
        trust_client: false,
    };
}

/// Gives the request its id and trace context; returns the id.
pub(crate) fn apply(headers: &mut HeaderMap, spec: RequestIdSpec) -> Option<HeaderValue> {
    if !spec.enabled {
        return None;
    }
    let trusted = headers
        .get(X_REQUEST_ID)
        .filter(|id| spec.trust_client && (1..=128).contains(&id.len()))
        .filter(|id| id.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned();
    let id = trusted.unwrap_or_else(|| {
        let mut text = [0; 32];
        hex(crate::rand::next(), &mut text[..16]);
        hex(crate::rand::next(), &mut text[16..]);
        header_value(&text)
    });
    headers.insert(X_REQUEST_ID, id.clone());
    if !headers.get(TRACEPARENT).is_some_and(valid_traceparent) {
        // `00-` trace id `-` parent id `-01`
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01";
        hex(crate::rand::next(), &mut text[3..19]);
        hex(crate::rand::next(), &mut text[19..35]);
        hex(crate::rand::next(), &mut text[36..52]);
        headers.insert(TRACEPARENT, header_value(&text));
    }
    Some(id)
}

/// The 16 lower-case hex digits of `word` into `out` (16 bytes).
fn hex(word: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, digit) in out.iter_mut().take(16).enumerate() {
        *digit = DIGITS[((word >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// The bytes as a header value (one allocation per value).
fn header_value(text: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(text).expect("hex digits and dashes are a valid header value")
}

/// `00-<32 hex trace id, not all zero>-<16 hex parent id, not all zero>-<2 hex flags>`.
fn valid_traceparent(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let hex_part = |part: &[u8]| {
        part.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            && part.iter().any(|&b| b != b'0')
    };
    bytes.len() == 55
        && bytes.starts_with(b"00-")
        && bytes[35] == b'-'
        && bytes[52] == b'-'
        && hex_part(&bytes[3..35])
        && hex_part(&bytes[36..52])
        && bytes[53..].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gets_an_id_and_a_trace() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("client-chosen"));
        let id = apply(&mut headers, RequestIdSpec::DEFAULT).unwrap();
        assert_eq!(id.len(), 32);
        assert!(id
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
        assert_eq!(headers[X_REQUEST_ID], id);
        assert!(valid_traceparent(&headers[TRACEPARENT]));
    }

    #[test]
    fn a_trusted_client_id_and_a_valid_trace_are_kept() {
        let spec = RequestIdSpec {
            enabled: true,
            trust_client: true,
        };
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("client-chosen"));
        headers.insert(TRACEPARENT, HeaderValue::from_static(trace));
        assert_eq!(apply(&mut headers, spec).unwrap(), "client-chosen");
        assert_eq!(headers[TRACEPARENT], trace);
    }

    #[test]
    fn a_malformed_trace_is_replaced_and_ids_can_be_off() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static("00-zz-00-01"));
        apply(&mut headers, RequestIdSpec::DEFAULT);
        assert!(valid_traceparent(&headers[TRACEPARENT]));
        let off = RequestIdSpec {
            enabled: false,
            trust_client: false,
        };
        let mut headers = HeaderMap::new();
        assert!(apply(&mut headers, off).is_none());
        assert!(headers.is_empty());
    }
}
