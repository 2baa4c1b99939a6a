//! What choosing a server costs, nanoseconds per pick: each balancing strategy (round robin,
//! least connections, random with two choices, peak EWMA, consistent hashing of the client's
//! IP and of a header) over pools of 3, 30 and 300 servers on one thread, and over 3 servers
//! with a second thread picking from the same pool all the while (workers share a pool, its
//! counters and its servers' state). Every proxied request and every retry makes one pick.
//! The contended figures mean something only with two cores free for the two threads.
//!
//! A pick goes through `Pool::pick_for_bench`, a hook that runs exactly what `Pool::forward`
//! does before it connects: read the clock, let the strategy choose a usable server, take a
//! place on it (its count of requests in flight), and here give the place back at once. No
//! I/O happens: the servers are addresses on 127.0.0.1 that nothing connects to. Requests come
//! from 1,000 clients, each with its own `x-user` header, taken in turn. Every pick is checked
//! to find a server, and hashing to send the same request to the same server each time.
//!
//! `circuit`: what a pool's guard adds to a pick, round robin over 3 servers: an unguarded
//! pool (`Pool<S>`, what a pool without `max_pending`, `max_requests` and `outlier` is), and a
//! guarded one with all three (`Pool<S, Circuit>`: a place reserved in the pool's count of
//! requests in flight, given back with the server's), alone and with a second thread picking
//! from the same pool. What an attempt's outcome adds for outlier detection happens after the
//! answer, outside a pick: the request-path bench measures that.
//!
//! `split`: what a route split across pools (`forward app 95, app_v2 5 [by KEY]`) adds before
//! its pool's pick: choosing the pool, by weight at random and by a cookie's hash. A route
//! without a split has no such step in its generated code.
//!
//! `mirror`: what a route's mirror (`mirror shadow SHARE%`) adds to the client's path before
//! its pool's forward: a request outside the share (one draw), and one copied (its head
//! cloned, a task spawned that sends it to a shadow backend on loopback; only the client's
//! side is timed, and each batch of copies is let finish before the next), against
//! `no_mirror`, the same hand-over of the request without a mirror. A route without a mirror
//! has no such step in its generated code.

use std::{
    hint::black_box,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use criterion::{
    criterion_group, criterion_main, measurement::WallTime, BenchmarkGroup, BenchmarkId, Criterion,
};
use edge_runtime::{
    http::{HeaderMap, HeaderValue},
    AnyRequest, Circuit, CircuitSpec, ClientIpKey, CookieKey, Cx, Ewma, Guard, Hash, HashKey,
    HeaderKey, LeastConn, Mirror, MirrorSpec, Outlier, Pool, PoolSpec, Process, Random, Request,
    RequestBody, RoundRobin, ServerSpec, Split, SplitSpec, Strategy, Upstream,
};
use edge_testkit::{leak, server, spec};

/// The pool sizes.
const SIZES: [usize; 3] = [3, 30, 300];

/// The pool size picked from by two threads at once: the smallest, where the two share the
/// most (the same few servers' counts of requests in flight, as well as the strategy's state).
const CONTENDED: usize = 3;

/// Distinct requests, taken in turn.
const REQUESTS: usize = 1_000;

const PATH: &str = "/orders";

/// What a pick reads of one request.
struct Req {
    headers: HeaderMap,
    client: IpAddr,
}

fn requests() -> Vec<Req> {
    (0..REQUESTS)
        .map(|i| {
            let mut headers = HeaderMap::new();
            headers.insert("x-user", HeaderValue::from(i));
            let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i as u32);
            Req {
                headers,
                client: client.into(),
            }
        })
        .collect()
}

/// A pool of `size` servers balanced by `strategy`. Its spec is leaked, as generated code has
/// it in a `static`. Built outside a tokio runtime, the pool starts no background task.
fn pool<S: Strategy>(size: usize, strategy: S) -> Pool<S> {
    Pool::new(pool_spec(size), strategy, Process::new().pools())
}

/// The spec of a pool of `size` servers on 127.0.0.1, leaked.
fn pool_spec(size: usize) -> &'static PoolSpec {
    let servers: Vec<ServerSpec> = (0..size)
        .map(|i| {
            let port = 20_000 + u16::try_from(i).expect("a port");
            server(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))
        })
        .collect();
    leak(PoolSpec {
        name: "bench",
        ..spec(servers)
    })
}

fn pick<S: Strategy, G: Guard>(pool: &Pool<S, G>, req: &Req) -> Option<Upstream> {
    pool.pick_for_bench(&req.headers, PATH, req.client)
}

