//! The typed AST: every directive of a `.edge` file with its literals already typed and every
//! node carrying its span. Names are not resolved yet; that is the compiler's job.

use std::net::SocketAddr;
use std::time::Duration;

use crate::span::{Ident, Span, Spanned};

/// A whole `.edge` file, each kind of item in source order.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub pools: Vec<Pool>,
    pub routes: Vec<Route>,
}

/// `listener NAME { bind ADDR ... }`
#[derive(Clone, Debug)]
pub struct Listener {
    pub name: Ident,
    /// The `listener NAME` head.
    pub span: Span,
    pub bind: Spanned<SocketAddr>,
    pub max_header_size: Option<Spanned<u64>>,
    pub header_timeout: Option<Spanned<Duration>>,
}

/// `pool NAME { server ADDR ... }`
#[derive(Clone, Debug)]
pub struct Pool {
    pub name: Ident,
    pub span: Span,
    pub balance: Spanned<Balance>,
    pub servers: Vec<Spanned<Address>>,
    pub timeouts: Timeouts,
}

/// How a pool picks a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
}

/// A pool's upstream timeouts; `None` keeps the runtime's default.
#[derive(Clone, Debug, Default)]
pub struct Timeouts {
    pub connect: Option<Spanned<Duration>>,
    pub response: Option<Spanned<Duration>>,
    pub idle: Option<Spanned<Duration>>,
}

/// A server address: an IP socket address, or a DNS name with a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Socket(SocketAddr),
    Name { host: String, port: u16 },
}

/// `route NAME { on LISTENER ... forward POOL | respond STATUS "BODY" }`
#[derive(Clone, Debug)]
pub struct Route {
    pub name: Ident,
    pub span: Span,
    pub on: Ident,
    pub hosts: Vec<Spanned<HostPattern>>,
    pub path: Option<Spanned<PathMatch>>,
    pub methods: Vec<Spanned<Method>>,
    pub action: Spanned<Action>,
}

/// A `host` pattern, lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `"api.example.com"`
    Exact(String),
    /// `"*.example.com"`, kept as the suffix `".example.com"`.
    Suffix(String),
}

/// A `path` matcher; paths are normalised (the runtime matches normalised request paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// `path /users`: `/users` and everything under `/users/`.
    Prefix(String),
    /// `path = /health`: exactly `/health`.
    Exact(String),
}

/// An HTTP method, upper-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
}

impl Method {
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Connect,
        Method::Trace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
        }
    }
}

/// What a route does with a request it matches.
#[derive(Clone, Debug)]
pub enum Action {
    Forward(Ident),
    Respond {
        status: Spanned<u16>,
        body: Option<Spanned<String>>,
    },
}
