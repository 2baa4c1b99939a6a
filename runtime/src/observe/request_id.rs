//! Request ids and trace context: every request gets an `X-Request-Id` (generated unless the
//! client's may be trusted), sent upstream, returned to the client and written in the access
//! log; a W3C `traceparent` is passed through, or started when the client sent none (or a
//! malformed one), so upstream services can join the trace.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

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

/// Gives the request its id and trace context; returns the id. A trace started here takes the
/// request's id as its trace id, so the access log's id finds the trace.
pub(crate) fn apply(headers: &mut HeaderMap, spec: RequestIdSpec) -> Option<HeaderValue> {
    if !spec.enabled {
        return None;
    }
    let trusted = spec
        .trust_client
        .then(|| headers.get(X_REQUEST_ID))
        .flatten()
        .filter(|id| (1..=128).contains(&id.len()))
        .filter(|id| id.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned();
    let traced = headers.get(TRACEPARENT).is_some_and(valid_traceparent);
    let id = if traced {
        trusted.unwrap_or_else(|| {
            let mut id = [0; 32];
            hex(crate::rand::next(), &mut id[..16]);
            hex(crate::rand::next(), &mut id[16..]);
            header_value(ids::cut(&id))
        })
    } else {
        // `00-` trace id `-` parent id `-01`, then the request's id: the trace id again.
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01\
                          00000000000000000000000000000000";
        hex(crate::rand::next(), &mut text[3..19]);
        hex(crate::rand::next(), &mut text[19..35]);
        hex(crate::rand::next(), &mut text[36..52]);
        let (trace, id) = text.split_at_mut(TRACEPARENT_LEN);
        id.copy_from_slice(&trace[3..35]);
        let used = if trusted.is_some() {
            TRACEPARENT_LEN
        } else {
            text.len()
        };
        let mut trace = ids::cut(&text[..used]);
        let generated = trace.split_off(TRACEPARENT_LEN);
        headers.insert(TRACEPARENT, header_value(trace));
        trusted.unwrap_or_else(|| header_value(generated))
    };
    headers.insert(X_REQUEST_ID, id.clone());
    Some(id)
}

/// Has a trace started here say that it is not recorded (its flags `00`), so that the servers
/// it reaches do not record their part of it either.
pub(crate) fn mark_unsampled(headers: &mut HeaderMap) {
    let Some(value) = headers.get(TRACEPARENT) else {
        return;
    };
    let mut text = [0; TRACEPARENT_LEN];
    if value.len() != TRACEPARENT_LEN {
        return;
    }
    text.copy_from_slice(value.as_bytes());
    text[53..].copy_from_slice(b"00");
    headers.insert(TRACEPARENT, header_value(ids::cut(&text)));
}

/// The length of a `traceparent` value.
const TRACEPARENT_LEN: usize = 55;

/// The 16 lower-case hex digits of `word` into `out` (16 bytes).
fn hex(word: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, digit) in out.iter_mut().take(16).enumerate() {
        *digit = DIGITS[((word >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// Hex digits and dashes as a header value.
fn header_value(text: Bytes) -> HeaderValue {
    HeaderValue::from_maybe_shared(text).expect("hex digits and dashes are a valid header value")
}

/// Where this thread's generated ids are written: one small buffer cut into the ids it hands
/// out, so an id costs a reference count rather than an allocation of its own. A buffer is
/// replaced when full and freed when its last id is; small, so that a long-lived request
/// keeps little besides its own id alive.
mod ids {
    use std::cell::RefCell;

    use bytes::{Bytes, BytesMut};

    /// About eleven requests' ids and traces.
    const BUFFER: usize = 1024;

    thread_local! {
        static IDS: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    }

    /// `text`, copied into this thread's buffer.
    pub(super) fn cut(text: &[u8]) -> Bytes {
        IDS.with_borrow_mut(|ids| {
            if ids.capacity() < text.len() {
                *ids = BytesMut::with_capacity(BUFFER.max(text.len()));
            }
            ids.extend_from_slice(text);
            ids.split_to(text.len()).freeze()
        })
    }
}

/// `00-<32 hex trace id, not all zero>-<16 hex parent id, not all zero>-<2 hex flags>`.
pub(crate) fn valid_traceparent(value: &HeaderValue) -> bool {
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
    fn a_started_trace_carries_the_request_id_and_ids_differ() {
        let mut seen = std::collections::HashSet::new();
        // Enough requests to fill several of the thread's id buffers.
        for _ in 0..100 {
            let mut headers = HeaderMap::new();
            let id = apply(&mut headers, RequestIdSpec::DEFAULT).unwrap();
            let trace = headers[TRACEPARENT].to_str().unwrap();
            assert!(valid_traceparent(&headers[TRACEPARENT]));
            assert_eq!(&trace[3..35], id.to_str().unwrap());
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn a_client_trace_is_kept_beside_a_generated_id() {
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(trace));
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("client-chosen"));
        let id = apply(&mut headers, RequestIdSpec::DEFAULT).unwrap();
        assert_eq!(headers[TRACEPARENT], trace);
        assert_eq!(id.len(), 32);
        assert_ne!(id, "client-chosen", "not trusted");
        assert_eq!(headers[X_REQUEST_ID], id);
    }

    #[test]
    fn a_trusted_client_id_gets_a_trace_of_its_own() {
        let spec = RequestIdSpec {
            enabled: true,
            trust_client: true,
        };
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("client-chosen"));
        assert_eq!(apply(&mut headers, spec).unwrap(), "client-chosen");
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
