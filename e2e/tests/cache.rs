//! The response cache as clients and the backend see it: a cacheable answer reaches the
//! backend once for 100 requests, and once for 50 concurrent misses; `no-store` answers always
//! come from the backend; `Vary: Accept-Encoding` keeps gzip and identity variants apart; a
//! stale answer is revalidated with its ETag and stands in when the backend is gone; a purge
//! over the admin listener forgets a URL; the metrics count hits.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use edge_e2e::build_and_start;
use edge_testkit::{Answer, EchoBackends, HttpClient};
use http_body_util::Full;

fn config(backends: &EchoBackends) -> String {
    format!(
        r#"
listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
}}

policy edge_cache = cache {{
    max_size 16MiB
    max_object 1MiB
}}

policy squeeze = compress {{
    algorithms gzip
}}

route api {{
    on web
    use edge_cache, squeeze
    forward app
}}
"#,
        backends.addrs[0]
    )
}

fn get(url: &str, headers: &[(&str, &str)]) -> hyper::Request<Full<Bytes>> {
    let mut builder = hyper::Request::get(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

fn x_cache(answer: &Answer) -> &str {
    answer
        .headers
        .get("x-cache")
        .map_or("(none)", |v| v.to_str().unwrap())
}

#[test]
fn the_cache_spares_the_backend_and_keeps_variants_apart() {
    let mut backends = EchoBackends::start(1);
    let (_dir, proxy) = build_and_start("cache", &config(&backends), 1);
    let base = format!("http://{}", proxy.addr("web"));
    let admin = format!("http://{}", proxy.admin.expect("an admin line"));
    let client = HttpClient::new();
    let fresh = [("x-respond-cache-control", "max-age=60")];

    // 100 identical GETs of a `max-age=60` answer: the backend sees one.
    let first = client.send(get(&format!("{base}/fresh"), &fresh));
    assert_eq!((first.status, x_cache(&first)), (200, "MISS"));
    for _ in 1..100 {
        let answer = client.send(get(&format!("{base}/fresh"), &fresh));
        assert_eq!((answer.status, x_cache(&answer)), (200, "HIT"));
        assert_eq!(answer.body, first.body);
        assert!(answer.headers.contains_key("age"));
    }
    assert_eq!(backends.requests("/fresh"), 1);

    // 50 concurrent misses for a new key, the backend slow to answer: it sees one.
    backends.set_delay(0, Duration::from_millis(300));
    let burst = (0..50)
        .map(|_| get(&format!("{base}/burst"), &fresh))
        .collect();
    let answers = client.send_all(burst, 50);
    backends.set_delay(0, Duration::ZERO);
    let answers: Vec<Answer> = answers.into_iter().map(Result::unwrap).collect();
    assert!(answers.iter().all(|a| a.status == 200));
    assert!(answers.iter().all(|a| a.body == answers[0].body));
    assert_eq!(backends.requests("/burst"), 1);

    // `no-store` answers are never served from the cache, one by one or at once.
    let no_store = [("x-respond-cache-control", "no-store")];
    for _ in 0..5 {
        let answer = client.send(get(&format!("{base}/private"), &no_store));
        assert_eq!((answer.status, x_cache(&answer)), (200, "MISS"));
    }
    let at_once = (0..10)
        .map(|_| get(&format!("{base}/private"), &no_store))
        .collect();
    for answer in client.send_all(at_once, 10) {
        assert_eq!(x_cache(&answer.unwrap()), "MISS");
    }
    assert_eq!(backends.requests("/private"), 15);

    // `Vary: Accept-Encoding` (added by `compress`): gzip and identity are two entries.
    let negotiated = |accept: &str| {
        let req = get(
            &format!("{base}/negotiated"),
            &[
                ("x-respond-cache-control", "max-age=60"),
                ("x-respond-type", "application/json"),
                ("x-respond-size", "4096"),
                ("accept-encoding", accept),
            ],
        );
        client.send_bytes(req)
    };
    let (gzip, gzipped) = negotiated("gzip");
    assert_eq!(gzip.headers["content-encoding"], "gzip");
    let (identity, plain) = negotiated("identity");
    assert!(!identity.headers.contains_key("content-encoding"));
    assert_eq!(plain.len(), 4096);
    for _ in 0..3 {
        let (again, body) = negotiated("gzip");
        assert_eq!(x_cache(&again), "HIT");
        assert_eq!(again.headers["content-encoding"], "gzip");
        assert_eq!(body, gzipped);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain);
        let (again, body) = negotiated("identity");
        assert_eq!(x_cache(&again), "HIT");
        assert!(!again.headers.contains_key("content-encoding"));
        assert_eq!(body, plain);
    }
    assert_eq!(backends.requests("/negotiated"), 2);

    // A purge over the admin listener forgets a URL, whatever its variants.
    let purge = hyper::Request::post(format!("{admin}/cache/purge"))
        .header("content-type", "text/uri-list")
        .body(Full::new(Bytes::from(format!("{base}/fresh\n"))))
        .unwrap();
    let purged = client.send(purge);
    assert_eq!((purged.status, purged.body.as_str()), (200, "purged 1\n"));
    let refetched = client.send(get(&format!("{base}/fresh"), &fresh));
    assert_eq!(x_cache(&refetched), "MISS");
    assert_eq!(backends.requests("/fresh"), 2);

    let metrics = client.get(&format!("{admin}/metrics")).body;
    let hits: u64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(r#"edge_cache_requests_total{policy="edge_cache",result="hit"} "#)
        })
        .expect("a hit counter")
        .parse()
        .unwrap();
    assert!(hits >= 99 + 49 + 6, "{hits} hits");

    // Stale answers: revalidated with their ETag (a 304 refreshes them), and standing in for
    // a backend that is gone.
    let tagged = [
        ("x-respond-cache-control", "max-age=1"),
        ("x-respond-etag", "\"v1\""),
    ];
    let original = client.send(get(&format!("{base}/tagged"), &tagged));
    let lasting = [("x-respond-cache-control", "max-age=1, stale-if-error=60")];
    let kept = client.send(get(&format!("{base}/lasting"), &lasting));
    std::thread::sleep(Duration::from_millis(2100));
    let revalidated = client.send(get(&format!("{base}/tagged"), &tagged));
    assert_eq!(
        (revalidated.status, x_cache(&revalidated)),
        (200, "REVALIDATED")
    );
    assert_eq!(revalidated.body, original.body);
    assert_eq!(backends.requests("/tagged"), 2);
    backends.kill();
    let stale = client.send(get(&format!("{base}/lasting"), &lasting));
    assert_eq!((stale.status, x_cache(&stale)), (200, "STALE"));
    assert_eq!(stale.body, kept.body);
    let gone = client.send(get(&format!("{base}/never-seen"), &fresh));
    assert_eq!(gone.status, 502);
}
