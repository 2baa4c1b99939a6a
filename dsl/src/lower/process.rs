//! Lowering of the items about the process rather than its traffic: `admin { ... }`,
//! `access_log { ... }`, `request_id { ... }`, `workers N` and `via "NAME"`, each given at most
//! once, and `error_page STATUS "BODY"` lines.

use crate::ast::{AccessLog, Admin, Config, ErrorPage, LogFormat, RequestId};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::Directive;

use super::{Lowering, Seen};

const ADMIN: [&str; 2] = ["bind", "token_env"];
const ACCESS_LOG: [&str; 2] = ["format", "path"];
const REQUEST_ID: [&str; 1] = ["trust_client"];

impl Lowering {
    /// `error_page 502 "BODY" [html]`.
    pub(super) fn error_page(&mut self, item: &Directive) -> Option<Spanned<ErrorPage>> {
        let usage = "error_page 502 \"Back soon.\\n\"";
        let (status, body, html) = match item.args.as_slice() {
            [status, body] if item.block.is_none() => (status, body, false),
            [status, body, html]
                if item.block.is_none() && html.is_bare() && html.text == "html" =>
            {
                (status, body, true)
            }
            _ => {
                self.error(
                    Diagnostic::error("`error_page` takes a status, a body and optionally `html`")
                        .with_label(Label::primary(item.head_span(), "not an error page"))
                        .with_help(format!("write `{usage}`")),
                );
                return None;
            }
        };
        let status = self.keep(literal::status(status))?;
        if status.value < 400 {
            self.error(
                Diagnostic::error(format!("`{}` is not an error status", status.value))
                    .with_label(Label::primary(status.span, "expected 400 to 599"))
                    .with_help(
                        "error pages replace the bodies of the proxy's own 4xx and 5xx answers",
                    ),
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
    pub(super) fn via(&mut self, item: &Directive, config: &mut Config) {
        if let Some(first) = &config.via {
            self.error(
                Diagnostic::error("`via` is given twice")
                    .with_label(Label::primary(item.head_span(), "given again here"))
                    .with_label(Label::secondary(first.span, "first given here")),
            );
            return;
        }
        let Some([name]) = self.args(item, 1, "via \"edge\"") else {
            return;
        };
        let valid = name.is_quoted()
            && !name.text.is_empty()
            && name
                .text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !valid {
            self.error(
                Diagnostic::error(format!("invalid `via` name `{}`", name.text))
                    .with_label(Label::primary(name.span, "not a pseudonym"))
                    .with_help("a quoted name of letters, digits, `-`, `.` and `_`, such as `\"edge\"`; it says which proxy passed the message, never where it runs"),
            );
            return;
        }
        config.via = Some(Spanned::new(name.text.clone(), name.span));
    }

    /// `workers N` at the top level.
    pub(super) fn workers(&mut self, item: &Directive, config: &mut Config) {
        if let Some(first) = &config.workers {
            self.error(
                Diagnostic::error("`workers` is given twice")
                    .with_label(Label::primary(item.head_span(), "given again here"))
                    .with_label(Label::secondary(first.span, "first given here")),
            );
            return;
        }
        config.workers = self.count(item, 1, 1024);
    }

    /// `admin`, `access_log` or `request_id` at the top level.
    pub(super) fn process_item(&mut self, item: &Directive, config: &mut Config) {
        let kind = item.name.value.as_str();
        let first = match kind {
            "admin" => config.admin.as_ref().map(|a| a.span),
            "access_log" => config.access_log.as_ref().map(|a| a.span),
            _ => config.request_id.as_ref().map(|r| r.span),
        };
        if let Some(first) = first {
            self.error(
                Diagnostic::error(format!("`{kind}` is given twice"))
                    .with_label(Label::primary(item.head_span(), "given again here"))
                    .with_label(Label::secondary(first, "first given here")),
            );
            return;
        }
        let span = item.head_span();
        if kind == "request_id" {
            if let [off] = item.args.as_slice() {
                if off.is_bare() && off.text == "off" && item.block.is_none() {
                    config.request_id = Some(Spanned::new(
                        RequestId {
                            enabled: false,
                            trust_client: false,
                        },
                        span,
                    ));
                    return;
                }
            }
        }
        let usage = match kind {
            "admin" => "admin { bind 127.0.0.1:9900 }",
            "access_log" => "access_log { format json  path \"access.log\" }",
            _ => "request_id { trust_client }` or `request_id off",
        };
        let Some(block) = self.block(item, usage) else {
            return;
        };
        let mut seen = Seen::new();
        match kind {
            "admin" => {
                let mut admin = Admin {
                    bind: None,
                    token_env: None,
                };
                for directive in &block.directives {
                    match directive.name.value.as_str() {
                        "bind" if self.once(&mut seen, directive) => {
                            if let Some([addr]) = self.args(directive, 1, "bind 127.0.0.1:9900") {
                                admin.bind = self.keep(literal::bind_address(addr));
                            }
                        }
                        "token_env" if self.once(&mut seen, directive) => {
                            let usage = "token_env \"EDGE_ADMIN_TOKEN\"";
                            if let Some([name]) = self.args(directive, 1, usage) {
                                admin.token_env = self.keep(literal::env_name(name));
                            }
                        }
                        "bind" | "token_env" => {}
                        _ => self.unknown(directive, "in `admin`", &ADMIN),
                    }
                }
                config.admin = Some(Spanned::new(admin, span));
            }
            "access_log" => {
                let mut log = AccessLog {
                    format: LogFormat::Combined,
                    path: None,
                };
                for directive in &block.directives {
                    let name = directive.name.value.as_str();
                    if ACCESS_LOG.contains(&name) && !self.once(&mut seen, directive) {
                        continue;
                    }
                    match name {
                        "format" => {
                            if let Some([format]) = self.args(directive, 1, "format json") {
                                match format.text.as_str() {
                                    "json" if format.is_bare() => log.format = LogFormat::Json,
                                    "combined" if format.is_bare() => {
                                        log.format = LogFormat::Combined
                                    }
                                    other => self.error(
                                        Diagnostic::error(format!("unknown log format `{other}`"))
                                            .with_label(Label::primary(format.span, "not a format"))
                                            .with_help("the formats are `combined` (the default) and `json`"),
                                    ),
                                }
                            }
                        }
                        "path" => log.path = self.file(directive),
                        _ => self.unknown(directive, "in `access_log`", &ACCESS_LOG),
                    }
                }
                config.access_log = Some(Spanned::new(log, span));
            }
            _ => {
                let mut request_id = RequestId {
                    enabled: true,
                    trust_client: false,
                };
                for directive in &block.directives {
                    match directive.name.value.as_str() {
                        "trust_client" if self.once(&mut seen, directive) => {
                            if self.args(directive, 0, "trust_client").is_some() {
                                request_id.trust_client = true;
                            }
                        }
                        "trust_client" => {}
                        _ => self.unknown(directive, "in `request_id`", &REQUEST_ID),
                    }
                }
                config.request_id = Some(Spanned::new(request_id, span));
            }
        }
    }
}
