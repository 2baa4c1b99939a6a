//! Layer 4: `mode tcp` listeners tunnelling to TCP backends through `Pool::tunnel`, with
//! half-close, balancing, retries, the PROXY protocol, the idle timeout and the drain.
//!
//! Everything binds 127.0.0.1:0 (one case [::1]:0 when the host has IPv6); every wait is
//! bounded by `PATIENCE`, every loop by a count.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use edge_runtime::{
    not_found, respond, ClientIpKey, Cx, Gateway, Hash, ListenerLimits, ListenerMode, ListenerSpec,
    Pool, PoolSpec, Process, ProxyProtocol, Request, Response, Retry, RetryOn, RoundRobin, Server,
    ServerSpec, Strategy, TcpConnection, TcpSpec,
};
use edge_testkit::{closed_port, leak, pattern, server, spec, PATIENCE};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{mpsc, oneshot},
    task::{AbortHandle, JoinHandle},
};

/// Idle timeout of the listener in most tests: never reached.
const LONG_IDLE: Duration = Duration::from_secs(60);

const RETRY_CONNECT: Retry = Retry {
    attempts: 1,
    on: RetryOn {
        connect_error: true,
        timeout: true,
        status_5xx: false,
    },
};

// ---- a gateway with an HTTP and a tcp listener, as `edgec` would generate it ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    Web,
    Tcp,
}

struct L4<S: Strategy> {
    pool: Pool<S>,
}

impl<S: Strategy> Gateway for L4<S> {
    type Listener = Port;

    async fn handle(&self, listener: Port, _req: Request, _cx: &Cx) -> Response {
        match listener {
            Port::Web => respond(200, "hello from edge\n"),
            Port::Tcp => not_found(),
        }
    }

    async fn handle_tcp(&self, listener: Port, conn: TcpConnection) {
        match listener {
            Port::Tcp => self.pool.tunnel(conn).await,
            Port::Web => {}
        }
    }
}

/// How the proxy under test listens and drains.
struct Setup {
    /// The tcp listener's address (the web listener is always on 127.0.0.1).
    bind: IpAddr,
    idle_timeout: Duration,
    drain_deadline: Duration,
    max_connections: u32,
    /// The tcp listener's `accept_proxy`.
    accept_proxy: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            bind: Ipv4Addr::LOCALHOST.into(),
            idle_timeout: LONG_IDLE,
            drain_deadline: PATIENCE,
            max_connections: ListenerLimits::DEFAULT.max_connections,
            accept_proxy: false,
        }
    }
}

/// The proxy, serving in-process.
struct Proxy {
    web: SocketAddr,
    tcp: SocketAddr,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl Proxy {
    async fn start(pool: &'static PoolSpec) -> Proxy {
        Proxy::start_with(pool, RoundRobin::default(), Setup::default()).await
    }

    async fn start_with<S: Strategy>(pool: &'static PoolSpec, strategy: S, setup: Setup) -> Proxy {
        let listeners: &'static [(Port, ListenerSpec)] = Box::leak(Box::new([
            (
                Port::Web,
                ListenerSpec {
                    name: "web",
                    bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
                    limits: ListenerLimits::DEFAULT,
                    mode: ListenerMode::Http,
                    tls: None,
                },
            ),
            (
                Port::Tcp,
                ListenerSpec {
                    name: "tcp_in",
                    bind: SocketAddr::new(setup.bind, 0),
                    limits: ListenerLimits {
                        max_connections: setup.max_connections,
                        accept_proxy: setup.accept_proxy,
                        ..ListenerLimits::DEFAULT
                    },
                    mode: ListenerMode::Tcp(TcpSpec {
                        idle_timeout: setup.idle_timeout,
                    }),
                    tls: None,
                },
            ),
        ]));
        let process = Process::new();
        let gateway = L4 {
            pool: Pool::new(pool, strategy, process.pools()),
        };
        let server = Server::bind(&process, listeners, gateway)
            .await
            .unwrap()
            .drain_deadline(setup.drain_deadline);
        let addrs: Vec<SocketAddr> = server.local_addrs().map(|(_, addr)| addr).collect();
        let (shutdown, signal) = oneshot::channel();
        let serving = tokio::spawn(server.serve(async {
            let _ = signal.await;
        }));
        Proxy {
            web: addrs[0],
            tcp: addrs[1],
            shutdown,
            serving,
        }
    }

    /// Signals shutdown; the returned handle ends when the drain is over.
    fn shut_down(self) -> JoinHandle<()> {
        let _ = self.shutdown.send(());
        self.serving
    }

    async fn stop(self) {
        tokio::time::timeout(PATIENCE, self.shut_down())
            .await
            .expect("the proxy drains in time")
            .unwrap();
    }
}

