//! Upgrades: only WebSockets are tunnelled past routing and policies; `h2c` and anything else
//! go as plain requests, without their `Upgrade`.

use edge_testkit::*;

#[tokio::test]
async fn h2c_and_unknown_upgrades_are_not_tunnelled() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    for protocol in ["h2c", "websocket, h2c", "tls/1.2", "x-custom"] {
        let request = format!(
            "GET /app HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
             Upgrade: {protocol}\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
        );
        let answer = raw(proxy.web, request.as_bytes()).await;
        assert_eq!(raw_status(&answer), 200, "{protocol}: {answer}");
        let seen = backend.last();
        assert_eq!(seen.header("upgrade"), None, "{protocol}");
        assert_eq!(seen.header("http2-settings"), None, "{protocol}");
    }
    assert_eq!(backend.count(), 4);
    proxy.stop().await;
}

/// A server that answers `101` to a request that asked for no upgrade does not get the
/// client's connection: the client gets 502.
#[tokio::test]
async fn an_unasked_switch_is_a_bad_gateway() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0; 4096];
                let _ = tcp.read(&mut head).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n")
                    .await;
                let _ = tcp.read(&mut head).await;
            });
        }
    });
    let proxy = Proxy::start(pool(&[addr], edge_runtime::UpstreamTimeouts::DEFAULT)).await;
    let answer = raw(
        proxy.web,
        b"GET /app HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 502, "{answer}");
    proxy.stop().await;
}
