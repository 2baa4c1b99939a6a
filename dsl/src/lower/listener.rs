//! Lowering of `listener` blocks: the address, the mode, the limits and timeouts of the client
//! side, the request-head switches and TLS, with the options that only fit one mode refused.

use crate::ast::{Listener, Mode};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Span, Spanned};

use super::table::Args::{Block, Exactly, OneOrMore};
use super::table::{set, unread, Given, Rule, Table};
use super::tls::TLS;
use super::Lowering;

pub(super) const LISTENER: Table = Table {
    place: "in a listener",
    rules: &[
        Rule::once("bind", Exactly(1), "bind 127.0.0.1:8080")
            .required("bind 127.0.0.1:8080")
            .doc("The address and port to accept connections on; `EDGE_BIND_<LISTENER>` overrides it at run time."),
        Rule::once("mode", Exactly(1), "mode tcp")
            .doc("`http` (HTTP/1.1 and cleartext HTTP/2) or `tcp` (content-blind Layer 4 forwarding).")
            .by_default("http"),
        Rule::once("max_header_size", Exactly(1), "max_header_size 64KiB")
            .doc("(http) The largest request head accepted; a larger one gets `431`.")
            .by_default("64KiB"),
        Rule::once("header_timeout", Exactly(1), "header_timeout 10s")
            .doc("(http) The time a new connection has to send its first request head, and any later head from its first byte.")
            .by_default("10s"),
        Rule::once("keepalive_timeout", Exactly(1), "keepalive_timeout 75s")
            .doc("(http) How long a connection may stay idle between requests before it is closed.")
            .by_default("75s"),
        Rule::once("body_timeout", Exactly(1), "body_timeout 60s")
            .doc("(http) The longest wait for the next bytes of a request body; the client then gets `408`.")
            .by_default("60s"),
        Rule::once("send_timeout", Exactly(1), "send_timeout 60s")
            .doc("(http) The longest a client may leave its answer unread before the connection is closed.")
            .by_default("60s"),
        Rule::once("ping_interval", Exactly(1), "ping_interval 60s")
            .doc("(http) An HTTP/2 connection silent this long gets a PING; no answer within 20 s closes it.")
            .by_default("60s"),
        Rule::once("max_body", Exactly(1), "max_body 10MiB")
            .doc("(http) The largest request body; a larger one gets `413`, checked while the body streams.")
            .by_default("no limit"),
        Rule::once("max_connections", Exactly(1), "max_connections 1")
            .doc("Client connections open at once; more wait in the kernel's queue.")
            .by_default("50000"),
        Rule::once("max_streams", Exactly(1), "max_streams 1")
            .doc("(http) HTTP/2 streams open at once on one connection.")
            .by_default("128"),
        Rule::once(
            "underscores_in_headers",
            Exactly(1),
            "underscores_in_headers on",
        )
        .doc("(http) `on` lets header names with `_` through; by default they are dropped.")
        .by_default("off"),
        Rule::once(
            "allow_encoded_slashes",
            Exactly(1),
            "allow_encoded_slashes on",
        )
        .doc("(http) `on` lets `%2F`, `%5C` and `\\` through in paths; by default such a request gets `400`.")
        .by_default("off"),
        Rule::once("allow_semicolons", Exactly(1), "allow_semicolons on")
            .doc("(http) `on` lets `;` through in paths; by default such a request gets `400`.")
            .by_default("off"),
        Rule::once(
            "case_insensitive_paths",
            Exactly(1),
            "case_insensitive_paths on",
        )
        .doc("(http) `on` lower-cases request paths before routing and forwarding, for backends that ignore case.")
        .by_default("off"),
        Rule::once("accept_proxy", Exactly(1), "accept_proxy on")
            .doc("`on`: every connection starts with a PROXY protocol header (v1 or v2) naming the client, from the load balancer in front.")
            .by_default("off"),
        Rule::once(
            "trusted_proxies",
            OneOrMore,
            "trusted_proxies 10.0.0.0/8 192.0.2.10",
        )
        .doc("(http) The proxies in front whose `X-Forwarded-For` is believed: the client is its right-most address not one of these.")
        .by_default("nobody"),
        Rule::once("idle_timeout", Exactly(1), "idle_timeout 10m")
            .doc("(tcp) A tunnel silent this long in both directions is closed.")
            .by_default("10m"),
        Rule::once("tls", Block, "tls { cert \"site.crt\"  key \"site.key\" }")
            .doc("(http) Terminate TLS: the certificates, client certificate checks and HSTS.")
            .opens(&TLS),
    ],
};