/// A pool named `app` over `servers`, sending `proxy_protocol`.
fn tcp_pool(
    servers: &[SocketAddr],
    retry: Retry,
    proxy_protocol: ProxyProtocol,
) -> &'static PoolSpec {
    leak(PoolSpec {
        retry,
        proxy_protocol,
        ..spec(servers.iter().copied().map(server).collect())
    })
}

// ---- backends ----

/// A TCP server on 127.0.0.1:0 that runs `handler` on each connection.
struct Backend {
    addr: SocketAddr,
    /// Connections accepted, and connections whose handler has returned.
    accepted: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    accepting: AbortHandle,
}

impl Backend {
    async fn start<F, Fut>(handler: F) -> Backend
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (counting, done) = (Arc::clone(&accepted), Arc::clone(&finished));
        let accepting = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counting.fetch_add(1, Ordering::SeqCst);
                let (serving, done) = (handler(stream), Arc::clone(&done));
                tokio::spawn(async move {
                    serving.await;
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        })
        .abort_handle();
        Backend {
            addr,
            accepted,
            finished,
            accepting,
        }
    }

    /// Sends back what it receives; shuts down its write side after the client's FIN.
    async fn echo() -> Backend {
        Backend::start(echo).await
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `count` connections have ended on the backend's side.
    async fn wait_finished(&self, count: usize) {
        for _ in 0..500 {
            if self.finished.load(Ordering::SeqCst) >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the backend never saw {count} connections end");
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn echo(mut stream: TcpStream) {
    let (mut from, mut to) = stream.split();
    if tokio::io::copy(&mut from, &mut to).await.is_ok() {
        let _ = to.shutdown().await;
    }
}

// ---- clients ----

async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .expect("connects in time")
        .unwrap()
}

/// Connects to `addr` from `source` (any 127.0.0.x works on Linux loopback).
async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source.into(), 0)).unwrap();
    tokio::time::timeout(PATIENCE, socket.connect(addr))
        .await
        .expect("connects in time")
        .unwrap()
}

/// Sends `message` and expects it back.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).await.unwrap();
    let mut back = vec![0; message.len()];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut back))
        .await
        .expect("the echo comes back in time")
        .unwrap();
    assert_eq!(back, message);
}

/// Reads until the proxy closes the connection; what arrived (a reset counts as closed).
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut got))
        .await
        .expect("the connection is closed in time");
    if let Err(error) = read {
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    }
    got
}

