//! The API-gateway role as a user sees it: one proxy built by `edgec build` from a config with
//! JWT auth, a rate limit and request validation in front of three services on loopback.
//! Tokens are minted with jsonwebtoken, as an identity provider would; each refusal is checked
//! never to reach a backend.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use edge_e2e::build_and_start_with;
use edge_testkit::{Answer, EchoBackends, HttpClient};
use http_body_util::Full;
use jsonwebtoken::{encode, EncodingKey, Header};

/// The HS256 key of `JWKS`, as raw bytes.
const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

fn jwks() -> String {
    let k = base64_url(SECRET);
    format!(r#"{{"keys":[{{"kty":"oct","kid":"test-1","alg":"HS256","k":"{k}"}}]}}"#)
}

/// Unpadded base64url, as JWKS and JWS use.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const SCHEMA: &str = r#"{
    "type": "object",
    "required": ["amount"],
    "properties": { "amount": { "type": "number" } }
}"#;

fn config(backends: &EchoBackends) -> String {
    let [users, orders, payments] = [0, 1, 2].map(|i| backends.addrs[i]);
    format!(
        r#"
listener api {{
    bind 127.0.0.1:0
}}

policy auth = jwt {{
    jwks "jwks.json"
    issuer "https://auth.example.com"
    audience "photo-api"
    forward_claim sub "x-user-id"
}}

policy limit = rate_limit {{
    key client_ip
    rate 10/s
    burst 10
}}

policy payment_body = validate {{
    methods POST
    content_type "application/json"
    max_body 1KiB
    json_schema "payment.schema.json"
}}

pool users_service {{
    server {users}
}}

pool orders_service {{
    server {orders}
}}

pool payments_service {{
    server {payments}
}}

route users {{
    on api
    path /users
    use auth, limit
    forward users_service
}}

route orders {{
    on api
    path /orders
    use auth, limit
    forward orders_service
}}

route payments {{
    on api
    path /payments
    use auth, limit, payment_body
    forward payments_service
}}
"#
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(claims: serde_json::Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("test-1".to_owned());
    encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "sub": "alice",
        "iss": "https://auth.example.com",
        "aud": "photo-api",
        "exp": now() + 600,
    })
}

fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> hyper::Request<Full<Bytes>> {
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    req.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

/// Waits until the rate limit's bucket is full again.
fn refill() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_gateway_authenticates_limits_and_validates_before_any_service_sees_a_request() {
    let backends = EchoBackends::start(3);
    let (_dir, proxy) = build_and_start_with(
        "api",
        &config(&backends),
        &[("jwks.json", &jwks()), ("payment.schema.json", SCHEMA)],
        1,
    );
    let base = format!("http://{}", proxy.addr("api"));
    let client = HttpClient::new();
    let valid = token(claims());

    // 1. Refusals: 401 with a Bearer challenge, and nothing reaches a backend.
    let expired = token(with(claims(), "exp", (now() - 3600).into()));
    let wrong_audience = token(with(claims(), "aud", "other-api".into()));
    let mut bad_signature = valid.clone();
    bad_signature.replace_range(bad_signature.len() - 4.., "AAAA");
    let unsigned = format!(
        "{}.{}.",
        base64_url(br#"{"alg":"none","typ":"JWT"}"#),
        base64_url(claims().to_string().as_bytes())
    );
    for (case, token) in [
        ("no token", None),
        ("bad signature", Some(bad_signature.as_str())),
        ("expired", Some(expired.as_str())),
        ("wrong audience", Some(wrong_audience.as_str())),
        ("alg none", Some(unsigned.as_str())),
    ] {
        let answer = client.send(request("GET", &format!("{base}/users/1"), token, None, ""));
        assert_eq!(answer.status, 401, "{case}: {}", answer.body);
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
        assert!(
            answer.seen("backend").is_empty(),
            "{case} reached a backend"
        );
    }

    // A valid token reaches the right service, with the subject forwarded.
    refill();
    for (path, backend) in [("/users/1", "1"), ("/orders/7", "2")] {
        let answer = client.send(request(
            "GET",
            &format!("{base}{path}"),
            Some(&valid),
            None,
            "",
        ));
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(answer.seen("backend"), [backend], "{path}");
        assert_eq!(answer.seen("header x-user-id"), ["alice"], "{path}");
        assert!(answer.headers.contains_key("ratelimit-remaining"), "{path}");
    }
    let answer = client.send(request(
        "POST",
        &format!("{base}/payments"),
        Some(&valid),
        Some("application/json"),
        r#"{"amount": 5}"#,
    ));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.seen("backend"), ["3"]);
    assert_eq!(answer.seen("body-bytes"), ["13"]);

    // 3. Validation of payments.
    refill();
    let payments = format!("{base}/payments");
    let cases = [
        ("GET", Some("application/json"), "", 405),
        ("POST", Some("text/plain"), "amount=5", 415),
        ("POST", Some("application/json"), &"x".repeat(2048), 413),
        ("POST", Some("application/json"), r#"{"amount":"x"}"#, 400),
    ];
    for (method, content_type, body, status) in cases {
        let answer = client.send(request(method, &payments, Some(&valid), content_type, body));
        assert_eq!(
            answer.status, status,
            "{method} {content_type:?}: {}",
            answer.body
        );
        assert!(
            answer.seen("backend").is_empty(),
            "{status} reached a backend"
        );
        if status == 405 {
            assert_eq!(answer.headers["allow"], "POST");
        }
    }

    // 4. An unknown path is 404.
    let answer = client.send(request(
        "GET",
        &format!("{base}/nowhere"),
        Some(&valid),
        None,
        "",
    ));
    assert_eq!(answer.status, 404);

    // 2. 30 requests at once from one client: at most 12 pass, the rest get 429 with
    // Retry-After; a second later requests pass again.
    refill();
    let burst: Vec<_> = (0..30)
        .map(|_| request("GET", &format!("{base}/users/1"), Some(&valid), None, ""))
        .collect();
    let answers: Vec<Answer> = client
        .send_all(burst, 30)
        .into_iter()
        .map(|answer| answer.expect("an answer"))
        .collect();
    let passed = answers.iter().filter(|a| a.status == 200).count();
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert!((10..=12).contains(&passed), "{passed} passed");
    assert_eq!(passed + limited.len(), 30);
    for answer in limited {
        let retry_after: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
        assert!(answer.seen("backend").is_empty());
    }
    refill();
    let answer = client.send(request(
        "GET",
        &format!("{base}/users/1"),
        Some(&valid),
        None,
        "",
    ));
    assert_eq!(answer.status, 200);
}

fn with(mut claims: serde_json::Value, claim: &str, value: serde_json::Value) -> serde_json::Value {
    claims[claim] = value;
    claims
}
