//! The admin listener: `/` (a page to look at: `dashboard.rs`), `/metrics` (Prometheus text
//! format), `/healthz` (the process is alive),
//! `/ready` (the proxy should get traffic: started and not draining), `/status` (JSON: each
//! pool's servers with their health, state, weight, requests in flight and errors), and
//! `POST /cache/purge`
//! (forgets the cached answers
//! for the URLs in its body, one a line). It is served by worker 0 on its own socket, apart
//! from the proxied traffic; scrapes read the counters, never lock the request path.
//!
//! It defends itself like a listener: a head must arrive within [`HEADER_TIMEOUT`], at most
//! [`MAX_CONNECTIONS`] are open at once, and with a token (`token_env`) every request but
//! `/healthz` and `/ready` must carry `Authorization: Bearer TOKEN` (or the token as the
//! password of `Basic` credentials, as a browser sends it after its prompt). A purge must be
//! sent as `Content-Type: text/uri-list`, which a browser cannot send to another site without
//! asking first (a CORS preflight, which is never answered): a page cannot purge the cache.

use std::{
    convert::Infallible,
    fmt::Write as _,
    future::Future,
    net::SocketAddr,
    pin::pin,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::Bytes;
use http::{
    header::{
        AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, WWW_AUTHENTICATE,
        X_CONTENT_TYPE_OPTIONS,
    },
    HeaderMap, HeaderValue, Method, StatusCode,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};

use super::{dashboard, figures::Figures, steer};
use crate::{
    clock, policy::PurgeTarget, upstream::backend::Backend, upstream::backend::ErrorKind,
    upstream::counts::Refusal,
};
use crate::{
    observe::metrics::{sum, RouteRow, BUCKETS, CODES},
    observe::BuildInfo,
    policy::Caches,
    process::Process,
    store::{Decided, StoreError, Stores, ROUND_TRIP_BUCKETS_US},
    upstream::mirror::Mirrors,
    upstream::pools::Pools,
    upstream::split::{Splits, MAX_WEIGHT},
};

/// The admin listener: metrics, health and status, on its own address (loopback by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSpec {
    pub bind: SocketAddr,
    /// The environment variable holding the bearer token every admin request but `/healthz`
    /// and `/ready` must carry; `None`: no token (keep the listener on loopback).
    pub token_env: Option<&'static str>,
}

type AdminResponse = hyper::Response<Full<Bytes>>;

/// How long a client has to send a request head (and how long a kept-alive connection may
/// idle).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Admin connections open at once; more wait in the kernel's queue.
const MAX_CONNECTIONS: usize = 64;

