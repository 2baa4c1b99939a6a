//! What a request meets in a config, decided at build time by the rules the proxy follows:
//! the listener it arrives on, the first of its routes that matches (by [`crate::matching`],
//! the predicates the router is generated from), each policy of that route in order with what
//! it does to this request, and where the request ends. `edgec explain` prints it; `test`
//! blocks check what they expect against it.
//!
//! What only the running proxy can know is said so, not guessed: a token's or a password's
//! validity, a body's schema, the answer of a server. Credentials given are taken as valid
//! from there on, so that the rest of the route can be explained.

mod policies;
mod render;

use std::net::{IpAddr, Ipv4Addr};

use edge_dsl::value::{Method, RequestUrl};

use crate::matching::{self, Request};
use crate::model::{Action, Listener, Mode, Model, Policy, Pool, Route};

pub use render::{to_json, to_text};

/// The client of a request whose client is not given.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A request to explain.
#[derive(Debug, Clone)]
pub struct Probe<'a> {
    pub method: Method,
    pub url: &'a RequestUrl,
    /// (lower-case name, value), in order.
    pub headers: &'a [(String, String)],
    /// The client's address, as the proxy sees it (after the PROXY protocol or trusted
    /// forwarding headers).
    pub client: IpAddr,
    /// How many requests like this one were sent just before, at once: rate limits count
    /// them.
    pub earlier: u32,
}

impl Probe<'_> {
    fn request(&self) -> Request<'_> {
        Request {
            method: self.method,
            host: &self.url.host,
            path: &self.url.path,
            query: self.url.query.as_deref(),
            headers: self.headers,
        }
    }
}

/// What a request meets.
#[derive(Debug)]
pub struct Explanation<'m> {
    pub listener: &'m Listener,
    /// The route that matched, and its place among the listener's routes.
    pub route: Option<(usize, &'m Route)>,
    /// The route's policies the request reached, in order: all of them, or up to the one that
    /// answered.
    pub steps: Vec<Step<'m>>,
    /// When the request is forwarded and the route mirrors: the shadow pool and the share of
    /// requests copied to it, in hundredths of a percent.
    pub mirror: Option<(&'m Pool, u32)>,
    pub end: End<'m>,
}

/// One policy on a request's way.
#[derive(Debug)]
pub struct Step<'m> {
    pub policy: &'m Policy,
    pub verdict: Verdict,
}

/// What a policy does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It passes on; what the policy does to it on the way.
    Passes(String),
    /// It passes on if what it carries holds when the proxy runs (a token's signature, a
    /// body's schema): what is checked then.
    Checked(String),
    /// The policy answers it itself (a refusal, a CORS preflight) with this status.
    Answers { status: u16, why: String },
}

/// Where a request ends.
#[derive(Debug)]
pub enum End<'m> {
    /// No route matches: 404.
    NoRoute,
    /// A policy answered (the last step).
    Answered(u16),
    /// The route answers itself.
    Respond(u16),
    Redirect {
        status: u16,
        location: String,
    },
    /// The route forwards to this pool; the answer is its server's.
    Forward(&'m Pool),
    /// The route forwards to one of these pools, by weight (or by the key's hash when it has
    /// one: which pool is the running proxy's to compute).
    Split {
        pools: Vec<(&'m Pool, u32)>,
        by: Option<&'m edge_dsl::value::HashKey>,
    },
    /// Files from this folder.
    Serve(&'m str),
}

impl End<'_> {
    /// The status the config decides, when it is not a server's (or a file's) to decide.
    pub fn status(&self) -> Option<u16> {
        match self {
            End::NoRoute => Some(404),
            End::Answered(status) | End::Respond(status) => Some(*status),
            End::Redirect { status, .. } => Some(*status),
            End::Forward(_) | End::Split { .. } | End::Serve(_) => None,
        }
    }
}

/// Why a request cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainError {
    UnknownListener(String),
    TcpListener(String),
    NoListenerOnPort(u16),
    NoHttpListener,
    /// Several HTTP listeners, and nothing says which.
    WhichListener(usize),
}

