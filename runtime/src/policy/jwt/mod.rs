//! The `jwt` policy: admits a request whose `Authorization: Bearer` token is a JSON Web Token
//! signed by one of the configured keys and whose claims pass the configured checks, records
//! the caller, and forwards chosen claims as request headers.
//!
//! Keys come from a JWKS file or from one PEM public key or certificate, read at start-up and
//! again on SIGHUP ([`live`]), or from a JWK set at an `https://` URL ([`remote`]), fetched
//! before the proxy serves and kept fresh ([`refresh`]). A request reads the current set
//! without a lock; it waits only when its token names a key a fetched set lacks. A token is checked against the keys named by its `kid` (keys without a `kid`
//! stand in when none carries the token's), and only against keys whose type is for the
//! token's algorithm: an HMAC algorithm only ever uses `oct` keys, so a public key can never
//! serve as an HMAC secret.
//!
//! [`spec`] is what the generated code writes, [`keys`] reads key sets, [`bearer`] finds
//! the token, [`verify`] checks it, [`refusal`] answers when there is none or it does not
//! pass, and [`forward`] admits the request.

mod algorithm;
mod bearer;
#[cfg(test)]
mod fixtures;
mod forward;
mod keys;
mod live;
mod refresh;
mod refusal;
mod remote;
mod spec;
mod verify;

use std::{future::Future, sync::Arc, time::Instant};

use arc_swap::{ArcSwap, Guard};
use edge_formats::public_key::Algorithms;
use jsonwebtoken::Validation;
use tokio::task::AbortHandle;

use super::Policy;
use crate::{Cx, LoadError, Request, Response};
use keys::{KeyFile, KeySet};
use live::FileKeys;
use refresh::Fetched;
use refusal::Refusal;
use remote::Endpoint;

pub use live::KeySets;
pub use spec::{ForwardClaim, JwtAlgorithm, JwtKeys, JwtSpec};

/// A `jwt` policy, built from its [`JwtSpec`].
#[derive(Debug)]
pub struct Jwt {
    spec: &'static JwtSpec,
    keys: Source,
    /// The algorithms the spec accepts, whatever the keys are for.
    allowed: Algorithms,
    /// The checks made on a token, one per algorithm, indexed by [`JwtAlgorithm`]:
    /// `jsonwebtoken` wants the algorithms of one check to be of one key type.
    validations: [Validation; JwtAlgorithm::ALL.len()],
}

/// Where a policy's current keys come from.
#[derive(Debug)]
enum Source {
    /// A file, read again on SIGHUP.
    File(Arc<FileKeys>),
    /// A URL, fetched by a task that stops when the policy is dropped.
    Url { fetched: Arc<Fetched>, _task: Task },
}

impl Source {
    fn current(&self) -> &ArcSwap<KeySet> {
        match self {
            Source::File(keys) => &keys.current,
            Source::Url { fetched, .. } => &fetched.current,
        }
    }
}

/// A background task, aborted when dropped.
#[derive(Debug)]
struct Task(AbortHandle);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Jwt {
    /// Reads the keys from their file and lists it in `key_sets` to be read again on SIGHUP;
    /// fails when the file cannot be read or holds no key for the allowed algorithms (see
    /// [`edge_formats::jwks`] and [`edge_formats::pem`]). Keys at a URL are fetched by a task
    /// started here on the current tokio runtime, whose first fetch `key_sets` lists for the
    /// process to wait for; they fail to load only when the URL or the CA bundle cannot be
    /// used.
    pub fn load(spec: &'static JwtSpec, key_sets: &KeySets) -> Result<Jwt, LoadError> {
        let allowed = Algorithms::allowed(spec.algorithms);
        let keys = match spec.keys {
            JwtKeys::Jwks(path) => Source::file(spec.name, KeyFile::Jwks(path), allowed, key_sets)?,
            JwtKeys::Pem(path) => Source::file(spec.name, KeyFile::Pem(path), allowed, key_sets)?,
            JwtKeys::Url { url, ca } => Source::url(spec.name, url, ca, allowed, key_sets)?,
        };
        Ok(Jwt {
            spec,
            keys,
            allowed,
            validations: verify::validations(spec),
        })
    }

