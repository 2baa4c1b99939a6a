//! The response body as the client connection sends it: the gateway's body, plus, when the
//! access log is on, the request's record, completed with the bytes sent and the time taken
//! and handed to the log writer when the body is done (sent in full, or dropped because the
//! client went away).

use std::{
    net::IpAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Instant, SystemTime},
};

use bytes::Bytes;
use http::header::{REFERER, USER_AGENT};
use http_body::{Frame, SizeHint};

use super::access_log::Record;
use crate::{downstream::watchdog::InFlight, Body, Cx, Request};

/// A request's access-log record while its answer is on the way.
pub(crate) struct Pending {
    record: Record,
    started: Instant,
    bytes_in: Arc<AtomicU64>,
}

impl Pending {
    /// Starts the record of `req` (already admitted, with its id set); counts its body's bytes.
    pub(crate) fn start(
        req: &mut Request,
        cx: &Cx,
        started: (Instant, SystemTime),
        request_id: Option<http::HeaderValue>,
    ) -> Box<Pending> {
        let bytes_in = Arc::new(AtomicU64::new(0));
        req.body_mut().count_into(Arc::clone(&bytes_in));
        let headers = req.headers();
        Box::new(Pending {
            record: Record {
                time: started.1,
                client: cx.client().ip(),
                method: req.method().clone(),
                host: cx.host().into(),
                target: req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .into(),
                version: req.version(),
                status: 0,
                bytes_in: 0,
                bytes_out: 0,
                duration: std::time::Duration::ZERO,
                listener: cx.listener(),
                route: None,
                upstream: None,
                request_id,
                // Copied: a value parsed by hyper shares the connection's whole read buffer,
                // which a record waiting in the log's queue would otherwise keep alive.
                referer: headers.get(REFERER).map(owned),
                user_agent: headers.get(USER_AGENT).map(owned),
            },
            started: started.0,
            bytes_in,
        })
    }

    /// A record for a request refused before it reached the gateway.
    pub(crate) fn refused(
        client: IpAddr,
        listener: &'static str,
        started: (Instant, SystemTime),
    ) -> Box<Pending> {
        Box::new(Pending {
            record: Record {
                time: started.1,
                client,
                method: http::Method::GET,
                host: "".into(),
                target: "-".into(),
                version: http::Version::HTTP_11,
                status: 0,
                bytes_in: 0,
                bytes_out: 0,
                duration: std::time::Duration::ZERO,
                listener,
                route: None,
                upstream: None,
                request_id: None,
                referer: None,
                user_agent: None,
            },
            started: started.0,
            bytes_in: Arc::new(AtomicU64::new(0)),
        })
    }

    pub(crate) fn record(&self) -> &Record {
        &self.record
    }

    /// A record already complete (for tests of the writer).
    #[cfg(test)]
    pub(crate) fn finished(record: Record) -> Box<Pending> {
        Box::new(Pending {
            record,
            started: Instant::now(),
            bytes_in: Arc::new(AtomicU64::new(0)),
        })
    }

    /// What the gateway did: the answer's status, the route and the server it reached.
    pub(crate) fn answered(&mut self, status: u16, cx: Option<&Cx>, route: Option<&'static str>) {
        self.record.status = status;
        self.record.route = route;
        self.record.upstream = cx.and_then(Cx::upstream);
        if let Some(target) = cx.and_then(Cx::logged_target) {
            self.record.target = target;
        }
    }
}

/// `value` in memory of its own.
fn owned(value: &http::HeaderValue) -> http::HeaderValue {
    let mut copy = http::HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value.as_bytes()))
        .unwrap_or_else(|_| http::HeaderValue::from_static(""));
    copy.set_sensitive(value.is_sensitive());
    copy
}

/// The body sent to the client.
pub(crate) struct Logged {
    body: Body,
    pending: Option<Box<Pending>>,
    /// Keeps the connection busy for its watchdog until the answer has been sent.
    _in_flight: InFlight,
}

impl Logged {
    pub(crate) fn new(body: Body, pending: Option<Box<Pending>>, in_flight: InFlight) -> Logged {
        Logged {
            body,
            pending,
            _in_flight: in_flight,
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        pending.record.duration = pending.started.elapsed();
        pending.record.bytes_in = pending.bytes_in.load(Ordering::Relaxed);
        if let Some(log) = &super::get().access_log {
            log.log(pending);
        }
    }
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.body).poll_frame(cx));
        if let (Some(pending), Some(Ok(frame))) = (&mut this.pending, &frame) {
            if let Some(data) = frame.data_ref() {
                pending.record.bytes_out += data.len() as u64;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
