//! Load balancing as a user sees it: one proxy built by `edgec build` from a config with a pool
//! per strategy, driven over loopback against backends that can be slowed, made unhealthy or
//! killed. Checks the split of weighted round robin, failover without failed requests, active
//! health taking servers out and back, consistent hashing moving only the keys of a server that
//! leaves, least-connections and EWMA avoiding a slow server, and a fast 503 when all are down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edge_e2e::build_and_start;
use edge_testkit::{Answer, EchoBackends, HttpClient};
use http_body_util::Full;

fn servers(addrs: &[SocketAddr], options: &[&str]) -> String {
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| format!("    server {addr} {}\n", options.get(i).unwrap_or(&"")))
        .collect()
}

const FAST_HEALTH: &str = "    health http {
        path \"/healthz\"
        expect 200..299
        interval 200ms
        timeout 100ms
        rise 1
        fall 1
    }
";

fn get(url: &str, user: Option<String>) -> hyper::Request<Full<Bytes>> {
    let mut req = hyper::Request::get(url);
    if let Some(user) = user {
        req = req.header("x-user", user);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

/// How many answers each backend gave, by the `backend` line of its echo.
fn count_by_backend(answers: &[Result<Answer, String>]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for answer in answers.iter().flatten() {
        *counts.entry(answer.seen("backend").concat()).or_insert(0) += 1;
    }
    counts
}

fn failures(answers: &[Result<Answer, String>]) -> Vec<String> {
    answers
        .iter()
        .filter_map(|answer| match answer {
            Ok(answer) if answer.status == 200 => None,
            Ok(answer) => Some(format!("{} {}", answer.status, answer.body)),
            Err(error) => Some(error.clone()),
        })
        .collect()
}

/// Which backend each of `users` lands on.
fn placement(client: &HttpClient, url: &str, users: usize) -> Vec<String> {
    let requests = (0..users)
        .map(|u| get(url, Some(format!("user-{u}"))))
        .collect();
    let answers = client.send_all(requests, 16);
    assert!(failures(&answers).is_empty(), "{:?}", failures(&answers));
    answers
        .iter()
        .map(|a| a.as_ref().unwrap().seen("backend").concat())
        .collect()
}

#[test]
fn pools_balance_fail_over_and_heal() {
    let weighted = EchoBackends::start(3);
    let mut failover = EchoBackends::start(3);
    let hashed = EchoBackends::start(5);
    let slow_pair = EchoBackends::start(2);
    let config = format!(
        "listener web {{\n    bind 127.0.0.1:0\n}}\n
pool weighted {{\n{}}}\n
pool failover {{\n    balance round_robin\n{}{FAST_HEALTH}    passive {{\n        max_fails 1\n        fail_timeout 2s\n    }}\n    retry 2\n}}\n
pool hashed {{\n    balance hash header(\"x-user\")\n{}{FAST_HEALTH}}}\n
pool least {{\n    balance least_conn\n{}}}\n
pool latency {{\n    balance ewma\n{}}}\n
route weighted {{\n    on web\n    path /weighted\n    forward weighted\n}}
route failover {{\n    on web\n    path /failover\n    forward failover\n}}
route hashed {{\n    on web\n    path /hashed\n    forward hashed\n}}
route least {{\n    on web\n    path /least\n    forward least\n}}
route latency {{\n    on web\n    path /latency\n    forward latency\n}}
",
        servers(&weighted.addrs, &["weight 3"]),
        servers(&failover.addrs, &[]),
        servers(&hashed.addrs, &[]),
        servers(&slow_pair.addrs, &[]),
        servers(&slow_pair.addrs, &[]),
    );
    let (_dir, proxy) = build_and_start("balancing", &config, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();

    // 1. Weights 3/1/1: a 60/20/20 split within ±5 points over 2,000 requests.
    let requests = (0..2_000)
        .map(|_| get(&format!("{base}/weighted"), None))
        .collect();
    let counts = count_by_backend(&client.send_all(requests, 8));
    for (backend, share) in [("1", 60.0), ("2", 20.0), ("3", 20.0)] {
        let got = *counts.get(backend).unwrap_or(&0) as f64 / 20.0;
        assert!(
            (got - share).abs() <= 5.0,
            "backend {backend}: {got}% of {counts:?}"
        );
    }

    // 2. A server killed during 2,000 GETs at 32 connections: no client request fails.
    let url = format!("{base}/failover");
    let load = {
        let url = url.clone();
        std::thread::spawn(move || {
            let client = HttpClient::new();
            let requests = (0..2_000).map(|_| get(&url, None)).collect();
            client.send_all(requests, 32)
        })
    };
    std::thread::sleep(Duration::from_millis(150));
    failover.kill_one(1);
    let answers = load.join().unwrap();
    assert_eq!(failures(&answers), Vec::<String>::new());

    // A server whose /healthz turns 503 gets no traffic within 1 s, and traffic again within
    // 1 s of turning healthy.
    failover.set_healthy(0, false);
    std::thread::sleep(Duration::from_secs(1));
    let requests = (0..200).map(|_| get(&url, None)).collect();
    let counts = count_by_backend(&client.send_all(requests, 8));
    assert_eq!(
        counts.get("1"),
        None,
        "unhealthy backend still served: {counts:?}"
    );
    failover.set_healthy(0, true);
    std::thread::sleep(Duration::from_secs(1));
    let requests = (0..200).map(|_| get(&url, None)).collect();
    let counts = count_by_backend(&client.send_all(requests, 8));
    assert!(
        counts.get("1").is_some_and(|n| *n > 50),
        "recovered backend unused: {counts:?}"
    );

    // 3. Hashing x-user over five servers: stable; taking one out moves only its users, and
    // they come back when it returns.
    let hashed_url = format!("{base}/hashed");
    let url = &hashed_url;
    let before = placement(&client, url, 1_000);
    assert_eq!(
        placement(&client, url, 1_000),
        before,
        "placement is not stable"
    );
    hashed.set_healthy(2, false);
    std::thread::sleep(Duration::from_secs(1));
    let during = placement(&client, url, 1_000);
    for (user, (was, is)) in before.iter().zip(&during).enumerate() {
        if was == "3" {
            assert_ne!(is, "3", "user-{user} still on the server taken out");
        } else {
            assert_eq!(was, is, "user-{user} moved although its server stayed");
        }
    }
    hashed.set_healthy(2, true);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        placement(&client, url, 1_000),
        before,
        "users did not come back"
    );

    // 4. least_conn and ewma send most traffic away from a server 50 ms slower.
    slow_pair.set_delay(1, Duration::from_millis(50));
    for route in ["least", "latency"] {
        let requests = (0..400)
            .map(|_| get(&format!("{base}/{route}"), None))
            .collect();
        let answers = client.send_all(requests, 16);
        assert!(
            failures(&answers).is_empty(),
            "{route}: {:?}",
            failures(&answers)
        );
        let counts = count_by_backend(&answers);
        let fast = *counts.get("1").unwrap_or(&0);
        assert!(
            fast >= 280,
            "{route}: the fast server got {fast} of 400 ({counts:?})"
        );
    }

    // 5. Every server down: 503 with Retry-After, fast.
    failover.kill();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let answer = client.get(&format!("{base}/failover"));
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.headers.contains_key("retry-after"));
    assert!(took < Duration::from_millis(100), "503 took {took:?}");
}
