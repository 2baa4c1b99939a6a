//! Redirects: `redirect https` sends a client to the same host, path and query over HTTPS;
//! `redirect STATUS "LOCATION"` sends it to a fixed place.

use http::{header::LOCATION, uri::PathAndQuery, HeaderValue, Method, StatusCode};

use crate::{respond::bad_request, Body, Cx, Response};

/// Redirects to `https://HOST/PATH?QUERY`: the request's host (lower-cased, without its port,
/// so the HTTPS listener is expected on 443) and its normalised path and query.
///
/// `GET` and `HEAD` get `301 Moved Permanently`: for them 301 and 308 mean the same, and 301
/// is the one every client, crawler and cache has always understood. Other methods get
/// `308 Permanent Redirect`, which forbids turning the request into a `GET`, so a `POST` is
/// re-sent as a `POST` with its body. A request without a host cannot be redirected: 400.
pub fn redirect_https<B>(req: &http::Request<B>, cx: &Cx) -> Response {
    let host = cx.host();
    if host.is_empty() {
        return bad_request();
    }
    let path = req.uri().path_and_query().map_or("/", PathAndQuery::as_str);
    let mut location = String::with_capacity("https://".len() + host.len() + path.len());
    location.push_str("https://");
    location.push_str(host);
    location.push_str(path);
    // Host and path were checked on admission; this cannot fail, but must not panic.
    let Ok(location) = HeaderValue::try_from(location) else {
        return bad_request();
    };
    let mut response = Response::new(Body::from_static(""));
    *response.status_mut() = match *req.method() {
        Method::GET | Method::HEAD => StatusCode::MOVED_PERMANENTLY,
        _ => StatusCode::PERMANENT_REDIRECT,
    };
    response.headers_mut().insert(LOCATION, location);
    response
}

/// Answers `status` (a 3xx) with `Location: location` and no body. A location that is not a
/// valid header value (the compiler rules that out) or a status out of range gives 500.
pub fn redirect_to(status: u16, location: &'static str) -> Response {
    let mut response = Response::new(Body::from_static(""));
    match (
        StatusCode::from_u16(status),
        HeaderValue::from_str(location),
    ) {
        (Ok(status), Ok(location)) => {
            *response.status_mut() = status;
            response.headers_mut().insert(LOCATION, location);
        }
        _ => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downstream::admit::admit;

    /// Admits a request as the runtime would, then redirects it.
    fn redirect(method: Method, uri: &str, host: Option<&str>) -> Response {
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        let (req, host) = admit(
            builder.body(()).unwrap(),
            crate::downstream::admit::Rules::STRICT,
        )
        .unwrap();
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            host,
            false,
        );
        redirect_https(&req, &cx)
    }

    #[test]
    fn location_is_https_host_path_and_query() {
        let response = redirect(Method::GET, "/a/./b//c?x=1&y", Some("Shop.Example:8080"));
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            response.headers()[LOCATION],
            "https://shop.example/a/b/c?x=1&y"
        );
        let response = redirect(Method::HEAD, "/", Some("[::1]:80"));
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(response.headers()[LOCATION], "https://[::1]/");
    }

    #[test]
    fn other_methods_keep_their_method() {
        let response = redirect(Method::POST, "/form", Some("example.com"));
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(response.headers()[LOCATION], "https://example.com/form");
    }

    #[test]
    fn no_host_is_a_bad_request() {
        let mut req = http::Request::get("/").body(()).unwrap();
        *req.version_mut() = http::Version::HTTP_10;
        let (req, host) = admit(req, crate::downstream::admit::Rules::STRICT).unwrap();
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            host,
            false,
        );
        assert_eq!(redirect_https(&req, &cx).status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_fixed_redirect_has_its_status_and_location() {
        let response = redirect_to(302, "https://example.com/new");
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(response.headers()[LOCATION], "https://example.com/new");
    }
}
