//! Route conditions on the request beyond method, host and path: a header, a query parameter
//! or a cookie, present or with an exact value. Generated routers call these after the cheaper
//! conditions hold; they decide as `edge_formats::conditions` does, which the compiler uses for
//! `edgec explain` and `test` blocks.

use edge_formats::conditions;
use http::{header::COOKIE, HeaderMap, HeaderValue};

pub use conditions::query_is;

/// Whether a header `name` (lower-case) is present, with `value` on one of its lines if given.
#[inline]
pub fn header_is(headers: &HeaderMap, name: &str, value: Option<&str>) -> bool {
    conditions::header_is(
        headers.get_all(name).iter().map(HeaderValue::as_bytes),
        value,
    )
}

/// Whether a cookie `name` is sent, with `value` if given, in any of the `Cookie` headers.
#[inline]
pub fn cookie_is(headers: &HeaderMap, name: &str, value: Option<&str>) -> bool {
    let lines = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok());
    conditions::cookie_is(lines, name, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn headers_match_by_presence_or_exact_value_on_any_line() {
        let map = headers(&[("x-beta", "0"), ("x-beta", "1")]);
        assert!(header_is(&map, "x-beta", None));
        assert!(header_is(&map, "x-beta", Some("1")));
        assert!(!header_is(&map, "x-beta", Some("2")));
        assert!(!header_is(&map, "x-other", None));
    }

    #[test]
    fn query_parameters_match_whole_names_and_values() {
        assert!(query_is(Some("a=1&version=2"), "version", Some("2")));
        assert!(!query_is(Some("a=1&version=20"), "version", Some("2")));
        assert!(!query_is(Some("myversion=2"), "version", None));
        assert!(query_is(Some("debug&a=1"), "debug", None));
        assert!(query_is(Some("debug&a=1"), "debug", Some("")));
        assert!(!query_is(None, "debug", None));
    }

    #[test]
    fn cookies_match_across_headers() {
        let map = headers(&[("cookie", "a=1; canary=yes"), ("cookie", "b=2")]);
        assert!(cookie_is(&map, "canary", Some("yes")));
        assert!(cookie_is(&map, "b", Some("2")));
        assert!(!cookie_is(&map, "canary", Some("no")));
        assert!(!cookie_is(&map, "anary", None));
    }
}
