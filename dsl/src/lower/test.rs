//! Lowering of `test` blocks: requests written as `METHOD URL [header "N: V"] [cookie "N=V"]
//! [from IP] -> ROUTE|STATUS [after N] [via POLICY, ...]`, checked by the compiler against
//! the routes and policies at build time.

use std::net::IpAddr;

use crate::ast::{Case, Expect, Method, Test};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Ident, Spanned};
use crate::syntax::{Arg, Directive};

use super::table::{Given, Seen};
use super::Lowering;

const USAGE: &str = "GET https://api.example.com/users/42 -> users";

const OPTIONS: &str =
    "between the URL and `->`, a test line takes `header \"NAME: VALUE\"`, `cookie \"NAME=VALUE\"` and `from IP`";

/// A test request's headers and client.
type RequestOptions = (Vec<(String, String)>, Option<Spanned<IpAddr>>);

/// A test line's `after N` and `via POLICY, ...`.
type ExpectOptions = (Option<Spanned<u32>>, Option<Spanned<Vec<Ident>>>);

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
        let args = line.args.as_slice();
        let arrow = args.iter().position(|a| a.is_bare() && a.text == "->");
        let (Some(arrow), None) = (arrow, &line.block) else {
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
        let (request, outcome) = (&args[..arrow], &args[arrow + 1..]);
        let Some((url, options)) = request.split_first() else {
            self.error(
                Diagnostic::error("invalid-test-line", "a test request has a URL")
                    .with_label(Label::primary(
                        args[arrow].span,
                        "expected a URL before `->`",
                    ))
                    .with_help(format!("write `{USAGE}`")),
            );
            return None;
        };
        let url = literal::test_url(url).map_err(|d| self.error(d)).ok()?;
        let (headers, client) = self.request_options(options)?;
        let Some((expect, more)) = outcome.split_first() else {
            self.error(
                Diagnostic::error("invalid-test-line", "a test line expects something")
                    .with_label(Label::primary(
                        args[arrow].span,
                        "expected a route or status after `->`",
                    ))
                    .with_help(format!("write `{USAGE}`")),
            );
            return None;
        };
        let expected = if expect.text.bytes().all(|b| b.is_ascii_digit()) {
            Expect::Status(self.keep(literal::status(expect))?.value)
        } else {
            Expect::Route(self.reference(expect)?)
        };
        let (after, via) = self.expect_options(more)?;
        Some(Case {
            method: Spanned::new(method, line.name.span),
            url,
            headers,
            client,
            expect: Spanned::new(expected, expect.span),
            after,
            via,
            span: line.head_span(),
        })
    }

    /// `header "NAME: VALUE"`, `cookie "NAME=VALUE"` and `from IP`, between the URL and `->`.
    fn request_options(&mut self, options: &[Arg]) -> Option<RequestOptions> {
        let mut headers = Vec::new();
        let mut cookies = Vec::new();
        let mut client = None;
        let mut rest = options;
        while let [word, value, tail @ ..] = rest {
            rest = tail;
            match word.text.as_str() {
                "header" if word.is_bare() => {
                    let Some((name, text)) = value.text.split_once(':') else {
                        return self.bad_option(value, "a header is `\"NAME: VALUE\"`");
                    };
                    let name_arg = Arg {
                        text: name.trim().to_owned(),
                        ..value.clone()
                    };
                    let name = self.keep(literal::header_name(&name_arg))?.value;
                    headers.push((name, text.trim().to_owned()));
                }
                "cookie" if word.is_bare() => {
                    if !value.text.contains('=') || value.text.contains(';') {
                        return self.bad_option(value, "a cookie is `\"NAME=VALUE\"`");
                    }
                    cookies.push(value.text.clone());
                }
                "from" if word.is_bare() => client = Some(self.keep(literal::ip(value))?),
                _ => return self.bad_option(word, OPTIONS),
            }
        }
        if let [extra, ..] = rest {
            return self.bad_option(extra, OPTIONS);
        }
        if !cookies.is_empty() {
            headers.push(("cookie".to_owned(), cookies.join("; ")));
        }
        Some((headers, client))
    }

    /// `after N` and `via POLICY, ...`, after what the line expects.
    fn expect_options(&mut self, more: &[Arg]) -> Option<ExpectOptions> {
        let mut rest = more;
        let mut after = None;
        if let [word, count, tail @ ..] = rest {
            if word.is_bare() && word.text == "after" {
                after = Some(self.keep(literal::count(count, 1, 100_000))?);
                rest = tail;
            }
        }
        let mut via = None;
        if let [word, policies @ ..] = rest {
            if !(word.is_bare() && word.text == "via") || policies.is_empty() {
                return self.bad_option(
                    word,
                    "after what it expects, a test line takes `after N` and `via POLICY, ...`",
                );
            }
            let names: Option<Vec<_>> = policies.iter().map(|p| self.reference(p)).collect();
            let span = word.span.to(policies[policies.len() - 1].span);
            via = Some(Spanned::new(names?, span));
        }
        Some((after, via))
    }

    fn bad_option<T>(&mut self, arg: &Arg, help: &str) -> Option<T> {
        self.error(
            Diagnostic::error(
                "invalid-test-line",
                format!("unexpected `{}` in a test line", arg.text),
            )
            .with_label(Label::primary(arg.span, "not understood here"))
            .with_help(help.to_owned()),
        );
        None
    }
}
