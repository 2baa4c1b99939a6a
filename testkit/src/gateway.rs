//! The gateway of the runtime's tests, as `edgec` would generate it (two HTTP listeners, a
//! direct route and a forwarding route), pool specs leaked to `'static` as generated code has
//! them in `static`s, and the proxy started in-process on ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use edge_runtime::{
    http::Method, not_found, respond, CertReloader, Cx, Gateway, ListenerLimits, ListenerMode,
    ListenerSpec, Pool, PoolSpec, Process, RoundRobin, Server, ServerSpec, Strategy, Upstream,
    UpstreamTimeouts,
};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{Backend, PATIENCE};

/// What a test proxy says of its build: a config of no text.
pub const TEST_BUILD: edge_runtime::BuildInfo = edge_runtime::BuildInfo {
    config_name: "test.edge",
    config_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    built_at: None,
    root: ".",
    config_text: "",
    topology: "",
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Web,
    Small,
}

pub static LISTENERS: &[(Listener, ListenerSpec)] = &[
    (
        Listener::Web,
        ListenerSpec {
            name: "web",
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0),
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Http,
            tls: None,
        },
    ),
    (
        Listener::Small,
        ListenerSpec {
            name: "small",
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0),
            limits: ListenerLimits {
                max_header_size: 8192,
                header_timeout: Duration::from_secs(1),
                keepalive_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(1),
                send_timeout: Duration::from_secs(1),
                max_body: 1024,
                ..ListenerLimits::DEFAULT
            },
            mode: ListenerMode::Http,
            tls: None,
        },
    ),
];

pub struct Edge<S: Strategy = RoundRobin> {
    app: Pool<S>,
}

impl Edge {
    pub fn new(process: &Process, app: &'static PoolSpec) -> Self {
        Edge::with(process, app, RoundRobin::default())
    }
}

impl<S: Strategy> Edge<S> {
    /// The gateway of `process` (which lists its pool), with a pool balanced by `strategy`.
    pub fn with(process: &Process, app: &'static PoolSpec, strategy: S) -> Self {
        Edge {
            app: Pool::new(app, strategy, process.pools()),
        }
    }
}

impl<S: Strategy> Gateway for Edge<S> {
    type Listener = Listener;

    async fn handle(
        &self,
        listener: Listener,
        req: edge_runtime::Request,
        cx: &Cx,
    ) -> edge_runtime::Response {
        match listener {
            Listener::Web | Listener::Small => {
                match route_web(req.method(), cx.host(), req.uri().path()) {
                    Some(RouteWeb::Admin) => respond(200, "admin\n"),
                    Some(RouteWeb::Hello) => respond(200, "hello from edge\n"),
                    Some(RouteWeb::All) => self.app.forward(req, cx).await,
                    None => not_found(),
                }
            }
        }
    }
}

enum RouteWeb {
    Admin,
    Hello,
    All,
}

fn route_web(method: &Method, host: &str, path: &str) -> Option<RouteWeb> {
    match (host, path) {
        ("admin.example", _) => Some(RouteWeb::Admin),
        (_, "/hello") if method == Method::GET => Some(RouteWeb::Hello),
        (_, "/nothing") => None,
        _ => Some(RouteWeb::All),
    }
}

/// A pool spec leaked to `'static`, as generated code would have it in a `static`: plain
/// servers, no health checks, no retries.
pub fn pool(servers: &[SocketAddr], timeouts: UpstreamTimeouts) -> &'static PoolSpec {
    leak(PoolSpec {
        timeouts,
        ..spec(servers.iter().copied().map(server).collect())
    })
}

/// A primary server of weight 1.
pub fn server(addr: SocketAddr) -> ServerSpec {
    ServerSpec::new(Upstream::Socket(addr))
}

/// A pool named `app` over `servers` with default timeouts and nothing else; tests override
/// fields with struct update syntax and [`leak`] the result.
pub fn spec(servers: Vec<ServerSpec>) -> PoolSpec {
    PoolSpec::new("app", Box::leak(servers.into_boxed_slice()))
}

pub fn leak(spec: PoolSpec) -> &'static PoolSpec {
    Box::leak(Box::new(spec))
}

/// The proxy, started in-process on ephemeral ports.
pub struct Proxy {
    pub web: SocketAddr,
    pub small: SocketAddr,
    /// What `run` does on SIGHUP: re-reads TLS files (listeners' and pools').
    pub reloader: CertReloader,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(app: &'static PoolSpec) -> Proxy {
        Proxy::start_with(app, RoundRobin::default()).await
    }

    /// Starts the proxy with a pool balanced by `strategy`.
    pub async fn start_with<S: Strategy>(app: &'static PoolSpec, strategy: S) -> Proxy {
        let process = Process::new();
        let server = Server::bind(&process, LISTENERS, Edge::with(&process, app, strategy))
            .await
            .unwrap();
        let addrs: Vec<(&str, SocketAddr)> = server.local_addrs().collect();
        assert_eq!(addrs[0].0, "web");
        assert_eq!(addrs[1].0, "small");
        let reloader = server.cert_reloader();
        let (shutdown, signal) = oneshot::channel();
        let serving = tokio::spawn(server.serve(async {
            let _ = signal.await;
        }));
        Proxy {
            web: addrs[0].1,
            small: addrs[1].1,
            reloader,
            shutdown,
            serving,
        }
    }

    /// Starts the proxy in front of `backends` with default timeouts.
    pub async fn before(backends: &[&Backend]) -> Proxy {
        let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
        Proxy::start(pool(&addrs, UpstreamTimeouts::DEFAULT)).await
    }

    /// Signals shutdown; the returned handle ends when the drain is over.
    pub fn shut_down(self) -> JoinHandle<()> {
        let _ = self.shutdown.send(());
        self.serving
    }

    /// Shuts down and waits for the drain.
    pub async fn stop(self) {
        tokio::time::timeout(PATIENCE, self.shut_down())
            .await
            .expect("the proxy drains in time")
            .unwrap();
    }
}
