//! The whole request path in process, over loopback: a hyper client, an `edge_runtime::Server`
//! with a hand-written gateway shaped like generated code (a direct `respond` route and a
//! `Pool::forward` route), and a hyper backend. Time per request over kept-alive connections
//! (HTTP/1.1, and HTTP/2 with prior knowledge), 1 KiB and 64 KiB bodies, with one request in
//! flight (`_c1`: latency, cross-thread wake-ups included) and sixteen (`_c16`: closer to the
//! cost per request under load); plus the client talking to the backend directly, the floor
//! the proxy adds to. `h1_forward_1k_guarded` goes through a pool with every circuit setting
//! on (`max_pending`, `max_requests`, `outlier`, caps never reached), beside the same pool
//! unguarded (`h1_forward_1k`). `h1_forward_1k_traced` goes through a second proxy that records
//! every request's spans (sampled at 100%: the request's and the exchange's) and exports them
//! over OTLP/HTTP to a receiver in the bench that takes and drops them; its exporter runs on a
//! thread of its own, beside the proxy's.
//!
//! Heap allocations are counted by a global allocator. Before each scenario is measured, its
//! allocations per request are printed twice: on the proxy's thread only (the proxy runs alone
//! on its own single-threaded runtime, like one worker of `edge_runtime::run`) and in the whole
//! process (client and backend included).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    convert::Infallible,
    hint::black_box,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use edge_runtime::{
    http::{Method, Request, Response},
    not_found, respond, Circuit, CircuitSpec, Cx, Gateway, ListenerLimits, ListenerMode,
    ListenerSpec, Outlier, Pool, Process, RoundRobin, Server, TracingSpec,
};
use edge_testkit::{leak, server, spec};
use http_body_util::{BodyExt, Empty, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

// ---- counting allocations ----

/// Counts every allocation (and reallocation) of the process, and separately those made on
/// threads marked with [`count_here`].
struct Counting;

static ALL_ALLOCS: AtomicU64 = AtomicU64::new(0);
static MARKED_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` and without a destructor, so reading it never allocates.
    static MARKED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    ALL_ALLOCS.fetch_add(1, Ordering::Relaxed);
    if MARKED.try_with(Cell::get).unwrap_or(false) {
        MARKED_ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to `System` unchanged; counting touches only atomics and a
// const thread-local, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts this thread's allocations in [`MARKED_ALLOCS`] from now on.
fn count_here() {
    MARKED.with(|marked| marked.set(true));
}

/// (marked threads, whole process) allocations so far.
fn allocations() -> (u64, u64) {
    (
        MARKED_ALLOCS.load(Ordering::Relaxed),
        ALL_ALLOCS.load(Ordering::Relaxed),
    )
}

// ---- the gateway, as `edgec` would generate it ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    Web,
}

static LISTENERS: &[(Listener, ListenerSpec)] = &[(
    Listener::Web,
    ListenerSpec {
        name: "web",
        bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        limits: ListenerLimits::DEFAULT,
        mode: ListenerMode::Http,
        tls: None,
    },
)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WebRoute {
    Direct,
    Guarded,
    All,
}

fn route_web(_method: &Method, _host: &str, path: &str) -> Option<WebRoute> {
    match path {
        "/direct" => Some(WebRoute::Direct),
        "/guarded/1k" => Some(WebRoute::Guarded),
        _ => Some(WebRoute::All),
    }
}

struct Edge {
    pool_app: Pool<RoundRobin>,
    pool_guarded: Pool<RoundRobin, Circuit>,
}

impl Gateway for Edge {
    type Listener = Listener;

    async fn handle(
        &self,
        listener: Listener,
        req: edge_runtime::Request,
        cx: &Cx,
    ) -> edge_runtime::Response {
        match listener {
            Listener::Web => match route_web(req.method(), cx.host(), req.uri().path()) {
                Some(WebRoute::Direct) => respond(200, "hello from edge\n"),
                Some(WebRoute::Guarded) => self.pool_guarded.forward(req, cx).await,
                Some(WebRoute::All) => self.pool_app.forward(req, cx).await,
                None => not_found(),
            },
        }
    }
}

/// The pool in front of `backend`. Generated code has its spec in a `static`; the backend's
/// port is only known at run time here, so the spec is leaked instead.
fn app_pool(process: &Process, backend: SocketAddr) -> Pool<RoundRobin> {
    let spec = leak(spec(vec![server(backend)]));
    Pool::new(spec, RoundRobin::default(), process.pools())
}

/// Every circuit setting on, with caps the bench never reaches.
static CIRCUIT: CircuitSpec = CircuitSpec {
    max_pending: 1_000,
    max_requests: 100_000,
    outlier: Some(Outlier {
        interval: Duration::from_secs(10),
        min_requests: 100,
        success_rate: 20,
        latency: 3,
        base_ejection_time: Duration::from_secs(30),
        max_ejection_time: Duration::from_secs(300),
        max_ejection_percent: 10,
    }),
};

/// [`app_pool`] guarded by [`CIRCUIT`].
fn guarded_pool(process: &Process, backend: SocketAddr) -> Pool<RoundRobin, Circuit> {
    let spec = leak(spec(vec![server(backend)]));
    Pool::guarded(
        spec,
        RoundRobin::default(),
        Circuit::new(&CIRCUIT),
        process.pools(),
    )
    .expect("a pool without TLS files")
}

// ---- backend and proxy, each on its own thread and single-threaded runtime ----

const KIB: usize = 1024;

/// An HTTP/1.1 backend answering `/1k` (or `/guarded/1k`) and `/64k` with that many bytes,
/// anything else with 404.
fn start_backend() -> SocketAddr {
    let small: &'static [u8] = Box::leak(vec![b'x'; KIB].into_boxed_slice());
    let large: &'static [u8] = Box::leak(vec![b'y'; 64 * KIB].into_boxed_slice());
    spawn_runtime_thread("backend", false, move || async move {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let service = service_fn(move |req: Request<Incoming>| async move {
                    let body = match req.uri().path() {
                        "/1k" | "/guarded/1k" => small,
                        "/64k" => large,
                        _ => {
                            let mut missing = Response::new(Full::new(Bytes::new()));
                            *missing.status_mut() = edge_runtime::http::StatusCode::NOT_FOUND;
                            return Ok::<_, Infallible>(missing);
                        }
                    };
                    Ok(Response::new(Full::new(Bytes::from_static(body))))
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        (addr, serve)
    })
}

/// An OTLP/HTTP receiver that reads each export and answers it with an empty success.
fn start_receiver() -> SocketAddr {
    spawn_runtime_thread("receiver", false, move || async move {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        (addr, serve)
    })
}

/// The proxy in front of `backend`, its allocations counted as the marked thread's; with
/// `tracing`, recording every request's spans.
fn start_proxy(backend: SocketAddr, tracing: Option<TracingSpec>) -> SocketAddr {
    spawn_runtime_thread("proxy", true, move || async move {
        let process = match tracing {
            Some(tracing) => Process::traced(tracing).expect("the span exporter starts"),
            None => Process::new(),
        };
        let server = Server::bind(
            &process,
            LISTENERS,
            Edge {
                pool_app: app_pool(&process, backend),
                pool_guarded: guarded_pool(&process, backend),
            },
        )
        .await
        .unwrap();
        let addr = server.local_addrs().next().unwrap().1;
        (addr, server.serve(std::future::pending()))
    })
}

/// Runs `start` on a new thread with its own current-thread runtime: it returns an address and
/// a future to drive for the rest of the process. Returns the address.
fn spawn_runtime_thread<S, F, Serve>(name: &str, counted: bool, start: S) -> SocketAddr
where
    S: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = (SocketAddr, Serve)>,
    Serve: std::future::Future<Output = ()>,
{
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if counted {
                count_here();
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (addr, serve) = start().await;
                tx.send(addr).unwrap();
                serve.await;
            });
        })
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the server thread starts")
}

// ---- the client ----

/// One kept-alive client connection.
enum Client {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    async fn connect(addr: SocketAddr, h2: bool) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let io = TokioIo::new(stream);
        if h2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(connection);
            Client::H2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(connection);
            Client::H1(sender)
        }
    }

    /// One GET; returns the status and the number of body bytes read.
    async fn get(&mut self, path: &'static str) -> (u16, usize) {
        let response = match self {
            Client::H1(sender) => {
                let req = Request::get(path)
                    .header("host", "bench.example")
                    .body(Empty::new())
                    .unwrap();
                sender.ready().await.unwrap();
                sender.send_request(req).await.unwrap()
            }
            Client::H2(sender) => {
                let req = Request::get(format!("http://bench.example{path}"))
                    .body(Empty::new())
                    .unwrap();
                sender.ready().await.unwrap();
                sender.send_request(req).await.unwrap()
            }
        };
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                len += data.len();
            }
        }
        (status, len)
    }
}

// ---- scenarios ----

struct Scenario {
    name: &'static str,
    /// Through the proxy, or straight to the backend.
    proxied: bool,
    /// Through the proxy that records spans.
    traced: bool,
    h2: bool,
    path: &'static str,
    /// The body length expected back.
    len: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "h1_direct_respond",
        proxied: true,
        traced: false,
        h2: false,
        path: "/direct",
        len: 16,
    },
    Scenario {
        name: "h1_forward_1k",
        proxied: true,
        traced: false,
        h2: false,
        path: "/1k",
        len: KIB,
    },
    Scenario {
        name: "h1_forward_1k_guarded",
        proxied: true,
        traced: false,
        h2: false,
        path: "/guarded/1k",
        len: KIB,
    },
    Scenario {
        name: "h1_forward_1k_traced",
        proxied: true,
        traced: true,
        h2: false,
        path: "/1k",
        len: KIB,
    },
    Scenario {
        name: "h1_forward_64k",
        proxied: true,
        traced: false,
        h2: false,
        path: "/64k",
        len: 64 * KIB,
    },
    Scenario {
        name: "h2_direct_respond",
        proxied: true,
        traced: false,
        h2: true,
        path: "/direct",
        len: 16,
    },
    Scenario {
        name: "h2_forward_1k",
        proxied: true,
        traced: false,
        h2: true,
        path: "/1k",
        len: KIB,
    },
    Scenario {
        name: "h2_forward_64k",
        proxied: true,
        traced: false,
        h2: true,
        path: "/64k",
        len: 64 * KIB,
    },
    Scenario {
        name: "h1_no_proxy_1k",
        proxied: false,
        traced: false,
        h2: false,
        path: "/1k",
        len: KIB,
    },
    Scenario {
        name: "h1_no_proxy_64k",
        proxied: false,
        traced: false,
        h2: false,
        path: "/64k",
        len: 64 * KIB,
    },
];

/// Requests sent before counting allocations, and counted.
const WARM_UP: u64 = 200;
const COUNTED: u64 = 2_000;

/// Requests in flight at once: one (latency, thread wake-ups included) and sixteen (closer to
/// the per-request cost under load; HTTP/1.1 on sixteen connections, HTTP/2 as sixteen
/// streams on one).
const CONCURRENCY: [usize; 2] = [1, 16];

/// Sends `total` requests for `path`, spread over `clients` running concurrently, and gives
/// the clients back.
async fn send_all(clients: Vec<Client>, path: &'static str, total: u64) -> Vec<Client> {
    let n = clients.len() as u64;
    let mut running = tokio::task::JoinSet::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let share = total / n + u64::from((i as u64) < total % n);
        running.spawn(async move {
            for _ in 0..share {
                black_box(client.get(black_box(path)).await);
            }
            (i, client)
        });
    }
    let mut back: Vec<(usize, Client)> = Vec::with_capacity(n as usize);
    while let Some(done) = running.join_next().await {
        back.push(done.expect("a client task ends normally"));
    }
    back.sort_by_key(|(i, _)| *i);
    back.into_iter().map(|(_, client)| client).collect()
}

fn request_path(c: &mut Criterion) {
    let backend = start_backend();
    let proxy = start_proxy(backend, None);
    let receiver: &'static str = Box::leak(format!("http://{}/v1/traces", start_receiver()).into());
    let traced = start_proxy(
        backend,
        Some(TracingSpec {
            otlp: receiver,
            sample: 10_000,
            service: "bench",
        }),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("request_path");
    for scenario in SCENARIOS {
        for concurrency in CONCURRENCY {
            let name = format!("{}_c{concurrency}", scenario.name);
            let target = match (scenario.proxied, scenario.traced) {
                (true, true) => traced,
                (true, false) => proxy,
                (false, _) => backend,
            };
            let path = scenario.path;
            let mut clients = runtime.block_on(async {
                let first = Client::connect(target, scenario.h2).await;
                let mut clients = Vec::with_capacity(concurrency);
                for _ in 1..concurrency {
                    clients.push(match &first {
                        // HTTP/2: more streams on the same connection.
                        Client::H2(sender) => Client::H2(sender.clone()),
                        Client::H1(_) => Client::connect(target, false).await,
                    });
                }
                clients.push(first);
                clients
            });

            // Check the answer, warm the connections up, then count allocations per request.
            let (marked, all) = runtime.block_on(async {
                for client in &mut clients {
                    assert_eq!(client.get(path).await, (200, scenario.len), "{name}");
                }
                let warm = send_all(std::mem::take(&mut clients), path, WARM_UP).await;
                let before = allocations();
                clients = send_all(warm, path, COUNTED).await;
                let after = allocations();
                (after.0 - before.0, after.1 - before.1)
            });
            println!(
                "request_path/{name}: allocations per request: {:.1} on the proxy thread, {:.1} in the process (client and backend included)",
                marked as f64 / COUNTED as f64,
                all as f64 / COUNTED as f64,
            );

            // One criterion iteration is one request; with several in flight, the time per
            // iteration is the total divided by the requests sent.
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let start = Instant::now();
                        clients = send_all(std::mem::take(&mut clients), path, iters).await;
                        start.elapsed()
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
