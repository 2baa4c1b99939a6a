//! Lowering of `policy NAME = KIND { ... }` items: the head, then the kind's own directives,
//! lowered in the file named for the kind.

mod access;
mod api_key;
mod basic_auth;
mod cache;
mod compress;
mod cors;
mod headers;
mod jwt;
mod rate_limit;
mod rewrite;
mod security_headers;
mod validate;

use crate::ast::{Method, Policy, PolicyKind};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Ident, Span, Spanned};
use crate::syntax::Directive;

use super::table::Given;
use super::values::listed;
use super::{is_identifier, Lowering};

/// What every kind is lowered with: the policy's name and head, for the messages about what it
/// lacks, and its block's directives.
struct Item<'d> {
    name: &'d Ident,
    head: Span,
    directives: &'d [Directive],
}

impl Lowering {
    /// `policy NAME = KIND { ... }`
    pub(super) fn policy(&mut self, given: Given<'_>) -> Option<Policy> {
        let item = given.directive;
        let usage = format!("write `{}`", given.usage);
        let (name, kind) = match item.args.as_slice() {
            [name, eq, kind]
                if name.is_bare()
                    && is_identifier(&name.text)
                    && eq.is_bare()
                    && eq.text == "="
                    && kind.is_bare() =>
            {
                (Ident::new(name.text.clone(), name.span), kind)
            }
            _ => {
                self.error(
                    Diagnostic::error("a policy is written `policy NAME = KIND { ... }`")
                        .with_label(Label::primary(item.head_span(), "not a policy head"))
                        .with_help(usage),
                );
                return None;
            }
        };
        let span = item.head_span();
        let Some(block) = &item.block else {
            self.error(
                Diagnostic::error(format!("policy `{name}` has no block"))
                    .with_label(Label::primary(span, "a `{` must follow"))
                    .with_help(usage),
            );
            return None;
        };
        let before = self.diagnostics.len();
        let policy = Item {
            name: &name,
            head: span,
            directives: &block.directives,
        };
        let lowered = match kind.text.as_str() {
            "jwt" => self.jwt(&policy).map(PolicyKind::Jwt),
            "api_key" => self.api_key(&policy).map(PolicyKind::ApiKey),
            "basic_auth" => self.basic_auth(&policy).map(PolicyKind::BasicAuth),
            "rate_limit" => self.rate_limit(&policy).map(PolicyKind::RateLimit),
            "validate" => Some(PolicyKind::Validate(self.validate(&policy))),
            "cors" => self.cors(&policy).map(PolicyKind::Cors),
            "headers" => Some(PolicyKind::Headers(self.headers(&policy))),
            "rewrite" => self.rewrite(&policy).map(PolicyKind::Rewrite),
            "access" => self.access(&policy).map(PolicyKind::Access),
            "compress" => Some(PolicyKind::Compress(self.compress(&policy))),
            "security_headers" => Some(PolicyKind::SecurityHeaders(self.security_headers(&policy))),
            "cache" => Some(PolicyKind::Cache(self.cache(&policy))),
            other => {
                self.error(
                    Diagnostic::error(format!("unknown policy kind `{other}`"))
                        .with_label(Label::primary(kind.span, "not a policy kind"))
                        .with_suggestion(other, "a kind", PolicyKind::NAMES.iter().copied())
                        .with_help(format!("the kinds are {}", listed(&PolicyKind::NAMES))),
                );
                return None;
            }
        };
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Policy {
            name,
            span,
            kind: Spanned::new(lowered?, kind.span),
        })
    }

    /// One or more quoted strings.
    fn strings(&mut self, given: Given<'_>) -> Vec<Spanned<String>> {
        given
            .args
            .iter()
            .filter_map(|arg| self.keep(literal::text(arg, "each value", given.usage)))
            .collect()
    }

    /// One or more header names.
    fn header_names(&mut self, given: Given<'_>) -> Vec<Spanned<String>> {
        given
            .args
            .iter()
            .filter_map(|arg| self.keep(literal::header_name(arg)))
            .collect()
    }

    fn methods(&mut self, given: Given<'_>) -> Vec<Spanned<Method>> {
        given
            .args
            .iter()
            .filter_map(|arg| self.keep(literal::method(arg)))
            .collect()
    }

    /// A media type `type/subtype`, lower-cased.
    fn media_type(&mut self, media: Spanned<String>) -> Option<Spanned<String>> {
        let token = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        };
        match media.value.split_once('/') {
            Some((kind, subtype)) if token(kind) && token(subtype) => {
                Some(Spanned::new(media.value.to_ascii_lowercase(), media.span))
            }
            _ => {
                self.error(
                    Diagnostic::error(format!("invalid media type `{}`", media.value))
                        .with_label(Label::primary(media.span, "not `type/subtype`"))
                        .with_help(
                            "write a media type without parameters, such as `\"application/json\"`",
                        ),
                );
                None
            }
        }
    }
}
