//! A cookie's value among a request's `Cookie` headers (RFC 6265 §5.4: `name=value` pairs
//! separated by `;`, in one header or several), for what picks or decides by a cookie:
//! consistent hashing, sticky sessions, kept authorisation answers; and the removal of the
//! cookie the proxy keeps to itself (a sticky session's).

use http::{header::COOKIE, HeaderMap, HeaderValue};
use smallvec::SmallVec;

/// The value of the first cookie named `name`, without surrounding spaces.
pub(crate) fn value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| named(pair, name))
}

/// The value of a `name=value` pair (a piece of a `Cookie` header between `;`) if it is the
/// cookie `name`.
fn named<'p>(pair: &'p [u8], name: &str) -> Option<&'p [u8]> {
    let pair = pair.trim_ascii();
    let at = pair.iter().position(|&b| b == b'=')?;
    (pair[..at].trim_ascii() == name.as_bytes()).then(|| pair[at + 1..].trim_ascii())
}

/// Removes every cookie named `name` from the `Cookie` headers, keeping the others: a header
/// that held one is written anew with the rest (joined by `; `), or removed when nothing is
/// left; the other headers stay as they were. Costs one look when there is no such cookie.
pub(crate) fn remove(headers: &mut HeaderMap, name: &str) {
    if value(headers, name).is_none() {
        return;
    }
    let kept: SmallVec<[HeaderValue; 2]> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| {
            let bytes = header.as_bytes();
            if bytes
                .split(|&b| b == b';')
                .all(|pair| named(pair, name).is_none())
            {
                return Some(header.clone());
            }
            let mut rest = Vec::with_capacity(bytes.len());
            for pair in bytes.split(|&b| b == b';') {
                let pair = pair.trim_ascii();
                if pair.is_empty() || named(pair, name).is_some() {
                    continue;
                }
                if !rest.is_empty() {
                    rest.extend_from_slice(b"; ");
                }
                rest.extend_from_slice(pair);
            }
            if rest.is_empty() {
                return None;
            }
            // The pieces of a header value, joined by `; `, always make one.
            HeaderValue::from_bytes(&rest).ok()
        })
        .collect();
    headers.remove(COOKIE);
    for header in kept {
        headers.append(COOKIE, header);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "theme=dark; sid = abc ".parse().unwrap());
        headers.append(COOKIE, "srv=1".parse().unwrap());
        assert_eq!(value(&headers, "sid"), Some(&b"abc"[..]));
        assert_eq!(value(&headers, "srv"), Some(&b"1"[..]));
        assert_eq!(value(&headers, "theme"), Some(&b"dark"[..]));
        assert_eq!(value(&headers, "the"), None);
        assert_eq!(value(&HeaderMap::new(), "sid"), None);
    }

    fn cookies(headers: &HeaderMap) -> Vec<&str> {
        headers
            .get_all(COOKIE)
            .iter()
            .map(|header| header.to_str().unwrap())
            .collect()
    }

    #[test]
    fn one_cookie_is_removed_and_the_others_kept() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "theme=dark; srv = 00ab ;sid=abc".parse().unwrap());
        headers.append(COOKIE, "srv=00cd".parse().unwrap());
        headers.append(COOKIE, "lang=en;  srvx=1".parse().unwrap());
        remove(&mut headers, "srv");
        assert_eq!(
            cookies(&headers),
            ["theme=dark; sid=abc", "lang=en;  srvx=1"]
        );
        assert_eq!(value(&headers, "srv"), None);
        assert_eq!(value(&headers, "srvx"), Some(&b"1"[..]));

        // Nothing to remove: the headers are left as they were written.
        let before = headers.clone();
        remove(&mut headers, "srv");
        assert_eq!(headers, before);

        // The only cookie: no `Cookie` header is left.
        let mut only = HeaderMap::new();
        only.append(COOKIE, "srv=00ab".parse().unwrap());
        only.append(COOKIE, " srv=00cd ; ".parse().unwrap());
        remove(&mut only, "srv");
        assert!(only.get(COOKIE).is_none(), "{only:?}");
    }
}