impl Lowering {
    pub(super) fn listener(&mut self, item: Given<'_>) -> Option<Listener> {
        let (name, span, directives) = self.item(item)?;
        let before = self.diagnostics.len();
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
            accept_proxy: None,
            trusted_proxies: None,
            idle_timeout: None,
            tls: None,
        };
        let taken = self.directives(&LISTENER, directives, |lower, given| {
            let arg = || given.arg();
            let l = &mut listener;
            match given.name() {
                "bind" => set(&mut bind, lower.keep(literal::bind_address(arg()))),
                "mode" => set(&mut l.mode, lower.mode(arg())),
                "max_header_size" => set(&mut l.max_header_size, lower.keep(literal::size(arg()))),
                "header_timeout" => {
                    set(&mut l.header_timeout, lower.keep(literal::duration(arg())))
                }
                "keepalive_timeout" => set(
                    &mut l.keepalive_timeout,
                    lower.keep(literal::duration(arg())),
                ),
                "body_timeout" => set(&mut l.body_timeout, lower.keep(literal::duration(arg()))),
                "send_timeout" => set(&mut l.send_timeout, lower.keep(literal::duration(arg()))),
                "ping_interval" => set(&mut l.ping_interval, lower.keep(literal::duration(arg()))),
                "max_body" => set(&mut l.max_body, lower.keep(literal::size(arg()))),
                "max_connections" => set(
                    &mut l.max_connections,
                    lower.keep(literal::count(arg(), 1, 10_000_000)),
                ),
                "max_streams" => set(
                    &mut l.max_streams,
                    lower.keep(literal::count(arg(), 1, 10_000)),
                ),
                "underscores_in_headers" => lower.switch(given, &mut l.underscores_in_headers),
                "allow_encoded_slashes" => lower.switch(given, &mut l.allow_encoded_slashes),
                "allow_semicolons" => lower.switch(given, &mut l.allow_semicolons),
                "case_insensitive_paths" => lower.switch(given, &mut l.case_insensitive_paths),
                "accept_proxy" => lower.switch(given, &mut l.accept_proxy),
                "trusted_proxies" => {
                    let nets: Vec<_> = given
                        .args
                        .iter()
                        .filter_map(|arg| lower.keep(literal::cidr(arg)))
                        .collect();
                    let span = given.directive.head_span();
                    nets.len() == given.args.len()
                        && set(&mut l.trusted_proxies, Some(Spanned::new(nets, span)))
                }
                "idle_timeout" => set(&mut l.idle_timeout, lower.keep(literal::duration(arg()))),
                "tls" => set(&mut l.tls, lower.tls(given)),
                name => unread(name),
            }
        });
        self.mode_fit(&listener);
        if self.diagnostics.len() == before {
            self.require(&LISTENER, &taken, "listener", &listener.name, span);
        }
        listener.bind = bind?;
        Some(listener)
    }

    fn switch(&mut self, given: Given<'_>, slot: &mut Option<Spanned<bool>>) -> bool {
        set(slot, self.on_off(given.arg(), given.usage))
    }

    fn mode(&mut self, mode: &crate::syntax::Arg) -> Option<Spanned<Mode>> {
        let value = match mode.text.as_str() {
            "tcp" if mode.is_bare() => Mode::Tcp,
            "http" if mode.is_bare() => Mode::Http,
            _ if self.quoted_word(mode, &["tcp", "http"]) => return None,
            _ => {
                self.error(
                    Diagnostic::error(
                        "unknown-choice",
                        format!("unknown listener mode `{}`", mode.text),
                    )
                    .with_label(Label::primary(mode.span, "not a mode"))
                    .with_help("the modes are `http` (the default) and `tcp`"),
                );
                return None;
            }
        };
        Some(Spanned::new(value, mode.span))
    }

    /// Refuses the options of the other mode: HTTP ones on a tcp listener, `idle_timeout` on an
    /// HTTP one.
    fn mode_fit(&mut self, listener: &Listener) {
        let tcp = listener.mode.as_ref().is_some_and(|m| m.value == Mode::Tcp);
        let span = |value: Option<Span>| value.filter(|_| tcp);
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
            (
                "trusted_proxies",
                listener.trusted_proxies.as_ref().map(|s| s.span),
            ),
        ];
        for (directive, at) in http_only {
            if let Some(at) = span(at) {
                self.error(
                    Diagnostic::error(
                        "listener-mode-mismatch",
                        format!("`{directive}` is for HTTP listeners"),
                    )
                    .with_label(Label::primary(at, "this listener is `mode tcp`"))
                    .with_help("a tcp listener forwards bytes and never reads a request head"),
                );
            }
        }
        if let Some(tls) = listener.tls.as_ref().filter(|_| tcp) {
            self.error(
                Diagnostic::error("listener-mode-mismatch", "`tls` is for HTTP listeners")
                    .with_label(Label::primary(tls.span, "this listener is `mode tcp`"))
                    .with_help("a tcp listener passes TLS through untouched; terminate it on an HTTP listener"),
            );
        }
        if let Some(idle) = listener.idle_timeout.as_ref().filter(|_| !tcp) {
            self.error(
                Diagnostic::error(
                    "listener-mode-mismatch",
                    "`idle_timeout` is for tcp listeners",
                )
                .with_label(Label::primary(idle.span, "this listener speaks HTTP"))
                .with_help("add `mode tcp`, or use `header_timeout` for HTTP clients"),
            );
        }
    }
}
