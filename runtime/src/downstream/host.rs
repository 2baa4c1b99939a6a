//! The request's one host: where it comes from, how it is checked, and its lower-cased form.
//!
//! A request may name its host twice: in the target's authority (HTTP/2's `:authority`, an
//! HTTP/1 absolute-form target such as `GET http://example.com/x`) and in `Host`. [`settle`]
//! decides once which one counts, refuses requests where the two disagree, and leaves the
//! request with that host as its only `Host` and an origin-form target, so routing, policies,
//! the cache key, redirects and the headers sent upstream can only ever see one host.
//!
//! The routing form ([`HostName`]) drops the port and one trailing dot (`Example.COM.:80` is
//! `example.com`); IPv6 literals keep their brackets (`[::1]`), as in a URI.

use http::{header::HOST, uri::PathAndQuery, HeaderValue, Request, Uri, Version};

use crate::host_name::HostName;

/// Why a request's host is refused; the request gets a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadHost {
    /// An HTTP/1.1 request without a `Host` header.
    Missing,
    /// More than one `Host` header.
    Repeated,
    /// A `Host` that is not `host[:port]`.
    Invalid,
    /// An HTTP/2 `:authority` and a `host` field that name different hosts (RFC 9113 §8.3.1).
    Conflicting,
}

/// Decides the host of `req`, checks it and returns its routing form. The request is left with
/// that host as its one `Host` header and an origin-form target (`/path?query`).
///
/// - A target with an authority (HTTP/2's `:authority`, an HTTP/1 absolute-form target) names
///   the host. Over HTTP/2 a `host` field that says otherwise makes the request malformed (RFC
///   9113 §8.3.1); over HTTP/1 the received `Host` is replaced (RFC 9112 §3.2.2), though an
///   HTTP/1.1 request must still carry one, and only one.
/// - Otherwise the one `Host` header names it; an HTTP/1.1 request without one is refused,
///   older ones and HTTP/2 requests without `:authority` have an empty host.
pub(crate) fn settle<B>(req: &mut Request<B>) -> Result<HostName, BadHost> {
    let version = req.version();
    let headers = req.headers();
    let mut values = headers.get_all(HOST).iter();
    let (first, repeated) = (values.next(), values.next().is_some());
    if repeated {
        return Err(BadHost::Repeated);
    }
    let Some(authority) = req.uri().authority() else {
        return match first {
            None if version == Version::HTTP_11 => Err(BadHost::Missing),
            None => Ok(HostName::EMPTY),
            Some(value) => HostName::from_bytes(value.as_bytes()).ok_or(BadHost::Invalid),
        };
    };
    let authority = authority.as_str();
    let host = HostName::from_bytes(authority.as_bytes()).ok_or(BadHost::Invalid)?;
    match (version, first) {
        (Version::HTTP_2, Some(value))
            if !value.as_bytes().eq_ignore_ascii_case(authority.as_bytes()) =>
        {
            return Err(BadHost::Conflicting)
        }
        (Version::HTTP_11, None) => return Err(BadHost::Missing),
        _ => {}
    }
    // The authority was checked to be `host[:port]` in ASCII: a valid header value. This copy
    // is the one allocation HTTP/2 requests pay for their host.
    let value = HeaderValue::from_str(authority).map_err(|_| BadHost::Invalid)?;
    let path = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    req.headers_mut().insert(HOST, value);
    *req.uri_mut() = Uri::from(path);
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &[(&str, Result<&str, BadHost>)] = &[
        ("example.com", Ok("example.com")),
        ("Example.COM", Ok("example.com")),
        ("example.com:8080", Ok("example.com")),
        ("EXAMPLE.com:", Ok("example.com")),
        ("example.com.", Ok("example.com")),
        ("Example.com.:443", Ok("example.com")),
        ("example.com..", Err(BadHost::Invalid)),
        ("a..b", Err(BadHost::Invalid)),
        (".example.com", Err(BadHost::Invalid)),
        (".", Err(BadHost::Invalid)),
        ("127.0.0.1:80", Ok("127.0.0.1")),
        ("[::1]", Ok("[::1]")),
        ("[::1]:80", Ok("[::1]")),
        ("[FE80::1]:443", Ok("[fe80::1]")),
        ("[::ffff:10.0.0.1]", Ok("[::ffff:10.0.0.1]")),
        ("under_score.internal", Ok("under_score.internal")),
        ("", Ok("")),
        (":80", Err(BadHost::Invalid)),
        ("a b", Err(BadHost::Invalid)),
        ("a/b", Err(BadHost::Invalid)),
        ("a@b", Err(BadHost::Invalid)),
        ("example.com:80:80", Err(BadHost::Invalid)),
        ("example.com:http", Err(BadHost::Invalid)),
        ("example.com:123456", Err(BadHost::Invalid)),
        ("[::1", Err(BadHost::Invalid)),
        ("[]", Err(BadHost::Invalid)),
        ("[::1]x", Err(BadHost::Invalid)),
        ("[g::1]", Err(BadHost::Invalid)),
        ("::1", Err(BadHost::Invalid)),
    ];

    fn request(version: Version, uri: &str, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::builder().version(version).uri(uri);
        for value in hosts {
            builder = builder.header(HOST, *value);
        }
        builder.body(()).unwrap()
    }

    fn hosts(req: &Request<()>) -> Vec<&str> {
        req.headers()
            .get_all(HOST)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn host_header_values() {
        for &(value, expected) in HOSTS {
            let got = settle(&mut request(Version::HTTP_11, "/", &[value]));
            assert_eq!(
                got.as_ref().map(HostName::as_str),
                expected.as_ref().map(|h| *h),
                "{value}"
            );
        }
    }

    #[test]
    fn long_names_are_kept_whole() {
        let long = format!("{}.Example.com", "a".repeat(200));
        let host = settle(&mut request(Version::HTTP_11, "/", &[&long])).unwrap();
        assert_eq!(host.as_str(), long.to_ascii_lowercase());
        assert!(matches!(host, HostName::Heap(_)));
    }

    #[test]
    fn missing_and_repeated() {
        let missing = settle(&mut request(Version::HTTP_11, "/", &[]));
        assert_eq!(missing.unwrap_err(), BadHost::Missing);
        let old = settle(&mut request(Version::HTTP_10, "/", &[])).unwrap();
        assert_eq!(old.as_str(), "");
        for version in [Version::HTTP_11, Version::HTTP_2] {
            let two = settle(&mut request(version, "/", &["a", "b"]));
            assert_eq!(two.unwrap_err(), BadHost::Repeated, "{version:?}");
            let two = settle(&mut request(version, "http://a/", &["a", "a"]));
            assert_eq!(two.unwrap_err(), BadHost::Repeated, "{version:?}");
        }
    }

    #[test]
    fn http2_authority_is_the_host_and_a_different_host_field_is_refused() {
        let mut req = request(Version::HTTP_2, "http://API.example.com:8443/x?y", &[]);
        assert_eq!(settle(&mut req).unwrap().as_str(), "api.example.com");
        assert_eq!(hosts(&req), ["API.example.com:8443"]);
        assert_eq!(req.uri(), "/x?y");

        let mut req = request(
            Version::HTTP_2,
            "https://www.example.com/",
            &["WWW.example.com"],
        );
        assert_eq!(settle(&mut req).unwrap().as_str(), "www.example.com");
        assert_eq!(hosts(&req), ["www.example.com"]);

        for other in ["admin.example.com", "www.example.com:8443", ""] {
            let mut req = request(Version::HTTP_2, "https://www.example.com/", &[other]);
            assert_eq!(
                settle(&mut req).unwrap_err(),
                BadHost::Conflicting,
                "{other}"
            );
        }

        let mut req = request(Version::HTTP_2, "/x", &["other.example"]);
        assert_eq!(settle(&mut req).unwrap().as_str(), "other.example");
        let mut req = request(Version::HTTP_2, "/x", &[]);
        assert_eq!(settle(&mut req).unwrap().as_str(), "");
    }

    #[test]
    fn an_absolute_form_target_names_the_host_over_http1() {
        let mut req = request(Version::HTTP_10, "http://Admin.example.com/x", &[]);
        assert_eq!(settle(&mut req).unwrap().as_str(), "admin.example.com");
        assert_eq!(hosts(&req), ["Admin.example.com"]);
        assert_eq!(req.uri(), "/x");

        let mut req = request(
            Version::HTTP_11,
            "http://admin.example.com/x",
            &["www.example.com"],
        );
        assert_eq!(settle(&mut req).unwrap().as_str(), "admin.example.com");
        assert_eq!(hosts(&req), ["admin.example.com"]);

        let mut req = request(Version::HTTP_11, "http://admin.example.com/x", &[]);
        assert_eq!(settle(&mut req).unwrap_err(), BadHost::Missing);
        let mut req = request(Version::HTTP_11, "http://user@admin.example.com/x", &["a"]);
        assert_eq!(settle(&mut req).unwrap_err(), BadHost::Invalid);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Settling never panics, and a settled request has one `Host` and no authority left.
        #[test]
        fn settled_requests_have_one_host(
            authority in "[a-zA-Z0-9.:-]{0,20}",
            host in proptest::option::of("[a-zA-Z0-9.:-]{0,20}"),
            h2 in any::<bool>(),
        ) {
            let uri = if authority.is_empty() { "/x".to_owned() } else { format!("http://{authority}/x") };
            let Ok(uri) = uri.parse::<Uri>() else { return Ok(()) };
            let mut builder = Request::builder()
                .uri(uri)
                .version(if h2 { Version::HTTP_2 } else { Version::HTTP_11 });
            if let Some(host) = &host {
                builder = builder.header(HOST, host.as_str());
            }
            let Ok(mut req) = builder.body(()) else { return Ok(()) };
            if settle(&mut req).is_ok() {
                prop_assert!(req.uri().authority().is_none());
                prop_assert!(req.headers().get_all(HOST).iter().count() <= 1);
            }
        }
    }
}