/// An order-sensitive checksum.
fn checksum(acc: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(acc, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

// ---- the tests ----

#[tokio::test]
async fn ten_megabytes_round_trip_intact() {
    const LEN: usize = 10 * 1024 * 1024;
    let backend = Backend::echo().await;
    let proxy = Proxy::start(tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None)).await;
    let (mut reading, mut writing) = connect(proxy.tcp).await.into_split();
    let sending = tokio::spawn(async move {
        let data = pattern(LEN);
        for chunk in data.chunks(64 * 1024) {
            writing.write_all(chunk).await.unwrap();
        }
        writing.shutdown().await.unwrap();
    });
    let receiving = async {
        let (mut len, mut sum) = (0, 0);
        let mut buf = vec![0; 64 * 1024];
        // Bounded: each read returns at least one byte until the end.
        for _ in 0..=LEN {
            let n = reading.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            len += n;
            sum = checksum(sum, &buf[..n]);
        }
        (len, sum)
    };
    let (len, sum) = tokio::time::timeout(PATIENCE, receiving)
        .await
        .expect("the echo ends in time");
    tokio::time::timeout(PATIENCE, sending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(len, LEN);
    assert_eq!(sum, checksum(0, &pattern(LEN)));
    proxy.stop().await;
}

#[tokio::test]
async fn the_client_half_closes_and_still_gets_the_reply() {
    // Reads to the client's FIN, then answers and closes.
    let backend = Backend::start(|mut stream: TcpStream| async move {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        let reply = format!("got {} bytes", got.len());
        stream.write_all(reply.as_bytes()).await.unwrap();
    })
    .await;
    let proxy = Proxy::start(tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None)).await;
    let mut client = connect(proxy.tcp).await;
    client.write_all(b"hello").await.unwrap();
    client.shutdown().await.unwrap();
    assert_eq!(read_until_closed(&mut client).await, b"got 5 bytes");
    proxy.stop().await;
}

#[tokio::test]
async fn the_server_half_closes_and_still_gets_the_clients_bytes() {
    // Greets, closes its write side at once, then reads to the client's FIN.
    let (report, mut reports) = mpsc::unbounded_channel();
    let backend = Backend::start(move |mut stream: TcpStream| {
        let report = report.clone();
        async move {
            stream.write_all(b"hi").await.unwrap();
            stream.shutdown().await.unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).await.unwrap();
            report.send(got).unwrap();
        }
    })
    .await;
    let proxy = Proxy::start(tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None)).await;
    let mut client = connect(proxy.tcp).await;
    let mut greeting = Vec::new();
    tokio::time::timeout(PATIENCE, client.read_to_end(&mut greeting))
        .await
        .expect("the server's FIN arrives in time")
        .unwrap();
    assert_eq!(greeting, b"hi");
    client.write_all(b"after your FIN").await.unwrap();
    client.shutdown().await.unwrap();
    let got = tokio::time::timeout(PATIENCE, reports.recv())
        .await
        .expect("the backend reports in time")
        .unwrap();
    assert_eq!(got, b"after your FIN");
    proxy.stop().await;
}

#[tokio::test]
async fn connections_go_round_robin() {
    let (a, b) = (Backend::echo().await, Backend::echo().await);
    let proxy = Proxy::start(tcp_pool(
        &[a.addr, b.addr],
        Retry::NONE,
        ProxyProtocol::None,
    ))
    .await;
    for i in 0..6u8 {
        let mut client = connect(proxy.tcp).await;
        round_trip(&mut client, &[i; 10]).await;
    }
    assert_eq!((a.accepted(), b.accepted()), (3, 3));
    proxy.stop().await;
}

