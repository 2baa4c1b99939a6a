//! Answers from a hostile or broken server: framing that could smuggle a second answer onto a
//! kept-alive connection, lengths that disagree, heads too large. Each server here is a raw
//! socket that writes exactly the bytes under test for every request it reads.

use std::{net::SocketAddr, time::Duration};

use edge_runtime::UpstreamTimeouts;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use edge_testkit::*;

/// A server answering every request head it reads with `answer`, on connections it keeps open.
async fn answering(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut read = Vec::new();
                let mut buf = [0; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                        read.drain(..end + 4);
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn proxy_to(addr: SocketAddr) -> Proxy {
    Proxy::start(pool(&[addr], UpstreamTimeouts::DEFAULT)).await
}

/// `Transfer-Encoding` beside a `Content-Length`: the chunked body is what the client gets, and
/// what follows it (a second answer the server slipped in) never answers another request.
#[tokio::test]
async fn an_answer_with_both_framings_smuggles_nothing() {
    let server = answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n0\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
    )
    .await;
    let proxy = proxy_to(server).await;
    let mut client = Client::connect(proxy.web).await;
    for _ in 0..3 {
        let got = client.get("/app", &[]).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.text(), "abc");
    }
    proxy.stop().await;
}

/// Bytes after a complete answer are not the answer to the next request.
#[tokio::test]
async fn bytes_after_an_answer_answer_nothing() {
    let server = answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
          HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
    )
    .await;
    let proxy = proxy_to(server).await;
    let mut client = Client::connect(proxy.web).await;
    for _ in 0..3 {
        assert_eq!(client.get("/app", &[]).await.text(), "abc");
    }
    proxy.stop().await;
}

/// Lengths that disagree, a length that is no number, and a head past 64 KiB: 502, and
/// nothing of the server's bytes reaches the client.
#[tokio::test]
async fn malformed_answers_are_502() {
    let huge: &'static [u8] = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
        "x".repeat(70 * 1024)
    )
    .leak()
    .as_bytes();
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Field\r\n\r\n",
        huge,
    ] {
        let proxy = proxy_to(answering(answer).await).await;
        let got = get(proxy.web, "/app", &[]).await;
        assert_eq!(
            got.status,
            502,
            "{}",
            String::from_utf8_lossy(&answer[..40])
        );
        assert!(!got.text().contains("abc"));
        proxy.stop().await;
    }
}
/// A chunked answer whose coding breaks midway ends the client's answer short, rather than
/// passing the server's bytes on as if they were body.
#[tokio::test]
async fn a_broken_chunked_answer_is_cut_short() {
    let server =
        answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n").await;
    let proxy = proxy_to(server).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        raw(proxy.web, b"GET /app HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    )
    .await
    .expect("the connection ends");
    assert_eq!(raw_status(&answer), 200);
    assert!(!answer.contains("ZZ"), "{answer}");
    assert!(
        !answer.ends_with("0\r\n\r\n"),
        "a cut answer must not look complete: {answer}"
    );
    proxy.stop().await;
}
