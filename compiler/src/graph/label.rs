//! How nodes read: the model's values written as a config writes them, and each node's lines
//! of text (its name first) and one-line description.

use edge_dsl::value::{Address, Balance, HashKey, HostPattern, PathMatch, RequestPart};

use super::Item;
use crate::model::{Action, Mode, PolicyKind, Route};

/// What a route matches, one condition a line, as written.
pub(super) fn matches(route: &Route) -> Vec<String> {
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
pub(super) fn policy_kind(kind: &PolicyKind) -> &'static str {
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
    }
}

/// A pool's strategy, as written after `balance`.
pub(super) fn balance(balance: &Balance) -> String {
    match balance {
        Balance::RoundRobin => "round_robin".to_owned(),
        Balance::LeastConn => "least_conn".to_owned(),
        Balance::Random => "random".to_owned(),
        Balance::Ewma => "ewma".to_owned(),
        Balance::Hash(HashKey::ClientIp) => "hash client_ip".to_owned(),
        Balance::Hash(HashKey::Header(name)) => format!("hash header({name:?})"),
        Balance::Hash(HashKey::Cookie(name)) => format!("hash cookie({name:?})"),
        Balance::Hash(HashKey::Path) => "hash path".to_owned(),
    }
}

/// What a route does, as written, without a body to respond (and, for `forward`, the pool).
pub(super) fn action(action: &Action) -> String {
    match action {
        Action::Forward(_) => "forward".to_owned(),
        Action::Respond { status, .. } => format!("respond {status}"),
        Action::RedirectHttps => "redirect https".to_owned(),
        Action::Redirect { status, location } => format!("redirect {status} {location:?}"),
        Action::Serve { root, .. } => format!("serve dir {root:?}"),
    }
}

/// A server's address, as written after `server` (or `dns_srv`).
pub(super) fn address(address: &Address) -> String {
    match address {
        Address::Socket(socket) => socket.to_string(),
        Address::Name { host, port } => format!("{host}:{port}"),
        Address::Srv(name) => format!("dns_srv {name:?}"),
    }
}

impl Item {
    /// The node's text, one entry a line: its name (or address) first, then its details.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Item::Listener {
                name,
                bind,
                mode,
                tls,
            } => {
                let mode = match mode {
                    Mode::Http => "http",
                    Mode::Tcp { .. } => "tcp",
                };
                let tls = if *tls { " · tls" } else { "" };
                vec![name.clone(), format!("{bind} · {mode}{tls}")]
            }
            Item::Route { name, matches } => {
                let mut lines = vec![name.clone()];
                if matches.is_empty() {
                    lines.push("any".to_owned());
                }
                lines.extend(matches.iter().cloned());
                lines
            }
            Item::Policy { name, kind, .. } => vec![format!("{name} ({kind})")],
            Item::Pool { name, balance, tls } => {
                let tls = if *tls { " · tls" } else { "" };
                vec![name.clone(), format!("{balance}{tls}")]
            }
            Item::Server {
                address,
                weight,
                max_conns,
                backup,
                ..
            } => {
                let mut details = Vec::new();
                if *weight != 1 {
                    details.push(format!("weight {weight}"));
                }
                if *max_conns != 0 {
                    details.push(format!("max_conns {max_conns}"));
                }
                if *backup {
                    details.push("backup".to_owned());
                }
                let mut lines = vec![self::address(address)];
                if !details.is_empty() {
                    lines.push(details.join(" · "));
                }
                lines
            }
            Item::Leaf { action, .. } => vec![action.clone()],
        }
    }

    /// One line saying what the node is: `route users: path /users`.
    pub fn description(&self) -> String {
        let lines = self.lines();
        match self {
            Item::Policy { route, place, .. } => {
                format!("policy {place} of route {route}: {}", lines.join(", "))
            }
            Item::Server { pool, .. } => format!("server {} of pool {pool}", lines.join(", ")),
            Item::Leaf { route, action } => format!("route {route} answers {action}"),
            _ => match lines.split_first() {
                Some((name, details)) if !details.is_empty() => {
                    format!("{} {name}: {}", self.kind().as_str(), details.join(", "))
                }
                _ => format!("{} {}", self.kind().as_str(), lines.join(", ")),
            },
        }
    }
}
