//! Active health checks: one background task per server (per address, for servers given by
//! name: checkers start and stop as addresses join and leave), never on the request path. The first
//! check runs at once, then one every `interval` with ±10% jitter (so the checks of many
//! proxies do not arrive in step). `rise` consecutive successes mark a down server up, `fall`
//! consecutive failures mark an up server down; changes are logged with pool and server.
//!
//! In a pool with `tls`, checks connect over TLS as requests do: a TCP check passes once the
//! handshake is done (so a certificate that no longer verifies takes the server down), an HTTP
//! check sends its request over TLS.
//!
//! Servers start up, as in nginx (without `mandatory`) and HAProxy: the first requests are not
//! refused before the first check has answered, and a dead server is found by the first
//! `fall` checks, with passive health and retries covering the gap. `run` waits for each
//! checker's first check before it serves (`Pools::started`), so a process that takes over
//! from another starts with what its checks found.

use std::{
    fmt,
    future::Future,
    io,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{header::HOST, HeaderValue, Method, Request};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{sync::watch, task::AbortHandle, time::timeout};

use crate::registry::Firsts;
use crate::{
    address::Upstream,
    rand,
    stream::Stream,
    upstream::backend::{Backend, Steering},
    upstream::spec::{HealthCheck, HttpCheck, PoolSpec, UpstreamProtocol},
    upstream::tls::Connector,
};

/// Counts consecutive results and says when the server changes state.
#[derive(Debug)]
pub(crate) struct Verdicts {
    up: bool,
    /// Consecutive results that disagree with the current state.
    streak: u32,
    rise: u32,
    fall: u32,
}

impl Verdicts {
    /// A server that starts up; `rise` and `fall` below 1 count as 1.
    pub(crate) fn new(rise: u32, fall: u32) -> Verdicts {
        Verdicts {
            up: true,
            streak: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// Records one check; `Some(up)` when the server changes state.
    pub(crate) fn record(&mut self, healthy: bool) -> Option<bool> {
        if healthy == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = healthy;
        self.streak = 0;
        Some(healthy)
    }
}

/// Why a check failed.
#[derive(Debug)]
pub(crate) enum CheckError {
    Timeout(Duration),
    Connect(io::Error),
    Tls(io::Error),
    Http(hyper::Error),
    Status(u16),
    /// The check's path, or the server's address as `Host`, cannot make a request.
    Request,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Timeout(after) => write!(f, "no answer within {after:?}"),
            CheckError::Connect(e) => write!(f, "cannot connect: {e}"),
            CheckError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            CheckError::Http(e) => write!(f, "HTTP exchange failed: {e}"),
            CheckError::Status(status) => write!(f, "answered {status}"),
            CheckError::Request => f.write_str("the check path or the server's address is invalid"),
        }
    }
}

/// Starts a checker for `backend` of `pool` on `runtime`, connecting over TLS with `tls` and
/// checking HTTP in the pool's protocol; its first check is listed in `firsts`. It ends when
/// the backend is gone (its pool dropped, or its address left the pool and its last request
/// ended), or when aborted.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    pool: &'static PoolSpec,
    check: HealthCheck,
    backend: &Arc<Backend>,
    tls: Option<Arc<Connector>>,
    firsts: &Firsts,
) -> AbortHandle {
    let checked = firsts.start(Instant::now() + check.interval() + check.timeout());
    runtime
        .spawn(keep_checking(
            pool,
            check,
            Arc::downgrade(backend),
            tls,
            checked,
        ))
        .abort_handle()
}

