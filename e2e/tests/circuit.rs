//! Circuit breakers and outlier detection as a user sees them: one proxy built by `edgec build`
//! with a pool per feature, driven over loopback against echo backends that can be slowed.
//! 50 concurrent requests to slow servers: a pool with `max_pending` serves what its servers'
//! `max_conns` and its queue hold and answers the rest `503` at once; a pool with
//! `max_requests` serves that many and answers the rest `503` at once. A server much slower
//! than the others in a pool with `outlier` stops getting requests, and gets them again once
//! its ejection time has passed. The admin listener's metrics count both.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edge_e2e::build_and_start;
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long the slow servers take to answer.
const SLOW: Duration = Duration::from_secs(1);

/// What one request of a burst got, and when.
#[derive(Debug)]
struct Timed {
    status: u16,
    took: Duration,
    retry_after: bool,
}

/// Sends `count` GETs to `url` all at once, each on its own connection; every request is
/// given up after 10 s.
fn burst(url: &str, count: usize) -> Vec<Timed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let started = Instant::now();
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                let (client, url) = (client.clone(), url.to_owned());
                tokio::spawn(async move {
                    let req = hyper::Request::get(url)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let answer = tokio::time::timeout(Duration::from_secs(10), async {
                        let response = client.request(req).await.expect("an answer");
                        let retry_after = response.headers().contains_key("retry-after");
                        let status = response.status().as_u16();
                        response.into_body().collect().await.expect("a body");
                        (status, retry_after)
                    })
                    .await
                    .expect("an answer within 10 s");
                    Timed {
                        status: answer.0,
                        took: started.elapsed(),
                        retry_after: answer.1,
                    }
                })
            })
            .collect();
        let mut timed = Vec::with_capacity(count);
        for task in tasks {
            timed.push(task.await.unwrap());
        }
        timed
    })
}

fn by_status(timed: &[Timed]) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for answer in timed {
        *counts.entry(answer.status).or_insert(0) += 1;
    }
    counts
}

/// The 503s all came at once, with `Retry-After`, long before any slow answer.
fn refused_fast(timed: &[Timed]) {
    for answer in timed.iter().filter(|a| a.status == 503) {
        assert!(answer.retry_after, "a 503 without Retry-After");
        assert!(
            answer.took < SLOW / 2,
            "a 503 took {:?}: {timed:?}",
            answer.took
        );
    }
    for answer in timed.iter().filter(|a| a.status == 200) {
        assert!(answer.took >= SLOW * 9 / 10, "a 200 took {:?}", answer.took);
    }
}

/// Which backends answered `count` GETs to `url`, 4 at a time, by their number.
fn served_by(client: &HttpClient, url: &str, count: usize) -> HashMap<String, usize> {
    let requests = (0..count)
        .map(|_| {
            hyper::Request::get(url)
                .body(Full::new(Bytes::new()))
                .unwrap()
        })
        .collect();
    let mut counts = HashMap::new();
    for answer in client.send_all(requests, 4) {
        let answer = answer.expect("an answer");
        assert_eq!(answer.status, 200, "{}", answer.body);
        *counts.entry(answer.seen("backend").concat()).or_insert(0) += 1;
    }
    counts
}

/// The value of the metric line starting with `series` (name and labels).
fn metric(client: &HttpClient, admin: SocketAddr, series: &str) -> f64 {
    let text = client.get(&format!("http://{admin}/metrics")).body;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn circuit_breakers_refuse_the_overflow_at_once_and_outliers_are_ejected_then_return() {
    let slow = EchoBackends::start(3);
    for index in 0..3 {
        slow.set_delay(index, SLOW);
    }
    let latency = EchoBackends::start(3);
    latency.set_delay(2, Duration::from_millis(150));
    let [queued_a, queued_b, capped] = [slow.addrs[0], slow.addrs[1], slow.addrs[2]];
    let [fast_a, fast_b, lagging] = [latency.addrs[0], latency.addrs[1], latency.addrs[2]];
    let config = format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool queued {{
    server {queued_a} max_conns 5
    server {queued_b} max_conns 5
    max_pending 10
}}

pool capped {{
    server {capped}
    max_requests 10
}}

pool outliers {{
    server {fast_a}
    server {fast_b}
    server {lagging}
    outlier {{
        latency 5
        interval 300ms
        min_requests 3
        base_ejection_time 2s
        max_ejection_percent 34
    }}
}}

route queued {{
    on web
    path /queued
    forward queued
}}

route capped {{
    on web
    path /capped
    forward capped
}}

route outliers {{
    on web
    path /outliers
    forward outliers
}}
"
    );
    let (_dir, proxy) = build_and_start("circuit", &config, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let admin = proxy.admin.expect("an admin line");
    let client = HttpClient::new();

    // 1. Two servers of max_conns 5 and a queue of 10: 50 at once give 10 served at once, 10
    // served after waiting for them, and 30 answered 503 at once.
    let timed = burst(&format!("{base}/queued"), 50);
    let counts = by_status(&timed);
    assert_eq!(counts.get(&200), Some(&20), "{counts:?}");
    assert_eq!(counts.get(&503), Some(&30), "{counts:?}");
    refused_fast(&timed);
    let waited = timed
        .iter()
        .filter(|a| a.status == 200 && a.took >= SLOW * 19 / 10)
        .count();
    assert_eq!(waited, 10, "the queued requests: {timed:?}");
    let refused = r#"edge_pool_refused_total{pool="queued",reason="max_pending"}"#;
    assert_eq!(metric(&client, admin, refused), 30.0);

    // 2. max_requests 10 in front of a server without a cap: 10 served, 40 answered 503 at once.
    let timed = burst(&format!("{base}/capped"), 50);
    let counts = by_status(&timed);
    assert_eq!(counts.get(&200), Some(&10), "{counts:?}");
    assert_eq!(counts.get(&503), Some(&40), "{counts:?}");
    refused_fast(&timed);
    let refused = r#"edge_pool_refused_total{pool="capped",reason="max_requests"}"#;
    assert_eq!(metric(&client, admin, refused), 40.0);

    // 3. The server 150 ms slower than two fast ones is ejected within a few intervals ...
    let url = format!("{base}/outliers");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ejected_at = loop {
        assert!(
            Instant::now() < deadline,
            "the slow server was never ejected"
        );
        if !served_by(&client, &url, 30).contains_key("3") {
            break Instant::now();
        }
    };
    let ejections =
        format!(r#"edge_upstream_ejections_total{{pool="outliers",server="{lagging}"}}"#);
    assert_eq!(metric(&client, admin, &ejections), 1.0);
    // ... stays out while the others serve everything ...
    let during = served_by(&client, &url, 60);
    assert!(Instant::now() < ejected_at + Duration::from_secs(2));
    assert_eq!(during.get("3"), None, "served while ejected: {during:?}");
    // ... and is back once its ejection time has passed.
    std::thread::sleep(
        (ejected_at + Duration::from_secs(2)).saturating_duration_since(Instant::now()),
    );
    let after = served_by(&client, &url, 30);
    assert!(after.contains_key("3"), "never back: {after:?}");
}
