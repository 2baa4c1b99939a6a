//! Request bodies: a client's broken, stalled or trickled body is the client's fault, never
//! the server's.

use std::time::Duration;

use edge_runtime::{Passive, UpstreamTimeouts};

use edge_testkit::*;

/// One passive failure takes a server out: what a client must not be able to cause.
fn strict_pool(
    backends: &[&Backend],
    timeouts: UpstreamTimeouts,
) -> &'static edge_runtime::PoolSpec {
    let servers = backends.iter().map(|b| server(b.addr)).collect();
    leak(edge_runtime::PoolSpec {
        passive: Some(Passive {
            max_fails: 1,
            fail_timeout: Duration::from_secs(60),
            consecutive_5xx: 0,
        }),
        timeouts,
        ..spec(servers)
    })
}

/// A malformed chunked body gets 400 and counts against no server: two such requests used to
/// take both servers out, and every user got 503.
#[tokio::test]
async fn a_malformed_chunked_body_is_400_and_takes_no_server_out() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::start(strict_pool(&[&a, &b], UpstreamTimeouts::DEFAULT)).await;
    let broken: &[u8] = b"POST /app/upload HTTP/1.1\r\nHost: example.com\r\n\
        Transfer-Encoding: chunked\r\n\r\n1\r\na\r\nZZ\r\n";
    for _ in 0..4 {
        let answer = raw(proxy.web, broken).await;
        assert_eq!(raw_status(&answer), 400, "{answer}");
    }
    for _ in 0..4 {
        assert_eq!(get(proxy.web, "/app", &[]).await.status, 200);
    }
    proxy.stop().await;
}

/// A client cut off in the middle of its body: not the server's failure either.
#[tokio::test]
async fn a_body_cut_off_by_the_client_takes_no_server_out() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::start(strict_pool(&[&backend], UpstreamTimeouts::DEFAULT)).await;
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(proxy.web).await.unwrap();
        use tokio::io::AsyncWriteExt;
        stream
            .write_all(b"POST /app/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
            .await
            .unwrap();
        backend.wait_for(backend.count() + 1).await;
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(proxy.web, "/app", &[]).await.status, 200);
    proxy.stop().await;
}

/// The response timeout runs from the end of the request body: a client sending its body over
/// 3 s to a pool with a 1 s response timeout gets the server's answer, not 504.
#[tokio::test]
async fn a_trickled_body_does_not_run_out_the_response_timeout() {
    let backend = Backend::start("a").await;
    let timeouts = UpstreamTimeouts {
        response: Duration::from_secs(1),
        ..UpstreamTimeouts::DEFAULT
    };
    let proxy = Proxy::start(strict_pool(&[&backend], timeouts)).await;
    let parts: [&[u8]; 7] = [
        b"POST /app/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nConnection: close\r\n\r\n",
        b"a",
        b"b",
        b"c",
        b"d",
        b"e",
        b"f",
    ];
    let answer = raw_slowly(proxy.web, &parts, Duration::from_millis(500)).await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    let sum: u32 = b"abcdef".iter().map(|&b| u32::from(b)).sum();
    assert!(answer.ends_with(&format!("6 {sum}")), "{answer}");
    // A server that takes the body and then says nothing is still timed out.
    let answer = raw(
        proxy.web,
        b"POST /app/never HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    )
    .await;
    assert_eq!(raw_status(&answer), 504);
    proxy.stop().await;
}

/// A client that stops sending its body gets 408 after the listener's body timeout (1 s on
/// the small listener), and the server is not blamed.
#[tokio::test]
async fn a_stalled_body_is_408_after_the_body_timeout() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::start(strict_pool(&[&backend], UpstreamTimeouts::DEFAULT)).await;
    let started = std::time::Instant::now();
    let answer = raw_slowly(
        proxy.small,
        &[b"POST /app/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"],
        Duration::ZERO,
    )
    .await;
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(get(proxy.small, "/app", &[]).await.status, 200);
    proxy.stop().await;
}

/// Reads one answer from `stream`: its head, and as many body bytes as its `content-length`
/// says.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let reading = async {
        loop {
            let text = String::from_utf8_lossy(&answer);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length: ")?
                            .parse()
                            .ok()
                    })
                    .unwrap_or(0usize);
                if answer.len() >= end + 4 + length {
                    return;
                }
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await.unwrap() {
                0 => panic!("closed in the middle of an answer: {text:?}"),
                read => answer.extend_from_slice(&chunk[..read]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("an answer in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A request refused before its body was read, when the body has not all arrived: a large
/// one is not waited for, so the answer says the connection closes (a client's pool used to
/// send its next request on a connection the proxy then closed).
#[tokio::test]
async fn a_refusal_leaving_a_large_body_unread_says_the_connection_closes() {
    use tokio::io::AsyncWriteExt;
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.web).await.unwrap();
    stream
        .write_all(b"POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    stream.write_all(&[b'x'; 1000]).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(raw_status(&answer), 404, "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    let _ = stream.write_all(&[b'x'; 1000]).await;
    let mut rest = Vec::new();
    use tokio::io::AsyncReadExt;
    let closed = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
        "the proxy closes the connection"
    );
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    proxy.stop().await;
}

/// The same with a small body still on its way: it is read and dropped after the answer, and
/// the connection carries the client's next request.
#[tokio::test]
async fn a_refusal_leaving_a_small_body_unread_keeps_the_connection() {
    use tokio::io::AsyncWriteExt;
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.web).await.unwrap();
    stream
        .write_all(b"POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(raw_status(&answer), 404, "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
    stream.write_all(&[b'x'; 2000]).await.unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert!(answer.ends_with("hello from edge\n"), "{answer}");
    proxy.stop().await;
}

/// A client waiting for the go-ahead before it sends its body is refused without one, and
/// told the connection closes: it will not send that body, and nothing else may follow it.
#[tokio::test]
async fn a_refusal_before_the_go_ahead_says_the_connection_closes() {
    use tokio::io::AsyncWriteExt;
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.web).await.unwrap();
    stream
        .write_all(
            b"POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(raw_status(&answer), 404, "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    proxy.stop().await;
}
