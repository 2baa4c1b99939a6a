//! Steering servers live, as an operator does it: a proxy built by `edgec build` in front of
//! two servers, one drained through the admin API while requests keep coming (none is lost,
//! and none reaches the drained server once the change is answered), put in maintenance, made
//! ready again; the change shown on `/status` and the page; the mistakes answered with `404`,
//! `400` or `415` naming the problem; and a drained server still drained after a binary
//! upgrade, whose new process asks the old one. Then weights: a pool of two servers weighted
//! 1:1 with one changed to 3, which the servers' own counts show as a 75/25 split, through a
//! SIGHUP; weights out of range or not whole refused; and a weight carried across an upgrade,
//! unless the new config gives that server another weight.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use std::process::Command;

use bytes::Bytes;
use edge_e2e::{build_and_start, build_with, Handoff};
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
    weighted_config(first, second, "")
}

/// [`config`], the second server's line ending with `second_options` (` weight 2`).
fn weighted_config(
    first: std::net::SocketAddr,
    second: std::net::SocketAddr,
    second_options: &str,
) -> String {
    format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool app {{
    server {first}
    server {second}{second_options}
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
    let handoff = Handoff::new();
    let client = HttpClient::new();
    let mut old = handoff.start(&binary, 1);
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
    let mut new = handoff.take_over(&mut old, &binary, 1);
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

/// Sends `count` requests for `path` to `base`, four at a time on kept-alive connections, and
/// the share of them the first of `backends` saw, in percent.
fn first_share(
    client: &HttpClient,
    base: &str,
    backends: &EchoBackends,
    path: &str,
    count: usize,
) -> f64 {
    let requests = (0..count)
        .map(|_| {
            hyper::Request::get(format!("{base}{path}"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        })
        .collect();
    for answer in client.send_all(requests, 4) {
        let answer = answer.expect("every request is answered");
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let counts = [backends.requests_at(0, path), backends.requests_at(1, path)];
    assert_eq!(counts.iter().sum::<u64>(), count as u64, "{counts:?}");
    counts[0] as f64 * 100.0 / count as f64
}

/// The server at `addr` as `/status` at `admin` shows it.
fn shown(client: &HttpClient, admin: &str, addr: std::net::SocketAddr) -> serde_json::Value {
    let status: serde_json::Value =
        serde_json::from_str(&client.get(&format!("{admin}/status")).body).unwrap();
    status["pools"][0]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|server| server["server"] == addr.to_string())
        .cloned()
        .unwrap()
}

#[test]
fn a_weight_changed_live_splits_the_requests_by_it_and_survives_a_sighup() {
    let backends = EchoBackends::start(2);
    let [first, second] = [backends.addrs[0], backends.addrs[1]];
    let (_dir, proxy) = build_and_start("weight", &config(first, second), 1);
    let base = format!("http://{}", proxy.addr("web"));
    let admin = format!("http://{}", proxy.admin.expect("an admin line"));
    let client = HttpClient::new();
    let before = shown(&client, &admin, first);
    assert_eq!(before["weight"], 1);
    assert!(before["configured_weight"].is_null());
    assert!(before["weight_changed"].is_null());
    let even = first_share(&client, &base, &backends, "/even", 400);
    assert!(
        (45.0..=55.0).contains(&even),
        "1:1 gives {even}% to the first"
    );

    let changed = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"weight": 3}"#,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let changed: serde_json::Value = serde_json::from_str(&changed.body).unwrap();
    assert_eq!(changed["servers"][0]["server"], first.to_string());
    assert_eq!(changed["servers"][0]["weight"], 3);
    assert_eq!(changed["servers"][0]["state"], "ready");
    // Counted by the servers themselves: 3:1 is 75 %.
    let share = first_share(&client, &base, &backends, "/weighted", 2_000);
    assert!(
        (70.0..=80.0).contains(&share),
        "3:1 gives {share}% to the first"
    );

    // `/status` and the page show the live weight, the config's and who changed it.
    let after = shown(&client, &admin, first);
    assert_eq!(after["weight"], 3);
    assert_eq!(after["configured_weight"], 1);
    assert_eq!(after["weight_changed"]["by"], "127.0.0.1");
    assert!(after["weight_changed"]["at"].is_string());
    assert_eq!(after["state"], "ready");
    assert!(after["state_changed"].is_null(), "a weight is not a state");
    let other = shown(&client, &admin, second);
    assert_eq!(
        (&other["weight"], &other["configured_weight"]),
        (&1.into(), &serde_json::Value::Null)
    );
    let page = client.get(&format!("{admin}/"));
    let row = format!("<td>{first}</td><td class=\"state\">up</td><td class=\"weight\">3 <span class=\"configured\">(config 1)</span></td>");
    assert!(page.body.contains(&row), "{}", page.body);

    // Weights out of the language's range, or not whole numbers, change nothing.
    for (body, problem) in [
        (r#"{"weight": 0}"#, "weight 0 is out of range"),
        (r#"{"weight": 1000001}"#, "weight 1000001 is out of range"),
        (r#"{"weight": -2}"#, "weight -2 is out of range"),
        (r#"{"weight": 2.5}"#, "weight 2.5 is not a whole number"),
        (r#"{"weight": "2"}"#, "weight \"2\" is not a whole number"),
        (
            r#"{"state": "drain", "weight": 0}"#,
            "weight 0 is out of range",
        ),
    ] {
        let refused = steer(&client, &admin, "app", &first.to_string(), body);
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert!(refused.body.contains(problem), "{body}: {}", refused.body);
    }
    let unknown = steer(&client, &admin, "app", "127.0.0.1:1", r#"{"weight": 2}"#);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let kept = shown(&client, &admin, first);
    assert_eq!(
        (&kept["weight"], &kept["state"]),
        (&3.into(), &"ready".into())
    );

    // SIGHUP reads certificates and key files again, and leaves pools alone.
    let pid = proxy.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    thread::sleep(Duration::from_secs(1));
    assert_eq!(shown(&client, &admin, first)["weight"], 3);
    let share = first_share(&client, &base, &backends, "/after-hangup", 1_000);
    assert!(
        (70.0..=80.0).contains(&share),
        "3:1 after SIGHUP gives {share}% to the first"
    );

    // A state and a weight at once; the config's weight takes the live one away.
    let both = steer(
        &client,
        &admin,
        "app",
        &first.to_string(),
        r#"{"state": "drain", "weight": 1}"#,
    );
    assert_eq!(both.status, 200, "{}", both.body);
    let back = shown(&client, &admin, first);
    assert_eq!(
        (&back["weight"], &back["state"]),
        (&1.into(), &"drain".into())
    );
    assert!(back["configured_weight"].is_null(), "{back}");
    assert!(back["weight_changed"]["at"].is_string(), "{back}");
}

#[test]
fn a_weight_is_carried_across_an_upgrade_unless_the_new_config_changes_it() {
    let backends = EchoBackends::start(2);
    let [first, second] = [backends.addrs[0], backends.addrs[1]];
    let (_old_dir, old_binary) = build_with("weight_upgrade_old", &config(first, second), &[]);
    let new_config = weighted_config(first, second, " weight 2");
    let (_new_dir, new_binary) = build_with("weight_upgrade_new", &new_config, &[]);
    let handoff = Handoff::new();
    let client = HttpClient::new();
    let mut old = handoff.start(&old_binary, 1);
    let admin = format!("http://{}", old.admin.expect("an admin listener"));
    for (server, weight) in [(first, 3), (second, 5)] {
        let body = format!(r#"{{"weight": {weight}}}"#);
        let changed = steer(&client, &admin, "app", &server.to_string(), &body);
        assert_eq!(changed.status, 200, "{}", changed.body);
    }

    // The new build's config gives the second server weight 2 (the old one's gave it 1).
    let mut new = handoff.take_over(&mut old, &new_binary, 1);
    let client = HttpClient::new();
    let kept = shown(&client, &admin, first);
    assert_eq!(kept["weight"], 3, "the config left it alone: {kept}");
    assert_eq!(kept["configured_weight"], 1);
    assert_eq!(kept["weight_changed"]["by"], "the previous process");
    let reset = shown(&client, &admin, second);
    assert_eq!(reset["weight"], 2, "the config changed it: {reset}");
    assert!(reset["configured_weight"].is_null(), "{reset}");
    assert!(reset["weight_changed"].is_null(), "{reset}");
    // 3:2 is 60 %.
    let base = format!("http://{}", new.addr("web"));
    let share = first_share(&client, &base, &backends, "/upgraded", 1_000);
    assert!(
        (55.0..=65.0).contains(&share),
        "3:2 gives {share}% to the first"
    );
    let status = new
        .terminate()
        .expect("the new process exits after SIGTERM");
    assert!(status.success(), "{status}");
}
