//! `policy NAME = api_key { ... }`: the key file, where a request carries its key, and the
//! header naming the consumer to the servers.

use crate::ast::{ApiKey, KeySource};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;

use super::Item;
use crate::lower::table::Args::{Exactly, Own};
use crate::lower::table::{set, unread, Given, Rule, Table};
use crate::lower::Lowering;

/// `header` and `query` say themselves when both are given.
pub(super) const API_KEY: Table = Table {
    place: "in an api_key policy",
    rules: &[
        Rule::once("keys", Exactly(1), "keys \"api-keys.txt\"")
            .required("keys \"api-keys.txt\"")
            .doc("The key file: one `CONSUMER sha256:HEX` a line, the SHA-256 of each key."),
        Rule::once("header", Own, "header \"x-api-key\"")
            .doc("The request header that carries the key.")
            .by_default("x-api-key"),
        Rule::once("query", Own, "query \"api_key\"")
            .doc("The query parameter that carries the key, instead of a header."),
        Rule::once(
            "consumer_header",
            Exactly(1),
            "consumer_header \"x-consumer\"",
        )
        .doc("Forward the consumer's name to the servers in this header.")
        .by_default("not forwarded"),
    ],
};

impl Lowering {
    pub(super) fn api_key(&mut self, policy: &Item<'_>) -> Option<ApiKey> {
        let mut keys = None;
        let mut source: Option<Spanned<KeySource>> = None;
        let mut consumer_header = None;
        let taken = self.directives(&API_KEY, policy.directives, |lower, given| {
            match given.name() {
                "keys" => set(&mut keys, lower.file(given.arg(), given.usage)),
                "header" | "query" => {
                    if let Some(first) = &source {
                        lower.error(
                            Diagnostic::error(
                                "conflicting-directives",
                                format!("policy `{}` reads the key twice", policy.name),
                            )
                            .with_label(Label::primary(given.head(), "second"))
                            .with_label(Label::secondary(first.span, "first"))
                            .with_help("the key comes from one header or one query parameter"),
                        );
                        return false;
                    }
                    let read = lower.key_source(given);
                    set(
                        &mut source,
                        read.map(|read| Spanned::new(read, given.head())),
                    )
                }
                "consumer_header" => set(
                    &mut consumer_header,
                    lower.keep(literal::sent_header_name(given.arg())),
                ),
                name => unread(name),
            }
        });
        self.require(&API_KEY, &taken, "policy", &policy.name, policy.head);
        Some(ApiKey {
            keys: keys?,
            source: source.map(|s| s.value),
            consumer_header,
        })
    }

    /// `header "NAME"` or `query "NAME"`: where the key is read.
    fn key_source(&mut self, given: Given<'_>) -> Option<KeySource> {
        let [name] = self.args(given.directive, 1, given.usage)? else {
            unreachable!("args checked the count")
        };
        if given.name() == "header" {
            self.keep(literal::header_name(name))
                .map(|header| KeySource::Header(header.value))
        } else {
            self.keep(literal::text(name, "the value", given.usage))
                .map(|query| KeySource::Query(query.value))
        }
    }
}
