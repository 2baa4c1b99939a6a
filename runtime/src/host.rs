//! The request's host: where it comes from, how it is checked, and its lower-cased form.
//!
//! HTTP/2 requests carry it in the `:authority` pseudo-header (the URI's authority), HTTP/1 in
//! the `Host` header. The port is stripped; IPv6 literals keep their brackets (`[::1]`), as in
//! a URI. Names up to [`INLINE`] bytes are kept inline, so the common case does not allocate.

use http::{header::HOST, HeaderMap, Uri, Version};

/// Longest host kept without allocating.
const INLINE: usize = 64;

/// Why a request's host is refused; the request gets a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadHost {
    /// An HTTP/1.1 request without a `Host` header.
    Missing,
    /// More than one `Host` header.
    Repeated,
    /// A `Host` that is not `host[:port]`.
    Invalid,
}

/// A lower-cased host name without its port.
#[derive(Clone)]
pub(crate) enum HostName {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl HostName {
    pub(crate) const EMPTY: HostName = HostName::Inline {
        len: 0,
        bytes: [0; INLINE],
    };

    pub(crate) fn as_str(&self) -> &str {
        match self {
            HostName::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("a host name is checked to be ASCII before it is stored"),
            HostName::Heap(name) => name,
        }
    }

    /// `host[:port]` checked and lower-cased as a `Host` header value is, without its port;
    /// `None` if it is not a valid host.
    pub(crate) fn parse(host: &str) -> Option<HostName> {
        split_host(host.as_bytes()).ok().map(HostName::lower_case)
    }

    /// Stores `host`, which [`split_host`] checked to be ASCII.
    fn lower_case(host: &[u8]) -> HostName {
        match u8::try_from(host.len()) {
            Ok(len) if host.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                for (to, from) in bytes.iter_mut().zip(host) {
                    *to = from.to_ascii_lowercase();
                }
                HostName::Inline { len, bytes }
            }
            _ => HostName::Heap(
                String::from_utf8_lossy(host)
                    .to_ascii_lowercase()
                    .into_boxed_str(),
            ),
        }
    }
}

impl std::fmt::Debug for HostName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Finds, checks and lower-cases the host of a request.
pub(crate) fn host_of(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<HostName, BadHost> {
    if version == Version::HTTP_2 {
        if let Some(authority) = uri.authority() {
            return split_host(authority.as_str().as_bytes()).map(HostName::lower_case);
        }
    }
    let mut values = headers.get_all(HOST).iter();
    match (values.next(), values.next()) {
        (None, _) if version == Version::HTTP_11 => Err(BadHost::Missing),
        (None, _) => Ok(HostName::EMPTY),
        (Some(_), Some(_)) => Err(BadHost::Repeated),
        (Some(value), None) => split_host(value.as_bytes()).map(HostName::lower_case),
    }
}

/// Checks `host[:port]` and returns the host part. An empty value is allowed (RFC 9112 §3.2).
fn split_host(value: &[u8]) -> Result<&[u8], BadHost> {
    let (host, port) = if value.first() == Some(&b'[') {
        let close = value
            .iter()
            .position(|&b| b == b']')
            .ok_or(BadHost::Invalid)?;
        let (host, rest) = value.split_at(close + 1);
        let inner = &host[1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(BadHost::Invalid);
        }
        (host, rest)
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let (host, rest) = value.split_at(end);
        if !host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(BadHost::Invalid);
        }
        (host, rest)
    };
    match port {
        [] => Ok(host),
        [b':', digits @ ..]
            if !host.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit) =>
        {
            Ok(host)
        }
        _ => Err(BadHost::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const HOSTS: &[(&str, Result<&str, BadHost>)] = &[
        ("example.com", Ok("example.com")),
        ("Example.COM", Ok("example.com")),
        ("example.com:8080", Ok("example.com")),
        ("EXAMPLE.com:", Ok("example.com")),
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

    fn with_host(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(HOST, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn host_header_values() {
        let uri = Uri::from_static("/");
        for &(value, expected) in HOSTS {
            let got = host_of(Version::HTTP_11, &uri, &with_host(&[value]));
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
        let host = host_of(
            Version::HTTP_11,
            &Uri::from_static("/"),
            &with_host(&[&long]),
        )
        .unwrap();
        assert_eq!(host.as_str(), long.to_ascii_lowercase());
        assert!(matches!(host, HostName::Heap(_)));
    }

    #[test]
    fn missing_and_repeated() {
        let uri = Uri::from_static("/");
        let none = HeaderMap::new();
        assert_eq!(
            host_of(Version::HTTP_11, &uri, &none).unwrap_err(),
            BadHost::Missing
        );
        assert_eq!(host_of(Version::HTTP_10, &uri, &none).unwrap().as_str(), "");
        let two = with_host(&["a", "b"]);
        assert_eq!(
            host_of(Version::HTTP_11, &uri, &two).unwrap_err(),
            BadHost::Repeated
        );
    }

    #[test]
    fn http2_uses_the_authority() {
        let uri = Uri::from_static("http://API.example.com:8443/x");
        let headers = with_host(&["other.example"]);
        let host = host_of(Version::HTTP_2, &uri, &headers).unwrap();
        assert_eq!(host.as_str(), "api.example.com");
        let host = host_of(Version::HTTP_2, &Uri::from_static("/x"), &headers).unwrap();
        assert_eq!(host.as_str(), "other.example");
        let host = host_of(Version::HTTP_2, &Uri::from_static("/x"), &HeaderMap::new()).unwrap();
        assert_eq!(host.as_str(), "");
    }
}
