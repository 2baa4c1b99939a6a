//! Route conditions on the request beyond method, host and path: a header, a query parameter
//! or a cookie, present or with an exact value. Generated routers call these after the cheaper
//! conditions hold. Values are compared as sent (query values are not percent-decoded), and
//! nothing is allocated.

use http::{header::COOKIE, HeaderMap};

/// Whether a header `name` (lower-case) is present, with `value` on one of its lines if given.
pub fn header_is(headers: &HeaderMap, name: &str, value: Option<&str>) -> bool {
    let mut values = headers.get_all(name).iter();
    match value {
        None => values.next().is_some(),
        Some(value) => values.any(|v| v.as_bytes() == value.as_bytes()),
    }
}

/// Whether the query has a parameter `name`, with `value` if given (`?a=1&b`: `b` has the
/// empty value).
pub fn query_is(query: Option<&str>, name: &str, value: Option<&str>) -> bool {
    query.is_some_and(|query| {
        query.split('&').any(|pair| {
            let (key, found) = pair.split_once('=').unwrap_or((pair, ""));
            key == name && value.is_none_or(|value| value == found)
        })
    })
}

/// Whether a cookie `name` is sent, with `value` if given; HTTP/2 clients may split cookies
/// over several `Cookie` headers.
pub fn cookie_is(headers: &HeaderMap, name: &str, value: Option<&str>) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .any(|pair| {
            let (key, found) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
            key == name && value.is_none_or(|value| value == found)
        })
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
