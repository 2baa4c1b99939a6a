//! Route conditions on a request beyond method, host and path: a header, a query parameter or
//! a cookie, present or with an exact value. The proxy's generated routers decide them with
//! these functions (through `edge_runtime::{header_is, query_is, cookie_is}`), and so does the
//! compiler for `edgec explain` and `test` blocks. Values are compared as sent (query values
//! are not percent-decoded), and nothing is allocated.

/// Whether a header with these `values` (one per line of it) is present, with `value` on one
/// of its lines if given.
#[inline]
pub fn header_is<'a>(mut values: impl Iterator<Item = &'a [u8]>, value: Option<&str>) -> bool {
    match value {
        None => values.next().is_some(),
        Some(value) => values.any(|v| v == value.as_bytes()),
    }
}

/// Whether the query has a parameter `name`, with `value` if given (`?a=1&b`: `b` has the
/// empty value).
#[inline]
pub fn query_is(query: Option<&str>, name: &str, value: Option<&str>) -> bool {
    query.is_some_and(|query| {
        query.split('&').any(|pair| {
            let (key, found) = pair.split_once('=').unwrap_or((pair, ""));
            key == name && value.is_none_or(|value| value == found)
        })
    })
}

/// Whether a cookie `name` is sent in these `Cookie` header `lines`, with `value` if given;
/// HTTP/2 clients may split cookies over several lines.
#[inline]
pub fn cookie_is<'a>(
    lines: impl Iterator<Item = &'a str>,
    name: &str,
    value: Option<&str>,
) -> bool {
    lines.flat_map(|line| line.split(';')).any(|pair| {
        let (key, found) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
        key == name && value.is_none_or(|value| value == found)
    })
}
