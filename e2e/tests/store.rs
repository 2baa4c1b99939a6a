//! Rate limits kept in a real Redis, through proxies built by `edgec build` as a user would
//! run them: one limit across two proxies, a Redis that stops and comes back, and one that
//! accepts connections but never answers. All traffic stays on loopback; every client
//! connects from an address of its own (every 127.x.y.z is this machine).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use edge_e2e::{build_with, ProxyProcess};
use edge_testkit::{free_port, HttpClient, RedisCluster, RedisSentinel, RedisServer};

/// A keep-alive HTTP/1.1 connection to `proxy` from `source`.
struct Client(TcpStream);

impl Client {
    fn from(source: Ipv4Addr, proxy: SocketAddr) -> Client {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
        socket.connect(&proxy.into()).unwrap();
        let stream = TcpStream::from(socket);
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client(stream)
    }

    /// `GET path`: the status.
    fn get(&mut self, path: &str) -> u16 {
        write!(self.0, "GET {path} HTTP/1.1\r\nHost: store.test\r\n\r\n").unwrap();
        read_answer(&mut self.0)
    }
}

/// Reads one answer with a `Content-Length` body; its status.
fn read_answer(stream: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("an answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

/// `GET /metrics` on the admin listener: the lines of `family`.
fn metrics(admin: SocketAddr, family: &str) -> Vec<String> {
    let answer = HttpClient::new().get(&format!("http://{admin}/metrics"));
    answer
        .body
        .lines()
        .filter(|line| line.starts_with(family))
        .map(str::to_owned)
        .collect()
}

/// The value of the series `series` (a whole name with labels).
fn value(admin: SocketAddr, series: &str) -> u64 {
    let family = series.split('{').next().unwrap();
    metrics(admin, family)
        .iter()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {:?}", metrics(admin, family)))
}

/// A port that accepts connections and never answers: a Redis that hangs.
fn silent_port() -> u16 {
    static SILENT: OnceLock<u16> = OnceLock::new();
    *SILENT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        port
    })
}

fn config(redis_port: u16, cluster: [u16; 3], sentinel: u16) -> String {
    let [a, b, c] = cluster;
    format!(
        r#"store cluster = redis_cluster {{
    nodes "redis://127.0.0.1:{a}" "redis://127.0.0.1:{b}" "redis://127.0.0.1:{c}"
    timeout 200ms
}}

store watched = redis_sentinel {{
    sentinels "redis://127.0.0.1:{sentinel}"
    master "{master}"
    timeout 200ms
}}

store shared = redis {{
    url "redis://127.0.0.1:{redis_port}/0"
    timeout 200ms
}}

store silent = redis {{
    url "redis://127.0.0.1:{silent}/0"
    timeout 20ms
}}

listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

policy shared_limit = rate_limit {{
    rate 20/s
    burst 20
    store shared
}}

policy clustered = rate_limit {{
    rate 1/m
    burst 5
    store cluster
    on_store_error deny
}}

policy watched_limit = rate_limit {{
    rate 1/m
    burst 5
    store watched
    on_store_error deny
}}

policy hanging_local = rate_limit {{
    rate 1/m
    burst 5
    store silent
}}

policy hanging_allow = rate_limit {{
    rate 1/m
    burst 1
    store silent
    on_store_error allow
}}

policy hanging_deny = rate_limit {{
    rate 1/m
    burst 1
    store silent
    on_store_error deny
}}

route shared {{
    on web
    path /shared
    use shared_limit
    respond 200 "ok\n"
}}

route clustered {{
    on web
    path /cluster
    use clustered
    respond 200 "ok\n"
}}

route watched {{
    on web
    path /watched
    use watched_limit
    respond 200 "ok\n"
}}

route local {{
    on web
    path /local
    use hanging_local
    respond 200 "ok\n"
}}

route allow {{
    on web
    path /allow
    use hanging_allow
    respond 200 "ok\n"
}}

route deny {{
    on web
    path /deny
    use hanging_deny
    respond 200 "ok\n"
}}
"#,
        silent = silent_port(),
        master = RedisSentinel::MASTER,
    )
}

