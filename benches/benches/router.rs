//! Route matching, nanoseconds per match: the router `edgec` generates against two interpreted
//! routers built at start-up from the same table, as config-driven proxies do:
//!
//! - `matchit`: a radix-tree path router (the one axum uses) keyed by path, each node holding
//!   its candidate routes in declaration order with a host and method check; routes without a
//!   path go in host maps (exact hosts, and wildcard suffixes looked up per suffix of the host).
//! - `regex_scan`: a linear scan over a `Vec` of route structs, host and method compared, the
//!   path matched by one regex per route.
//!
//! Tables of 10, 100 and 1,000 routes (`common/router_table.rs`) mixing hosts, wildcard hosts,
//! prefixes, exact paths and methods; 1,000 fixed request inputs (80 % hits, 20 % misses) drawn
//! before measuring. All three routers are checked to pick the same route for every input.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use edge_runtime::http::Method;
use regex::Regex;

#[path = "common/router_table.rs"]
mod router_table;

use router_table::{Host, Path, RouteDef};

/// The generated routers, one module per table (written by `build.rs`).
macro_rules! generated {
    ($module:ident, $file:literal) => {
        #[allow(dead_code, clippy::all)]
        mod $module {
            include!(concat!(env!("OUT_DIR"), "/", $file));

            /// The index of the matching route. The enum is fieldless and declared in route
            /// order; [`name`] is used once to check that against the variant names.
            #[inline]
            pub fn route(m: &::edge_runtime::http::Method, h: &str, p: &str) -> Option<usize> {
                route_api(m, h, p).map(|r| r as usize)
            }

            /// The matching route's variant name (`R17`), for the agreement check.
            pub fn name(m: &::edge_runtime::http::Method, h: &str, p: &str) -> Option<String> {
                route_api(m, h, p).map(|r| format!("{r:?}"))
            }
        }
    };
}

generated!(r10, "router_10.rs");
generated!(r100, "router_100.rs");
generated!(r1000, "router_1000.rs");

/// One request input with its method parsed once.
struct Req {
    method: Method,
    host: String,
    path: String,
}

fn host_matches(patterns: &[Host], host: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p {
            Host::Exact(h) => h == host,
            Host::Suffix(s) => host.ends_with(s.as_str()),
        })
}

fn method_matches(methods: &[Method], method: &Method) -> bool {
    methods.is_empty() || methods.contains(method)
}

/// A route's host and method conditions, checked on a candidate.
struct Guard {
    index: usize,
    hosts: Vec<Host>,
    methods: Vec<Method>,
}

impl Guard {
    fn new(index: usize, route: &RouteDef) -> Guard {
        Guard {
            index,
            hosts: route.hosts.clone(),
            methods: methods(route),
        }
    }

    #[inline]
    fn admits(&self, method: &Method, host: &str) -> bool {
        method_matches(&self.methods, method) && host_matches(&self.hosts, host)
    }
}

fn methods(route: &RouteDef) -> Vec<Method> {
    route
        .methods
        .iter()
        .map(|m| m.parse().expect("a valid method"))
        .collect()
}

/// matchit keyed by path; routes without a path in host maps (exact, and wildcard suffixes). The
/// answer is the earliest route among the candidates found, so first-match order is kept as long
/// as no two path matchers overlap (which the table guarantees and the agreement check confirms).
struct MatchitRouter {
    paths: matchit::Router<Vec<Guard>>,
    /// Routes without a path, by exact host.
    by_host: HashMap<String, Vec<Guard>>,
    /// Routes without a path, by wildcard suffix (`.tenant6.example.net`), looked up for each
    /// suffix of the request's host as Envoy does for wildcard virtual hosts.
    by_suffix: HashMap<String, Vec<Guard>>,
    /// Routes with neither a path nor a host.
    pathless: Vec<Guard>,
}

