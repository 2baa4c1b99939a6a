//! Lowering of a listener's `tls` block: the default certificate, certificates by SNI name,
//! client certificate verification and HSTS. The files themselves are read and checked by the
//! compiler.

use std::net::IpAddr;

use crate::ast::{Certificate, ClientCa, HostPattern, Tls};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Span, Spanned};
use crate::syntax::{Block, Directive};

use super::table::Args::{Exactly, Own};
use super::table::{add, set, unread, Given, Rule, Table};
use super::Lowering;

pub(super) const TLS: Table = Table {
    place: "in `tls`",
    rules: &[
        Rule::once("cert", Exactly(1), "cert \"path/to/file.pem\"")
            .doc("The default certificate chain (PEM, leaf first), relative to the config's folder; given with `key`."),
        Rule::once("key", Exactly(1), "key \"path/to/file.pem\"")
            .doc("The default certificate's private key (PKCS#8, PKCS#1 or SEC1 PEM); given with `cert`."),
        Rule::many(
            "sni",
            Own,
            "sni \"api.example.com\" { cert \"api.crt\"  key \"api.key\" }",
        )
        .doc("A certificate for these SNI names: exact, or `*.example.com` for one label.")
        .opens(&CERTIFICATE),
        Rule::once("client_ca", Own, "client_ca \"path/to/file.pem\"")
            .doc("Verify client certificates against this CA bundle (mTLS); `optional` after the file lets clients without one in.")
            .by_default("no client certificates asked"),
        Rule::once("hsts", Exactly(1), "hsts 365d")
            .doc("Add `Strict-Transport-Security: max-age=...` to responses that have none.")
            .by_default("none"),
    ],
};
const CERTIFICATE: Table = Table {
    place: "in `sni`",
    rules: &[
        Rule::once("cert", Exactly(1), "cert \"path/to/file.pem\"")
            .doc("The certificate chain for these names (PEM, leaf first); given with `key`."),
        Rule::once("key", Exactly(1), "key \"path/to/file.pem\"")
            .doc("The private key of this certificate; given with `cert`."),
    ],
};

impl Lowering {
    /// A listener's `tls { ... }`.
    pub(super) fn tls(&mut self, given: Given<'_>) -> Option<Spanned<Tls>> {
        let before = self.diagnostics.len();
        let mut tls = Tls::default();
        let (mut cert, mut key) = (None, None);
        self.directives(&TLS, given.inner, |lower, inner| match inner.name() {
            "cert" => set(&mut cert, lower.file(inner.arg(), inner.usage)),
            "key" => set(&mut key, lower.file(inner.arg(), inner.usage)),
            "sni" => add(&mut tls.certificates, lower.sni(inner)),
            "client_ca" => set(&mut tls.client_ca, lower.client_ca(inner)),
            "hsts" => set(&mut tls.hsts, lower.keep(literal::duration(inner.arg()))),
            name => unread(name),
        });
        match (cert, key) {
            (Some(cert), Some(key)) => tls.certificates.insert(
                0,
                Certificate {
                    names: Vec::new(),
                    cert,
                    key,
                    span: given.head(),
                },
            ),
            (None, None) => {}
            (cert, _) => self.pair_missing(given.head(), cert.is_some()),
        }
        if tls.certificates.is_empty() && self.diagnostics.len() == before {
            self.error(
                Diagnostic::error("missing-directive", "`tls` has no certificate")
                    .with_label(Label::primary(given.head(), "no `cert` and `key`"))
                    .with_help("add `cert \"site.crt\"` and `key \"site.key\"`, or `sni` blocks"),
            );
        }
        (self.diagnostics.len() == before).then(|| Spanned::new(tls, given.head()))
    }

    /// `sni "a.example.com" "*.example.com" { cert ".."  key ".." }`
    fn sni(&mut self, given: Given<'_>) -> Option<Certificate> {
        let (directive, usage) = (given.directive, given.usage);
        let Some(block) = directive
            .block
            .as_ref()
            .filter(|_| !directive.args.is_empty())
        else {
            self.error(
                Diagnostic::error("wrong-arguments", "`sni` takes names and a block")
                    .with_label(Label::primary(
                        directive.head_span(),
                        "expected names and `{ ... }`",
                    ))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        };
        let names: Vec<_> = directive
            .args
            .iter()
            .filter_map(|arg| {
                let name = self.keep(literal::host_pattern(arg))?;
                self.sni_name(&name).then_some(name)
            })
            .collect();
        let (cert, key) = self.certificate_files(block)?;
        (names.len() == directive.args.len()).then(|| Certificate {
            names,
            cert,
            key,
            span: directive.head_span(),
        })
    }

    fn certificate_files(&mut self, block: &Block) -> Option<(Spanned<String>, Spanned<String>)> {
        let (mut cert, mut key) = (None, None);
        self.directives(&CERTIFICATE, &block.directives, |lower, inner| {
            let file = lower.file(inner.arg(), inner.usage);
            match inner.name() {
                "cert" => set(&mut cert, file),
                "key" => set(&mut key, file),
                name => unread(name),
            }
        });
        match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (cert, _) => {
                self.pair_missing(block.span, cert.is_some());
                None
            }
        }
    }

    /// Whether `name` can be a client's SNI name: an IP address never is (RFC 6066 §3), so a
    /// certificate for one would never be chosen.
    fn sni_name(&mut self, name: &Spanned<HostPattern>) -> bool {
        let HostPattern::Exact(host) = &name.value else {
            return true;
        };
        if host.parse::<IpAddr>().is_err() {
            return true;
        }
        self.error(
            Diagnostic::error(
                "invalid-literal",
                format!("`{host}` is an IP address, never an SNI name"),
            )
            .with_label(Label::primary(name.span, "no client sends it"))
            .with_help(
                "clients that connect by IP address send no SNI name and get the default \
                 certificate: give this one with `cert` and `key` outside `sni`",
            ),
        );
        false
    }

    pub(super) fn pair_missing(&mut self, span: Span, has_cert: bool) {
        let missing = if has_cert { "key" } else { "cert" };
        self.error(
            Diagnostic::error(
                "missing-directive",
                format!("a certificate needs both `cert` and `key`; `{missing}` is missing"),
            )
            .with_label(Label::primary(span, format!("no `{missing}`")))
            .with_help("write `cert \"site.crt\"` and `key \"site.key\"` together"),
        );
    }

    /// `client_ca "ca.pem"` or `client_ca "ca.pem" optional`
    fn client_ca(&mut self, given: Given<'_>) -> Option<ClientCa> {
        let directive = given.directive;
        let optional = match directive.args.get(1) {
            None => false,
            Some(word)
                if word.is_bare() && word.text == "optional" && directive.args.len() == 2 =>
            {
                true
            }
            Some(word) => {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("unexpected `{}` after the CA file", word.text),
                    )
                    .with_label(Label::primary(word.span, "expected `optional` or nothing"))
                    .with_help(
                        "client certificates are required unless `optional` follows the file",
                    ),
                );
                return None;
            }
        };
        let first = Directive {
            args: directive.args[..1.min(directive.args.len())].to_vec(),
            ..directive.clone()
        };
        let [path] = self.args(&first, 1, given.usage)? else {
            unreachable!("args checked the count")
        };
        let ca = self.file(path, given.usage)?;
        Some(ClientCa { ca, optional })
    }
}