    fn check(&self, req: &mut Request, keys: &KeySet) -> Result<(), Refusal> {
        let token = bearer::token(req.headers()).map_err(|why| {
            tracing::debug!(policy = self.spec.name, why, "request refused");
            Refusal::NoToken
        })?;
        let claims = self.verify(keys, token)?;
        self.admit(req, claims);
        Ok(())
    }

    /// The fetched keys to renew when a token that did not pass names a key they lack, for an
    /// algorithm the policy accepts: a newer set may hold it.
    fn renewable(&self, refusal: Refusal, keys: &KeySet, req: &Request) -> Option<&Fetched> {
        let Source::Url { fetched, .. } = &self.keys else {
            return None;
        };
        if refusal == Refusal::NoToken {
            return None;
        }
        let header = jsonwebtoken::decode_header(bearer::token(req.headers()).ok()?).ok()?;
        let unknown = header.kid.is_some_and(|kid| !keys.names(&kid));
        (unknown && self.allowed.contains(algorithm::of(header.alg))).then_some(&**fetched)
    }

    /// Checks the token again once the fetch that `fetched` is under way (or starts now) has
    /// ended, or at once when the keys have changed since the set `seen` was checked; refused
    /// as before when the limit forbids a fetch.
    async fn renewed(
        &self,
        req: &mut Request,
        fetched: &Fetched,
        seen: Arc<KeySet>,
        refusal: Refusal,
    ) -> Result<(), Refusal> {
        let joined = fetched.join();
        if Arc::ptr_eq(&fetched.current.load(), &seen) {
            let Some(mut finished) = joined else {
                tracing::debug!(
                    policy = self.spec.name,
                    "unknown key: a fetch of the keys was started too recently"
                );
                return Err(refusal);
            };
            let _ = tokio::time::timeout(refresh::JOIN_WAIT, finished.changed()).await;
        }
        let keys = fetched.current.load_full();
        self.check(req, &keys)
    }
}

#[cfg(test)]
impl Jwt {
    /// [`Jwt::load`] with key sets of its own, for tests of one policy.
    fn load_alone(spec: &'static JwtSpec) -> Result<Jwt, LoadError> {
        Jwt::load(spec, &KeySets::new())
    }
}

impl Source {
    fn file(
        name: &'static str,
        file: KeyFile,
        allowed: Algorithms,
        key_sets: &KeySets,
    ) -> Result<Source, LoadError> {
        let keys = Arc::new(FileKeys::load(name, file, allowed)?);
        key_sets.register(name, &keys);
        Ok(Source::File(keys))
    }

    fn url(
        name: &'static str,
        url: &'static str,
        ca: Option<&'static str>,
        allowed: Algorithms,
        key_sets: &KeySets,
    ) -> Result<Source, LoadError> {
        let error = |reason: String| LoadError::Policy { name, reason };
        let endpoint = Endpoint::new(url, ca, allowed).map_err(|e| error(e.to_string()))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| error("keys at a URL are fetched on a tokio runtime: none runs".into()))?;
        let fetched = Arc::new(Fetched::new());
        let first = key_sets.first_fetch(Instant::now() + refresh::FIRST_WAIT);
        let task = runtime.spawn(refresh::run(name, endpoint, Arc::clone(&fetched), first));
        Ok(Source::Url {
            fetched,
            _task: Task(task.abort_handle()),
        })
    }
}

impl Policy for Jwt {
    type Ticket = ();

    fn request(
        &self,
        req: &mut Request,
        _cx: &Cx,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        let keys = self.keys.current().load();
        let checked = self.check(req, &keys);
        let renew = match checked {
            Err(refusal) => self
                .renewable(refusal, &keys, req)
                .map(|fetched| (fetched, Guard::into_inner(keys), refusal)),
            Ok(()) => None,
        };
        async move {
            let checked = match renew {
                None => checked,
                Some((fetched, seen, refusal)) => self.renewed(req, fetched, seen, refusal).await,
            };
            checked.map_err(Refusal::response)
        }
    }
}
