//! Backends in the test's own runtime: an HTTP/1.1 backend that records what it receives and
//! answers by path, one that closes each connection after its first answer, and an address
//! where nothing listens.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use edge_runtime::http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::Semaphore,
    task::AbortHandle,
};

use crate::FIVE_MB;

/// What a backend received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// An HTTP/1.1 backend on 127.0.0.1:0 that records requests and answers by path:
/// `/slow` after 500 ms, `/never` never, `/hold` once [`Backend::release`] is called,
/// `/upload` with the body's length and byte sum, `/download` and `/download-chunked` with
/// 5 MB, `/hop` with hop-by-hop headers, `/hsts` with its own `Strict-Transport-Security`,
/// `/healthz` with 200 or 503 (see [`Backend::set_healthy`]; not recorded), anything else with
/// its name.
pub struct Backend {
    pub addr: SocketAddr,
    name: &'static str,
    state: Arc<State>,
    accepting: AbortHandle,
}

/// What a backend's connections share.
struct State {
    seen: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
    /// Tasks serving connections, so that a kill can end them.
    serving: Mutex<Vec<AbortHandle>>,
    unhealthy: AtomicBool,
    /// Added before every recorded answer.
    delay: Duration,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// `/hold` requests wait for a permit.
    gate: Semaphore,
}

type BackendBody = BoxBody<Bytes, Infallible>;

impl Backend {
    pub async fn start(name: &'static str) -> Backend {
        Backend::start_slow(name, Duration::ZERO).await
    }

    /// A backend that waits `delay` before each answer (health checks excepted).
    pub async fn start_slow(name: &'static str, delay: Duration) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Backend::serve(name, delay, listener)
    }

    /// A backend listening on `addr` (a loopback address), or `None` if it is taken.
    pub async fn start_on(name: &'static str, addr: SocketAddr) -> Option<Backend> {
        let listener = TcpListener::bind(addr).await.ok()?;
        Some(Backend::serve(name, Duration::ZERO, listener))
    }

    fn serve(name: &'static str, delay: Duration, listener: TcpListener) -> Backend {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            seen: Mutex::default(),
            connections: AtomicUsize::new(0),
            serving: Mutex::default(),
            unhealthy: AtomicBool::new(false),
            delay,
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            gate: Semaphore::new(0),
        });
        let shared = Arc::clone(&state);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&shared);
                let service = service_fn(move |req| answer(name, req, Arc::clone(&state)));
                let serving = tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
                shared.serving.lock().unwrap().push(serving.abort_handle());
            }
        })
        .abort_handle();
        Backend {
            addr,
            name,
            state,
            accepting,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Requests recorded so far.
    pub fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests it was answering at once.
    pub fn most_in_flight(&self) -> usize {
        self.state.most_in_flight.load(Ordering::SeqCst)
    }

    /// What `/healthz` answers from now on: 200, or 503.
    pub fn set_healthy(&self, healthy: bool) {
        self.state.unhealthy.store(!healthy, Ordering::SeqCst);
    }

    /// Lets every waiting and future `/hold` request answer.
    pub fn release(&self) {
        self.state.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    /// Stops listening and drops every connection, in-flight requests included, like a crash.
    pub fn kill(&self) {
        self.accepting.abort();
        for serving in self.state.serving.lock().unwrap().drain(..) {
            serving.abort();
        }
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the backend saw a request")
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until the backend has seen `count` requests.
    pub async fn wait_for(&self, count: usize) {
        for _ in 0..500 {
            if self.count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} never saw {count} requests", self.name);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<State>);

impl InFlight {
    fn new(state: &Arc<State>) -> InFlight {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(
    name: &'static str,
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<BackendBody>, Infallible> {
    if req.uri().path() == "/healthz" {
        let status = if state.unhealthy.load(Ordering::SeqCst) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        let mut response = text("health");
        *response.status_mut() = status;
        return Ok(response);
    }
    let _in_flight = InFlight::new(&state);
    state.seen.lock().unwrap().push(Seen {
        method: req.method().clone(),
        uri: req.uri().to_string(),
        version: req.version(),
        headers: req.headers().clone(),
    });
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    let response = match req.uri().path() {
        "/app/hold" => {
            let _permit = state.gate.acquire().await.unwrap();
            text(name)
        }
        "/app/slow" => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            text("slow done")
        }
        "/app/never" => std::future::pending().await,
        "/app/fail" => {
            let mut response = text(name);
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
        "/app/upload" => {
            // A body the client broke (the proxy cuts it short) gets an answer nobody reads.
            let Ok(body) = req.into_body().collect().await else {
                return Ok(text("broken body"));
            };
            let body = body.to_bytes();
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            text(&format!("{} {sum}", body.len()))
        }
        "/app/download" => Response::new(Full::new(Bytes::from(pattern(FIVE_MB))).boxed()),
        "/app/download-chunked" => Response::new(Chunks { left: FIVE_MB }.boxed()),
        "/app/hsts" => Response::builder()
            .header("strict-transport-security", "max-age=60")
            .body(Full::new(Bytes::from_static(b"hsts")).boxed())
            .unwrap(),
        "/app/hop" => Response::builder()
            .header("connection", "x-internal")
            .header("x-internal", "secret")
            .header("keep-alive", "timeout=5")
            .header("x-public", "yes")
            .body(Full::new(Bytes::from_static(b"hop")).boxed())
            .unwrap(),
        _ => text(name),
    };
    Ok(response)
}

fn text(body: &str) -> Response<BackendBody> {
    Response::new(Full::new(Bytes::from(body.to_owned())).boxed())
}

/// `len` bytes of a repeating pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The byte sum of [`pattern`].
pub fn pattern_sum(len: usize) -> u64 {
    pattern(len).iter().map(|&b| u64::from(b)).sum()
}

/// A body of unknown length (sent chunked), 64 KiB per frame.
struct Chunks {
    left: usize,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let len = self.left.min(64 * 1024);
        if len == 0 {
            return Poll::Ready(None);
        }
        let start = FIVE_MB - self.left;
        self.left -= len;
        let bytes: Vec<u8> = (start..start + len).map(|i| (i % 251) as u8).collect();
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(bytes)))))
    }
}

/// A backend that closes each connection right after its first response, without saying so
/// (no `Connection: close`), like a server whose keep-alive timeout just ran out.
pub async fn one_shot_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\none shot")
                    .await;
            });
        }
    });
    addr
}

/// An address where nothing listens (a port that was just free).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
