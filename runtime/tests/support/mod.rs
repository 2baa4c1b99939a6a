//! Test support: a gateway shaped like generated code, recording backends, and clients.
//!
//! Everything binds 127.0.0.1:0; every wait is bounded.
// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

pub mod pki;

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use edge_runtime::{
    http::{HeaderMap, Method, Request, Response, StatusCode, Version},
    not_found, respond, CertReloader, Cx, Gateway, ListenerLimits, ListenerMode, ListenerSpec,
    Pool, PoolSpec, ProxyProtocol, Retry, RoundRobin, Server, ServerSpec, Strategy, Upstream,
    UpstreamTimeouts,
};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{oneshot, Semaphore},
    task::{AbortHandle, JoinHandle},
};

/// Every network wait in the tests ends within this.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Bytes in the large upload and download tests.
pub const FIVE_MB: usize = 5 * 1024 * 1024;

// ---- the gateway, as `edgec` would generate it ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Web,
    Small,
}

pub static LISTENERS: &[(Listener, ListenerSpec)] = &[
    (
        Listener::Web,
        ListenerSpec {
            name: "web",
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0),
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Http,
            tls: None,
        },
    ),
    (
        Listener::Small,
        ListenerSpec {
            name: "small",
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0),
            limits: ListenerLimits {
                max_header_size: 8192,
                header_timeout: Duration::from_secs(1),
                keepalive_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(1),
                send_timeout: Duration::from_secs(1),
                max_body: 1024,
                ..ListenerLimits::DEFAULT
            },
            mode: ListenerMode::Http,
            tls: None,
        },
    ),
];

pub struct Edge<S: Strategy = RoundRobin> {
    app: Pool<S>,
}

impl Edge {
    pub fn new(app: &'static PoolSpec) -> Self {
        Edge::with(app, RoundRobin::default())
    }
}

impl<S: Strategy> Edge<S> {
    pub fn with(app: &'static PoolSpec, strategy: S) -> Self {
        Edge {
            app: Pool::new(app, strategy),
        }
    }
}

impl<S: Strategy> Gateway for Edge<S> {
    type Listener = Listener;

    async fn handle(
        &self,
        listener: Listener,
        req: edge_runtime::Request,
        cx: &Cx,
    ) -> edge_runtime::Response {
        match listener {
            Listener::Web | Listener::Small => {
                match route_web(req.method(), cx.host(), req.uri().path()) {
                    Some(RouteWeb::Admin) => respond(200, "admin\n"),
                    Some(RouteWeb::Hello) => respond(200, "hello from edge\n"),
                    Some(RouteWeb::All) => self.app.forward(req, cx).await,
                    None => not_found(),
                }
            }
        }
    }
}

enum RouteWeb {
    Admin,
    Hello,
    All,
}

fn route_web(method: &Method, host: &str, path: &str) -> Option<RouteWeb> {
    match (host, path) {
        ("admin.example", _) => Some(RouteWeb::Admin),
        (_, "/hello") if method == Method::GET => Some(RouteWeb::Hello),
        (_, "/nothing") => None,
        _ => Some(RouteWeb::All),
    }
}

/// A pool spec leaked to `'static`, as generated code would have it in a `static`: plain
/// servers, no health checks, no retries.
pub fn pool(servers: &[SocketAddr], timeouts: UpstreamTimeouts) -> &'static PoolSpec {
    leak(PoolSpec {
        timeouts,
        ..spec(servers.iter().copied().map(server).collect())
    })
}

/// A primary server of weight 1.
pub fn server(addr: SocketAddr) -> ServerSpec {
    ServerSpec::new(Upstream::Socket(addr))
}

/// A pool named `app` over `servers` with default timeouts and nothing else; tests override
/// fields with struct update syntax and [`leak`] the result.
pub fn spec(servers: Vec<ServerSpec>) -> PoolSpec {
    PoolSpec {
        name: "app",
        servers: Box::leak(servers.into_boxed_slice()),
        timeouts: UpstreamTimeouts::DEFAULT,
        health: None,
        passive: None,
        retry: Retry::NONE,
        proxy_protocol: ProxyProtocol::None,
        tls: None,
        protocol: edge_runtime::UpstreamProtocol::Http1,
    }
}

pub fn leak(spec: PoolSpec) -> &'static PoolSpec {
    Box::leak(Box::new(spec))
}

