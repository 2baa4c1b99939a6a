//! Echo backends for tests that drive a proxy from outside (a child process, or blocking
//! code): each runs on a runtime of its own, so it can be killed on its own and needs no
//! runtime of the caller's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// HTTP backends that answer every request with what they saw, one `key: value` a line:
/// `backend`, `method`, `target`, `body-bytes`, then every header as `header NAME: VALUE`.
/// `/healthz` answers 200, or 503 once a backend is made unhealthy. A request's
/// `x-respond-cache-control` and `x-respond-etag` become the answer's `Cache-Control` and
/// `ETag`, and an `If-None-Match` equal to that ETag gets a 304. Each backend counts the
/// requests it saw per path and keeps their bodies, and runs on its own runtime, so it can be
/// killed (every socket closed) on its own.
pub struct EchoBackends {
    pub addrs: Vec<SocketAddr>,
    backends: Vec<EchoBackend>,
}

struct EchoBackend {
    runtime: Option<tokio::runtime::Runtime>,
    control: Arc<Control>,
}

/// What a test can change in a running backend.
#[derive(Default)]
struct Control {
    unhealthy: AtomicBool,
    delay_ms: AtomicU64,
    /// Requests seen, by path (`/healthz` left out).
    seen: Mutex<HashMap<String, u64>>,
    /// The bodies of the requests answered, by path.
    bodies: Mutex<HashMap<String, Vec<Bytes>>>,
}

impl EchoBackends {
    /// `count` backends on any free loopback ports.
    pub fn start(count: usize) -> EchoBackends {
        let any: Vec<SocketAddr> = (0..count)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
            .collect();
        EchoBackends::start_at(&any)
    }

    /// Backends on these addresses (port 0: any free port), numbered from 1 in this order.
    pub fn start_at(addrs_wanted: &[SocketAddr]) -> EchoBackends {
        let mut addrs = Vec::new();
        let mut backends = Vec::new();
        for (index, &wanted) in addrs_wanted.iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let control = Arc::new(Control::default());
            addrs.push(runtime.block_on(serve_echo(wanted, index + 1, Arc::clone(&control))));
            backends.push(EchoBackend {
                runtime: Some(runtime),
                control,
            });
        }
        EchoBackends { addrs, backends }
    }

    /// Closes every socket of backend `index`, listening and connected.
    pub fn kill_one(&mut self, index: usize) {
        if let Some(runtime) = self.backends[index].runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }

    /// Closes every backend.
    pub fn kill(&mut self) {
        for index in 0..self.backends.len() {
            self.kill_one(index);
        }
    }

    /// Makes backend `index` answer `/healthz` with 503 (or 200 again).
    pub fn set_healthy(&self, index: usize, healthy: bool) {
        self.backends[index]
            .control
            .unhealthy
            .store(!healthy, Ordering::Relaxed);
    }

    /// How many requests for `path` the backends have seen, all together.
    pub fn requests(&self, path: &str) -> u64 {
        self.backends
            .iter()
            .map(|backend| {
                let seen = backend.control.seen.lock().unwrap();
                seen.get(path).copied().unwrap_or(0)
            })
            .sum()
    }

    /// How many requests for `path` backend `index` has seen.
    pub fn requests_at(&self, index: usize, path: &str) -> u64 {
        let seen = self.backends[index].control.seen.lock().unwrap();
        seen.get(path).copied().unwrap_or(0)
    }

    /// The bodies of the requests to `path` every backend has answered, in the order each
    /// read them.
    pub fn bodies(&self, path: &str) -> Vec<Bytes> {
        self.backends
            .iter()
            .flat_map(|backend| {
                let bodies = backend.control.bodies.lock().unwrap();
                bodies.get(path).cloned().unwrap_or_default()
            })
            .collect()
    }

    /// Makes backend `index` wait this long before answering anything but `/healthz`.
    pub fn set_delay(&self, index: usize, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap();
        self.backends[index]
            .control
            .delay_ms
            .store(millis, Ordering::Relaxed);
    }
}

impl Drop for EchoBackends {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve_echo(addr: SocketAddr, id: usize, control: Arc<Control>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let control = Arc::clone(&control);
            tokio::spawn(async move {
                let service = service_fn(move |req| echo(id, Arc::clone(&control), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn echo(
    id: usize,
    control: Arc<Control>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    if req.uri().path() == "/healthz" {
        let status = if control.unhealthy.load(Ordering::Relaxed) {
            503
        } else {
            200
        };
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"health\n")));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        return Ok(response);
    }
    *control
        .seen
        .lock()
        .unwrap()
        .entry(req.uri().path().to_owned())
        .or_default() += 1;
    if let Some(answer) = not_modified(&req) {
        return Ok(answer);
    }
    let caching = caching(&req);
    if let Some(mut answer) = shaped(&req) {
        answer.headers_mut().extend(caching);
        return Ok(answer);
    }
    let delay = control.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut text = format!(
        "backend: {id}\nmethod: {}\ntarget: {}\n",
        req.method(),
        req.uri()
    );
    let headers: Vec<String> = req
        .headers()
        .iter()
        .map(|(name, value)| format!("header {name}: {}\n", value.to_str().unwrap_or("?")))
        .collect();
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    text.push_str(&format!("body-bytes: {}\n", body.len()));
    control
        .bodies
        .lock()
        .unwrap()
        .entry(path)
        .or_default()
        .push(body);
    text.extend(headers);
    let mut answer = hyper::Response::new(Full::new(Bytes::from(text)));
    answer.headers_mut().extend(caching);
    Ok(answer)
}

/// The `Cache-Control` and `ETag` a request asks for with `x-respond-cache-control` and
/// `x-respond-etag`.
fn caching(req: &hyper::Request<Incoming>) -> hyper::HeaderMap {
    let mut headers = hyper::HeaderMap::new();
    for (asked, given) in [
        ("x-respond-cache-control", hyper::header::CACHE_CONTROL),
        ("x-respond-etag", hyper::header::ETAG),
    ] {
        if let Some(value) = req.headers().get(asked) {
            headers.insert(given, value.clone());
        }
    }
    headers
}

/// A 304 when the request's `If-None-Match` is the ETag it asks for.
fn not_modified(req: &hyper::Request<Incoming>) -> Option<hyper::Response<Full<Bytes>>> {
    let etag = req.headers().get("x-respond-etag")?;
    if req.headers().get(hyper::header::IF_NONE_MATCH)? != etag {
        return None;
    }
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::NOT_MODIFIED;
    response.headers_mut().extend(caching(req));
    Some(response)
}

/// An answer of a chosen type and size, for requests with `x-respond-type` and
/// `x-respond-size`: the body repeats a JSON-like record, and a `Server` header names the
/// backend software (as real backends do).
fn shaped(req: &hyper::Request<Incoming>) -> Option<hyper::Response<Full<Bytes>>> {
    let header = |name| req.headers().get(name)?.to_str().ok();
    let content_type = header("x-respond-type")?.to_owned();
    let size: usize = header("x-respond-size")?.parse().ok()?;
    let body: Vec<u8> = br#"{"id": 42, "name": "alice", "tags": ["a", "b"]} "#
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect();
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert("content-type", content_type.parse().ok()?);
    headers.insert(
        "server",
        hyper::header::HeaderValue::from_static("internal-app/1.0"),
    );
    headers.insert(
        "x-powered-by",
        hyper::header::HeaderValue::from_static("php/8"),
    );
    Some(response)
}
