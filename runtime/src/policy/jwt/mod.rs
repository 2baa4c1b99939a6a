//! The `jwt` policy: admits a request whose `Authorization: Bearer` token is a JSON Web Token
//! signed by one of the configured keys and whose claims pass the configured checks, records
//! the caller, and forwards chosen claims as request headers.
//!
//! Keys come from a JWKS file or from one PEM public key or certificate, read and parsed once
//! at start-up. A token is checked against the keys named by its `kid` (keys without a `kid`
//! stand in when none carries the token's), and only against keys whose type is for the
//! token's algorithm: an HMAC algorithm only ever uses `oct` keys, so a public key can never
//! serve as an HMAC secret.
//!
//! [`spec`] is what the generated code writes, [`keys`] reads the key files, [`bearer`] finds
//! the token, [`verify`] checks it, [`refusal`] answers when there is none or it does not
//! pass, and [`forward`] admits the request.

mod algorithm;
mod bearer;
#[cfg(test)]
mod fixtures;
mod forward;
mod keys;
mod refusal;
mod spec;
mod verify;

use std::future::Future;

use edge_formats::public_key::Algorithms;
use jsonwebtoken::Validation;

use super::Policy;
use crate::{Cx, LoadError, Request, Response};
use keys::Key;
use refusal::Refusal;

pub use spec::{ForwardClaim, JwtAlgorithm, JwtKeys, JwtSpec};

/// A `jwt` policy, built from its [`JwtSpec`].
#[derive(Debug)]
pub struct Jwt {
    spec: &'static JwtSpec,
    keys: Vec<Key>,
    /// Every algorithm some key verifies.
    algorithms: Algorithms,
    /// The checks made on a token, one per algorithm, indexed by [`JwtAlgorithm`]:
    /// `jsonwebtoken` wants the algorithms of one check to be of one key type.
    validations: [Validation; JwtAlgorithm::ALL.len()],
}

impl Jwt {
    /// Reads the keys; fails when the file cannot be read or holds no key for the allowed
    /// algorithms (see [`edge_formats::jwks`] and [`edge_formats::pem`]).
    pub fn load(spec: &'static JwtSpec) -> Result<Jwt, LoadError> {
        let keys = keys::load(spec)?;
        let algorithms: Algorithms = keys
            .iter()
            .fold(Algorithms::NONE, |set, key| set.union(key.algorithms));
        Ok(Jwt {
            spec,
            keys,
            algorithms,
            validations: verify::validations(spec),
        })
    }

    fn check(&self, req: &mut Request) -> Result<(), Refusal> {
        let token = bearer::token(req.headers()).map_err(|why| {
            tracing::debug!(policy = self.spec.name, why, "request refused");
            Refusal::NoToken
        })?;
        let claims = self.verify(token)?;
        self.admit(req, claims);
        Ok(())
    }
}

impl Policy for Jwt {
    type Ticket = ();

    fn request(
        &self,
        req: &mut Request,
        _cx: &Cx,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        std::future::ready(self.check(req).map_err(Refusal::response))
    }
}