#[tokio::test]
async fn hashing_the_client_ip_keeps_each_address_on_one_server() {
    let backends = [
        Backend::echo().await,
        Backend::echo().await,
        Backend::echo().await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let pool = tcp_pool(&addrs, Retry::NONE, ProxyProtocol::None);
    let proxy = Proxy::start_with(pool, Hash::new(ClientIpKey), Setup::default()).await;
    let mut used = Vec::new();
    for host in 2..14u8 {
        let source = Ipv4Addr::new(127, 0, 0, host);
        let mut servers = Vec::new();
        for _ in 0..3 {
            let before: Vec<usize> = backends.iter().map(Backend::accepted).collect();
            let mut client = connect_from(source, proxy.tcp).await;
            round_trip(&mut client, b"sticky?").await;
            let server = (0..backends.len())
                .find(|&i| backends[i].accepted() > before[i])
                .expect("a backend took the tunnel");
            servers.push(server);
        }
        assert!(
            servers.iter().all(|&s| s == servers[0]),
            "{source}: {servers:?}"
        );
        used.push(servers[0]);
    }
    used.sort_unstable();
    used.dedup();
    assert!(used.len() >= 2, "twelve addresses all on server {used:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_refusing_server_is_skipped_with_a_retry() {
    let backend = Backend::echo().await;
    let dead = closed_port().await;
    let proxy = Proxy::start(tcp_pool(
        &[dead, backend.addr],
        RETRY_CONNECT,
        ProxyProtocol::None,
    ))
    .await;
    for i in 0..4u8 {
        let mut client = connect(proxy.tcp).await;
        round_trip(&mut client, &[i; 3]).await;
    }
    assert_eq!(backend.accepted(), 4);
    proxy.stop().await;
}

#[tokio::test]
async fn without_a_usable_server_the_client_connection_is_closed() {
    let dead = [closed_port().await, closed_port().await];
    let proxy = Proxy::start(tcp_pool(&dead, RETRY_CONNECT, ProxyProtocol::None)).await;
    for _ in 0..2 {
        let mut client = connect(proxy.tcp).await;
        assert!(read_until_closed(&mut client).await.is_empty());
    }
    proxy.stop().await;
}

#[tokio::test]
async fn max_conns_counts_open_tunnels() {
    let backend = Backend::echo().await;
    let pool = leak(spec(vec![ServerSpec {
        max_conns: 1,
        ..server(backend.addr)
    }]));
    let proxy = Proxy::start(pool).await;
    let mut open = connect(proxy.tcp).await;
    round_trip(&mut open, b"first").await;
    let mut refused = connect(proxy.tcp).await;
    assert!(read_until_closed(&mut refused).await.is_empty());
    // Once the first tunnel is closed, its place is free again.
    open.shutdown().await.unwrap();
    assert!(read_until_closed(&mut open).await.is_empty());
    let mut served = false;
    for _ in 0..100 {
        let mut next = connect(proxy.tcp).await;
        if next.write_all(b"again").await.is_ok() {
            let mut back = [0; 5];
            if let Ok(Ok(_)) = tokio::time::timeout(PATIENCE, next.read_exact(&mut back)).await {
                served = true;
                break;
            }
        }
        // The proxy may not have dropped the first tunnel's place yet.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "the freed place is never reused");
    proxy.stop().await;
}

// ---- the PROXY protocol, as a backend sees it ----

/// What a PROXY protocol header said.
#[derive(Debug, PartialEq, Eq)]
struct Announced {
    version: u8,
    source: SocketAddr,
    destination: SocketAddr,
}

/// Reads a PROXY protocol header (v1 or v2, TCP4 or TCP6) and nothing after it.
async fn read_proxy_header(stream: &mut TcpStream) -> Announced {
    const SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
    let mut start = [0u8; 12];
    stream.read_exact(&mut start[..6]).await.unwrap();
    if &start[..6] == b"PROXY " {
        let mut line = b"PROXY ".to_vec();
        while !line.ends_with(b"\r\n") {
            assert!(line.len() <= 107, "v1 line too long: {line:?}");
            line.push(stream.read_u8().await.unwrap());
        }
        let line = String::from_utf8(line).unwrap();
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        let [_, family, src, dst, sport, dport] = fields[..] else {
            panic!("not a v1 header: {line:?}");
        };
        let ip = |text: &str| -> IpAddr {
            match family {
                "TCP4" => IpAddr::V4(text.parse().unwrap()),
                "TCP6" => IpAddr::V6(text.parse().unwrap()),
                _ => panic!("unexpected family in {line:?}"),
            }
        };
        return Announced {
            version: 1,
            source: SocketAddr::new(ip(src), sport.parse().unwrap()),
            destination: SocketAddr::new(ip(dst), dport.parse().unwrap()),
        };
    }
    stream.read_exact(&mut start[6..]).await.unwrap();
    assert_eq!(&start, SIGNATURE);
    let (command, family) = (
        stream.read_u8().await.unwrap(),
        stream.read_u8().await.unwrap(),
    );
    assert_eq!(command, 0x21, "version 2, PROXY");
    let len = usize::from(stream.read_u16().await.unwrap());
    let mut addresses = vec![0; len];
    stream.read_exact(&mut addresses).await.unwrap();
    let port = |at: usize| u16::from_be_bytes([addresses[at], addresses[at + 1]]);
    let (source, destination) = match family {
        0x11 => {
            assert_eq!(len, 12);
            let ip = |at: usize| -> IpAddr {
                <[u8; 4]>::try_from(&addresses[at..at + 4]).unwrap().into()
            };
            (
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            )
        }
        0x21 => {
            assert_eq!(len, 36);
            let ip = |at: usize| -> IpAddr {
                <[u8; 16]>::try_from(&addresses[at..at + 16])
                    .unwrap()
                    .into()
            };
            (
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            )
        }
        other => panic!("unexpected family {other:#x}"),
    };
    Announced {
        version: 2,
        source,
        destination,
    }
}

/// A backend that reads a PROXY header, reports it, then echoes.
async fn proxy_protocol_backend() -> (Backend, mpsc::UnboundedReceiver<Announced>) {
    let (report, reports) = mpsc::unbounded_channel();
    let backend = Backend::start(move |mut stream: TcpStream| {
        let report = report.clone();
        async move {
            let announced = read_proxy_header(&mut stream).await;
            report.send(announced).unwrap();
            echo(stream).await;
        }
    })
    .await;
    (backend, reports)
}

/// Tunnels through a proxy sending `version` whose tcp listener binds `bind`; returns what the
/// backend was told, the client's address and the proxy's.
async fn announced(version: ProxyProtocol, bind: IpAddr) -> (Announced, SocketAddr, SocketAddr) {
    let (backend, mut reports) = proxy_protocol_backend().await;
    let pool = tcp_pool(&[backend.addr], Retry::NONE, version);
    let setup = Setup {
        bind,
        ..Setup::default()
    };
    let proxy = Proxy::start_with(pool, RoundRobin::default(), setup).await;
    let listener = proxy.tcp;
    let mut client = connect(listener).await;
    // The client's bytes arrive intact after the header.
    round_trip(&mut client, b"after the header").await;
    let got = tokio::time::timeout(PATIENCE, reports.recv())
        .await
        .expect("the backend reports in time")
        .unwrap();
    let client_addr = client.local_addr().unwrap();
    drop(client);
    proxy.stop().await;
    (got, client_addr, listener)
}

#[tokio::test]
async fn an_accept_proxy_listener_tunnels_for_the_client_its_header_names() {
    let (backend, mut reports) = proxy_protocol_backend().await;
    let pool = tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::V2);
    let setup = Setup {
        accept_proxy: true,
        ..Setup::default()
    };
    let proxy = Proxy::start_with(pool, RoundRobin::default(), setup).await;
    let v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 443\r\n".to_vec();
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[203, 0, 113, 7, 192, 0, 2, 1]);
    v2.extend_from_slice(&5555u16.to_be_bytes());
    v2.extend_from_slice(&443u16.to_be_bytes());
    for header in [v1, v2] {
        let mut client = connect(proxy.tcp).await;
        client.write_all(&header).await.unwrap();
        round_trip(&mut client, b"after the header").await;
        let got = tokio::time::timeout(PATIENCE, reports.recv())
            .await
            .expect("the backend reports in time")
            .unwrap();
        // The pool's own header passes on the client and the address it connected to.
        let expected = Announced {
            version: 2,
            source: "203.0.113.7:5555".parse().unwrap(),
            destination: "192.0.2.1:443".parse().unwrap(),
        };
        assert_eq!(got, expected);
    }
    // Without a header the connection is closed, and the backend never hears of it.
    let mut client = connect(proxy.tcp).await;
    client
        .write_all(b"no header, just bytes\r\n")
        .await
        .unwrap();
    assert_eq!(read_until_closed(&mut client).await, b"");
    assert_eq!(backend.accepted(), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn proxy_protocol_v1_and_v2_over_ipv4() {
    for (version, number) in [(ProxyProtocol::V1, 1), (ProxyProtocol::V2, 2)] {
        let (got, client, listener) = announced(version, Ipv4Addr::LOCALHOST.into()).await;
        let expected = Announced {
            version: number,
            source: client,
            destination: listener,
        };
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn proxy_protocol_v1_and_v2_over_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    for (version, number) in [(ProxyProtocol::V1, 1), (ProxyProtocol::V2, 2)] {
        let (got, client, listener) = announced(version, Ipv6Addr::LOCALHOST.into()).await;
        assert!(client.is_ipv6() && listener.is_ipv6());
        let expected = Announced {
            version: number,
            source: client,
            destination: listener,
        };
        assert_eq!(got, expected);
    }
}

// ---- idle timeout and drain ----

#[tokio::test]
async fn an_idle_tunnel_is_closed() {
    let backend = Backend::echo().await;
    let setup = Setup {
        idle_timeout: Duration::from_millis(200),
        ..Setup::default()
    };
    let pool = tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None);
    let proxy = Proxy::start_with(pool, RoundRobin::default(), setup).await;
    let mut client = connect(proxy.tcp).await;
    round_trip(&mut client, b"then nothing").await;
    assert!(read_until_closed(&mut client).await.is_empty());
    // The server's side was closed too.
    backend.wait_finished(1).await;
    proxy.stop().await;
}

#[tokio::test]
async fn traffic_keeps_a_tunnel_open_past_its_idle_timeout() {
    let backend = Backend::echo().await;
    let setup = Setup {
        idle_timeout: Duration::from_secs(1),
        ..Setup::default()
    };
    let pool = tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None);
    let proxy = Proxy::start_with(pool, RoundRobin::default(), setup).await;
    let mut client = connect(proxy.tcp).await;
    // Two seconds of a byte every 100 ms: never 1 s without traffic.
    for i in 0..20u8 {
        round_trip(&mut client, &[i]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.shutdown().await.unwrap();
    assert!(read_until_closed(&mut client).await.is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn the_drain_lets_an_open_tunnel_finish_and_refuses_new_connections() {
    let backend = Backend::echo().await;
    let proxy = Proxy::start(tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None)).await;
    let tcp = proxy.tcp;
    let mut client = connect(tcp).await;
    round_trip(&mut client, b"before").await;
    let drained = proxy.shut_down();

    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(tcp).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections are still accepted");

    round_trip(&mut client, b"while draining").await;
    assert!(!drained.is_finished());
    client.shutdown().await.unwrap();
    assert!(read_until_closed(&mut client).await.is_empty());
    tokio::time::timeout(PATIENCE, drained)
        .await
        .expect("the drain ends once the tunnel is done")
        .unwrap();
}

#[tokio::test]
async fn tunnels_still_open_at_the_drain_deadline_are_closed() {
    let backend = Backend::echo().await;
    let setup = Setup {
        drain_deadline: Duration::from_millis(200),
        ..Setup::default()
    };
    let pool = tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None);
    let proxy = Proxy::start_with(pool, RoundRobin::default(), setup).await;
    let mut client = connect(proxy.tcp).await;
    round_trip(&mut client, b"open").await;
    let drained = proxy.shut_down();
    assert!(read_until_closed(&mut client).await.is_empty());
    backend.wait_finished(1).await;
    tokio::time::timeout(PATIENCE, drained)
        .await
        .expect("the drain ends at its deadline")
        .unwrap();
}

// ---- listeners ----

#[tokio::test]
async fn http_and_tcp_listeners_side_by_side() {
    let backend = Backend::echo().await;
    let proxy = Proxy::start(tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None)).await;
    let answer = edge_testkit::raw(
        proxy.web,
        b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("hello from edge\n"), "{answer}");
    // The tcp listener parses nothing: an HTTP request is just bytes to the echo server.
    let mut client = connect(proxy.tcp).await;
    round_trip(&mut client, b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").await;
    drop(client);
    proxy.stop().await;
}

#[tokio::test]
async fn a_gateway_without_handle_tcp_closes_tcp_connections() {
    let listeners: &'static [(edge_testkit::Listener, ListenerSpec)] = Box::leak(Box::new([(
        edge_testkit::Listener::Web,
        ListenerSpec {
            name: "tcp_in",
            bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Tcp(TcpSpec {
                idle_timeout: LONG_IDLE,
            }),
            tls: None,
        },
    )]));
    let backend = Backend::echo().await;
    let pool = tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None);
    let process = Process::new();
    let server = Server::bind(&process, listeners, edge_testkit::Edge::new(&process, pool))
        .await
        .unwrap();
    let (_, addr) = server.local_addrs().next().unwrap();
    let (shutdown, signal) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = signal.await;
    }));
    let mut client = connect(addr).await;
    assert!(read_until_closed(&mut client).await.is_empty());
    assert_eq!(backend.accepted(), 0);
    let _ = shutdown.send(());
    tokio::time::timeout(PATIENCE, serving)
        .await
        .expect("the proxy drains in time")
        .unwrap();
}

