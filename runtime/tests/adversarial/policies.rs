//! Policies under attack: the cache (authorized answers, `GET` with a body, absurd freshness
//! values), `basic_auth` (a flood of wrong passwords) and `ext_auth` (kept answers under keys
//! the client makes large). The gateways here chain real policies as generated code does.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use bytes::Bytes;
use edge_runtime::{
    http::{Request, Response},
    respond, AnswerCache, AnswerKey, BasicAuth, BasicAuthSpec, Cache, CacheKey, CacheSpec, Cx,
    ExtAuth, ExtAuthSpec, Gateway, Policy, Pool, Process, RoundRobin, Server, UpstreamTimeouts,
};
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;

use edge_testkit::*;

/// What a request for `/shared/...`, `/private/...` or `/authorized/...` passes through.
struct Chained {
    auth: BasicAuth,
    cache: Cache,
    authorized_cache: Cache,
    pool: Pool<RoundRobin>,
}

impl Chained {
    /// `use auth, CACHE` then forward, as a generated route arm does.
    async fn through(
        &self,
        cache: &Cache,
        mut req: edge_runtime::Request,
        cx: &Cx,
    ) -> edge_runtime::Response {
        if let Err(response) = self.auth.request(&mut req, cx).await {
            return response;
        }
        let ticket = match cache.request(&mut req, cx).await {
            Ok(ticket) => ticket,
            Err(mut response) => {
                self.auth.response((), &mut response);
                return response;
            }
        };
        let mut response = self.pool.forward(req, cx).await;
        cache.response(ticket, &mut response);
        self.auth.response((), &mut response);
        response
    }
}

impl Gateway for Chained {
    type Listener = Listener;

    async fn handle(
        &self,
        _: Listener,
        mut req: edge_runtime::Request,
        cx: &Cx,
    ) -> edge_runtime::Response {
        let path = req.uri().path().to_owned();
        if path.starts_with("/private/") {
            self.through(&self.cache, req, cx).await
        } else if path.starts_with("/authorized/") {
            self.through(&self.authorized_cache, req, cx).await
        } else if path == "/login" {
            match self.auth.request(&mut req, cx).await {
                Ok(()) => respond(200, "in\n"),
                Err(response) => response,
            }
        } else {
            let ticket = match self.cache.request(&mut req, cx).await {
                Ok(ticket) => ticket,
                Err(response) => return response,
            };
            let mut response = self.pool.forward(req, cx).await;
            self.cache.response(ticket, &mut response);
            response
        }
    }
}

fn cache_spec(name: &'static str, cache_authorized: bool) -> &'static CacheSpec {
    Box::leak(Box::new(CacheSpec {
        name,
        max_size: 1 << 20,
        max_object: 1 << 16,
        key: CacheKey {
            host: true,
            path: true,
            query: true,
            headers: &[],
        },
        default_ttl: None,
        stale_while_revalidate: None,
        stale_if_error: None,
        cache_authorized,
    }))
}

/// Users `alice` and `bob`, password `secret`, hashed at a low cost.
fn htpasswd() -> &'static str {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join("htpasswd");
    let hash = bcrypt::hash("secret", 8).unwrap();
    std::fs::write(&path, format!("alice:{hash}\nbob:{hash}\n")).unwrap();
    Box::leak(path.to_str().unwrap().to_owned().into_boxed_str())
}

/// The origin: answers by path, and counts what reaches it.
struct Origin {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

async fn origin() -> Origin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    let user = req
                        .headers()
                        .get("x-user")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let path = req.uri().path().to_owned();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let builder = Response::builder();
                    let response = match path.as_str() {
                        // A per-user page its server wrongly marks public.
                        "/private/me" | "/authorized/me" => builder
                            .header("cache-control", "public, max-age=60")
                            .body(Full::new(Bytes::from(format!("hello {user}")))),
                        "/echo" => builder
                            .header("cache-control", "max-age=60")
                            .body(Full::new(Bytes::from(format!(
                                "body={}",
                                String::from_utf8_lossy(&body)
                            )))),
                        "/huge" => builder
                            .header("cache-control", "max-age=18446744073709551615")
                            .header("age", "18446744073709551615")
                            .body(Full::new(Bytes::from_static(b"huge"))),
                        _ => builder.body(Full::new(Bytes::from_static(b"other"))),
                    };
                    Ok::<_, Infallible>(response.unwrap())
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    Origin { addr, requests }
}

