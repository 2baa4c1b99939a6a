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
}

impl StoreKind {
    /// The kinds, as written after `=`.
    pub const NAMES: [&'static str; 1] = ["redis"];
}

/// `redis { url "redis://HOST[:PORT][/DB]"  password_env NAME | password_file "FILE"
/// timeout D  prefix "TEXT" }`
#[derive(Clone, Debug)]
pub struct Redis {
    /// `redis://` or `rediss://`, a host, an optional port and database; no password.
    pub url: Spanned<String>,
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
