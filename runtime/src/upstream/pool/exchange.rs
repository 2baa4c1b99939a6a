//! One attempt on one server: a connection (an idle HTTP/1.1 one or a new one; or the
//! worker's shared HTTP/2 connection for a pool with `protocol h2`), the request sent on it,
//! and the response head within the response timeout, counted from the end of the request
//! body. A kept-alive connection found closed before the request went out is replaced once and
//! the request sent again, since nothing reached the server. A failure of the client's own body
//! (too large, malformed, stalled) is the client's: answered for it, never counted against the
//! server.

use std::{future::Future, pin::pin, sync::atomic::Ordering, time::Duration};

use http::{Request, Version};
use hyper::{body::Incoming, client::conn::TrySendError};
use tokio::time::timeout;

use super::Pool;
use crate::{
    body::{BodyError, BodyFault, Outgoing, Progress, Sending},
    body::{Held, Lease},
    clock,
    upstream::backend::http1,
    upstream::backend::http2::Multiplexed,
    upstream::backend::{Backend, Slot},
    upstream::error::UpstreamError,
    upstream::forward,
    upstream::retry::Failure,
    upstream::spec::UpstreamProtocol,
    Body, Response, Strategy,
};

/// The connection a request goes on.
enum Conn {
    /// An HTTP/1.1 connection, this request's alone until its response has ended.
    One(hyper::client::conn::http1::SendRequest<Outgoing>),
    /// The worker's HTTP/2 connection to the server, shared with other requests.
    Shared(Multiplexed),
}

impl Conn {
    async fn send(
        &mut self,
        req: Request<Outgoing>,
    ) -> Result<http::Response<Incoming>, TrySendError<Request<Outgoing>>> {
        match self {
            Conn::One(sender) => sender.try_send_request(req).await,
            Conn::Shared(sender) => sender.try_send_request(req).await,
        }
    }

    /// What the response body holds until it ends.
    fn lent(self, slot: Slot) -> Lease {
        slot.lend(match self {
            Conn::One(sender) => Held::Kept(sender),
            Conn::Shared(_) => Held::Stream,
        })
    }
}

impl<S: Strategy> Pool<S> {
    /// One attempt on one server; records what passive health and latency estimates need.
    pub(super) async fn exchange(
        &self,
        slot: Slot,
        req: Request<Outgoing>,
    ) -> Result<Response, Failure> {
        let backend = slot.backend();
        backend.stats.requests.fetch_add(1, Ordering::Relaxed);
        let timeouts = &self.spec.timeouts;
        let started = clock::now();
        let checked_out = match self.spec.protocol {
            UpstreamProtocol::Http1 => backend
                .idle
                .checkout(timeouts.idle, timeouts.response)
                .await
                .map(Conn::One),
            UpstreamProtocol::Http2 => None,
        };
        // Opening a connection (TCP, TLS, HTTP/2 handshakes) is boxed: its future would make
        // this one 1.6 KiB larger, and hyper keeps room for the request future in every client
        // connection, idle ones included (10,000 idle connections: 16 MiB). The allocation is
        // paid once per new upstream connection, not per request.
        let (mut conn, mut reused) = match checked_out {
            Some(conn) => (conn, true),
            None => match Box::pin(self.open(backend)).await {
                // A shared connection may have served others already.
                Ok(conn) => {
                    let shared = matches!(conn, Conn::Shared(_));
                    (conn, shared)
                }
                Err(error) => return Err(self.failed(backend, error, Some(req))),
            },
        };
        let mut req = req;
        let sending = req.body_mut().watch_sending();
        loop {
            let sent = answered_within(timeouts.response, sending.as_deref(), conn.send(req)).await;
            let Some(sent) = sent else {
                self.measured(backend, started);
                let error = UpstreamError::ResponseTimeout(timeouts.response);
                return Err(self.failed(backend, error, None));
            };
            match sent {
                Ok(response) if response.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
                    // The connection now speaks something else: it is dropped, not pooled.
                    self.measured(backend, started);
                    return Err(self.failed(backend, UpstreamError::UnaskedSwitch, None));
                }
                Ok(response) => {
                    self.measured(backend, started);
                    self.answered(backend, &response);
                    let (mut parts, body) = response.into_parts();
                    forward::from_upstream(&mut parts.headers);
                    // The client's connection speaks its own version whatever the server's.
                    parts.version = Version::HTTP_11;
                    let body = Body::upstream(body, conn.lent(slot));
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut failed) => match failed.take_message() {
                    // A kept-alive connection closed before the request went out: nothing was
                    // sent, so a fresh connection may carry it.
                    Some(unsent) if reused => {
                        req = unsent;
                        match Box::pin(self.open(backend)).await {
                            Ok(fresh) => (conn, reused) = (fresh, false),
                            Err(error) => return Err(self.failed(backend, error, Some(req))),
                        }
                    }
                    unsent => {
                        let error = failed.into_error();
                        if let Some(fault) = body_fault(&error) {
                            return Err(Failure::Error {
                                error: UpstreamError::ClientBody(fault),
                                unsent: None,
                            });
                        }
                        let error = UpstreamError::Exchange(error);
                        return Err(self.failed(backend, error, unsent));
                    }
                },
            }
        }
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

/// Waits for `answer` until `limit` has passed since the request body was sent (for a request
/// without a body, `limit` from now). While the body waits for the client's bytes the clock
/// does not run: the client's body timeout bounds that. A body the server stops taking for a
/// whole `limit` is the server's timeout. `None` when the time ran out.
async fn answered_within<F: Future>(
    limit: Duration,
    sending: Option<&Sending>,
    answer: F,
) -> Option<F::Output> {
    let mut answer = pin!(answer);
    let mut wait = limit;
    let mut frames = None;
    loop {
        if let Ok(answered) = timeout(wait, answer.as_mut()).await {
            return Some(answered);
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
