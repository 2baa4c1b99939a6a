//! `policy NAME = validate { ... }`: the methods, headers, content types and body size a
//! request must keep to, and the JSON schema its body must match.

use crate::ast::Validate;
use crate::literal;

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore};
use crate::lower::table::{set, unread, Rule, Table};
use crate::lower::Lowering;

pub(super) const VALIDATE: Table = Table {
    place: "in a validate policy",
    rules: &[
        Rule::once("methods", OneOrMore, "methods GET POST")
            .doc("The methods allowed; others get `405` with `Allow`.")
            .by_default("any"),
        Rule::once(
            "required_headers",
            OneOrMore,
            "required_headers \"x-request-id\"",
        )
        .doc("Headers a request must have; missing one, `400`.")
        .by_default("none"),
        Rule::once(
            "content_type",
            OneOrMore,
            "content_type \"application/json\"",
        )
        .doc("The media types a body may have; others get `415`.")
        .by_default("any"),
        Rule::once("max_body", Exactly(1), "max_body 1MiB")
            .doc("The largest body; larger gets `413`, enforced while the body streams.")
            .by_default("no limit"),
        Rule::once(
            "json_schema",
            Exactly(1),
            "json_schema \"payment.schema.json\"",
        )
        .doc("A JSON schema file the body must match; otherwise `400` with a short reason.")
        .by_default("none"),
    ],
};

impl Lowering {
    pub(super) fn validate(&mut self, policy: &Item<'_>) -> Validate {
        let mut validate = Validate::default();
        self.directives(&VALIDATE, policy.directives, |lower, given| {
            let v = &mut validate;
            match given.name() {
                "methods" => {
                    v.methods = lower.methods(given);
                    !v.methods.is_empty()
                }
                "required_headers" => {
                    v.required_headers = lower.header_names(given);
                    !v.required_headers.is_empty()
                }
                "content_type" => {
                    v.content_types = lower
                        .strings(given)
                        .into_iter()
                        .filter_map(|media| lower.media_type(media))
                        .collect();
                    !v.content_types.is_empty()
                }
                "max_body" => set(&mut v.max_body, lower.keep(literal::size(given.arg()))),
                "json_schema" => set(&mut v.json_schema, lower.file(given.arg(), given.usage)),
                name => unread(name),
            }
        });
        validate
    }
}
