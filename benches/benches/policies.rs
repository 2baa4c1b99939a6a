//! What a policy adds to each request, nanoseconds per request that passes: the request step
//! (`Policy::request`) of `jwt`, `rate_limit` and `validate`, called through the runtime's
//! public API as generated code calls it. These run on every request of a route that uses
//! them, before the route's action, so their cost adds directly to the proxy's.
//!
//! - `jwt/verify`: a valid token signed with HS256, RS256 (2048-bit) and ES256 (P-256), each
//!   verified by the key its `kid` names in one JWK set, with issuer, audience, `exp` and a
//!   forwarded claim checked as a typical config does. Keys are generated at start-up.
//!   `hs256_traced_unrecorded`: the HS256 step wrapped in `Traced`, as a config with `tracing`
//!   builds each policy, for a request that is not recorded (what an unsampled request pays).
//! - `rate_limit`: one hot key (the same client IP on every request, a rate no request
//!   reaches), and 1,000,000 client IPs in turn at 10 requests per second each, with
//!   `max_keys` 1,000,000 (all kept) and 100,000 (new keys evict old ones); both algorithms.
//!   The table is filled before measuring.
//! - `stored_rate_limit`: the same limit kept in a real Redis (`redis-server`, started by the
//!   bench on loopback) against kept in the process, awaited on a single-threaded runtime: a
//!   hot key (one round trip takes 32 requests) and a key asked about on every request.
//! - `validate`: a 200-byte JSON payment body checked against a small JSON Schema, and the
//!   method and content type only.
//! - `ext_auth`: a check asked of an authorisation service on loopback (a hyper server of the
//!   test kit allowing every request), awaited on a single-threaded runtime, and the same check
//!   answered from the policy's kept answers (`cache 60s by header("authorization")`).
//!
//! Each request is built before its measured call and dropped after it; every request is
//! checked to pass first, so a policy that refuses fails instead of reporting.

use std::{
    future::Future,
    hint::black_box,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use criterion::{
    criterion_group, criterion_main, measurement::WallTime, BatchSize, BenchmarkGroup, Criterion,
};
use edge_runtime::{
    http::{header, HeaderName, Method},
    Cx, ExtAuth, ExtAuthSpec, ForwardClaim, Jwt, JwtKeys, JwtSpec, LimitAlgorithm, LimitKey,
    OnStoreError, Policy, Pool, Process, Rate, RateLimit, RateLimitSpec, Request, RequestBody,
    RoundRobin, StorePassword, StoreServers, StoreSpec, Stores, Traced, Validate, ValidateSpec,
};
use edge_testkit::RedisServer;
use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use serde_json::json;

/// The client of every request but the rate limit's distinct keys.
const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 50_000);
const HOST: &str = "api.example.com";

/// Runs a request step to its end. Every step benched here answers without waiting (keys,
/// tables and bodies are in memory), so one poll with a no-op waker finishes it. A tokio
/// runtime's `block_on` would add its own cost, about as much as a whole rate limit step.
/// The context of a request from `client` to [`HOST`] on a plain-HTTP listener, as the
/// runtime builds it for each request it admits.
fn cx(client: SocketAddr) -> Cx {
    Cx::outside_connection("bench", client, HOST, false).expect("a valid host")
}

fn now_or_never<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a policy's request step waited"),
    }
}

/// A group with short runs: a second is thousands of the slowest steps (RS256, ES256) and
/// keeps `--quick`, which stops at the measurement time, short.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    group
}

/// Checks that the request `next` gives passes `policy`, then measures one request step per
/// iteration; building the request and dropping it and the outcome are not measured.
fn measure<P: Policy>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    policy: &P,
    mut next: impl FnMut() -> (Request, Cx),
) {
    let (mut req, cx) = next();
    if let Err(response) = now_or_never(policy.request(&mut req, &cx)) {
        panic!("{name}: refused with {}", response.status());
    }
    group.bench_function(name, |b| {
        b.iter_batched(
            &mut next,
            |(mut req, cx)| {
                let outcome = now_or_never(policy.request(black_box(&mut req), &cx));
                (outcome, req, cx)
            },
            BatchSize::SmallInput,
        )
    });
}

