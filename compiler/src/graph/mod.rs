//! The picture of a config, or of a stack of configs: listeners, the routes tried on them,
//! each route's policy chain and what it ends in (a pool and its servers, or an answer of the
//! proxy's own), with the servers of one file joined to the listeners of another that they
//! reach. Rendered as Graphviz DOT ([`Graph::to_dot`]) or as a self-contained SVG of our own
//! layout ([`Graph::to_svg`]); both are deterministic, byte for byte.
//!
//! ```
//! use edge_compiler::{analyze, graph::Graph, SourceFile};
//!
//! let source = SourceFile::new(
//!     "web.edge",
//!     "listener web {\n    bind 127.0.0.1:8080\n}\n\
//!      route hello {\n    on web\n    respond 200\n}\n",
//! );
//! let model = analyze(&source).model.expect("a valid config");
//! let graph = Graph::of(&[("web.edge", &model)]);
//! assert!(graph.to_dot().contains("\"route-web-hello\""));
//! assert!(graph.to_svg().contains("<g id=\"leaf-web-hello\" class=\"leaf\""));
//! ```

mod build;
mod dot;
mod ids;
mod label;
mod layout;
mod link;
mod svg;

use std::net::SocketAddr;

use edge_dsl::value::Address;

use crate::model::{Mode, Model};

/// The nodes and edges of one or more configs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The files' names, in the order given (a stack's: from the edge inwards).
    pub files: Vec<String>,
    /// Every node, file by file, each file's in the order its listeners' routes are tried.
    pub nodes: Vec<Node>,
    /// Every edge, those within files first, then those from a file's servers to another
    /// file's listeners.
    pub edges: Vec<Edge>,
}

/// One box of the picture.
#[derive(Clone, Debug)]
pub struct Node {
    /// Unique in the graph, made of `[A-Za-z0-9_.-]` and starting with the node's kind (a
    /// valid XML id): `KIND-FILE-NAME...`, the file named by its stem, every other character
    /// written `_`; a clash gets `-2`, `-3`, ... Listeners, routes and pools by name, a policy
    /// by its route, place and name (`policy-gateway-checkout-2-checkout_attempts`), a server
    /// by its pool and address (`server-l4-gateways-127.0.0.1_9411`, or the SRV name), an
    /// answer by its route (`leaf-pods-users_1`).
    pub id: String,
    /// Index into [`Graph::files`].
    pub file: usize,
    pub item: Item,
}

/// What a node stands for.
#[derive(Clone, Debug)]
pub enum Item {
    Listener {
        name: String,
        bind: SocketAddr,
        mode: Mode,
        tls: bool,
    },
    Route {
        name: String,
        /// What it matches, as written: `host ...`, `sni ...`, `path /p` or `path = /p`,
        /// `methods ...`, then its `header`, `query` and `cookie` conditions; empty: anything.
        matches: Vec<String>,
    },
    /// One step of a route's policy chain.
    Policy {
        route: String,
        /// 1 for the first policy the route uses.
        place: usize,
        name: String,
        /// The kind as written after `=`: `jwt`, `rate_limit`, ...
        kind: &'static str,
    },
    Pool {
        name: String,
        /// The strategy as written: `round_robin`, `hash header("x-user")`, ...
        balance: String,
        /// Whether it speaks TLS to its servers.
        tls: bool,
        /// Its circuit breakers and outlier detection, as written: `max_pending 50`,
        /// `max_requests 1000`, `outlier`.
        guard: Vec<String>,
    },
    Server {
        pool: String,
        address: Address,
        weight: u32,
        /// 0: no cap.
        max_conns: u32,
        backup: bool,
    },
    /// What a route that does not forward answers.
    Leaf {
        route: String,
        /// As written: `respond 200`, `redirect 301 "/new"`, `redirect https`,
        /// `serve dir "/srv/www"`.
        action: String,
    },
}

/// The kinds of nodes, in the order of the SVG's columns (an answer shares the pools').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Listener,
    Route,
    Policy,
    Pool,
    Leaf,
    Server,
}

impl Kind {
    /// The kind's name: the SVG class of its nodes and the first word of their ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Listener => "listener",
            Kind::Route => "route",
            Kind::Policy => "policy",
            Kind::Pool => "pool",
            Kind::Leaf => "leaf",
            Kind::Server => "server",
        }
    }

    /// The fill of its boxes, the same in both renderings.
    fn fill(self) -> &'static str {
        match self {
            Kind::Listener => "#dbeafe",
            Kind::Route => "#fef3c7",
            Kind::Policy => "#ede9fe",
            Kind::Pool => "#dcfce7",
            Kind::Leaf => "#fee2e2",
            Kind::Server => "#f1f5f9",
        }
    }
}

impl Item {
    pub fn kind(&self) -> Kind {
        match self {
            Item::Listener { .. } => Kind::Listener,
            Item::Route { .. } => Kind::Route,
            Item::Policy { .. } => Kind::Policy,
            Item::Pool { .. } => Kind::Pool,
            Item::Server { .. } => Kind::Server,
            Item::Leaf { .. } => Kind::Leaf,
        }
    }
}

/// An arrow between two nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Index into [`Graph::nodes`].
    pub from: usize,
    /// Index into [`Graph::nodes`].
    pub to: usize,
    pub kind: EdgeKind,
}

/// What an arrow means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// Listener → route, the route tried in this place (1: first).
    Tries(usize),
    /// Route → its first policy, or policy → the next.
    Uses,
    /// Route, or its last policy → the pool.
    Forwards,
    /// Route, or its last policy → the pool its mirror copies requests to.
    Mirrors,
    /// Route, or its last policy → the answer.
    Answers,
    /// Pool → one of its servers.
    Has,
    /// Server → a listener of another file bound to its address.
    Reaches,
}

impl EdgeKind {
    /// The kind's name: the class of its edges in both renderings.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Tries(_) => "tries",
            EdgeKind::Uses => "uses",
            EdgeKind::Forwards => "forwards",
            EdgeKind::Mirrors => "mirrors",
            EdgeKind::Answers => "answers",
            EdgeKind::Has => "has",
            EdgeKind::Reaches => "reaches",
        }
    }
}

impl Graph {
    /// The graph of these configs, each with its file's name (`l4.edge`), in stack order: a
    /// server whose address a listener of another file binds (the same `ip:port`, or any
    /// address on the port of a `0.0.0.0:P` or `[::]:P` listener) gets an edge to it.
    pub fn of(configs: &[(&str, &Model)]) -> Graph {
        let mut graph = Graph::default();
        let mut ids = ids::Ids::default();
        for (file, model) in configs {
            build::add_file(&mut graph, &mut ids, file, model);
        }
        link::link_files(&mut graph);
        graph
    }

    /// Graphviz DOT: `rankdir=LR`, one cluster per file, nodes and edges in graph order.
    pub fn to_dot(&self) -> String {
        dot::render(self)
    }

    /// A self-contained SVG, laid out in columns (listeners, routes, policies, pools and
    /// answers, servers), the files side by side in the order given. Each node is a
    /// `<g id=ID class=KIND data-...>` holding a `<title>`, a `<rect>` and its text.
    pub fn to_svg(&self) -> String {
        svg::render(self, &layout::Layout::of(self))
    }
}
