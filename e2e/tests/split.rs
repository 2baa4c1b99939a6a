//! A route split across pools (canaries, blue/green) as a user runs it: a proxy built by
//! `edgec build` whose route sends 95 % of requests to one pool and 5 % to another, and a
//! second route whose split is keyed by a cookie, so that a user stays on one side; then the
//! weights changed through the admin API, without a rebuild; and weights so changed kept by
//! the next process of a zero-downtime upgrade, unless its config changed the split.

use std::{collections::HashMap, net::SocketAddr};

use bytes::Bytes;
use edge_e2e::{build_and_start, build_with, Handoff};
use edge_testkit::{Answer, EchoBackends, HttpClient};
use http_body_util::Full;

fn get(url: &str, cookie: Option<&str>) -> hyper::Request<Full<Bytes>> {
    let mut req = hyper::Request::get(url);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

/// Which backend answered each request (`1`: pool `app`, `2`: pool `app_v2`).
fn backends(answers: Vec<Result<Answer, String>>) -> Vec<String> {
    answers
        .into_iter()
        .map(|answer| {
            let answer = answer.expect("every request is answered");
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.seen("backend").concat()
        })
        .collect()
}

/// Sends `body` as the new weights of `route`'s split to the admin listener at `admin`.
fn put_split(client: &HttpClient, admin: &str, route: &str, body: &str) -> Answer {
    client.send(
        hyper::Request::put(format!("{admin}/routes/{route}/split"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
}

#[test]
fn a_split_gives_each_pool_its_share_and_a_key_keeps_a_user_on_one_side() {
    let backends_up = EchoBackends::start(2);
    let [stable, canary] = [backends_up.addrs[0], backends_up.addrs[1]];
    let config = format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool app {{
    server {stable}
}}

pool app_v2 {{
    server {canary}
}}

route sticky {{
    on web
    path /sticky
    forward app 50, app_v2 50 by cookie(\"session\")
}}

route canary {{
    on web
    forward app 95, app_v2 5
}}
"
    );
    let (_dir, proxy) = build_and_start("split", &config, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();

    // 95/5 within ±3 points over 2,000 requests.
    let requests = (0..2_000).map(|_| get(&format!("{base}/"), None)).collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for backend in backends(client.send_all(requests, 8)) {
        *counts.entry(backend).or_default() += 1;
    }
    let share = |backend: &str| *counts.get(backend).unwrap_or(&0) as f64 / 20.0;
    assert!((share("1") - 95.0).abs() <= 3.0, "{counts:?}");
    assert!((share("2") - 5.0).abs() <= 3.0, "{counts:?}");

    // Keyed by the session cookie: each of 100 users lands on one side, five requests out of
    // five, and the users spread over both sides.
    let mut sides = Vec::new();
    for user in 0..100 {
        let cookie = format!("theme=dark; session=user-{user}");
        let requests = (0..5)
            .map(|_| get(&format!("{base}/sticky"), Some(&cookie)))
            .collect();
        let seen = backends(client.send_all(requests, 2));
        assert!(seen.iter().all(|b| *b == seen[0]), "user {user}: {seen:?}");
        sides.push(seen[0].clone());
    }
    let on_canary = sides.iter().filter(|side| *side == "2").count();
    assert!(
        (25..=75).contains(&on_canary),
        "{on_canary} of 100 users on app_v2"
    );

    // Without the cookie, requests are placed by weight: both sides get some.
    let requests = (0..200)
        .map(|_| get(&format!("{base}/sticky"), None))
        .collect();
    let seen = backends(client.send_all(requests, 8));
    assert!(seen.iter().any(|b| b == "1") && seen.iter().any(|b| b == "2"));

    // The admin API shows the weights and changes them at once; the split follows within
    // ±5 points over 2,000 requests.
    let admin = format!("http://{}", proxy.admin.expect("an admin listener"));
    let splits = client.get(&format!("{admin}/splits"));
    assert_eq!(splits.status, 200);
    let shown: serde_json::Value = serde_json::from_str(&splits.body).unwrap();
    assert_eq!(shown["canary"]["app"], 95);
    assert_eq!(shown["sticky"]["app_v2"], 50);
    let put = |route: &str, body: &str| put_split(&client, &admin, route, body);
    let changed = put("canary", r#"{"app": 50, "app_v2": 50}"#);
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body, r#"{"app":50,"app_v2":50}"#);
    let requests = (0..2_000).map(|_| get(&format!("{base}/"), None)).collect();
    let on_canary = backends(client.send_all(requests, 8))
        .iter()
        .filter(|b| *b == "2")
        .count() as f64
        / 20.0;
    assert!((on_canary - 50.0).abs() <= 5.0, "{on_canary}% on app_v2");

    // Mistakes get a clear answer and change nothing.
    let unknown_route = put("nowhere", r#"{"app": 1}"#);
    assert_eq!(unknown_route.status, 404);
    assert!(
        unknown_route.body.contains("canary"),
        "{}",
        unknown_route.body
    );
    for (body, says) in [
        (r#"{"app_v3": 10}"#, "no pool `app_v3`"),
        (r#"{"app": 20000}"#, "from 0 to 10000"),
        (r#"{"app": 0, "app_v2": 0}"#, "every weight would be 0"),
        ("app=1", "a JSON object"),
    ] {
        let refused = put("canary", body);
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.body.contains(says), "{body}: {}", refused.body);
    }
    let splits = client.get(&format!("{admin}/splits"));
    let shown: serde_json::Value = serde_json::from_str(&splits.body).unwrap();
    assert_eq!(
        shown["canary"]["app"], 50,
        "a refused change changes nothing"
    );
}

/// Two routes split across `app` and `app_v2`: `canary` as in every build, `moved` with the
/// weights given.
fn upgrade_config(stable: SocketAddr, canary: SocketAddr, moved: &str) -> String {
    format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool app {{
    server {stable}
}}

pool app_v2 {{
    server {canary}
}}

route moved {{
    on web
    path /moved
    forward {moved}
}}

route canary {{
    on web
    forward app 95, app_v2 5
}}
"
    )
}

#[test]
fn weights_set_at_run_time_survive_an_upgrade_unless_the_new_config_changes_the_split() {
    let backends_up = EchoBackends::start(2);
    let [stable, canary] = [backends_up.addrs[0], backends_up.addrs[1]];
    let old_config = upgrade_config(stable, canary, "app 80, app_v2 20");
    let new_config = upgrade_config(stable, canary, "app 70, app_v2 30");
    let (_old_dir, old_binary) = build_with("split_upgrade_old", &old_config, &[]);
    let (_new_dir, new_binary) = build_with("split_upgrade_new", &new_config, &[]);
    let handoff = Handoff::new();
    let client = HttpClient::new();

    let mut old = handoff.start(&old_binary, 1);
    let admin = format!("http://{}", old.admin.expect("an admin listener"));
    for (route, body) in [
        ("canary", r#"{"app": 0, "app_v2": 100}"#),
        ("moved", r#"{"app": 100, "app_v2": 0}"#),
    ] {
        let changed = put_split(&client, &admin, route, body);
        assert_eq!(changed.status, 200, "{}", changed.body);
    }

    let mut new = handoff.take_over(&mut old, &new_binary, 1);
    assert_eq!(
        new.admin, old.admin,
        "the new process answers on the admin port"
    );

    // The old process closed its connections as it left: a client starts afresh.
    let client = HttpClient::new();
    let splits = client.get(&format!("{admin}/splits"));
    assert_eq!(splits.status, 200);
    let shown: serde_json::Value = serde_json::from_str(&splits.body).unwrap();
    assert_eq!(
        (&shown["canary"]["app"], &shown["canary"]["app_v2"]),
        (&0.into(), &100.into()),
        "the split the config left alone keeps its live weights: {shown}"
    );
    assert_eq!(
        (&shown["moved"]["app"], &shown["moved"]["app_v2"]),
        (&70.into(), &30.into()),
        "the split the new config changed has the new config's weights: {shown}"
    );
    let base = format!("http://{}", new.addr("web"));
    let requests = (0..200).map(|_| get(&format!("{base}/"), None)).collect();
    let seen = backends(client.send_all(requests, 8));
    assert!(seen.iter().all(|b| b == "2"), "every request on app_v2");
    let status = new
        .terminate()
        .expect("the new process exits after SIGTERM");
    assert!(status.success(), "{status}");
}