/// Measures one request step per iteration, awaited on `runtime` (a step that waits on the
/// network), each request checked to pass; building the request and dropping it and the
/// outcome are not measured.
fn measure_awaited<P: Policy>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    policy: &P,
    mut next: impl FnMut() -> (Request, Cx),
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            &mut next,
            |(mut req, cx)| {
                let outcome = runtime.block_on(policy.request(black_box(&mut req), &cx));
                assert!(outcome.is_ok(), "refused");
                (outcome, req, cx)
            },
            BatchSize::SmallInput,
        )
    });
}

/// The start of a request to [`HOST`].
fn http_request(method: Method, path: &str) -> edge_runtime::http::request::Builder {
    edge_runtime::http::Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
}

/// The path of `name` in `dir`, written with `content`, leaked for a `'static` spec.
fn write(dir: &Path, name: &str, content: &str) -> &'static str {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("the temporary directory is writable");
    Box::leak(path.to_str().expect("a UTF-8 path").into())
}

// ---- jwt ----

const ISSUER: &str = "https://issuer.example";
const SECRET: &[u8] = b"a shared secret of 32 bytes long";

static FORWARD: [ForwardClaim; 1] = [ForwardClaim {
    claim: "sub",
    header: HeaderName::from_static("x-user"),
}];

/// One signing key: its algorithm, `kid` and private key.
struct Signer {
    name: &'static str,
    algorithm: Algorithm,
    kid: &'static str,
    key: EncodingKey,
}

impl Signer {
    fn generated(
        name: &'static str,
        algorithm: Algorithm,
        kid: &'static str,
        pair: &'static rcgen::SignatureAlgorithm,
    ) -> Signer {
        let pem = KeyPair::generate_for(pair)
            .expect("rcgen generates the key")
            .serialize_pem();
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            _ => EncodingKey::from_ec_pem(pem.as_bytes()),
        }
        .expect("a PKCS#8 private key");
        Signer {
            name,
            algorithm,
            kid,
            key,
        }
    }

    /// The key as a JWK named by `kid`: the public half, or the HMAC secret.
    fn jwk(&self) -> serde_json::Value {
        let mut jwk = serde_json::to_value(
            Jwk::from_encoding_key(&self.key, self.algorithm).expect("a JWK of the key"),
        )
        .unwrap();
        jwk["kid"] = self.kid.into();
        jwk
    }

    /// A token that passes the policy for an hour.
    fn token(&self) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.into());
        let claims = json!({
            "sub": "alice",
            "iss": ISSUER,
            "aud": "orders",
            "exp": jsonwebtoken::get_current_timestamp() + 3600,
            "scope": "orders:read orders:write",
        });
        jsonwebtoken::encode(&header, &claims, &self.key).expect("the token is signed")
    }
}

fn jwt(c: &mut Criterion) {
    let signers = [
        Signer {
            name: "hs256",
            algorithm: Algorithm::HS256,
            kid: "hmac",
            key: EncodingKey::from_secret(SECRET),
        },
        Signer::generated("rs256", Algorithm::RS256, "rsa", &PKCS_RSA_SHA256),
        Signer::generated("es256", Algorithm::ES256, "p256", &PKCS_ECDSA_P256_SHA256),
    ];
    let keys: Vec<serde_json::Value> = signers.iter().map(Signer::jwk).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let jwks = write(
        dir.path(),
        "jwks.json",
        &json!({ "keys": keys }).to_string(),
    );
    let policy = Jwt::load(
        Box::leak(Box::new(JwtSpec {
            name: "auth",
            keys: JwtKeys::Jwks(jwks),
            algorithms: &[],
            issuers: &[ISSUER],
            audiences: &["orders"],
            leeway: Duration::from_secs(30),
            required: &["exp", "sub"],
            forward: &FORWARD,
        })),
        Process::new().key_sets(),
    )
    .expect("the JWK set loads");

    let mut group = group(c, "jwt/verify");
    for signer in &signers {
        let authorization = format!("Bearer {}", signer.token());
        let request = || {
            let req = http_request(Method::GET, "/orders")
                .header(header::AUTHORIZATION, authorization.as_str())
                .body(RequestBody::full(Bytes::new()))
                .unwrap();
            (req, cx(CLIENT))
        };
        measure(&mut group, signer.name, &policy, request);
        if signer.name == "hs256" {
            // As a config with `tracing` builds it, for a request that is not recorded.
            let traced = Traced::new(&policy, "auth", "jwt");
            measure(&mut group, "hs256_traced_unrecorded", &traced, request);
        }
    }
    group.finish();
}

