//! Why TLS files could not be used: a listener's (at start-up one such error stops the process,
//! `edge: …`, exit 1; on a reload it is logged and the listener keeps what it had) or a pool's
//! (read once when the pool is built; reported as a [`crate::LoadError`]).

use std::path::PathBuf;
use std::{fmt, io};

/// Which of a listener's or a pool's files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// A PEM certificate chain.
    Certificate,
    /// A PEM private key.
    Key,
    /// The PEM CA bundle client certificates are verified against.
    ClientCa,
    /// The PEM CA bundle a pool's servers are verified against.
    ServerCa,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFile::Certificate => "certificate",
            TlsFile::Key => "key",
            TlsFile::ClientCa => "client CA",
            TlsFile::ServerCa => "CA",
        })
    }
}

/// A TLS listener whose files cannot be used.
#[derive(Debug)]
pub struct TlsError {
    /// Whose files they are.
    pub owner: TlsOwner,
    pub kind: TlsErrorKind,
}

/// What a TLS file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOwner {
    /// A listener's certificates or client CA (the listener's name).
    Listener(&'static str),
    /// A pool's CA bundle or client certificate (the pool's name).
    Pool(&'static str),
}

/// What is wrong; every variant about a file names it.
#[derive(Debug)]
pub enum TlsErrorKind {
    /// The file cannot be read.
    Read {
        file: TlsFile,
        path: PathBuf,
        source: io::Error,
    },
    /// The file holds no PEM item of the kind needed (no certificate, no private key).
    Empty { file: TlsFile, path: PathBuf },
    /// The file's PEM, or what it holds, cannot be used.
    Invalid {
        file: TlsFile,
        path: PathBuf,
        reason: String,
    },
    /// The key is not the one the certificate was issued for.
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// `tls` without any certificate.
    NoCertificates,
    /// The session ticket keys could not be made.
    Tickets(rustls::Error),
    /// `tls` on a `mode tcp` listener, which does not terminate TLS.
    NotHttp,
    /// A pool's server name is neither a DNS name nor an IP address.
    ServerName(&'static str),
}

impl TlsError {
    pub(crate) fn new(listener: &'static str, kind: TlsErrorKind) -> TlsError {
        TlsError {
            owner: TlsOwner::Listener(listener),
            kind,
        }
    }

    pub(crate) fn pool(pool: &'static str, kind: TlsErrorKind) -> TlsError {
        TlsError {
            owner: TlsOwner::Pool(pool),
            kind,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.owner {
            TlsOwner::Listener(name) => write!(f, "listener `{name}`: {}", self.kind),
            TlsOwner::Pool(name) => write!(f, "pool `{name}`: {}", self.kind),
        }
    }
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsErrorKind::Read { file, path, source } => {
                write!(f, "cannot read {file} file {}: {source}", path.display())
            }
            TlsErrorKind::Empty { file, path } => {
                let item = match file {
                    TlsFile::Key => "private key",
                    TlsFile::Certificate | TlsFile::ClientCa | TlsFile::ServerCa => "certificate",
                };
                write!(f, "{file} file {}: no {item} in it", path.display())
            }
            TlsErrorKind::Invalid { file, path, reason } => {
                write!(f, "{file} file {}: {reason}", path.display())
            }
            TlsErrorKind::KeyMismatch { cert, key } => {
                let (key, cert) = (key.display(), cert.display());
                write!(f, "key file {key} does not match certificate file {cert}")
            }
            TlsErrorKind::NoCertificates => f.write_str("tls has no certificate"),
            TlsErrorKind::Tickets(reason) => write!(f, "cannot make session ticket keys: {reason}"),
            TlsErrorKind::NotHttp => f.write_str("tls is only supported on HTTP listeners"),
            TlsErrorKind::ServerName(name) => {
                write!(
                    f,
                    "server name `{name}` is neither a DNS name nor an IP address"
                )
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl std::error::Error for TlsErrorKind {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsErrorKind::Read { source, .. } => Some(source),
            TlsErrorKind::Tickets(source) => Some(source),
            _ => None,
        }
    }
}
