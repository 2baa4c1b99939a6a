//! External authorisation as a user runs it: a proxy built by `edgec build` whose routes ask an
//! authorisation service (a real HTTP server in the test) before each request. The service
//! decides by the bearer token: it allows (and names the user), denies with 401 or 403, fails,
//! or answers too late; the proxy follows nginx's `auth_request`: a 2xx lets the request
//! through with the named headers copied, a 401 or 403 is the client's answer, a failure or a
//! timeout is a 503 (or lets the request through with `on_error allow`), and answers are kept
//! for a while when the policy says so.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use edge_e2e::build_and_start;
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;

/// What the service saw of each check: its path, and its headers.
type Checks = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// The authorisation service, on its own runtime: decides by the `Authorization` header.
fn start_service(checks: Checks) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let checks = Arc::clone(&checks);
            tokio::spawn(async move {
                let service = service_fn(move |req| decide(req, Arc::clone(&checks)));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, runtime)
}

async fn decide(
    req: hyper::Request<Incoming>,
    checks: Checks,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("?").to_owned()))
        .collect();
    let token = headers.get("authorization").cloned().unwrap_or_default();
    checks
        .lock()
        .unwrap()
        .push((req.uri().path().to_owned(), headers));
    let answer = |status: u16, body: &'static str| {
        let mut answer = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *answer.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        answer
    };
    Ok(match token.as_str() {
        "Bearer good" => {
            let mut allowed = answer(200, "");
            allowed
                .headers_mut()
                .insert("x-user-id", "alice".parse().unwrap());
            allowed
        }
        "Bearer anon" => answer(204, ""),
        "Bearer forbidden" => answer(403, "not for you\n"),
        "Bearer broken" => answer(500, "oops\n"),
        "Bearer slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            answer(200, "")
        }
        _ => {
            let mut denied = answer(401, "denied by service\n");
            denied
                .headers_mut()
                .insert("www-authenticate", "Bearer realm=\"test\"".parse().unwrap());
            denied
        }
    })
}

fn get(url: &str, token: Option<&str>, extra: &[(&str, &str)]) -> hyper::Request<Full<Bytes>> {
    let mut req = hyper::Request::get(url);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

#[test]
fn an_authorisation_service_allows_denies_fails_and_times_out() {
    let app = EchoBackends::start(1);
    let checks: Checks = Arc::default();
    let (service, _service_runtime) = start_service(Arc::clone(&checks));
    let config = format!(
        "listener web {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
}}

pool auth {{
    server {service}
}}

policy check = ext_auth {{
    pool auth
    path \"/check\"
    copy_headers x-user-id
    timeout 200ms
}}

policy lenient = ext_auth {{
    pool auth
    path \"/check\"
    copy_headers x-user-id
    timeout 200ms
    on_error allow
}}

policy kept = ext_auth {{
    pool auth
    path \"/kept\"
    copy_headers x-user-id
    cache 30s by header(\"authorization\")
}}

route open {{
    on web
    path /open
    use lenient
    forward app
}}

route cached {{
    on web
    path /cached
    use kept
    forward app
}}

route strict {{
    on web
    use check
    forward app
}}
",
        app.addrs[0]
    );
    let (_dir, proxy) = build_and_start("ext_auth", &config, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();
    let checks_of = |path: &str| {
        let checks = checks.lock().unwrap();
        checks.iter().filter(|(p, _)| p == path).count()
    };

    // Allowed: the request goes on with the user the service named, and the service saw the
    // request's method, URI and host.
    let answer = client.send(get(&format!("{base}/orders/7?full=1"), Some("good"), &[]));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.seen("header x-user-id"), ["alice"]);
    let (path, seen) = checks.lock().unwrap().last().cloned().unwrap();
    assert_eq!(path, "/check");
    assert_eq!(seen["x-forwarded-method"], "GET");
    assert_eq!(seen["x-forwarded-uri"], "/orders/7?full=1");
    assert_eq!(seen["authorization"], "Bearer good");
    assert_eq!(seen["host"], proxy.addr("web").to_string());

    // A client's own copy of a copied header never passes, even when the service sets none.
    let forged = [("x-user-id", "mallory")];
    let answer = client.send(get(&format!("{base}/a"), Some("anon"), &forged));
    assert_eq!(answer.status, 200);
    assert!(
        answer.seen("header x-user-id").is_empty(),
        "{}",
        answer.body
    );
    let answer = client.send(get(&format!("{base}/a"), Some("good"), &forged));
    assert_eq!(answer.seen("header x-user-id"), ["alice"]);

    // Denied: the service's status, challenge and body reach the client; the app sees nothing.
    let before = app.requests("/secret");
    let answer = client.send(get(&format!("{base}/secret"), Some("bad"), &[]));
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, "denied by service\n");
    let answer = client.send(get(&format!("{base}/secret"), None, &[]));
    assert_eq!(answer.status, 401);
    let answer = client.send(get(&format!("{base}/secret"), Some("forbidden"), &[]));
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (403, "not for you\n")
    );
    assert_eq!(
        app.requests("/secret"),
        before,
        "a denied request never reaches the app"
    );

    // A failing service: 503 (fails closed), or through with `on_error allow`.
    let answer = client.send(get(&format!("{base}/secret"), Some("broken"), &[]));
    assert_eq!(answer.status, 503);
    let answer = client.send(get(&format!("{base}/open"), Some("broken"), &[]));
    assert_eq!(answer.status, 200);

    // A service that answers after 2 s: the check gives up after 200 ms.
    let started = Instant::now();
    let answer = client.send(get(&format!("{base}/secret"), Some("slow"), &[]));
    assert_eq!(answer.status, 503);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "the timeout decided: {:?}",
        started.elapsed()
    );
    let answer = client.send(get(&format!("{base}/open"), Some("slow"), &[]));
    assert_eq!(answer.status, 200);
    assert!(answer.seen("header x-user-id").is_empty());

    // Kept answers: five requests with one token make one check; another token makes its own;
    // a kept denial is still a denial.
    for _ in 0..5 {
        let answer = client.send(get(&format!("{base}/cached"), Some("good"), &[]));
        assert_eq!(answer.seen("header x-user-id"), ["alice"]);
    }
    assert_eq!(checks_of("/kept"), 1);
    for _ in 0..3 {
        let answer = client.send(get(&format!("{base}/cached"), Some("bad"), &[]));
        assert_eq!(answer.status, 401);
    }
    assert_eq!(checks_of("/kept"), 2);
}
