//! The checked model: names resolved to indices, defaults not yet applied (the runtime owns
//! them), routes grouped by listener in match order. Code generation reads only this.

use std::net::SocketAddr;
use std::time::Duration;

use edge_dsl::ast::{Address, Balance, HostPattern, Method, PathMatch};

#[derive(Clone, Debug)]
pub struct Model {
    pub listeners: Vec<Listener>,
    pub pools: Vec<Pool>,
}

#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    pub bind: SocketAddr,
    pub max_header_size: Option<u64>,
    pub header_timeout: Option<Duration>,
    /// The routes attached to this listener, in the order they are tried.
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub balance: Balance,
    pub servers: Vec<Address>,
    pub connect_timeout: Option<Duration>,
    pub response_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub name: String,
    pub hosts: Vec<HostPattern>,
    pub path: Option<PathMatch>,
    pub methods: Vec<Method>,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub enum Action {
    /// Forward to the pool with this index in `Model::pools`.
    Forward(usize),
    Respond {
        status: u16,
        body: String,
    },
}
