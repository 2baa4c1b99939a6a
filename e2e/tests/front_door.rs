//! The reverse proxy's own work on answers, as a client sees it: compression negotiated from
//! `Accept-Encoding` (brotli that decodes to the original; small and binary answers untouched),
//! security headers added, the backend's `Server` header kept from the client, static files
//! served with validators and ranges, never from outside their folder, the proxy's own error
//! pages and `Via`.

use std::io::Read;

use bytes::Bytes;
use edge_e2e::build_and_start_with;
use edge_testkit::{Answer, EchoBackends, HttpClient};
use http_body_util::Full;

fn config(backends: &EchoBackends, closed: std::net::SocketAddr) -> String {
    format!(
        r#"
listener web {{
    bind 127.0.0.1:0
}}

via "edge"
error_page 502 "<h1>Back soon</h1>" html

pool app {{
    server {}
}}

pool gone {{
    server {closed}
}}

route down {{
    on web
    path /down
    forward gone
}}

policy squeeze = compress {{
    algorithms gzip br zstd
    min_size 1KiB
}}

policy hardened = security_headers {{
}}

route assets {{
    on web
    path /static
    use hardened
    serve dir "public"
}}

route api {{
    on web
    use squeeze, hardened
    forward app
}}
"#,
        backends.addrs[0]
    )
}

fn shaped(
    client: &HttpClient,
    base: &str,
    content_type: &str,
    size: usize,
    accept: &str,
) -> (Answer, Vec<u8>) {
    let req = hyper::Request::get(format!("{base}/data"))
        .header("accept-encoding", accept)
        .header("x-respond-type", content_type)
        .header("x-respond-size", size.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    client.send_bytes(req)
}

#[test]
fn answers_are_compressed_when_worth_it_and_carry_security_headers() {
    let backends = EchoBackends::start(1);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_dir, proxy) = build_and_start_with(
        "front",
        &config(&backends, closed),
        &[
            ("public/app.js", "console.log('edge');\n"),
            ("public/docs/index.html", "<h1>docs</h1>\n"),
            ("secret.txt", "not for clients\n"),
        ],
        1,
    );
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();

    let (json, body) = shaped(&client, &base, "application/json", 100 * 1024, "br");
    assert_eq!(json.status, 200);
    assert_eq!(json.headers["content-encoding"], "br");
    assert_eq!(json.headers["vary"], "accept-encoding");
    assert!(body.len() < 100 * 1024 / 4, "{} bytes", body.len());
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded.len(), 100 * 1024);
    assert!(decoded.starts_with(br#"{"id": 42"#));

    // The client's q-values decide; identity when it asks for nothing.
    let (gzip, _) = shaped(
        &client,
        &base,
        "application/json",
        4096,
        "gzip;q=1, br;q=0.5",
    );
    assert_eq!(gzip.headers["content-encoding"], "gzip");
    let (plain, body) = shaped(&client, &base, "application/json", 4096, "identity");
    assert!(!plain.headers.contains_key("content-encoding"));
    assert_eq!(body.len(), 4096);

    let (small, body) = shaped(&client, &base, "application/json", 100, "br");
    assert!(!small.headers.contains_key("content-encoding"));
    assert_eq!(body.len(), 100);
    let (image, body) = shaped(&client, &base, "image/png", 100 * 1024, "br, gzip");
    assert!(!image.headers.contains_key("content-encoding"));
    assert_eq!(body.len(), 100 * 1024);

    for answer in [&json, &small, &image] {
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert_eq!(answer.headers["x-frame-options"], "DENY");
        assert_eq!(
            answer.headers["referrer-policy"],
            "strict-origin-when-cross-origin"
        );
        assert!(answer.headers.contains_key("permissions-policy"));
        // HSTS is only for answers over TLS.
        assert!(!answer.headers.contains_key("strict-transport-security"));
        assert!(
            !answer.headers.contains_key("server"),
            "the backend's Server leaked"
        );
        assert!(!answer.headers.contains_key("x-powered-by"));
    }

    // Static files: content, type, validators, ranges; nothing outside the folder.
    let file = client.get(&format!("{base}/static/app.js"));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, "console.log('edge');\n");
    assert!(file.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(file.headers["x-content-type-options"], "nosniff");
    let etag = file.headers["etag"].clone();
    let again = client.send(
        hyper::Request::get(format!("{base}/static/app.js"))
            .header("if-none-match", etag)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    assert_eq!(again.status, 304);
    let part = client.send(
        hyper::Request::get(format!("{base}/static/app.js"))
            .header("range", "bytes=0-6")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, "console");
    assert_eq!(part.headers["content-range"], "bytes 0-6/21");
    assert_eq!(
        client.get(&format!("{base}/static/docs/")).body,
        "<h1>docs</h1>\n"
    );
    assert_eq!(client.get(&format!("{base}/static/docs")).status, 301);
    for escape in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/%2e%2e%2fsecret.txt",
    ] {
        let answer = client.get(&format!("{base}{escape}"));
        assert!(
            !answer.body.contains("not for clients"),
            "{escape} escaped the folder"
        );
    }

    // The proxy's own error answers get the configured page; every message carries `Via`.
    let down = client.get(&format!("{base}/down"));
    assert_eq!(down.status, 502);
    assert_eq!(down.body, "<h1>Back soon</h1>");
    assert!(down.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(down.headers["via"], "1.1 edge");
    assert_eq!(json.headers["via"], "1.1 edge");
    let seen = client.get(&format!("{base}/anything"));
    assert_eq!(seen.seen("header via"), ["1.1 edge"]);
}
