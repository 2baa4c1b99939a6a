//! Sticky sessions by an inserted cookie (`sticky cookie "srv"` on a pool): the cookie names
//! the server that answered by its opaque id (16 hex digits, a fixed hash of its address), a
//! request that carries it goes to that server while it is usable, and an answer from another
//! server (the first one, or after the client's server went down) sets the cookie anew. The
//! cookie is the proxy's: read for the pick, it is removed from what the servers get (as
//! HAProxy's `indirect` does), so they and their logs never see it.

use http::{header::SET_COOKIE, HeaderMap, HeaderValue};

use crate::{Response, StickySpec};

/// The server id the request's cookie names, if it carries a well-formed one; the cookie is
/// removed from the request, well-formed or not. A request without it is looked at once.
pub(super) fn take(headers: &mut HeaderMap, spec: &StickySpec) -> Option<u64> {
    let id = id(crate::cookies::value(headers, spec.cookie)?);
    crate::cookies::remove(headers, spec.cookie);
    id
}

/// The server id the request's cookie names, if it carries a well-formed one.
pub(super) fn wanted(headers: &HeaderMap, spec: &StickySpec) -> Option<u64> {
    id(crate::cookies::value(headers, spec.cookie)?)
}

/// The server id a cookie's value names: 16 hex digits.
fn id(value: &[u8]) -> Option<u64> {
    if value.len() != 16 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(value).ok()?, 16).ok()
}

/// Sets the cookie on an answer from the server `answered` (its sticky id) when the request
/// did not name that server.
pub(super) fn stick(
    response: &mut Response,
    spec: &StickySpec,
    wanted: Option<u64>,
    answered: u64,
) {
    if wanted == Some(answered) {
        return;
    }
    let mut cookie = format!("{}={answered:016x}; Path={}", spec.cookie, spec.path);
    if let Some(max_age) = spec.max_age {
        cookie.push_str(&format!("; Max-Age={}", max_age.as_secs()));
    }
    if spec.secure {
        cookie.push_str("; Secure");
    }
    if spec.http_only {
        cookie.push_str("; HttpOnly");
    }
    match HeaderValue::try_from(cookie) {
        Ok(value) => {
            response.headers_mut().append(SET_COOKIE, value);
        }
        Err(error) => tracing::warn!(%error, cookie = spec.cookie, "cannot set the sticky cookie"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::header::COOKIE;

    use super::*;

    const SPEC: StickySpec = StickySpec {
        cookie: "srv",
        max_age: Some(Duration::from_secs(3600)),
        path: "/",
        secure: true,
        http_only: true,
    };

    #[test]
    fn the_cookie_names_a_server_by_its_id_and_is_set_only_when_it_changes() {
        let mut response = crate::respond(200, "");
        stick(&mut response, &SPEC, None, 0xab);
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert_eq!(
            set,
            "srv=00000000000000ab; Path=/; Max-Age=3600; Secure; HttpOnly"
        );

        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "theme=dark; srv=00000000000000ab".parse().unwrap());
        assert_eq!(wanted(&headers, &SPEC), Some(0xab));
        let mut again = crate::respond(200, "");
        stick(&mut again, &SPEC, Some(0xab), 0xab);
        assert!(
            again.headers().get(SET_COOKIE).is_none(),
            "the same server: no new cookie"
        );

        for bad in [
            "srv=ab",
            "srv=zzzzzzzzzzzzzzzz",
            "other=00000000000000ab",
            "srv",
        ] {
            headers.insert(COOKIE, bad.parse().unwrap());
            assert_eq!(wanted(&headers, &SPEC), None, "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_taken_off_the_request_well_formed_or_not() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "theme=dark; srv=00000000000000ab".parse().unwrap());
        assert_eq!(take(&mut headers, &SPEC), Some(0xab));
        assert_eq!(headers[COOKIE], "theme=dark");
        headers.insert(COOKIE, "srv=forged".parse().unwrap());
        assert_eq!(take(&mut headers, &SPEC), None);
        assert!(headers.get(COOKIE).is_none());
    }
}
