//! Tracing export: for a sampled request, a span for the request, one for each policy's request
//! step and one for each attempt on a server, sent over OTLP/HTTP to the receiver the config's
//! `tracing` block names.
//!
//! Sampling is parent-based, as OpenTelemetry's default sampler: a request whose client sent a
//! `traceparent` is recorded when that says "sampled"; a trace started here is recorded when
//! its id falls in the configured share (`sample`), decided from the id alone so that every
//! proxy of a fleet decides alike, and its `traceparent` says so to the servers.
//!
//! A recorded request moves its [`Recording`] into a bounded channel when its answer has been
//! sent; a thread of its own turns recordings into span records and exports them in batches,
//! polling the channel so that no request wakes it. When the channel is full, or the
//! recordings waiting hold more than [`MAX_QUEUED_BYTES`], the request's spans are dropped and
//! counted. Nothing of this runs unless the config asks for it.

mod export;

use std::{
    io,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc::{self, SyncSender, TrySendError},
        Arc,
    },
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderMap, HeaderValue};

use super::request_id::{self, TRACEPARENT};
use crate::cx::{Recording, RequestFacts};
use crate::{Cx, Request};

/// Recordings waiting for the exporter; past this, they are dropped.
const CAPACITY: usize = 8 * 1024;

/// Bytes the recordings waiting may hold (a fixed part each and the texts they copied);
/// past this, they are dropped.
const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// Where the spans go and which traces are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracingSpec {
    /// The OTLP/HTTP receiver: `http://HOST:PORT/PATH`.
    pub otlp: &'static str,
    /// The share of traces started here that are recorded, in hundredths of a percent
    /// (1 to 10,000).
    pub sample: u32,
    /// The spans' `service.name`.
    pub service: &'static str,
}

/// The request side of tracing export.
pub(crate) struct Tracer {
    /// A trace started here is recorded when the last 8 bytes of its id, as a number, are
    /// below this.
    threshold: u64,
    sender: SyncSender<export::Message>,
    /// Bytes held by the recordings in the channel ([`Recording::weight`]).
    queued: Arc<AtomicUsize>,
    /// Spans dropped because the exporter fell behind.
    dropped: AtomicU64,
    counts: Arc<export::Counts>,
}

impl Tracer {
    /// Starts the exporter's thread.
    pub(crate) fn start(spec: TracingSpec) -> io::Result<Tracer> {
        let (sender, receiver) = mpsc::sync_channel(CAPACITY);
        let queued = Arc::new(AtomicUsize::new(0));
        let counts = Arc::new(export::Counts::default());
        export::start(spec, receiver, Arc::clone(&queued), Arc::clone(&counts))?;
        Ok(Tracer {
            threshold: threshold(spec.sample),
            sender,
            queued,
            dropped: AtomicU64::new(0),
            counts,
        })
    }

    /// Whether `headers` carry the client's own valid `traceparent`: asked before request ids
    /// are applied, which start a trace when they do not.
    pub(crate) fn client_traced(headers: &HeaderMap) -> bool {
        headers
            .get(TRACEPARENT)
            .is_some_and(request_id::valid_traceparent)
    }

    /// Decides whether `req` is recorded, once its request id and trace context are applied:
    /// its recording when it is. An unrecorded trace started here has its `traceparent` say
    /// so.
    pub(crate) fn begin(
        &self,
        req: &mut Request,
        cx: &Cx,
        from_client: bool,
        started: Instant,
    ) -> Option<Box<Recording>> {
        let context = req.headers().get(TRACEPARENT).map(parse)?;
        let sampled = if from_client {
            context.sampled
        } else {
            let low = u64::from_be_bytes(context.trace_id[8..].try_into().expect("8 bytes"));
            low < self.threshold || self.threshold == u64::MAX
        };
        if !sampled {
            if !from_client {
                request_id::mark_unsampled(req.headers_mut());
            }
            return None;
        }
        let request = RequestFacts {
            method: req.method().clone(),
            path: req.uri().path().into(),
            host: cx.host().into(),
            client: cx.client().ip(),
            tls: cx.is_tls(),
            version: req.version(),
            listener: cx.listener(),
        };
        let remote_parent = from_client.then_some(context.parent_id);
        Some(Box::new(Recording::new(
            context.trace_id,
            crate::cx::span_id(),
            remote_parent,
            (started, SystemTime::now()),
            request,
        )))
    }