/// Checks `backend` until it is gone; `checked` is raised after the first check.
async fn keep_checking(
    spec: &'static PoolSpec,
    check: HealthCheck,
    backend: Weak<Backend>,
    tls: Option<Arc<Connector>>,
    checked: watch::Sender<bool>,
) {
    let pool = spec.name;
    let (rise, fall) = check.thresholds();
    let mut verdicts = Verdicts::new(rise, fall);
    let Some((upstream, host)) = backend.upgrade().map(|b| (b.spec.upstream, b.host.clone()))
    else {
        return;
    };
    loop {
        // A server in maintenance is not checked; its verdict waits until it is back.
        let in_maintenance = backend
            .upgrade()
            .is_some_and(|b| b.steering() == Steering::Maintenance);
        if in_maintenance {
            checked.send_replace(true);
            tokio::time::sleep(jittered(check.interval())).await;
            continue;
        }
        let result = probe(
            &check,
            spec.protocol,
            upstream,
            host.as_deref(),
            tls.as_deref(),
        )
        .await;
        let Some(backend) = backend.upgrade() else {
            return;
        };
        if let Err(error) = &result {
            tracing::debug!(pool, server = %backend, %error, "health check failed");
        }
        match (verdicts.record(result.is_ok()), &result) {
            (Some(true), _) => {
                tracing::info!(pool, server = %backend, "server is up (health check)");
                backend.set_up(true);
            }
            (Some(false), Err(error)) => {
                tracing::warn!(pool, server = %backend, %error, "server is down (health check)");
                backend.set_up(false);
            }
            _ => {}
        }
        drop(backend);
        checked.send_replace(true);
        tokio::time::sleep(jittered(check.interval())).await;
    }
}

/// `interval` give or take 10%.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * rand::unit())
}

/// One check of one server, over TLS with `tls`; an HTTP check speaks `protocol` and sends
/// `host` as `Host` (the address when `None`).
async fn probe(
    check: &HealthCheck,
    protocol: UpstreamProtocol,
    upstream: Upstream,
    host: Option<&str>,
    tls: Option<&Connector>,
) -> Result<(), CheckError> {
    let limit = check.timeout();
    let attempt = async {
        let stream = connect(upstream, host, tls).await?;
        match check {
            HealthCheck::Tcp(_) => Ok(()),
            HealthCheck::Http(http) => match protocol {
                UpstreamProtocol::Http1 => probe_http(http, stream, upstream, host).await,
                UpstreamProtocol::Http2 => {
                    probe_http2(http, stream, upstream, host, tls.is_some()).await
                }
            },
        }
    };
    timeout(limit, attempt)
        .await
        .map_err(|_| CheckError::Timeout(limit))?
}

async fn connect(
    upstream: Upstream,
    host: Option<&str>,
    tls: Option<&Connector>,
) -> Result<Stream, CheckError> {
    let tcp = crate::upstream::stream::tcp(&upstream)
        .await
        .map_err(CheckError::Connect)?;
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(tls) => {
            let tls = tls.handshake(tcp, &upstream, host).await;
            Ok(Stream::Tls(Box::new(tls.map_err(CheckError::Tls)?)))
        }
    }
}

/// `GET path` on `stream`, a fresh connection that is closed afterwards.
async fn probe_http(
    check: &HttpCheck,
    stream: Stream,
    upstream: Upstream,
    host: Option<&str>,
) -> Result<(), CheckError> {
    let host = match host {
        Some(host) => HeaderValue::try_from(host),
        None => HeaderValue::try_from(upstream.to_string()),
    }
    .map_err(|_| CheckError::Request)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(CheckError::Http)?;
    let request = Request::builder()
        .method(Method::GET)
        .uri(check.path)
        .header(HOST, host)
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|_| CheckError::Request)?;
    judged(check, sender.send_request(request), connection).await
}

/// `GET path` over HTTP/2 on `stream`, a fresh connection that is closed afterwards; `host`
/// goes as `:authority`.
async fn probe_http2(
    check: &HttpCheck,
    stream: Stream,
    upstream: Upstream,
    host: Option<&str>,
    tls: bool,
) -> Result<(), CheckError> {
    let authority = host.map_or_else(|| upstream.to_string(), str::to_owned);
    let scheme = if tls { "https" } else { "http" };
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("{scheme}://{authority}{}", check.path))
        .body(Empty::<Bytes>::new())
        .map_err(|_| CheckError::Request)?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(CheckError::Http)?;
    judged(check, sender.send_request(request), connection).await
}

