//! The files a config names (TLS certificates, keys, CA bundles, folders to serve): resolved
//! against the folder
//! of the `.edge` file and checked at build time, so a wrong path or a broken PEM file is a
//! diagnostic, not a failed start. Their contents stay live data: the proxy reads them at
//! start-up and again on SIGHUP, so a renewed certificate needs no rebuild.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edge_dsl::{Diagnostic, Label, Spanned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Certificates expiring sooner than this get a warning.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where `written` is: relative paths start from the config's folder.
pub(crate) fn resolve(base: &Path, written: &str) -> PathBuf {
    base.join(written)
}

/// The path as the proxy will open it: absolute, so it does not depend on where the proxy
/// is started.
pub(crate) fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

pub(crate) fn unreadable(
    what: &str,
    file: &Spanned<String>,
    path: &Path,
    reason: String,
) -> Diagnostic {
    Diagnostic::error(format!("cannot use {what} `{}`", file.value))
        .with_label(Label::primary(file.span, reason))
        .with_help(format!("looked for it at {}", path.display()))
}

/// A PEM certificate chain: at least one certificate; warnings when the first (the server's
/// own) has expired or expires within 30 days.
pub fn certificate_chain(
    base: &Path,
    file: &Spanned<String>,
) -> Result<(PathBuf, Vec<Diagnostic>), Diagnostic> {
    let path = resolve(base, &file.value);
    let chain =
        certificates(&path).map_err(|reason| unreadable("the certificate", file, &path, reason))?;
    let mut warnings = Vec::new();
    if let Some(not_after) = leaf_expiry(&chain[0]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let days = (not_after - now).div_euclid(24 * 3600);
        if not_after <= now {
            warnings.push(
                Diagnostic::warning(format!("the certificate `{}` has expired", file.value))
                    .with_label(Label::primary(
                        file.span,
                        format!("expired {} days ago", -days),
                    ))
                    .with_help("replace the file and send the proxy SIGHUP; no rebuild is needed"),
            );
        } else if not_after - now < EXPIRY_WARNING.as_secs() as i64 {
            warnings.push(
                Diagnostic::warning(format!("the certificate `{}` expires soon", file.value))
                    .with_label(Label::primary(file.span, format!("expires in {days} days")))
                    .with_help("renew it, replace the file and send the proxy SIGHUP"),
            );
        }
    }
    Ok((absolute(path), warnings))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|error| error.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not a PEM certificate file: {error}"))?;
    if chain.is_empty() {
        return Err("holds no PEM certificate".to_owned());
    }
    for (index, cert) in chain.iter().enumerate() {
        x509_parser::parse_x509_certificate(cert)
            .map_err(|error| format!("certificate {} does not parse: {error}", index + 1))?;
    }
    Ok(chain)
}

/// The `notAfter` of a certificate, in seconds since the epoch.
fn leaf_expiry(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let path = resolve(base, &file.value);
    PrivateKeyDer::from_pem_file(&path).map_err(|error| {
        unreadable(
            "the key",
            file,
            &path,
            format!("no PEM private key: {error}"),
        )
    })?;
    Ok(absolute(path))
}

/// A folder of files to serve.
pub fn folder(base: &Path, folder: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let path = resolve(base, &folder.value);
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Ok(absolute(path)),
        Ok(_) => Err(unreadable(
            "the folder",
            folder,
            &path,
            "not a folder".to_owned(),
        )),
        Err(error) => Err(unreadable("the folder", folder, &path, error.to_string())),
    }
}

/// A PEM bundle of CA certificates.
pub fn ca_bundle(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let path = resolve(base, &file.value);
    certificates(&path).map_err(|reason| unreadable("the CA bundle", file, &path, reason))?;
    Ok(absolute(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate valid until `not_after`, written to `dir`.
    fn certificate(dir: &Path, not_after: time::OffsetDateTime) -> Spanned<String> {
        let mut params = rcgen::CertificateParams::new(vec!["example.com".to_owned()]).unwrap();
        params.not_before = not_after - time::Duration::days(400);
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("site.crt"), cert.pem()).unwrap();
        Spanned::new("site.crt".to_owned(), edge_dsl::Span::new(0, 8))
    }

    fn warnings(not_after: time::OffsetDateTime) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let file = certificate(dir.path(), not_after);
        let (_, warnings) = certificate_chain(dir.path(), &file).unwrap();
        warnings.into_iter().map(|w| w.message).collect()
    }

    #[test]
    fn warns_of_certificates_expiring_within_thirty_days() {
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(
            warnings(now + time::Duration::days(10)),
            ["the certificate `site.crt` expires soon"]
        );
        assert_eq!(
            warnings(now - time::Duration::days(1)),
            ["the certificate `site.crt` has expired"]
        );
        assert!(warnings(now + time::Duration::days(90)).is_empty());
    }

    #[test]
    fn resolves_relative_paths_from_the_config_folder_to_absolute_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = certificate(
            dir.path(),
            time::OffsetDateTime::now_utc() + time::Duration::days(90),
        );
        let (path, _) = certificate_chain(dir.path(), &file).unwrap();
        assert!(path.is_absolute());
        assert_eq!(path, dir.path().join("site.crt"));
    }
}
