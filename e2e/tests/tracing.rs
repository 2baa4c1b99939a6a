//! Tracing export as a user runs it: a proxy built by `edgec build` with a `tracing` block
//! sends its spans to an OTLP/HTTP receiver in the test, which decodes each export request with
//! the protocol's own protobuf types. A route behind an `ext_auth` policy (a real
//! authorisation service) and a `headers` policy forwards to an echo backend; the test checks
//! the spans' tree (request → policies → the authorisation check, request → the upstream
//! exchange), the `traceparent` each server received, parent-based sampling, traces started
//! by the proxy, a refusal, and that a stopping proxy sends its last spans before it exits.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use edge_e2e::build_and_start;
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value,
    trace::v1::{span::SpanKind, status::StatusCode, Span},
};
use prost::Message;

/// A span as the receiver decoded it, with its resource's `service.name`.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// The `traceparent` each authorisation check carried.
type Checks = Arc<Mutex<Vec<String>>>;

/// Serves `handle` on a fresh loopback port, on its own runtime.
fn serve<F, Fut>(handle: F) -> (SocketAddr, tokio::runtime::Runtime)
where
    F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<hyper::Response<Full<Bytes>>, Infallible>>
        + Send
        + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
    (addr, runtime)
}

/// The OTLP/HTTP receiver: decodes `ExportTraceServiceRequest`s posted to `/v1/traces`.
async fn receive(
    req: hyper::Request<Incoming>,
    spans: Spans,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    assert_eq!(req.method(), hyper::Method::POST);
    assert_eq!(req.uri().path(), "/v1/traces");
    assert_eq!(req.headers()["content-type"], "application/x-protobuf");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let export = ExportTraceServiceRequest::decode(body).expect("a valid OTLP export request");
    let mut received = spans.lock().unwrap();
    for resource in export.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                let service = service.clone();
                received.push(Received { service, span });
            }
        }
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    let mut response = hyper::Response::new(Full::new(Bytes::from(answer)));
    response
        .headers_mut()
        .insert("content-type", "application/x-protobuf".parse().unwrap());
    Ok(response)
}

/// The authorisation service: allows `Bearer good`, refuses anything else.
async fn decide(
    req: hyper::Request<Incoming>,
    checks: Checks,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let traceparent = header("traceparent").unwrap_or_default().to_owned();
    let allowed = header("authorization") == Some("Bearer good");
    checks.lock().unwrap().push(traceparent);
    let mut answer = hyper::Response::new(Full::new(Bytes::new()));
    if !allowed {
        *answer.status_mut() = hyper::StatusCode::UNAUTHORIZED;
    }
    Ok(answer)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(number) => Some(number.to_string()),
        Value::BoolValue(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A span's attribute, rendered.
fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans of the trace `trace_id` (hex), once `count` of them have arrived (at most 10 s).
fn trace(spans: &Spans, trace_id: &str, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Received> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|r| hex(&r.span.trace_id) == trace_id)
            .cloned()
            .collect();
        if found.len() >= count || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The one span named `name`.
fn named<'a>(spans: &'a [Received], name: &str) -> &'a Span {
    let mut matching = spans.iter().filter(|r| r.span.name == name);
    let span = &matching
        .next()
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
        .span;
    assert!(matching.next().is_none(), "one span {name}");
    span
}

/// The client spans to `pool`.
fn attempts<'a>(spans: &'a [Received], pool: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .map(|r| &r.span)
        .filter(|s| {
            s.kind == SpanKind::Client as i32 && attr(s, "edge.pool").as_deref() == Some(pool)
        })
        .collect()
}

/// `child` lies within `parent`, and names it as its parent.
fn assert_child(child: &Span, parent: &Span) {
    assert_eq!(
        hex(&child.parent_span_id),
        hex(&parent.span_id),
        "{} is a child of {}",
        child.name,
        parent.name
    );
    assert!(child.start_time_unix_nano >= parent.start_time_unix_nano);
    assert!(child.end_time_unix_nano <= parent.end_time_unix_nano);
    assert!(child.start_time_unix_nano <= child.end_time_unix_nano);
}

