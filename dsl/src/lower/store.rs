//! Lowering of `store NAME = KIND { ... }` items: the head, then the kind's own directives.
//! `redis` is one server, `redis_cluster` a Redis Cluster by its seed nodes; both say where
//! their password comes from (never the config itself), each call's deadline and what every
//! key starts with, the same way.

use std::time::Duration;

use crate::ast::{Redis, RedisCluster, Store, StoreKind, StoreOptions, StorePassword};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal::{self, RedisUrl};
use crate::span::{Ident, Spanned};

use super::table::Args::{Exactly, OneOrMore};
use super::table::{set, unread, Given, Rule, Table};
use super::{Item, Lowering};

/// The directives of every kind, after the servers. `password_env` and `password_file` say
/// themselves when both are given.
const PASSWORD_ENV: Rule = Rule::once("password_env", Exactly(1), "password_env REDIS_PASSWORD")
    .doc("The password is this environment variable's value, read when the proxy starts.")
    .by_default("no password");
const PASSWORD_FILE: Rule = Rule::once(
    "password_file",
    Exactly(1),
    "password_file \"secrets/redis.pass\"",
)
.doc(
    "The password is this file's content without its final line break, read when the proxy starts.",
)
.by_default("no password");
const TIMEOUT: Rule = Rule::once("timeout", Exactly(1), "timeout 5ms")
    .doc("The longest one call to the store may take, from `1ms` to `10s`; then the rate limit's `on_store_error` decides.")
    .by_default("5ms");
const PREFIX: Rule = Rule::once("prefix", Exactly(1), "prefix \"edge:gateway:\"")
    .doc("What every key the proxy writes starts with, as written.")
    .by_default("edge:FILE_NAME:");

const REDIS: Table = Table {
    place: "in a redis store",
    rules: &[
        Rule::once("url", Exactly(1), "url \"redis://127.0.0.1:6379/0\"")
            .required("url \"redis://127.0.0.1:6379\"")
            .doc("The server: `redis://HOST[:PORT][/DB]`, or `rediss://` to speak TLS; never a password."),
        PASSWORD_ENV,
        PASSWORD_FILE,
        TIMEOUT,
        PREFIX,
        Rule::elsewhere(
            "nodes",
            "a redis store is one server, given with `url`; a Redis Cluster is a store of its \
             own kind: `store NAME = redis_cluster { nodes \"redis://HOST:PORT\" ... }`",
        ),
    ],
};

const NODES: &str = "nodes \"redis://10.0.0.1:7000\" \"redis://10.0.0.2:7000\"";

const REDIS_CLUSTER: Table = Table {
    place: "in a redis_cluster store",
    rules: &[
        Rule::once("nodes", OneOrMore, NODES)
            .required(NODES)
            .doc("Seed nodes of the cluster, each written as a `redis` store's `url`; the proxy finds the others."),
        PASSWORD_ENV,
        PASSWORD_FILE,
        TIMEOUT,
        PREFIX,
        Rule::elsewhere(
            "url",
            "a cluster store lists its seed nodes with `nodes`, such as \
             `nodes \"redis://10.0.0.1:7000\" \"redis://10.0.0.2:7000\"`; the proxy finds the \
             cluster's other nodes from them",
        ),
    ],
};

/// The kinds of store, each with its table.
pub(super) const KINDS: &[(&str, &Table)] = &[("redis", &REDIS), ("redis_cluster", &REDIS_CLUSTER)];

/// The longest a call to a store may take: a request waits for it.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

