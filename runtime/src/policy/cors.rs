//! `cors`: cross-origin resource sharing for browsers, answered at the edge.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here
//! and never reaches the route: 204 with the allowed origin, methods, headers, max age and
//! credentials when the origin, the method and every requested header (ASCII case ignored) are
//! allowed, else 403 without CORS headers. With no `methods` listed, the CORS-safelisted
//! `GET`, `HEAD` and `POST` are allowed. Other requests pass; when their `Origin` is allowed,
//! the response gets `Access-Control-Allow-Origin` (`*` when `origins` has `"*"` and
//! credentials are off, else the origin echoed), `Vary: Origin` (added to any `Vary` already
//! there), `Access-Control-Expose-Headers` and, with credentials,
//! `Access-Control-Allow-Credentials: true`. A request without an allowed `Origin` gets no
//! CORS headers. With `"*"` and credentials, every origin is allowed and echoed.

use std::future::{ready, Future};

use http::{
    header::{
        ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
        ORIGIN, VARY,
    },
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode,
};

use crate::{respond, Body, Cx, Policy, Request, Response};

/// A `cors` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct CorsSpec {
    pub name: &'static str,
    /// Allowed origins (`"https://app.example.com"`), or `"*"` for any.
    pub origins: &'static [&'static str],
    /// Methods a preflight may ask for; empty: `GET`, `HEAD` and `POST`.
    pub methods: &'static [Method],
    /// Request headers a preflight may ask for.
    pub headers: &'static [HeaderName],
    /// Response headers scripts may read.
    pub expose: &'static [HeaderName],
    /// Whether requests may carry credentials (cookies, `Authorization`).
    pub credentials: bool,
    /// How long a browser may cache a preflight's answer.
    pub max_age: Option<std::time::Duration>,
}

/// The `cors` policy.
pub struct Cors {
    spec: &'static CorsSpec,
    any_origin: bool,
    /// The methods a preflight may ask for.
    methods: &'static [Method],
    /// Whether `Access-Control-Allow-Origin` is `*` rather than the echoed origin.
    star: bool,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

/// What the request step hands to the response step: the `Access-Control-Allow-Origin` value
/// for an allowed origin.
#[derive(Debug)]
pub struct AllowedOrigin(Option<HeaderValue>);

const SAFELISTED: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
const STAR: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");
const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");

impl Cors {
    pub fn new(spec: &'static CorsSpec) -> Cors {
        let any_origin = spec.origins.contains(&"*");
        let methods = if spec.methods.is_empty() {
            SAFELISTED
        } else {
            spec.methods
        };
        Cors {
            spec,
            any_origin,
            methods,
            star: any_origin && !spec.credentials,
            allow_methods: list(methods.iter().map(Method::as_str)),
            allow_headers: list(spec.headers.iter().map(HeaderName::as_str)),
            expose: list(spec.expose.iter().map(HeaderName::as_str)),
            max_age: spec.max_age.map(|age| HeaderValue::from(age.as_secs())),
        }
    }

    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        self.any_origin
            || self
                .spec
                .origins
                .iter()
                .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
    }

    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.star {
            STAR
        } else {
            origin.clone()
        }
    }

    fn preflight(&self, origin: &HeaderValue, method: &HeaderValue, req: &Request) -> Response {
        if !(self.origin_allowed(origin)
            && self.method_allowed(method)
            && self.headers_allowed(req.headers()))
        {
            tracing::debug!(
                policy = self.spec.name,
                ?origin,
                ?method,
                "preflight refused"
            );
            return respond(403, "403 Forbidden\n");
        }
        let mut response = Response::new(Body::from_static(""));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin(origin));
        headers.append(VARY, VARY_ORIGIN);
        for (name, value) in [
            (ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods),
            (ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers),
            (ACCESS_CONTROL_MAX_AGE, &self.max_age),
        ] {
            if let Some(value) = value {
                headers.insert(name, value.clone());
            }
        }
        if self.spec.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        response
    }

    fn method_allowed(&self, method: &HeaderValue) -> bool {
        self.methods
            .iter()
            .any(|m| m.as_str().as_bytes() == method.as_bytes())
    }

    fn headers_allowed(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .all(|value| match value.to_str() {
                Ok(names) => names
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .all(|name| {
                        self.spec
                            .headers
                            .iter()
                            .any(|allowed| allowed.as_str().eq_ignore_ascii_case(name))
                    }),
                Err(_) => false,
            })
    }
}

impl Policy for Cors {
    type Ticket = AllowedOrigin;

    fn request(
        &self,
        req: &mut Request,
        _: &Cx,
    ) -> impl Future<Output = Result<AllowedOrigin, Response>> + Send {
        let headers = req.headers();
        ready(match headers.get(ORIGIN) {
            None => Ok(AllowedOrigin(None)),
            Some(origin) => match headers.get(ACCESS_CONTROL_REQUEST_METHOD) {
                Some(method) if req.method() == Method::OPTIONS => {
                    Err(self.preflight(origin, method, req))
                }
                _ => Ok(AllowedOrigin(
                    self.origin_allowed(origin)
                        .then(|| self.allow_origin(origin)),
                )),
            },
        })
    }

    fn response(&self, AllowedOrigin(allowed): AllowedOrigin, resp: &mut Response) {
        let Some(allow_origin) = allowed else {
            return;
        };
        let headers = resp.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if !varies_on_origin(headers) {
            headers.append(VARY, VARY_ORIGIN);
        }
        if let Some(expose) = &self.expose {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        if self.spec.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
    }
}

/// `a, b, c`, or `None` for an empty list.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let joined = items.collect::<Vec<_>>().join(", ");
    if joined.is_empty() {
        return None;
    }
    HeaderValue::try_from(joined).ok()
}

