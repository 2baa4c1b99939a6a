//! The TLS files both sides read (certificate chains with their keys, CA bundles, as PEM) and
//! why one could not be used. Termination is `downstream::tls`, TLS towards servers
//! `upstream::tls`, rotation on SIGHUP `process::reload`.

mod error;
pub(crate) mod files;

pub use error::{TlsError, TlsErrorKind, TlsFile, TlsOwner};
