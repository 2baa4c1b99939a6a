//! Lowering of a listener's `tls` block: the default certificate, certificates by SNI name,
//! client certificate verification and HSTS. The files themselves are read and checked by the
//! compiler.

use crate::ast::{Certificate, ClientCa, Tls};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Span, Spanned};
use crate::syntax::{Block, Directive};

use super::{Lowering, Seen};

const TLS: [&str; 5] = ["cert", "key", "sni", "client_ca", "hsts"];
const CERTIFICATE: [&str; 2] = ["cert", "key"];

impl Lowering {
    pub(super) fn tls(&mut self, directive: &Directive) -> Option<Spanned<Tls>> {
        let block = self.block(directive, "tls { cert \"site.crt\"  key \"site.key\" }")?;
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let mut tls = Tls::default();
        let (mut cert, mut key) = (None, None);
        for inner in &block.directives {
            match inner.name.value.as_str() {
                "cert" if self.once(&mut seen, inner) => cert = self.file(inner),
                "key" if self.once(&mut seen, inner) => key = self.file(inner),
                "sni" => tls.certificates.extend(self.sni(inner)),
                "client_ca" if self.once(&mut seen, inner) => tls.client_ca = self.client_ca(inner),
                "hsts" if self.once(&mut seen, inner) => {
                    let [max_age] = self.args(inner, 1, "hsts 365d")? else {
                        unreachable!("args checked the count")
                    };
                    tls.hsts = self.keep(literal::duration(max_age));
                }
                known if TLS.contains(&known) => {}
                _ => self.unknown(inner, "in `tls`", &TLS),
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => tls.certificates.insert(
                0,
                Certificate {
                    names: Vec::new(),
                    cert,
                    key,
                    span: directive.head_span(),
                },
            ),
            (None, None) => {}
            (cert, _) => self.pair_missing(directive.head_span(), cert.is_some()),
        }
        if tls.certificates.is_empty() && self.diagnostics.len() == before {
            self.error(
                Diagnostic::error("`tls` has no certificate")
                    .with_label(Label::primary(directive.head_span(), "no `cert` and `key`"))
                    .with_help("add `cert \"site.crt\"` and `key \"site.key\"`, or `sni` blocks"),
            );
        }
        (self.diagnostics.len() == before).then(|| Spanned::new(tls, directive.head_span()))
    }

    /// `sni "a.example.com" "*.example.com" { cert ".."  key ".." }`
    fn sni(&mut self, directive: &Directive) -> Option<Certificate> {
        let usage = "sni \"api.example.com\" { cert \"api.crt\"  key \"api.key\" }";
        let Some(block) = directive
            .block
            .as_ref()
            .filter(|_| !directive.args.is_empty())
        else {
            self.error(
                Diagnostic::error("`sni` takes names and a block")
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
            .filter_map(|arg| self.keep(literal::host_pattern(arg)))
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
        let mut seen = Seen::new();
        let (mut cert, mut key) = (None, None);
        for inner in &block.directives {
            match inner.name.value.as_str() {
                "cert" if self.once(&mut seen, inner) => cert = self.file(inner),
                "key" if self.once(&mut seen, inner) => key = self.file(inner),
                known if CERTIFICATE.contains(&known) => {}
                _ => self.unknown(inner, "in `sni`", &CERTIFICATE),
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (cert, _) => {
                self.pair_missing(block.span, cert.is_some());
                None
            }
        }
    }

    pub(super) fn pair_missing(&mut self, span: Span, has_cert: bool) {
        let missing = if has_cert { "key" } else { "cert" };
        self.error(
            Diagnostic::error(format!(
                "a certificate needs both `cert` and `key`; `{missing}` is missing"
            ))
            .with_label(Label::primary(span, format!("no `{missing}`")))
            .with_help("write `cert \"site.crt\"` and `key \"site.key\"` together"),
        );
    }

    /// A quoted file path.
    pub(super) fn file(&mut self, directive: &Directive) -> Option<Spanned<String>> {
        let usage = format!("{} \"path/to/file.pem\"", directive.name);
        let [path] = self.args(directive, 1, &usage)? else {
            unreachable!("args checked the count")
        };
        if !path.is_quoted() || path.text.is_empty() {
            self.error(
                Diagnostic::error("a file path is a quoted string")
                    .with_label(Label::primary(path.span, "expected a quoted path"))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        Some(Spanned::new(path.text.clone(), path.span))
    }

    /// `client_ca "ca.pem"` or `client_ca "ca.pem" optional`
    fn client_ca(&mut self, directive: &Directive) -> Option<ClientCa> {
        let optional = match directive.args.get(1) {
            None => false,
            Some(word)
                if word.is_bare() && word.text == "optional" && directive.args.len() == 2 =>
            {
                true
            }
            Some(word) => {
                self.error(
                    Diagnostic::error(format!("unexpected `{}` after the CA file", word.text))
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
        let ca = self.file(&first)?;
        Some(ClientCa { ca, optional })
    }
}