/// Whether `Vary` already names `Origin` (or is `*`).
fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|name| name == "*" || name.eq_ignore_ascii_case("origin"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{host_name::HostName, RequestBody};
    use bytes::Bytes;
    use std::time::Duration;

    // Header names hold a `Bytes`: arrays of them are statics of their own, not temporaries.
    static APP_HEADERS: [HeaderName; 2] = [
        HeaderName::from_static("content-type"),
        HeaderName::from_static("x-api-key"),
    ];
    static APP_EXPOSE: [HeaderName; 1] = [HeaderName::from_static("x-total")];

    static APP: CorsSpec = CorsSpec {
        name: "app",
        origins: &["https://app.example.com"],
        methods: &[Method::GET, Method::PUT],
        headers: &APP_HEADERS,
        expose: &APP_EXPOSE,
        credentials: true,
        max_age: Some(Duration::from_secs(600)),
    };

    static ANY: CorsSpec = CorsSpec {
        name: "any",
        origins: &["*"],
        methods: &[],
        headers: &[],
        expose: &[],
        credentials: false,
        max_age: None,
    };

    fn request(method: Method, headers: &[(&'static str, &'static str)]) -> Request {
        let mut builder = http::Request::builder().method(method).uri("/things");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(RequestBody::full(Bytes::new())).unwrap()
    }

    fn cx() -> Cx {
        Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        )
    }

    /// The answer `cors` gives in place of the route.
    async fn answered(cors: &Cors, mut req: Request) -> Response {
        match cors.request(&mut req, &cx()).await {
            Ok(_) => panic!("the request passed"),
            Err(response) => response,
        }
    }

    /// The route's 200 (with `vary` if given) once `cors` has seen the request and edited
    /// the response.
    async fn passed(cors: &Cors, mut req: Request, vary: Option<&'static str>) -> Response {
        let Ok(ticket) = cors.request(&mut req, &cx()).await else {
            panic!("the request was answered");
        };
        let mut response = respond(200, "ok\n");
        if let Some(vary) = vary {
            response
                .headers_mut()
                .insert(VARY, HeaderValue::from_static(vary));
        }
        cors.response(ticket, &mut response);
        response
    }

    fn header(response: &Response, name: HeaderName) -> Option<&str> {
        response.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn an_allowed_preflight_is_answered_here() {
        let cors = Cors::new(&APP);
        let req = request(
            Method::OPTIONS,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "Content-Type, X-API-Key"),
            ],
        );
        let response = answered(&cors, req).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let get = |name| header(&response, name);
        assert_eq!(
            get(ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://app.example.com")
        );
        assert_eq!(get(ACCESS_CONTROL_ALLOW_METHODS), Some("GET, PUT"));
        assert_eq!(
            get(ACCESS_CONTROL_ALLOW_HEADERS),
            Some("content-type, x-api-key")
        );
        assert_eq!(get(ACCESS_CONTROL_MAX_AGE), Some("600"));
        assert_eq!(get(ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
        assert_eq!(get(VARY), Some("Origin"));
    }

    #[tokio::test]
    async fn a_disallowed_preflight_is_403_without_cors_headers() {
        let cors = Cors::new(&APP);
        for headers in [
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ][..],
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "DELETE"),
            ],
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-api-key, x-other"),
            ],
        ] {
            let response = answered(&cors, request(Method::OPTIONS, headers)).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        }
    }

    #[tokio::test]
    async fn an_actual_request_gets_the_origin_echoed_with_credentials() {
        let cors = Cors::new(&APP);
        let req = request(Method::PUT, &[("origin", "https://app.example.com")]);
        let response = passed(&cors, req, None).await;
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://app.example.com")
        );
        assert_eq!(
            header(&response, ACCESS_CONTROL_EXPOSE_HEADERS),
            Some("x-total")
        );
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert_eq!(header(&response, VARY), Some("Origin"));
        // Vary is added to, not replaced, and not repeated.
        let req = request(Method::GET, &[("origin", "https://app.example.com")]);
        let response = passed(&cors, req, Some("Accept-Encoding")).await;
        let vary: Vec<_> = response.headers().get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
        let req = request(Method::GET, &[("origin", "https://app.example.com")]);
        let response = passed(&cors, req, Some("origin, accept")).await;
        let vary: Vec<_> = response.headers().get_all(VARY).iter().collect();
        assert_eq!(vary, ["origin, accept"]);
    }

    #[tokio::test]
    async fn other_or_absent_origins_get_nothing() {
        let cors = Cors::new(&APP);
        for headers in [&[("origin", "https://evil.example")][..], &[]] {
            let response = passed(&cors, request(Method::GET, headers), None).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
            assert!(header(&response, VARY).is_none());
        }
        // An OPTIONS that is not a preflight passes to the route.
        let req = request(Method::OPTIONS, &[("origin", "https://app.example.com")]);
        assert_eq!(passed(&cors, req, None).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn any_origin_without_credentials_is_a_star() {
        let cors = Cors::new(&ANY);
        let req = request(Method::GET, &[("origin", "https://x.example")]);
        let response = passed(&cors, req, None).await;
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert!(header(&response, ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let req = request(
            Method::OPTIONS,
            &[
                ("origin", "https://x.example"),
                ("access-control-request-method", "POST"),
            ],
        );
        let response = answered(&cors, req).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_METHODS),
            Some("GET, HEAD, POST")
        );
        assert!(header(&response, ACCESS_CONTROL_ALLOW_HEADERS).is_none());
    }
}
