//! The response body as the client connection sends it: the gateway's body, plus, when the
//! access log is on, the request's record, completed with the bytes sent and the time taken
//! and handed to the log writer when the body is done (sent in full, or dropped because the
//! client went away); and likewise the request's spans, when tracing export records it.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::{
    cx::Recording,
    downstream::watchdog::InFlight,
    observe::access_log::{AccessLog, Pending},
    observe::trace::Tracer,
    Body,
};

/// The body sent to the client.
pub(crate) struct Logged {
    body: Body,
    /// The record, and the log it goes to.
    pending: Option<(Box<Pending>, Arc<AccessLog>)>,
    /// The request's spans, and the exporter they go to.
    trace: Option<(Box<Recording>, Arc<Tracer>)>,
    /// Keeps the connection busy for its watchdog until the answer has been sent.
    _in_flight: InFlight,
}

impl Logged {
    pub(crate) fn new(
        body: Body,
        pending: Option<(Box<Pending>, Arc<AccessLog>)>,
        trace: Option<(Box<Recording>, Arc<Tracer>)>,
        in_flight: InFlight,
    ) -> Logged {
        Logged {
            body,
            pending,
            trace,
            _in_flight: in_flight,
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some((mut pending, log)) = self.pending.take() {
            pending.complete();
            log.log(pending);
        }
        if let Some((recording, tracer)) = self.trace.take() {
            tracer.finish(recording);
        }
    }
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.body).poll_frame(cx));
        if let (Some((pending, _)), Some(Ok(frame))) = (&mut this.pending, &frame) {
            if let Some(data) = frame.data_ref() {
                pending.sent(data.len());
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