/// Serves the admin endpoints of `process` on `listener` until `shutdown` completes; with
/// `token`, requests must carry it as a bearer token.
pub(crate) async fn serve(
    listener: TcpListener,
    token: Option<Arc<str>>,
    process: &Process,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    let room = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let figures = Figures::default();
    let mut sampling = pin!(figures.keep_sampling(process));
    loop {
        let accepted = tokio::select! {
            accepted = async {
                let place = Arc::clone(&room).acquire_owned().await;
                (place, listener.accept().await)
            } => accepted,
            () = &mut sampling => return,
            () = &mut shutdown => return,
        };
        let (Ok(place), Ok((stream, peer))) = accepted else {
            tokio::time::sleep(crate::downstream::bound::ACCEPT_BACKOFF).await;
            continue;
        };
        let (token, process, figures) = (token.clone(), process.clone(), figures.clone());
        tokio::spawn(async move {
            let _place = place;
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let (token, process, figures) = (token.clone(), process.clone(), figures.clone());
                async move {
                    if let Some(refused) = refuse(&req, token.as_deref()) {
                        return Ok::<_, Infallible>(refused);
                    }
                    let split_route = req
                        .uri()
                        .path()
                        .strip_prefix("/routes/")
                        .and_then(|rest| rest.strip_suffix("/split"))
                        .map(str::to_owned);
                    let answer = match (req.method(), split_route) {
                        (&Method::POST, _) if req.uri().path() == "/cache/purge" => {
                            let (head, body) = req.into_parts();
                            purge(&head.headers, body, process.caches()).await
                        }
                        (&Method::PUT, Some(route)) => {
                            change_split(&route, req.into_body(), process.splits()).await
                        }
                        (&Method::POST, _) if steer::target(req.uri().path()).is_some() => {
                            let (head, body) = req.into_parts();
                            let (pool, server) =
                                steer::target(head.uri.path()).expect("checked above");
                            let sent = (&head.headers, body);
                            let target = (pool.as_ref(), server.as_ref());
                            match steer::steer(target, sent, process.pools(), peer).await {
                                Ok(changed) => json(changed),
                                Err((status, reason)) => text(status, reason),
                            }
                        }
                        _ => answer(req.method(), req.uri().path(), &process, &figures),
                    };
                    Ok(answer)
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The answer to a request without the token (when one is set): `401`. `/healthz` and `/ready`
/// need none, for load balancers' and orchestrators' probes. The token is taken as a bearer
/// token, or as the password of HTTP Basic credentials (any user name), which is what a
/// browser sends once its user has typed it into the prompt a `Basic` challenge opens; the
/// browser then sends it with every request of the page, its script's included.
fn refuse(req: &hyper::Request<Incoming>, token: Option<&str>) -> Option<AdminResponse> {
    let token = token?;
    if matches!(req.uri().path(), "/healthz" | "/ready") {
        return None;
    }
    let headers = req.headers();
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    let admitted = match bearer {
        Some(presented) => same(presented, token.as_bytes()),
        None => crate::policy::basic_credentials(headers).is_ok_and(|credentials| {
            credentials
                .iter()
                .position(|&b| b == b':')
                .is_some_and(|colon| same(&credentials[colon + 1..], token.as_bytes()))
        }),
    };
    if admitted {
        return None;
    }
    let mut refused = text(StatusCode::UNAUTHORIZED, "401 Unauthorized\n".to_owned());
    let challenges = refused.headers_mut();
    challenges.insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="edge-admin""#),
    );
    challenges.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="edge-admin", charset="UTF-8""#),
    );
    Some(refused)
}

/// Compares without stopping at the first difference, so the time taken does not tell how
/// much of a guess was right.
fn same(presented: &[u8], token: &[u8]) -> bool {
    presented.len() == token.len()
        && presented
            .iter()
            .zip(token)
            .fold(0, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// The most a purge request may list, in bytes.
const MAX_PURGE: usize = 64 * 1024;

/// `POST /cache/purge`: every URL of the body (one a line, `http://HOST/PATH?QUERY`) is
/// forgotten by every cache; answers how many cached URLs were forgotten.
async fn purge(headers: &HeaderMap, body: Incoming, caches: &Caches) -> AdminResponse {
    let uri_list = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/uri-list"));
    if !uri_list {
        let reason = "a purge is sent as `Content-Type: text/uri-list`\n".to_owned();
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason);
    }
    let Ok(body) = Limited::new(body, MAX_PURGE).collect().await else {
        let reason = format!("a purge lists at most {MAX_PURGE} bytes of URLs\n");
        return text(StatusCode::PAYLOAD_TOO_LARGE, reason);
    };
    let body = body.to_bytes();
    let Ok(urls) = std::str::from_utf8(&body) else {
        return text(StatusCode::BAD_REQUEST, "URLs are text\n".to_owned());
    };
    let targets: Result<Vec<_>, _> = urls
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(PurgeTarget::parse)
        .collect();
    match targets {
        Ok(targets) => {
            let purged: usize = targets.iter().map(|target| caches.purge(target)).sum();
            text(StatusCode::OK, format!("purged {purged}\n"))
        }
        Err(bad) => text(StatusCode::BAD_REQUEST, format!("{bad}\n")),
    }
}

/// The most a change of a split's weights may hold, in bytes.
const MAX_SPLIT_CHANGE: usize = 4 * 1024;

/// `PUT /routes/NAME/split` with a JSON object of pool names and weights (`{"app": 90,
/// "app_v2": 10}`; pools left out keep theirs): the route's split changes at once, all of it or
/// nothing; answers the weights now in force, as `GET /splits` shows them.
async fn change_split(route: &str, body: Incoming, splits: &Splits) -> AdminResponse {
    let Some(weights) = splits.route(route) else {
        let routes: Vec<&str> = splits.all().into_iter().map(|(name, _)| name).collect();
        let known = match routes.as_slice() {
            [] => "no route splits across pools".to_owned(),
            _ => format!("the routes that split are {}", routes.join(", ")),
        };
        return text(
            StatusCode::NOT_FOUND,
            format!("no split on route `{route}`: {known}\n"),
        );
    };
    let Ok(body) = Limited::new(body, MAX_SPLIT_CHANGE).collect().await else {
        let reason = format!("a change of weights is at most {MAX_SPLIT_CHANGE} bytes\n");
        return text(StatusCode::PAYLOAD_TOO_LARGE, reason);
    };
    let changes = match serde_json::from_slice::<serde_json::Value>(&body.to_bytes()) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(pool, weight)| match weight.as_u64() {
                Some(weight) => Ok((pool, weight)),
                None => Err(format!(
                    "the weight of `{pool}` must be a whole number from 0 to {MAX_WEIGHT}"
                )),
            })
            .collect::<Result<Vec<_>, _>>(),
        _ => Err(
            "the body is a JSON object of pool names and weights, such as {\"app\": 90, \"app_v2\": 10}"
                .to_owned(),
        ),
    };
    let changed = changes.and_then(|changes| weights.set(&changes).map_err(|e| e.to_string()));
    if let Err(reason) = changed {
        return text(StatusCode::BAD_REQUEST, format!("{reason}\n"));
    }
    let now = weights.current();
    tracing::info!(route, weights = ?now, "split weights changed through the admin API");
    json(split_json(&now).to_string())
}

/// A split's weights as JSON: pool name → weight, in the config's order.
fn split_json(weights: &[(&str, u32)]) -> serde_json::Value {
    serde_json::Value::Object(
        weights
            .iter()
            .map(|&(pool, weight)| (pool.to_owned(), weight.into()))
            .collect(),
    )
}

/// `GET /splits`: every route's split, route name → its pools' weights.
fn splits(splits: &Splits) -> String {
    let all: serde_json::Map<String, serde_json::Value> = splits
        .all()
        .into_iter()
        .map(|(route, weights)| (route.to_owned(), split_json(&weights.current())))
        .collect();
    serde_json::Value::Object(all).to_string()
}

/// A `200` with a JSON body.
fn json(body: String) -> AdminResponse {
    let mut response = text(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn answer(method: &Method, path: &str, process: &Process, figures: &Figures) -> AdminResponse {
    if method != Method::GET && method != Method::HEAD {
        let allowed = "GET or HEAD (POST for /cache/purge and /pools/POOL/servers/SERVER, PUT for \
             /routes/NAME/split)\n"
            .to_owned();
        return text(StatusCode::METHOD_NOT_ALLOWED, allowed);
    }
    match path {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics(process));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n".to_owned()),
        // Whether this proxy should get traffic, not whether its servers are up: a pool
        // without a live server would otherwise take every replica out of its service at once.
        "/ready" if process.front().is_ready() => text(StatusCode::OK, "ready\n".to_owned()),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned()),
        "/" => {
            let page = dashboard::page(
                process.observer(),
                process.pools(),
                &process.caches().figures(),
            );
            page_part(page, "text/html; charset=utf-8")
        }
        "/dashboard.js" => page_part(
            dashboard::SCRIPT.to_owned(),
            "text/javascript; charset=utf-8",
        ),
        "/dashboard.css" => page_part(dashboard::STYLE.to_owned(), "text/css; charset=utf-8"),
        // Browsers ask for an icon with the page: there is none, and no error to log for it.
        "/favicon.ico" => text(StatusCode::NO_CONTENT, String::new()),
        "/status" => json(status(process.pools())),
        "/stats" => json(figures.json(process)),
        "/splits" => json(splits(process.splits())),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: / (the page), /metrics, /healthz, /ready, /status, /stats, /splits, \
             POST /cache/purge, POST /pools/POOL/servers/SERVER, PUT /routes/NAME/split\n"
                .to_owned(),
        ),
    }
}

/// The page or one of its files, under the page's content security policy.
fn page_part(body: String, content_type: &'static str) -> AdminResponse {
    let mut response = text(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(dashboard::POLICY),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: String) -> AdminResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A label value, escaped as the exposition format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Every metric in the Prometheus text format. Names and labels are stable across rebuilds:
/// routes, listeners and pools are labelled by their names in the config.
fn metrics(process: &Process) -> String {
    let observer = process.observer();
    let mut out = String::with_capacity(4096);
    let m = &observer.metrics;
    let routes: Vec<(String, Vec<&RouteRow>)> = observer
        .routes
        .iter()
        .enumerate()
        .map(|(id, route)| {
            let labels = format!(
                "listener=\"{}\",route=\"{}\"",
                label(route.listener),
                label(route.name)
            );
            (labels, m.route_rows(id).collect())
        })
        .chain(observer.listeners.iter().enumerate().map(|(id, listener)| {
            let labels = format!("listener=\"{}\",route=\"\"", label(listener));
            (labels, m.unrouted_rows(id).collect())
        }))
        .collect();

    if let Some(build) = observer.build {
        family(
            &mut out,
            "edge_build_info",
            "gauge",
            "The Edge version and the config this proxy was built from (always 1).",
        );
        let _ = writeln!(
            out,
            "edge_build_info{{version=\"{}\",config=\"{}\",config_sha256=\"{}\"}} 1",
            BuildInfo::EDGE_VERSION,
            label(build.config_name),
            build.config_sha256
        );
    }
    family(
        &mut out,
        "edge_requests_total",
        "counter",
        "Requests answered, by route (empty: no route matched) and status class.",
    );
    for (labels, rows) in &routes {
        for (index, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let count = sum(rows.iter().copied(), |r| &r.classes[index]);
            let _ = writeln!(
                out,
                "edge_requests_total{{{labels},class=\"{class}\"}} {count}"
            );
        }
    }
    family(
        &mut out,
        "edge_responses_total",
        "counter",
        "Answers with the statuses policies and the proxy give (401, 403, 404, 405, 413, 415, 429, 431, 502, 503, 504), by route.",
    );
    for (labels, rows) in &routes {
        for (index, code) in CODES.iter().enumerate() {
            let count = sum(rows.iter().copied(), |r| &r.codes[index]);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "edge_responses_total{{{labels},code=\"{code}\"}} {count}"
                );
            }
        }
    }
    family(
        &mut out,
        "edge_request_duration_seconds",
        "histogram",
        "Time from a request's head to its answer's head, by route.",
    );
    for (labels, rows) in &routes {
        let mut cumulative = 0;
        for (index, bound) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(std::iter::once("+Inf".to_owned()))
            .enumerate()
        {
            cumulative += sum(rows.iter().copied(), |r| &r.buckets[index]);
            let _ = writeln!(
                out,
                "edge_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let nanos = sum(rows.iter().copied(), |r| &r.sum_nanos);
        let _ = writeln!(
            out,
            "edge_request_duration_seconds_sum{{{labels}}} {}\nedge_request_duration_seconds_count{{{labels}}} {cumulative}",
            nanos as f64 / 1e9
        );
    }

    let listener_counts = [
        (
            "edge_connections_total",
            "Connections accepted, by listener.",
            "counter",
        ),
        (
            "edge_connections_open",
            "Connections open now, by listener.",
            "gauge",
        ),
        (
            "edge_tls_handshake_failures_total",
            "TLS handshakes that failed, by listener.",
            "counter",
        ),
    ];
    for (name, help, kind) in listener_counts {
        family(&mut out, name, kind, help);
        for (id, listener) in observer.listeners.iter().enumerate() {
            let rows = || m.listener_rows(id);
            let accepted = sum(rows(), |r| &r.accepted);
            let value = match name {
                "edge_connections_total" => accepted,
                "edge_connections_open" => accepted.saturating_sub(sum(rows(), |r| &r.closed)),
                _ => sum(rows(), |r| &r.tls_failures),
            };
            let _ = writeln!(out, "{name}{{listener=\"{}\"}} {value}", label(listener));
        }
    }

    let pools = process.pools().rosters();
    let now = clock::now();
    let server_labels = |pool: &str, backend: &Backend| {
        format!(
            "pool=\"{}\",server=\"{}\"",
            label(pool),
            label(&backend.spec.upstream.to_string())
        )
    };
    family(
        &mut out,
        "edge_upstream_requests_total",
        "counter",
        "Attempts sent to each server.",
    );
    for (pool, backends) in &pools {
        for backend in backends {
            let requests = backend.stats.requests.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "edge_upstream_requests_total{{{}}} {requests}",
                server_labels(pool, backend)
            );
        }
    }
    family(
        &mut out,
        "edge_upstream_errors_total",
        "counter",
        "Failed attempts by kind: connect (no connection or TLS), timeout (no answer in time), 5xx, broken (the connection failed mid-exchange).",
    );
    for (pool, backends) in &pools {
        for backend in backends {
            for kind in ErrorKind::ALL {
                let count = backend.stats.errors[kind as usize].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "edge_upstream_errors_total{{{},kind=\"{}\"}} {count}",
                    server_labels(pool, backend),
                    kind.name()
                );
            }
        }
    }
    family(
        &mut out,
        "edge_upstream_response_seconds",
        "summary",
        "Time from an attempt's start to its answer's head (for a tunnel, to its connection), over the attempts answered.",
    );
    for (pool, backends) in &pools {
        for backend in backends {
            let labels = server_labels(pool, backend);
            let waited = backend.stats.waited.load(Ordering::Relaxed) as f64 / 1e9;
            let answers = backend.stats.answers.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "edge_upstream_response_seconds_sum{{{labels}}} {waited}"
            );
            let _ = writeln!(
                out,
                "edge_upstream_response_seconds_count{{{labels}}} {answers}"
            );
        }
    }
    family(
        &mut out,
        "edge_upstream_active_requests",
        "gauge",
        "Requests in flight to each server.",
    );
    for (pool, backends) in &pools {
        for backend in backends {
            let _ = writeln!(
                out,
                "edge_upstream_active_requests{{{}}} {}",
                server_labels(pool, backend),
                backend.active()
            );
        }
    }
    family(
        &mut out,
        "edge_upstream_up",
        "gauge",
        "1 when a server is usable (health checks and passive health), else 0.",
    );
    for (pool, backends) in &pools {
        for backend in backends {
            let up = u8::from(backend.is_up(now));
            let _ = writeln!(
                out,
                "edge_upstream_up{{{}}} {up}",
                server_labels(pool, backend)
            );
        }
    }
    family(
        &mut out,
        "edge_upstream_ejections_total",
        "counter",
        "Times outlier detection took each server out (pools with `outlier`).",
    );
    for (pool, backends) in &pools {
        for backend in backends {
            let ejections = backend.outlier.ejections.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "edge_upstream_ejections_total{{{}}} {ejections}",
                server_labels(pool, backend)
            );
        }
    }
    let gauges = process.pools().gauges();
    family(
        &mut out,
        "edge_pool_refused_total",
        "counter",
        "Requests answered 503 by a pool's circuit breakers: max_requests (too many in flight), max_pending (queue full), queue_timeout (waited the connect timeout).",
    );
    for (pool, gauge) in &gauges {
        for why in Refusal::ALL {
            let _ = writeln!(
                out,
                "edge_pool_refused_total{{pool=\"{}\",reason=\"{}\"}} {}",
                label(pool),
                why.name(),
                gauge.refusals(why)
            );
        }
    }
    family(
        &mut out,
        "edge_pool_requests_in_flight",
        "gauge",
        "Attempts in flight to a pool with max_requests or max_pending.",
    );
    for (pool, gauge) in &gauges {
        let _ = writeln!(
            out,
            "edge_pool_requests_in_flight{{pool=\"{}\"}} {}",
            label(pool),
            gauge.in_flight()
        );
    }
    family(
        &mut out,
        "edge_pool_requests_waiting",
        "gauge",
        "Requests waiting for a place on a server of a pool with max_pending.",
    );
    for (pool, gauge) in &gauges {
        let _ = writeln!(
            out,
            "edge_pool_requests_waiting{{pool=\"{}\"}} {}",
            label(pool),
            gauge.waiting()
        );
    }

    family(
        &mut out,
        "edge_access_log_dropped_total",
        "counter",
        "Access log lines dropped because the writer fell behind.",
    );
    let dropped = observer.access_log.as_ref().map_or(0, |log| log.dropped());
    let _ = writeln!(out, "edge_access_log_dropped_total {dropped}");
    if let Some(tracer) = &observer.tracer {
        family(
            &mut out,
            "edge_trace_spans_total",
            "counter",
            "Spans of recorded requests: exported, refused by (or not delivered to) the OTLP receiver, or dropped because the exporter fell behind.",
        );
        let (exported, failed, dropped) = tracer.counts();
        for (result, count) in [
            ("exported", exported),
            ("failed", failed),
            ("dropped", dropped),
        ] {
            let _ = writeln!(out, "edge_trace_spans_total{{result=\"{result}\"}} {count}");
        }
    }
    caches(&mut out, process.caches());
    stores(&mut out, process.stores());
    mirrors(&mut out, process.mirrors());
    out
}

