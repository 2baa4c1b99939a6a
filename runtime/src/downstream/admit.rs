//! The checks every request passes before the gateway sees it ("secure by default").
//!
//! Ambiguous framing, a missing, invalid or conflicting host and an unnormalisable path are
//! refused with 400. The request's one host is settled here (`host::settle`): it leaves as the
//! only `Host` with an origin-form target. A path that is not in normal form is rewritten in the
//! URI (query untouched), so the gateway routes on exactly the path the backend will receive.

use std::borrow::Cow;

use http::{
    header::{CONTENT_LENGTH, TRANSFER_ENCODING},
    uri::PathAndQuery,
    Request, Uri,
};

use crate::{
    downstream::host::{settle, BadHost},
    downstream::normalize::{normalize, BadPath, PathRules},
    downstream::scrub::scrub,
    host_name::HostName,
};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Both `Transfer-Encoding` and `Content-Length`.
    AmbiguousFraming,
    Host(BadHost),
    Path(BadPath),
}

/// What a listener lets through beyond the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Header names with `_`.
    pub(crate) underscores: bool,
    pub(crate) paths: PathRules,
    /// The connection comes from one of the listener's `trusted_proxies`: its `Forwarded`
    /// is kept.
    pub(crate) trusted: bool,
}

impl Rules {
    #[cfg(any(test, feature = "engine-bench"))]
    pub(crate) const STRICT: Rules = Rules {
        underscores: false,
        paths: PathRules::STRICT,
        trusted: false,
    };
}

/// Checks `req`, drops the client fields that could pass for the proxy's own (`scrub`) and
/// normalises its path, as `rules` say; returns the request and its host. The HTTP/1 engine
/// keeps both framing fields of a head that has them, for this check to refuse it.
pub(crate) fn admit<B>(
    mut req: Request<B>,
    rules: Rules,
) -> Result<(Request<B>, HostName), Refusal> {
    let headers = req.headers();
    if headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH) {
        return Err(Refusal::AmbiguousFraming);
    }
    let host = settle(&mut req).map_err(Refusal::Host)?;
    scrub(req.headers_mut(), rules.underscores, rules.trusted);
    if let Cow::Owned(path) = normalize(req.uri().path(), rules.paths).map_err(Refusal::Path)? {
        *req.uri_mut() = with_path(req.uri(), path)?;
    }
    Ok((req, host))
}

/// `uri` with its path replaced by `path`, keeping everything else.
fn with_path(uri: &Uri, mut path: String) -> Result<Uri, Refusal> {
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query =
        Some(PathAndQuery::try_from(path).map_err(|_| Refusal::Path(BadPath::BadPercent))?);
    Uri::from_parts(parts).map_err(|_| Refusal::Path(BadPath::BadPercent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Version;

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    const HOST: (&str, &str) = ("host", "Example.com:80");

    #[test]
    fn a_normal_request_passes_unchanged() {
        let (req, host) = admit(request("/a/b?c=%2e%2e", &[HOST]), Rules::STRICT).unwrap();
        assert_eq!(req.uri(), "/a/b?c=%2e%2e");
        assert_eq!(host.as_str(), "example.com");
    }

    #[test]
    fn paths_are_rewritten_and_queries_kept() {
        let cases = [
            ("/a/../hello", "/hello"),
            ("//x?y=1", "/x?y=1"),
            ("/%7e/./b?q=/../", "/~/b?q=/../"),
            ("http://example.com/a//b?x", "/a/b?x"),
        ];
        for (input, expected) in cases {
            let (req, _) = admit(request(input, &[HOST]), Rules::STRICT).unwrap();
            assert_eq!(req.uri(), expected, "{input}");
        }
    }

    #[test]
    fn refusals() {
        let cases = [
            (request("/..", &[HOST]), Refusal::Path(BadPath::AboveRoot)),
            (request("/%zz", &[HOST]), Refusal::Path(BadPath::BadPercent)),
            (request("*", &[HOST]), Refusal::Path(BadPath::NotAbsolute)),
            (request("/", &[]), Refusal::Host(BadHost::Missing)),
            (
                request("/", &[("host", "a b")]),
                Refusal::Host(BadHost::Invalid),
            ),
            (
                request(
                    "/",
                    &[
                        HOST,
                        ("transfer-encoding", "chunked"),
                        ("content-length", "3"),
                    ],
                ),
                Refusal::AmbiguousFraming,
            ),
        ];
        for (req, expected) in cases {
            let uri = req.uri().clone();
            assert_eq!(admit(req, Rules::STRICT).unwrap_err(), expected, "{uri}");
        }
    }

    #[test]
    fn http10_without_host_is_allowed() {
        let mut req = request("/", &[]);
        *req.version_mut() = Version::HTTP_10;
        let (_, host) = admit(req, Rules::STRICT).unwrap();
        assert_eq!(host.as_str(), "");
    }
}
