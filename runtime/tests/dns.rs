//! End-to-end tests of live membership: servers given by DNS name, resolved in the background
//! and re-resolved as their TTL runs out, against a small authoritative DNS server on
//! 127.0.0.1 whose records each test changes. Backends that share a port listen on
//! 127.0.0.1, 127.0.0.2, ... (all loopback). Every wait is a bounded loop on an observed
//! effect, never a timed assertion.
//!
//! The DNS server is one per test binary (`EDGE_DNS_SERVER` is read when a pool is built);
//! each test uses names of its own.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use edge_runtime::{
    http::StatusCode, HealthCheck, HttpCheck, PoolSpec, ServerSpec, StatusRange, Upstream,
};
use edge_testkit::*;
use hickory_proto::{
    op::{Message, MessageType, ResponseCode},
    rr::{
        rdata::{A, SRV},
        Name, RData, Record, RecordType,
    },
};

// ---- a tiny authoritative DNS server ----

/// Records by (lower-case name without the final dot, type), with their TTL.
#[derive(Default)]
struct Zone {
    records: HashMap<(String, RecordType), (u32, Vec<RData>)>,
    /// Names answered with SERVFAIL.
    failing: HashSet<String>,
    /// Queries received per name.
    queries: HashMap<String, usize>,
}

struct Dns {
    zone: Arc<Mutex<Zone>>,
}

/// The test binary's DNS server; `EDGE_DNS_SERVER` points at it before any pool is built.
fn dns() -> &'static Dns {
    static DNS: OnceLock<Dns> = OnceLock::new();
    DNS.get_or_init(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(Zone::default()));
        let shared = Arc::clone(&zone);
        std::thread::spawn(move || serve_dns(socket, shared));
        // Set once, before the first pool reads it.
        std::env::set_var("EDGE_DNS_SERVER", addr.to_string());
        Dns { zone }
    })
}

fn serve_dns(socket: UdpSocket, zone: Arc<Mutex<Zone>>) {
    let mut buf = [0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            return;
        };
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let answer = answer_dns(&query, &mut zone.lock().unwrap_or_else(|e| e.into_inner()));
        if let Ok(bytes) = answer.and_then(|a| a.to_vec()) {
            let _ = socket.send_to(&bytes, peer);
        }
    }
}

fn answer_dns(query: &Message, zone: &mut Zone) -> Result<Message, hickory_proto::ProtoError> {
    let mut answer = Message::new();
    answer
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let Some(question) = query.queries().first() else {
        answer.set_response_code(ResponseCode::FormErr);
        return Ok(answer);
    };
    answer.add_query(question.clone());
    let name = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_lowercase();
    *zone.queries.entry(name.clone()).or_default() += 1;
    if zone.failing.contains(&name) {
        answer.set_response_code(ResponseCode::ServFail);
        return Ok(answer);
    }
    match zone.records.get(&(name.clone(), question.query_type())) {
        Some((ttl, data)) => {
            for rdata in data {
                answer.add_answer(Record::from_rdata(
                    question.name().clone(),
                    *ttl,
                    rdata.clone(),
                ));
            }
        }
        None if zone.records.keys().any(|(known, _)| *known == name) => {}
        None => {
            answer.set_response_code(ResponseCode::NXDomain);
        }
    }
    Ok(answer)
}

impl Dns {
    fn zone(&self) -> std::sync::MutexGuard<'_, Zone> {
        self.zone.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_a(&self, name: &str, ips: &[Ipv4Addr], ttl: u32) {
        let data = ips.iter().map(|&ip| RData::A(A(ip))).collect();
        self.zone()
            .records
            .insert((name.to_owned(), RecordType::A), (ttl, data));
    }

    /// SRV records as (priority, weight, port, target).
    fn set_srv(&self, name: &str, records: &[(u16, u16, u16, &str)], ttl: u32) {
        let data = records
            .iter()
            .map(|&(priority, weight, port, target)| {
                let target = Name::from_ascii(format!("{target}.")).unwrap();
                RData::SRV(SRV::new(priority, weight, port, target))
            })
            .collect();
        self.zone()
            .records
            .insert((name.to_owned(), RecordType::SRV), (ttl, data));
    }

    fn set_failing(&self, name: &str, failing: bool) {
        let mut zone = self.zone();
        if failing {
            zone.failing.insert(name.to_owned());
        } else {
            zone.failing.remove(name);
        }
    }

