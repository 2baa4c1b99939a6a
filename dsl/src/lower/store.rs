//! Lowering of `store NAME = KIND { ... }` items: the head, then the kind's own directives.
//! `redis` is one server, `redis_cluster` a Redis Cluster by its seed nodes,
//! `redis_sentinel` a primary found through Redis Sentinel; all say where their password comes
//! from (never the config itself), each call's deadline and what every key starts with, the
//! same way.

use std::time::Duration;

use crate::ast::{
    Redis, RedisCluster, RedisSentinel, Store, StoreKind, StoreOptions, StorePassword,
};
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

const SENTINELS: &str = "sentinels \"redis://10.0.0.1:26379\" \"redis://10.0.0.2:26379\"";

const REDIS_SENTINEL: Table = Table {
    place: "in a redis_sentinel store",
    rules: &[
        Rule::once("sentinels", OneOrMore, SENTINELS)
            .required(SENTINELS)
            .doc("The Sentinels asked where the primary is: `redis://HOST[:PORT]` (port 26379 when not given), or `rediss://` for TLS to them and to the primary."),
        Rule::once("master", Exactly(1), "master \"mymaster\"")
            .required("master \"mymaster\"")
            .doc("The name the Sentinels monitor the primary by (`sentinel monitor NAME ...` in their configuration)."),
        Rule::once("database", Exactly(1), "database 0")
            .doc("The primary's database.")
            .by_default("0"),
        PASSWORD_ENV,
        PASSWORD_FILE,
        TIMEOUT,
        PREFIX,
        Rule::elsewhere(
            "url",
            "a sentinel store finds its primary by asking the Sentinels listed with \
             `sentinels`, such as `sentinels \"redis://10.0.0.1:26379\"`, and the name they \
             know it by, `master \"mymaster\"`",
        ),
        Rule::elsewhere(
            "nodes",
            "a Redis Cluster is a store of its own kind: \
             `store NAME = redis_cluster { nodes \"redis://HOST:PORT\" ... }`",
        ),
    ],
};

/// The kinds of store, each with its table.
pub(super) const KINDS: &[(&str, &Table)] = &[
    ("redis", &REDIS),
    ("redis_cluster", &REDIS_CLUSTER),
    ("redis_sentinel", &REDIS_SENTINEL),
];

/// The port Sentinels listen on when a URL does not say.
const SENTINEL_PORT: u16 = 26379;