/// The proxy built from [`config`], with the ports its Redis, its Redis Cluster and its
/// Sentinel are to be started on (by the test that uses each, so the servers stop with the
/// test).
struct Built {
    _dir: tempfile::TempDir,
    binary: PathBuf,
    redis: u16,
    cluster: [u16; 3],
    sentinel: u16,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let (redis, cluster) = (free_port(), [free_port(), free_port(), free_port()]);
        let sentinel = free_port();
        let (dir, binary) = build_with("stored", &config(redis, cluster, sentinel), &[]);
        Built {
            _dir: dir,
            binary,
            redis,
            cluster,
            sentinel,
        }
    })
}

/// Requests from `source`, alternating between the proxies, as fast as they answer: how
/// many passed, and how long they took.
fn spread(source: Ipv4Addr, proxies: &[&ProxyProcess], requests: usize) -> (usize, Duration) {
    let mut clients: Vec<Client> = proxies
        .iter()
        .map(|proxy| Client::from(source, proxy.addr("web")))
        .collect();
    let started = Instant::now();
    let mut passed = 0;
    for i in 0..requests {
        let count = clients.len();
        let status = clients[i % count].get("/shared");
        assert!(status == 200 || status == 429, "status {status}");
        passed += usize::from(status == 200);
    }
    (passed, started.elapsed())
}

