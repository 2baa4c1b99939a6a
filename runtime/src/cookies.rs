//! A cookie's value among a request's `Cookie` headers (RFC 6265 §5.4: `name=value` pairs
//! separated by `;`, in one header or several), for what picks or decides by a cookie:
//! consistent hashing, sticky sessions, kept authorisation answers.

use http::{header::COOKIE, HeaderMap};

/// The value of the first cookie named `name`, without surrounding spaces.
pub(crate) fn value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let at = pair.iter().position(|&b| b == b'=')?;
            (pair[..at].trim_ascii() == name.as_bytes()).then(|| pair[at + 1..].trim_ascii())
        })
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
}
