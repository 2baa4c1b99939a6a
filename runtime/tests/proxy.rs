//! End-to-end tests of the runtime: a gateway shaped like generated code, started in-process on
//! 127.0.0.1:0 in front of real hyper backends, driven by real clients and raw sockets.

use std::time::Duration;

use bytes::Bytes;
use edge_runtime::{
    http::{Request, StatusCode, Version},
    ListenerLimits, ListenerMode, ListenerSpec, Process, Server, UpstreamTimeouts,
};
use edge_testkit::*;
use http_body_util::Full;

#[tokio::test]
async fn direct_answers_and_not_found() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let hello = get(proxy.web, "/hello", &[]).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(hello.text(), "hello from edge\n");
    assert_eq!(hello.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(get(proxy.web, "/nothing", &[]).await.status, 404);
    assert!(backend.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn routes_on_the_lower_cased_host_without_port() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let got = get(proxy.web, "/x", &[]).await;
    assert_eq!(got.text(), "a");
    let mut client = Client::connect(proxy.web).await;
    let req = Request::get("/x")
        .header("host", "ADMIN.Example:8080")
        .body(Full::default())
        .unwrap();
    assert_eq!(client.send(req).await.text(), "admin\n");
    proxy.stop().await;
}

#[tokio::test]
async fn path_and_query_are_forwarded_unchanged() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let got = get(proxy.web, "/app/x%3Ay/%C3%A9?q=1&r=%2e%2e/&empty=%2F", &[]).await;
    assert_eq!(got.text(), "a");
    let seen = backend.last();
    assert_eq!(seen.uri, "/app/x%3Ay/%C3%A9?q=1&r=%2e%2e/&empty=%2F");
    assert_eq!(seen.version, Version::HTTP_11);
    proxy.stop().await;
}

#[tokio::test]
async fn host_is_the_clients_and_forwarding_headers_are_set() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut client = Client::connect(proxy.web).await;
    let req = Request::get("/app")
        .header("host", "Shop.Example:8080")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-real-ip", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .body(Full::default())
        .unwrap();
    client.send(req).await;
    let seen = backend.last();
    assert_eq!(seen.header("host"), Some("Shop.Example:8080"));
    assert_eq!(seen.header("x-forwarded-host"), Some("Shop.Example:8080"));
    // The client's own list is not believed (no trusted proxies on this listener).
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));

    get(proxy.web, "/app", &[]).await;
    assert_eq!(backend.last().header("x-forwarded-for"), Some("127.0.0.1"));
    proxy.stop().await;
}

#[tokio::test]
async fn headers_named_in_connection_do_not_reach_the_backend() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    get(
        proxy.web,
        "/app",
        &[
            ("connection", "x-secret, keep-alive"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=1"),
            ("proxy-authorization", "Basic eDp5"),
            ("upgrade", "h2c"),
            ("te", "deflate"),
            ("x-kept", "1"),
        ],
    )
    .await;
    let seen = backend.last();
    for name in [
        "x-secret",
        "keep-alive",
        "proxy-authorization",
        "upgrade",
        "te",
    ] {
        assert_eq!(seen.header(name), None, "{name} reached the backend");
    }
    assert_eq!(seen.header("x-kept"), Some("1"));
    proxy.stop().await;
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_stripped() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let got = get(proxy.web, "/app/hop", &[]).await;
    assert_eq!(got.text(), "hop");
    assert_eq!(got.headers.get("x-internal"), None);
    assert_eq!(got.headers.get("keep-alive"), None);
    assert_eq!(got.headers["x-public"], "yes");
    proxy.stop().await;
}

#[tokio::test]
async fn a_5mb_upload_arrives_whole() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut client = Client::connect(proxy.web).await;
    let req = Request::post("/app/upload")
        .header("host", "example.com")
        .body(Full::new(Bytes::from(pattern(FIVE_MB))))
        .unwrap();
    let got = client.send(req).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), format!("{FIVE_MB} {}", pattern_sum(FIVE_MB)));
    let seen = backend.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("content-length"), Some("5242880"));
    proxy.stop().await;
}

#[tokio::test]
async fn a_5mb_download_arrives_whole() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut client = Client::connect(proxy.web).await;
    for path in ["/app/download", "/app/download-chunked"] {
        let got = client.get(path, &[]).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        assert_eq!(got.body.len(), FIVE_MB, "{path}");
        assert!(got.body.iter().eq(pattern(FIVE_MB).iter()), "{path}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn round_robin_alternates_over_two_backends() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::before(&[&a, &b]).await;
    let mut client = Client::connect(proxy.web).await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(client.get("/app", &[]).await.text().to_owned());
    }
    assert_eq!(answers, ["a", "b", "a", "b", "a", "b"]);
    proxy.stop().await;
}

