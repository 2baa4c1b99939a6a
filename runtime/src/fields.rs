//! Header fields the proxy owns: those only it may set (a client's copies are dropped at
//! admission, `downstream::scrub`), and what a client's request trailers may carry, checked
//! as the body streams: none of the proxy's fields, none a trailer may never carry (RFC 9110
//! §6.5.1: framing, routing, authentication), no `_` in names unless the listener allows it.

use http::{HeaderMap, HeaderName};
use smallvec::SmallVec;

/// Whether a lower-case name is one only the proxy may set.
pub(crate) fn proxy_owned(name: &str) -> bool {
    matches!(
        name,
        "forwarded"
            | "x-forwarded-port"
            | "x-forwarded-prefix"
            | "x-forwarded-server"
            | "x-original-url"
            | "x-rewrite-url"
            | "x-client-cert-subject"
    )
}

/// Drops from a request's trailers the fields [`trailer_allowed`] refuses.
pub(crate) fn scrub_trailers(trailers: &mut HeaderMap, underscores: bool) {
    let doomed: SmallVec<[HeaderName; 2]> = trailers
        .keys()
        .filter(|name| !trailer_allowed(name, underscores))
        .cloned()
        .collect();
    for name in doomed {
        trailers.remove(name);
    }
}

/// Whether a request trailer field named `name` may pass: not one the proxy owns or sets
/// (forwarding and identity fields, request ids), not one RFC 9110 §6.5.1 keeps out of
/// trailers, and without `_` unless `underscores`.
fn trailer_allowed(name: &HeaderName, underscores: bool) -> bool {
    let text = name.as_str();
    let set_by_proxy = proxy_owned(text)
        || text.starts_with("x-forwarded-")
        || matches!(
            text,
            "x-real-ip" | "x-request-id" | "traceparent" | "tracestate" | "via"
        );
    let never_in_trailers = matches!(
        text,
        "host"
            | "authorization"
            | "proxy-authorization"
            | "cookie"
            | "content-length"
            | "content-type"
            | "content-encoding"
            | "content-range"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "expect"
            | "range"
            | "if-match"
            | "if-none-match"
            | "if-modified-since"
            | "if-unmodified-since"
            | "if-range"
            | "cache-control"
            | "max-forwards"
    );
    !set_by_proxy && !never_in_trailers && (underscores || !text.contains('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_may_not_carry_what_the_proxy_sets_or_routes_on() {
        for name in [
            "x-forwarded-for",
            "x-forwarded-anything",
            "x-real-ip",
            "forwarded",
            "x-client-cert-subject",
            "host",
            "authorization",
            "content-length",
            "x_user",
        ] {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            assert!(!trailer_allowed(&name, false), "{name}");
        }
        for name in ["x-checksum", "grpc-status", "server-timing"] {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            assert!(trailer_allowed(&name, false), "{name}");
        }
        assert!(trailer_allowed(&HeaderName::from_static("x_sum"), true));
    }
}