/// The most databases a Redis server can be configured with.
const MAX_DATABASE: u32 = 65_535;

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

    /// A store's directives, as its kind's `table` takes them: `url` for one server, `nodes`
    /// for a cluster, `sentinels` and `master` for a primary found through Sentinel, and the
    /// same options.
    fn redis(&mut self, store: &Item<'_>, table: &Table) -> Option<StoreKind> {
        let before = self.diagnostics.len();
        let mut url = None;
        let mut nodes = None;
        let mut sentinels = None;
        let mut master = None;
        let mut database = None;
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
                "sentinels" => set(&mut sentinels, lower.sentinels(&store.name, given)),
                "master" => set(&mut master, lower.master_name(given)),
                "database" => set(
                    &mut database,
                    lower.keep(literal::count(arg, 0, MAX_DATABASE)),
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
        Some(match (nodes, sentinels) {
            (Some(nodes), _) => StoreKind::RedisCluster(RedisCluster { nodes, options }),
            (None, Some(sentinels)) => StoreKind::RedisSentinel(RedisSentinel {
                sentinels,
                master: master?,
                database,
                options,
            }),
            (None, None) => StoreKind::Redis(Redis { url: url?, options }),
        })
    }

    /// `sentinels "URL" ...`: the Sentinels' addresses, each a Redis URL without a user name
    /// or a database (the primary's database is the `database` directive), 26379 when no
    /// port is written, as `redis://HOST:PORT` or `rediss://HOST:PORT`.
    fn sentinels(&mut self, store: &Ident, given: Given<'_>) -> Option<Vec<Spanned<String>>> {
        let sentinels = self.server_list(store, given, "Sentinels", "Sentinel", SENTINEL_PORT)?;
        let before = self.diagnostics.len();
        for sentinel in &sentinels {
            if sentinel.value.user.is_some() {
                self.error(
                    Diagnostic::error("invalid-literal", "a Sentinel's URL names no user")
                        .with_label(Label::primary(sentinel.span, "a user name"))
                        .with_help(
                            "the Sentinels are asked without logging in; `password_env` or \
                         `password_file` is the primary's password: leave the user out",
                        ),
                );
            }
            if sentinel.value.database_given {
                self.error(
                    Diagnostic::error("invalid-literal", "a Sentinel's URL names no database")
                        .with_label(Label::primary(sentinel.span, "a database"))
                        .with_help(
                            "a Sentinel has no databases: leave `/DB` out, and give the primary's \
                         database with `database N`",
                        ),
                );
            }
        }
        if self.diagnostics.len() > before {
            return None;
        }
        Some(
            sentinels
                .into_iter()
                .map(|sentinel| {
                    let RedisUrl { tls, server, .. } = sentinel.value;
                    let scheme = if tls { "rediss" } else { "redis" };
                    Spanned::new(format!("{scheme}://{server}"), sentinel.span)
                })
                .collect(),
        )
    }

    /// `master NAME`: the name the Sentinels know the primary by, a word.
    fn master_name(&mut self, given: Given<'_>) -> Option<Spanned<String>> {
        let name = self.keep(literal::text(given.arg(), "a master name", given.usage))?;
        if name.value.is_empty()
            || name
                .value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            self.error(
                Diagnostic::error("invalid-literal", "invalid master name")
                    .with_label(Label::primary(name.span, "empty or with spaces"))
                    .with_help(
                        "the name is the one of `sentinel monitor NAME HOST PORT QUORUM` in the \
                         Sentinels' configuration, such as `\"mymaster\"`",
                    ),
            );
            return None;
        }
        Some(name)
    }

    /// `nodes "URL" ...`: a list of servers, each in database 0.
    fn cluster_nodes(&mut self, store: &Ident, given: Given<'_>) -> Option<Vec<Spanned<RedisUrl>>> {
        let nodes = self.server_list(store, given, "nodes", "node", literal::REDIS_PORT)?;
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
        if self.diagnostics.len() > before {
            return None;
        }
        Some(nodes)
    }

    /// A directive's URLs (`nodes`, `sentinels`), each as a `redis` store's `url` but with
    /// `port` when none is written; one scheme and one user name for all, since the client
    /// reaches every one the same way; none twice. `these` and `one` name them in messages.
    fn server_list(
        &mut self,
        store: &Ident,
        given: Given<'_>,
        these: &str,
        one: &str,
        port: u16,
    ) -> Option<Vec<Spanned<RedisUrl>>> {
        let nodes: Vec<Spanned<RedisUrl>> = given
            .args
            .iter()
            .filter_map(|arg| self.keep(literal::redis_url(arg, given.usage)))
            .map(|mut url| {
                if !url.value.port_given {
                    let host = url
                        .value
                        .server
                        .rsplit_once(':')
                        .map_or("", |(host, _)| host);
                    url.value.server = format!("{host}:{port}");
                }
                url
            })
            .collect();
        if nodes.len() < given.args.len() {
            return None;
        }
        let before = self.diagnostics.len();
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
                    format!("the {these} of store `{store}` mix `redis://` and `rediss://`"),
                )
                .with_label(Label::primary(other.span, scheme(&other.value)))
                .with_label(Label::secondary(first.span, scheme(&first.value)))
                .with_help(format!(
                    "the proxy reaches every {one} the same way: write them all with \
                     `rediss://` for TLS, or all with `redis://`"
                )),
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
                    format!("the {these} of store `{store}` have different user names"),
                )
                .with_label(Label::primary(other.span, user(&other.value)))
                .with_label(Label::secondary(first.span, user(&first.value)))
                .with_help(format!(
                    "the proxy logs in to every {one} as one user: give each the same user \
                     name, or none"
                )),
            );
        }
        for (index, node) in nodes.iter().enumerate() {
            let server = &node.value.server;
            let Some(earlier) = nodes[..index].iter().find(|e| &e.value.server == server) else {
                continue;
            };
            let mut diagnostic = Diagnostic::error(
                "duplicate-server",
                format!("store `{store}` lists the {one} `{server}` twice"),
            )
            .with_label(Label::primary(node.span, "given again here"))
            .with_label(Label::secondary(earlier.span, "first given here"));
            if earlier.value.url != node.value.url {
                diagnostic = diagnostic.with_help(format!(
                    "`{}` and `{}` are one server (a URL without a port is on {port}): list it \
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
