//! Sticky sessions by an inserted cookie as a user runs them: a proxy built by `edgec build`
//! whose pool of three servers sets a cookie naming (opaquely) the server that first answered
//! a client; the client's next 100 requests go to that server, which never sees the cookie;
//! when it dies, the client moves to another and gets a new cookie, and stays there.

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

/// The `srv=...` pair of the answer's `Set-Cookie`, if it sets the sticky cookie.
fn sticky_cookie(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("srv="))
        .map(|value| value.split(';').next().unwrap().to_owned())
}

#[test]
fn a_client_keeps_its_server_through_the_cookie_and_moves_when_it_dies() {
    let mut backends = EchoBackends::start(3);
    let config = format!(
        "listener web {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
    server {}
    server {}
    retry 1
    sticky cookie \"srv\" {{
        ttl 1h
        httponly
    }}
}}

route all {{
    on web
    forward app
}}
",
        backends.addrs[0], backends.addrs[1], backends.addrs[2]
    );
    let (_dir, proxy) = build_and_start("sticky", &config, 1);
    let url = format!("http://{}/", proxy.addr("web"));
    let client = HttpClient::new();

    // The first answer sets the cookie; its value names no address.
    let first = client.send(get(&url, None));
    assert_eq!(first.status, 200);
    let set = first.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("; Max-Age=3600") && set.ends_with("; HttpOnly"),
        "{set}"
    );
    let cookie = sticky_cookie(&first).expect("the sticky cookie is set");
    for addr in &backends.addrs {
        assert!(
            !set.contains(&addr.port().to_string()),
            "{set} shows {addr}"
        );
    }
    let server = first.seen("backend").concat();

    // 100 requests with the cookie: all on the same server, which gets the client's other
    // cookies without it, and no new cookie.
    for _ in 0..100 {
        let answer = client.send(get(&url, Some(&format!("theme=dark; {cookie}"))));
        assert_eq!(answer.seen("backend").concat(), server);
        assert_eq!(answer.seen("header cookie"), ["theme=dark"]);
        assert!(
            sticky_cookie(&answer).is_none(),
            "the same server sets no new cookie"
        );
    }
    // Without the cookie, round robin spreads requests over every server.
    let spread: std::collections::HashSet<String> = (0..6)
        .map(|_| client.send(get(&url, None)).seen("backend").concat())
        .collect();
    assert_eq!(spread.len(), 3, "{spread:?}");

    // The client's server dies: the request is answered by another server (the refused
    // connection is retried), which sets a new cookie; the client then stays there.
    let index: usize = server.parse::<usize>().unwrap() - 1;
    backends.kill_one(index);
    let moved = client.send(get(&url, Some(&cookie)));
    assert_eq!(moved.status, 200, "{}", moved.body);
    let new_server = moved.seen("backend").concat();
    assert_ne!(new_server, server);
    let new_cookie = sticky_cookie(&moved).expect("a new cookie for the new server");
    assert_ne!(new_cookie, cookie);
    for _ in 0..100 {
        let answer = client.send(get(&url, Some(&new_cookie)));
        assert_eq!(answer.seen("backend").concat(), new_server);
        assert!(answer.seen("header cookie").is_empty(), "{}", answer.body);
    }
    // A cookie naming no server of the pool (forged, or from another pool) is ignored.
    let forged = client.send(get(&url, Some("srv=0123456789abcdef")));
    assert_eq!(forged.status, 200);
    assert!(
        sticky_cookie(&forged).is_some(),
        "a real server's cookie replaces it"
    );
}
