//! Certificate rotation without a rebuild: [`CertReloader::reload`] re-reads every TLS
//! listener's PEM files, and those of every pool's TLS client (CA bundles, client
//! certificates), on SIGHUP under `run`. New handshakes use what was read; connections already
//! open keep the certificates they were set up with.

use std::sync::Arc;

use crate::{downstream::tls::TlsListener, tls::TlsError, upstream::pools::Pools};

/// Re-reads the certificate, key and client CA files of a process's TLS listeners, and the CA
/// bundles and client certificates of its pools.
#[derive(Debug, Clone)]
pub struct CertReloader {
    listeners: Arc<[Arc<TlsListener>]>,
    pools: Pools,
}

impl CertReloader {
    pub(crate) fn new(
        listeners: impl IntoIterator<Item = Arc<TlsListener>>,
        pools: Pools,
    ) -> CertReloader {
        CertReloader {
            listeners: listeners.into_iter().collect(),
            pools,
        }
    }

    /// Reads every file again. A file that fails keeps the certificate (or CA) it was meant to
    /// replace; each failure is logged at warn, naming the file, and returned. Blocking file
    /// I/O: run it off the event loop (`run` uses a blocking task).
    pub fn reload(&self) -> Result<(), Vec<TlsError>> {
        let mut errors: Vec<TlsError> = self
            .listeners
            .iter()
            .flat_map(|listener| listener.reload())
            .collect();
        errors.extend(self.pools.reload_tls());
        for error in &errors {
            tracing::warn!("certificate reload: {error}; keeping the previous one");
        }
        tracing::info!(
            listeners = self.listeners.len(),
            failures = errors.len(),
            "certificates reloaded"
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