// ---- rate_limit ----

/// Distinct clients of the many-keys cases.
const DISTINCT: u32 = 1_000_000;

fn limiter(algorithm: LimitAlgorithm, rate: Rate, burst: u32, max_keys: u32) -> RateLimit {
    stored_limiter(algorithm, rate, burst, max_keys, None)
}

/// A limit kept in `store` when given, in the process else.
fn stored_limiter(
    algorithm: LimitAlgorithm,
    rate: Rate,
    burst: u32,
    max_keys: u32,
    store: Option<&'static StoreSpec>,
) -> RateLimit {
    let spec = Box::leak(Box::new(RateLimitSpec {
        name: "limit",
        key: LimitKey::ClientIp,
        rate,
        burst,
        algorithm,
        max_keys,
        ipv6_prefix: RateLimitSpec::IPV6_PREFIX,
        store,
        on_store_error: OnStoreError::Deny,
    }));
    RateLimit::load(spec, "limit", &Stores::default()).expect("the limit loads")
}

/// A request from `client`.
fn from(client: SocketAddr) -> (Request, Cx) {
    let req = http_request(Method::GET, "/orders")
        .body(RequestBody::full(Bytes::new()))
        .unwrap();
    (req, cx(client))
}

/// The clients `10.0.0.0` onwards, [`DISTINCT`] of them in turn.
fn clients() -> impl FnMut() -> SocketAddr {
    let mut next = 0;
    move || {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + next);
        next = (next + 1) % DISTINCT;
        SocketAddr::new(ip.into(), 50_000)
    }
}

fn rate_limit(c: &mut Criterion) {
    let mut group = group(c, "rate_limit");
    for (algorithm, name) in [
        (LimitAlgorithm::TokenBucket, "token_bucket"),
        (LimitAlgorithm::Gcra, "gcra"),
    ] {
        // A billion a second: one client never runs out.
        let unlimited = Rate {
            count: 1_000_000_000,
            per: Duration::from_secs(1),
        };
        let hot = limiter(algorithm, unlimited, 1_000_000, 100_000);
        measure(&mut group, &format!("{name}/hot_key"), &hot, || {
            from(CLIENT)
        });

        // Ten a second, as a config would say: a client seen again after a pass over all of
        // them has its whole burst back, so every request passes.
        let ten = Rate {
            count: 10,
            per: Duration::from_secs(1),
        };
        for (max_keys, keys) in [(1_000_000, "1m_keys_max_1m"), (100_000, "1m_keys_max_100k")] {
            let policy = limiter(algorithm, ten, 10, max_keys);
            let mut client = clients();
            // One pass over every client fills the table (and with 100,000 keys, evicts).
            for _ in 0..DISTINCT {
                let (mut req, cx) = from(client());
                assert!(now_or_never(policy.request(&mut req, &cx)).is_ok());
            }
            let case = format!("{name}/{keys}");
            measure(&mut group, &case, &policy, || from(client()));
        }
    }
    group.finish();
}

