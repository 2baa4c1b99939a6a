//! HTTP/2 floods: rapid reset (open a stream, cancel it, again and again) and CONTINUATION
//! frames that never end a header block. Each must close the abusive connection and leave
//! the proxy serving everyone else.

use std::time::Duration;

use edge_runtime::http::Request;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use edge_testkit::*;

/// Opens streams and cancels each at once: the proxy gives up on the connection (GOAWAY)
/// long before the thousandth, and what reached the backend is a fraction of it.
#[tokio::test]
async fn rapid_reset_closes_the_connection() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let stream = TcpStream::connect(proxy.web).await.unwrap();
    let (mut sender, connection) = h2::client::Builder::new()
        .max_concurrent_reset_streams(10_000)
        .handshake::<_, bytes::Bytes>(stream)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut opened = 0;
    for _ in 0..1000 {
        let Ok(ready) = sender.clone().ready().await else {
            break;
        };
        sender = ready;
        let req = Request::get("http://a/app/slow").body(()).unwrap();
        let Ok((_, mut stream)) = sender.send_request(req, false) else {
            break;
        };
        stream.send_reset(h2::Reason::CANCEL);
        opened += 1;
    }
    let ended = tokio::time::timeout(PATIENCE, connection).await;
    assert!(
        ended.is_ok(),
        "the connection stayed open after {opened} resets"
    );
    assert!(
        backend.count() < 1000,
        "{} requests reached the backend",
        backend.count()
    );
    assert_eq!(get(proxy.web, "/app", &[]).await.status, 200);
    proxy.stop().await;
}

/// An HTTP/2 frame: 24-bit length, type, flags, stream id.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HEADERS without END_HEADERS, then CONTINUATION frames without end: the header block
/// passes the listener's header limit after 64 KiB and the connection is closed, instead of
/// the proxy buffering whatever is sent.
#[tokio::test]
async fn a_continuation_flood_is_cut_off() {
    const HEADERS: u8 = 0x1;
    const CONTINUATION: u8 = 0x9;
    const SETTINGS: u8 = 0x4;
    const END_STREAM: u8 = 0x1;
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let mut stream = TcpStream::connect(proxy.web).await.unwrap();
    let mut start = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    start.extend(frame(SETTINGS, 0, 0, &[]));
    // :method GET, :scheme http, :path /, :authority a (HPACK).
    start.extend(frame(
        HEADERS,
        END_STREAM,
        1,
        &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'],
    ));
    stream.write_all(&start).await.unwrap();
    // Ten literal fields of 100 bytes a frame.
    let mut block = Vec::new();
    for _ in 0..10 {
        block.extend_from_slice(&[0x00, 0x03, b'x', b'-', b'a', 100]);
        block.extend_from_slice(&[b'a'; 100]);
    }
    let continuation = frame(CONTINUATION, 0, 1, &block);
    let flooding = async {
        let mut sent = 0;
        for _ in 0..10_000 {
            if stream.write_all(&continuation).await.is_err() {
                break;
            }
            sent += continuation.len();
        }
        sent
    };
    let sent = tokio::time::timeout(PATIENCE, flooding)
        .await
        .expect("the proxy neither closed nor read on");
    assert!(
        sent < 4 << 20,
        "{sent} bytes of one header block were taken"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");
    assert!(backend.seen().is_empty());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(get(proxy.web, "/app", &[]).await.status, 200);
    proxy.stop().await;
}
