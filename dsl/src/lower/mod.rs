//! Lowering: gives the untyped directives of `syntax.rs` their meaning. Each block declares the
//! directives it accepts in a table (`table.rs`: arguments, once or repeated, required or not);
//! one check applies the table and hands each directive that passes to the code giving its
//! meaning. Lowering reports every mistake it finds, not just the first.

mod listener;
mod policy;
mod pool;
mod process;
mod route;
mod store;
pub(crate) mod table;
mod test;
mod tls;
mod values;

use crate::ast::Config;
use crate::diagnostic::{Diagnostic, Label};
use crate::span::{Ident, Span, Spanned};
use crate::syntax::{Arg, Directive};

use table::Args::Own;
use table::{Given, ItemKind, Rule, Table};
use values::listed;

/// The items of a file. Each reads its own head, and the process-level ones say themselves
/// when they are given twice.
pub(crate) const ITEMS: Table = Table {
    place: "at the top level",
    rules: &[
        Rule::many("listener", Own, "listener NAME { ... }")
            .doc("Where clients connect: an address, a mode, limits and timeouts, TLS.")
            .declares(ItemKind::Listener)
            .opens(&listener::LISTENER),
        Rule::many("pool", Own, "pool NAME { ... }")
            .doc("A group of upstream servers, how one is picked, health checks, retries and TLS.")
            .declares(ItemKind::Pool)
            .opens(&pool::POOL),
        Rule::many("route", Own, "route NAME { ... }")
            .doc("Which requests of a listener go where: conditions, policies and one action; tried in the order written.")
            .declares(ItemKind::Route)
            .opens(&route::ROUTE),
        Rule::many(
            "policy",
            Own,
            "policy NAME = KIND { ... }`, such as `policy auth = jwt { ... }",
        )
        .doc("A step routes run with `use`: authentication, rate limits, validation, CORS, headers, rewrites, caching...")
        .declares(ItemKind::Policy)
        .opens_kinds(policy::KINDS),
        Rule::many(
            "store",
            Own,
            "store NAME = KIND { ... }`, such as `store shared = redis { ... }",
        )
        .doc("State shared by several proxies (a Redis server or cluster), named by rate limits with `store`.")
        .declares(ItemKind::Store)
        .opens_kinds(store::KINDS),
        Rule::many(
            "test",
            Own,
            "test \"users are routed\" { GET /users/42 -> users }",
        )
        .doc("Routing tests checked at build time: `METHOD URL -> ROUTE` or `-> STATUS` lines, and `on LISTENER`."),
        Rule::many("include", Own, "include \"services/*.edge\"")
            .doc("The directives of other files, here: a path or a pattern, relative to this file's folder."),
        Rule::many("defaults", Own, "defaults pool { retry 1 }")
            .doc("Directives every listener, pool or route gets unless it gives them itself."),
        Rule::many("admin", Own, "admin { bind 127.0.0.1:9900 }")
            .doc("The admin listener: metrics, health and status.")
            .by_default("on 127.0.0.1:9900")
            .opens(&process::ADMIN),
        Rule::many(
            "access_log",
            Own,
            "access_log { format json  path \"access.log\" }",
        )
        .doc("The access log's format and file.")
        .by_default("combined, on standard output")
        .opens(&process::ACCESS_LOG),
        Rule::many(
            "request_id",
            Own,
            "request_id { trust_client }` or `request_id off",
        )
        .doc("Every request gets an `X-Request-Id`; `off` turns this off.")
        .by_default("on, replacing a client's")
        .opens(&process::REQUEST_ID),
        Rule::many(
            "tracing",
            Own,
            "tracing { otlp \"http://127.0.0.1:4318\"  sample 10% }",
        )
        .doc("Spans of each request, its policies and its upstream exchanges, exported over OTLP.")
        .by_default("no export; `traceparent` passed on or started")
        .opens(&process::TRACING),
        Rule::many(
            "shutdown",
            Own,
            "shutdown { drain_delay 5s  drain_timeout 30s }",
        )
        .doc("How the proxy drains on SIGTERM.")
        .by_default("drain_delay 0s, drain_timeout 30s")
        .opens(&process::SHUTDOWN),
        Rule::many("workers", Own, "workers 1")
            .doc("The number of worker threads.")
            .by_default("one per core"),
        Rule::many("error_page", Own, "error_page 502 \"Back soon.\\n\"")
            .doc("The body of the proxy's own answers with this status (400 to 599); `html` after it for `text/html`."),
        Rule::many("via", Own, "via \"edge\"")
            .doc("Add `Via: 1.1 NAME` to requests sent upstream and to answers.")
            .by_default("no `Via`"),
    ],
};

/// An item with a kind (`policy NAME = KIND`, `store NAME = KIND`), as each kind is lowered:
/// its name and head, for the messages about what it lacks, and its block's directives.
struct Item<'d> {
    name: Ident,
    head: Span,
    directives: &'d [Directive],
}

/// Collects diagnostics while lowering goes on.
#[derive(Default)]
struct Lowering {
    diagnostics: Vec<Diagnostic>,
}