impl Lowering {
    /// `store NAME = KIND { ... }`
    pub(super) fn store(&mut self, given: Given<'_>) -> Option<Store> {
        let (store, kind) = self.kinded_item(given)?;
        let Some((_, table)) = KINDS.iter().find(|(name, _)| *name == kind.text) else {
            self.unknown_kind("store", kind, &StoreKind::NAMES);
            return None;
        };
        let before = self.diagnostics.len();
        let lowered = self.redis(&store, table);
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Store {
            name: store.name,
            span: store.head,
            kind: Spanned::new(lowered?, kind.span),
        })
    }

    /// A `redis` or `redis_cluster` store's directives, as `table` takes them: `url` for the
    /// one, `nodes` for the other, and the same options.
    fn redis(&mut self, store: &Item<'_>, table: &Table) -> Option<StoreKind> {
        let before = self.diagnostics.len();
        let mut url = None;
        let mut nodes = None;
        let mut options = StoreOptions::default();
        let mut user = None;
        let taken = self.directives(table, store.directives, |lower, given| {
            let arg = given.arg();
            let mut urls = |urls: Vec<Spanned<RedisUrl>>| {
                user = urls
                    .iter()
                    .find_map(|url| Some(Spanned::new(url.value.user.clone()?, url.span)));
                urls.into_iter()
                    .map(|url| Spanned::new(url.value.url, url.span))
                    .collect::<Vec<_>>()
            };
            match given.name() {
                "url" => set(
                    &mut url,
                    lower
                        .keep(literal::redis_url(arg, given.usage))
                        .and_then(|url| urls(vec![url]).pop()),
                ),
                "nodes" => set(
                    &mut nodes,
                    lower.cluster_nodes(&store.name, given).map(&mut urls),
                ),
                "password_env" | "password_file" => {
                    if let Some(first) = &options.password {
                        lower.error(
                            Diagnostic::error(
                                "conflicting-directives",
                                format!("store `{}` has two passwords", store.name),
                            )
                            .with_label(Label::primary(given.head(), "second"))
                            .with_label(Label::secondary(first.span, "first"))
                            .with_help(
                                "the password comes from one environment variable \
                                     (`password_env`) or one file (`password_file`)",
                            ),
                        );
                        return false;
                    }
                    let read = if given.name() == "password_env" {
                        lower.keep(literal::env_name(arg)).map(StorePassword::Env)
                    } else {
                        lower.file(arg, given.usage).map(StorePassword::File)
                    };
                    set(
                        &mut options.password,
                        read.map(|read| Spanned::new(read, given.head())),
                    )
                }
                "timeout" => set(&mut options.timeout, lower.store_timeout(given)),
                "prefix" => set(&mut options.prefix, lower.key_prefix(given)),
                name => unread(name),
            }
        });
        if self.diagnostics.len() == before {
            self.require(table, &taken, "store", &store.name, store.head);
        }
        if let (Some(user), None) = (&user, &options.password) {
            self.error(
                Diagnostic::error(
                    "ineffective-directive",
                    format!(
                        "store `{}` names the user `{}` but gives no password",
                        store.name, user.value
                    ),
                )
                .with_label(Label::primary(user.span, "logs in only with a password"))
                .with_help(
                    "Redis takes a user name only with its password: add `password_env NAME` or \
                     `password_file \"FILE\"`, or leave the user out of the URL",
                ),
            );
        }
        Some(match nodes {
            Some(nodes) => StoreKind::RedisCluster(RedisCluster { nodes, options }),
            None => StoreKind::Redis(Redis { url: url?, options }),
        })
    }

    /// `nodes "URL" ...`: each URL as a `redis` store's, in database 0; one scheme and one user
    /// name for all, since the client reaches every node of the cluster the same way; no node
    /// twice.
    fn cluster_nodes(&mut self, store: &Ident, given: Given<'_>) -> Option<Vec<Spanned<RedisUrl>>> {
        let nodes: Vec<Spanned<RedisUrl>> = given
            .args
            .iter()
            .filter_map(|arg| self.keep(literal::redis_url(arg, given.usage)))
            .collect();
        if nodes.len() < given.args.len() {
            return None;
        }
        let before = self.diagnostics.len();
        for node in nodes.iter().filter(|node| node.value.database != 0) {
            self.error(
                Diagnostic::error(
                    "cluster-database",
                    format!("a Redis Cluster has no database {}", node.value.database),
                )
                .with_label(Label::primary(node.span, "not database 0"))
                .with_help(
                    "a Redis Cluster has only database 0: leave the database out of the URL, or \
                     write `/0`",
                ),
            );
        }
        let first = &nodes[0];
        if let Some(other) = nodes.iter().find(|node| node.value.tls != first.value.tls) {
            let scheme = |node: &RedisUrl| {
                if node.tls {
                    "`rediss://`: TLS"
                } else {
                    "`redis://`: no TLS"
                }
            };
            self.error(
                Diagnostic::error(
                    "inconsistent-servers",
                    format!("the nodes of store `{store}` mix `redis://` and `rediss://`"),
                )
                .with_label(Label::primary(other.span, scheme(&other.value)))
                .with_label(Label::secondary(first.span, scheme(&first.value)))
                .with_help(
                    "the proxy reaches every node of a cluster the same way: write them all with \
                     `rediss://` for TLS, or all with `redis://`",
                ),
            );
        }
        if let Some(other) = nodes
            .iter()
            .find(|node| node.value.user != first.value.user)
        {
            let user = |node: &RedisUrl| match &node.user {
                Some(user) => format!("user `{user}`"),
                None => "no user name".to_owned(),
            };
            self.error(
                Diagnostic::error(
                    "inconsistent-servers",
                    format!("the nodes of store `{store}` have different user names"),
                )
                .with_label(Label::primary(other.span, user(&other.value)))
                .with_label(Label::secondary(first.span, user(&first.value)))
                .with_help(
                    "the proxy logs in to every node of a cluster as one user: give each node \
                     the same user name, or none",
                ),
            );
        }
        for (index, node) in nodes.iter().enumerate() {
            let server = &node.value.server;
            let Some(earlier) = nodes[..index].iter().find(|e| &e.value.server == server) else {
                continue;
            };
            let mut diagnostic = Diagnostic::error(
                "duplicate-server",
                format!("store `{store}` lists the node `{server}` twice"),
            )
            .with_label(Label::primary(node.span, "given again here"))
            .with_label(Label::secondary(earlier.span, "first given here"));
            if earlier.value.url != node.value.url {
                diagnostic = diagnostic.with_help(format!(
                    "`{}` and `{}` are one server (a node without a port is on 6379): list it \
                     once",
                    earlier.value.url, node.value.url
                ));
            }
            self.error(diagnostic);
        }
        if self.diagnostics.len() > before {
            return None;
        }
        Some(nodes)
    }

    /// `timeout D`, from 1ms to 10s.
    fn store_timeout(&mut self, given: Given<'_>) -> Option<Spanned<Duration>> {
        let timeout = self.keep(literal::duration(given.arg()))?;
        if !(Duration::from_millis(1)..=MAX_TIMEOUT).contains(&timeout.value) {
            self.error(
                Diagnostic::error(
                    "out-of-range",
                    format!(
                        "a store's timeout is from 1ms to 10s, not `{}`",
                        given.arg().text
                    ),
                )
                .with_label(Label::primary(timeout.span, "out of range"))
                .with_help(
                    "a request waits for its call to the store: keep it short (the default is 5ms)",
                ),
            );
            return None;
        }
        Some(timeout)
    }

    /// `prefix "TEXT"`: not empty, since it keeps this config's keys apart from others'.
    fn key_prefix(&mut self, given: Given<'_>) -> Option<Spanned<String>> {
        let prefix = self.keep(literal::text(given.arg(), "a key prefix", given.usage))?;
        if prefix.value.is_empty() || prefix.value.chars().any(char::is_control) {
            self.error(
                Diagnostic::error("invalid-literal", "invalid key prefix")
                    .with_label(Label::primary(
                        prefix.span,
                        "empty or with control characters",
                    ))
                    .with_help(
                        "the prefix keeps this config's keys apart from those of others sharing \
                         the server, such as `\"edge:gateway:\"`",
                    ),
            );
            return None;
        }
        Some(prefix)
    }
}
