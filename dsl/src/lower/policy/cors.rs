//! `policy NAME = cors { ... }`: the origins allowed, the methods and headers they may use, the
//! headers exposed to them, credentials and how long a preflight answer is kept.

use crate::ast::Cors;
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore};
use crate::lower::table::{set, unread, Rule, Table};
use crate::lower::Lowering;

pub(super) const CORS: Table = Table {
    place: "in a cors policy",
    rules: &[
        Rule::once("origins", OneOrMore, "origins \"https://app.example.com\"")
            .required("origins \"https://app.example.com\"")
            .doc("The origins allowed, or `\"*\"` for any."),
        Rule::once("methods", OneOrMore, "methods GET POST")
            .doc("The methods allowed.")
            .by_default("GET HEAD POST"),
        Rule::once("headers", OneOrMore, "headers \"content-type\"")
            .doc("The request headers allowed.")
            .by_default("none"),
        Rule::once("expose", OneOrMore, "expose \"x-request-id\"")
            .doc("The response headers the browser shows to scripts.")
            .by_default("none"),
        Rule::once("credentials", Exactly(0), "credentials")
            .doc("Allow credentials (cookies, `Authorization`); not with the origin `*`.")
            .by_default("not allowed"),
        Rule::once("max_age", Exactly(1), "max_age 5s")
            .doc("How long browsers may keep a preflight answer.")
            .by_default("not sent"),
    ],
};

impl Lowering {
    pub(super) fn cors(&mut self, policy: &Item<'_>) -> Option<Cors> {
        let mut cors = Cors::default();
        let taken = self.directives(&CORS, policy.directives, |lower, given| {
            let c = &mut cors;
            match given.name() {
                "origins" => {
                    c.origins = lower
                        .strings(given)
                        .into_iter()
                        .filter_map(|origin| lower.origin(origin))
                        .collect();
                    !c.origins.is_empty()
                }
                "methods" => {
                    c.methods = lower.methods(given);
                    !c.methods.is_empty()
                }
                "headers" => {
                    c.headers = lower.header_names(given);
                    !c.headers.is_empty()
                }
                "expose" => {
                    c.expose = lower.header_names(given);
                    !c.expose.is_empty()
                }
                "credentials" => set(&mut c.credentials, Some(given.head())),
                "max_age" => set(&mut c.max_age, lower.keep(literal::duration(given.arg()))),
                name => unread(name),
            }
        });
        self.require(&CORS, &taken, "policy", &policy.name, policy.head);
        if cors.origins.is_empty() {
            return None;
        }
        if let (Some(credentials), Some(any)) = (
            cors.credentials,
            cors.origins.iter().find(|o| o.value == "*"),
        ) {
            self.error(
                Diagnostic::error(
                    "credentials-with-any-origin",
                    "`credentials` cannot go with the origin `*`",
                )
                .with_label(Label::primary(any.span, "any origin"))
                .with_label(Label::secondary(credentials, "credentials allowed"))
                .with_help("browsers refuse credentialed answers for `*`: list the origins"),
            );
        }
        Some(cors)
    }

    /// `"*"` or `scheme://host[:port]`, lower-cased, without a path.
    fn origin(&mut self, origin: Spanned<String>) -> Option<Spanned<String>> {
        if origin.value == "*" {
            return Some(origin);
        }
        let valid = origin
            .value
            .split_once("://")
            .is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
        if valid {
            Some(Spanned::new(origin.value.to_ascii_lowercase(), origin.span))
        } else {
            self.error(
                Diagnostic::error("invalid-literal", format!("invalid origin `{}`", origin.value))
                    .with_label(Label::primary(origin.span, "not an origin"))
                    .with_help("an origin is `\"https://app.example.com\"` (scheme, host, optional port; no path), or `\"*\"`"),
            );
            None
        }
    }
}
