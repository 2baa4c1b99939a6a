//! Reads PEM files into what rustls uses: a certificate chain with its key (a listener's, or a
//! pool's client certificate), and a bundle of CA certificates (client certificates of a
//! listener, or the servers of a pool or a `jwt` policy's key server, are verified against). Relative paths are read from
//! the run-time root; every failure names the file where it was looked for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    sign::CertifiedKey,
    InconsistentKeys, RootCertStore,
};

use super::error::{TlsErrorKind, TlsFile};
use crate::root;

/// Loads a certificate chain and its key, checking that they belong together.
pub(crate) fn certified_key(
    cert: &'static str,
    key: &'static str,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsErrorKind> {
    let (cert, key) = (root::resolve(cert), root::resolve(key));
    let chain = certificates(TlsFile::Certificate, &cert)?;
    let der = read(TlsFile::Key, &key)?;
    let der = PrivateKeyDer::from_pem_slice(&der).map_err(|pem| match pem {
        rustls::pki_types::pem::Error::NoItemsFound => TlsErrorKind::Empty {
            file: TlsFile::Key,
            path: key.clone(),
        },
        pem => invalid(TlsFile::Key, &key, pem),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|reason| invalid(TlsFile::Key, &key, reason))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // A key that cannot tell its public half (none of the default provider's) is trusted.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsErrorKind::KeyMismatch { cert, key })
        }
        Err(reason) => Err(invalid(TlsFile::Certificate, &cert, reason)),
    }
}

/// The roots a server is verified against when the proxy is its client (a pool's servers, a
/// `jwt` policy's key server): the CA bundle at `ca` when one is given, else Mozilla's roots
/// (`webpki-roots`), so nothing depends on the host's certificate store.
pub(crate) fn server_roots(ca: Option<&str>) -> Result<RootCertStore, TlsErrorKind> {
    match ca {
        Some(path) => roots(TlsFile::ServerCa, path),
        None => Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
    }
}

/// Loads a bundle of CA certificates; `file` says what they are for.
pub(crate) fn roots(file: TlsFile, path: &str) -> Result<RootCertStore, TlsErrorKind> {
    let path = root::resolve(path);
    let mut roots = RootCertStore::empty();
    for cert in certificates(file, &path)? {
        roots
            .add(cert)
            .map_err(|reason| invalid(file, &path, reason))?;
    }
    Ok(roots)
}

/// Every certificate in a PEM file; at least one.
fn certificates(file: TlsFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsErrorKind> {
    let pem = read(file, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| invalid(file, path, reason))?;
    if chain.is_empty() {
        return Err(TlsErrorKind::Empty {
            file,
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsErrorKind> {
    std::fs::read(path).map_err(|source| TlsErrorKind::Read {
        file,
        path: PathBuf::from(path),
        source,
    })
}

pub(crate) fn invalid(file: TlsFile, path: &Path, reason: impl std::fmt::Display) -> TlsErrorKind {
    TlsErrorKind::Invalid {
        file,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}