struct Running {
    web: SocketAddr,
    stop: oneshot::Sender<()>,
}

async fn start(origin: &Origin) -> Running {
    let auth = BasicAuth::load(Box::leak(Box::new(BasicAuthSpec {
        name: "users",
        htpasswd: htpasswd(),
        realm: "edge",
        consumer_header: Some(edge_runtime::http::HeaderName::from_static("x-user")),
    })))
    .unwrap();
    let process = Process::new();
    let gateway = Chained {
        auth,
        cache: Cache::new(cache_spec("pages", false), process.caches()),
        authorized_cache: Cache::new(cache_spec("per_user", true), process.caches()),
        pool: Pool::new(
            pool(&[origin.addr], UpstreamTimeouts::DEFAULT),
            RoundRobin::default(),
            process.pools(),
        ),
    };
    let server = Server::bind(&process, LISTENERS, gateway).await.unwrap();
    let web = server.local_addrs().next().unwrap().1;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    Running { web, stop }
}

fn basic(user: &str, password: &str) -> String {
    use std::fmt::Write;
    let raw = format!("{user}:{password}");
    // Standard base64, enough for these short ASCII credentials.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("Basic ");
    for chunk in raw.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        for _ in chunk.len()..3 {
            let _ = write!(out, "=");
        }
    }
    out
}

/// An answer to a request that `basic_auth` authenticated (and whose `Authorization` it then
/// removed) is not stored for the next user, even when its server marks it public.
#[tokio::test]
async fn an_authenticated_answer_is_not_served_to_another_user() {
    let origin = origin().await;
    let proxy = start(&origin).await;
    for user in ["alice", "bob", "alice"] {
        let got = get(
            proxy.web,
            "/private/me",
            &[("authorization", &basic(user, "secret"))],
        )
        .await;
        assert_eq!(got.text(), format!("hello {user}"));
        assert_eq!(got.headers["x-cache"], "BYPASS");
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), 3);
    let _ = proxy.stop.send(());
}

/// With `cache_authorized`, who asked is part of the key: each user gets their own answer, and
/// their own again from the cache.
#[tokio::test]
async fn cache_authorized_keys_answers_by_consumer() {
    let origin = origin().await;
    let proxy = start(&origin).await;
    for (user, cached) in [
        ("alice", "MISS"),
        ("bob", "MISS"),
        ("alice", "HIT"),
        ("bob", "HIT"),
    ] {
        let got = get(
            proxy.web,
            "/authorized/me",
            &[("authorization", &basic(user, "secret"))],
        )
        .await;
        assert_eq!(got.text(), format!("hello {user}"));
        assert_eq!(got.headers["x-cache"], cached, "{user}");
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), 2);
    let _ = proxy.stop.send(());
}

/// A `GET` with a body is not answered from, nor stored in, the cache: its answer may depend
/// on the body, which the key does not hold.
#[tokio::test]
async fn a_get_with_a_body_bypasses_the_cache() {
    let origin = origin().await;
    let proxy = start(&origin).await;
    let answer = raw(
        proxy.web,
        b"GET /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nConnection: close\r\n\r\nevil",
    )
    .await;
    assert!(answer.ends_with("body=evil"), "{answer}");
    assert!(answer.contains("x-cache: BYPASS"), "{answer}");
    let got = get(proxy.web, "/echo", &[]).await;
    assert_eq!(got.text(), "body=");
    assert_eq!(got.headers["x-cache"], "MISS");
    assert_eq!(get(proxy.web, "/echo", &[]).await.headers["x-cache"], "HIT");
    let _ = proxy.stop.send(());
}

/// `max-age` and `Age` near `u64::MAX` are clamped (RFC 9111 §1.2.2), not summed into a
/// panic on every later lookup.
#[tokio::test]
async fn absurd_freshness_values_do_not_break_the_cache() {
    let origin = origin().await;
    let proxy = start(&origin).await;
    for _ in 0..3 {
        let got = get(proxy.web, "/huge", &[]).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.text(), "huge");
    }
    let _ = proxy.stop.send(());
}

