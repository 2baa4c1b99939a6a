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
    RedisSentinel(RedisSentinel),
}

impl StoreKind {
    /// The kinds, as written after `=`.
    pub const NAMES: [&'static str; 3] = ["redis", "redis_cluster", "redis_sentinel"];

    /// What every kind says the same way.
    pub fn options(&self) -> &StoreOptions {
        match self {
            StoreKind::Redis(redis) => &redis.options,
            StoreKind::RedisCluster(cluster) => &cluster.options,
            StoreKind::RedisSentinel(sentinel) => &sentinel.options,
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

/// `redis_sentinel { sentinels "redis://HOST[:PORT]" ...  master NAME  database N
/// password_env NAME | password_file "FILE"  timeout D  prefix "TEXT" }`: a primary and its
/// replicas watched by Redis Sentinel, the primary found by asking the Sentinels, and found
/// again after a failover.
#[derive(Clone, Debug)]
pub struct RedisSentinel {
    /// One or more, as `redis://HOST:PORT` (the port 26379 when not written) or `rediss://`,
    /// all with one scheme (TLS to the Sentinels and to the primary alike), none twice, with
    /// no user name or database.
    pub sentinels: Vec<Spanned<String>>,
    /// The name the Sentinels monitor the primary by.
    pub master: Spanned<String>,
    /// The primary's database; `None`: 0.
    pub database: Option<Spanned<u32>>,
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
