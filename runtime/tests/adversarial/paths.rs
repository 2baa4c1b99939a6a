//! Paths that backends read differently from the router: encoded slashes and backslashes,
//! `;` path parameters and case. A route denying `/admin` must not be walked around.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use edge_runtime::{
    respond, Cx, Gateway, ListenerLimits, ListenerMode, ListenerSpec, Pool, Process, RoundRobin,
    Server, UpstreamTimeouts,
};
use tokio::sync::oneshot;

use edge_testkit::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Door {
    Strict,
    Folded,
    Lenient,
}

static DOORS: &[(Door, ListenerSpec)] = &[
    (Door::Strict, door("strict", ListenerLimits::DEFAULT)),
    (
        Door::Folded,
        door(
            "folded",
            ListenerLimits {
                case_insensitive_paths: true,
                ..ListenerLimits::DEFAULT
            },
        ),
    ),
    (
        Door::Lenient,
        door(
            "lenient",
            ListenerLimits {
                allow_encoded_slashes: true,
                allow_semicolons: true,
                ..ListenerLimits::DEFAULT
            },
        ),
    ),
];

const fn door(name: &'static str, limits: ListenerLimits) -> ListenerSpec {
    ListenerSpec {
        name,
        bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        limits,
        mode: ListenerMode::Http,
        tls: None,
    }
}

/// `path /admin` is denied, everything else forwarded, on every listener.
struct Guarded {
    pool: Pool<RoundRobin>,
}

impl Gateway for Guarded {
    type Listener = Door;

    async fn handle(&self, _: Door, req: edge_runtime::Request, cx: &Cx) -> edge_runtime::Response {
        let path = req.uri().path();
        if path == "/admin" || path.starts_with("/admin/") {
            respond(403, "denied\n")
        } else {
            self.pool.forward(req, cx).await
        }
    }
}

async fn start(backend: &Backend) -> (Vec<SocketAddr>, oneshot::Sender<()>) {
    let process = Process::new();
    let gateway = Guarded {
        pool: Pool::new(
            pool(&[backend.addr], UpstreamTimeouts::DEFAULT),
            RoundRobin::default(),
            process.pools(),
        ),
    };
    let server = Server::bind(&process, DOORS, gateway).await.unwrap();
    let addrs = server.local_addrs().map(|(_, addr)| addr).collect();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    (addrs, stop)
}

async fn status(addr: SocketAddr, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    raw_status(&raw(addr, request.as_bytes()).await)
}

/// By default every path a backend could read as `/admin…` while the router does not is
/// refused, and nothing reaches the backend.
#[tokio::test]
async fn disguised_admin_paths_are_refused() {
    let backend = Backend::start("a").await;
    let (doors, stop) = start(&backend).await;
    let strict = doors[0];
    for path in [
        "/admin%2Fusers",
        "/admin%2fusers",
        "/public%2F..%2Fadmin",
        "/public/..;/admin/",
        "/admin;x/users",
        "/x\\..\\admin",
        "/x%5C..%5Cadmin",
    ] {
        assert_eq!(status(strict, path).await, 400, "{path}");
    }
    assert!(backend.seen().is_empty());
    assert_eq!(status(strict, "/admin/users").await, 403);
    assert_eq!(status(strict, "/public/x").await, 200);
    let _ = stop.send(());
}

/// With `case_insensitive_paths`, `/ADMIN` meets the `/admin` route, and the backend is sent
/// the lower-cased path the router saw.
#[tokio::test]
async fn folded_case_meets_the_lower_case_route() {
    let backend = Backend::start("a").await;
    let (doors, stop) = start(&backend).await;
    let (strict, folded) = (doors[0], doors[1]);
    assert_eq!(status(folded, "/ADMIN").await, 403);
    assert_eq!(status(folded, "/Admin/Users").await, 403);
    assert_eq!(status(folded, "/Public/X%C3%A9").await, 200);
    assert_eq!(backend.last().uri, "/public/x%C3%A9");
    // Without it, case is kept: the backend must be case-sensitive too.
    assert_eq!(status(strict, "/Public/X").await, 200);
    assert_eq!(backend.last().uri, "/Public/X");
    let _ = stop.send(());
}

/// A listener that allows encoded slashes and `;` passes them to the backend as sent.
#[tokio::test]
async fn a_lenient_listener_passes_them_on_as_sent() {
    let backend = Backend::start("a").await;
    let (doors, stop) = start(&backend).await;
    let lenient = doors[2];
    assert_eq!(status(lenient, "/files/a%2Fb;v=1").await, 200);
    assert_eq!(backend.last().uri, "/files/a%2Fb;v=1");
    let _ = stop.send(());
}
