//! One host per request: `:authority` against `host`, absolute-form targets, trailing dots.

use edge_runtime::http::{Request, StatusCode, Version};

use edge_testkit::*;

/// An HTTP/2 request whose `host` field names another host than its `:authority` is malformed
/// (RFC 9113 §8.3.1): refused, never routed by one and forwarded with the other.
#[tokio::test]
async fn http2_host_field_differing_from_authority_is_refused() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let smuggled = Request::get("http://www.example/app")
        .header("host", "admin.example")
        .body(())
        .unwrap();
    let got = h2_send(proxy.web, smuggled, b"").await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
    assert!(backend.seen().is_empty());

    // The same host in both (case aside) is fine, and the backend sees it once.
    let agreeing = Request::get("http://www.example/app")
        .header("host", "WWW.example")
        .body(())
        .unwrap();
    let got = h2_send(proxy.web, agreeing, b"").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "a");
    let seen = backend.last();
    assert_eq!(seen.headers.get_all("host").iter().count(), 1);
    assert_eq!(seen.header("host"), Some("www.example"));
    assert_eq!(seen.header("x-forwarded-host"), Some("www.example"));
    proxy.stop().await;
}

/// HTTP/2 without a `host` field: `:authority` is the host for routing and for the backend.
#[tokio::test]
async fn http2_authority_alone_routes_and_reaches_the_backend() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let admin = Request::get("http://Admin.Example:8080/app")
        .body(())
        .unwrap();
    assert_eq!(h2_send(proxy.web, admin, b"").await.text(), "admin\n");
    let www = Request::get("http://www.example:8080/app")
        .body(())
        .unwrap();
    assert_eq!(h2_send(proxy.web, www, b"").await.text(), "a");
    let seen = backend.last();
    assert_eq!(seen.header("host"), Some("www.example:8080"));
    assert_eq!(seen.uri, "/app");
    proxy.stop().await;
}

/// An absolute-form target names the host (RFC 9112 §3.2.2), whatever `Host` says: routing and
/// the backend agree on it.
#[tokio::test]
async fn an_absolute_form_target_is_the_host() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let answer = raw(proxy.web, b"GET http://admin.example/app HTTP/1.0\r\n\r\n").await;
    assert_eq!(raw_status(&answer), 200);
    assert!(answer.ends_with("admin\n"), "{answer}");
    assert!(backend.seen().is_empty());

    let answer = raw(
        proxy.web,
        b"GET http://www.example/app HTTP/1.1\r\nHost: admin.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 200);
    assert!(answer.ends_with("\r\n\r\na"), "{answer}");
    let seen = backend.last();
    assert_eq!(seen.uri, "/app");
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.header("host"), Some("www.example"));
    assert_eq!(seen.header("x-forwarded-host"), Some("www.example"));

    // HTTP/1.1 still needs a `Host`, and userinfo is no host.
    for request in [
        &b"GET http://www.example/app HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET http://u@www.example/app HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
    ] {
        assert_eq!(raw_status(&raw(proxy.web, request).await), 400);
    }
    assert_eq!(backend.count(), 1);
    proxy.stop().await;
}

/// `Host: admin.example.` is the same host as `admin.example` for routing.
#[tokio::test]
async fn a_trailing_dot_names_the_same_host() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    for host in ["admin.example.", "ADMIN.example.:80"] {
        let request = format!("GET /app HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = raw(proxy.web, request.as_bytes()).await;
        assert!(answer.ends_with("admin\n"), "{host}: {answer}");
    }
    assert!(backend.seen().is_empty());
    proxy.stop().await;
}