/// The proxy, started in-process on ephemeral ports.
pub struct Proxy {
    pub web: SocketAddr,
    pub small: SocketAddr,
    /// What `run` does on SIGHUP: re-reads TLS files (listeners' and pools').
    pub reloader: CertReloader,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(app: &'static PoolSpec) -> Proxy {
        Proxy::start_with(app, RoundRobin::default()).await
    }

    /// Starts the proxy with a pool balanced by `strategy`.
    pub async fn start_with<S: Strategy>(app: &'static PoolSpec, strategy: S) -> Proxy {
        let server = Server::bind(LISTENERS, Edge::with(app, strategy))
            .await
            .unwrap();
        let addrs: Vec<(&str, SocketAddr)> = server.local_addrs().collect();
        assert_eq!(addrs[0].0, "web");
        assert_eq!(addrs[1].0, "small");
        let reloader = server.cert_reloader();
        let (shutdown, signal) = oneshot::channel();
        let serving = tokio::spawn(server.serve(async {
            let _ = signal.await;
        }));
        Proxy {
            web: addrs[0].1,
            small: addrs[1].1,
            reloader,
            shutdown,
            serving,
        }
    }

    /// Starts the proxy in front of `backends` with default timeouts.
    pub async fn before(backends: &[&Backend]) -> Proxy {
        let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
        Proxy::start(pool(&addrs, UpstreamTimeouts::DEFAULT)).await
    }

    /// Signals shutdown; the returned handle ends when the drain is over.
    pub fn shut_down(self) -> JoinHandle<()> {
        let _ = self.shutdown.send(());
        self.serving
    }

    /// Shuts down and waits for the drain.
    pub async fn stop(self) {
        tokio::time::timeout(PATIENCE, self.shut_down())
            .await
            .expect("the proxy drains in time")
            .unwrap();
    }
}

// ---- backends ----

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

// ---- clients ----

/// A response as the client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// An HTTP/1.1 client connection.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Client { sender }
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Got {
        let exchange = async {
            self.sender.ready().await.unwrap();
            let response = self.sender.send_request(req).await.unwrap();
            let (parts, body) = response.into_parts();
            Got {
                status: parts.status,
                headers: parts.headers,
                body: body.collect().await.unwrap().to_bytes(),
            }
        };
        tokio::time::timeout(PATIENCE, exchange)
            .await
            .expect("the proxy answers in time")
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Got {
        let mut builder = Request::get(path).header("host", "example.com");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Full::default()).unwrap()).await
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Got {
    Client::connect(addr).await.get(path, headers).await
}

/// Sends `request` over HTTP/2 with prior knowledge.
pub async fn get_h2(addr: SocketAddr, uri: &str) -> Got {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let req = Request::get(uri).body(Full::<Bytes>::default()).unwrap();
    let exchange = async {
        let response = sender.send_request(req).await.unwrap();
        let (parts, body) = response.into_parts();
        Got {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the proxy answers in time")
}

/// Sends `req` over HTTP/2 with prior knowledge exactly as given (`:authority` from its URI,
/// every field including `host` as is), with `body` as its data; the h2 crate's client, which
/// checks nothing of what it is asked to send.
pub async fn h2_send(addr: SocketAddr, req: Request<()>, body: &'static [u8]) -> Got {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = h2::client::handshake(stream).await.unwrap();
        tokio::spawn(connection);
        let mut sender = sender.ready().await.unwrap();
        let (response, mut stream) = sender.send_request(req, body.is_empty()).unwrap();
        if !body.is_empty() {
            stream.send_data(Bytes::from_static(body), true).unwrap();
        }
        let (parts, mut received) = response.await.unwrap().into_parts();
        let mut body = Vec::new();
        while let Some(chunk) = received.data().await {
            let chunk = chunk.unwrap();
            let _ = received.flow_control().release_capacity(chunk.len());
            body.extend_from_slice(&chunk);
        }
        Got {
            status: parts.status,
            headers: parts.headers,
            body: Bytes::from(body),
        }
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the proxy answers in time")
}

/// Writes `request` as raw bytes and reads until the proxy closes the connection.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection in time")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes each part of `request` in turn, waiting `pause` after each, then reads until the
/// proxy closes the connection; what the proxy said, even if it closed before all was written.
pub async fn raw_slowly(addr: SocketAddr, request: &[&[u8]], pause: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for part in request {
        if stream.write_all(part).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code on the first line of a raw HTTP/1 answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}