/// One pick per call, cycling through `reqs` from `start`.
fn picker<'a, S: Strategy, G: Guard>(
    pool: &'a Pool<S, G>,
    reqs: &'a [Req],
    start: usize,
) -> impl FnMut() -> Option<Upstream> + 'a {
    let mut next = start;
    move || {
        let req = &reqs[next];
        next = (next + 1) % reqs.len();
        pick(pool, black_box(req))
    }
}

/// Benches one strategy over each pool size, and contended over [`CONTENDED`] servers;
/// `sticky` strategies must pick the same server for the same request every time.
fn strategy<S: Strategy>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    sticky: bool,
    make: impl Fn() -> S,
) {
    let reqs = requests();
    for size in SIZES {
        let pool = pool(size, make());
        for req in &reqs {
            let first = pick(&pool, req).unwrap_or_else(|| panic!("{name}/{size}: no server"));
            if sticky {
                assert_eq!(pick(&pool, req), Some(first), "{name}/{size}: not sticky");
            }
        }

        let mut alone = picker(&pool, &reqs, 0);
        group.bench_function(BenchmarkId::new(name, size), |b| b.iter(&mut alone));
        if size == CONTENDED {
            contended(group, name, size, &pool, &reqs);
        }
    }
}

/// Picks from `pool` of `size` servers while another thread picks from it too (the other half
/// of the requests) until measuring ends.
fn contended<S: Strategy, G: Guard>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    size: usize,
    pool: &Pool<S, G>,
    reqs: &[Req],
) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut other = picker(pool, reqs, REQUESTS / 2);
            while !stop.load(Ordering::Relaxed) {
                black_box(other());
            }
        });
        let mut mine = picker(pool, reqs, 0);
        let id = BenchmarkId::new(format!("{name}_2_threads"), size);
        group.bench_function(id, |b| b.iter(&mut mine));
        stop.store(true, Ordering::Relaxed);
    });
}

fn balancers(c: &mut Criterion) {
    let mut group = c.benchmark_group("balancers");
    // A pick takes well under a microsecond: a second is millions of them, and keeps the 24
    // cases (and `--quick`, which stops at the measurement time) short.
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    strategy(&mut group, "round_robin", false, RoundRobin::default);
    strategy(&mut group, "least_conn", false, LeastConn::default);
    strategy(&mut group, "random", false, Random::default);
    strategy(&mut group, "ewma", false, Ewma::default);
    strategy(&mut group, "hash_client_ip", true, || {
        Hash::new(ClientIpKey)
    });
    strategy(&mut group, "hash_header", true, || {
        Hash::new(HeaderKey::from_static("x-user"))
    });
    group.finish();
}

/// Every circuit setting on, with caps no pick reaches.
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

/// One pick alone and with a second thread, from `pool` of [`CONTENDED`] servers.
fn circuit_case<S: Strategy, G: Guard>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    pool: &Pool<S, G>,
) {
    let reqs = requests();
    let mut alone = picker(pool, &reqs, 0);
    assert!(alone().is_some(), "{name}: no server");
    group.bench_function(BenchmarkId::new(name, CONTENDED), |b| b.iter(&mut alone));
    contended(group, name, CONTENDED, pool, &reqs);
}

fn circuit(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    let unguarded = pool(CONTENDED, RoundRobin::default());
    circuit_case(&mut group, "round_robin_unguarded", &unguarded);
    let process = Process::new();
    let guarded = Pool::guarded(
        pool_spec(CONTENDED),
        RoundRobin::default(),
        Circuit::new(&CIRCUIT),
        process.pools(),
    )
    .expect("a pool without TLS files");
    circuit_case(&mut group, "round_robin_guarded", &guarded);
    group.finish();
}

/// A round-robin pool of 30 servers with sticky sessions, each request's cookie naming one of
/// its servers by the id a proxy sets, against the same pool without: what honouring the
/// cookie costs a pick (finding it among the request's cookies, finding its server).
fn sticky(c: &mut Criterion) {
    const SIZE: usize = 30;
    let mut group = c.benchmark_group("sticky");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    let plain = pool(SIZE, RoundRobin::default());
    let sticky_spec = leak(PoolSpec {
        sticky: Some(edge_runtime::StickySpec {
            cookie: "srv",
            max_age: None,
            path: "/",
            secure: false,
            http_only: false,
        }),
        ..*pool_spec(SIZE)
    });
    let sticky = Pool::new(sticky_spec, RoundRobin::default(), Process::new().pools());
    // Requests naming each server in turn, among a few other cookies.
    let reqs: Vec<Req> = sticky_spec
        .servers
        .iter()
        .map(|server| {
            let id = Pool::<RoundRobin>::sticky_id_for_bench(&server.upstream);
            let mut headers = HeaderMap::new();
            let cookie = format!("theme=dark; srv={id:016x}; lang=en");
            headers.insert("cookie", HeaderValue::from_str(&cookie).expect("a value"));
            Req {
                headers,
                client: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            }
        })
        .collect();
    for (index, req) in reqs.iter().enumerate() {
        assert_eq!(
            pick(&sticky, req),
            Some(sticky_spec.servers[index].upstream),
            "the cookie's server is picked"
        );
    }
    let mut plain_picks = picker(&plain, &reqs, 0);
    group.bench_function("round_robin", |b| b.iter(&mut plain_picks));
    let mut sticky_picks = picker(&sticky, &reqs, 0);
    group.bench_function("round_robin_sticky", |b| b.iter(&mut sticky_picks));
    group.finish();
}

