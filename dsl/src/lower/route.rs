//! Lowering of `route` blocks: what a request must match (listener, hosts, SNI, path, methods,
//! headers, query parameters, cookies), the policies it uses, its timeout, upgrades and mirror,
//! and its one action: forward, respond, redirect or serve.

use crate::ast::{Action, Mirror, RequestMatch, RequestPart, Route};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Ident, Spanned};
use crate::syntax::Arg;

use super::table::Args::{Exactly, OneOrMore, Own};
use super::table::{add, set, unread, Given, ItemKind, Rule, Table};
use super::Lowering;

/// The actions say themselves when a route has two.
pub(super) const ROUTE: Table = Table {
    place: "in a route",
    rules: &[
        Rule::once("on", Exactly(1), "on LISTENER")
            .required("on web")
            .doc("The listener whose requests this route sees.")
            .refers_to(ItemKind::Listener),
        Rule::many("host", OneOrMore, "host \"api.example.com\"")
            .doc("Matches when the request's host is one of these (case-insensitive, port ignored; `*.` for any subdomain).")
            .by_default("any host"),
        Rule::many("sni", OneOrMore, "sni \"a.example.com\"")
            .doc("(tcp) Matches when the client's TLS hello names one of these servers; the TLS passes through untouched."),
        Rule::once("path", Own, "path /users` or `path = /health")
            .doc("`path /prefix` matches the prefix and everything under it; `path = /exact` only that path.")
            .by_default("any path"),
        Rule::once("methods", OneOrMore, "methods GET HEAD")
            .doc("Matches only these methods.")
            .by_default("any method"),
        Rule::many("header", Own, "header \"name\" \"value\"")
            .doc("Matches when the header is present (with exactly this value, if given); all such conditions must hold."),
        Rule::many("query", Own, "query \"name\" \"value\"")
            .doc("Matches when the query parameter is present (with exactly this value as sent, if given)."),
        Rule::many("cookie", Own, "cookie \"name\" \"value\"")
            .doc("Matches when the cookie is present (with exactly this value, if given)."),
        Rule::once("use", OneOrMore, "use auth, limit")
            .doc("Runs these policies, in this order, before the action.")
            .refers_to(ItemKind::Policy),
        Rule::once("timeout", Exactly(1), "timeout 5s")
            .doc("(forwarding routes) The longest wait for the answer to start, policies included; then `504`.")
            .by_default("none"),
        Rule::once("upgrade", OneOrMore, "upgrade websocket")
            .doc("(forwarding routes) The protocols a client may switch to (`Upgrade`), tunnelled after the server's `101`; never `h2c`.")
            .by_default("websocket"),
        Rule::once("mirror", Own, "mirror shadow 10%")
            .doc("(forwarding routes) Sends a copy of this share of requests to another pool, without waiting for it; its answers are counted and dropped.")
            .by_default("none")
            .refers_to(ItemKind::Pool)
            .opens(&MIRROR),
        Rule::many("forward", Own, "forward POOL")
            .doc("Proxies the request to a server of the pool; `forward app 95, app_v2 5 [by KEY]` splits requests across pools by weight (by key: a client stays on one side).")
            .refers_to(ItemKind::Pool),
        Rule::many("respond", Own, "respond 200 \"body\"")
            .doc("Answers directly with this status and an optional `text/plain` body."),
        Rule::many(
            "redirect",
            Own,
            "redirect https` or `redirect 301 \"https://example.com/\"",
        )
        .doc("Answers with a redirect: to the same URL over HTTPS, or with a status (301, 302, 303, 307, 308) to a location."),
        Rule::many("serve", Own, "serve dir \"public\"")
            .doc("Answers with files from the folder (relative to the config), the route's path prefix removed."),
    ],
};

/// The largest `max_body` of a mirror: each copy is held in memory until it is sent.
const MAX_MIRRORED_BODY: u64 = 64 << 20;

const MIRROR: Table = Table {
    place: "in `mirror`",
    rules: &[
        Rule::once("max_body", Exactly(1), "max_body 1MiB")
            .doc("The largest request body copied; a request with a longer one is not mirrored.")
            .by_default("64KiB"),
        Rule::once("max_in_flight", Exactly(1), "max_in_flight 50")
            .doc("The most copies on their way at once; past it, requests are not mirrored.")
            .by_default("100"),
    ],
};