impl MatchitRouter {
    fn new(routes: &[RouteDef]) -> MatchitRouter {
        let mut patterns: Vec<(String, Vec<Guard>)> = Vec::new();
        let mut add = |pattern: String, guard: Guard| match patterns
            .iter_mut()
            .find(|(p, _)| *p == pattern)
        {
            Some((_, guards)) => guards.push(guard),
            None => patterns.push((pattern, vec![guard])),
        };
        let mut by_host: HashMap<String, Vec<Guard>> = HashMap::new();
        let mut by_suffix: HashMap<String, Vec<Guard>> = HashMap::new();
        let mut pathless = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            match &route.path {
                Some(Path::Exact(p)) => add(p.clone(), Guard::new(index, route)),
                Some(Path::Prefix(p)) if p.ends_with('/') => {
                    add(p.clone(), Guard::new(index, route));
                    add(format!("{p}{{*rest}}"), Guard::new(index, route));
                }
                Some(Path::Prefix(p)) => {
                    add(p.clone(), Guard::new(index, route));
                    add(format!("{p}/{{*rest}}"), Guard::new(index, route));
                }
                None if route.hosts.is_empty() => pathless.push(Guard::new(index, route)),
                None => {
                    for host in &route.hosts {
                        let (map, key) = match host {
                            Host::Exact(h) => (&mut by_host, h),
                            Host::Suffix(s) => (&mut by_suffix, s),
                        };
                        map.entry(key.clone())
                            .or_default()
                            .push(Guard::new(index, route));
                    }
                }
            }
        }
        let mut paths = matchit::Router::new();
        for (pattern, guards) in patterns {
            paths
                .insert(pattern.clone(), guards)
                .unwrap_or_else(|e| panic!("matchit refuses {pattern}: {e}"));
        }
        MatchitRouter {
            paths,
            by_host,
            by_suffix,
            pathless,
        }
    }

    #[inline]
    fn route(&self, method: &Method, host: &str, path: &str) -> Option<usize> {
        let first = |guards: &[Guard]| {
            guards
                .iter()
                .find(|g| g.admits(method, host))
                .map(|g| g.index)
        };
        let by_path = self.paths.at(path).ok().and_then(|m| first(m.value));
        let by_host = self.by_host.get(host).and_then(|g| first(g));
        let by_suffix = host
            .match_indices('.')
            .filter_map(|(at, _)| self.by_suffix.get(&host[at..]).and_then(|g| first(g)))
            .min();
        let pathless = first(&self.pathless);
        [by_path, by_host, by_suffix, pathless]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Every route in order, the path as a regex: the interpreted table of config-driven proxies.
struct RegexRouter {
    routes: Vec<(Guard, Option<Regex>)>,
}

impl RegexRouter {
    fn new(routes: &[RouteDef]) -> RegexRouter {
        let routes = routes
            .iter()
            .enumerate()
            .map(|(index, route)| {
                let regex = route.path.as_ref().map(|path| {
                    let source = match path {
                        Path::Exact(p) => format!("^{}$", regex::escape(p)),
                        Path::Prefix(p) if p.ends_with('/') => format!("^{}", regex::escape(p)),
                        Path::Prefix(p) => format!("^{}(?:/|$)", regex::escape(p)),
                    };
                    Regex::new(&source).expect("a valid regex")
                });
                (Guard::new(index, route), regex)
            })
            .collect();
        RegexRouter { routes }
    }

    #[inline]
    fn route(&self, method: &Method, host: &str, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .find(|(guard, regex)| {
                guard.admits(method, host) && regex.as_ref().is_none_or(|r| r.is_match(path))
            })
            .map(|(guard, _)| guard.index)
    }
}

/// Benches one table size. Generic over the routers so each is called directly (and may be
/// inlined), as it would be in a proxy.
fn bench_table<G, N>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    size: usize,
    generated: G,
    generated_name: N,
) where
    G: Fn(&Method, &str, &str) -> Option<usize>,
    N: Fn(&Method, &str, &str) -> Option<String>,
{
    let routes = router_table::table(size);
    let inputs: Vec<Req> = router_table::requests(&routes, 1_000)
        .into_iter()
        .map(|(method, host, path)| Req {
            method: method.parse().expect("a valid method"),
            host,
            path,
        })
        .collect();
    let matchit = MatchitRouter::new(&routes);
    let scan = RegexRouter::new(&routes);

    // All three agree with the table's own definition on every input.
    let mut hits = 0;
    for req in &inputs {
        let (m, h, p) = (&req.method, req.host.as_str(), req.path.as_str());
        let expected = router_table::reference(&routes, req.method.as_str(), &req.host, &req.path);
        let by_name = generated_name(m, h, p).map(|n| n[1..].parse::<usize>().unwrap());
        assert_eq!(by_name, expected, "generated ({size}) on {m} {h}{p}");
        assert_eq!(generated(m, h, p), expected, "generated index ({size})");
        assert_eq!(
            matchit.route(m, h, p),
            expected,
            "matchit ({size}) on {m} {h}{p}"
        );
        assert_eq!(
            scan.route(m, h, p),
            expected,
            "regex ({size}) on {m} {h}{p}"
        );
        hits += usize::from(expected.is_some());
    }
    assert!(
        hits > inputs.len() / 2,
        "most inputs hit a route ({hits}/{})",
        inputs.len()
    );

    measure(group, "generated", size, &inputs, generated);
    measure(group, "matchit", size, &inputs, |m, h, p| {
        matchit.route(m, h, p)
    });
    measure(group, "regex_scan", size, &inputs, |m, h, p| {
        scan.route(m, h, p)
    });
}

/// One match per iteration, cycling through the fixed inputs.
fn measure(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    size: usize,
    inputs: &[Req],
    route: impl Fn(&Method, &str, &str) -> Option<usize>,
) {
    group.bench_function(BenchmarkId::new(name, size), |b| {
        let mut next = 0;
        b.iter(|| {
            let req = &inputs[next];
            next += 1;
            if next == inputs.len() {
                next = 0;
            }
            route(
                black_box(&req.method),
                black_box(req.host.as_str()),
                black_box(req.path.as_str()),
            )
        })
    });
}

fn router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    bench_table(&mut group, 10, r10::route, r10::name);
    bench_table(&mut group, 100, r100::route, r100::name);
    bench_table(&mut group, 1_000, r1000::route, r1000::name);
    group.finish();
}

criterion_group!(benches, router);
criterion_main!(benches);
