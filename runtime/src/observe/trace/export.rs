//! The exporter's thread: every [`POLL_EVERY`] it takes the recordings that have arrived, and
//! once [`BATCH`] traces are waiting, [`EXPORT_EVERY`] has passed or a flush is asked, turns
//! them into OpenTelemetry span records (semantic conventions for HTTP servers and clients)
//! and sends them with the OTLP/HTTP exporter of `opentelemetry-otlp` (protobuf, over hyper),
//! on a single-threaded tokio runtime of its own. An export that fails is logged (at most once
//! every [`WARN_EVERY`]) and its spans counted; nothing is retried beyond what the exporter
//! itself does.

use std::{
    borrow::Cow,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc::{Receiver, Sender, TryRecvError},
        Arc,
    },
    time::{Duration, Instant},
};

use http::Version;
use opentelemetry::{
    trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
    InstrumentationScope, KeyValue,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks},
    Resource,
};

use super::TracingSpec;
use crate::address::Upstream;
use crate::cx::{Outcome, Recording, Step, What};

/// How often the thread looks for recordings.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Spans wait at most this long before they are exported.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

/// Traces exported in one request at most.
const BATCH: usize = 512;

/// One export request may take this long, the exporter's retries included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Failed exports are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub(super) enum Message {
    Trace(Box<Recording>),
    /// Export everything before this message, then answer.
    Flush(Sender<()>),
}

