//! `policy NAME = rate_limit { ... }`: what requests are counted by, the rate and burst, the
//! algorithm, and the bounds on the keys kept.

use crate::ast::{LimitAlgorithm, LimitKey, RateLimit};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::syntax::{Arg, ArgKind};

use super::Item;
use crate::lower::table::Args::Exactly;
use crate::lower::table::{set, unread, Rule, Table};
use crate::lower::values::listed;
use crate::lower::Lowering;

const RATE_LIMIT: Table = Table {
    place: "in a rate_limit policy",
    rules: &[
        Rule::once("key", Exactly(1), "key client_ip"),
        Rule::once("rate", Exactly(1), "rate 10/s").required("rate 10/s"),
        Rule::once("burst", Exactly(1), "burst 1"),
        Rule::once("algorithm", Exactly(1), "algorithm token_bucket"),
        Rule::once("max_keys", Exactly(1), "max_keys 1"),
        Rule::once("ipv6_prefix", Exactly(1), "ipv6_prefix 1"),
    ],
};
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
        let taken = self.directives(&RATE_LIMIT, policy.directives, |lower, given| {
            let arg = given.arg();
            match given.name() {
                "key" => lower.limit_key(arg).map(|read| key = Some(read)).is_some(),
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
                name => unread(name),
            }
        });
        self.require(&RATE_LIMIT, &taken, "policy", policy.name, policy.head);
        Some(RateLimit {
            key,
            rate: rate?,
            burst,
            algorithm,
            max_keys,
            ipv6_prefix,
        })
    }

    fn limit_algorithm(&mut self, arg: &Arg) -> Option<LimitAlgorithm> {
        match arg.text.as_str() {
            "token_bucket" if arg.is_bare() => Some(LimitAlgorithm::TokenBucket),
            "gcra" if arg.is_bare() => Some(LimitAlgorithm::Gcra),
            other => {
                self.error(
                    Diagnostic::error(format!("unknown algorithm `{other}`"))
                        .with_label(Label::primary(arg.span, "not an algorithm"))
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
        if key.is_none() {
            self.error(
                Diagnostic::error(format!("unknown rate-limit key `{}`", arg.text))
                    .with_label(Label::primary(arg.span, "not a key"))
                    .with_help(format!("the keys are {}", listed(&LIMIT_KEYS))),
            );
        }
        key
    }
}
