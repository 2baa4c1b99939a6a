//! `security_headers`: the headers browsers use to protect users of the site, added to every
//! answer of the route that does not already carry them (an application may set its own per
//! response). The compiler turns the preset and the config's overrides into a fixed list; HSTS
//! is sent only on answers to requests that arrived over TLS, as RFC 6797 requires.

use std::future::{ready, Future};

use http::{header::Entry, header::STRICT_TRANSPORT_SECURITY, HeaderName, HeaderValue};

use crate::{Cx, Policy, Request, Response};

/// A `security_headers` policy with the preset and overrides applied.
#[derive(Debug)]
pub struct SecurityHeadersSpec {
    pub name: &'static str,
    /// Added to every answer that lacks them.
    pub headers: &'static [(HeaderName, HeaderValue)],
    /// `Strict-Transport-Security`, for answers over TLS; `None`: not sent.
    pub hsts: Option<HeaderValue>,
}

/// The `security_headers` policy.
pub struct SecurityHeaders {
    spec: &'static SecurityHeadersSpec,
}

impl SecurityHeaders {
    pub fn new(spec: &'static SecurityHeadersSpec) -> SecurityHeaders {
        SecurityHeaders { spec }
    }
}

impl Policy for SecurityHeaders {
    /// Whether the request arrived over TLS.
    type Ticket = bool;

    fn request(
        &self,
        _req: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<bool, Response>> + Send {
        ready(Ok(cx.is_tls()))
    }

    fn response(&self, tls: bool, resp: &mut Response) {
        let headers = resp.headers_mut();
        for (name, value) in self.spec.headers {
            if let Entry::Vacant(entry) = headers.entry(name) {
                entry.insert(value.clone());
            }
        }
        if let (true, Some(hsts)) = (tls, &self.spec.hsts) {
            if let Entry::Vacant(entry) = headers.entry(STRICT_TRANSPORT_SECURITY) {
                entry.insert(hsts.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond;

    static HEADERS: [(HeaderName, HeaderValue); 2] = [
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    static SPEC: SecurityHeadersSpec = SecurityHeadersSpec {
        name: "hardened",
        headers: &HEADERS,
        hsts: Some(HeaderValue::from_static("max-age=31536000")),
    };

    #[test]
    fn headers_are_added_unless_the_answer_has_them_and_hsts_only_over_tls() {
        let policy = SecurityHeaders::new(&SPEC);
        let mut resp = respond(200, "ok");
        resp.headers_mut()
            .insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
        policy.response(false, &mut resp);
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.headers()["x-frame-options"], "SAMEORIGIN");
        assert!(!resp.headers().contains_key(STRICT_TRANSPORT_SECURITY));
        let mut resp = respond(200, "ok");
        policy.response(true, &mut resp);
        assert_eq!(
            resp.headers()[STRICT_TRANSPORT_SECURITY],
            "max-age=31536000"
        );
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
    }
}
