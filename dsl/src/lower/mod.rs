//! Lowering: gives the untyped directives of `syntax.rs` their meaning. It knows which
//! directives each block accepts, how many arguments they take and of which type, which are
//! required and which may appear once; it reports every mistake it finds, not just the first.

mod policy;
mod pool;
mod process;
mod test;
mod tls;

use crate::ast::{Action, Config, Listener, Mode, RequestMatch, RequestPart, Route};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Ident, Span, Spanned};
use crate::syntax::{Arg, Directive};

const ITEMS: [&str; 11] = [
    "listener",
    "pool",
    "route",
    "policy",
    "test",
    "admin",
    "access_log",
    "request_id",
    "workers",
    "error_page",
    "via",
];
const LISTENER: [&str; 17] = [
    "bind",
    "mode",
    "max_header_size",
    "header_timeout",
    "keepalive_timeout",
    "body_timeout",
    "send_timeout",
    "ping_interval",
    "max_body",
    "max_connections",
    "max_streams",
    "underscores_in_headers",
    "allow_encoded_slashes",
    "allow_semicolons",
    "case_insensitive_paths",
    "idle_timeout",
    "tls",
];
const ROUTE: [&str; 15] = [
    "on", "host", "sni", "path", "methods", "header", "query", "cookie", "use", "timeout",
    "upgrade", "forward", "respond", "redirect", "serve",
];
/// Route directives that may be given several times.
const ROUTE_REPEATABLE: [&str; 5] = ["host", "sni", "header", "query", "cookie"];

/// Collects diagnostics while lowering goes on.
#[derive(Default)]
struct Lowering {
    diagnostics: Vec<Diagnostic>,
}

/// Lowers top-level directives into a typed config, or returns every error found.
pub fn lower(directives: &[Directive]) -> Result<Config, Vec<Diagnostic>> {
    let mut lowering = Lowering::default();
    let mut config = Config::default();
    for directive in directives {
        match directive.name.value.as_str() {
            "listener" => config.listeners.extend(lowering.listener(directive)),
            "pool" => config.pools.extend(lowering.pool(directive)),
            "route" => config.routes.extend(lowering.route(directive)),
            "policy" => config.policies.extend(lowering.policy(directive)),
            "admin" | "access_log" | "request_id" => lowering.process_item(directive, &mut config),
            "workers" => lowering.workers(directive, &mut config),
            "error_page" => config.error_pages.extend(lowering.error_page(directive)),
            "via" => lowering.via(directive, &mut config),
            "test" => config.tests.extend(lowering.test(directive)),
            _ => lowering.unknown(directive, "at the top level", &ITEMS),
        }
    }
    if lowering.diagnostics.is_empty() {
        Ok(config)
    } else {
        Err(lowering.diagnostics)
    }
}

/// The directives of an item's block, each checked to appear at most once where that matters.
struct Seen<'a> {
    first: Vec<(&'a str, Span)>,
}

