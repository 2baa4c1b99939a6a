//! Why the gateway could not be built at start-up (`Edge::new()` in generated code): a policy
//! or a pool whose files cannot be used. `run` reports it in one `edge: ...` line and exits 1.

use std::fmt;

use crate::TlsErrorKind;

/// A part of the gateway that cannot be built.
#[derive(Debug)]
pub enum LoadError {
    /// A policy's file cannot be read or does not parse, or its spec cannot be used.
    Policy {
        /// The policy's name in the `.edge` file.
        name: &'static str,
        reason: String,
    },
    /// A store cannot be used: its password cannot be read, or its address is wrong.
    Store {
        /// The store's name in the `.edge` file.
        name: &'static str,
        reason: String,
    },
    /// A pool's TLS files (CA bundle, client certificate and key) cannot be used, or its
    /// server name is invalid.
    Pool {
        /// The pool's name in the `.edge` file.
        name: &'static str,
        error: TlsErrorKind,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Policy { name, reason } => write!(f, "policy `{name}`: {reason}"),
            LoadError::Store { name, reason } => write!(f, "store `{name}`: {reason}"),
            LoadError::Pool { name, error } => write!(f, "pool `{name}`: {error}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Policy { .. } | LoadError::Store { .. } => None,
            LoadError::Pool { error, .. } => Some(error),
        }
    }
}

#[cfg(test)]
impl LoadError {
    /// A policy's error as the policy's name and the reason; any other error fails the test.
    pub(crate) fn policy_reason(self) -> (&'static str, String) {
        match self {
            LoadError::Policy { name, reason } => (name, reason),
            other => panic!("not a policy's error: {other}"),
        }
    }
}
