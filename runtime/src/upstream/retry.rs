//! When a failed attempt is tried again on another server, and with what request.
//!
//! A condition must be enabled in the pool's `RetryOn`, and re-sending must be safe: a request
//! that never left (no connection, or a connection that closed before it was written) can
//! always go elsewhere. One that may have reached the server is sent again only if its method
//! is idempotent and its body was empty, rebuilt from its method, URI and headers kept for that
//! purpose; a request whose body was streamed out is never re-sent.

use http::{HeaderMap, Method, Request, Uri, Version};

use crate::{
    body::Outgoing,
    upstream::error::UpstreamError,
    upstream::spec::{Retry, RetryOn},
    Response,
};

/// What is kept of a request so that it can be sent again.
#[derive(Debug)]
pub(crate) struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    /// Keeps `req`'s head if the pool may retry it after it was sent: it has retries that could
    /// re-send, an idempotent method and an empty body. This copy of the headers is only made
    /// for such requests in pools that retry.
    pub(crate) fn capture<B: http_body::Body>(req: &Request<B>, retry: &Retry) -> Option<Replay> {
        let on = &retry.on;
        let could_resend = on.timeout || on.status_5xx || on.connect_error;
        (retry.attempts > 0
            && could_resend
            // RFC 9110 §9.2.2.
            && req.method().is_idempotent()
            && req.body().is_end_stream())
        .then(|| Replay {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
        })
    }

    /// A fresh copy of the request, with an empty body.
    pub(crate) fn request(&self) -> Request<Outgoing> {
        let mut req = Request::new(Outgoing::Empty);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

impl RetryOn {
    /// Whether a failed exchange is one of the enabled conditions.
    pub(crate) fn covers(&self, error: &UpstreamError) -> bool {
        match error {
            UpstreamError::Connect(_)
            | UpstreamError::Tls(_)
            | UpstreamError::Handshake(_)
            | UpstreamError::Exchange(_)
            | UpstreamError::Broken(_) => self.connect_error,
            UpstreamError::ConnectTimeout(_) | UpstreamError::ResponseTimeout(_) => self.timeout,
            UpstreamError::Unavailable
            | UpstreamError::ClientBody(_)
            | UpstreamError::UnaskedSwitch => false,
        }
    }
}

/// An attempt that did not give the client its answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The exchange failed; `unsent` is the request when it never left.
    Error {
        error: UpstreamError,
        unsent: Option<Request<Outgoing>>,
    },
    /// The server answered 5xx (only a failure when 5xx responses are retried).
    Status(Response),
}

impl Failure {
    /// The request to send to the next server, if this failure may be retried.
    pub(crate) fn again(
        &mut self,
        on: &RetryOn,
        replay: Option<&Replay>,
    ) -> Option<Request<Outgoing>> {
        let enabled = match self {
            Failure::Error { error, .. } => on.covers(error),
            Failure::Status(_) => on.status_5xx,
        };
        if !enabled {
            return None;
        }
        match self {
            Failure::Error {
                unsent: unsent @ Some(_),
                ..
            } => unsent.take(),
            _ => replay.map(Replay::request),
        }
    }

    /// The answer the client gets when this was the last attempt.
    pub(crate) fn into_response(self) -> Response {
        match self {
            Failure::Error { error, .. } => error.response(),
            Failure::Status(response) => response,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{io, time::Duration};

    use super::*;

    const ALL: RetryOn = RetryOn {
        connect_error: true,
        timeout: true,
        status_5xx: true,
    };

    fn retry(on: RetryOn) -> Retry {
        Retry { attempts: 2, on }
    }

    fn get() -> Request<Outgoing> {
        Request::get("/x")
            .header("x-a", "1")
            .body(Outgoing::Empty)
            .unwrap()
    }

    fn timeout() -> Failure {
        Failure::Error {
            error: UpstreamError::ResponseTimeout(Duration::from_secs(1)),
            unsent: None,
        }
    }

    #[test]
    fn only_idempotent_requests_with_empty_bodies_are_kept() {
        assert!(Replay::capture(&get(), &retry(ALL)).is_some());
        for method in ["PUT", "DELETE", "HEAD", "OPTIONS", "TRACE"] {
            let req = Request::builder()
                .method(method)
                .body(Outgoing::Empty)
                .unwrap();
            assert!(Replay::capture(&req, &retry(ALL)).is_some(), "{method}");
        }
        for method in ["POST", "PATCH", "CONNECT"] {
            let req = Request::builder()
                .method(method)
                .body(Outgoing::Empty)
                .unwrap();
            assert!(Replay::capture(&req, &retry(ALL)).is_none(), "{method}");
        }
        let with_body = Request::put("/x")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"x")))
            .unwrap();
        assert!(Replay::capture(&with_body, &retry(ALL)).is_none());
        assert!(Replay::capture(&get(), &Retry::NONE).is_none());
    }

    #[test]
    fn a_replayed_request_has_the_same_head_and_no_body() {
        let replay = Replay::capture(&get(), &retry(ALL)).unwrap();
        let again = replay.request();
        assert_eq!(again.uri(), "/x");
        assert_eq!(again.headers()["x-a"], "1");
        assert!(matches!(again.body(), Outgoing::Empty));
    }

    #[test]
    fn an_unsent_request_goes_again_even_without_a_replay() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let mut failure = Failure::Error {
            error: UpstreamError::Connect(refused),
            unsent: Some(get()),
        };
        assert!(failure.again(&ALL, None).is_some());
    }

    #[test]
    fn a_sent_request_goes_again_only_with_a_replay() {
        assert!(timeout().again(&ALL, None).is_none());
        let replay = Replay::capture(&get(), &retry(ALL)).unwrap();
        assert!(timeout().again(&ALL, Some(&replay)).is_some());
    }

    #[test]
    fn disabled_conditions_are_not_retried() {
        let replay = Replay::capture(&get(), &retry(ALL)).unwrap();
        let only_connect = RetryOn {
            connect_error: true,
            timeout: false,
            status_5xx: false,
        };
        assert!(timeout().again(&only_connect, Some(&replay)).is_none());
        let mut status = Failure::Status(crate::respond(503, ""));
        assert!(status.again(&only_connect, Some(&replay)).is_none());
        assert!(status.again(&ALL, Some(&replay)).is_some());
        assert_eq!(status.into_response().status(), 503);
    }
}