    fn queries(&self, name: &str) -> usize {
        self.zone().queries.get(name).copied().unwrap_or(0)
    }
}

// ---- helpers ----

/// `127.0.0.N`.
fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// Backends on 127.0.0.1, 127.0.0.2, ... sharing one port, as the addresses of one name do.
async fn backends_on_one_port(names: &[&'static str]) -> (u16, Vec<Backend>) {
    for _ in 0..50 {
        let first = Backend::start(names[0]).await;
        let port = first.addr.port();
        let mut backends = vec![first];
        for (i, &name) in names.iter().enumerate().skip(1) {
            let addr = SocketAddr::new(IpAddr::V4(loopback(i as u8 + 1)), port);
            match Backend::start_on(name, addr).await {
                Some(backend) => backends.push(backend),
                None => break,
            }
        }
        if backends.len() == names.len() {
            return (port, backends);
        }
    }
    panic!("no port free on every loopback address");
}

fn name_server(name: &str, port: u16) -> ServerSpec {
    let authority: &'static str = Box::leak(format!("{name}:{port}").into_boxed_str());
    ServerSpec::new(Upstream::Name(authority))
}

/// `count` GETs of `/app` on one connection; their statuses.
async fn gets(web: SocketAddr, count: usize) -> Vec<StatusCode> {
    let mut client = Client::connect(web).await;
    let mut statuses = Vec::with_capacity(count);
    for _ in 0..count {
        statuses.push(client.get("/app", &[]).await.status);
    }
    statuses
}

fn all_ok(statuses: &[StatusCode]) {
    let failed: Vec<_> = statuses.iter().filter(|s| **s != StatusCode::OK).collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
}

/// Sends rounds of requests until `done` holds after one, within a bounded number of rounds.
async fn until(web: SocketAddr, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        all_ok(&gets(web, 4).await);
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

/// Requests sent in a loop on one connection until stopped; their statuses.
fn keep_sending(
    web: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<StatusCode>> {
    tokio::spawn(async move {
        let mut client = Client::connect(web).await;
        let mut statuses = Vec::new();
        // Bounded: the test stops it long before.
        for _ in 0..100_000 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            statuses.push(client.get("/app", &[]).await.status);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        statuses
    })
}

// ---- the tests ----

#[tokio::test]
async fn a_name_with_two_addresses_is_two_servers_in_turn() {
    let dns = dns();
    let (port, backends) = backends_on_one_port(&["a", "b"]).await;
    dns.set_a("two.edge.test", &[loopback(1), loopback(2)], 60);
    let app = leak(spec(vec![name_server("two.edge.test", port)]));
    let proxy = Proxy::start(app).await;
    all_ok(&gets(proxy.web, 10).await);
    assert_eq!((backends[0].count(), backends[1].count()), (5, 5));
    proxy.stop().await;
}

#[tokio::test]
async fn changed_records_add_and_remove_servers_while_requests_succeed() {
    let dns = dns();
    let (port, backends) = backends_on_one_port(&["a", "b", "c"]).await;
    let (a, b, c) = (&backends[0], &backends[1], &backends[2]);
    let name = "moving.edge.test";
    dns.set_a(name, &[loopback(1), loopback(2)], 1);
    let app = leak(spec(vec![name_server(name, port)]));
    let proxy = Proxy::start(app).await;
    all_ok(&gets(proxy.web, 10).await);
    assert_eq!((a.count(), b.count(), c.count()), (5, 5, 0));

    let stop = Arc::new(AtomicBool::new(false));
    let sending = keep_sending(proxy.web, Arc::clone(&stop));
    dns.set_a(name, &[loopback(2), loopback(3)], 1);
    until(proxy.web, "c gets traffic", || c.count() > 0).await;
    // a has left: from now on b and c share everything.
    let before = (a.count(), b.count(), c.count());
    all_ok(&gets(proxy.web, 20).await);
    let after = (a.count(), b.count(), c.count());
    stop.store(true, Ordering::SeqCst);
    let statuses = sending.await.unwrap();
    all_ok(&statuses);
    assert!(!statuses.is_empty());
    assert_eq!(after.0, before.0, "a still gets traffic");
    assert!(
        after.1 > before.1 && after.2 > before.2,
        "{before:?} {after:?}"
    );

    // A name with no address left leaves the pool without servers: 503.
    dns.set_a(name, &[], 1);
    let mut unavailable = false;
    for _ in 0..100 {
        if get(proxy.web, "/app", &[]).await.status == StatusCode::SERVICE_UNAVAILABLE {
            unavailable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unavailable, "the pool kept servers of an empty answer");
    proxy.stop().await;
}

#[tokio::test]
async fn a_server_marked_down_stays_down_across_a_swap_that_keeps_it() {
    let dns = dns();
    let (port, backends) = backends_on_one_port(&["a", "b", "c"]).await;
    let (a, b, c) = (&backends[0], &backends[1], &backends[2]);
    let name = "health.edge.test";
    dns.set_a(name, &[loopback(1), loopback(2)], 1);
    // Down after one failure; up again only after very many successes, so a server that is
    // up after the swap can only be a server whose state was lost.
    let check = HealthCheck::Http(HttpCheck {
        path: "/healthz",
        expect: StatusRange { min: 200, max: 299 },
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(1),
        rise: 100_000,
        fall: 1,
    });
    let app = leak(PoolSpec {
        health: Some(check),
        ..spec(vec![name_server(name, port)])
    });
    let proxy = Proxy::start(app).await;
    b.set_healthy(false);
    let mut seen = b.count();
    // Taken out once a round of requests gave it none.
    until(proxy.web, "b is taken out", || {
        let now = b.count();
        std::mem::replace(&mut seen, now) == now
    })
    .await;
    b.set_healthy(true);

    dns.set_a(name, &[loopback(1), loopback(2), loopback(3)], 1);
    until(proxy.web, "c gets traffic", || c.count() > 0).await;
    let before = (a.count(), b.count(), c.count());
    all_ok(&gets(proxy.web, 20).await);
    let after = (a.count(), b.count(), c.count());
    assert_eq!(after.1, before.1, "b came back up with the new set");
    assert_eq!((after.0 - before.0, after.2 - before.2), (10, 10));
    proxy.stop().await;
}

#[tokio::test]
async fn srv_priorities_are_tiers_and_weights_are_shares() {
    let dns = dns();
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    for target in ["a.srv.edge.test", "b.srv.edge.test", "c.srv.edge.test"] {
        dns.set_a(target, &[loopback(1)], 60);
    }
    let name = "_http._tcp.srv.edge.test";
    dns.set_srv(
        name,
        &[
            (10, 3, a.addr.port(), "a.srv.edge.test"),
            (10, 1, b.addr.port(), "b.srv.edge.test"),
            (20, 5, c.addr.port(), "c.srv.edge.test"),
        ],
        1,
    );
    let app = leak(spec(vec![ServerSpec::new(Upstream::Srv(name))]));
    let proxy = Proxy::start(app).await;
    all_ok(&gets(proxy.web, 40).await);
    assert_eq!((a.count(), b.count(), c.count()), (30, 10, 0));

    // The primaries leave: the backup tier is what is left.
    dns.set_srv(name, &[(20, 5, c.addr.port(), "c.srv.edge.test")], 1);
    until(proxy.web, "c gets traffic", || c.count() > 0).await;
    let before = (a.count(), b.count());
    all_ok(&gets(proxy.web, 10).await);
    assert_eq!((a.count(), b.count()), before);
    proxy.stop().await;
}

#[tokio::test]
async fn a_failing_resolver_keeps_the_last_good_set() {
    let dns = dns();
    let (port, backends) = backends_on_one_port(&["a", "b"]).await;
    let name = "failing.edge.test";
    dns.set_a(name, &[loopback(1), loopback(2)], 1);
    let app = leak(spec(vec![name_server(name, port)]));
    let proxy = Proxy::start(app).await;
    all_ok(&gets(proxy.web, 10).await);
    assert_eq!((backends[0].count(), backends[1].count()), (5, 5));

    dns.set_failing(name, true);
    // Asked again, then once more after that: at least one failed answer has been taken in.
    let asked = dns.queries(name);
    until(proxy.web, "the name is asked again", || {
        dns.queries(name) > asked
    })
    .await;
    let asked = dns.queries(name);
    until(proxy.web, "the name is retried", || {
        dns.queries(name) > asked
    })
    .await;
    let before = (backends[0].count(), backends[1].count());
    all_ok(&gets(proxy.web, 10).await);
    assert_eq!(
        (
            backends[0].count() - before.0,
            backends[1].count() - before.1
        ),
        (5, 5)
    );
    dns.set_failing(name, false);
    proxy.stop().await;
}
