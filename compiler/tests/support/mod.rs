//! Test support for driving `edgec` and the proxies it builds: echo backends on ephemeral
//! loopback ports, a running proxy process that reports where it listens, and an HTTP client.

#![allow(dead_code)] // each test binary uses part of this module

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Runs `edgec` with the given arguments, with the shared test cache for built proxies.
pub fn edgec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgec"))
        .args(args)
        .env("EDGE_CACHE_DIR", cache_dir())
        .output()
        .expect("edgec runs")
}

/// Builds `config` (saved as `NAME.edge` in a fresh folder) with `edgec build` and starts the
/// proxy, waiting for its `listeners` start-up lines. The folder lives as long as the proxy.
pub fn build_and_start(name: &str, config: &str, listeners: usize) -> (tempfile::TempDir, Proxy) {
    build_and_start_with(name, config, &[], listeners)
}

/// [`build_and_start`] with `files` (name, content) written beside the config first, for the
/// key sets, schemas and password files a config names.
pub fn build_and_start_with(
    name: &str,
    config: &str,
    files: &[(&str, &str)],
    listeners: usize,
) -> (tempfile::TempDir, Proxy) {
    let (dir, binary) = build_with(name, config, files);
    let proxy = Proxy::start(&binary, listeners);
    (dir, proxy)
}

/// Builds `config` (saved as `NAME.edge` in a fresh folder, with `files` beside it) with
/// `edgec build`; the binary is `proxy` in that folder, which lives as long as the `TempDir`.
pub fn build_with(
    name: &str,
    config: &str,
    files: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (file, content) in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let file = dir.path().join(format!("{name}.edge"));
    std::fs::write(&file, config).unwrap();
    let binary = dir.path().join("proxy");
    let output = edgec(&[
        "build",
        file.to_str().unwrap(),
        "-o",
        binary.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}\n{config}", stderr(&output));
    (dir, binary)
}

/// `EDGE_CACHE_DIR` when set (CI shares it with the smoke test), else the test target folder.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("EDGE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("edge-cache"))
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// HTTP backends that answer every request with what they saw, one `key: value` a line:
/// `backend`, `method`, `target`, `body-bytes`, then every header as `header NAME: VALUE`.
/// `/healthz` answers 200, or 503 once a backend is made unhealthy. A request's
/// `x-respond-cache-control` and `x-respond-etag` become the answer's `Cache-Control` and
/// `ETag`, and an `If-None-Match` equal to that ETag gets a 304. Each backend counts the
/// requests it saw per path, and runs on its own runtime, so it can be killed (every socket
/// closed) on its own.
pub struct Backends {
    pub addrs: Vec<SocketAddr>,
    backends: Vec<Backend>,
}

struct Backend {
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
}

impl Backends {
    pub fn start(count: usize) -> Backends {
        let any: Vec<SocketAddr> = (0..count)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
            .collect();
        Backends::start_at(&any)
    }

    /// Backends on these addresses (port 0: any free port), numbered from 1 in this order.
    pub fn start_at(addrs_wanted: &[SocketAddr]) -> Backends {
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
            backends.push(Backend {
                runtime: Some(runtime),
                control,
            });
        }
        Backends { addrs, backends }
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

    /// Makes backend `index` wait this long before answering anything but `/healthz`.
    pub fn set_delay(&self, index: usize, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap();
        self.backends[index]
            .control
            .delay_ms
            .store(millis, Ordering::Relaxed);
    }
}

impl Drop for Backends {
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
    let mut body = req.into_body();
    let mut bytes = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes += data.len();
        }
    }
    text.push_str(&format!("body-bytes: {bytes}\n"));
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

/// A proxy binary running as a child process; stopped with SIGTERM when dropped.
pub struct Proxy {
    child: Child,
    /// Listener name → bound address, from the lines the proxy prints at start-up.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The admin listener's address, when the config has one.
    pub admin: Option<SocketAddr>,
}

impl Proxy {
    pub fn start(binary: &Path, listeners: usize) -> Proxy {
        Proxy::start_with(binary, listeners, &[])
    }

    /// [`Proxy::start`] with these environment variables set.
    pub fn start_with(binary: &Path, listeners: usize, env: &[(&str, &OsStr)]) -> Proxy {
        let mut child = Command::new(binary)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the proxy starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut found = Vec::new();
        let mut admin = None;
        while found.len() < listeners {
            let line = lines
                .next()
                .expect("the proxy prints its listeners")
                .unwrap();
            if let Some(url) = line.strip_prefix("admin ") {
                admin = Some(url.split_once("://").unwrap().1.parse().unwrap());
            }
            if let Some(rest) = line.strip_prefix("listening ") {
                let (name, url) = rest.split_once(' ').unwrap();
                let addr = url.split_once("://").unwrap().1.parse().unwrap();
                found.push((name.to_owned(), addr));
            }
        }
        Proxy {
            child,
            listeners: found,
            admin,
        }
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(name, _)| name == listener)
            .map(|(_, addr)| *addr)
            .unwrap()
    }

    /// Sends SIGTERM and waits (at most 10 s) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().ok()?;
        self.wait(Duration::from_secs(10))
    }

    /// Waits at most `limit` for the proxy to exit on its own; its exit status.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().ok()? {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response with its body collected.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The value of `key: value` lines in an echo backend's answer.
    pub fn seen(&self, key: &str) -> Vec<&str> {
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
            .collect()
    }
}

/// An HTTP/1.1 client with connection reuse, on its own runtime.
pub struct HttpClient {
    runtime: tokio::runtime::Runtime,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        HttpClient { runtime, client }
    }

    pub fn send(&self, req: hyper::Request<Full<Bytes>>) -> Answer {
        self.runtime.block_on(async {
            let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
                .await
                .expect("the proxy answers within 30 s")
                .expect("the proxy answers");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
    }

    /// Sends every request, at most `concurrency` at a time; a request that fails or takes
    /// longer than 30 s gives an `Err` instead of an answer.
    pub fn send_all(
        &self,
        requests: Vec<hyper::Request<Full<Bytes>>>,
        concurrency: usize,
    ) -> Vec<Result<Answer, String>> {
        self.runtime.block_on(async {
            let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
            let mut tasks = Vec::with_capacity(requests.len());
            for req in requests {
                let client = self.client.clone();
                let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let _permit = permit;
                    let sent = tokio::time::timeout(Duration::from_secs(30), client.request(req));
                    let response = sent
                        .await
                        .map_err(|_| "no answer within 30 s".to_owned())?
                        .map_err(|e| e.to_string())?;
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                    Ok(Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    })
                }));
            }
            let mut answers = Vec::with_capacity(tasks.len());
            for task in tasks {
                answers.push(task.await.map_err(|e| e.to_string()).and_then(|a| a));
            }
            answers
        })
    }

    /// Sends `req` and returns the answer with its body as raw bytes (the text `body` of the
    /// answer is lossy).
    pub fn send_bytes(&self, req: hyper::Request<Full<Bytes>>) -> (Answer, Vec<u8>) {
        self.runtime.block_on(async {
            let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
                .await
                .expect("the proxy answers within 30 s")
                .expect("the proxy answers");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes().to_vec();
            let answer = Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            (answer, body)
        })
    }

    pub fn get(&self, url: &str) -> Answer {
        self.send(
            hyper::Request::get(url)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    }
}
