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
