//! Routes as the Model holds them: what they match, the policy instances they go through and
//! what they do; and the policy instances themselves.

use std::time::Duration;

use edge_dsl::value::{HostPattern, Method, PathMatch, RequestMatch};

/// A route: what it matches (see `crate::matching`), the policies it goes through and what
/// it does.
#[derive(Clone, Debug)]
pub struct Route {
    pub name: String,
    pub hosts: Vec<HostPattern>,
    /// (tcp) server names of the client's TLS handshake.
    pub sni: Vec<HostPattern>,
    pub path: Option<PathMatch>,
    pub methods: Vec<Method>,
    /// Header, query and cookie conditions.
    pub matchers: Vec<RequestMatch>,
    /// Indices into `Model::instances`, in `use` order.
    pub policies: Vec<usize>,
    /// The longest wait for the answer's head, policies included.
    pub timeout: Option<Duration>,
    /// The protocols tunnelled after a `101`; empty: the runtime's default (`websocket`).
    pub upgrades: Vec<String>,
    /// Copies of some requests to another pool.
    pub mirror: Option<Mirror>,
    pub action: Action,
}

/// A route's mirror: a copy of a share of its requests, sent to another pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// Index into `Model::pools`.
    pub pool: usize,
    /// The share copied, in hundredths of a percent (1 to 10,000).
    pub share: u32,
    /// The largest body copied.
    pub max_body: u64,
    /// The most copies on their way at once.
    pub max_in_flight: u32,
}

impl Mirror {
    /// Every request, by default.
    pub const SHARE: u32 = 10_000;
    pub const MAX_BODY: u64 = 64 << 10;
    pub const MAX_IN_FLIGHT: u32 = 100;
}

/// What a route does with a request it matches.
#[derive(Clone, Debug)]
pub enum Action {
    /// Forward to the pool with this index in `Model::pools`.
    Forward(usize),
    /// Forward to one of these pools (indices into `Model::pools`, with their weights), by
    /// weight, or by the key's hash when there is one.
    Split {
        pools: Vec<(usize, u32)>,
        by: Option<edge_dsl::value::HashKey>,
    },
    Respond {
        status: u16,
        body: String,
    },
    /// To the same URL over HTTPS.
    RedirectHttps,
    Redirect {
        status: u16,
        location: String,
    },
    /// Files from a folder (absolute); `strip` is the route's path prefix, removed before
    /// lookup.
    Serve {
        root: String,
        strip: String,
    },
}

/// One policy object of the proxy. A policy has one, shared by every route that uses it,
/// except a rate limit keyed by route: each of its routes has its own, with its own bucket.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Index into `Model::policies`.
    pub policy: usize,
    /// The policy's name, followed by `_ROUTE` for a route's own instance.
    pub name: String,
}