    /// Hands a finished recording to the exporter; never blocks.
    pub(crate) fn finish(&self, mut recording: Box<Recording>) {
        recording.ended();
        let weight = recording.weight();
        if self.queued.fetch_add(weight, Ordering::Relaxed) + weight > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(weight, Ordering::Relaxed);
            self.dropped.fetch_add(recording.spans(), Ordering::Relaxed);
            return;
        }
        match self.sender.try_send(export::Message::Trace(recording)) {
            Ok(()) => {}
            Err(TrySendError::Full(message) | TrySendError::Disconnected(message)) => {
                self.queued.fetch_sub(weight, Ordering::Relaxed);
                if let export::Message::Trace(mut recording) = message {
                    self.dropped.fetch_add(recording.spans(), Ordering::Relaxed);
                }
            }
        }
    }

    /// Exports what is waiting, waiting at most `within` for it (when the process stops).
    pub(crate) fn flush(&self, within: Duration) {
        let (done, flushed) = mpsc::channel();
        if self.sender.try_send(export::Message::Flush(done)).is_ok() {
            let _ = flushed.recv_timeout(within);
        }
    }

    /// Spans exported, spans the receiver did not take (or that never reached it), spans
    /// dropped before export.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let (exported, failed) = self.counts.read();
        (exported, failed, self.dropped.load(Ordering::Relaxed))
    }
}

/// `sample` hundredths of a percent of the 64-bit numbers.
fn threshold(sample: u32) -> u64 {
    if sample >= 10_000 {
        return u64::MAX;
    }
    let share = (u128::from(sample) << 64) / 10_000;
    u64::try_from(share).unwrap_or(u64::MAX)
}

/// A valid `traceparent`'s parts.
struct Context {
    trace_id: [u8; 16],
    parent_id: u64,
    sampled: bool,
}

/// Reads a `traceparent` that [`request_id::valid_traceparent`] accepted (every one request
/// ids leave on a request). Anything else reads as an unsampled trace of zeros.
fn parse(value: &HeaderValue) -> Context {
    let text = value.as_bytes();
    let mut trace_id = [0; 16];
    if text.len() == 55 {
        for (byte, pair) in trace_id.iter_mut().zip(text[3..35].chunks_exact(2)) {
            *byte = (digit(pair[0]) << 4) | digit(pair[1]);
        }
    }
    let field = |range: std::ops::Range<usize>| {
        text.get(range)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |n, &b| (n << 4) | u64::from(digit(b)))
    };
    Context {
        trace_id,
        parent_id: field(36..52),
        sampled: text.len() == 55 && field(53..55) & 1 == 1,
    }
}

fn digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back() {
        let value =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let context = parse(&value);
        assert_eq!(context.trace_id[0], 0x4b);
        assert_eq!(context.trace_id[15], 0x36);
        assert_eq!(context.parent_id, 0x00f0_67aa_0ba9_02b7);
        assert!(context.sampled);
        let unsampled =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(!parse(&unsampled).sampled);
    }

    /// `count` requests without a trace of their own, through request ids and then `tracer`:
    /// how many were recorded, and the `traceparent` of each unrecorded one.
    fn begin_started(tracer: &Tracer, count: usize) -> (usize, Vec<HeaderValue>) {
        let cx = Cx::outside_connection("web", ([127, 0, 0, 1], 4000).into(), "example.com", false)
            .unwrap();
        let mut recorded = 0;
        let mut unrecorded = Vec::new();
        for _ in 0..count {
            let mut req = http::Request::get("/")
                .body(crate::RequestBody::full(bytes::Bytes::new()))
                .unwrap();
            assert!(!Tracer::client_traced(req.headers()));
            request_id::apply(req.headers_mut(), super::super::RequestIdSpec::DEFAULT);
            match tracer.begin(&mut req, &cx, false, Instant::now()) {
                Some(_) => recorded += 1,
                None => unrecorded.push(req.headers()[TRACEPARENT].clone()),
            }
        }
        (recorded, unrecorded)
    }

    #[test]
    fn traces_started_here_are_recorded_in_their_share_and_the_rest_say_so() {
        let tracer = Tracer::start(TracingSpec {
            otlp: "http://127.0.0.1:9/v1/traces",
            sample: 1_000,
            service: "edge",
        })
        .unwrap();
        let (recorded, unrecorded) = begin_started(&tracer, 4_000);
        assert!(
            (280..=520).contains(&recorded),
            "{recorded} of 4,000 at 10%"
        );
        assert!(unrecorded.iter().all(|value| {
            request_id::valid_traceparent(value) && value.as_bytes().ends_with(b"-00")
        }));
        let every = Tracer::start(TracingSpec {
            otlp: "http://127.0.0.1:9/v1/traces",
            sample: 10_000,
            service: "edge",
        })
        .unwrap();
        assert_eq!(begin_started(&every, 100), (100, Vec::new()));
    }

    #[test]
    fn the_threshold_takes_the_share_of_ids() {
        assert_eq!(threshold(10_000), u64::MAX);
        assert_eq!(threshold(5_000), 1 << 63);
        let ten = threshold(1_000);
        let taken = (0..100_000u64)
            .filter(|&i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) < ten)
            .count();
        assert!((9_000..11_000).contains(&taken), "{taken} of 100,000");
    }
}