// ---- TLS passthrough: routes by the server name of the client's hello ----

/// A gateway routing its tcp listener by SNI, as `edgec` generates it for `sni` routes.
struct Passthrough {
    a: Pool<RoundRobin>,
    b: Pool<RoundRobin>,
}

impl Gateway for Passthrough {
    type Listener = Port;

    async fn handle(&self, _listener: Port, _req: Request, _cx: &Cx) -> Response {
        not_found()
    }

    async fn handle_tcp(&self, _listener: Port, mut conn: TcpConnection) {
        let route = match conn.server_name().await.unwrap_or("") {
            "a.example.com" => Some(&self.a),
            sni if sni.ends_with(".b.example.com") || sni == "b.example.com" => Some(&self.b),
            _ => None,
        };
        if let Some(pool) = route {
            pool.tunnel(conn).await;
        }
    }
}

/// A client hello for `name`, as rustls writes it.
fn client_hello(name: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    hello
}

/// A server that says who it is, then echoes.
async fn named(name: &'static [u8]) -> Backend {
    Backend::start(move |mut stream: TcpStream| async move {
        if stream.write_all(name).await.is_ok() {
            echo(stream).await;
        }
    })
    .await
}

#[tokio::test]
async fn tls_handshakes_go_to_the_pool_of_their_server_name_untouched() {
    let (a, b) = (named(b"A").await, named(b"B").await);
    let pool = |addr| tcp_pool(&[addr], Retry::NONE, ProxyProtocol::None);
    let listeners: &'static [(Port, ListenerSpec)] = Box::leak(Box::new([(
        Port::Tcp,
        ListenerSpec {
            name: "passthrough",
            bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Tcp(TcpSpec {
                idle_timeout: LONG_IDLE,
            }),
            tls: None,
        },
    )]));
    let process = Process::new();
    let gateway = Passthrough {
        a: Pool::new(pool(a.addr), RoundRobin::default(), process.pools()),
        b: Pool::new(pool(b.addr), RoundRobin::default(), process.pools()),
    };
    let server = Server::bind(&process, listeners, gateway).await.unwrap();
    let addr = server.local_addrs().next().unwrap().1;
    let (shutdown, signal) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = signal.await;
    }));

    for (name, expected) in [("a.example.com", b"A"), ("api.b.example.com", b"B")] {
        let hello = client_hello(name);
        let mut stream = connect(addr).await;
        stream.write_all(&hello).await.unwrap();
        // The server named by SNI answers, and gets the hello byte for byte.
        let mut got = vec![0; 1 + hello.len()];
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut got))
            .await
            .expect("the chosen server answers in time")
            .unwrap();
        assert_eq!(&got[..1], expected, "{name}");
        assert_eq!(&got[1..], hello, "{name}");
    }
    // An unknown name, or no TLS at all: the connection is closed, nothing is forwarded.
    let mut unknown = connect(addr).await;
    unknown
        .write_all(&client_hello("c.example.com"))
        .await
        .unwrap();
    assert!(read_until_closed(&mut unknown).await.is_empty());
    let mut plain = connect(addr).await;
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(read_until_closed(&mut plain).await.is_empty());
    assert_eq!(a.accepted() + b.accepted(), 2);

    let _ = shutdown.send(());
    tokio::time::timeout(PATIENCE, serving)
        .await
        .unwrap()
        .unwrap();
}