#[tokio::test]
async fn connections_to_the_backend_are_reused() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    for _ in 0..20 {
        // A fresh client connection each time: reuse is on the upstream side.
        assert_eq!(get(proxy.web, "/app", &[]).await.text(), "a");
    }
    assert_eq!(backend.seen().len(), 20);
    assert_eq!(backend.connections(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn connections_the_backend_closed_are_not_reused() {
    let backend = one_shot_backend().await;
    let proxy = Proxy::start(pool(&[backend], UpstreamTimeouts::DEFAULT)).await;
    for _ in 0..5 {
        let got = get(proxy.web, "/app", &[]).await;
        assert_eq!((got.status, got.text()), (StatusCode::OK, "one shot"));
        // Gives the proxy time to see the close; the order of events, not a timing assertion.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stop().await;
}

#[tokio::test]
async fn all_backends_down_is_502() {
    let down = [closed_port().await, closed_port().await];
    let proxy = Proxy::start(pool(&down, UpstreamTimeouts::DEFAULT)).await;
    for _ in 0..2 {
        let got = get(proxy.web, "/app", &[]).await;
        assert_eq!(got.status, StatusCode::BAD_GATEWAY);
        assert_eq!(got.text(), "502 Bad Gateway\n");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_backend_that_never_answers_is_504() {
    let backend = Backend::start("a").await;
    let timeouts = UpstreamTimeouts {
        response: Duration::from_millis(200),
        ..UpstreamTimeouts::DEFAULT
    };
    let proxy = Proxy::start(pool(&[backend.addr], timeouts)).await;
    let got = get(proxy.web, "/app/never", &[]).await;
    assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(got.text(), "504 Gateway Timeout\n");
    // The timed-out connection is not reused; the next request still works.
    assert_eq!(get(proxy.web, "/app", &[]).await.text(), "a");
    proxy.stop().await;
}

#[tokio::test]
async fn paths_are_normalised_before_routing() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    assert_eq!(
        get(proxy.web, "/a/../hello", &[]).await.text(),
        "hello from edge\n"
    );
    assert_eq!(
        get(proxy.web, "/%68ello", &[]).await.text(),
        "hello from edge\n"
    );
    get(proxy.web, "//app//x/./y?z=//", &[]).await;
    assert_eq!(backend.last().uri, "/app/x/y?z=//");
    for path in ["/..", "/app/../../etc", "/%2e%2e/x", "/a%zz"] {
        assert_eq!(get(proxy.web, path, &[]).await.status, 400, "{path}");
    }
    let answer = raw(
        proxy.web,
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 400);
    assert_eq!(backend.seen().len(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn ambiguous_framing_is_refused_and_never_forwarded() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let requests: [&[u8]; 3] = [
        b"POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        // Smuggled behind an innocent request on the same connection.
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nPOST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for request in requests {
        let answer = raw(proxy.web, request).await;
        let last = answer.rsplit("HTTP/1.1 ").next().unwrap();
        assert!(last.starts_with("400 "), "{answer}");
    }
    assert!(backend.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_framing_and_headers_are_refused_by_hyper() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let requests: [&[u8]; 4] = [
        b"POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /app HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n",
        b"GET /app HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
    ];
    for request in requests {
        let answer = raw(proxy.web, request).await;
        assert_eq!(
            raw_status(&answer),
            400,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    assert!(backend.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn host_is_required_and_checked() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let requests: [&[u8]; 3] = [
        b"GET /app HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /app HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
        b"GET /app HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    ];
    for request in requests {
        let answer = raw(proxy.web, request).await;
        assert_eq!(
            raw_status(&answer),
            400,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    assert!(backend.seen().is_empty());
    let answer = raw(proxy.web, b"GET /app HTTP/1.0\r\n\r\n").await;
    assert_eq!(raw_status(&answer), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn listener_limits_apply() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let big = "x".repeat(10_000);
    let request =
        format!("GET /app HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&raw(proxy.small, request.as_bytes()).await), 431);
    assert_eq!(raw_status(&raw(proxy.web, request.as_bytes()).await), 200);
    // Past the default limit (64 KiB): a 100 KiB header.
    let huge = "x".repeat(100 * 1024);
    let request =
        format!("GET /app HTTP/1.1\r\nHost: a\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&raw(proxy.web, request.as_bytes()).await), 431);
    assert_eq!(
        raw_status(&raw(proxy.web, b"GET /app HTTP/1.0\r\n\r\n").await),
        200
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_sending_its_head_a_byte_at_a_time_is_cut_off_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut slow = tokio::net::TcpStream::connect(proxy.small).await.unwrap();
    let started = std::time::Instant::now();
    let head = b"GET /app HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = false;
    for byte in head {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        // Others are served all along.
        assert_eq!(
            raw_status(&raw(proxy.web, b"GET /app HTTP/1.0\r\n\r\n").await),
            200
        );
        let mut buf = [0u8; 512];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await
        {
            // An answer (408) or the end of the stream: either way the client is cut off.
            let _ = read;
            closed = true;
            break;
        }
    }
    assert!(closed, "a slow head was never cut off");
    // The listener's header timeout is 1 s.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn bodies_over_the_listener_limit_are_refused() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let post = |body: &str, chunked: bool| {
        let framing = if chunked {
            format!(
                "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            )
        } else {
            format!("Content-Length: {}\r\n\r\n{body}", body.len())
        };
        format!("POST /app HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{framing}")
    };
    let small = "x".repeat(500);
    let large = "x".repeat(2000);
    assert_eq!(
        raw_status(&raw(proxy.small, post(&small, false).as_bytes()).await),
        200
    );
    assert_eq!(
        raw_status(&raw(proxy.small, post(&large, false).as_bytes()).await),
        413
    );
    assert_eq!(
        raw_status(&raw(proxy.small, post(&large, true).as_bytes()).await),
        413
    );
    assert_eq!(
        raw_status(&raw(proxy.web, post(&large, false).as_bytes()).await),
        200
    );
    proxy.stop().await;
}

#[tokio::test]
async fn http2_prior_knowledge_reaches_an_http1_backend() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let got = get_h2(proxy.web, "http://API.example.com:9999/app/h2?x=1").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "a");
    let seen = backend.last();
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.uri, "/app/h2?x=1");
    assert_eq!(seen.header("host"), Some("API.example.com:9999"));
    let admin = get_h2(proxy.web, "http://Admin.Example/x").await;
    assert_eq!(admin.text(), "admin\n");
    proxy.stop().await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_connections() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let web = proxy.web;
    let slow = tokio::spawn(async move { get(web, "/app/slow", &[]).await });
    backend.wait_for(1).await;
    let drained = proxy.shut_down();

    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(web).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections are still accepted");

    let got = tokio::time::timeout(PATIENCE, slow).await.unwrap().unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "slow done");
    tokio::time::timeout(PATIENCE, drained)
        .await
        .expect("the drain ends once the slow request is done")
        .unwrap();
}

#[tokio::test]
async fn a_taken_port_is_a_clear_bind_error() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let listeners: &'static [(Listener, ListenerSpec)] = Box::leak(Box::new([(
        Listener::Web,
        ListenerSpec {
            name: "web",
            bind: addr,
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Http,
            tls: None,
        },
    )]));
    let backend = Backend::start("a").await;
    let app = pool(&[backend.addr], UpstreamTimeouts::DEFAULT);
    let process = Process::new();
    let error = Server::bind(&process, listeners, Edge::new(&process, app))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot bind listener `web` to {addr}: ")),
        "{message}"
    );
}

/// A backend that answers `sum: <the request's x-sum trailer>` and ends its chunked answer with
/// an `x-checksum` trailer carrying the same value, declared in `Trailer` (hyper sends it only
/// to a request with `TE: trailers`).
async fn trailer_echo() -> std::net::SocketAddr {
    use http_body_util::{BodyExt, StreamBody};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async {
                let collected = req.into_body().collect().await?;
                let sum = collected
                    .trailers()
                    .and_then(|t| t.get("x-sum").cloned())
                    .unwrap_or(http::HeaderValue::from_static("none"));
                let mut trailers = http::HeaderMap::new();
                trailers.insert("x-checksum", sum.clone());
                let frames = vec![
                    Ok::<_, hyper::Error>(http_body::Frame::data(Bytes::from(format!(
                        "sum: {}\n",
                        sum.to_str().unwrap()
                    )))),
                    Ok(http_body::Frame::trailers(trailers)),
                ];
                let body = StreamBody::new(futures_util::stream::iter(frames));
                let response = http::Response::builder()
                    .header("trailer", "x-checksum")
                    .body(body)
                    .unwrap();
                Ok::<_, hyper::Error>(response)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn declared_trailers_pass_both_ways_over_http1() {
    use http_body_util::{BodyExt, StreamBody};
    let backend = trailer_echo().await;
    let proxy = Proxy::start(pool(&[backend], UpstreamTimeouts::DEFAULT)).await;
    let stream = tokio::net::TcpStream::connect(proxy.web).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-sum", http::HeaderValue::from_static("42"));
    let frames = vec![
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(b"abc"))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    let req = Request::post("/upload")
        .header("host", "example.com")
        .header("trailer", "x-sum")
        .header("te", "trailers")
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    let exchange = async {
        let response = sender.send_request(req).await.unwrap();
        response.into_body().collect().await.unwrap()
    };
    let collected = tokio::time::timeout(PATIENCE, exchange).await.unwrap();
    let trailers = collected.trailers().cloned();
    assert_eq!(collected.to_bytes(), "sum: 42\n");
    assert_eq!(trailers.unwrap()["x-checksum"], "42");
    proxy.stop().await;
}
