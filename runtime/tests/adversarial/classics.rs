//! The classic attacks on an HTTP/1 front door, as raw bytes: smuggling by framing, bytes that
//! have no place in a head, huge heads, pipelining, spoofed forwarding headers.

use edge_testkit::*;

/// Each of these is refused before the gateway runs, so nothing reaches the backend.
#[tokio::test]
async fn malformed_and_ambiguous_heads_are_refused_and_never_forwarded() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let cases: &[(&str, &[u8], u16)] = &[
        (
            "CL and TE",
            b"POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "TE and CL",
            b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "two different CL",
            b"POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
            400,
        ),
        (
            "CL with a sign",
            b"POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd",
            400,
        ),
        (
            "TE not ending in chunked",
            b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "TE twice, the last not chunked",
            b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "space before the colon",
            b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "NUL in a value",
            b"GET /app HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n",
            400,
        ),
        (
            "CR in a value",
            b"GET /app HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
            400,
        ),
        (
            "obs-fold",
            b"GET /app HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
            400,
        ),
        (
            "control byte in the target",
            b"GET /app\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
        ),
        (
            "two hosts",
            b"GET /app HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        ("no host", b"GET /app HTTP/1.1\r\n\r\n", 400),
    ];
    for (name, request, status) in cases {
        let answer = raw(proxy.web, request).await;
        assert_eq!(raw_status(&answer), *status, "{name}: {answer}");
    }
    let huge = format!(
        "GET /app HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(100 * 1024)
    );
    assert_eq!(raw_status(&raw(proxy.web, huge.as_bytes()).await), 431);
    assert!(backend.seen().is_empty(), "{:?}", backend.seen());
    proxy.stop().await;
}

/// Bad chunk sizes are found while the body streams: the client gets 400, whatever reached
/// the server is a request cut short, and the server is not blamed.
#[tokio::test]
async fn bad_chunk_sizes_are_400() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    for body in [
        &b"zz\r\nabc\r\n0\r\n\r\n"[..],
        b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabcdef\r\n0\r\n\r\n",
        b"-3\r\nabc\r\n0\r\n\r\n",
    ] {
        let mut request =
            b"POST /app/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(body);
        let answer = raw(proxy.web, &request).await;
        assert_eq!(raw_status(&answer), 400, "{answer}");
    }
    assert_eq!(get(proxy.web, "/app", &[]).await.status, 200);
    proxy.stop().await;
}

/// Pipelined requests are answered in order, each forwarded on its own: the second is not
/// read as part of the first.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let answer = raw(
        proxy.web,
        b"GET /app/one HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /app/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
          GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 3, "{answer}");
    assert!(answer.ends_with("hello from edge\n"), "{answer}");
    let uris: Vec<String> = backend.seen().into_iter().map(|seen| seen.uri).collect();
    assert_eq!(uris, ["/app/one", "/app/upload"]);
    proxy.stop().await;
}

/// A client's `X-Forwarded-For` is not believed: without trusted proxies it names the peer
/// alone, and `X-Real-IP` is always the peer.
#[tokio::test]
async fn spoofed_client_addresses_do_not_replace_the_peer() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    get(
        proxy.web,
        "/app",
        &[("x-forwarded-for", "10.0.0.1"), ("x-real-ip", "10.0.0.1")],
    )
    .await;
    let seen = backend.last();
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    proxy.stop().await;
}
