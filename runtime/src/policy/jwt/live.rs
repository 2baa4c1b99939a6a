//! Keys as live data: each `jwt` policy verifies with the key set its cell holds now (an
//! `ArcSwap`, a lock-free read per request), and the cell is filled again off the request
//! path: from its file on SIGHUP ([`FileKeys::reload`]), or by the policy's fetcher.
//!
//! [`KeySets`] is what a process knows of its policies' keys: the files to read again on
//! SIGHUP, and the first fetches to wait for before serving.

use std::{fmt, sync::Arc, time::Instant};

use arc_swap::ArcSwap;
use edge_formats::public_key::Algorithms;
use tokio::sync::watch;

use super::keys::{self, KeyFile, KeySet};
use crate::registry::{Firsts, Started};
use crate::LoadError;

/// A policy's keys read from a file, and where they are read from again.
#[derive(Debug)]
pub(super) struct FileKeys {
    name: &'static str,
    file: KeyFile,
    allowed: Algorithms,
    pub(super) current: ArcSwap<KeySet>,
}

impl FileKeys {
    /// Reads the keys of policy `name` from `file`.
    pub(super) fn load(
        name: &'static str,
        file: KeyFile,
        allowed: Algorithms,
    ) -> Result<FileKeys, LoadError> {
        let set = keys::read(name, file, allowed)?;
        Ok(FileKeys {
            name,
            file,
            allowed,
            current: ArcSwap::from_pointee(set),
        })
    }

    /// Reads the file again and verifies with what it holds from now on; a file that cannot be
    /// used keeps the keys as they were. Blocking file I/O.
    pub(super) fn reload(&self) -> Result<(), LoadError> {
        let set = keys::read(self.name, self.file, self.allowed)?;
        self.current.store(Arc::new(set));
        Ok(())
    }
}

/// What a process knows of its `jwt` policies' keys: each policy lists its key file here when
/// it is built (read again on SIGHUP, see [`KeySets::reload`]), and each policy whose keys are
/// fetched its first fetch, which the process waits for before serving. Cheap to clone (one
/// shared registry); never read on the request path.
#[derive(Clone)]
pub struct KeySets(Arc<Registry>);

struct Registry {
    files: Started<FileKeys>,
    fetching: Firsts,
}

impl KeySets {
    pub(crate) fn new() -> KeySets {
        KeySets(Arc::new(Registry {
            files: Started::new(),
            fetching: Firsts::new(),
        }))
    }

    /// Lists `keys`, policy `name`'s, for [`KeySets::reload`]; they leave when the policy is
    /// dropped.
    pub(super) fn register(&self, name: &'static str, keys: &Arc<FileKeys>) {
        self.0.files.register(name, Arc::downgrade(keys));
    }

    /// Lists a first fetch to wait for until `until` at most; it is done when the returned
    /// sender sends `true` (or is dropped).
    pub(super) fn first_fetch(&self, until: Instant) -> watch::Sender<bool> {
        self.0.fetching.start(until)
    }

    /// Re-reads every policy's key file (on SIGHUP under `run`). A file that cannot be used
    /// keeps the keys it was meant to replace; each failure is logged at warn and returned.
    /// Blocking file I/O: run it off the event loop.
    pub fn reload(&self) -> Vec<LoadError> {
        let files = self.0.files.live();
        let errors: Vec<LoadError> = files
            .iter()
            .filter_map(|(_, keys)| keys.reload().err())
            .collect();
        for error in &errors {
            tracing::warn!("key reload: {error}; keeping the previous keys");
        }
        if !files.is_empty() {
            tracing::info!(
                files = files.len(),
                failures = errors.len(),
                "jwt key files reloaded"
            );
        }
        errors
    }

    /// Waits until every first fetch listed so far is done, each for at most its time.
    pub(crate) async fn started(&self) {
        self.0.fetching.wait().await;
    }
}

impl fmt::Debug for KeySets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.files.live().into_iter().map(|(name, _)| name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;
    use serde_json::json;

    use super::*;
    use crate::policy::jwt::fixtures::{
        claims, file, invalid, jwk, p256, passes, refused, rsa, signing_key, spec, token,
    };
    use crate::policy::jwt::{Jwt, JwtKeys};

    #[tokio::test]
    async fn a_key_file_read_again_replaces_the_keys_unless_it_is_broken() {
        let one = |pair, alg, kid| json!({ "keys": [jwk(pair, alg, kid)] }).to_string();
        let (_file, path) = file(&one(rsa(), Algorithm::RS256, "old"));
        let key_sets = KeySets::new();
        let policy = Jwt::load(Box::leak(Box::new(spec(JwtKeys::Jwks(path)))), &key_sets).unwrap();
        let old = token(
            Algorithm::RS256,
            Some("old"),
            &claims(),
            &signing_key(rsa()),
        );
        let new = token(
            Algorithm::ES256,
            Some("new"),
            &claims(),
            &signing_key(p256()),
        );
        passes(&policy, &old).await;
        assert_eq!(
            refused(&policy, &new).await,
            invalid("algorithm not allowed")
        );

        std::fs::write(path, one(p256(), Algorithm::ES256, "new")).unwrap();
        assert!(key_sets.reload().is_empty());
        passes(&policy, &new).await;
        assert_eq!(
            refused(&policy, &old).await,
            invalid("algorithm not allowed")
        );

        std::fs::write(path, "{ not json").unwrap();
        let errors = key_sets.reload();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains(path), "{}", errors[0]);
        passes(&policy, &new).await;

        drop(policy);
        assert!(
            key_sets.reload().is_empty(),
            "a dropped policy is not read again"
        );
    }
}
