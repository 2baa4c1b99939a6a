//! Client header fields that could pass for the proxy's own, dropped at admission, before the
//! gateway or anything the proxy adds runs:
//!
//! - fields named in `Connection` (a client must not be able to delete what the proxy adds
//!   later by naming it there); `Connection` keeps only its `upgrade` option;
//! - forwarding fields a backend believes and the proxy does not set itself (RFC 7239
//!   `Forwarded`, unless the peer is one of the listener's `trusted_proxies`,
//!   `X-Forwarded-Port/Prefix/Server`, `X-Original-URL`, `X-Rewrite-URL`) and the verified
//!   client certificate's subject; `X-Forwarded-For`, `X-Forwarded-Proto/Host` and `X-Real-IP`
//!   are replaced when forwarding (a trusted peer's first three are kept, its
//!   `X-Forwarded-For` appended to);
//! - names with `_` unless the listener allows them (as nginx's `underscores_in_headers`):
//!   CGI and WSGI servers read `X_Real_IP` as `X-Real-IP`.
//!
//! Request trailers get the same treatment as they stream (`crate::fields`), plus the fields a
//! trailer may never carry.

use http::{header::CONNECTION, HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;

use crate::fields::proxy_owned;

/// The verified client certificate's subject, which the proxy sets on TLS listeners.
pub(crate) const X_CLIENT_CERT_SUBJECT: HeaderName =
    HeaderName::from_static("x-client-cert-subject");

const CONNECTION_UPGRADE: HeaderValue = HeaderValue::from_static("upgrade");

/// Drops from `headers` the fields described in the module documentation; `underscores`
/// whether names with `_` are allowed, `trusted` whether the peer is a trusted proxy. One pass
/// over the names; fields are only removed, by name, when present.
pub(crate) fn scrub(headers: &mut HeaderMap, underscores: bool, trusted: bool) {
    let mut doomed: SmallVec<[HeaderName; 2]> = SmallVec::new();
    let mut connection = false;
    for name in headers.keys() {
        let text = name.as_str();
        if text == "connection" {
            connection = true;
        } else if (proxy_owned(text) && !(trusted && text == "forwarded"))
            || (!underscores && text.contains('_'))
        {
            doomed.push(name.clone());
        }
    }
    for name in doomed {
        headers.remove(name);
    }
    if connection {
        scrub_connection(headers);
    }
}

/// Removes the fields `Connection` names (but `Host`, `TE` and `Upgrade`, which the forwarding
/// step handles as it must) and leaves `Connection: upgrade` only if the client asked for one.
fn scrub_connection(headers: &mut HeaderMap) {
    let mut upgrade = false;
    let mut named: SmallVec<[HeaderName; 2]> = SmallVec::new();
    for token in headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
    {
        if token.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        } else if ["host", "te", "close", "keep-alive", ""]
            .iter()
            .any(|kept| token.eq_ignore_ascii_case(kept))
        {
            continue;
        } else if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
            named.push(name);
        }
    }
    for name in named {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(CONNECTION, CONNECTION_UPGRADE);
    } else {
        headers.remove(CONNECTION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    /// The names left, sorted: removing fields reorders a `HeaderMap`.
    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn spoofable_and_underscored_fields_go() {
        let mut map = headers(&[
            ("host", "a"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-prefix", "/admin"),
            ("x-forwarded-server", "x"),
            ("x-original-url", "/admin"),
            ("x-rewrite-url", "/admin"),
            ("x-client-cert-subject", "CN=admin"),
            ("x_real_ip", "1.2.3.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-kept", "1"),
        ]);
        scrub(&mut map, false, false);
        assert_eq!(names(&map), ["host", "x-forwarded-for", "x-kept"]);

        let mut map = headers(&[("x_tenant", "1"), ("forwarded", "for=1.2.3.4")]);
        scrub(&mut map, true, false);
        assert_eq!(names(&map), ["x_tenant"]);

        // A trusted proxy's `Forwarded` is believed; nothing else of the list is.
        let mut map = headers(&[("forwarded", "for=1.2.3.4"), ("x-forwarded-port", "443")]);
        scrub(&mut map, false, true);
        assert_eq!(names(&map), ["forwarded"]);
    }

    #[test]
    fn fields_named_in_connection_go_and_only_upgrade_stays() {
        let mut map = headers(&[
            ("host", "a"),
            ("connection", "keep-alive, X-Consumer, host, TE"),
            ("connection", "x-other, Upgrade"),
            ("x-consumer", "admin"),
            ("x-other", "1"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("keep-alive", "timeout=5"),
        ]);
        scrub(&mut map, false, false);
        assert_eq!(
            names(&map),
            ["connection", "host", "keep-alive", "te", "upgrade"]
        );
        assert_eq!(map["connection"], "upgrade");

        let mut map = headers(&[("connection", "close, x-a"), ("x-a", "1")]);
        scrub(&mut map, false, false);
        assert!(map.is_empty());
    }
}