static CANARY: SplitSpec = SplitSpec {
    route: "canary",
    pools: &[("app", 95), ("app_v2", 5)],
};

/// The context of a request from one client to host `app`.
fn client_cx() -> Cx {
    Cx::outside_connection(
        "bench",
        SocketAddr::from(([10, 0, 0, 1], 50_000)),
        "app",
        false,
    )
    .expect("a valid host")
}

/// Picks the pool of each of the requests in turn.
fn split_case<K: HashKey>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, key: K) {
    let process = Process::new();
    let split = Split::new(&CANARY, key, process.splits());
    let cx = client_cx();
    let requests: Vec<Request> = (0..REQUESTS)
        .map(|i| {
            edge_runtime::http::Request::get(PATH)
                .header("cookie", format!("session=user-{i}"))
                .body(RequestBody::full(bytes::Bytes::new()))
                .expect("a valid request")
        })
        .collect();
    let mut next = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            next = (next + 1) % REQUESTS;
            black_box(split.pick(black_box(&requests[next]), &cx))
        })
    });
}

fn split(c: &mut Criterion) {
    let mut group = c.benchmark_group("split");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    split_case(&mut group, "by_weight", AnyRequest);
    split_case(&mut group, "by_cookie", CookieKey::new("session"));
    group.finish();
}

/// Copies sent before the bench waits for them to be answered.
const MIRROR_BATCH: u64 = 32;

fn mirror_spec(share: u32) -> &'static MirrorSpec {
    Box::leak(Box::new(MirrorSpec {
        route: "app",
        pool: "shadow",
        share,
        max_body: 64 << 10,
        max_in_flight: 1_000,
    }))
}

fn mirror(c: &mut Criterion) {
    // One thread, as a worker of the proxy: the copies' tasks run when the bench lets the
    // runtime run, between batches.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let shadow = runtime.block_on(edge_testkit::Backend::start("shadow"));
    let _entered = runtime.enter();
    let process = Process::new();
    let pool = Arc::new(Pool::new(
        leak(spec(vec![server(shadow.addr)])),
        RoundRobin::default(),
        process.pools(),
    ));
    let rare = Mirror::new(mirror_spec(1), Arc::clone(&pool), process.mirrors());
    let every = Mirror::new(mirror_spec(10_000), pool, process.mirrors());
    let cx = client_cx();
    // Handed to each copy and back.
    let mut req: Option<Request> = Some(
        edge_runtime::http::Request::get(PATH)
            .header("user-agent", "bench/1.0")
            .header("accept", "application/json")
            .header("cookie", "session=user-1")
            .body(RequestBody::full(bytes::Bytes::new()))
            .expect("a valid request"),
    );

    let mut group = c.benchmark_group("mirror");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    // The same hand-over without a mirror: what the two cases below add to is this.
    group.bench_function("no_mirror", |b| {
        b.iter(|| {
            let taken = req.take().expect("handed back");
            req = Some(black_box(taken));
        })
    });
    group.bench_function("not_in_share", |b| {
        b.iter(|| {
            let taken = req.take().expect("handed back");
            req = Some(rare.copy(black_box(taken), &cx));
        })
    });
    group.bench_function("copied", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(MIRROR_BATCH);
                    let started = Instant::now();
                    for _ in 0..batch {
                        let taken = req.take().expect("handed back");
                        req = Some(every.copy(black_box(taken), &cx));
                    }
                    timed += started.elapsed();
                    left -= batch;
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while every.in_flight() > 0 {
                        assert!(Instant::now() < deadline, "the copies are answered");
                        tokio::time::sleep(Duration::from_micros(50)).await;
                    }
                }
                timed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, balancers, circuit, sticky, split, mirror);
criterion_main!(benches);