/// A limit kept in a real Redis (started here, on loopback) against the same limit kept in
/// the process, both awaited on a single-threaded runtime as a worker awaits them: a hot key
/// (a billion a second, a burst of a million: a round trip takes 32 requests at once), and a
/// key asked about on every request (a burst of 19: batches of one).
fn stored_rate_limit(c: &mut Criterion) {
    let redis = RedisServer::start();
    let store: &'static StoreSpec = Box::leak(Box::new(StoreSpec {
        name: "shared",
        servers: StoreServers::Single(Box::leak(redis.url().into_boxed_str())),
        password: StorePassword::None,
        timeout: Duration::from_millis(100),
        prefix: "edge:bench:",
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let unlimited = Rate {
        count: 1_000_000_000,
        per: Duration::from_secs(1),
    };
    let mut group = group(c, "stored_rate_limit");
    for (case, burst, store) in [
        ("local/hot_key", 1_000_000, None),
        ("redis/hot_key", 1_000_000, Some(store)),
        ("redis/every_request", 19, Some(store)),
    ] {
        let policy = stored_limiter(LimitAlgorithm::Gcra, unlimited, burst, 100_000, store);
        measure_awaited(&mut group, case, &runtime, &policy, || from(CLIENT));
    }
    group.finish();
}

// ---- validate ----

const SCHEMA: &str =
    r#"{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}"#;

/// A payment of 200 bytes.
fn payment() -> Bytes {
    let mut body = json!({
        "amount": 129.95,
        "currency": "EUR",
        "reference": "INV-2026-000417",
        "customer": "cus_8f3a91c2",
        "description": "Order 41773: 3 items",
        "note": "",
    })
    .to_string();
    let short = 200 - body.len();
    body.insert_str(body.len() - 2, &"x".repeat(short));
    assert_eq!(body.len(), 200);
    Bytes::from(body)
}

fn validate(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let schema = write(dir.path(), "payment.json", SCHEMA);
    let spec = |json_schema| ValidateSpec {
        name: "payment",
        methods: &[Method::POST],
        required_headers: &[],
        content_types: &["application/json"],
        max_body: Some(64 * 1024),
        json_schema,
    };
    let body = payment();
    let post = || {
        let req = http_request(Method::POST, "/payments")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(RequestBody::full(body.clone()))
            .unwrap();
        (req, cx(CLIENT))
    };

    let mut group = group(c, "validate");
    let with_schema =
        Validate::load(Box::leak(Box::new(spec(Some(schema))))).expect("the schema loads");
    measure(&mut group, "json_schema_200b", &with_schema, post);
    let head_only = Validate::load(Box::leak(Box::new(spec(None)))).unwrap();
    measure(&mut group, "method_content_type", &head_only, post);
    group.finish();
}

// ---- ext_auth ----

fn ext_auth_spec(cache: Option<edge_runtime::AnswerCache>) -> &'static ExtAuthSpec {
    static FORWARD: [HeaderName; 2] = [header::AUTHORIZATION, header::COOKIE];
    static COPY: [HeaderName; 1] = [HeaderName::from_static("x-user-id")];
    Box::leak(Box::new(ExtAuthSpec {
        name: "check",
        path: "/check",
        forward_headers: &FORWARD,
        copy_headers: &COPY,
        timeout: Duration::from_secs(1),
        fail_open: false,
        cache,
    }))
}

fn ext_auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let service = runtime.block_on(edge_testkit::Backend::start("auth"));
    let _entered = runtime.enter();
    let process = Process::new();
    let pool = Arc::new(Pool::new(
        edge_testkit::pool(&[service.addr], edge_runtime::UpstreamTimeouts::DEFAULT),
        RoundRobin::default(),
        process.pools(),
    ));
    let kept = edge_runtime::AnswerCache {
        ttl: Duration::from_secs(60),
        key: edge_runtime::AnswerKey::Header(header::AUTHORIZATION),
        max_size: 4 << 20,
    };
    let request = || {
        let req = http_request(Method::GET, "/orders/7")
            .header(header::AUTHORIZATION, "Bearer a-token-of-some-length")
            .body(RequestBody::full(Bytes::new()))
            .expect("a valid request");
        (req, cx(CLIENT))
    };
    let mut group = group(c, "ext_auth");
    for (case, cache) in [("asked", None), ("kept", Some(kept))] {
        let policy = ExtAuth::new(ext_auth_spec(cache), Arc::clone(&pool));
        measure_awaited(&mut group, case, &runtime, &policy, request);
    }
    group.finish();
}

criterion_group!(
    benches,
    jwt,
    rate_limit,
    stored_rate_limit,
    validate,
    ext_auth
);
criterion_main!(benches);
