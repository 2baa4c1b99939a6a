//! One attempt on one server: a connection (an idle HTTP/1.1 one or a new one; or the
//! worker's shared HTTP/2 connection for a pool with `protocol h2`), the request sent on it,
//! and the response head within the response timeout, counted from the end of the request
//! body. A kept-alive connection that turns out closed before anything of the answer arrived
//! is replaced once and the request sent again, when the request can go again as it is (no
//! body taken) and its method is idempotent or nothing was sent at all. A failure of the
//! client's own body (too large, malformed, stalled) is the client's: answered for it, never
//! counted against the server.

use std::{
    future::{poll_fn, Future},
    pin::{pin, Pin},
    sync::atomic::Ordering,
    task::Poll,
    time::Duration,
};

use http::{Request, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::Pool;
use crate::{
    body::{BodyError, BodyFault, Outgoing, Progress, Sending},
    clock,
    http1::buffers,
    http1::client::{Answer, Connection, SendError},
    http1::response::Head,
    upstream::backend::http1,
    upstream::backend::http2::Multiplexed,
    upstream::backend::{Backend, Slot},
    upstream::circuit::Guard,
    upstream::error::UpstreamError,
    upstream::forward,
    upstream::retry::Failure,
    upstream::spec::UpstreamProtocol,
    Body, Response, Strategy,
};

/// The connection a request goes on.
enum Conn {
    /// An HTTP/1.1 connection, this request's alone until its answer's body has ended.
    One(Connection),
    /// The worker's HTTP/2 connection to the server, shared with other requests.
    Shared(Multiplexed),
}

/// What one try on one connection gave.
enum Tried {
    /// An HTTP/1.1 answer's head, and its body still on the connection.
    One(Head, Answer),
    /// An HTTP/2 answer.
    Shared(http::Response<Incoming>),
    /// Nothing of the answer arrived, and the request can go again as it is.
    Unsent(Request<Outgoing>, UpstreamError),
    Failed(Failure),
}

impl<S: Strategy, G: Guard> Pool<S, G> {
    /// One attempt on one server; records what passive health and latency estimates need.
    #[allow(clippy::manual_async_fn)] // on purpose, see below
    pub(super) fn exchange(
        &self,
        slot: Slot,
        mut req: Request<Outgoing>,
    ) -> impl Future<Output = Result<Response, Failure>> + '_ {
        // A plain `fn` around an `async move` block: an `async fn` would hold its arguments
        // (the request above all) twice, once as arguments and once as locals (312 fewer
        // instructions per request for the two, in the copy of every request's future).
        async move {
            let backend = slot.backend();
            backend.stats.requests.fetch_add(1, Ordering::Relaxed);
            let started = clock::now();
            let checked_out = match self.spec.protocol {
                UpstreamProtocol::Http1 => backend
                    .idle
                    .checkout(self.spec.timeouts.idle)
                    .map(Conn::One),
                UpstreamProtocol::Http2 => None,
            };
            // Opening a connection (TCP, TLS, HTTP/2 handshakes) is boxed: its future would make
            // this one 1.6 KiB larger. The allocation is paid once per new upstream connection,
            // not per request.
            let (conn, reused) = match checked_out {
                Some(conn) => (conn, true),
                None => match Box::pin(self.open(backend)).await {
                    // A shared connection may have served others already.
                    Ok(conn) => {
                        let shared = matches!(conn, Conn::Shared(_));
                        (conn, shared)
                    }
                    Err(error) => {
                        if let Some(circuit) = self.guard.circuit() {
                            circuit.observe(backend, true, started);
                        }
                        return Err(self.failed(backend, error, Some(req)));
                    }
                },
            };
            let sending = req.body_mut().watch_sending();
            let mut tried = self
                .try_on(backend, conn, req, sending.as_deref(), started)
                .await;
            if reused {
                if let Tried::Unsent(req, _) = tried {
                    tried = match Box::pin(self.open(backend)).await {
                        Ok(fresh) => {
                            let sending = sending.as_deref();
                            self.try_on(backend, fresh, req, sending, started).await
                        }
                        Err(error) => return Err(self.failed(backend, error, Some(req))),
                    };
                }
            }
            if let Some(circuit) = self.guard.circuit() {
                if let Some(failed) = tried.failed() {
                    circuit.observe(backend, failed, started);
                }
            }
            let lease = |slot: Slot| slot.lend(None);
            match tried {
                Tried::One(head, body) => {
                    // Its fields were cleaned as they were parsed.
                    let mut response = Response::new(Body::answer(body, lease(slot)));
                    *response.status_mut() = head.status;
                    *response.headers_mut() = head.headers;
                    Ok(response)
                }
                Tried::Shared(response) => {
                    let (mut parts, body) = response.into_parts();
                    forward::from_upstream(&mut parts.headers);
                    // The client's connection speaks its own version whatever the server's.
                    parts.version = Version::HTTP_11;
                    Ok(Response::from_parts(
                        parts,
                        Body::upstream(body, lease(slot)),
                    ))
                }
                Tried::Unsent(req, error) => Err(self.failed(backend, error, Some(req))),
                Tried::Failed(failure) => Err(failure),
            }
        }
    }

    /// Sends `req` on `conn` and waits for the answer's head within the response timeout.
    #[allow(clippy::manual_async_fn)] // on purpose, see below
    fn try_on<'a>(
        &'a self,
        backend: &'a Backend,
        conn: Conn,
        mut req: Request<Outgoing>,
        sending: Option<&'a Sending>,
        started: clock::Nanos,
    ) -> impl Future<Output = Tried> + 'a {
        // A plain `fn` around an `async move` block, as `exchange` is.
        async move {
            let limit = self.spec.timeouts.response;
            match conn {
                Conn::One(mut one) => {
                    let resendable = req.method().is_idempotent() && req.body().is_end_stream();
                    let sent = {
                        let (answer, timer) = one.send(&mut req, forward::stripped_from_answers);
                        answered_within(limit, sending, pin!(answer), timer).await
                    };
                    let Some(sent) = sent else {
                        return self.timed_out(backend, started);
                    };
                    match sent {
                        Ok(head) => match self.answered_head(backend, head.status, started) {
                            Some(failed) => failed,
                            None => {
                                // The request has gone: its fields' map serves another head.
                                buffers::give_header_map(std::mem::take(req.headers_mut()));
                                let body = Answer::new(one, &head);
                                Tried::One(head, body)
                            }
                        },
                        Err(failed) => match failed.error {
                            SendError::Body(error) => client_body(error.fault()),
                            SendError::Broken(broken) if failed.resendable && resendable => {
                                Tried::Unsent(req, UpstreamError::Broken(broken))
                            }
                            SendError::Broken(broken) => {
                                let error = UpstreamError::Broken(broken);
                                Tried::Failed(self.failed(backend, error, None))
                            }
                        },
                    }
                }
                Conn::Shared(mut shared) => {
                    let answer = pin!(shared.try_send_request(req));
                    let timer = pin!(tokio::time::sleep(limit));
                    let sent = answered_within(limit, sending, answer, timer).await;
                    let Some(sent) = sent else {
                        return self.timed_out(backend, started);
                    };
                    match sent {
                        Ok(response) => {
                            match self.answered_head(backend, response.status(), started) {
                                Some(failed) => failed,
                                None => Tried::Shared(response),
                            }
                        }
                        Err(mut failed) => match failed.take_message() {
                            Some(unsent) => {
                                Tried::Unsent(unsent, UpstreamError::Exchange(failed.into_error()))
                            }
                            None => {
                                let error = failed.into_error();
                                match body_fault(&error) {
                                    Some(fault) => client_body(fault),
                                    None => {
                                        let error = UpstreamError::Exchange(error);
                                        Tried::Failed(self.failed(backend, error, None))
                                    }
                                }
                            }
                        },
                    }
                }
            }
        }
    }

    /// Records an answer's head; a `101` nobody asked for fails the attempt (the connection
    /// now speaks something else, so it is dropped, not pooled).
    fn answered_head(
        &self,
        backend: &Backend,
        status: StatusCode,
        started: clock::Nanos,
    ) -> Option<Tried> {
        self.measured(backend, started, true);
        if status == StatusCode::SWITCHING_PROTOCOLS {
            let error = UpstreamError::UnaskedSwitch;
            return Some(Tried::Failed(self.failed(backend, error, None)));
        }
        self.answered(backend, status);
        None
    }

    fn timed_out(&self, backend: &Backend, started: clock::Nanos) -> Tried {
        self.measured(backend, started, false);
        let error = UpstreamError::ResponseTimeout(self.spec.timeouts.response);
        Tried::Failed(self.failed(backend, error, None))
    }

    /// A new HTTP/1.1 connection, or the worker's HTTP/2 connection (opened if it is not open).
    async fn open(&self, backend: &Backend) -> Result<Conn, UpstreamError> {
        let timeouts = &self.spec.timeouts;
        let tls = self.tls.as_deref();
        match self.spec.protocol {
            UpstreamProtocol::Http1 => http1::connect(backend, tls, timeouts.connect)
                .await
                .map(Conn::One),
            UpstreamProtocol::Http2 => backend
                .shared
                .get(backend, tls, timeouts.connect, timeouts.idle)
                .await
                .map(Conn::Shared),
        }
    }
}

