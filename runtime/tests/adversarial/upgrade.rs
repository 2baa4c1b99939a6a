//! Upgrades: only WebSockets are tunnelled past routing and policies; `h2c` and anything else
//! go as plain requests, without their `Upgrade`.

use crate::support::*;

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