/// What became of the spans handed to the exporter.
#[derive(Default)]
pub(super) struct Counts {
    exported: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    pub(super) fn read(&self) -> (u64, u64) {
        (
            self.exported.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// Starts the thread.
pub(super) fn start(
    spec: TracingSpec,
    receiver: Receiver<Message>,
    queued: Arc<AtomicUsize>,
    counts: Arc<Counts>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut exporter = {
        let _entered = runtime.enter();
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(spec.otlp)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?
    };
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name(spec.service)
            .build(),
    );
    let thread = Exporting {
        receiver,
        queued,
        counts,
        exporter,
        runtime,
        scope: InstrumentationScope::builder("edge")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
        last_warned: None,
    };
    std::thread::Builder::new()
        .name("edge-trace-export".to_owned())
        .spawn(move || thread.run())?;
    Ok(())
}

struct Exporting {
    receiver: Receiver<Message>,
    queued: Arc<AtomicUsize>,
    counts: Arc<Counts>,
    exporter: opentelemetry_otlp::SpanExporter,
    runtime: tokio::runtime::Runtime,
    scope: InstrumentationScope,
    last_warned: Option<Instant>,
}

impl Exporting {
    fn run(mut self) {
        let mut waiting: Vec<Recording> = Vec::new();
        let mut flushes: Vec<Sender<()>> = Vec::new();
        let mut last_export = Instant::now();
        loop {
            let mut closed = false;
            loop {
                match self.receiver.try_recv() {
                    Ok(Message::Trace(recording)) => {
                        self.queued.fetch_sub(recording.weight(), Ordering::Relaxed);
                        waiting.push(*recording);
                    }
                    Ok(Message::Flush(done)) => flushes.push(done),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let due = last_export.elapsed() >= EXPORT_EVERY;
            if waiting.len() >= BATCH || !flushes.is_empty() || closed || due {
                while !waiting.is_empty() {
                    let rest = waiting.split_off(waiting.len().min(BATCH));
                    let batch = std::mem::replace(&mut waiting, rest);
                    self.export(batch);
                }
                last_export = Instant::now();
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
            }
            if closed {
                return;
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    fn export(&mut self, batch: Vec<Recording>) {
        let spans: Vec<SpanData> = batch
            .into_iter()
            .flat_map(|recording| spans(recording, &self.scope))
            .collect();
        let count = spans.len() as u64;
        match self.runtime.block_on(self.exporter.export(spans)) {
            Ok(()) => {
                self.counts.exported.fetch_add(count, Ordering::Relaxed);
            }
            Err(error) => {
                self.counts.failed.fetch_add(count, Ordering::Relaxed);
                if self.last_warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    self.last_warned = Some(Instant::now());
                    tracing::warn!(%error, spans = count, "cannot export spans");
                }
            }
        }
    }
}

/// A recording's spans: the request's first, then its steps'.
fn spans(mut recording: Recording, scope: &InstrumentationScope) -> Vec<SpanData> {
    let steps = recording.take_steps();
    let trace_id = TraceId::from_bytes(recording.trace_id);
    let context = |span_id: u64| {
        SpanContext::new(
            trace_id,
            SpanId::from(span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    };
    let start = recording.start_time;
    let mut spans = Vec::with_capacity(1 + steps.len());
    // The recording is the exporter's now: its texts move into the span.
    let path = String::from(std::mem::take(&mut recording.request.path));
    let host = String::from(std::mem::take(&mut recording.request.host));
    let (request, answer) = (&recording.request, &recording.answer);
    let route = answer.route.unwrap_or("");
    let method = request.method.to_string();
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.clone()),
        KeyValue::new("url.path", path),
        KeyValue::new("url.scheme", if request.tls { "https" } else { "http" }),
        KeyValue::new("server.address", host),
        KeyValue::new("client.address", request.client.to_string()),
        KeyValue::new("network.protocol.version", protocol(request.version)),
        KeyValue::new("http.response.status_code", i64::from(answer.status)),
        KeyValue::new("edge.listener", request.listener),
    ];
    if let Some(route) = answer.route {
        attributes.push(KeyValue::new("edge.route", route));
    }
    spans.push(SpanData {
        span_context: context(recording.span_id),
        parent_span_id: recording
            .remote_parent
            .map_or(SpanId::INVALID, SpanId::from),
        parent_span_is_remote: recording.remote_parent.is_some(),
        span_kind: SpanKind::Server,
        name: Cow::Owned(format!("{method} {route}").trim_end().to_owned()),
        start_time: start,
        end_time: start + recording.duration,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: if answer.status >= 500 {
            Status::error("")
        } else {
            Status::Unset
        },
        instrumentation_scope: scope.clone(),
    });
    for step in steps {
        let Step {
            span_id,
            parent,
            start: from,
            end,
            what,
        } = step;
        let (kind, name, attributes, status) = match what {
            What::Policy {
                name,
                kind,
                refused,
            } => {
                let mut attributes = vec![
                    KeyValue::new("edge.policy", name),
                    KeyValue::new("edge.policy.kind", kind),
                ];
                if let Some(status) = refused {
                    attributes.push(KeyValue::new("edge.policy.refused", true));
                    attributes.push(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status),
                    ));
                }
                let name = Cow::Owned(format!("policy {name}"));
                (SpanKind::Internal, name, attributes, Status::Unset)
            }
            What::Attempt {
                pool,
                server,
                resends,
                outcome,
            } => {
                let mut attributes = vec![
                    KeyValue::new("http.request.method", method.clone()),
                    KeyValue::new("edge.pool", pool),
                ];
                attributes.extend(server_address(server));
                if resends > 0 {
                    attributes.push(KeyValue::new(
                        "http.request.resend_count",
                        i64::from(resends),
                    ));
                }
                let status = match outcome {
                    Outcome::Answered(status) => {
                        attributes.push(KeyValue::new(
                            "http.response.status_code",
                            i64::from(status),
                        ));
                        if status >= 400 {
                            attributes.push(KeyValue::new("error.type", status.to_string()));
                            Status::error("")
                        } else {
                            Status::Unset
                        }
                    }
                    Outcome::Failed(why) => {
                        attributes.push(KeyValue::new("error.type", why));
                        Status::error(why)
                    }
                };
                (
                    SpanKind::Client,
                    Cow::Owned(method.clone()),
                    attributes,
                    status,
                )
            }
        };
        spans.push(SpanData {
            span_context: context(span_id),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: kind,
            name,
            start_time: start + from,
            end_time: start + end,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        });
    }
    spans
}

/// `server.address` and `server.port` of the server tried.
fn server_address(server: Upstream) -> Vec<KeyValue> {
    match server {
        Upstream::Socket(SocketAddr::V4(addr)) => vec![
            KeyValue::new("server.address", addr.ip().to_string()),
            KeyValue::new("server.port", i64::from(addr.port())),
        ],
        Upstream::Socket(SocketAddr::V6(addr)) => vec![
            KeyValue::new("server.address", addr.ip().to_string()),
            KeyValue::new("server.port", i64::from(addr.port())),
        ],
        Upstream::Name(name) | Upstream::Srv(name) => vec![KeyValue::new("server.address", name)],
    }
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_2 => "2",
        Version::HTTP_10 => "1.0",
        _ => "1.1",
    }
}