impl std::fmt::Display for ExplainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExplainError::UnknownListener(name) => write!(f, "no listener named `{name}`"),
            ExplainError::TcpListener(name) => write!(
                f,
                "listener `{name}` is `mode tcp`: it forwards connections, not requests"
            ),
            ExplainError::NoListenerOnPort(port) => write!(f, "no HTTP listener binds port {port}"),
            ExplainError::NoHttpListener => write!(f, "the config has no HTTP listener"),
            ExplainError::WhichListener(n) => write!(
                f,
                "the config has {n} HTTP listeners: say which with `--on NAME` or a port in the URL"
            ),
        }
    }
}

impl std::error::Error for ExplainError {}

/// The HTTP listener a request arrives on: the one named `on`, else the one bound to the
/// URL's port, else the only one.
pub fn listener<'m>(
    model: &'m Model,
    on: Option<&str>,
    port: Option<u16>,
) -> Result<&'m Listener, ExplainError> {
    let http = || model.listeners.iter().filter(|l| l.mode == Mode::Http);
    match (on, port) {
        (Some(name), _) => {
            let listener = model
                .listeners
                .iter()
                .find(|l| l.name == name)
                .ok_or_else(|| ExplainError::UnknownListener(name.to_owned()))?;
            match listener.mode {
                Mode::Http => Ok(listener),
                Mode::Tcp { .. } => Err(ExplainError::TcpListener(name.to_owned())),
            }
        }
        (None, Some(port)) => http()
            .find(|l| l.bind.port() == port)
            .ok_or(ExplainError::NoListenerOnPort(port)),
        (None, None) => match http().count() {
            0 => Err(ExplainError::NoHttpListener),
            1 => Ok(http().next().expect("one listener")),
            n => Err(ExplainError::WhichListener(n)),
        },
    }
}

/// What `probe` meets on `listener` of `model`.
pub fn explain<'m>(model: &'m Model, listener: &'m Listener, probe: &Probe<'_>) -> Explanation<'m> {
    let request = probe.request();
    let Some((index, route)) = matching::first_match(&listener.routes, &request) else {
        return Explanation {
            listener,
            route: None,
            steps: Vec::new(),
            mirror: None,
            end: End::NoRoute,
        };
    };
    let mut steps = Vec::new();
    for &instance in &route.policies {
        let policy = &model.policies[model.instances[instance].policy];
        let verdict = policies::verdict(policy, probe, &request);
        let answered = match verdict {
            Verdict::Answers { status, .. } => Some(status),
            Verdict::Passes(_) | Verdict::Checked(_) => None,
        };
        steps.push(Step { policy, verdict });
        if let Some(status) = answered {
            return Explanation {
                listener,
                route: Some((index, route)),
                steps,
                mirror: None,
                end: End::Answered(status),
            };
        }
    }
    let end = match &route.action {
        Action::Forward(pool) => End::Forward(&model.pools[*pool]),
        Action::Split { pools, by } => End::Split {
            pools: pools
                .iter()
                .map(|&(pool, weight)| (&model.pools[pool], weight))
                .collect(),
            by: by.as_ref(),
        },
        Action::Respond { status, .. } => End::Respond(*status),
        Action::RedirectHttps => End::Redirect {
            status: if matches!(probe.method, Method::Get | Method::Head) {
                301
            } else {
                308
            },
            location: format!("https://{}{}", probe.url.host, target(probe.url)),
        },
        Action::Redirect { status, location } => End::Redirect {
            status: *status,
            location: location.clone(),
        },
        Action::Serve { root, .. } => End::Serve(root),
    };
    let mirror = route
        .mirror
        .as_ref()
        .filter(|_| matches!(end, End::Forward(_) | End::Split { .. }))
        .map(|mirror| (&model.pools[mirror.pool], mirror.share));
    Explanation {
        listener,
        route: Some((index, route)),
        steps,
        mirror,
        end,
    }
}

/// The path and query of `url`.
fn target(url: &RequestUrl) -> String {
    match &url.query {
        Some(query) => format!("{}?{query}", url.path),
        None => url.path.clone(),
    }
}
