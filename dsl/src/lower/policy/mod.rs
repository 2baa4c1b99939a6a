//! Lowering of `policy NAME = KIND { ... }` items: the head, then the kind's own directives,
//! lowered in the file named for the kind.

mod access;
mod api_key;
mod basic_auth;
mod cache;
mod compress;
mod cors;
mod ext_auth;
mod headers;
mod jwt;
mod rate_limit;
mod rewrite;
mod security_headers;
mod validate;

use crate::ast::{Method, Policy, PolicyKind};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;

use super::table::{Given, Table};
use super::{Item, Lowering};

/// The kinds of policy, each with the table its block is lowered with.
pub(super) const KINDS: &[(&str, &Table)] = &[
    ("jwt", &jwt::JWT),
    ("api_key", &api_key::API_KEY),
    ("basic_auth", &basic_auth::BASIC_AUTH),
    ("rate_limit", &rate_limit::RATE_LIMIT),
    ("validate", &validate::VALIDATE),
    ("cors", &cors::CORS),
    ("headers", &headers::HEADERS),
    ("rewrite", &rewrite::REWRITE),
    ("access", &access::ACCESS),
    ("compress", &compress::COMPRESS),
    ("security_headers", &security_headers::SECURITY_HEADERS),
    ("cache", &cache::CACHE),
    ("ext_auth", &ext_auth::EXT_AUTH),
];

impl Lowering {
    /// `policy NAME = KIND { ... }`
    pub(super) fn policy(&mut self, given: Given<'_>) -> Option<Policy> {
        let (policy, kind) = self.kinded_item(given)?;
        let before = self.diagnostics.len();
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
            "ext_auth" => self.ext_auth(&policy).map(PolicyKind::ExtAuth),
            _ => {
                self.unknown_kind("policy", kind, &PolicyKind::NAMES);
                return None;
            }
        };
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Policy {
            name: policy.name,
            span: policy.head,
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
                    Diagnostic::error(
                        "invalid-literal",
                        format!("invalid media type `{}`", media.value),
                    )
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
