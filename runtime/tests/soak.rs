//! A bounded soak: the proxy under mixed good and hostile traffic for `EDGE_SOAK_SECS` seconds
//! (3 by default, the quick form the test suite runs; `EDGE_SOAK_SECS=600` for a real soak),
//! then its open file descriptors and resident memory must come back to the baseline taken
//! before it. Hostile clients: heads sent a byte at a time, silent connections, broken chunked
//! bodies, answers left unread, HTTP/2 rapid resets, requests refused at admission. Good
//! clients keep being served all along. Everything is bounded in count and time.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use edge_runtime::http::Request;
use edge_testkit::*;
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// A backend that keeps nothing of what it answers (the test suite's records every request,
/// which a soak would count as the proxy's memory): `/app/download` is 5 MB, `/app/upload`
/// reads its body, anything else is `a`.
async fn forgetful_backend() -> SocketAddr {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async {
                let body = match req.uri().path() {
                    "/app/download" => bytes::Bytes::from(pattern(FIVE_MB)),
                    "/app/upload" => match req.into_body().collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(_) => bytes::Bytes::from_static(b"broken"),
                    },
                    _ => bytes::Bytes::from_static(b"a"),
                };
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

/// Open file descriptors of this process (the proxy runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn soak_for() -> Duration {
    let secs = std::env::var("EDGE_SOAK_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(secs)
}

/// Whether another round may start: before `until`, and fewer than `limit` rounds so far
/// (counted in `done`).
fn another(until: Instant, done: &mut usize, limit: usize) -> bool {
    *done += 1;
    Instant::now() < until && *done <= limit
}

/// Good and hostile clients together until `until`; how many good requests were served.
async fn mixed_traffic(web: SocketAddr, small: SocketAddr, until: Instant) -> usize {
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let served = Arc::clone(&served);
        load.spawn(async move {
            let mut client = Client::connect(web).await;
            let mut done = 0;
            while another(until, &mut done, 100_000) {
                assert_eq!(client.get("/app", &[]).await.status, 200);
                served.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    load.spawn(async move {
        let mut done = 0;

        while another(until, &mut done, 10_000) {
            assert_eq!(get_h2(web, "http://a/app").await.status, 200);
        }
    });
    // Heads a byte at a time, and silent connections: cut off by the small listener's 1 s.
    load.spawn(async move {
        let mut done = 0;

        while another(until, &mut done, 10_000) {
            let mut slow = TcpStream::connect(small).await.unwrap();
            let silent = TcpStream::connect(small).await.unwrap();
            for byte in b"GET /app HTTP/1.1\r\nHost: a\r\n" {
                if slow.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            drop(silent);
        }
    });
    // Broken bodies and refused heads.
    load.spawn(async move {
        let mut done = 0;

        while another(until, &mut done, 10_000) {
            let broken = b"POST /app/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nZZ\r\n";
            assert_eq!(raw_status(&raw(web, broken).await), 400);
            let smuggled = b"POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
            assert_eq!(raw_status(&raw(web, smuggled).await), 400);}
    });
    // Answers left unread: cut off by the small listener's 1 s send timeout.
    load.spawn(async move {
        let mut done = 0;

        while another(until, &mut done, 1_000) {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let mut stream = socket.connect(small).await.unwrap();
            let _ = stream
                .write_all(b"GET /app/download HTTP/1.1\r\nHost: a\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    // HTTP/2 rapid resets.
    load.spawn(async move {
        let mut done = 0;

        while another(until, &mut done, 1_000) {
            let stream = TcpStream::connect(web).await.unwrap();
            let Ok((mut sender, connection)) = h2::client::handshake(stream).await else {
                continue;
            };
            let connection = tokio::spawn(connection);
            for _ in 0..50 {
                let Ok(ready) = sender.clone().ready().await else {
                    break;
                };
                sender = ready;
                let req = Request::get("http://a/app").body(()).unwrap();
                let Ok((_, mut stream)) = sender.send_request(req, true) else {
                    break;
                };
                stream.send_reset(h2::Reason::CANCEL);
            }
            drop(sender);
            let _ = tokio::time::timeout(PATIENCE, connection).await;
        }
    });
    while let Some(finished) = load.join_next().await {
        finished.unwrap();
    }
    served.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_and_memory_return_to_baseline_after_hostile_traffic() {
    let backend = forgetful_backend().await;
    let proxy = Proxy::start(pool(&[backend], edge_runtime::UpstreamTimeouts::DEFAULT)).await;
    let (web, small) = (proxy.web, proxy.small);
    // A first second of the same traffic, so that what lives for the process (the clock,
    // metrics, pooled upstream connections) and the allocator's high-water mark are in the
    // baseline: what grows after it is what the soak leaks.
    assert!(mixed_traffic(web, small, Instant::now() + Duration::from_secs(1)).await > 0);
    let (fds_before, rss_before) = settled(None).await;

    let served = mixed_traffic(web, small, Instant::now() + soak_for()).await;
    assert!(served > 0);
    let (fds, rss) = settled(Some(fds_before)).await;
    assert!(
        fds <= fds_before + 8,
        "{fds} descriptors open after the soak, {fds_before} before"
    );
    assert!(
        rss <= rss_before + 32 * 1024,
        "{rss} KiB resident after the soak, {rss_before} KiB before"
    );
    assert_eq!(get(web, "/app", &[]).await.status, 200);
    proxy.stop().await;
}

/// Descriptors and resident memory once the hostile connections are past their 1 s deadlines
/// (and, given `baseline`, back within a few descriptors of it, or after [`PATIENCE`]).
async fn settled(baseline: Option<usize>) -> (usize, u64) {
    let deadline = Instant::now() + PATIENCE;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    loop {
        let fds = open_fds();
        let back = baseline.is_none_or(|baseline| fds <= baseline + 8);
        if back || Instant::now() > deadline {
            return (fds, rss_kib());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
