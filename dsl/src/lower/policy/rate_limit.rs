//! `policy NAME = rate_limit { ... }`: what requests are counted by, the rate and burst, the
//! algorithm, the bounds on the keys kept, and the store that shares the buckets with other
//! proxies.

use crate::ast::{LimitAlgorithm, LimitKey, OnStoreError, RateLimit};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::{Arg, ArgKind};

use super::Item;
use crate::lower::table::Args::Exactly;
use crate::lower::table::{set, unread, ItemKind, Rule, Table};
use crate::lower::values::listed;
use crate::lower::Lowering;

pub(super) const RATE_LIMIT: Table = Table {
    place: "in a rate_limit policy",
    rules: &[
        Rule::once("key", Exactly(1), "key client_ip")
            .doc("What requests are counted by: `client_ip`, `header(\"NAME\")`, `claim(\"NAME\")`, `consumer` or `route`.")
            .by_default("client_ip"),
        Rule::once("rate", Exactly(1), "rate 10/s")
            .required("rate 10/s")
            .doc("The requests allowed per second (`/s`), minute (`/m`) or hour (`/h`); over it, `429`."),
        Rule::once("burst", Exactly(1), "burst 1")
            .doc("The requests let through at once from idle.")
            .by_default("the rate's count"),
        Rule::once("algorithm", Exactly(1), "algorithm token_bucket")
            .doc("`token_bucket` or `gcra` (with a `store`, always GCRA).")
            .by_default("token_bucket"),
        Rule::once("max_keys", Exactly(1), "max_keys 1")
            .doc("The distinct keys remembered; idle ones are forgotten first.")
            .by_default("100000"),
        Rule::once("ipv6_prefix", Exactly(1), "ipv6_prefix 1")
            .doc("An IPv6 client counts by its network of this prefix length.")
            .by_default("64"),
        Rule::once("store", Exactly(1), "store shared")
            .doc("Keep the buckets in this store, shared with the other proxies using it.")
            .by_default("this proxy's own buckets")
            .refers_to(ItemKind::Store),
        Rule::once("on_store_error", Exactly(1), "on_store_error local")
            .doc("While the store does not answer: `local` (this proxy's bucket decides), `allow` or `deny` (`503`).")
            .by_default("local"),
    ],
};
const ON_STORE_ERROR: [&str; 3] = ["local", "allow", "deny"];
const ALGORITHMS: [&str; 2] = ["token_bucket", "gcra"];
const LIMIT_KEYS: [&str; 5] = [
    "client_ip",
    "header(\"NAME\")",
    "claim(\"NAME\")",
    "consumer",
    "route",
];

impl Lowering {
    pub(super) fn rate_limit(&mut self, policy: &Item<'_>) -> Option<RateLimit> {
        let mut key = None;
        let mut rate = None;
        let mut burst = None;
        let mut algorithm = None;
        let mut max_keys = None;
        let mut ipv6_prefix = None;
        let mut store = None;
        let mut store_given = false;
        let mut on_store_error = None;
        let taken = self.directives(&RATE_LIMIT, policy.directives, |lower, given| {
            let arg = given.arg();
            match given.name() {
                "key" => set(
                    &mut key,
                    lower
                        .limit_key(arg)
                        .map(|read| Spanned::new(read, arg.span)),
                ),
                "rate" => set(&mut rate, lower.keep(literal::rate(arg))),
                "burst" => set(&mut burst, lower.keep(literal::count(arg, 1, 1_000_000))),
                "algorithm" => lower
                    .limit_algorithm(arg)
                    .map(|read| algorithm = Some(read))
                    .is_some(),
                "max_keys" => set(
                    &mut max_keys,
                    lower.keep(literal::count(arg, 1, 100_000_000)),
                ),
                "ipv6_prefix" => set(&mut ipv6_prefix, lower.keep(literal::count(arg, 1, 128))),
                "store" => {
                    store_given = true;
                    set(&mut store, lower.reference(arg))
                }
                "on_store_error" => set(&mut on_store_error, lower.on_store_error(arg)),
                name => unread(name),
            }
        });
        self.require(&RATE_LIMIT, &taken, "policy", &policy.name, policy.head);
        if let Some(on_error) = on_store_error.as_ref().filter(|_| !store_given) {
            self.error(
                Diagnostic::error(
                    "ineffective-directive",
                    "`on_store_error` only applies with a store",
                )
                .with_label(Label::primary(
                    on_error.span,
                    format!("policy `{}` has no `store`", policy.name),
                ))
                .with_help(
                    "add `store NAME` to keep the buckets in a store shared with other \
                         proxies, or remove this line: without a store, this proxy's own \
                         buckets always decide",
                ),
            );
        }
        Some(RateLimit {
            key,
            rate: rate?,
            burst,
            algorithm,
            max_keys,
            ipv6_prefix,
            store,
            on_store_error,
        })
    }