/// Each mirror's requests by what became of them.
fn mirrors(out: &mut String, mirrors: &Mirrors) {
    let mirrors = mirrors.all();
    if mirrors.is_empty() {
        return;
    }
    family(
        out,
        "edge_mirror_requests_total",
        "counter",
        "Requests each route's mirror saw in its share: the shadow's answers by status class, timeout, or not sent: busy (max_in_flight reached), too_large (body over max_body), incomplete (the body never ended).",
    );
    for mirror in &mirrors {
        for (outcome, count) in mirror.counts() {
            let _ = writeln!(
                out,
                "edge_mirror_requests_total{{route=\"{}\",pool=\"{}\",result=\"{}\"}} {count}",
                label(mirror.spec.route),
                label(mirror.spec.pool),
                outcome.label()
            );
        }
    }
}

/// Each store's round trips, failures by kind, and the rate-limit decisions taken with it.
fn stores(out: &mut String, stores: &Stores) {
    let stores = stores.live();
    if stores.is_empty() {
        return;
    }
    family(
        out,
        "edge_store_round_trip_seconds",
        "histogram",
        "Round trips to each store that got an answer in time.",
    );
    for store in &stores {
        let name = label(store.spec().name);
        let figures = store.figures();
        let mut count = 0;
        for (bucket, bound) in figures.round_trips.iter().zip(
            ROUND_TRIP_BUCKETS_US
                .iter()
                .map(|us| format!("{}", *us as f64 / 1e6))
                .chain(["+Inf".to_owned()]),
        ) {
            count += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "edge_store_round_trip_seconds_bucket{{store=\"{name}\",le=\"{bound}\"}} {count}"
            );
        }
        let sum = figures.round_trip_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "edge_store_round_trip_seconds_sum{{store=\"{name}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "edge_store_round_trip_seconds_count{{store=\"{name}\"}} {count}"
        );
    }
    family(
        out,
        "edge_store_errors_total",
        "counter",
        "Calls to each store that failed: timeout (no answer within its deadline), connection, reply (an error answer).",
    );
    for store in &stores {
        let name = label(store.spec().name);
        for (kind, errors) in StoreError::KINDS.iter().zip(&store.figures().errors) {
            let errors = errors.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "edge_store_errors_total{{store=\"{name}\",kind=\"{kind}\"}} {errors}"
            );
        }
    }
    family(
        out,
        "edge_rate_limit_decisions_total",
        "counter",
        "Decisions of rate limits kept in each store: batch (from requests taken earlier, no round trip), store (a round trip), fallback (on_store_error, the store not answering).",
    );
    for store in &stores {
        let name = label(store.spec().name);
        for (taken, count) in Decided::LABELS.iter().zip(store.figures().decisions()) {
            let _ = writeln!(
                out,
                "edge_rate_limit_decisions_total{{store=\"{name}\",decided=\"{taken}\"}} {count}"
            );
        }
    }
}

