//! What a route's conditions mean, in one place: which requests a Model route matches, and
//! which routes cover which. The checker uses it to find routes that can never match,
//! `edgec explain` and the `test` blocks to route their requests, and the router generator
//! (`codegen::router`) compiles these same predicates into the generated router; header,
//! query and cookie conditions are decided by `edge_formats::conditions`, as the proxy
//! decides them.

use edge_dsl::value::{HostPattern, Method, PathMatch, RequestMatch, RequestPart};
use edge_formats::conditions;

use crate::model::Route;

/// A request as `edgec explain` or a `test` case sends it.
pub struct Request<'a> {
    pub method: Method,
    /// Lower-case, without port; empty when not given.
    pub host: &'a str,
    /// Normalised, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// (lower-case name, value), in order; a name may repeat.
    pub headers: &'a [(String, String)],
}

impl Request<'_> {
    /// The values of header `name` (lower-case), one per line.
    pub fn header<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(given, _)| given == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The first of `routes` (a listener's, in order) that matches `request`.
pub fn first_match<'a>(routes: &'a [Route], request: &Request<'_>) -> Option<(usize, &'a Route)> {
    routes
        .iter()
        .enumerate()
        .find(|(_, route)| matches(route, request))
}

/// Whether `route` matches `request`.
pub fn matches(route: &Route, request: &Request<'_>) -> bool {
    let host = route.hosts.is_empty()
        || route
            .hosts
            .iter()
            .any(|pattern| host_matches(pattern, request.host));
    let method = route.methods.is_empty() || route.methods.contains(&request.method);
    let path = path_matcher(route).is_none_or(|matcher| path_matches(matcher, request.path));
    host && method && path && route.matchers.iter().all(|m| holds(m, request))
}

/// Whether a header, query or cookie condition holds for `request`.
fn holds(condition: &RequestMatch, request: &Request<'_>) -> bool {
    let (name, value) = (condition.name.as_str(), condition.value.as_deref());
    match condition.part {
        RequestPart::Header => {
            conditions::header_is(request.header(name).map(str::as_bytes), value)
        }
        RequestPart::Query => conditions::query_is(request.query, name, value),
        RequestPart::Cookie => conditions::cookie_is(request.header("cookie"), name, value),
    }
}

/// Whether `host` (or a TLS server name) meets `pattern`.
pub fn host_matches(pattern: &HostPattern, host: &str) -> bool {
    match pattern {
        HostPattern::Exact(exact) => exact == host,
        HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
    }
}

/// The route's path matcher, or `None` when it matches every path (`path /` included).
pub fn path_matcher(route: &Route) -> Option<&PathMatch> {
    route
        .path
        .as_ref()
        .filter(|path| **path != PathMatch::Prefix("/".to_owned()))
}

/// Whether `path` meets `matcher`.
pub fn path_matches(matcher: &PathMatch, path: &str) -> bool {
    match matcher {
        PathMatch::Exact(exact) => exact == path,
        PathMatch::Prefix(prefix) => under_prefix(path, prefix),
    }
}

/// Whether `path` is `prefix` or lies under it on a segment boundary (a prefix ending in `/`
/// only what lies under it).
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// Whether every request that `later` matches is already matched by `earlier`.
pub fn covers(earlier: &Route, later: &Route) -> bool {
    let hosts = patterns_cover(&earlier.hosts, &later.hosts);
    let sni = patterns_cover(&earlier.sni, &later.sni);
    let methods = earlier.methods.is_empty()
        || (!later.methods.is_empty() && later.methods.iter().all(|m| earlier.methods.contains(m)));
    let paths = match (path_matcher(earlier), path_matcher(later)) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(earlier), Some(later)) => path_covers(earlier, later),
    };
    // A later route asking for more (or the same) request conditions is shadowed; one that
    // does not ask for an earlier route's condition may still match without it.
    let matchers = earlier.matchers.iter().all(|condition| {
        later.matchers.iter().any(|l| {
            l == condition
                || (condition.value.is_none()
                    && l.part == condition.part
                    && l.name == condition.name)
        })
    });
    hosts && sni && methods && paths && matchers
}

/// Whether every host `later` accepts, `earlier` accepts too (no patterns: every host).
fn patterns_cover(earlier: &[HostPattern], later: &[HostPattern]) -> bool {
    earlier.is_empty()
        || (!later.is_empty()
            && later
                .iter()
                .all(|host| earlier.iter().any(|pattern| host_covers(pattern, host))))
}

