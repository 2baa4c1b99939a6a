//! TLS settings with every file they name checked: a listener's certificates and client CA,
//! and how a pool reaches its servers over TLS.

use crate::files::Folder;

use edge_dsl::ast::{self, HostPattern};
use edge_dsl::{Diagnostic, Label};

use super::value;
use crate::files;
use crate::model;

/// Whether a pool speaks TLS to its servers: it has a `tls` block, or servers written
/// `https://` (then all of them are, as [`pool_tls`] checks).
pub(super) fn speaks_tls(pool: &ast::Pool) -> bool {
    pool.tls.is_some() || pool.servers.iter().any(|server| server.https)
}

/// A pool's TLS towards its servers with every file checked: `None` for a cleartext pool (and
/// when a file is unusable, with its diagnostic). A pool without a `tls` block may not mix
/// `https://` servers with cleartext ones (`dns_srv` entries are cleartext without one).
pub(super) fn pool_tls(
    pool: &ast::Pool,
    folder: &Folder,
    out: &mut Vec<Diagnostic>,
) -> Option<model::UpstreamTls> {
    if pool.tls.is_none() {
        let https = pool.servers.iter().find(|server| server.https)?;
        if let Some(cleartext) = pool.servers.iter().find(|server| !server.https) {
            out.push(
                Diagnostic::error(
                    "inconsistent-servers",
                    format!("pool `{}` mixes TLS and cleartext servers", pool.name),
                )
                .with_label(Label::primary(cleartext.address.span, "a cleartext server"))
                .with_label(Label::secondary(https.address.span, "a TLS server"))
                .with_help(
                    "a pool's servers all speak TLS or none does: write each with `https://`, \
                     or add `tls { }` to the pool to make every server TLS",
                ),
            );
        }
        return Some(model::UpstreamTls::default());
    }
    let tls = &pool.tls.as_ref()?.value;
    let before = out.iter().filter(|d| d.is_error()).count();
    let ca = tls.ca.as_ref().and_then(|ca| {
        files::ca_bundle(folder, ca)
            .map_err(|error| out.push(error))
            .ok()
    });
    let client_cert = tls.client_cert.as_ref().and_then(|(cert, key)| {
        let cert = files::certificate_chain(folder, cert);
        let key = files::private_key(folder, key);
        match (cert, key) {
            (Ok((cert, warnings)), Ok(key)) => {
                out.extend(warnings);
                Some(model::ClientCert {
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                })
            }
            (cert, key) => {
                out.extend(cert.err());
                out.extend(key.err());
                None
            }
        }
    });
    if let Some(off) = tls.verify.as_ref().filter(|verify| !verify.value) {
        let mut warning = Diagnostic::warning(
            "unverified-tls",
            format!(
                "pool `{}` does not verify its servers' certificates",
                pool.name
            ),
        )
        .with_label(Label::primary(off.span, "any certificate is accepted"))
        .with_help(
            "anyone on the path can pose as these servers; give their CA with `ca \"ca.pem\"` \
             and remove `verify off`",
        );
        if let Some(ca) = &tls.ca {
            warning = warning.with_label(Label::secondary(ca.span, "this CA bundle is not used"));
        }
        out.push(warning);
    }
    let clean = out.iter().filter(|d| d.is_error()).count() == before;
    clean.then(|| model::UpstreamTls {
        ca: ca.map(|path| path.display().to_string()),
        server_name: value(&tls.sni),
        client_cert,
        verify: value(&tls.verify),
    })
}

/// A listener's TLS settings with every file checked; `None` (and diagnostics) when one is
/// unusable or certificates conflict.
pub(super) fn tls(
    tls: &ast::Tls,
    folder: &Folder,
    out: &mut Vec<Diagnostic>,
) -> Option<model::Tls> {
    let before = out.iter().filter(|d| d.is_error()).count();
    let mut defaults = tls.certificates.iter().filter(|c| c.names.is_empty());
    if let (Some(first), Some(second)) = (defaults.next(), defaults.next()) {
        out.push(
            Diagnostic::error("ambiguous-certificate", "two default certificates")
                .with_label(Label::primary(
                    second.span,
                    "another certificate without names",
                ))
                .with_label(Label::secondary(first.span, "the default certificate"))
                .with_help("give every certificate but one its SNI names"),
        );
    }
    let names = tls.certificates.iter().flat_map(|c| &c.names);
    for (index, name) in names.clone().enumerate() {
        if let Some(first) = names.clone().take(index).find(|n| n.value == name.value) {
            out.push(
                Diagnostic::error(
                    "ambiguous-certificate",
                    "an SNI name is given to two certificates",
                )
                .with_label(Label::primary(name.span, "given again here"))
                .with_label(Label::secondary(first.span, "first given here"))
                .with_help("each name selects one certificate"),
            );
        }
    }
    let mut certs = Vec::new();
    for certificate in &tls.certificates {
        let cert = files::certificate_chain(folder, &certificate.cert);
        let key = files::private_key(folder, &certificate.key);
        match (cert, key) {
            (Ok((cert, warnings)), Ok(key)) => {
                out.extend(warnings);
                certs.push(model::Cert {
                    names: certificate
                        .names
                        .iter()
                        .map(|name| match &name.value {
                            HostPattern::Exact(host) => host.clone(),
                            HostPattern::Suffix(suffix) => format!("*{suffix}"),
                        })
                        .collect(),
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                });
            }
            (cert, key) => {
                out.extend(cert.err());
                out.extend(key.err());
            }
        }
    }
    let client_auth = tls.client_ca.as_ref().and_then(|client| {
        files::ca_bundle(folder, &client.ca)
            .map_err(|error| out.push(error))
            .ok()
            .map(|path| model::ClientAuth {
                ca: path.display().to_string(),
                required: !client.optional,
            })
    });
    let clean = out.iter().filter(|d| d.is_error()).count() == before;
    clean.then(|| model::Tls {
        certs,
        client_auth,
        hsts: value(&tls.hsts),
    })
}
