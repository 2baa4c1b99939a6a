//! Lowering of the items about the process rather than its traffic: `admin { ... }`,
//! `access_log { ... }`, `request_id { ... }`, `tracing { ... }`, `shutdown { ... }`, `workers N` and
//! `via "NAME"`, each given at most once, and `error_page STATUS "BODY"` lines.

use crate::ast::{AccessLog, Admin, Config, ErrorPage, LogFormat, RequestId, Shutdown, Tracing};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::Arg;

use super::table::Args::Exactly;
use super::table::{set, unread, Given, Rule, Table};
use super::Lowering;

pub(super) const ADMIN: Table = Table {
    place: "in `admin`",
    rules: &[
        Rule::once("bind", Exactly(1), "bind 127.0.0.1:9900")
            .doc("The address of the admin listener: metrics, health and status.")
            .by_default("127.0.0.1:9900"),
        Rule::once("token_env", Exactly(1), "token_env \"EDGE_ADMIN_TOKEN\"")
            .doc("Requests need `Authorization: Bearer` with this environment variable's value.")
            .by_default("no token"),
    ],
};
pub(super) const ACCESS_LOG: Table = Table {
    place: "in `access_log`",
    rules: &[
        Rule::once("format", Exactly(1), "format json")
            .doc("The line format: `combined` or `json`.")
            .by_default("combined"),
        Rule::once("path", Exactly(1), "path \"logs/access.log\"")
            .doc("The file the log is written to.")
            .by_default("standard output"),
    ],
};
pub(super) const SHUTDOWN: Table = Table {
    place: "in `shutdown`",
    rules: &[
        Rule::once("drain_delay", Exactly(1), "drain_delay 5s")
            .doc("On SIGTERM, `/ready` answers `503` this long while everything is still served.")
            .by_default("0s"),
        Rule::once("drain_timeout", Exactly(1), "drain_timeout 30s")
            .doc("Then, how long open connections have to finish.")
            .by_default("30s"),
    ],
};
pub(super) const TRACING: Table = Table {
    place: "in `tracing`",
    rules: &[
        Rule::once("otlp", Exactly(1), "otlp \"http://127.0.0.1:4318\"")
            .doc("The OTLP/HTTP receiver spans are sent to, as protobuf; a URL without a path gets `/v1/traces`.")
            .required("otlp \"http://127.0.0.1:4318\""),
        Rule::once("sample", Exactly(1), "sample 10%")
            .doc("The share of traces started here that are recorded; a client's `traceparent` decides for its own trace.")
            .by_default("100%"),
        Rule::once("service", Exactly(1), "service \"edge\"")
            .doc("The `service.name` the spans are exported under.")
            .by_default("\"edge\""),
    ],
};
pub(super) const REQUEST_ID: Table = Table {
    place: "in `request_id`",
    rules: &[Rule::once("trust_client", Exactly(0), "trust_client")
        .doc("Keep a client's own `X-Request-Id` instead of replacing it.")
        .by_default("replaced")],
};

