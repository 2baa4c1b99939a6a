//! `policy NAME = ext_auth { ... }`: the authorisation service asked before each request (its
//! pool and path), the headers sent to it and copied back from its answer, how long to wait,
//! what a failed check means, and how long answers are kept.

use crate::ast::ExtAuth;
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::Arg;

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore, Own};
use crate::lower::table::{set, unread, Given, ItemKind, Rule, Table};
use crate::lower::Lowering;

pub(super) const EXT_AUTH: Table = Table {
    place: "in an ext_auth policy",
    rules: &[
        Rule::once("pool", Exactly(1), "pool auth")
            .required("pool auth")
            .doc("The pool of the authorisation service.")
            .refers_to(ItemKind::Pool),
        Rule::once("path", Exactly(1), "path \"/check\"")
            .required("path \"/check\"")
            .doc("The path each check asks for, with `GET`; the request's own method and URI go in `x-forwarded-method` and `x-forwarded-uri`."),
        Rule::once("forward_headers", OneOrMore, "forward_headers authorization cookie")
            .doc("The request's headers sent along with each check.")
            .by_default("authorization cookie"),
        Rule::once("copy_headers", OneOrMore, "copy_headers x-user-id")
            .doc("Headers of an allowing answer copied onto the request (a client's own are removed first).")
            .by_default("none"),
        Rule::once("timeout", Exactly(1), "timeout 200ms")
            .doc("The longest wait for the service's answer; past it, the check has failed.")
            .by_default("1s"),
        Rule::once("on_error", Exactly(1), "on_error allow")
            .doc("When the service fails (no answer in time, an error, another status than 2xx, 401, 403): `deny` (`503`) or `allow`.")
            .by_default("deny"),
        Rule::once("cache", Own, "cache 30s by header(\"authorization\")")
            .doc("Keep each answer (allowing, 401 or 403) this long, by this key: `header(..)`, `cookie(..)`, `client_ip` or `path`.")
            .by_default("no caching; the key: the forwarded headers, the method and the path"),
    ],
};

impl Lowering {
    pub(super) fn ext_auth(&mut self, policy: &Item<'_>) -> Option<ExtAuth> {
        let mut pool = None;
        let mut path = None;
        let mut forward_headers = None;
        let mut copy_headers = Vec::new();
        let mut timeout = None;
        let mut fail_open = None;
        let mut cache = None;
        let taken = self.directives(&EXT_AUTH, policy.directives, |lower, given| {
            match given.name() {
                "pool" => set(&mut pool, lower.reference(given.arg())),
                "path" => set(&mut path, lower.check_path(given.arg())),
                "forward_headers" => {
                    let names = lower.header_names(given);
                    let read = names.len() == given.args.len();
                    forward_headers = Some(names);
                    read
                }
                "copy_headers" => {
                    copy_headers = given
                        .args
                        .iter()
                        .filter_map(|arg| lower.keep(literal::sent_header_name(arg)))
                        .collect();
                    copy_headers.len() == given.args.len()
                }
                "timeout" => set(&mut timeout, lower.keep(literal::duration(given.arg()))),
                "on_error" => set(&mut fail_open, lower.on_error(given.arg())),
                "cache" => set(&mut cache, lower.answer_cache(given)),
                name => unread(name),
            }
        });
        self.require(&EXT_AUTH, &taken, "policy", &policy.name, policy.head);
        Some(ExtAuth {
            pool: pool?,
            path: path?,
            forward_headers,
            copy_headers,
            timeout,
            fail_open,
            cache,
        })
    }

    /// The path a check asks for: `/`, then the characters a URI's path and query may hold
    /// as they are (RFC 3986), `%` escapes included.
    fn check_path(&mut self, path: &Arg) -> Option<Spanned<String>> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%?".contains(&b);
        if !path.text.starts_with('/') || !path.text.bytes().all(allowed) {
            self.error(
                Diagnostic::error(
                    "invalid-literal",
                    format!("invalid check path `{}`", path.text),
                )
                .with_label(Label::primary(path.span, "not a request path"))
                .with_help(
                    "a check path starts with `/` and holds only what a URI may hold as it is \
                     (percent-encode the rest), as in `/check`",
                ),
            );
            return None;
        }
        Some(Spanned::new(path.text.clone(), path.span))
    }

    /// `deny` or `allow`: whether a failed check lets the request through.
    fn on_error(&mut self, arg: &Arg) -> Option<Spanned<bool>> {
        match arg.text.as_str() {
            "deny" if arg.is_bare() => Some(Spanned::new(false, arg.span)),
            "allow" if arg.is_bare() => Some(Spanned::new(true, arg.span)),
            _ if self.quoted_word(arg, &["deny", "allow"]) => None,
            _ => {
                self.error(
                    Diagnostic::error(
                        "unknown-choice",
                        format!("unknown `on_error` choice `{}`", arg.text),
                    )
                    .with_label(Label::primary(arg.span, "not a choice"))
                    .with_help("write `on_error deny` (the default: `503`) or `on_error allow`"),
                );
                None
            }
        }
    }

    /// `cache D [by KEY]`
    fn answer_cache(
        &mut self,
        given: Given<'_>,
    ) -> Option<(
        Spanned<std::time::Duration>,
        Option<Spanned<crate::value::HashKey>>,
    )> {
        match given.args {
            [ttl] if given.directive.block.is_none() => {
                Some((self.keep(literal::duration(ttl))?, None))
            }
            [ttl, by, key]
                if given.directive.block.is_none() && by.is_bare() && by.text == "by" =>
            {
                let ttl = self.keep(literal::duration(ttl));
                let key = self
                    .hash_key(key)
                    .map(|value| Spanned::new(value, key.span));
                Some((ttl?, Some(key?)))
            }
            _ => {
                self.error(
                    Diagnostic::error("wrong-arguments", "`cache` takes a duration and a key")
                        .with_label(Label::primary(
                            given.head(),
                            "expected `cache D` or `cache D by KEY`",
                        ))
                        .with_help(format!("write `{}`", given.usage)),
                );
                None
            }
        }
    }
}