impl Lowering {
    pub(super) fn route(&mut self, item: Given<'_>) -> Option<Route> {
        let (name, span, directives) = self.item(item)?;
        let before = self.diagnostics.len();
        let mut on = None;
        let mut hosts = Vec::new();
        let mut sni = Vec::new();
        let mut path = None;
        let mut methods = Vec::new();
        let mut matchers = Vec::new();
        let mut uses = Vec::new();
        let mut timeout = None;
        let mut upgrades = Vec::new();
        let mut mirror = None;
        let mut action: Option<Spanned<Action>> = None;
        let taken = self.directives(&ROUTE, directives, |lower, given| {
            let args = given.args;
            match given.name() {
                "on" => set(&mut on, lower.reference(given.arg())),
                "host" => add(
                    &mut hosts,
                    args.iter()
                        .filter_map(|arg| lower.keep(literal::host_pattern(arg))),
                ),
                "sni" => add(
                    &mut sni,
                    args.iter()
                        .filter_map(|arg| lower.keep(literal::host_pattern(arg))),
                ),
                "path" => set(&mut path, lower.path(given)),
                "methods" => add(
                    &mut methods,
                    args.iter()
                        .filter_map(|arg| lower.keep(literal::method(arg))),
                ),
                "header" | "query" | "cookie" => add(&mut matchers, lower.request_match(given)),
                "use" => add(
                    &mut uses,
                    args.iter().filter_map(|arg| lower.reference(arg)),
                ),
                "timeout" => set(&mut timeout, lower.keep(literal::duration(given.arg()))),
                "upgrade" => add(
                    &mut upgrades,
                    args.iter().filter_map(|arg| lower.upgrade(arg)),
                ),
                "mirror" => set(&mut mirror, lower.mirror(given)),
                "forward" | "respond" | "redirect" | "serve" => {
                    if let Some(first) = &action {
                        lower.error(
                            Diagnostic::error(
                                "conflicting-directives",
                                format!("route `{name}` has two actions"),
                            )
                            .with_label(Label::primary(given.head(), "second action"))
                            .with_label(Label::secondary(first.span, "first action"))
                            .with_help("a route either forwards to a pool or responds itself"),
                        );
                        return false;
                    }
                    set(&mut action, lower.action(given))
                }
                name => unread(name),
            }
        });
        if self.diagnostics.len() > before {
            return None;
        }
        self.require(&ROUTE, &taken, "route", &name, span);
        if action.is_none() {
            self.error(
                Diagnostic::error("missing-directive", format!("route `{name}` does nothing"))
                    .with_label(Label::primary(span, "no `forward` or `respond`"))
                    .with_help("add `forward POOL`, `respond 200 \"ok\"`, `redirect https` or `serve dir \"public\"`"),
            );
        }
        Some(Route {
            name,
            span,
            on: on?,
            hosts,
            sni,
            path,
            methods,
            matchers,
            uses,
            timeout,
            upgrades,
            mirror,
            action: action?,
        })
    }

    /// `mirror POOL [SHARE%] [{ max_body SIZE  max_in_flight N }]`
    fn mirror(&mut self, given: Given<'_>) -> Option<Spanned<Mirror>> {
        let (pool, share) = match given.args {
            [pool] => (pool, None),
            [pool, share] => (pool, Some(share)),
            _ => {
                self.error(
                    Diagnostic::error("wrong-arguments", "`mirror` takes a pool and a share")
                        .with_label(Label::primary(
                            given.head(),
                            "expected `mirror POOL` or `mirror POOL SHARE%`",
                        ))
                        .with_help(format!(
                            "write `{}`; without a share, every request is copied",
                            given.usage
                        )),
                );
                return None;
            }
        };
        let pool = self.reference(pool);
        let share = share.and_then(|share| self.keep(literal::percent(share)));
        let mut max_body = None;
        let mut max_in_flight = None;
        self.directives(&MIRROR, given.inner, |lower, given| {
            let arg = given.arg();
            match given.name() {
                "max_body" => {
                    let size = lower.keep(literal::size(arg));
                    if let Some(size) = size.as_ref().filter(|size| size.value > MAX_MIRRORED_BODY) {
                        lower.error(
                            Diagnostic::error("out-of-range", "a mirrored body is at most 64MiB")
                                .with_label(Label::primary(size.span, "too large to copy"))
                                .with_help("each copy is held in memory until it is sent: mirror requests with smaller bodies"),
                        );
                        return false;
                    }
                    set(&mut max_body, size)
                }
                "max_in_flight" => set(
                    &mut max_in_flight,
                    lower.keep(literal::count(arg, 1, 100_000)),
                ),
                name => unread(name),
            }
        });
        Some(Spanned::new(
            Mirror {
                pool: pool?,
                share,
                max_body,
                max_in_flight,
            },
            given.head(),
        ))
    }

