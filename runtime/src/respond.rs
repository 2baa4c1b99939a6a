//! Direct answers that do not involve an upstream.

use bytes::Bytes;
use http::{header::CONTENT_TYPE, HeaderValue, StatusCode};

use crate::{Body, Response};

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Marks an answer the proxy made itself (not one from a server, nor one from the cache), so
/// the site's error pages may replace its body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnAnswer;

/// Answers with `status` and a `text/plain` body. A status outside 100..=999 becomes 500.
pub fn respond(status: u16, body: &'static str) -> Response {
    let mut response = Response::new(Body::from_static(body));
    response.extensions_mut().insert(OwnAnswer);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    response
}

/// Answers with `status` and a `text/plain` body made for this request (e.g. a reason).
pub(crate) fn respond_text(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from_bytes(body));
    response.extensions_mut().insert(OwnAnswer);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    response
}

/// The answer when no route matches.
pub fn not_found() -> Response {
    respond(404, "404 Not Found\n")
}

/// The answer to a request the runtime refuses before routing.
pub(crate) fn bad_request() -> Response {
    respond(400, "400 Bad Request\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn respond_sets_status_type_and_length() {
        let response = respond(201, "made\n");
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.body().size_hint().exact(), Some(5));
    }

    #[test]
    fn not_found_is_404() {
        assert_eq!(not_found().status(), StatusCode::NOT_FOUND);
    }
}