fn get(url: &str, headers: &[(&str, &str)]) -> hyper::Request<Full<Bytes>> {
    let mut req = hyper::Request::get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

#[test]
fn a_recorded_request_exports_its_tree_of_spans_over_otlp() {
    let app = EchoBackends::start(1);
    let spans: Spans = Arc::default();
    let (receiver, _receiver_runtime) = {
        let spans = Arc::clone(&spans);
        serve(move |req| receive(req, Arc::clone(&spans)))
    };
    let checks: Checks = Arc::default();
    let (auth, _auth_runtime) = {
        let checks = Arc::clone(&checks);
        serve(move |req| decide(req, Arc::clone(&checks)))
    };
    let config = format!(
        "listener web {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
}}

pool auth {{
    server {auth}
}}

policy check = ext_auth {{
    pool auth
    path \"/check\"
    timeout 2s
}}

policy marked = headers {{
    response {{
        set x-edge \"1\"
    }}
}}

route traced {{
    on web
    use check, marked
    forward app
}}

tracing {{
    otlp \"http://{receiver}\"
    service \"edge-e2e\"
}}
",
        app.addrs[0]
    );
    let (_dir, mut proxy) = build_and_start("tracing", &config, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();
    let good = ("authorization", "Bearer good");

    // The client's trace, sampled: the proxy's spans join it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let parent = format!("00-{trace_id}-{client_span}-01");
    let answer = client.send(get(
        &format!("{base}/orders/7?secret=1"),
        &[good, ("traceparent", &parent)],
    ));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["x-edge"], "1");
    let found = trace(&spans, trace_id, 5);
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(found.iter().all(|r| r.service == "edge-e2e"));
    let request = named(&found, "GET traced");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&request.parent_span_id),
        client_span,
        "the client's span is the parent"
    );
    assert_eq!(attr(request, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        attr(request, "url.path").as_deref(),
        Some("/orders/7"),
        "no query"
    );
    assert_eq!(
        attr(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attr(request, "edge.route").as_deref(), Some("traced"));
    let check = named(&found, "policy check");
    let marked = named(&found, "policy marked");
    for policy in [check, marked] {
        assert_eq!(policy.kind, SpanKind::Internal as i32);
        assert_child(policy, request);
    }
    assert_eq!(attr(check, "edge.policy.kind").as_deref(), Some("ext_auth"));
    assert_eq!(attr(marked, "edge.policy.kind").as_deref(), Some("headers"));
    assert!(
        check.end_time_unix_nano <= marked.start_time_unix_nano,
        "one after the other"
    );
    // The authorisation check is the `check` policy's child, and the service got its id.
    let [asked] = attempts(&found, "auth")[..] else {
        panic!("one check: {found:#?}");
    };
    assert_child(asked, check);
    assert_eq!(
        attr(asked, "http.response.status_code").as_deref(),
        Some("200")
    );
    let seen = checks.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen, format!("00-{trace_id}-{}-01", hex(&asked.span_id)));
    // The exchange with the app is the request's child, and the app got its id.
    let [forwarded] = attempts(&found, "app")[..] else {
        panic!("one exchange with the app: {found:#?}");
    };
    assert_child(forwarded, request);
    assert_eq!(forwarded.name, "GET");
    assert_eq!(
        attr(forwarded, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(forwarded, "server.port"),
        Some(app.addrs[0].port().to_string())
    );
    assert_eq!(
        answer.seen("header traceparent"),
        [format!("00-{trace_id}-{}-01", hex(&forwarded.span_id))]
    );
    assert!(marked.end_time_unix_nano <= forwarded.start_time_unix_nano);

    // The client's trace, not sampled: passed on as it came, nothing recorded.
    let unsampled_id = "0af7651916cd43dd8448eb211c80319c";
    let unsampled = format!("00-{unsampled_id}-b7ad6b7169203331-00");
    let answer = client.send(get(
        &format!("{base}/quiet"),
        &[good, ("traceparent", &unsampled)],
    ));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.seen("header traceparent"), [unsampled.as_str()]);

    // No trace from the client: one is started, under the request's id, and recorded (the
    // default share is 100%).
    let answer = client.send(get(&format!("{base}/started"), &[good]));
    assert_eq!(answer.status, 200);
    let id = answer.headers["x-request-id"].to_str().unwrap().to_owned();
    let found = trace(&spans, &id, 5);
    assert_eq!(found.len(), 5, "{found:#?}");
    let request = named(&found, "GET traced");
    assert!(
        request.parent_span_id.is_empty(),
        "a trace started here has no parent"
    );
    let [forwarded] = attempts(&found, "app")[..] else {
        panic!("one exchange with the app: {found:#?}");
    };
    assert_eq!(
        answer.seen("header traceparent"),
        [format!("00-{id}-{}-01", hex(&forwarded.span_id))]
    );

    // A refusal: the policy's span says so, and no exchange with the app is recorded.
    let refused_id = "11111111111111111111111111111111";
    let refused = format!("00-{refused_id}-2222222222222222-01");
    let answer = client.send(get(&format!("{base}/denied"), &[("traceparent", &refused)]));
    assert_eq!(answer.status, 401);
    let found = trace(&spans, refused_id, 3);
    assert_eq!(found.len(), 3, "request, policy, check: {found:#?}");
    let check = named(&found, "policy check");
    assert_eq!(attr(check, "edge.policy.refused").as_deref(), Some("true"));
    assert_eq!(
        attr(check, "http.response.status_code").as_deref(),
        Some("401")
    );
    assert!(attempts(&found, "app").is_empty());
    let request = named(&found, "GET traced");
    assert_eq!(
        attr(request, "http.response.status_code").as_deref(),
        Some("401")
    );

    // The unsampled trace, sent before the traces that arrived since, never did.
    let recorded = spans
        .lock()
        .unwrap()
        .iter()
        .any(|r| hex(&r.span.trace_id) == unsampled_id);
    assert!(!recorded, "an unsampled trace was recorded");

    // A stopping proxy exports the spans of its last request before it exits.
    let last_id = "33333333333333333333333333333333";
    let last = format!("00-{last_id}-4444444444444444-01");
    let answer = client.send(get(
        &format!("{base}/last"),
        &[good, ("traceparent", &last)],
    ));
    assert_eq!(answer.status, 200);
    drop(client);
    let status = proxy.terminate().expect("the proxy stops within 10 s");
    assert!(status.success(), "{status:?}");
    let exported = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|r| hex(&r.span.trace_id) == last_id)
        .count();
    assert_eq!(
        exported, 5,
        "the last request's spans were sent before the exit"
    );
    let errors: Vec<_> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|r| {
            r.span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Error as i32)
        })
        .map(|r| r.span.name.clone())
        .collect();
    assert_eq!(
        errors,
        ["GET"],
        "only the refused check is an error: {errors:?}"
    );
}
