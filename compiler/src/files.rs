//! The files a config names (TLS certificates, keys, CA bundles, folders to serve), checked at
//! build time so a wrong path or a broken PEM file is a diagnostic, not a failed start. Their
//! contents stay live data: the proxy reads them at start-up and again on SIGHUP, so a renewed
//! certificate needs no rebuild. Paths keep the form they are written in: a relative one is
//! relative to the config's folder here, and to the proxy's run-time root where it runs
//! (`--root`, `EDGE_ROOT`, else this folder). When the files come only where the proxy runs
//! ([`Folder::files_at_start`]), an absent one is noted as deferred instead of refused.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edge_dsl::{Diagnostic, Label, Spanned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Certificates expiring sooner than this get a warning.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// The config's folder as the checker reads the files in it.
pub struct Folder {
    base: PathBuf,
    files_at_start: bool,
    deferred: RefCell<Vec<Deferred>>,
}

/// A file absent at build time, left for the proxy to check when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// What the file is: `the certificate`, `the key set`...
    pub what: &'static str,
    /// The path as the config writes it.
    pub written: String,
    /// Where it was looked for at build time.
    pub looked_at: PathBuf,
}

impl fmt::Display for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` is not here ({}): the proxy checks it when it starts",
            self.what,
            self.written,
            self.looked_at.display()
        )
    }
}

impl Folder {
    /// `base` is the config's folder; with `files_at_start`, absent files are deferred.
    pub fn new(base: &Path, files_at_start: bool) -> Folder {
        Folder {
            base: base.to_owned(),
            files_at_start,
            deferred: RefCell::default(),
        }
    }

    /// Where `written` is on this machine: relative paths start from the config's folder.
    pub(crate) fn resolve(&self, written: &str) -> PathBuf {
        self.base.join(written)
    }

    /// With files at start-up, `written` absent here is noted and `true`: skip its checks.
    pub(crate) fn defers(&self, what: &'static str, written: &Spanned<String>) -> bool {
        let looked_at = self.resolve(&written.value);
        let absent = matches!(
            std::fs::symlink_metadata(&looked_at),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound
        );
        if self.files_at_start && absent {
            self.deferred.borrow_mut().push(Deferred {
                what,
                written: written.value.clone(),
                looked_at: std::path::absolute(&looked_at).unwrap_or(looked_at),
            });
        }
        self.files_at_start && absent
    }

    /// The files left for start-up, in the order met.
    pub fn into_deferred(self) -> Vec<Deferred> {
        self.deferred.into_inner()
    }
}

/// The path as the proxy opens it: as written, relative ones from its run-time root.
fn as_written(file: &Spanned<String>) -> PathBuf {
    PathBuf::from(&file.value)
}

pub(crate) fn unreadable(
    what: &str,
    file: &Spanned<String>,
    path: &Path,
    reason: String,
) -> Diagnostic {
    Diagnostic::error(
        "unusable-file",
        format!("cannot use {what} `{}`", file.value),
    )
    .with_label(Label::primary(file.span, reason))
    .with_help(format!("looked for it at {}", path.display()))
}

/// A PEM certificate chain: at least one certificate; warnings when the first (the server's
/// own) has expired or expires within 30 days.
pub fn certificate_chain(
    folder: &Folder,
    file: &Spanned<String>,
) -> Result<(PathBuf, Vec<Diagnostic>), Diagnostic> {
    if folder.defers("the certificate", file) {
        return Ok((as_written(file), Vec::new()));
    }
    let path = folder.resolve(&file.value);
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
                Diagnostic::warning(
                    "expired-certificate",
                    format!("the certificate `{}` has expired", file.value),
                )
                .with_label(Label::primary(
                    file.span,
                    format!("expired {} days ago", -days),
                ))
                .with_help("replace the file and send the proxy SIGHUP; no rebuild is needed"),
            );
        } else if not_after - now < EXPIRY_WARNING.as_secs() as i64 {
            warnings.push(
                Diagnostic::warning(
                    "expiring-certificate",
                    format!("the certificate `{}` expires soon", file.value),
                )
                .with_label(Label::primary(file.span, format!("expires in {days} days")))
                .with_help("renew it, replace the file and send the proxy SIGHUP"),
            );
        }
    }
    Ok((as_written(file), warnings))
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
pub fn private_key(folder: &Folder, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    if folder.defers("the key", file) {
        return Ok(as_written(file));
    }
    let path = folder.resolve(&file.value);
    PrivateKeyDer::from_pem_file(&path).map_err(|error| {
        unreadable(
            "the key",
            file,
            &path,
            format!("no PEM private key: {error}"),
        )
    })?;
    Ok(as_written(file))
}

/// A folder of files to serve.
pub fn served_folder(folder: &Folder, served: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    if folder.defers("the folder", served) {
        return Ok(as_written(served));
    }
    let path = folder.resolve(&served.value);
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Ok(as_written(served)),
        Ok(_) => Err(unreadable(
            "the folder",
            served,
            &path,
            "not a folder".to_owned(),
        )),
        Err(error) => Err(unreadable("the folder", served, &path, error.to_string())),
    }
}

/// A PEM bundle of CA certificates.
pub fn ca_bundle(folder: &Folder, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    if folder.defers("the CA bundle", file) {
        return Ok(as_written(file));
    }
    let path = folder.resolve(&file.value);
    certificates(&path).map_err(|reason| unreadable("the CA bundle", file, &path, reason))?;
    Ok(as_written(file))
}

/// A file holding a store's password: readable UTF-8 text, not empty once the line breaks
/// that end it are dropped, as the proxy reads it. Its content stays out of the generated code.
pub fn password_file(folder: &Folder, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    const WHAT: &str = "the password file";
    if folder.defers(WHAT, file) {
        return Ok(as_written(file));
    }
    let path = folder.resolve(&file.value);
    let text = std::fs::read_to_string(&path)
        .map_err(|error| unreadable(WHAT, file, &path, error.to_string()))?;
    if text.trim_end_matches(['\r', '\n']).is_empty() {
        return Err(unreadable(
            WHAT,
            file,
            &path,
            "the file is empty".to_owned(),
        ));
    }
    Ok(as_written(file))
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
        let (_, warnings) = certificate_chain(&Folder::new(dir.path(), false), &file).unwrap();
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
    fn keeps_paths_as_written_for_the_run_time_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = certificate(
            dir.path(),
            time::OffsetDateTime::now_utc() + time::Duration::days(90),
        );
        let (path, _) = certificate_chain(&Folder::new(dir.path(), false), &file).unwrap();
        assert_eq!(path, Path::new("site.crt"));
    }

    #[test]
    fn a_password_file_must_hold_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap();
            Spanned::new(name.to_owned(), edge_dsl::Span::new(0, 8))
        };
        let here = Folder::new(dir.path(), false);
        let held = file("held.pass", "s3cret\n");
        assert_eq!(password_file(&here, &held).unwrap(), Path::new("held.pass"));
        for empty in [file("empty.pass", ""), file("newline.pass", "\r\n\n")] {
            let error = password_file(&here, &empty).unwrap_err();
            assert_eq!(error.labels[0].message, "the file is empty");
        }
        let absent = Spanned::new("absent.pass".to_owned(), edge_dsl::Span::new(0, 8));
        assert!(password_file(&here, &absent).is_err());
        let at_start = Folder::new(dir.path(), true);
        assert_eq!(
            password_file(&at_start, &absent).unwrap(),
            Path::new("absent.pass")
        );
        assert_eq!(at_start.into_deferred()[0].what, "the password file");
    }

    #[test]
    fn defers_only_absent_files_and_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let absent = Spanned::new("certs/absent.crt".to_owned(), edge_dsl::Span::new(0, 8));
        assert!(certificate_chain(&Folder::new(dir.path(), false), &absent).is_err());

        let folder = Folder::new(dir.path(), true);
        let (path, warnings) = certificate_chain(&folder, &absent).unwrap();
        assert_eq!(
            (path.as_path(), warnings.len()),
            (Path::new("certs/absent.crt"), 0)
        );
        std::fs::write(dir.path().join("broken.key"), "not a key").unwrap();
        let broken = Spanned::new("broken.key".to_owned(), edge_dsl::Span::new(0, 8));
        assert!(
            private_key(&folder, &broken).is_err(),
            "present files are still checked"
        );
        let deferred = folder.into_deferred();
        assert_eq!(deferred.len(), 1);
        assert_eq!(deferred[0].written, "certs/absent.crt");
        assert_eq!(
            deferred[0].to_string(),
            format!(
                "the certificate `certs/absent.crt` is not here ({}): the proxy checks it when it starts",
                dir.path().join("certs/absent.crt").display()
            )
        );
    }
}
