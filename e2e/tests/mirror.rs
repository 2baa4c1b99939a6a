//! Request mirroring as a user runs it: a proxy built by `edgec build` whose routes copy
//! requests to a shadow pool that takes a second to answer. The clients never wait for the
//! shadow; the shadow gets the copies (bodies included), a share of them when asked, and no
//! more at once than allowed; what became of each copy is in the metrics.

use std::time::{Duration, Instant};

use bytes::Bytes;
use edge_e2e::build_and_start;
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::Full;

/// Waits (at most 10 s) until `done` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `edge_mirror_requests_total` for `route` and `result` in `metrics`.
fn mirrored(metrics: &str, route: &str, result: &str) -> u64 {
    let series = format!(
        "edge_mirror_requests_total{{route=\"{route}\",pool=\"shadow\",result=\"{result}\"}} "
    );
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in\n{metrics}"))
        .parse()
        .unwrap()
}

fn post(url: &str, body: Vec<u8>) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(url)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[test]
fn copies_go_to_the_shadow_without_holding_up_the_client() {
    let main = EchoBackends::start(1);
    let shadow = EchoBackends::start(1);
    shadow.set_delay(0, Duration::from_secs(1));
    let config = format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
}}

pool shadow {{
    server {}
}}

route sampled {{
    on web
    path /sampled
    mirror shadow 10%
    forward app
}}

route bounded {{
    on web
    path /bounded
    mirror shadow {{
        max_body 1KiB
        max_in_flight 4
    }}
    forward app
}}

route all {{
    on web
    mirror shadow
    forward app
}}
",
        main.addrs[0], shadow.addrs[0]
    );
    let (_dir, proxy) = build_and_start("mirror", &config, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();

    // The shadow sleeps a second before each answer; the client never waits for it.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let answer = client.get(&format!("{base}/all"));
        slowest = slowest.max(started.elapsed());
        assert_eq!(answer.status, 200);
        assert_eq!(answer.seen("backend"), ["1"], "answered by the main pool");
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a client waited {slowest:?} with a shadow that takes 1 s"
    );
    eventually("the shadow got the 20 copies", || {
        shadow.requests("/all") == 20
    });
    assert_eq!(main.requests("/all"), 20);

    // A body is copied as it streams, and sent to the shadow whole.
    let body = edge_testkit::pattern(512);
    let answer = client.send(post(&format!("{base}/bounded"), body.clone()));
    assert_eq!(answer.seen("body-bytes"), ["512"]);
    eventually("the shadow read the copied body", || {
        shadow.bodies("/bounded").len() == 1
    });
    assert_eq!(shadow.bodies("/bounded")[0], body);
    let admin = format!("http://{}", proxy.admin.expect("an admin listener"));
    let metrics = || client.get(&format!("{admin}/metrics")).body;
    eventually("the copy's place given back", || {
        mirrored(&metrics(), "bounded", "2xx") == 1
    });
    // A body over `max_body` is not copied; the request itself goes on.
    let answer = client.send(post(&format!("{base}/bounded"), vec![b'x'; 2048]));
    assert_eq!(answer.seen("body-bytes"), ["2048"]);

    // At most 4 copies on their way: of 20 requests sent at once, 4 are copied.
    let requests = (0..20)
        .map(|_| post(&format!("{base}/bounded"), b"small".to_vec()))
        .collect();
    for answer in client.send_all(requests, 4) {
        assert_eq!(answer.expect("answered").status, 200);
    }
    eventually("the shadow got the 4 copies", || {
        shadow.bodies("/bounded").len() == 5
    });

    // One request in ten, drawn at random: within ±4 standard deviations of 100 in 1,000
    // (the shadow now answers at once, so no copy waits for a place).
    shadow.set_delay(0, Duration::ZERO);
    let requests = (0..1_000)
        .map(|_| {
            hyper::Request::get(format!("{base}/sampled"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        })
        .collect();
    for answer in client.send_all(requests, 8) {
        assert_eq!(answer.expect("answered").status, 200);
    }
    std::thread::sleep(Duration::from_millis(1_500));
    let sampled = shadow.requests("/sampled");
    assert!((60..=140).contains(&sampled), "{sampled} of 1000 copied");

    // The metrics tell what became of each request in a mirror's share.
    eventually("every copy answered", || {
        let metrics = metrics();
        mirrored(&metrics, "all", "2xx") == 20
            && mirrored(&metrics, "bounded", "2xx") == 5
            && mirrored(&metrics, "sampled", "2xx") == sampled
    });
    let metrics = metrics();
    assert_eq!(mirrored(&metrics, "bounded", "too_large"), 1);
    assert_eq!(mirrored(&metrics, "bounded", "busy"), 16);
    assert_eq!(mirrored(&metrics, "all", "busy"), 0);
    assert_eq!(shadow.requests("/bounded"), 5, "no copy of the large body");
}
