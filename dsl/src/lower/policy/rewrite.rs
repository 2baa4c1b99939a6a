//! `policy NAME = rewrite { ... }`: the one rule rewriting the path sent to the servers.

use crate::ast::{PathMatch, Rewrite};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;

use super::Item;
use crate::lower::table::Args::Exactly;
use crate::lower::table::{set, unread, Given, Rule, Table};
use crate::lower::Lowering;

/// The rules may each be written more than once; a second rule says itself.
pub(super) const REWRITE: Table = Table {
    place: "in a rewrite policy",
    rules: &[
        Rule::many("strip_prefix", Exactly(1), "strip_prefix /api")
            .required("strip_prefix /api")
            .doc("Remove this prefix from the path forwarded (the query is kept)."),
        Rule::many("replace_prefix", Exactly(2), "replace_prefix /v1 /v2")
            .instead_of("strip_prefix")
            .doc("Replace the first prefix with the second in the path forwarded."),
        Rule::many("regex", Exactly(2), "regex \"^/old/(.*)$\" \"/new/$1\"")
            .instead_of("strip_prefix")
            .doc("Rewrite a path matching the regular expression to the replacement (`$1` for groups)."),
    ],
};

impl Lowering {
    pub(super) fn rewrite(&mut self, policy: &Item<'_>) -> Option<Spanned<Rewrite>> {
        let mut rule: Option<Spanned<Rewrite>> = None;
        let taken = self.directives(&REWRITE, policy.directives, |lower, given| {
            let Some(read) = lower.rewrite_rule(given) else {
                return false;
            };
            if let Some(first) = &rule {
                lower.error(
                    Diagnostic::error(
                        "conflicting-directives",
                        format!("policy `{}` has two rewrite rules", policy.name),
                    )
                    .with_label(Label::primary(given.head(), "second rule"))
                    .with_label(Label::secondary(first.span, "first rule"))
                    .with_help("a rewrite policy has one rule; chain two policies for more"),
                );
                return false;
            }
            set(&mut rule, Some(Spanned::new(read, given.head())))
        });
        self.require(&REWRITE, &taken, "policy", &policy.name, policy.head);
        rule
    }

    fn rewrite_rule(&mut self, given: Given<'_>) -> Option<Rewrite> {
        let args = given.args;
        match given.name() {
            "strip_prefix" => self
                .keep(literal::path(&args[0], true))
                .map(|prefix| Rewrite::StripPrefix(exact_path(prefix.value))),
            "replace_prefix" => {
                let from = self.keep(literal::path(&args[0], true));
                let to = self.keep(literal::path(&args[1], true));
                Some(Rewrite::ReplacePrefix {
                    from: exact_path(from?.value),
                    to: exact_path(to?.value),
                })
            }
            "regex" => {
                let pattern = self.keep(literal::text(&args[0], "a pattern", given.usage));
                let replacement = self.keep(literal::text(&args[1], "a replacement", given.usage));
                Some(Rewrite::Regex {
                    pattern: pattern?,
                    replacement: replacement?.value,
                })
            }
            name => unread(name),
        }
    }
}

fn exact_path(path: PathMatch) -> String {
    match path {
        PathMatch::Exact(path) | PathMatch::Prefix(path) => path,
    }
}
