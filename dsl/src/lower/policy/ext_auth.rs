//! `policy NAME = ext_auth { ... }`: the authorisation service asked before each request (its
//! pool and path), the headers sent to it and copied back from its answer, how long to wait,
//! what a failed check means, and how long answers are kept, by what, in how many bytes.

use crate::ast::{AnswerCache, ExtAuth, EXT_AUTH_CACHE_MIN_SIZE};
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
        Rule::once("cache", Own, "cache 30s by header(\"authorization\") max_size 4MiB")
            .doc("Keep each answer (allowing, 401 or 403) this long, by this key (`header(..)`, `cookie(..)`, `client_ip` or `path`), within `max_size` bytes in all, keys included.")
            .by_default("no caching; the key: the forwarded headers, the method and the path; max_size 4MiB"),
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

    /// `cache D [by KEY] [max_size SIZE]`, the two options in either order.
    fn answer_cache(&mut self, given: Given<'_>) -> Option<AnswerCache> {
        let wrong = |lower: &mut Lowering| {
            lower.error(
                Diagnostic::error(
                    "wrong-arguments",
                    "`cache` takes a duration, and may name a key and a size",
                )
                .with_label(Label::primary(
                    given.head(),
                    "expected `cache D [by KEY] [max_size SIZE]`",
                ))
                .with_help(format!("write `{}`", given.usage)),
            );
            None
        };
        let (ttl, options) = match given.args {
            [ttl, options @ ..]
                if given.directive.block.is_none()
                    && options.len() % 2 == 0
                    && options.chunks_exact(2).all(|pair| pair[0].is_bare()) =>
            {
                (ttl, options)
            }
            _ => return wrong(self),
        };
        let (mut by, mut max_size) = (None, None);
        for pair in options.chunks_exact(2) {
            let [word, value] = pair else { continue };
            let slot = match word.text.as_str() {
                "by" => &mut by,
                "max_size" => &mut max_size,
                _ => return wrong(self),
            };
            if let Some((first, _)) = slot.replace((word, value)) {
                self.error(
                    Diagnostic::error("duplicate-item", format!("`{}` is given twice", word.text))
                        .with_label(Label::primary(word.span, "given again here"))
                        .with_label(Label::secondary(first.span, "first given here")),
                );
                return None;
            }
        }
        let ttl = self.keep(literal::duration(ttl));
        let key = by.map(|(_, key)| {
            self.hash_key(key)
                .map(|value| Spanned::new(value, key.span))
        });
        let max_size = max_size.map(|(_, size)| {
            let size = self.keep(literal::size(size))?;
            if size.value < EXT_AUTH_CACHE_MIN_SIZE {
                self.error(
                    Diagnostic::error(
                        "out-of-range",
                        "kept answers need a `max_size` of at least 64KiB",
                    )
                    .with_label(Label::primary(size.span, "too small to keep answers"))
                    .with_help(
                        "the proxy splits kept answers in 16 parts, and an answer larger than \
                         a part is not kept: give at least `64KiB` (4MiB unless given)",
                    ),
                );
                return None;
            }
            Some(size)
        });
        Some(AnswerCache {
            ttl: ttl?,
            key: option(key)?,
            max_size: option(max_size)?,
        })
    }
}

/// An option of a directive as read: `Some(None)` when not given, `Some(Some(_))` when read,
/// `None` when given and not readable.
fn option<T>(given: Option<Option<T>>) -> Option<Option<T>> {
    given.map_or(Some(None), |read| read.map(Some))
}
