//! A route split across pools (canaries, blue/green) as a user runs it: a proxy built by
//! `edgec build` whose route sends 95 % of requests to one pool and 5 % to another, and a
//! second route whose split is keyed by a cookie, so that a user stays on one side.

use std::collections::HashMap;

use bytes::Bytes;
use edge_e2e::build_and_start;
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

#[test]
fn a_split_gives_each_pool_its_share_and_a_key_keeps_a_user_on_one_side() {
    let backends_up = EchoBackends::start(2);
    let [stable, canary] = [backends_up.addrs[0], backends_up.addrs[1]];
    let config = format!(
        "listener web {{
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
}