impl Lowering {
    /// `error_page 502 "BODY" [html]`.
    pub(super) fn error_page(&mut self, given: Given<'_>) -> Option<Spanned<ErrorPage>> {
        let (item, usage) = (given.directive, given.usage);
        let (status, body, html) = match item.args.as_slice() {
            [status, body] if item.block.is_none() => (status, body, false),
            [status, body, html]
                if item.block.is_none() && html.is_bare() && html.text == "html" =>
            {
                (status, body, true)
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        "`error_page` takes a status, a body and optionally `html`",
                    )
                    .with_label(Label::primary(item.head_span(), "not an error page"))
                    .with_help(format!("write `{usage}`")),
                );
                return None;
            }
        };
        let status = self.keep(literal::status(status))?;
        if status.value < 400 {
            self.error(
                Diagnostic::error(
                    "out-of-range",
                    format!("`{}` is not an error status", status.value),
                )
                .with_label(Label::primary(status.span, "expected 400 to 599"))
                .with_help("error pages replace the bodies of the proxy's own 4xx and 5xx answers"),
            );
            return None;
        }
        let body = self.keep(literal::text(body, "a page", usage))?;
        Some(Spanned::new(
            ErrorPage {
                status,
                body: body.value,
                html,
            },
            item.head_span(),
        ))
    }

    /// `via "NAME"` at the top level.
    pub(super) fn via(&mut self, given: Given<'_>, config: &mut Config) -> bool {
        let item = given.directive;
        if let Some(first) = &config.via {
            self.error(
                Diagnostic::error("duplicate-directive", "`via` is given twice")
                    .with_label(Label::primary(item.head_span(), "given again here"))
                    .with_label(Label::secondary(first.span, "first given here")),
            );
            return false;
        }
        let Some([name]) = self.args(item, 1, given.usage) else {
            return false;
        };
        let valid = name.is_quoted()
            && !name.text.is_empty()
            && name
                .text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !valid {
            self.error(
                Diagnostic::error("invalid-literal", format!("invalid `via` name `{}`", name.text))
                    .with_label(Label::primary(name.span, "not a pseudonym"))
                    .with_help("a quoted name of letters, digits, `-`, `.` and `_`, such as `\"edge\"`; it says which proxy passed the message, never where it runs"),
            );
            return false;
        }
        set(
            &mut config.via,
            Some(Spanned::new(name.text.clone(), name.span)),
        )
    }

    /// `workers N` at the top level.
    pub(super) fn workers(&mut self, given: Given<'_>, config: &mut Config) -> bool {
        let item = given.directive;
        if let Some(first) = &config.workers {
            self.error(
                Diagnostic::error("duplicate-directive", "`workers` is given twice")
                    .with_label(Label::primary(item.head_span(), "given again here"))
                    .with_label(Label::secondary(first.span, "first given here")),
            );
            return false;
        }
        let Some([count]) = self.args(item, 1, given.usage) else {
            return false;
        };
        set(
            &mut config.workers,
            self.keep(literal::count(count, 1, 1024)),
        )
    }

    /// `admin`, `access_log`, `request_id`, `tracing` or `shutdown` at the top level.
    pub(super) fn process_item(&mut self, given: Given<'_>, config: &mut Config) -> bool {
        let item = given.directive;
        let kind = given.name();
        let first = match kind {
            "admin" => config.admin.as_ref().map(|a| a.span),
            "access_log" => config.access_log.as_ref().map(|a| a.span),
            "shutdown" => config.shutdown.as_ref().map(|s| s.span),
            "tracing" => config.tracing.as_ref().map(|t| t.span),
            _ => config.request_id.as_ref().map(|r| r.span),
        };
        if let Some(first) = first {
            self.error(
                Diagnostic::error("duplicate-directive", format!("`{kind}` is given twice"))
                    .with_label(Label::primary(item.head_span(), "given again here"))
                    .with_label(Label::secondary(first, "first given here")),
            );
            return false;
        }
        let span = item.head_span();
        if kind == "request_id" {
            if let [off] = item.args.as_slice() {
                if off.is_bare() && off.text == "off" && item.block.is_none() {
                    let off = RequestId {
                        enabled: false,
                        trust_client: false,
                    };
                    return set(&mut config.request_id, Some(Spanned::new(off, span)));
                }
            }
        }
        let Some(block) = self.block(item, given.usage) else {
            return false;
        };
        let directives = &block.directives;
        match kind {
            "admin" => {
                let mut admin = Admin {
                    bind: None,
                    token_env: None,
                };
                self.directives(&ADMIN, directives, |lower, given| match given.name() {
                    "bind" => set(
                        &mut admin.bind,
                        lower.keep(literal::bind_address(given.arg())),
                    ),
                    "token_env" => set(
                        &mut admin.token_env,
                        lower.keep(literal::env_name(given.arg())),
                    ),
                    name => unread(name),
                });
                set(&mut config.admin, Some(Spanned::new(admin, span)))
            }
            "access_log" => {
                let mut log = AccessLog {
                    format: None,
                    path: None,
                };
                self.directives(&ACCESS_LOG, directives, |lower, given| match given.name() {
                    "format" => lower
                        .log_format(given.arg())
                        .map(|format| log.format = Some(format))
                        .is_some(),
                    "path" => set(&mut log.path, lower.file(given.arg(), given.usage)),
                    name => unread(name),
                });
                set(&mut config.access_log, Some(Spanned::new(log, span)))
            }
            "shutdown" => {
                let mut shutdown = Shutdown {
                    drain_delay: None,
                    drain_timeout: None,
                };
                self.directives(&SHUTDOWN, directives, |lower, given| match given.name() {
                    "drain_delay" => set(
                        &mut shutdown.drain_delay,
                        lower.keep(literal::duration_or_zero(given.arg())),
                    ),
                    "drain_timeout" => set(
                        &mut shutdown.drain_timeout,
                        lower.keep(literal::duration(given.arg())),
                    ),
                    name => unread(name),
                });
                set(&mut config.shutdown, Some(Spanned::new(shutdown, span)))
            }
            "tracing" => {
                let (mut otlp, mut sample, mut service) = (None, None, None);
                self.directives(&TRACING, directives, |lower, given| match given.name() {
                    "otlp" => set(
                        &mut otlp,
                        lower.keep(literal::otlp_url(given.arg(), given.usage)),
                    ),
                    "sample" => set(&mut sample, lower.keep(literal::percent(given.arg()))),
                    "service" => set(&mut service, lower.service_name(given.arg(), given.usage)),
                    name => unread(name),
                });
                let Some(otlp) = otlp else {
                    if !directives.iter().any(|d| d.name.value == "otlp") {
                        self.error(
                            Diagnostic::error("missing-directive", "`tracing` has no `otlp`")
                                .with_label(Label::primary(span, "`otlp` is required"))
                                .with_help(
                                    "add a line such as `otlp \"http://127.0.0.1:4318\"`: \
                                     the OTLP/HTTP receiver spans are sent to",
                                ),
                        );
                    }
                    return false;
                };
                let tracing = Tracing {
                    otlp: otlp.value,
                    sample: sample.map_or(10_000, |share| share.value),
                    service: service.unwrap_or_else(|| "edge".to_owned()),
                };
                set(&mut config.tracing, Some(Spanned::new(tracing, span)))
            }
            _ => {
                let mut request_id = RequestId {
                    enabled: true,
                    trust_client: false,
                };
                self.directives(&REQUEST_ID, directives, |_, _| {
                    request_id.trust_client = true;
                    true
                });
                set(&mut config.request_id, Some(Spanned::new(request_id, span)))
            }
        }
    }

    /// A service name: quoted, 1 to 128 printable characters.
    fn service_name(&mut self, name: &Arg, usage: &str) -> Option<String> {
        let name = self.keep(literal::text(name, "a service name", usage))?;
        let printable = name.value.chars().all(|c| !c.is_control());
        if !(1..=128).contains(&name.value.len()) || !printable {
            self.error(
                Diagnostic::error(
                    "invalid-literal",
                    format!("invalid service name `{}`", name.value),
                )
                .with_label(Label::primary(name.span, "not a service name"))
                .with_help("a service name is 1 to 128 printable characters, such as `\"edge\"`"),
            );
            return None;
        }
        Some(name.value)
    }

    fn log_format(&mut self, format: &Arg) -> Option<LogFormat> {
        match format.text.as_str() {
            "json" if format.is_bare() => Some(LogFormat::Json),
            "combined" if format.is_bare() => Some(LogFormat::Combined),
            _ if self.quoted_word(format, &["json", "combined"]) => None,
            other => {
                self.error(
                    Diagnostic::error("unknown-choice", format!("unknown log format `{other}`"))
                        .with_label(Label::primary(format.span, "not a format"))
                        .with_help("the formats are `combined` (the default) and `json`"),
                );
                None
            }
        }
    }
}
