//! Every phase of a client connection has a deadline: before the first byte, a partial
//! HTTP/2 preface, a head sent a byte at a time, idle keep-alive on HTTP/1.1 and HTTP/2, and an
//! answer left unread. The small listener's limits are 1 s each.

use std::time::{Duration, Instant};

use edge_runtime::http::Request;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use edge_testkit::*;

/// Reads until the proxy closes `stream`; how long that took. Panics if it stays open for
/// [`PATIENCE`].
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut sink = vec![0; 64 * 1024];
    let closing = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, closing)
        .await
        .expect("the proxy closes the connection");
    started.elapsed()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut silent = TcpStream::connect(proxy.small).await.unwrap();
    let took = closed_after(&mut silent).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_partial_http2_preface_is_closed() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut partial = TcpStream::connect(proxy.small).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    closed_after(&mut partial).await;
    proxy.stop().await;
}

/// A second head sent a byte at a time on a kept-alive connection is cut off too.
#[tokio::test]
async fn a_later_head_sent_a_byte_at_a_time_is_cut_off() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut stream = TcpStream::connect(proxy.small).await.unwrap();
    stream
        .write_all(b"GET /app HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0; 4096];
    let n = stream.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    let trickle = async {
        for byte in b"GET /app HTTP/1.1\r\nHost: a\r\nX-Slow: ".iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(PATIENCE, trickle)
        .await
        .expect("the proxy cuts the slow head off");
    assert!(started.elapsed() < Duration::from_secs(4));
    proxy.stop().await;
}

#[tokio::test]
async fn an_idle_http1_connection_is_closed_after_its_keep_alive_timeout() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut stream = TcpStream::connect(proxy.small).await.unwrap();
    stream
        .write_all(b"GET /app HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let took = closed_after(&mut stream).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    proxy.stop().await;
}

/// An HTTP/2 connection without an open stream is told to go away (GOAWAY) and closed.
#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let stream = TcpStream::connect(proxy.small).await.unwrap();
    let (sender, connection) = h2::client::handshake(stream).await.unwrap();
    let connection = tokio::spawn(connection);
    let mut sender = sender.ready().await.unwrap();
    let req = Request::get("http://a/app").body(()).unwrap();
    let (response, _) = sender.send_request(req, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, connection)
        .await
        .expect("the proxy closes the idle HTTP/2 connection")
        .unwrap()
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(900));
    drop(sender);
    proxy.stop().await;
}

/// A client that requests a large answer and never reads it is disconnected after the send
/// timeout, instead of holding the answer, its upstream connection and a connection slot.
#[tokio::test]
async fn an_answer_left_unread_is_cut_off_after_the_send_timeout() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(proxy.small).await.unwrap();
    stream
        .write_all(b"GET /app/download HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = 0;
    let mut buf = vec![0; 64 * 1024];
    let reading = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("the connection was closed");
    assert!(
        received < FIVE_MB,
        "{received} bytes arrived: never cut off"
    );
    proxy.stop().await;
}