/// A flood of wrong passwords runs at most half the cores' worth of bcrypt at once; the rest
/// are refused at once with 503 and `Retry-After`, and a right password still gets in.
#[tokio::test]
async fn a_flood_of_wrong_passwords_is_capped() {
    let origin = origin().await;
    let proxy = start(&origin).await;
    let wrong = basic("alice", "guess");
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let wrong = wrong.clone();
            let web = proxy.web;
            tokio::spawn(async move { get(web, "/login", &[("authorization", &wrong)]).await })
        })
        .collect();
    let (mut busy, mut refused) = (0, 0);
    for answer in flood {
        let got = answer.await.unwrap();
        match got.status.as_u16() {
            503 => {
                assert_eq!(got.headers["retry-after"], "1");
                busy += 1;
            }
            401 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no check was refused: {refused} ran");
    assert!(refused > 0);
    let right = get(
        proxy.web,
        "/login",
        &[("authorization", &basic("bob", "secret"))],
    )
    .await;
    assert_eq!(right.status, 200);
    let _ = proxy.stop.send(());
}

/// A route that asks an authorisation service, then answers.
struct Asking(Arc<ExtAuth<RoundRobin>>);

impl Gateway for Asking {
    type Listener = Listener;

    async fn handle(
        &self,
        _: Listener,
        mut req: edge_runtime::Request,
        cx: &Cx,
    ) -> edge_runtime::Response {
        match self.0.request(&mut req, cx).await {
            Ok(()) => {
                let user = req.headers().get("x-user-id").cloned();
                let mut answer = respond(200, "in\n");
                if let Some(user) = user {
                    answer.headers_mut().insert("x-user-id", user);
                }
                answer
            }
            Err(answer) => answer,
        }
    }
}

/// An authorisation service that allows everyone, naming the user, and counts its checks.
async fn authorisation_service(checks: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let checks = Arc::clone(&checks);
            let service = hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                checks.fetch_add(1, Ordering::SeqCst);
                let answer = Response::builder()
                    .header("x-user-id", "alice")
                    .body(Full::new(Bytes::new()));
                async move { Ok::<_, Infallible>(answer.unwrap()) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

/// A client sending a fresh 4 KiB `Authorization` with each request cannot make a policy that
/// keeps answers by it hold more than its `max_size`: a thousand such keys would be 4 MiB, the
/// policy keeps 256 KiB of them, and every request is still decided.
#[tokio::test]
async fn kept_authorisation_answers_stay_within_their_bytes() {
    const MAX_SIZE: u64 = 256 << 10;
    static COPY: [edge_runtime::http::HeaderName; 1] =
        [edge_runtime::http::HeaderName::from_static("x-user-id")];
    let checks = Arc::new(AtomicUsize::new(0));
    let service = authorisation_service(Arc::clone(&checks)).await;
    let process = Process::new();
    let spec = Box::leak(Box::new(ExtAuthSpec {
        name: "check",
        path: "/check",
        forward_headers: &[edge_runtime::http::header::AUTHORIZATION],
        copy_headers: &COPY,
        timeout: std::time::Duration::from_secs(5),
        fail_open: false,
        cache: Some(AnswerCache {
            ttl: std::time::Duration::from_secs(60),
            key: AnswerKey::Header(edge_runtime::http::header::AUTHORIZATION),
            max_size: MAX_SIZE,
        }),
    }));
    let pool = Arc::new(Pool::new(
        pool(&[service], UpstreamTimeouts::DEFAULT),
        RoundRobin::default(),
        process.pools(),
    ));
    let policy = Arc::new(ExtAuth::new(spec, pool));
    let server = Server::bind(&process, LISTENERS, Asking(Arc::clone(&policy)))
        .await
        .unwrap();
    let web = server.local_addrs().next().unwrap().1;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    let mut client = Client::connect(web).await;
    let padding = "t".repeat(4096);
    for i in 0..1_000 {
        let token = format!("Bearer {i:06}{padding}");
        let got = client.get("/", &[("authorization", &token)]).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.headers["x-user-id"], "alice");
    }
    assert_eq!(checks.load(Ordering::SeqCst), 1_000);
    let kept = policy.kept_bytes();
    assert!(kept <= MAX_SIZE as usize, "{kept} bytes kept");
    assert!(kept > 0, "nothing kept");

    // A small key still finds room (a shard's 16 KiB hold three large keys and leave room for
    // a small one), and its answer is kept: asked once for two requests.
    let before = checks.load(Ordering::SeqCst);
    for _ in 0..2 {
        let got = client.get("/", &[("authorization", "Bearer small")]).await;
        assert_eq!(got.headers["x-user-id"], "alice");
    }
    assert_eq!(checks.load(Ordering::SeqCst), before + 1);
    assert!(policy.kept_bytes() <= MAX_SIZE as usize);
    let _ = stop.send(());
}
