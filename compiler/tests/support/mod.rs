//! Test support for driving `edgec` and the proxies it builds: echo backends on ephemeral
//! loopback ports, a running proxy process that reports where it listens, and an HTTP client.

#![allow(dead_code)] // each test binary uses part of this module

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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
pub struct Backends {
    pub addrs: Vec<SocketAddr>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Backends {
    pub fn start(count: usize) -> Backends {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let addrs = (0..count)
            .map(|index| runtime.block_on(serve_echo(index + 1)))
            .collect();
        Backends {
            addrs,
            runtime: Some(runtime),
        }
    }

    /// Closes every backend socket, listening and connected.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve_echo(id: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(move |req| echo(id, req));
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
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
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
    Ok(hyper::Response::new(Full::new(Bytes::from(text))))
}

/// A proxy binary running as a child process; stopped with SIGTERM when dropped.
pub struct Proxy {
    child: Child,
    /// Listener name → bound address, from the lines the proxy prints at start-up.
    pub listeners: Vec<(String, SocketAddr)>,
}

impl Proxy {
    pub fn start(binary: &Path, listeners: usize) -> Proxy {
        let mut child = Command::new(binary)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the proxy starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut found = Vec::new();
        while found.len() < listeners {
            let line = lines
                .next()
                .expect("the proxy prints its listeners")
                .unwrap();
            if let Some(rest) = line.strip_prefix("listening ") {
                let (name, url) = rest.split_once(' ').unwrap();
                let addr = url.trim_start_matches("http://").parse().unwrap();
                found.push((name.to_owned(), addr));
            }
        }
        Proxy {
            child,
            listeners: found,
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
        let deadline = Instant::now() + Duration::from_secs(10);
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

    pub fn get(&self, url: &str) -> Answer {
        self.send(
            hyper::Request::get(url)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    }
}