fn host_covers(pattern: &HostPattern, host: &HostPattern) -> bool {
    match (pattern, host) {
        (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
        (HostPattern::Suffix(suffix), HostPattern::Exact(b) | HostPattern::Suffix(b)) => {
            b.ends_with(suffix.as_str())
        }
        (HostPattern::Exact(_), HostPattern::Suffix(_)) => false,
    }
}

fn path_covers(earlier: &PathMatch, later: &PathMatch) -> bool {
    match (earlier, later) {
        (PathMatch::Exact(a), PathMatch::Exact(b)) => a == b,
        (PathMatch::Exact(_), PathMatch::Prefix(_)) => false,
        (PathMatch::Prefix(prefix), PathMatch::Exact(path) | PathMatch::Prefix(path)) => {
            under_prefix(path, prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

    fn route(hosts: Vec<HostPattern>, path: Option<PathMatch>, methods: Vec<Method>) -> Route {
        Route {
            name: "r".to_owned(),
            hosts,
            sni: Vec::new(),
            path,
            methods,
            matchers: Vec::new(),
            policies: Vec::new(),
            timeout: None,
            upgrades: Vec::new(),
            mirror: None,
            action: Action::RedirectHttps,
        }
    }

    fn get<'a>(host: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method: Method::Get,
            host,
            path,
            query: None,
            headers: &[],
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let users = PathMatch::Prefix("/users".to_owned());
        assert!(path_matches(&users, "/users"));
        assert!(path_matches(&users, "/users/42"));
        assert!(!path_matches(&users, "/usersx"));
        let below = PathMatch::Prefix("/users/".to_owned());
        assert!(!path_matches(&below, "/users"));
        assert!(path_matches(&below, "/users/42"));
    }

    #[test]
    fn a_route_matches_on_host_method_and_path() {
        let api = route(
            vec![HostPattern::Suffix(".example.com".to_owned())],
            Some(PathMatch::Exact("/health".to_owned())),
            vec![Method::Get],
        );
        assert!(matches(&api, &get("api.example.com", "/health")));
        assert!(!matches(&api, &get("example.com", "/health")));
        assert!(!matches(&api, &get("api.example.com", "/health/x")));
        let post = Request {
            method: Method::Post,
            ..get("api.example.com", "/health")
        };
        assert!(!matches(&api, &post));
    }

    #[test]
    fn header_query_and_cookie_conditions_hold_as_the_proxy_decides_them() {
        let mut beta = route(Vec::new(), None, Vec::new());
        beta.matchers = vec![
            RequestMatch {
                part: RequestPart::Header,
                name: "x-beta".to_owned(),
                value: Some("1".to_owned()),
            },
            RequestMatch {
                part: RequestPart::Query,
                name: "v".to_owned(),
                value: None,
            },
            RequestMatch {
                part: RequestPart::Cookie,
                name: "canary".to_owned(),
                value: Some("yes".to_owned()),
            },
        ];
        let headers = [
            ("x-beta".to_owned(), "0".to_owned()),
            ("x-beta".to_owned(), "1".to_owned()),
            ("cookie".to_owned(), "a=1; canary=yes".to_owned()),
        ];
        let request = Request {
            query: Some("v=2&x"),
            headers: &headers,
            ..get("", "/")
        };
        assert!(matches(&beta, &request));
        assert!(!matches(
            &beta,
            &Request {
                query: Some("x"),
                ..request
            }
        ));
        assert!(!matches(
            &beta,
            &Request {
                headers: &headers[..2],
                ..request
            }
        ));
        assert!(!matches(&beta, &get("", "/")));
    }

    #[test]
    fn path_root_is_every_path() {
        let root = route(
            Vec::new(),
            Some(PathMatch::Prefix("/".to_owned())),
            Vec::new(),
        );
        let none = route(Vec::new(), None, Vec::new());
        assert!(path_matcher(&root).is_none());
        assert!(covers(&root, &none) && covers(&none, &root));
        let routes = [
            route(
                Vec::new(),
                Some(PathMatch::Exact("/a".to_owned())),
                Vec::new(),
            ),
            root,
        ];
        assert_eq!(
            first_match(&routes, &get("", "/b")).map(|(i, _)| i),
            Some(1)
        );
        assert_eq!(
            first_match(&routes, &get("", "/a")).map(|(i, _)| i),
            Some(0)
        );
    }
}
