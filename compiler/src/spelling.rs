//! The model's values written back as a config writes them (`hash header("x-user")`,
//! `security_headers`, `respond 404`), for what the compiler shows people: `edgec graph` and
//! `edgec explain`.

use edge_dsl::value::{Address, Balance, HashKey, HostPattern, PathMatch, RequestPart};

use crate::model::{Action, PolicyKind, Route};

/// What a route matches, one condition a line, as written.
pub(crate) fn matches(route: &Route) -> Vec<String> {
    let mut lines = Vec::new();
    if !route.hosts.is_empty() {
        lines.push(format!("host {}", hosts(&route.hosts)));
    }
    if !route.sni.is_empty() {
        lines.push(format!("sni {}", hosts(&route.sni)));
    }
    match &route.path {
        Some(PathMatch::Prefix(path)) => lines.push(format!("path {path}")),
        Some(PathMatch::Exact(path)) => lines.push(format!("path = {path}")),
        None => {}
    }
    if !route.methods.is_empty() {
        let methods: Vec<_> = route.methods.iter().map(|method| method.as_str()).collect();
        lines.push(format!("methods {}", methods.join(" ")));
    }
    for matcher in &route.matchers {
        let part = match matcher.part {
            RequestPart::Header => "header",
            RequestPart::Query => "query",
            RequestPart::Cookie => "cookie",
        };
        match &matcher.value {
            Some(value) => lines.push(format!("{part} {:?} {value:?}", matcher.name)),
            None => lines.push(format!("{part} {:?}", matcher.name)),
        }
    }
    lines
}

fn hosts(patterns: &[HostPattern]) -> String {
    let names: Vec<_> = patterns
        .iter()
        .map(|pattern| match pattern {
            HostPattern::Exact(name) => name.clone(),
            HostPattern::Suffix(suffix) => format!("*{suffix}"),
        })
        .collect();
    names.join(" ")
}

/// A policy's kind, as written after `=`.
pub(crate) fn policy_kind(kind: &PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Jwt(_) => "jwt",
        PolicyKind::ApiKey(_) => "api_key",
        PolicyKind::BasicAuth(_) => "basic_auth",
        PolicyKind::RateLimit(_) => "rate_limit",
        PolicyKind::Validate(_) => "validate",
        PolicyKind::Cors(_) => "cors",
        PolicyKind::Headers(_) => "headers",
        PolicyKind::Rewrite(_) => "rewrite",
        PolicyKind::Access(_) => "access",
        PolicyKind::Compress(_) => "compress",
        PolicyKind::SecurityHeaders(_) => "security_headers",
        PolicyKind::Cache(_) => "cache",
        PolicyKind::ExtAuth(_) => "ext_auth",
    }
}

/// A pool's strategy, as written after `balance`.
pub(crate) fn balance(balance: &Balance) -> String {
    match balance {
        Balance::RoundRobin => "round_robin".to_owned(),
        Balance::LeastConn => "least_conn".to_owned(),
        Balance::Random => "random".to_owned(),
        Balance::Ewma => "ewma".to_owned(),
        Balance::Hash(key) => format!("hash {}", hash_key(key)),
    }
}

/// What a hash or a split keys on, as written.
pub(crate) fn hash_key(key: &HashKey) -> String {
    match key {
        HashKey::ClientIp => "client_ip".to_owned(),
        HashKey::Header(name) => format!("header({name:?})"),
        HashKey::Cookie(name) => format!("cookie({name:?})"),
        HashKey::Path => "path".to_owned(),
    }
}

/// What a route does, as written, without a body to respond (and, for `forward`, the pool).
pub(crate) fn action(action: &Action) -> String {
    match action {
        Action::Forward(_) => "forward".to_owned(),
        Action::Split { by, .. } => match by {
            Some(key) => format!("forward, split by {}", hash_key(key)),
            None => "forward, split".to_owned(),
        },
        Action::Respond { status, .. } => format!("respond {status}"),
        Action::RedirectHttps => "redirect https".to_owned(),
        Action::Redirect { status, location } => format!("redirect {status} {location:?}"),
        Action::Serve { root, .. } => format!("serve dir {root:?}"),
    }
}

/// A server's address, as written after `server` (or `dns_srv`).
pub(crate) fn address(address: &Address) -> String {
    match address {
        Address::Socket(socket) => socket.to_string(),
        Address::Name { host, port } => format!("{host}:{port}"),
        Address::Srv(name) => format!("dns_srv {name:?}"),
    }
}
