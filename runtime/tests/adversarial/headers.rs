//! Header fields a client sends to pass for the proxy's own: fields named in `Connection`,
//! names with `_`, forwarding fields the proxy does not set, and the same in trailers.

use bytes::Bytes;
use edge_runtime::{http::Request, UpstreamTimeouts};

use edge_testkit::*;

/// A client cannot delete what the proxy adds (here the request id and trace context) by
/// naming it in `Connection`; the fields it names itself still go.
#[tokio::test]
async fn connection_cannot_remove_what_the_proxy_adds() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    get(
        proxy.web,
        "/app",
        &[
            ("connection", "x-request-id, traceparent, x-secret"),
            ("x-secret", "1"),
        ],
    )
    .await;
    let seen = backend.last();
    assert_eq!(seen.header("x-request-id").map(str::len), Some(32));
    assert!(seen.header("traceparent").is_some());
    assert_eq!(seen.header("x-secret"), None);
    assert_eq!(seen.header("connection"), None);
    proxy.stop().await;
}

/// `X_Real_IP` reads as `X-Real-IP` to CGI and WSGI servers: names with `_` are dropped.
#[tokio::test]
async fn names_with_underscores_are_dropped() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let answer = raw(
        proxy.web,
        b"GET /app HTTP/1.1\r\nHost: a\r\nX_Real_IP: 6.6.6.6\r\n\
          X_Client_Cert_Subject: CN=admin\r\nX-Kept: 1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 200);
    let seen = backend.last();
    let names: Vec<&str> = seen.headers.keys().map(|n| n.as_str()).collect();
    assert!(!names.iter().any(|n| n.contains('_')), "{names:?}");
    assert_eq!(seen.header("x-kept"), Some("1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    proxy.stop().await;
}

/// Forwarding fields the proxy does not set itself are not passed on from a client.
#[tokio::test]
async fn spoofed_forwarding_fields_are_dropped() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let spoofed = [
        ("forwarded", "for=6.6.6.6;proto=https;host=admin.example"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-server", "internal"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-client-cert-subject", "CN=admin"),
        ("x-real-ip", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "admin.example"),
    ];
    get(proxy.web, "/app", &spoofed).await;
    let seen = backend.last();
    for (name, _) in &spoofed[..7] {
        assert_eq!(seen.header(name), None, "{name} reached the backend");
    }
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-host"), Some("example.com"));
    proxy.stop().await;
}

/// A backend that answers with the request trailers it received, one `name: value` a line.
async fn trailer_reporter() -> std::net::SocketAddr {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async {
                let collected = req.into_body().collect().await?;
                let mut report = String::new();
                for (name, value) in collected.trailers().into_iter().flatten() {
                    report.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
                }
                Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(report))))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

/// Request trailers cannot carry the fields the proxy sets, nor names with `_`; others pass.
#[tokio::test]
async fn trailers_cannot_carry_trusted_fields() {
    let backend = trailer_reporter().await;
    let proxy = Proxy::start(pool(&[backend], UpstreamTimeouts::DEFAULT)).await;
    let answer = raw(
        proxy.web,
        b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
          Trailer: X-Real-IP, X-Forwarded-For, X-Client-Cert-Subject, X_User, X-Sum\r\n\
          Connection: close\r\n\r\n\
          3\r\nabc\r\n0\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n\
          X-Client-Cert-Subject: CN=admin\r\nX_User: admin\r\nX-Sum: 42\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    let report = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(report.contains("x-sum: 42"), "{answer}");
    for name in [
        "x-real-ip",
        "x-forwarded-for",
        "x-client-cert-subject",
        "x_user",
    ] {
        assert!(
            !report.contains(name),
            "{name} passed in a trailer: {report}"
        );
    }
    proxy.stop().await;
}