/// Waits for the answer to a check's request while driving its connection (here rather than
/// spawned, so the connection ends with the check), and judges its status.
async fn judged(
    check: &HttpCheck,
    response: impl Future<Output = hyper::Result<http::Response<Incoming>>>,
    connection: impl Future<Output = hyper::Result<()>>,
) -> Result<(), CheckError> {
    tokio::pin!(response);
    let answered = tokio::select! {
        biased;
        response = &mut response => response,
        ended = connection => match ended {
            // The server closed after answering: the answer is ready.
            Ok(()) => response.await,
            Err(error) => Err(error),
        },
    };
    let status = answered.map_err(CheckError::Http)?.status().as_u16();
    if check.expect.contains(status) {
        Ok(())
    } else {
        Err(CheckError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_start_up_and_fall_after_fall_failures() {
        let mut verdicts = Verdicts::new(2, 3);
        assert_eq!(verdicts.record(true), None);
        assert_eq!(verdicts.record(false), None);
        assert_eq!(verdicts.record(false), None);
        assert_eq!(verdicts.record(false), Some(false));
        assert_eq!(verdicts.record(false), None);
    }

    #[test]
    fn a_success_breaks_a_streak_of_failures() {
        let mut verdicts = Verdicts::new(1, 2);
        for _ in 0..10 {
            assert_eq!(verdicts.record(false), None);
            assert_eq!(verdicts.record(true), None);
        }
    }

    #[test]
    fn a_down_server_rises_after_rise_successes() {
        let mut verdicts = Verdicts::new(3, 1);
        assert_eq!(verdicts.record(false), Some(false));
        assert_eq!(verdicts.record(true), None);
        assert_eq!(verdicts.record(true), None);
        assert_eq!(verdicts.record(false), None);
        assert_eq!(verdicts.record(true), None);
        assert_eq!(verdicts.record(true), None);
        assert_eq!(verdicts.record(true), Some(true));
    }

    #[test]
    fn zero_thresholds_count_as_one() {
        let mut verdicts = Verdicts::new(0, 0);
        assert_eq!(verdicts.record(false), Some(false));
        assert_eq!(verdicts.record(true), Some(true));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_millis(1000);
        for _ in 0..1000 {
            let next = jittered(interval);
            assert!(next >= Duration::from_millis(900) && next <= Duration::from_millis(1100));
        }
    }

    #[tokio::test]
    async fn http_and_tcp_probes_against_real_sockets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut head = Vec::new();
                    let mut buf = [0; 1024];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer: &[u8] = if head.starts_with(b"GET /ok ") {
                        b"HTTP/1.1 204 No Content\r\n\r\n"
                    } else {
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                    };
                    let _ = stream.write_all(answer).await;
                });
            }
        });
        let http = |path| {
            HealthCheck::Http(HttpCheck {
                path,
                expect: crate::upstream::spec::StatusRange { min: 200, max: 299 },
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(5),
                rise: 1,
                fall: 1,
            })
        };
        let tcp = HealthCheck::Tcp(crate::upstream::spec::TcpCheck {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            rise: 1,
            fall: 1,
        });
        let up = Upstream::Socket(addr);
        assert!(probe(&http("/ok"), UpstreamProtocol::Http1, up, None, None)
            .await
            .is_ok());
        assert!(matches!(
            probe(&http("/bad"), UpstreamProtocol::Http1, up, None, None).await,
            Err(CheckError::Status(503))
        ));
        assert!(probe(&tcp, UpstreamProtocol::Http1, up, None, None)
            .await
            .is_ok());
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = Upstream::Socket(closed.local_addr().unwrap());
        drop(closed);
        assert!(matches!(
            probe(&tcp, UpstreamProtocol::Http1, gone, None, None).await,
            Err(CheckError::Connect(_))
        ));
    }
}
