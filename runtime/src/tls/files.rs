//! Reads a listener's PEM files into what rustls uses: a certificate chain with its key, and
//! the roots client certificates are verified against. Every failure names the file.

use std::sync::Arc;

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    sign::CertifiedKey,
    InconsistentKeys, RootCertStore,
};

use super::{
    error::{TlsError, TlsErrorKind, TlsFile},
    CertSpec,
};

/// Loads one certificate chain and its key, checking that they belong together.
pub(crate) fn certified_key(
    listener: &'static str,
    spec: &CertSpec,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let error = |kind| TlsError::new(listener, kind);
    let chain = certificates(listener, TlsFile::Certificate, spec.cert)?;
    let key = read(listener, TlsFile::Key, spec.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|pem| {
        error(match pem {
            rustls::pki_types::pem::Error::NoItemsFound => TlsErrorKind::Empty {
                file: TlsFile::Key,
                path: spec.key,
            },
            pem => invalid(TlsFile::Key, spec.key, pem),
        })
    })?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|reason| error(invalid(TlsFile::Key, spec.key, reason)))?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        // A key that cannot tell its public half (none of the default provider's) is trusted.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(error(TlsErrorKind::KeyMismatch {
                cert: spec.cert,
                key: spec.key,
            }))
        }
        Err(reason) => Err(error(invalid(TlsFile::Certificate, spec.cert, reason))),
    }
}

/// Loads the CA certificates client certificates must chain to.
pub(crate) fn client_roots(
    listener: &'static str,
    path: &'static str,
) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(listener, TlsFile::ClientCa, path)? {
        roots
            .add(cert)
            .map_err(|reason| TlsError::new(listener, invalid(TlsFile::ClientCa, path, reason)))?;
    }
    Ok(Arc::new(roots))
}

/// Every certificate in a PEM file; at least one.
fn certificates(
    listener: &'static str,
    file: TlsFile,
    path: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(listener, file, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| TlsError::new(listener, invalid(file, path, reason)))?;
    if chain.is_empty() {
        return Err(TlsError::new(listener, TlsErrorKind::Empty { file, path }));
    }
    Ok(chain)
}

fn read(listener: &'static str, file: TlsFile, path: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|source| TlsError::new(listener, TlsErrorKind::Read { file, path, source }))
}

fn invalid(file: TlsFile, path: &'static str, reason: impl std::fmt::Display) -> TlsErrorKind {
    TlsErrorKind::Invalid {
        file,
        path,
        reason: reason.to_string(),
    }
}
