//! The reverse proxy's own work on answers, as a client sees it: compression negotiated from
//! `Accept-Encoding` (brotli that decodes to the original; small and binary answers untouched),
//! security headers added, and the backend's `Server` header kept from the client.

mod support;

use std::io::Read;

use bytes::Bytes;
use http_body_util::Full;
use support::{build_and_start, Answer, Backends, HttpClient};

fn config(backends: &Backends) -> String {
    format!(
        r#"
listener web {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
}}

policy squeeze = compress {{
    algorithms gzip br zstd
    min_size 1KiB
}}

policy hardened = security_headers {{
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
    let backends = Backends::start(1);
    let (_dir, proxy) = build_and_start("front", &config(&backends), 1);
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
}
