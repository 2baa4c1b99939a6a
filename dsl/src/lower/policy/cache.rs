//! `policy NAME = cache { ... }`: the cache's size, the largest answer it stores, what answers
//! are keyed by, how long they are kept and served stale, and whether authorised requests are
//! cached.

use crate::ast::{Cache, CacheKey, CACHE_MAX_SIZE};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::syntax::{Arg, ArgKind};

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore};
use crate::lower::table::{set, unread, Given, Rule, Table};
use crate::lower::values::listed;
use crate::lower::Lowering;

pub(super) const CACHE: Table = Table {
    place: "in a cache policy",
    rules: &[
        Rule::once("max_size", Exactly(1), "max_size 64MiB")
            .doc("Bytes of stored answers, bodies and headers, before the least useful are evicted.")
            .by_default("64MiB"),
        Rule::once("max_object", Exactly(1), "max_object 64MiB")
            .doc("Larger answers pass through unstored.")
            .by_default("8MiB"),
        Rule::once("key", OneOrMore, "key host path query header(\"x-tenant\")")
            .doc("What answers are keyed by: `host`, `path` (required), `query` and `header(\"NAME\")`s.")
            .by_default("host path query"),
        Rule::once("default_ttl", Exactly(1), "default_ttl 5s")
            .doc("The lifetime of answers that give none.")
            .by_default("not stored"),
        Rule::once(
            "stale_while_revalidate",
            Exactly(1),
            "stale_while_revalidate 5s",
        )
        .doc("For answers that give none: how long a stale answer is served while one request revalidates it.")
        .by_default("0"),
        Rule::once("stale_if_error", Exactly(1), "stale_if_error 5s")
            .doc("For answers that give none: how long a stale answer replaces a `5xx` or an unreachable backend.")
            .by_default("0"),
        Rule::once("cache_authorized", Exactly(0), "cache_authorized")
            .doc("Store answers to authorised requests that say `public`, `s-maxage` or `must-revalidate`, keyed by who asked.")
            .by_default("not stored"),
    ],
};
const CACHE_KEY_PARTS: [&str; 4] = ["host", "path", "query", "header(\"NAME\")"];

impl Lowering {
    pub(super) fn cache(&mut self, policy: &Item<'_>) -> Cache {
        let mut cache = Cache::default();
        self.directives(&CACHE, policy.directives, |lower, given| {
            let c = &mut cache;
            let duration = |lower: &mut Lowering| lower.keep(literal::duration(given.arg()));
            match given.name() {
                "max_size" => set(&mut c.max_size, lower.keep(literal::size(given.arg()))),
                "max_object" => set(&mut c.max_object, lower.keep(literal::size(given.arg()))),
                "key" => set(&mut c.key, Some(lower.cache_key(given))),
                "default_ttl" => set(&mut c.default_ttl, duration(lower)),
                "stale_while_revalidate" => set(&mut c.stale_while_revalidate, duration(lower)),
                "stale_if_error" => set(&mut c.stale_if_error, duration(lower)),
                "cache_authorized" => set(&mut c.cache_authorized, Some(given.head())),
                name => unread(name),
            }
        });
        let max_size = cache
            .max_size
            .as_ref()
            .map_or(CACHE_MAX_SIZE, |size| size.value);
        if let Some(object) = cache.max_object.as_ref().filter(|o| o.value > max_size) {
            let mut error = Diagnostic::error(
                "cache-object-too-large",
                "`max_object` is larger than the whole cache",
            )
            .with_label(Label::primary(object.span, "the largest answer stored"))
            .with_help("make `max_object` at most `max_size` (64MiB unless given)");
            if let Some(size) = &cache.max_size {
                error = error.with_label(Label::secondary(size.span, "the cache's size"));
            }
            self.error(error);
        }
        cache
    }

    /// `key host path query header("x-tenant")`: parts of the URL and request headers.
    fn cache_key(&mut self, given: Given<'_>) -> CacheKey {
        let mut key = CacheKey::default();
        for arg in given.args {
            let twice = match (&arg.kind, arg.text.as_str()) {
                (ArgKind::Bare, "host") => std::mem::replace(&mut key.host, true),
                (ArgKind::Bare, "path") => std::mem::replace(&mut key.path, true),
                (ArgKind::Bare, "query") => std::mem::replace(&mut key.query, true),
                (ArgKind::Call(inner), "header") => {
                    let inner = Arg {
                        text: inner.clone(),
                        kind: ArgKind::Quoted,
                        span: arg.span,
                    };
                    let Some(name) = self.keep(literal::header_name(&inner)) else {
                        continue;
                    };
                    let twice = key.headers.contains(&name.value);
                    if !twice {
                        key.headers.push(name.value);
                    }
                    twice
                }
                _ => {
                    self.error(
                        Diagnostic::error("unknown-choice", format!("unknown cache key part `{}`", arg.text))
                            .with_label(Label::primary(arg.span, "not a key part"))
                            .with_suggestion(&arg.text, "a key part", ["host", "path", "query"])
                            .with_help(format!(
                                "the parts are {}; the method is always GET (HEAD is answered from GET's answers)",
                                listed(&CACHE_KEY_PARTS)
                            )),
                    );
                    continue;
                }
            };
            if twice {
                let part = match &arg.kind {
                    ArgKind::Call(inner) => {
                        format!("{}(\"{}\")", arg.text, inner.to_ascii_lowercase())
                    }
                    _ => arg.text.clone(),
                };
                self.error(
                    Diagnostic::error("duplicate-item", format!("`{part}` is listed twice"))
                        .with_label(Label::primary(arg.span, "listed again here")),
                );
            }
        }
        if !key.path {
            self.error(
                Diagnostic::error("cache-key-without-path", "a cache key without `path`")
                    .with_label(Label::primary(given.head(), "no `path` in this key"))
                    .with_help("every path would share one answer: add `path` to the key"),
            );
        }
        key
    }
}