#[test]
fn one_limit_across_two_proxies_and_through_a_redis_outage() {
    let Built { binary, redis, .. } = built();
    let mut redis = RedisServer::start_on(*redis);
    let first = ProxyProcess::start(binary, 1);
    let second = ProxyProcess::start(binary, 1);

    // 200 requests of one client over both proxies: the one bucket of 20, plus what refills
    // at 20/s while they are sent.
    let client = Ipv4Addr::new(127, 0, 0, 2);
    let (passed, took) = spread(client, &[&first, &second], 200);
    let expected = 20.0 + 20.0 * took.as_secs_f64();
    let error = (passed as f64 - expected).abs();
    assert!(
        error <= (expected * 0.1).max(2.0),
        "{passed} passed in {took:?}; {expected:.1} expected"
    );
    // Another client has a bucket of its own.
    let (other, _) = spread(Ipv4Addr::new(127, 0, 0, 3), &[&first, &second], 10);
    assert_eq!(other, 10);
    let admin = first.admin.expect("an admin listener");
    assert!(
        value(
            admin,
            "edge_rate_limit_decisions_total{store=\"shared\",decided=\"store\"}"
        ) > 0
    );
    assert!(
        value(
            admin,
            "edge_store_round_trip_seconds_count{store=\"shared\"}"
        ) > 0
    );

    // Redis stops: answers keep coming, none later than the deadline and its margin, and the
    // proxy's own bucket limits (a fresh client: its burst passes at once, then 429).
    redis.stop();
    let mut alone = Client::from(Ipv4Addr::new(127, 0, 0, 4), first.addr("web"));
    let mut statuses = Vec::new();
    let outage = Instant::now();
    for _ in 0..30 {
        let started = Instant::now();
        statuses.push(alone.get("/shared"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    // The burst, and what refilled at 20/s meanwhile.
    let passed = statuses.iter().filter(|&&s| s == 200).count();
    let refilled = (20.0 * outage.elapsed().as_secs_f64()).ceil() as usize;
    assert!((20..=20 + refilled).contains(&passed), "{statuses:?}");
    assert!(statuses[..20].iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        value(
            admin,
            "edge_rate_limit_decisions_total{store=\"shared\",decided=\"fallback\"}"
        ) > 0
    );
    let errors: u64 = ["timeout", "connection"]
        .iter()
        .map(|kind| {
            value(
                admin,
                &format!("edge_store_errors_total{{store=\"shared\",kind=\"{kind}\"}}"),
            )
        })
        .sum();
    assert!(errors > 0);

    // Redis is back (empty): after the second of rest, the store decides again.
    redis.restart();
    let before = value(
        admin,
        "edge_rate_limit_decisions_total{store=\"shared\",decided=\"store\"}",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fresh = Client::from(Ipv4Addr::new(127, 0, 0, 5), first.addr("web"));
    while value(
        admin,
        "edge_rate_limit_decisions_total{store=\"shared\",decided=\"store\"}",
    ) == before
    {
        assert!(Instant::now() < deadline, "the store was not used again");
        assert_eq!(fresh.get("/shared"), 200);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_redis_that_never_answers_costs_no_more_than_the_deadline() {
    let proxy = ProxyProcess::start(&built().binary, 1);
    let mut client = Client::from(Ipv4Addr::new(127, 0, 0, 6), proxy.addr("web"));
    let time = |client: &mut Client, path: &str| {
        let started = Instant::now();
        let status = client.get(path);
        (status, started.elapsed())
    };
    // The local bucket decides: 5 pass, then 429; no answer waits much past the 20 ms.
    let mut local = Vec::new();
    for _ in 0..8 {
        let (status, took) = time(&mut client, "/local");
        assert!(took < Duration::from_millis(500), "{took:?}");
        local.push(status);
    }
    assert_eq!(local, [200, 200, 200, 200, 200, 429, 429, 429]);
    for _ in 0..3 {
        let (status, took) = time(&mut client, "/allow");
        assert_eq!(status, 200);
        assert!(took < Duration::from_millis(500), "{took:?}");
        let (status, took) = time(&mut client, "/deny");
        assert_eq!(status, 503);
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
    let admin = proxy.admin.expect("an admin listener");
    assert!(
        value(
            admin,
            "edge_store_errors_total{store=\"silent\",kind=\"timeout\"}"
        ) >= 1
    );
}

#[test]
fn a_limit_kept_in_a_redis_cluster() {
    let built = built();
    let cluster = RedisCluster::start_on(built.cluster);
    let proxy = ProxyProcess::start(&built.binary, 1);
    for client in 7..10 {
        let mut client = Client::from(Ipv4Addr::new(127, 0, 0, client), proxy.addr("web"));
        let statuses: Vec<u16> = (0..8).map(|_| client.get("/cluster")).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    }
    assert_eq!(cluster.keys_per_node().iter().sum::<u64>(), 3);
}

#[test]
fn a_limit_kept_behind_sentinel_follows_a_failover() {
    let built = built();
    let redis = RedisSentinel::start_on(built.sentinel);
    // One worker, so both clients meet its one connection to the store: each worker has its
    // own, and one that never called the old primary would ask the Sentinel straight away.
    let proxy = ProxyProcess::start_with(&built.binary, 1, &[("EDGE_WORKERS", "1".as_ref())]);
    let mut first = Client::from(Ipv4Addr::new(127, 0, 0, 11), proxy.addr("web"));
    let statuses: Vec<u16> = (0..8).map(|_| first.get("/watched")).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    redis.failover();
    // The old primary, now a replica, drops its clients or refuses writes (`READONLY`):
    // `on_store_error deny` answers 503 while the store rests, then the Sentinel is asked
    // again.
    let mut second = Client::from(Ipv4Addr::new(127, 0, 0, 12), proxy.addr("web"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut refused = 0;
    loop {
        match second.get("/watched") {
            200 => break,
            503 => refused += 1,
            status => panic!("status {status}"),
        }
        assert!(Instant::now() < deadline, "the new primary is not used");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused > 0, "the old primary took a write");
    let statuses: Vec<u16> = (0..5).map(|_| second.get("/watched")).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    // The first client's bucket came over with the replication.
    assert_eq!(first.get("/watched"), 429);
    // Redis drops its clients when it turns replica; a client that was not dropped meets
    // `READONLY`. Either way the call failed and was counted.
    let admin = proxy.admin.expect("an admin listener");
    let failed: u64 = ["connection", "reply"]
        .iter()
        .map(|kind| {
            value(
                admin,
                &format!("edge_store_errors_total{{store=\"watched\",kind=\"{kind}\"}}"),
            )
        })
        .sum();
    assert!(failed >= 1);
    assert_eq!(redis.primary_port(), redis.second.port);
}