    /// `path /users` (a prefix) or `path = /health` (exact).
    fn path(&mut self, given: Given<'_>) -> Option<Spanned<crate::ast::PathMatch>> {
        let directive = given.directive;
        match directive.args.as_slice() {
            [eq, exact] if eq.text == "=" && eq.is_bare() && directive.block.is_none() => {
                self.keep(literal::path(exact, true))
            }
            _ => self
                .args(directive, 1, given.usage)
                .and_then(|args| self.keep(literal::path(&args[0], false))),
        }
    }

    /// `forward POOL`, `respond ..`, `redirect ..` or `serve dir ".."`.
    fn action(&mut self, given: Given<'_>) -> Option<Spanned<Action>> {
        let directive = given.directive;
        match given.name() {
            "forward" => match directive.args.as_slice() {
                [pool] => self
                    .reference(pool)
                    .map(|pool| Spanned::new(Action::Forward(pool), given.head())),
                _ => self.split(given),
            },
            "respond" => self.respond(given),
            "redirect" => self.redirect(given),
            _ => self.serve(given),
        }
    }

    /// `forward POOL WEIGHT, POOL WEIGHT ... [by KEY]`
    fn split(&mut self, given: Given<'_>) -> Option<Spanned<Action>> {
        let args = given.directive.args.as_slice();
        let (shares, by) = match args.iter().position(|a| a.is_bare() && a.text == "by") {
            Some(at) => (&args[..at], Some(&args[at + 1..])),
            None => (args, None),
        };
        let usage = "forward app 95, app_v2 5` or `forward app 50, app_v2 50 by client_ip";
        if shares.len() < 4 || shares.len() % 2 != 0 {
            self.error(
                Diagnostic::error(
                    "wrong-arguments",
                    "a split names pools, each with its weight",
                )
                .with_label(Label::primary(
                    given.head(),
                    "expected `POOL WEIGHT, POOL WEIGHT`",
                ))
                .with_help(format!(
                    "write `{usage}`; `forward POOL` sends everything to one"
                )),
            );
            return None;
        }
        let mut pools: Vec<(Ident, Spanned<u32>)> = Vec::new();
        for share in shares.chunks(2) {
            let pool = self.reference(&share[0])?;
            let weight = self.keep(literal::count(&share[1], 0, 10_000))?;
            if let Some((first, _)) = pools.iter().find(|(p, _)| p.value == pool.value) {
                self.error(
                    Diagnostic::error("duplicate-item", format!("the split names `{pool}` twice"))
                        .with_label(Label::primary(pool.span, "named again here"))
                        .with_label(Label::secondary(first.span, "first named here"))
                        .with_help("give each pool one weight"),
                );
                return None;
            }
            pools.push((pool, weight));
        }
        if pools.iter().all(|(_, weight)| weight.value == 0) {
            self.error(
                Diagnostic::error("out-of-range", "every weight of the split is 0")
                    .with_label(Label::primary(given.head(), "no request would go anywhere"))
                    .with_help("give at least one pool a weight above 0"),
            );
            return None;
        }
        let by = match by {
            None => None,
            Some([key]) => {
                let span = key.span;
                Some(Spanned::new(self.hash_key(key)?, span))
            }
            Some(_) => {
                self.error(
                    Diagnostic::error("wrong-arguments", "`by` takes one key")
                        .with_label(Label::primary(given.head(), "expected one key after `by`"))
                        .with_help("the keys are `client_ip`, `path`, `header(\"NAME\")` and `cookie(\"NAME\")`"),
                );
                return None;
            }
        };
        Some(Spanned::new(Action::Split { pools, by }, given.head()))
    }

    /// `serve dir "FOLDER"`
    fn serve(&mut self, given: Given<'_>) -> Option<Spanned<Action>> {
        let directive = given.directive;
        match directive.args.as_slice() {
            [kind, folder] if kind.is_bare() && kind.text == "dir" && directive.block.is_none() => {
                self.keep(literal::text(folder, "a folder", given.usage))
                    .map(|folder| Spanned::new(Action::Serve(folder), given.head()))
            }
            _ => {
                self.error(
                    Diagnostic::error("wrong-arguments", "`serve` takes `dir` and a folder")
                        .with_label(Label::primary(
                            given.head(),
                            "expected `serve dir \"FOLDER\"`",
                        ))
                        .with_help(format!("write `{}`", given.usage)),
                );
                None
            }
        }
    }

