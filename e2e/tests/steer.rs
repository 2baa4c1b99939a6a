//! Steering servers live, as an operator does it: a proxy built by `edgec build` in front of
//! two servers, one drained through the admin API while requests keep coming (none is lost,
//! and none reaches the drained server once the change is answered), put in maintenance, made
//! ready again; the change shown on `/status` and the page; the mistakes answered with `404`,
//! `400` or `415` naming the problem; and a drained server still drained after a binary
//! upgrade, whose new process asks the old one.

use std::{
    ffi::OsStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use bytes::Bytes;
use edge_e2e::{build_and_start, build_with, ProxyProcess};
use edge_testkit::{Answer, EchoBackends, HttpClient};
use http_body_util::Full;

/// Posts `body` to the admin listener at `admin`, for `pool`'s server `server`.
fn steer(client: &HttpClient, admin: &str, pool: &str, server: &str, body: &str) -> Answer {
    client.send(
        hyper::Request::post(format!("{admin}/pools/{pool}/servers/{server}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
}

/// Which backend answered each of `count` requests to `base`.
fn answered_by(client: &HttpClient, base: &str, count: usize) -> Vec<String> {
    let requests = (0..count)
        .map(|i| {
            hyper::Request::get(format!("{base}/item/{i}"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        })
        .collect();
    client
        .send_all(requests, 4)
        .into_iter()
        .map(|answer| {
            let answer = answer.expect("every request is answered");
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.seen("backend").concat()
        })
        .collect()
}

/// A proxy of two servers in one pool, with an admin listener.
fn config(first: std::net::SocketAddr, second: std::net::SocketAddr) -> String {
    format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool app {{
    server {first}
    server {second}
}}

route all {{
    on web
    forward app
}}
"
    )
}

#[test]
fn a_drained_server_gets_no_new_request_and_none_is_lost() {
    let backends = EchoBackends::start(2);
    let [first, second] = [backends.addrs[0], backends.addrs[1]];
    let (_dir, proxy) = build_and_start("steer", &config(first, second), 1);
    let base = format!("http://{}", proxy.addr("web"));
    let admin = format!("http://{}", proxy.admin.expect("an admin line"));
    let client = HttpClient::new();
    let ids = {
        let seen = answered_by(&client, &base, 40);
        let mut ids = seen.clone();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2, "both servers answer: {seen:?}");
        ids
    };
    let status: serde_json::Value =
        serde_json::from_str(&client.get(&format!("{admin}/status")).body).unwrap();
    for server in status["pools"][0]["servers"].as_array().unwrap() {
        assert_eq!(server["state"], "ready");
        assert!(server["state_changed"].is_null());
    }

    // Requests keep coming, eight at a time, while the first server is drained.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, base) = (Arc::clone(&stop), base.clone());
        thread::spawn(move || {
            let client = HttpClient::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed)
                && answers.len() < 20_000
                && Instant::now() < deadline
            {
                let requests = (0..64)
                    .map(|i| {
                        hyper::Request::get(format!("{base}/load/{i}"))
                            .body(Full::new(Bytes::new()))
                            .unwrap()
                    })
                    .collect();
                answers.extend(client.send_all(requests, 8));
            }
            answers
        })
    };
    thread::sleep(Duration::from_millis(300));
    let drained = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state": "drain"}"#,
    );
    assert_eq!(drained.status, 200, "{}", drained.body);
    let changed: serde_json::Value = serde_json::from_str(&drained.body).unwrap();
    assert_eq!(changed["servers"][0]["server"], first.to_string());
    assert_eq!(changed["servers"][0]["state"], "drain");
    // Once the change is answered, no new request goes to the drained server.
    let after = answered_by(&client, &base, 200);
    let drained_id = {
        let mut left: Vec<&String> = after.iter().collect();
        left.dedup();
        assert_eq!(
            left.len(),
            1,
            "one server answers after the drain: {after:?}"
        );
        ids.iter().find(|id| *id != left[0]).unwrap().clone()
    };
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let answers = load.join().unwrap();
    assert!(
        answers.len() >= 128,
        "the load ran: {} requests",
        answers.len()
    );
    for answer in &answers {
        let answer = answer.as_ref().expect("no request is lost");
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    // `/status` and the page show the change, and who asked.
    let status: serde_json::Value =
        serde_json::from_str(&client.get(&format!("{admin}/status")).body).unwrap();
    let servers = status["pools"][0]["servers"].as_array().unwrap();
    let shown = servers
        .iter()
        .find(|s| s["server"] == first.to_string())
        .unwrap();
    assert_eq!(shown["state"], "drain");
    assert_eq!(shown["state_changed"]["by"], "127.0.0.1");
    assert!(shown["up"].as_bool().unwrap(), "drained, not down");
    let page = client.get(&format!("{admin}/"));
    let row = format!("<tr class=\"drain\"><td>app</td><td>{first}</td>");
    assert!(page.body.contains(&row), "{}", page.body);

    // Maintenance keeps it out; ready brings it back.
    let answer = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state":"maintenance"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!answered_by(&client, &base, 50).contains(&drained_id));
    let answer = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state":"ready"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let back = answered_by(&client, &base, 50);
    assert!(back.contains(&drained_id), "ready again: {back:?}");

    // Mistakes are answered, naming the problem, and change nothing.
    let unknown_pool = steer(
        &client,
        &admin,
        "nope",
        &first.to_string(),
        r#"{"state":"drain"}"#,
    );
    assert_eq!(unknown_pool.status, 404);
    assert!(
        unknown_pool.body.contains("the pools are app"),
        "{}",
        unknown_pool.body
    );
    let unknown_server = steer(
        &client,
        &admin,
        "app",
        "127.0.0.1:1",
        r#"{"state":"drain"}"#,
    );
    assert_eq!(unknown_server.status, 404);
    assert!(
        unknown_server.body.contains(&second.to_string()),
        "{}",
        unknown_server.body
    );
    let bad_state = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state":"off"}"#,
    );
    assert_eq!(bad_state.status, 400);
    assert!(
        bad_state.body.contains("unknown state `off`"),
        "{}",
        bad_state.body
    );
    let bad_field = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state":"drain","weigth":2}"#,
    );
    assert_eq!(bad_field.status, 400);
    assert!(
        bad_field.body.contains("unknown field `weigth`"),
        "{}",
        bad_field.body
    );
    let form = client.send(
        hyper::Request::post(format!("{admin}/pools/app/servers/{first}"))
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(br#"{"state":"drain"}"#)))
            .unwrap(),
    );
    assert_eq!(form.status, 415, "no change a cross-site form could send");
    let all = answered_by(&client, &base, 50);
    assert!(all.contains(&drained_id), "the mistakes changed nothing");
}

#[test]
fn a_drained_server_stays_drained_across_an_upgrade() {
    let backends = EchoBackends::start(2);
    let [first, second] = [backends.addrs[0], backends.addrs[1]];
    let (_dir, binary) = build_with("steer_upgrade", &config(first, second), &[]);
    let handoff_dir = tempfile::tempdir().unwrap();
    let handoff = handoff_dir.path().join("edge.sock");
    let env = [
        ("EDGE_HANDOFF", handoff.as_os_str()),
        ("EDGE_WORKERS", OsStr::new("1")),
    ];
    let client = HttpClient::new();
    let mut old = ProxyProcess::start_with(&binary, 1, &env);
    let admin = format!("http://{}", old.admin.expect("an admin listener"));
    let drained = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state":"drain"}"#,
    );
    assert_eq!(drained.status, 200, "{}", drained.body);

    // The same binary started again takes over the sockets, and the state.
    let mut new = ProxyProcess::start_with(&binary, 1, &env);
    let status = old
        .wait(Duration::from_secs(40))
        .expect("the old process exits after the hand-off");
    assert!(status.success(), "{status}");
    let client = HttpClient::new();
    let shown: serde_json::Value =
        serde_json::from_str(&client.get(&format!("{admin}/status")).body).unwrap();
    let servers = shown["pools"][0]["servers"].as_array().unwrap();
    let state = |addr: std::net::SocketAddr| {
        let server = servers
            .iter()
            .find(|s| s["server"] == addr.to_string())
            .unwrap();
        (
            server["state"].clone(),
            server["state_changed"]["by"].clone(),
        )
    };
    assert_eq!(
        state(first),
        ("drain".into(), "the previous process".into())
    );
    assert_eq!(state(second).0, "ready");
    let base = format!("http://{}", new.addr("web"));
    let seen = answered_by(&client, &base, 100);
    let mut ids = seen.clone();
    ids.dedup();
    assert_eq!(ids.len(), 1, "only the ready server answers: {seen:?}");
    let status = new
        .terminate()
        .expect("the new process exits after SIGTERM");
    assert!(status.success(), "{status}");
}
