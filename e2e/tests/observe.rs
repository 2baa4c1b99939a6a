//! Logs and metrics as an operator sees them: a proxy built by `edgec build` with an admin
//! listener and a JSON access log, driven over loopback. Checks that `/metrics` parses as the
//! Prometheus text format and counts what was sent, that a killed backend shows as down in
//! `/status` and the metrics while `/ready` stays 200 (the proxy still serves; readiness is not
//! its pools' health), that every proxied request gives exactly one log line with its fields,
//! and that request ids reach the backend and the client.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use edge_e2e::build_and_start;
use edge_testkit::{EchoBackends, HttpClient};

fn config(backends: &EchoBackends, log: &str, keys: &str) -> String {
    let server = backends.addrs[0];
    format!(
        r#"
listener api {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

access_log {{
    format json
    path "{log}"
}}

pool users_service {{
    server {server}
    health http {{
        path "/healthz"
        interval 100ms
        timeout 100ms
        rise 1
        fall 1
    }}
}}

route users {{
    on api
    path /users
    forward users_service
}}

route hello {{
    on api
    path = /hello
    respond 200 "hello\n"
}}

policy partners = api_key {{
    keys "{keys}"
    query "api_key"
}}

route partners {{
    on api
    path /partners
    use partners
    forward users_service
}}
"#
    )
}

/// Parses the Prometheus text format strictly enough to catch a malformed line: every line is
/// a comment or `name{labels} value` with a number as value. Returns series → value.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut series = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let metric = name.split('{').next().unwrap();
        assert!(
            metric
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        if let Some(labels) = name.strip_prefix(metric) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line}"
            );
        }
        series.insert(name.to_owned(), value);
    }
    series
}