    /// A protocol a route tunnels after a `101`: a token, never `h2c`.
    fn upgrade(&mut self, arg: &Arg) -> Option<Spanned<String>> {
        let protocol = arg.text.to_ascii_lowercase();
        if !arg.is_bare() || !literal::is_token(&protocol) {
            self.error(
                Diagnostic::error(
                    "invalid-literal",
                    format!("invalid upgrade protocol `{}`", arg.text),
                )
                .with_label(Label::primary(arg.span, "not a protocol name"))
                .with_help("write the protocol as clients send it in `Upgrade`: `websocket`"),
            );
            return None;
        }
        if protocol == "h2c" {
            self.error(
                Diagnostic::error("tunnelled-h2c", "`h2c` is never tunnelled")
                    .with_label(Label::primary(arg.span, "not allowed"))
                    .with_help(
                        "after an h2c upgrade the client would talk HTTP/2 to the server past \
                         every route and policy; clients reach HTTP/2 servers through the \
                         proxy with `protocol h2` on the pool",
                    ),
            );
            return None;
        }
        Some(Spanned::new(protocol, arg.span))
    }

    /// `redirect https`, or `redirect STATUS "LOCATION"`.
    fn redirect(&mut self, given: Given<'_>) -> Option<Spanned<Action>> {
        let (directive, usage) = (given.directive, given.usage);
        let action = match directive.args.as_slice() {
            [scheme] if directive.block.is_none() && scheme.is_bare() && scheme.text == "https" => {
                Action::RedirectHttps
            }
            [status, location] if directive.block.is_none() => {
                let status = self.keep(literal::status(status));
                let location = self.keep(literal::header_value(location));
                let status = status?;
                if !matches!(status.value, 301 | 302 | 303 | 307 | 308) {
                    self.error(
                        Diagnostic::error(
                            "out-of-range",
                            format!("`{}` is not a redirect status", status.value),
                        )
                        .with_label(Label::primary(
                            status.span,
                            "expected 301, 302, 303, 307 or 308",
                        ))
                        .with_help("301 and 308 are permanent, 302, 303 and 307 temporary"),
                    );
                    return None;
                }
                Action::Redirect {
                    status,
                    location: location?,
                }
            }
            [other] if directive.block.is_none() => {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("cannot redirect to `{}`", other.text),
                    )
                    .with_label(Label::primary(
                        other.span,
                        "expected `https` or a status and a location",
                    ))
                    .with_help(format!("write `{usage}`")),
                );
                return None;
            }
            _ => {
                self.args(directive, 2, usage);
                return None;
            }
        };
        Some(Spanned::new(action, directive.head_span()))
    }

    /// `header "x-beta" ["1"]`, `query "version" ["2"]`, `cookie "canary" ["yes"]`.
    fn request_match(&mut self, given: Given<'_>) -> Option<Spanned<RequestMatch>> {
        let (directive, usage) = (given.directive, given.usage);
        let part = match directive.name.value.as_str() {
            "header" => RequestPart::Header,
            "query" => RequestPart::Query,
            _ => RequestPart::Cookie,
        };
        let (name, value) = match directive.args.as_slice() {
            [name] if directive.block.is_none() => (name, None),
            [name, value] if directive.block.is_none() => (name, Some(value)),
            _ => {
                self.args(directive, 2, usage);
                return None;
            }
        };
        let name = match part {
            RequestPart::Header => self.keep(literal::header_name(name)),
            _ => self.keep(literal::text(name, "the name", usage)),
        };
        let value = match value {
            Some(value) => Some(self.keep(literal::header_value(value))?.value),
            None => None,
        };
        Some(Spanned::new(
            RequestMatch {
                part,
                name: name?.value,
                value,
            },
            directive.head_span(),
        ))
    }

    fn respond(&mut self, given: Given<'_>) -> Option<Spanned<Action>> {
        let (directive, usage) = (given.directive, given.usage);
        let (status, body) = match directive.args.as_slice() {
            [status] if directive.block.is_none() => (status, None),
            [status, body] if directive.block.is_none() && body.is_quoted() => (status, Some(body)),
            [_, body] if !body.is_quoted() => {
                self.error(
                    Diagnostic::error("expected-string", "a response body is a quoted string")
                        .with_label(Label::primary(body.span, "not quoted"))
                        .with_help(format!("write `{usage}`")),
                );
                return None;
            }
            _ => {
                self.args(directive, 2, usage);
                return None;
            }
        };
        let status = self.keep(literal::status(status))?;
        let body = body.map(|body| Spanned::new(body.text.clone(), body.span));
        Some(Spanned::new(
            Action::Respond { status, body },
            directive.head_span(),
        ))
    }
}