impl Tried {
    /// Whether the attempt failed, for outlier detection: a `5xx`, or no answer; `None` when
    /// the client's body failed, which is not the server's doing.
    fn failed(&self) -> Option<bool> {
        match self {
            Tried::One(head, _) => Some(head.status.is_server_error()),
            Tried::Shared(response) => Some(response.status().is_server_error()),
            Tried::Unsent(..) => Some(true),
            Tried::Failed(Failure::Error {
                error: UpstreamError::ClientBody(_),
                ..
            }) => None,
            Tried::Failed(_) => Some(true),
        }
    }
}

/// The client's body failed: answered for the client, not counted against the server.
fn client_body(fault: BodyFault) -> Tried {
    Tried::Failed(Failure::Error {
        error: UpstreamError::ClientBody(fault),
        unsent: None,
    })
}

/// Waits for `answer` until `limit` has passed since the request body was sent (for a request
/// without a body, `limit` from now). While the body waits for the client's bytes the clock
/// does not run: the client's body timeout bounds that. A body the server stops taking for a
/// whole `limit` is the server's timeout. `None` when the time ran out.
///
/// The answer's future comes pinned where the caller built it: an `async fn` keeps its
/// arguments apart from its locals, so pinning it here would hold it twice (864 bytes more in
/// every request's future). The timer is the caller's too, reset here for each wait: an
/// HTTP/1.1 connection's own, kept from one request to the next.
async fn answered_within<F: Future>(
    limit: Duration,
    sending: Option<&Sending>,
    mut answer: Pin<&mut F>,
    mut timer: Pin<&mut Sleep>,
) -> Option<F::Output> {
    let mut wait = limit;
    let mut frames = None;
    loop {
        timer.as_mut().reset(Instant::now() + wait);
        let answered = poll_fn(|cx| match answer.as_mut().poll(cx) {
            Poll::Ready(answered) => Poll::Ready(Some(answered)),
            Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
        })
        .await;
        if answered.is_some() {
            return answered;
        }
        wait = match sending?.progress() {
            Progress::Ended(at) => {
                let since = Duration::from_nanos(clock::now().saturating_sub(at));
                limit.checked_sub(since).filter(|left| !left.is_zero())?
            }
            Progress::Client => limit,
            Progress::Moving(now) if frames != Some(now) => {
                frames = Some(now);
                limit
            }
            Progress::Moving(_) => return None,
        };
    }
}

/// What went wrong with the client's body, when that is why an exchange failed.
fn body_fault(error: &hyper::Error) -> Option<BodyFault> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(error) = cause.downcast_ref::<BodyError>() {
            return Some(error.fault());
        }
        source = cause.source();
    }
    None
}
