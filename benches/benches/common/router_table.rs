//! The route tables of the router bench, shared by `build.rs` (which writes them as `.edge`
//! files and compiles them) and `benches/router.rs` (which builds the interpreted routers from
//! the same tables and draws the request inputs).
//!
//! A table of `n` routes cycles through ten kinds of route: exact host, host + prefix,
//! wildcard host, path prefix (with and without a trailing `/`), exact path with methods,
//! prefix with methods, host + method + exact path. No two routes overlap (distinct paths,
//! distinct hosts), so first-match order and a most-specific router (matchit) agree, and the
//! compiler's unreachable-route check is satisfied.
#![allow(dead_code)]

use std::fmt::Write;

/// A host matcher, as in `.edge`: exact, or `*.suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Exact(String),
    /// Stored as the suffix with its leading dot (`.tenant6.example.net`).
    Suffix(String),
}

/// A path matcher, as in `.edge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// `path /x` (segment prefix) or `path /x/` (anything below `/x/`).
    Prefix(String),
    /// `path = /x`.
    Exact(String),
}

/// One route: every condition present must hold; empty lists mean "any".
#[derive(Debug, Clone)]
pub struct RouteDef {
    pub hosts: Vec<Host>,
    pub methods: Vec<&'static str>,
    pub path: Option<Path>,
}

/// The table of `n` routes; route `i` is named `r{i}` in the `.edge` file.
pub fn table(n: usize) -> Vec<RouteDef> {
    (0..n).map(route).collect()
}

fn route(i: usize) -> RouteDef {
    let exact = |h: String| Host::Exact(h);
    let (hosts, methods, path) = match i % 10 {
        0 => (vec![exact(format!("svc{i}.example.com"))], vec![], None),
        1 => (
            vec![],
            vec![],
            Some(Path::Prefix(format!("/api/v{}/res{i}", i % 3))),
        ),
        2 => (
            vec![],
            vec!["GET", "HEAD"],
            Some(Path::Exact(format!("/exact/{i}"))),
        ),
        3 => (
            vec![],
            vec!["POST"],
            Some(Path::Prefix(format!("/items{i}"))),
        ),
        4 => (
            vec![exact(format!("api{}.example.com", i % 7))],
            vec![],
            Some(Path::Prefix(format!("/svc{i}"))),
        ),
        5 => (
            vec![],
            vec!["GET"],
            Some(Path::Exact(format!("/health/{i}"))),
        ),
        6 => (
            vec![Host::Suffix(format!(".tenant{i}.example.net"))],
            vec![],
            None,
        ),
        7 => (
            vec![],
            vec!["DELETE", "PUT"],
            Some(Path::Prefix(format!("/admin{i}"))),
        ),
        8 => (vec![], vec![], Some(Path::Prefix(format!("/static{i}/")))),
        _ => (
            vec![
                exact(format!("svc{i}.example.com")),
                exact(format!("www.svc{i}.example.com")),
            ],
            vec!["GET"],
            Some(Path::Exact(format!("/status{i}"))),
        ),
    };
    RouteDef {
        hosts,
        methods,
        path,
    }
}

/// The table as a `.edge` file: one listener `api`, one pool, routes `r0..`.
pub fn to_edge(routes: &[RouteDef]) -> String {
    let mut text = String::from(
        "listener api {\n    bind 127.0.0.1:8080\n}\n\npool app {\n    server 127.0.0.1:9000\n}\n\n",
    );
    for (i, route) in routes.iter().enumerate() {
        writeln!(text, "route r{i} {{\n    on api").unwrap();
        if !route.hosts.is_empty() {
            text.push_str("    host");
            for host in &route.hosts {
                match host {
                    Host::Exact(h) => write!(text, " \"{h}\"").unwrap(),
                    Host::Suffix(s) => write!(text, " \"*{s}\"").unwrap(),
                }
            }
            text.push('\n');
        }
        if !route.methods.is_empty() {
            writeln!(text, "    methods {}", route.methods.join(" ")).unwrap();
        }
        match &route.path {
            Some(Path::Prefix(p)) => writeln!(text, "    path {p}").unwrap(),
            Some(Path::Exact(p)) => writeln!(text, "    path = {p}").unwrap(),
            None => {}
        }
        text.push_str("    forward app\n}\n\n");
    }
    text
}

