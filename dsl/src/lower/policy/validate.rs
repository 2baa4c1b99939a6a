//! `policy NAME = validate { ... }`: the methods, headers, content types and body size a
//! request must keep to, and the JSON schema its body must match.

use crate::ast::Validate;
use crate::literal;

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore};
use crate::lower::table::{set, unread, Rule, Table};
use crate::lower::Lowering;

const VALIDATE: Table = Table {
    place: "in a validate policy",
    rules: &[
        Rule::once("methods", OneOrMore, "methods GET POST"),
        Rule::once(
            "required_headers",
            OneOrMore,
            "required_headers \"x-request-id\"",
        ),
        Rule::once(
            "content_type",
            OneOrMore,
            "content_type \"application/json\"",
        ),
        Rule::once("max_body", Exactly(1), "max_body 1MiB"),
        Rule::once(
            "json_schema",
            Exactly(1),
            "json_schema \"path/to/file.pem\"",
        ),
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