impl<'a> Seen<'a> {
    fn new() -> Self {
        Seen { first: Vec::new() }
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

    fn unknown(&mut self, directive: &Directive, place: &str, known: &[&str]) {
        let name = &directive.name.value;
        self.error(
            Diagnostic::error(format!("unknown directive `{name}` {place}"))
                .with_label(Label::primary(directive.name.span, "not known here"))
                .with_suggestion(name, "a directive", known.iter().copied())
                .with_help(format!(
                    "{place}, the directives are: {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
        );
    }

    /// `KIND NAME { ... }`: checks the head and returns the name and the block's directives.
    fn item<'d>(&mut self, directive: &'d Directive) -> Option<(Ident, Span, &'d [Directive])> {
        let kind = &directive.name.value;
        let usage = format!("write `{kind} NAME {{ ... }}`");
        let name = match directive.args.as_slice() {
            [name] if name.is_bare() && is_identifier(&name.text) => {
                Ident::new(name.text.clone(), name.span)
            }
            [name] => {
                self.error(
                    Diagnostic::error(format!("invalid {kind} name `{}`", name.text))
                        .with_label(Label::primary(name.span, "not a name"))
                        .with_help(
                            "names are letters, digits and `_`, starting with a letter or `_`",
                        ),
                );
                return None;
            }
            [] => {
                self.error(
                    Diagnostic::error(format!("this {kind} has no name"))
                        .with_label(Label::primary(directive.name.span, "a name must follow"))
                        .with_help(usage),
                );
                return None;
            }
            [_, extra, ..] => {
                self.error(
                    Diagnostic::error(format!("too many words before the {kind}'s block"))
                        .with_label(Label::primary(extra.span, "unexpected"))
                        .with_help(usage),
                );
                return None;
            }
        };
        let Some(block) = &directive.block else {
            self.error(
                Diagnostic::error(format!("{kind} `{name}` has no block"))
                    .with_label(Label::primary(directive.head_span(), "a `{` must follow"))
                    .with_help(usage),
            );
            return None;
        };
        Some((name, directive.head_span(), &block.directives))
    }

    /// Reports a second occurrence of a directive that may appear once.
    fn once<'a>(&mut self, seen: &mut Seen<'a>, directive: &'a Directive) -> bool {
        let name = directive.name.value.as_str();
        if let Some((_, first)) = seen.first.iter().find(|(n, _)| *n == name) {
            self.error(
                Diagnostic::error(format!("`{name}` is given twice"))
                    .with_label(Label::primary(directive.head_span(), "given again here"))
                    .with_label(Label::secondary(*first, "first given here")),
            );
            return false;
        }
        seen.first.push((name, directive.head_span()));
        true
    }

    /// Checks that a directive has no block and exactly `count` arguments.
    fn args<'d>(
        &mut self,
        directive: &'d Directive,
        count: usize,
        usage: &str,
    ) -> Option<&'d [Arg]> {
        if let Some(block) = &directive.block {
            self.error(
                Diagnostic::error(format!("`{}` takes no block", directive.name))
                    .with_label(Label::primary(block.span, "unexpected block"))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        if directive.args.len() != count {
            let message = match count {
                1 => "one argument".to_owned(),
                n => format!("{n} arguments"),
            };
            self.error(
                Diagnostic::error(format!("`{}` takes {message}", directive.name))
                    .with_label(Label::primary(
                        directive.head_span(),
                        format!("{} given", directive.args.len()),
                    ))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        Some(&directive.args)
    }

    /// Checks that a directive has no block and at least one argument.
    fn some_args<'d>(&mut self, directive: &'d Directive, usage: &str) -> Option<&'d [Arg]> {
        if directive.args.is_empty() || directive.block.is_some() {
            self.error(
                Diagnostic::error(format!("`{}` takes one or more arguments", directive.name))
                    .with_label(Label::primary(directive.head_span(), "expected arguments"))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        Some(&directive.args)
    }

    fn missing(&mut self, kind: &str, name: &Ident, head: Span, what: &str, example: &str) {
        self.error(
            Diagnostic::error(format!("{kind} `{name}` has no `{what}`"))
                .with_label(Label::primary(head, format!("`{what}` is required")))
                .with_help(format!("add a line such as `{example}`")),
        );
    }

    fn listener(&mut self, item: &Directive) -> Option<Listener> {
        let (name, span, directives) = self.item(item)?;
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let mut bind = None;
        let mut listener = Listener {
            name,
            span,
            bind: Spanned::new(literal::ANY_ADDRESS, span),
            mode: None,
            max_header_size: None,
            header_timeout: None,
            keepalive_timeout: None,
            body_timeout: None,
            send_timeout: None,
            ping_interval: None,
            max_body: None,
            max_connections: None,
            max_streams: None,
            underscores_in_headers: None,
            allow_encoded_slashes: None,
            allow_semicolons: None,
            case_insensitive_paths: None,
            idle_timeout: None,
            tls: None,
        };
        for directive in directives {
            match directive.name.value.as_str() {
                "bind" if self.once(&mut seen, directive) => {
                    if let Some([addr]) = self.args(directive, 1, "bind 127.0.0.1:8080") {
                        bind = self.keep(literal::bind_address(addr));
                    }
                }
                "mode" if self.once(&mut seen, directive) => {
                    listener.mode = self.mode(directive);
                }
                "max_header_size" if self.once(&mut seen, directive) => {
                    if let Some([size]) = self.args(directive, 1, "max_header_size 64KiB") {
                        listener.max_header_size = self.keep(literal::size(size));
                    }
                }
                "header_timeout" if self.once(&mut seen, directive) => {
                    if let Some([duration]) = self.args(directive, 1, "header_timeout 10s") {
                        listener.header_timeout = self.keep(literal::duration(duration));
                    }
                }
                "keepalive_timeout" if self.once(&mut seen, directive) => {
                    if let Some([duration]) = self.args(directive, 1, "keepalive_timeout 75s") {
                        listener.keepalive_timeout = self.keep(literal::duration(duration));
                    }
                }
                "body_timeout" if self.once(&mut seen, directive) => {
                    if let Some([duration]) = self.args(directive, 1, "body_timeout 60s") {
                        listener.body_timeout = self.keep(literal::duration(duration));
                    }
                }
                "send_timeout" if self.once(&mut seen, directive) => {
                    if let Some([duration]) = self.args(directive, 1, "send_timeout 60s") {
                        listener.send_timeout = self.keep(literal::duration(duration));
                    }
                }
                "ping_interval" if self.once(&mut seen, directive) => {
                    if let Some([duration]) = self.args(directive, 1, "ping_interval 60s") {
                        listener.ping_interval = self.keep(literal::duration(duration));
                    }
                }
                "tls" if self.once(&mut seen, directive) => listener.tls = self.tls(directive),
                "max_body" if self.once(&mut seen, directive) => {
                    if let Some([size]) = self.args(directive, 1, "max_body 10MiB") {
                        listener.max_body = self.keep(literal::size(size));
                    }
                }
                "max_connections" if self.once(&mut seen, directive) => {
                    listener.max_connections = self.count(directive, 1, 10_000_000);
                }
                "max_streams" if self.once(&mut seen, directive) => {
                    listener.max_streams = self.count(directive, 1, 10_000);
                }
                switch @ ("underscores_in_headers"
                | "allow_encoded_slashes"
                | "allow_semicolons"
                | "case_insensitive_paths")
                    if self.once(&mut seen, directive) =>
                {
                    let usage = format!("{switch} on");
                    if let Some([word]) = self.args(directive, 1, &usage) {
                        let value = self.on_off(word, &usage);
                        *match switch {
                            "underscores_in_headers" => &mut listener.underscores_in_headers,
                            "allow_encoded_slashes" => &mut listener.allow_encoded_slashes,
                            "allow_semicolons" => &mut listener.allow_semicolons,
                            _ => &mut listener.case_insensitive_paths,
                        } = value;
                    }
                }
                "idle_timeout" if self.once(&mut seen, directive) => {
                    if let Some([duration]) = self.args(directive, 1, "idle_timeout 10m") {
                        listener.idle_timeout = self.keep(literal::duration(duration));
                    }
                }
                known if LISTENER.contains(&known) => {}
                _ => self.unknown(directive, "in a listener", &LISTENER),
            }
        }
        let tcp = listener.mode.as_ref().is_some_and(|m| m.value == Mode::Tcp);
        let http_only = [
            (
                "max_header_size",
                listener.max_header_size.as_ref().map(|s| s.span),
            ),
            (
                "header_timeout",
                listener.header_timeout.as_ref().map(|s| s.span),
            ),
            (
                "keepalive_timeout",
                listener.keepalive_timeout.as_ref().map(|s| s.span),
            ),
            (
                "body_timeout",
                listener.body_timeout.as_ref().map(|s| s.span),
            ),
            (
                "send_timeout",
                listener.send_timeout.as_ref().map(|s| s.span),
            ),
            (
                "ping_interval",
                listener.ping_interval.as_ref().map(|s| s.span),
            ),
            ("max_body", listener.max_body.as_ref().map(|s| s.span)),
            ("max_streams", listener.max_streams.as_ref().map(|s| s.span)),
            (
                "underscores_in_headers",
                listener.underscores_in_headers.as_ref().map(|s| s.span),
            ),
            (
                "allow_encoded_slashes",
                listener.allow_encoded_slashes.as_ref().map(|s| s.span),
            ),
            (
                "allow_semicolons",
                listener.allow_semicolons.as_ref().map(|s| s.span),
            ),
            (
                "case_insensitive_paths",
                listener.case_insensitive_paths.as_ref().map(|s| s.span),
            ),
        ];
        for (directive, span) in http_only {
            if let Some(span) = span.filter(|_| tcp) {
                self.error(
                    Diagnostic::error(format!("`{directive}` is for HTTP listeners"))
                        .with_label(Label::primary(span, "this listener is `mode tcp`"))
                        .with_help("a tcp listener forwards bytes and never reads a request head"),
                );
            }
        }
        if let Some(tls) = listener.tls.as_ref().filter(|_| tcp) {
            self.error(
                Diagnostic::error("`tls` is for HTTP listeners")
                    .with_label(Label::primary(tls.span, "this listener is `mode tcp`"))
                    .with_help("a tcp listener passes TLS through untouched; terminate it on an HTTP listener"),
            );
        }
        if let Some(idle) = listener.idle_timeout.as_ref().filter(|_| !tcp) {
            self.error(
                Diagnostic::error("`idle_timeout` is for tcp listeners")
                    .with_label(Label::primary(idle.span, "this listener speaks HTTP"))
                    .with_help("add `mode tcp`, or use `header_timeout` for HTTP clients"),
            );
        }
        if bind.is_none() && self.diagnostics.len() == before {
            self.missing(
                "listener",
                &listener.name,
                span,
                "bind",
                "bind 127.0.0.1:8080",
            );
        }
        listener.bind = bind?;
        Some(listener)
    }

    fn mode(&mut self, directive: &Directive) -> Option<Spanned<Mode>> {
        let [mode] = self.args(directive, 1, "mode tcp")? else {
            unreachable!("args checked the count")
        };
        let value = match mode.text.as_str() {
            "tcp" if mode.is_bare() => Mode::Tcp,
            "http" if mode.is_bare() => Mode::Http,
            _ => {
                self.error(
                    Diagnostic::error(format!("unknown listener mode `{}`", mode.text))
                        .with_label(Label::primary(mode.span, "not a mode"))
                        .with_help("the modes are `http` (the default) and `tcp`"),
                );
                return None;
            }
        };
        Some(Spanned::new(value, mode.span))
    }

    fn route(&mut self, item: &Directive) -> Option<Route> {
        let (name, span, directives) = self.item(item)?;
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let mut on = None;
        let mut hosts = Vec::new();
        let mut sni = Vec::new();
        let mut path = None;
        let mut methods = Vec::new();
        let mut matchers = Vec::new();
        let mut uses = Vec::new();
        let mut timeout = None;
        let mut upgrades = Vec::new();
        let mut action: Option<Spanned<Action>> = None;
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if ROUTE.contains(&directive_name) && !ROUTE_REPEATABLE.contains(&directive_name) {
                if matches!(directive_name, "forward" | "respond" | "redirect" | "serve") {
                    if let Some(first) = &action {
                        self.error(
                            Diagnostic::error(format!("route `{name}` has two actions"))
                                .with_label(Label::primary(directive.head_span(), "second action"))
                                .with_label(Label::secondary(first.span, "first action"))
                                .with_help("a route either forwards to a pool or responds itself"),
                        );
                        continue;
                    }
                } else if !self.once(&mut seen, directive) {
                    continue;
                }
            }
            match directive_name {
                "on" => {
                    if let Some([listener]) = self.args(directive, 1, "on LISTENER") {
                        on = self.reference(listener);
                    }
                }
                "host" => {
                    if let Some(args) = self.some_args(directive, "host \"api.example.com\"") {
                        for arg in args {
                            hosts.extend(self.keep(literal::host_pattern(arg)));
                        }
                    }
                }
                "path" => {
                    path = match directive.args.as_slice() {
                        [eq, exact]
                            if eq.text == "=" && eq.is_bare() && directive.block.is_none() =>
                        {
                            self.keep(literal::path(exact, true))
                        }
                        _ => self
                            .args(directive, 1, "path /users` or `path = /health")
                            .and_then(|args| self.keep(literal::path(&args[0], false))),
                    };
                }
                "methods" => {
                    if let Some(args) = self.some_args(directive, "methods GET HEAD") {
                        for arg in args {
                            methods.extend(self.keep(literal::method(arg)));
                        }
                    }
                }
                "header" | "query" | "cookie" => matchers.extend(self.request_match(directive)),
                "sni" => {
                    if let Some(args) = self.some_args(directive, "sni \"a.example.com\"") {
                        for arg in args {
                            sni.extend(self.keep(literal::host_pattern(arg)));
                        }
                    }
                }
                "use" => {
                    if let Some(args) = self.some_args(directive, "use auth, limit") {
                        uses.extend(args.iter().filter_map(|arg| self.reference(arg)));
                    }
                }
                "timeout" => {
                    if let Some([duration]) = self.args(directive, 1, "timeout 5s") {
                        timeout = self.keep(literal::duration(duration));
                    }
                }
                "upgrade" => {
                    if let Some(args) = self.some_args(directive, "upgrade websocket") {
                        upgrades.extend(args.iter().filter_map(|arg| self.upgrade(arg)));
                    }
                }
                "forward" => {
                    if let Some([pool]) = self.args(directive, 1, "forward POOL") {
                        action = self
                            .reference(pool)
                            .map(|pool| Spanned::new(Action::Forward(pool), directive.head_span()));
                    }
                }
                "respond" => {
                    action = self.respond(directive);
                }
                "redirect" => action = self.redirect(directive),
                "serve" => {
                    let usage = "serve dir \"public\"";
                    action = match directive.args.as_slice() {
                        [kind, folder]
                            if kind.is_bare()
                                && kind.text == "dir"
                                && directive.block.is_none() =>
                        {
                            self.keep(literal::text(folder, "a folder", usage))
                                .map(|folder| {
                                    Spanned::new(Action::Serve(folder), directive.head_span())
                                })
                        }
                        _ => {
                            self.error(
                                Diagnostic::error("`serve` takes `dir` and a folder")
                                    .with_label(Label::primary(
                                        directive.head_span(),
                                        "expected `serve dir \"FOLDER\"`",
                                    ))
                                    .with_help(format!("write `{usage}`")),
                            );
                            None
                        }
                    };
                }
                _ => self.unknown(directive, "in a route", &ROUTE),
            }
        }
        if self.diagnostics.len() > before {
            return None;
        }
        if on.is_none() {
            self.missing("route", &name, span, "on", "on web");
        }
        if action.is_none() {
            self.error(
                Diagnostic::error(format!("route `{name}` does nothing"))
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
            action: action?,
        })
    }

    /// A protocol a route tunnels after a `101`: a token, never `h2c`.
    fn upgrade(&mut self, arg: &Arg) -> Option<Spanned<String>> {
        let protocol = arg.text.to_ascii_lowercase();
        if !arg.is_bare() || !literal::is_token(&protocol) {
            self.error(
                Diagnostic::error(format!("invalid upgrade protocol `{}`", arg.text))
                    .with_label(Label::primary(arg.span, "not a protocol name"))
                    .with_help("write the protocol as clients send it in `Upgrade`: `websocket`"),
            );
            return None;
        }
        if protocol == "h2c" {
            self.error(
                Diagnostic::error("`h2c` is never tunnelled")
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
    fn redirect(&mut self, directive: &Directive) -> Option<Spanned<Action>> {
        let usage = "redirect https` or `redirect 301 \"https://example.com/\"";
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
                        Diagnostic::error(format!("`{}` is not a redirect status", status.value))
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
                    Diagnostic::error(format!("cannot redirect to `{}`", other.text))
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
    fn request_match(&mut self, directive: &Directive) -> Option<Spanned<RequestMatch>> {
        let part = match directive.name.value.as_str() {
            "header" => RequestPart::Header,
            "query" => RequestPart::Query,
            _ => RequestPart::Cookie,
        };
        let usage = format!("{} \"name\" \"value\"", directive.name);
        let (name, value) = match directive.args.as_slice() {
            [name] if directive.block.is_none() => (name, None),
            [name, value] if directive.block.is_none() => (name, Some(value)),
            _ => {
                self.args(directive, 2, &usage);
                return None;
            }
        };
        let name = match part {
            RequestPart::Header => self.keep(literal::header_name(name)),
            _ => self.keep(literal::text(name, "the name", &usage)),
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

    fn respond(&mut self, directive: &Directive) -> Option<Spanned<Action>> {
        let usage = "respond 200 \"body\"";
        let (status, body) = match directive.args.as_slice() {
            [status] if directive.block.is_none() => (status, None),
            [status, body] if directive.block.is_none() && body.is_quoted() => (status, Some(body)),
            [_, body] if !body.is_quoted() => {
                self.error(
                    Diagnostic::error("a response body is a quoted string")
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

    /// A reference to a named item: an unquoted identifier.
    fn reference(&mut self, arg: &Arg) -> Option<Ident> {
        if !arg.is_bare() || !is_identifier(&arg.text) {
            self.error(
                Diagnostic::error(format!("`{}` is not a name", arg.text))
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