/// Each cache policy's requests by result, entries and bytes.
fn caches(out: &mut String, caches: &Caches) {
    let caches = caches.figures();
    if caches.is_empty() {
        return;
    }
    family(
        out,
        "edge_cache_requests_total",
        "counter",
        "Requests through each cache policy: hit, miss, stale (served stale), revalidated (a 304 refreshed it), bypass (not cacheable).",
    );
    for cache in &caches {
        for (result, count) in cache.results {
            let _ = writeln!(
                out,
                "edge_cache_requests_total{{policy=\"{}\",result=\"{result}\"}} {count}",
                label(cache.name)
            );
        }
    }
    family(
        out,
        "edge_cache_entries",
        "gauge",
        "Entries each cache holds (answers and per-URL records), approximately.",
    );
    for cache in &caches {
        let _ = writeln!(
            out,
            "edge_cache_entries{{policy=\"{}\"}} {}",
            label(cache.name),
            cache.entries
        );
    }
    family(
        out,
        "edge_cache_bytes",
        "gauge",
        "Bytes each cache holds (bodies, headers and keys), approximately.",
    );
    for cache in &caches {
        let _ = writeln!(
            out,
            "edge_cache_bytes{{policy=\"{}\"}} {}",
            label(cache.name),
            cache.bytes
        );
    }
}