/// One request input: method, host (lower-case, no port, as the runtime hands it to the
/// router), normalised path.
pub type Input = (&'static str, String, String);

/// `count` requests drawn with a fixed seed: 80 % aimed at a route chosen uniformly (with a
/// varying tail below prefixes), 20 % that match nothing.
pub fn requests(routes: &[RouteDef], count: usize) -> Vec<Input> {
    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    (0..count)
        .map(|k| {
            if rng.below(5) == 0 {
                let method = ["GET", "POST"][rng.below(2)];
                return (
                    method,
                    format!("unknown{k}.example.org"),
                    format!("/nothing/{k}"),
                );
            }
            let route = &routes[rng.below(routes.len())];
            let method = if route.methods.is_empty() {
                ["GET", "POST", "GET", "HEAD"][rng.below(4)]
            } else {
                route.methods[rng.below(route.methods.len())]
            };
            let host = match route.hosts.as_slice() {
                [] => "www.example.com".to_owned(),
                hosts => match &hosts[rng.below(hosts.len())] {
                    Host::Exact(h) => h.clone(),
                    Host::Suffix(s) => format!("a{}{s}", rng.below(100)),
                },
            };
            let path = match &route.path {
                None => format!("/page/{}", rng.below(1000)),
                Some(Path::Exact(p)) => p.clone(),
                Some(Path::Prefix(p)) => match rng.below(3) {
                    0 if !p.ends_with('/') => p.clone(),
                    _ if p.ends_with('/') => format!("{p}file{}.css", rng.below(100)),
                    _ => format!("{p}/{}", rng.below(100)),
                },
            };
            (method, host, path)
        })
        .collect()
}

/// A tiny deterministic generator, so every run measures the same inputs.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The route a table's definition says matches: the first, in order, whose conditions hold.
/// This is the reference every router is checked against.
pub fn reference(routes: &[RouteDef], method: &str, host: &str, path: &str) -> Option<usize> {
    routes.iter().position(|route| {
        let host_ok = route.hosts.is_empty()
            || route.hosts.iter().any(|pattern| match pattern {
                Host::Exact(h) => h == host,
                Host::Suffix(s) => host.ends_with(s.as_str()),
            });
        let method_ok = route.methods.is_empty() || route.methods.contains(&method);
        let path_ok = match &route.path {
            None => true,
            Some(Path::Exact(p)) => path == p,
            Some(Path::Prefix(p)) if p.ends_with('/') => path.starts_with(p.as_str()),
            Some(Path::Prefix(p)) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        };
        host_ok && method_ok && path_ok
    })
}

/// A table where order decides: paths, hosts and wildcards overlap, specific routes come first,
/// `/` and trailing-slash prefixes appear, an exact host ends with a wildcard's suffix, and
/// one wildcard's suffix ends with another's. Long enough to get the decision tree.
pub fn overlapping() -> Vec<RouteDef> {
    let route = |hosts: &[&str], methods: &[&'static str], path: Option<&str>| RouteDef {
        hosts: hosts
            .iter()
            .map(|h| match h.strip_prefix('*') {
                Some(suffix) => Host::Suffix(suffix.to_owned()),
                None => Host::Exact((*h).to_owned()),
            })
            .collect(),
        methods: methods.to_vec(),
        path: path.map(|p| match p.strip_prefix('=') {
            Some(exact) => Path::Exact(exact.to_owned()),
            None => Path::Prefix(p.to_owned()),
        }),
    };
    vec![
        route(&["api.example.com"], &["GET"], Some("=/v1/users/me")),
        route(&[], &["POST"], Some("/v1/users/")),
        route(&["*.example.com"], &[], Some("/v1/users")),
        route(&[], &[], Some("=/v1/users")),
        route(&["*.internal.example.com"], &["DELETE"], None),
        route(&["admin.example.com"], &[], Some("/v1")),
        route(&[], &["GET", "HEAD"], Some("/v1/items")),
        route(&[], &[], Some("/v1/")),
        route(&["admin.example.com", "*.ops.example.org"], &[], None),
        route(&[], &[], Some("=/")),
        route(&[], &["GET"], Some("/static/img")),
        route(&[], &[], Some("/static/")),
        route(&["shop.example.com"], &["POST"], Some("/cart")),
        route(&["*.example.com"], &["POST"], None),
        route(&[], &[], Some("=/static")),
        route(&[], &["PUT"], Some("/a/b/c")),
        route(&[], &["PUT"], Some("/a/b")),
        route(&[], &[], Some("/a/b/c/d")),
        route(&[], &[], Some("=/a/")),
        route(&["x.internal.example.com"], &[], Some("/a")),
        route(&[], &["GET", "HEAD"], None),
        route(&[], &[], Some("/v2")),
    ]
}

/// Every combination of methods, hosts and paths chosen on and around the edges of
/// [`overlapping`]'s matchers.
pub fn overlapping_inputs() -> Vec<Input> {
    let methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
    let hosts = [
        "",
        "api.example.com",
        "admin.example.com",
        "example.com",
        "www.example.com",
        "internal.example.com",
        "x.internal.example.com",
        "y.internal.example.com",
        "a.ops.example.org",
        "ops.example.org",
        "shop.example.com",
        "other.net",
    ];
    let paths = [
        "/",
        "/v1",
        "/v1/",
        "/v1x",
        "/v1/users",
        "/v1/users/",
        "/v1/users/me",
        "/v1/users/me/x",
        "/v1/usersx",
        "/v1/items",
        "/v1/items/3",
        "/static",
        "/static/",
        "/static/img",
        "/static/img/a.png",
        "/static/imgx",
        "/cart",
        "/cart/1",
        "/a",
        "/a/",
        "/a/b",
        "/a/b/",
        "/a/b/c",
        "/a/b/c/d",
        "/a/b/c/d/e",
        "/a/bc",
        "/v2",
        "/v2/x",
        "/zzz",
        "/zzz/y",
    ];
    let mut inputs = Vec::new();
    for method in methods {
        for host in hosts {
            for path in paths {
                inputs.push((method, host.to_owned(), path.to_owned()));
            }
        }
    }
    inputs
}