    /// `local`, `allow` or `deny`.
    fn on_store_error(&mut self, arg: &Arg) -> Option<Spanned<OnStoreError>> {
        let value = match arg.text.as_str() {
            "local" if arg.is_bare() => OnStoreError::Local,
            "allow" if arg.is_bare() => OnStoreError::Allow,
            "deny" if arg.is_bare() => OnStoreError::Deny,
            _ if self.quoted_word(arg, &ON_STORE_ERROR) => return None,
            other => {
                self.error(
                    Diagnostic::error(
                        "unknown-choice",
                        format!("unknown `on_store_error` choice `{other}`"),
                    )
                    .with_label(Label::primary(arg.span, "not a choice"))
                    .with_suggestion(other, "a choice", ON_STORE_ERROR)
                    .with_help(
                        "`local` (the default): this proxy's own bucket decides; `allow`: \
                             requests pass; `deny`: requests get 503",
                    ),
                );
                return None;
            }
        };
        Some(Spanned::new(value, arg.span))
    }

    fn limit_algorithm(&mut self, arg: &Arg) -> Option<LimitAlgorithm> {
        match arg.text.as_str() {
            "token_bucket" if arg.is_bare() => Some(LimitAlgorithm::TokenBucket),
            "gcra" if arg.is_bare() => Some(LimitAlgorithm::Gcra),
            _ if self.quoted_word(arg, &ALGORITHMS) => None,
            other => {
                self.error(
                    Diagnostic::error("unknown-choice", format!("unknown algorithm `{other}`"))
                        .with_label(Label::primary(arg.span, "not an algorithm"))
                        .with_suggestion(other, "an algorithm", ALGORITHMS)
                        .with_help("the algorithms are `token_bucket` and `gcra`"),
                );
                None
            }
        }
    }

    fn limit_key(&mut self, arg: &Arg) -> Option<LimitKey> {
        let key = match (&arg.kind, arg.text.as_str()) {
            (ArgKind::Bare, "client_ip") => Some(LimitKey::ClientIp),
            (ArgKind::Bare, "consumer") => Some(LimitKey::Consumer),
            (ArgKind::Bare, "route") => Some(LimitKey::Route),
            (ArgKind::Call(inner), "header") => {
                let inner = Arg {
                    text: inner.clone(),
                    kind: ArgKind::Quoted,
                    span: arg.span,
                };
                return self
                    .keep(literal::header_name(&inner))
                    .map(|name| LimitKey::Header(name.value));
            }
            (ArgKind::Call(inner), "claim") if !inner.is_empty() => {
                Some(LimitKey::Claim(inner.clone()))
            }
            _ => None,
        };
        if key.is_none() && !self.quoted_word(arg, &["client_ip", "consumer", "route"]) {
            self.error(
                Diagnostic::error(
                    "unknown-choice",
                    format!("unknown rate-limit key `{}`", arg.text),
                )
                .with_label(Label::primary(arg.span, "not a key"))
                .with_suggestion(&arg.text, "a key", LIMIT_KEYS)
                .with_help(format!("the keys are {}", listed(&LIMIT_KEYS))),
            );
        }
        key
    }
}
