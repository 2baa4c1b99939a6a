//! Stores as written: `store NAME = KIND { ... }` items, where state shared by several proxies
//! is kept (the buckets of rate limits that name the store). Secrets are never in the config:
//! a password is named by the environment variable or the file that holds it.

use std::time::Duration;

use crate::span::{Ident, Span, Spanned};

/// `store NAME = KIND { ... }`
#[derive(Clone, Debug)]
pub struct Store {
    pub name: Ident,
    /// The `store NAME = KIND` head.
    pub span: Span,
    pub kind: Spanned<StoreKind>,
}

#[derive(Clone, Debug)]
pub enum StoreKind {
    Redis(Redis),
    RedisCluster(RedisCluster),
}

impl StoreKind {
    /// The kinds, as written after `=`.
    pub const NAMES: [&'static str; 2] = ["redis", "redis_cluster"];

    /// What every kind says the same way.
    pub fn options(&self) -> &StoreOptions {
        match self {
            StoreKind::Redis(redis) => &redis.options,
            StoreKind::RedisCluster(cluster) => &cluster.options,
        }
    }
}

/// `redis { url "redis://HOST[:PORT][/DB]"  password_env NAME | password_file "FILE"
/// timeout D  prefix "TEXT" }`: one server.
#[derive(Clone, Debug)]
pub struct Redis {
    /// `redis://` or `rediss://`, a host, an optional port and database; no password.
    pub url: Spanned<String>,
    pub options: StoreOptions,
}

/// `redis_cluster { nodes "redis://HOST[:PORT]" ...  password_env NAME | password_file "FILE"
/// timeout D  prefix "TEXT" }`: a Redis Cluster, by the nodes the client first asks for the
/// others.
#[derive(Clone, Debug)]
pub struct RedisCluster {
    /// One or more, each as a `redis` store's `url`, all with one scheme and one user name,
    /// none twice, in database 0.
    pub nodes: Vec<Spanned<String>>,
    pub options: StoreOptions,
}

/// The directives every kind of store takes.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// The `password_env` or `password_file` directive; `None`: no password.
    pub password: Option<Spanned<StorePassword>>,
    /// Each call's deadline, 1ms to 10s; `None`: the runtime's default.
    pub timeout: Option<Spanned<Duration>>,
    /// What every key starts with, as written; `None`: `edge:` and the config file's stem.
    pub prefix: Option<Spanned<String>>,
}

/// Where a store's password comes from when the proxy starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorePassword {
    /// `password_env NAME`: an environment variable's value.
    Env(Spanned<String>),
    /// `password_file "FILE"`: a file's content, as written (relative to the config).
    File(Spanned<String>),
}
