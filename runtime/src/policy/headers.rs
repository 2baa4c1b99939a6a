//! `headers`: fixed edits of a route's request headers (before the route's action) and
//! response headers (on every answer of the route, its refusals included).
//!
//! Each side's edits apply in one order: `remove` every listed header, then `set` (replacing
//! all values of the name), then `add` (appending a value to those already there).

use std::future::{ready, Future};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Cx, Policy, Request, Response};

/// A `headers` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct HeadersSpec {
    pub name: &'static str,
    /// Edits of the request, before it goes on.
    pub request: HeaderEdits,
    /// Edits of the response.
    pub response: HeaderEdits,
}

/// Edits of one header map.
#[derive(Debug)]
pub struct HeaderEdits {
    /// Headers given exactly this value, replacing any others.
    pub set: &'static [(HeaderName, HeaderValue)],
    /// Values appended.
    pub add: &'static [(HeaderName, HeaderValue)],
    /// Headers removed.
    pub remove: &'static [HeaderName],
}

impl HeaderEdits {
    /// No edits.
    pub const NONE: HeaderEdits = HeaderEdits {
        set: &[],
        add: &[],
        remove: &[],
    };

    fn apply(&self, headers: &mut HeaderMap) {
        for name in self.remove {
            headers.remove(name);
        }
        for (name, value) in self.set {
            headers.insert(name, value.clone());
        }
        for (name, value) in self.add {
            headers.append(name, value.clone());
        }
    }
}

/// The `headers` policy.
pub struct Headers {
    spec: &'static HeadersSpec,
}

impl Headers {
    pub fn new(spec: &'static HeadersSpec) -> Headers {
        Headers { spec }
    }
}

impl Policy for Headers {
    type Ticket = ();

    fn request(
        &self,
        req: &mut Request,
        _: &Cx,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        self.spec.request.apply(req.headers_mut());
        ready(Ok(()))
    }

    fn response(&self, (): (), resp: &mut Response) {
        self.spec.response.apply(resp.headers_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{host_name::HostName, respond, RequestBody};
    use bytes::Bytes;

    // Header names and values hold a `Bytes`: arrays of them are statics of their own, not
    // temporaries.
    static REQUEST_SET: [(HeaderName, HeaderValue); 1] = [(
        HeaderName::from_static("x-env"),
        HeaderValue::from_static("prod"),
    )];
    static REQUEST_ADD: [(HeaderName, HeaderValue); 1] = [(
        HeaderName::from_static("x-tag"),
        HeaderValue::from_static("edge"),
    )];
    static REQUEST_REMOVE: [HeaderName; 2] = [
        HeaderName::from_static("cookie"),
        HeaderName::from_static("x-tag"),
    ];
    static RESPONSE_ADD: [(HeaderName, HeaderValue); 1] = [(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    )];
    static RESPONSE_REMOVE: [HeaderName; 1] = [HeaderName::from_static("server")];

    static EDITS: HeadersSpec = HeadersSpec {
        name: "edits",
        request: HeaderEdits {
            set: &REQUEST_SET,
            add: &REQUEST_ADD,
            remove: &REQUEST_REMOVE,
        },
        response: HeaderEdits {
            add: &RESPONSE_ADD,
            remove: &RESPONSE_REMOVE,
            ..HeaderEdits::NONE
        },
    };

    #[tokio::test]
    async fn request_edits_remove_then_set_then_add() {
        let headers = Headers::new(&EDITS);
        let mut req = http::Request::get("/")
            .header("cookie", "a=1")
            .header("x-env", "dev")
            .header("x-env", "test")
            .header("x-tag", "client")
            .header("accept", "*/*")
            .body(RequestBody::full(Bytes::new()))
            .unwrap();
        let cx = Cx::new(
            "web",
            "127.0.0.1:1".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        );
        headers.request(&mut req, &cx).await.unwrap();
        let all = |name| -> Vec<_> { req.headers().get_all(name).iter().cloned().collect() };
        assert!(all("cookie").is_empty());
        assert_eq!(all("x-env"), ["prod"]);
        // Removed before added: the client's value is gone, ours is there.
        assert_eq!(all("x-tag"), ["edge"]);
        assert_eq!(all("accept"), ["*/*"]);
    }

    #[test]
    fn response_edits_apply_and_none_changes_nothing() {
        let headers = Headers::new(&EDITS);
        let mut response = respond(200, "ok\n");
        response
            .headers_mut()
            .insert("server", HeaderValue::from_static("app/1.0"));
        response
            .headers_mut()
            .insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
        headers.response((), &mut response);
        assert!(response.headers().get("server").is_none());
        let frame: Vec<_> = response
            .headers()
            .get_all("x-frame-options")
            .iter()
            .collect();
        assert_eq!(frame, ["SAMEORIGIN", "DENY"]);

        let before = response.headers().clone();
        HeaderEdits::NONE.apply(response.headers_mut());
        assert_eq!(response.headers(), &before);
    }
}