/// Each pool's servers with their health, load and errors, as JSON.
fn status(pools: &Pools) -> String {
    let now = clock::now();
    let pools: Vec<serde_json::Value> = pools
        .rosters()
        .into_iter()
        .map(|(pool, backends)| {
            let servers: Vec<serde_json::Value> = backends
                .iter()
                .map(|backend| {
                    let errors: serde_json::Map<String, serde_json::Value> = ErrorKind::ALL
                        .iter()
                        .map(|&kind| {
                            let count = backend.stats.errors[kind as usize].load(Ordering::Relaxed);
                            (kind.name().to_owned(), count.into())
                        })
                        .collect();
                    let last_error = backend.stats.last_error().map(|(at, error)| {
                        serde_json::json!({
                            "at": humantime::format_rfc3339_millis(at).to_string(),
                            "error": error,
                        })
                    });
                    let changed = |change: Option<(std::time::SystemTime, String)>| {
                        change.map(|(at, by)| {
                            serde_json::json!({
                                "at": humantime::format_rfc3339_millis(at).to_string(),
                                "by": by,
                            })
                        })
                    };
                    let configured = backend.live_weight().map(|_| backend.spec.weight);
                    serde_json::json!({
                        "server": backend.spec.upstream.to_string(),
                        "host": backend.host.as_deref(),
                        "state": backend.steering().name(),
                        "state_changed": changed(backend.stats.last_steered()),
                        "up": backend.is_up(now),
                        "backup": backend.spec.backup,
                        "weight": backend.weight(),
                        "configured_weight": configured,
                        "weight_changed": changed(backend.stats.last_weighed()),
                        "active_requests": backend.active(),
                        "requests": backend.stats.requests.load(Ordering::Relaxed),
                        "errors": errors,
                        "last_error": last_error,
                    })
                })
                .collect();
            serde_json::json!({ "pool": pool, "servers": servers })
        })
        .collect();
    let mut body = serde_json::json!({ "pools": pools }).to_string();
    body.push('\n');
    body
}