/// Lowers top-level directives into a typed config, or returns every error found.
pub fn lower(directives: &[Directive]) -> Result<Config, Vec<Diagnostic>> {
    let mut lowering = Lowering::default();
    let mut config = Config::default();
    lowering.directives(&ITEMS, directives, |lower, given| match given.name() {
        "listener" => table::add(&mut config.listeners, lower.listener(given)),
        "pool" => table::add(&mut config.pools, lower.pool(given)),
        "route" => table::add(&mut config.routes, lower.route(given)),
        "policy" => table::add(&mut config.policies, lower.policy(given)),
        "store" => table::add(&mut config.stores, lower.store(given)),
        "test" => table::add(&mut config.tests, lower.test(given)),
        "workers" => lower.workers(given, &mut config),
        "error_page" => table::add(&mut config.error_pages, lower.error_page(given)),
        "via" => lower.via(given, &mut config),
        "admin" | "access_log" | "request_id" | "shutdown" | "tracing" => {
            lower.process_item(given, &mut config)
        }
        name => table::unread(name),
    });
    if lowering.diagnostics.is_empty() {
        Ok(config)
    } else {
        Err(lowering.diagnostics)
    }
}

impl Lowering {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Keeps a literal's value, or records its diagnostic.
    fn keep<T>(&mut self, read: Result<Spanned<T>, Diagnostic>) -> Option<Spanned<T>> {
        read.map_err(|diagnostic| self.error(diagnostic)).ok()
    }

    /// `KIND NAME { ... }`: checks the head and returns the name and the block's directives.
    fn item<'d>(&mut self, given: Given<'d>) -> Option<(Ident, Span, &'d [Directive])> {
        let directive = given.directive;
        let kind = &directive.name.value;
        let usage = format!("write `{}`", given.usage);
        let name = match directive.args.as_slice() {
            [name] if name.is_bare() && is_identifier(&name.text) => {
                Ident::new(name.text.clone(), name.span)
            }
            [name] => {
                self.error(
                    Diagnostic::error(
                        "invalid-name",
                        format!("invalid {kind} name `{}`", name.text),
                    )
                    .with_label(Label::primary(name.span, "not a name"))
                    .with_help("names are letters, digits and `_`, starting with a letter or `_`"),
                );
                return None;
            }
            [] => {
                self.error(
                    Diagnostic::error("wrong-arguments", format!("this {kind} has no name"))
                        .with_label(Label::primary(directive.name.span, "a name must follow"))
                        .with_help(usage),
                );
                return None;
            }
            [_, extra, ..] => {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("too many words before the {kind}'s block"),
                    )
                    .with_label(Label::primary(extra.span, "unexpected"))
                    .with_help(usage),
                );
                return None;
            }
        };
        let Some(block) = &directive.block else {
            self.error(
                Diagnostic::error("missing-block", format!("{kind} `{name}` has no block"))
                    .with_label(Label::primary(directive.head_span(), "a `{` must follow"))
                    .with_help(usage),
            );
            return None;
        };
        Some((name, directive.head_span(), &block.directives))
    }

    /// `ITEM NAME = KIND { ... }` (`policy auth = jwt { ... }`, `store shared = redis { ... }`):
    /// checks the head and returns the item with the kind as written.
    fn kinded_item<'d>(&mut self, given: Given<'d>) -> Option<(Item<'d>, &'d Arg)> {
        let directive = given.directive;
        let what = given.name();
        let usage = format!("write `{}`", given.usage);
        let (name, kind) = match directive.args.as_slice() {
            [name, eq, kind]
                if name.is_bare()
                    && is_identifier(&name.text)
                    && eq.is_bare()
                    && eq.text == "="
                    && kind.is_bare() =>
            {
                (Ident::new(name.text.clone(), name.span), kind)
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("a {what} is written `{what} NAME = KIND {{ ... }}`"),
                    )
                    .with_label(Label::primary(
                        directive.head_span(),
                        format!("not a {what} head"),
                    ))
                    .with_help(usage),
                );
                return None;
            }
        };
        let head = directive.head_span();
        let Some(block) = &directive.block else {
            self.error(
                Diagnostic::error("missing-block", format!("{what} `{name}` has no block"))
                    .with_label(Label::primary(head, "a `{` must follow"))
                    .with_help(usage),
            );
            return None;
        };
        let item = Item {
            name,
            head,
            directives: &block.directives,
        };
        Some((item, kind))
    }

    /// A kind after `=` that is not one of `kinds`.
    fn unknown_kind(&mut self, what: &str, kind: &Arg, kinds: &[&str]) {
        self.error(
            Diagnostic::error(
                "unknown-choice",
                format!("unknown {what} kind `{}`", kind.text),
            )
            .with_label(Label::primary(kind.span, format!("not a {what} kind")))
            .with_suggestion(&kind.text, "a kind", kinds.iter().copied())
            .with_help(format!("the kinds are {}", listed(kinds))),
        );
    }

    /// A reference to a named item: an unquoted identifier.
    fn reference(&mut self, arg: &Arg) -> Option<Ident> {
        if !arg.is_bare() || !is_identifier(&arg.text) {
            self.error(
                Diagnostic::error("invalid-name", format!("`{}` is not a name", arg.text))
                    .with_label(Label::primary(arg.span, "expected a name"))
                    .with_help("names are written without quotes: letters, digits and `_`"),
            );
            return None;
        }
        Some(Ident::new(arg.text.clone(), arg.span))
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