#[test]
fn metrics_logs_and_request_ids_account_for_every_request() {
    let mut backends = EchoBackends::start(1);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let keys = dir.path().join("keys.txt");
    // The SHA-256 of `k3y-0f-alice`.
    std::fs::write(
        &keys,
        "alice sha256:51d55dec8a02eecc8f3b27704fe0dd581ba0f4a733ac2fca1560735b29494e6b\n",
    )
    .unwrap();
    let config = config(&backends, log.to_str().unwrap(), keys.to_str().unwrap());
    let (_config_dir, proxy) = build_and_start("observe", &config, 1);
    let admin = format!("http://{}", proxy.admin.expect("an admin line"));
    let base = format!("http://{}", proxy.addr("api"));
    let client = HttpClient::new();

    for i in 0..100 {
        let answer = client.get(&format!("{base}/users/{i}"));
        assert_eq!(answer.status, 200);
        // The backend saw the id the client gets back.
        let id = answer.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(answer.seen("header x-request-id"), [id.as_str()]);
        assert_eq!(answer.seen("header traceparent").len(), 1);
    }
    assert_eq!(client.get(&format!("{base}/hello")).status, 200);
    assert_eq!(client.get(&format!("{base}/nowhere")).status, 404);
    // API keys in the query, right and wrong, never reach the access log.
    let keyed = client.get(&format!("{base}/partners?x=1&api_key=k3y-0f-alice"));
    assert_eq!(keyed.status, 200);
    let guessed = client.get(&format!("{base}/partners?api_key=wrong-secret&y=2"));
    assert_eq!(guessed.status, 401);

    let metrics = client.get(&format!("{admin}/metrics"));
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let series = parse_metrics(&metrics.body);
    let users = r#"listener="api",route="users""#;
    assert_eq!(
        series[&format!("edge_requests_total{{{users},class=\"2xx\"}}")],
        100.0
    );
    assert_eq!(
        series[&format!("edge_request_duration_seconds_count{{{users}}}")],
        100.0
    );
    assert_eq!(
        series[&format!("edge_request_duration_seconds_bucket{{{users},le=\"+Inf\"}}")],
        100.0
    );
    assert_eq!(
        series[r#"edge_requests_total{listener="api",route="hello",class="2xx"}"#],
        1.0
    );
    assert_eq!(
        series[r#"edge_responses_total{listener="api",route="",code="404"}"#],
        1.0
    );
    let server = format!(r#"pool="users_service",server="{}""#, backends.addrs[0]);
    // The users route's 100, and the request with the right API key.
    assert_eq!(
        series[&format!("edge_upstream_requests_total{{{server}}}")],
        101.0
    );
    // Each of them answered, and the time they took is summed: more than nothing, less
    // than a second each on loopback.
    assert_eq!(
        series[&format!("edge_upstream_response_seconds_count{{{server}}}")],
        101.0
    );
    let waited = series[&format!("edge_upstream_response_seconds_sum{{{server}}}")];
    assert!(waited > 0.0 && waited < 101.0, "{waited}");
    assert_eq!(series[&format!("edge_upstream_up{{{server}}}")], 1.0);
    assert!(series[r#"edge_connections_total{listener="api"}"#] >= 1.0);
    assert_eq!(client.get(&format!("{admin}/ready")).status, 200);
    assert_eq!(client.get(&format!("{admin}/healthz")).status, 200);

    // The page: the config's picture (every route, the pool and its server) and the servers'
    // table, rendered without JavaScript; its script and style from the admin listener alone.
    let page = client.get(&format!("{admin}/"));
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(page.body.contains("<h1>observe.edge</h1>"), "{}", page.body);
    for route in ["users", "hello", "partners"] {
        let drawn = format!("class=\"route\" data-file=\"observe.edge\" data-name=\"{route}\"");
        assert!(
            page.body.contains(&drawn),
            "route {route} drawn: {}",
            page.body
        );
    }
    let addr = backends.addrs[0];
    let drawn = format!("data-pool=\"users_service\" data-address=\"{addr}\"");
    assert!(page.body.contains(&drawn), "{}", page.body);
    let row = |state: &str| format!("<tr class=\"{state}\"><td>users_service</td><td>{addr}</td>");
    assert!(page.body.contains(&row("up")), "{}", page.body);
    let script = client.get(&format!("{admin}/dashboard.js"));
    assert_eq!(script.status, 200);
    assert!(script.body.contains("ask(\"/status\")"));
    assert_eq!(client.get(&format!("{admin}/dashboard.css")).status, 200);
    assert!(
        page.body.contains(
            "<tr data-route=\"users\"><td>api</td><td>users</td><td>100</td><td>100</td>"
        ),
        "{}",
        page.body
    );

    // The live figures: totals at once, and the sampled minutes once the sampler has run.
    let deadline = Instant::now() + Duration::from_secs(10);
    let users = loop {
        let stats: serde_json::Value =
            serde_json::from_str(&client.get(&format!("{admin}/stats")).body).unwrap();
        let routes = stats["routes"].as_array().unwrap().clone();
        let users = routes.into_iter().find(|r| r["route"] == "users").unwrap();
        let sampled: u64 = users["history"]["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum();
        if sampled == 100 {
            break users;
        }
        assert!(
            Instant::now() < deadline,
            "the samples never held the 100 requests: {users}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(users["requests"], 100);
    assert_eq!(users["classes"]["2xx"], 100);
    assert_eq!(users["listener"], "api");

    // A killed backend shows as down; the proxy stays ready, since taking every replica out of
    // its service for one dead backend would stop the traffic to all its other routes too.
    backends.kill_one(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let series = parse_metrics(&client.get(&format!("{admin}/metrics")).body);
        if series[&format!("edge_upstream_up{{{server}}}")] == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backend never showed as down"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = client.get(&format!("{admin}/ready"));
    assert_eq!(ready.status, 200, "{}", ready.body);
    let status: serde_json::Value =
        serde_json::from_str(&client.get(&format!("{admin}/status")).body).unwrap();
    assert_eq!(status["pools"][0]["pool"], "users_service");
    assert_eq!(status["pools"][0]["servers"][0]["up"], false);
    let page = client.get(&format!("{admin}/"));
    assert!(page.body.contains(&row("down")), "{}", page.body);

    // One access-log line per request, with every field.
    let expected = 104;
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= expected || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines.len(), expected, "one line per request");
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    for field in [
        "time",
        "client",
        "method",
        "host",
        "path",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
        "route",
        "upstream",
        "upstream_status",
        "request_id",
    ] {
        assert!(first.get(field).is_some(), "no `{field}` in {first}");
    }
    assert_eq!(first["path"], "/users/0");
    for secret in ["k3y-0f-alice", "wrong-secret"] {
        assert!(
            !lines.iter().any(|line| line.contains(secret)),
            "an API key reached the access log"
        );
    }
    assert!(lines
        .iter()
        .any(|line| line.contains(r#""path":"/partners?x=1""#)));
    assert!(lines
        .iter()
        .any(|line| line.contains(r#""path":"/partners?y=2""#)));
    assert_eq!(first["route"], "users");
    assert_eq!(first["upstream"], backends.addrs[0].to_string());
    assert_eq!(first["upstream_status"], 200);
    assert!(first["bytes_out"].as_u64().unwrap() > 0);
    // The 404 came before the two requests with API keys.
    let missed: serde_json::Value = serde_json::from_str(&lines[expected - 3]).unwrap();
    assert_eq!(missed["status"], 404);
    assert_eq!(missed["route"], serde_json::Value::Null);
}