/// A `mode tcp` listener caps its open connections as HTTP ones do: past `max_connections`,
/// a new connection waits in the kernel's queue, unserved, until one closes, instead of
/// taking file descriptors until the process has none left.
#[tokio::test]
async fn a_tcp_listener_caps_its_connections() {
    let backend = Backend::echo().await;
    let setup = Setup {
        max_connections: 2,
        ..Setup::default()
    };
    let pool = tcp_pool(&[backend.addr], Retry::NONE, ProxyProtocol::None);
    let proxy = Proxy::start_with(pool, RoundRobin::default(), setup).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(proxy.tcp).await;
        stream.write_all(b"ping").await.unwrap();
        let mut echoed = [0; 4];
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        open.push(stream);
    }
    let mut third = connect(proxy.tcp).await;
    third.write_all(b"ping").await.unwrap();
    let mut echoed = [0; 4];
    let waited = tokio::time::timeout(Duration::from_millis(300), third.read_exact(&mut echoed));
    assert!(waited.await.is_err(), "a third connection was served");
    drop(open.pop());
    tokio::time::timeout(PATIENCE, third.read_exact(&mut echoed))
        .await
        .expect("served once a place is free")
        .unwrap();
    assert_eq!(&echoed, b"ping");
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 3);
    drop((open, third));
    proxy.stop().await;
}
