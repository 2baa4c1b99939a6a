//! Lowering of `test` blocks: requests written as `METHOD URL -> ROUTE` (or `-> STATUS`),
//! checked by the compiler against the routes at build time.

use crate::ast::{Case, Expect, Method, Test};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::Directive;

use super::table::{Given, Seen};
use super::Lowering;

const USAGE: &str = "GET https://api.example.com/users/42 -> users";

impl Lowering {
    pub(super) fn test(&mut self, given: Given<'_>) -> Option<Test> {
        let (directive, usage) = (given.directive, given.usage);
        let (name, block) = match (directive.args.as_slice(), &directive.block) {
            ([name], Some(block)) if name.is_quoted() => {
                (Spanned::new(name.text.clone(), name.span), block)
            }
            _ => {
                self.error(
                    Diagnostic::error("wrong-arguments", "a test has a quoted name and a block")
                        .with_label(Label::primary(
                            directive.head_span(),
                            "expected `test \"NAME\" { ... }`",
                        ))
                        .with_help(format!("write `{usage}`")),
                );
                return None;
            }
        };
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let mut test = Test {
            name,
            on: None,
            cases: Vec::new(),
            span: directive.head_span(),
        };
        for line in &block.directives {
            if line.name.value == "on" {
                if self.once(&mut seen, line) {
                    if let Some([listener]) = self.args(line, 1, "on LISTENER") {
                        test.on = self.reference(listener);
                    }
                }
                continue;
            }
            test.cases.extend(self.case(line));
        }
        (self.diagnostics.len() == before).then_some(test)
    }

    /// `METHOD URL -> ROUTE` or `METHOD URL -> STATUS`
    fn case(&mut self, line: &Directive) -> Option<Case> {
        let Some(method) = Method::ALL
            .into_iter()
            .find(|m| m.as_str() == line.name.value)
        else {
            self.error(
                Diagnostic::error(
                    "invalid-test-line",
                    format!("`{}` is not a request", line.name),
                )
                .with_label(Label::primary(
                    line.name.span,
                    "expected a method such as `GET`",
                ))
                .with_suggestion(
                    &line.name.value.to_ascii_uppercase(),
                    "a method",
                    Method::ALL.iter().map(|m| m.as_str()),
                )
                .with_help(format!(
                    "a test line is a request and what it reaches: `{USAGE}`"
                )),
            );
            return None;
        };
        let [url, arrow, expect] = line.args.as_slice() else {
            self.error(
                Diagnostic::error(
                    "invalid-test-line",
                    "a test line is `METHOD URL -> EXPECTED`",
                )
                .with_label(Label::primary(
                    line.head_span(),
                    "expected a URL, `->` and a route or status",
                ))
                .with_help(format!("write `{USAGE}`")),
            );
            return None;
        };
        if !(arrow.is_bare() && arrow.text == "->") || line.block.is_some() {
            self.error(
                Diagnostic::error("invalid-test-line", "expected `->` after the URL")
                    .with_label(Label::primary(arrow.span, "expected `->`"))
                    .with_help(format!("write `{USAGE}`")),
            );
            return None;
        }
        let (host, path) = literal::test_url(url).map_err(|d| self.error(d)).ok()?;
        let expected = if expect.text.bytes().all(|b| b.is_ascii_digit()) {
            Expect::Status(self.keep(literal::status(expect))?.value)
        } else {
            Expect::Route(self.reference(expect)?)
        };
        Some(Case {
            method: Spanned::new(method, line.name.span),
            host,
            path,
            expect: Spanned::new(expected, expect.span),
            span: line.head_span(),
        })
    }
}
