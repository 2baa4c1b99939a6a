//! Token verification: the token's algorithm and `kid` choose the candidate keys (only keys
//! whose type is for the algorithm), one `jsonwebtoken` check per algorithm tests the
//! signature and the registered claims, and the claims it does not know about are required
//! here.

use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use serde_json::{Map, Value};

use super::algorithm;
use super::keys::KeySet;
use super::refusal::Refusal;
use super::spec::{JwtAlgorithm, JwtSpec};
use super::Jwt;

/// The claims `jsonwebtoken` itself can require.
const SPEC_CLAIMS: [&str; 5] = ["exp", "nbf", "iss", "aud", "sub"];

impl Jwt {
    /// The claims of `token` once its signature (by a key of `keys`) and claims pass.
    pub(super) fn verify(&self, keys: &KeySet, token: &str) -> Result<Map<String, Value>, Refusal> {
        let refuse = |error: Refusal, why: &dyn std::fmt::Display| {
            tracing::debug!(policy = self.spec.name, %why, "token refused: {error:?}");
            error
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| refuse(Refusal::Malformed, &e))?;
        let algorithm = algorithm::of(header.alg);
        if !keys.algorithms.contains(algorithm) {
            return Err(refuse(
                Refusal::AlgorithmNotAllowed,
                &"no key is for this algorithm",
            ));
        }
        let kid = header.kid.as_deref();
        let named = kid.is_some_and(|kid| keys.names(kid));
        let candidates = keys.keys.iter().filter(|key| match kid {
            Some(kid) if named => key.kid.as_deref() == Some(kid),
            Some(_) => key.kid.is_none(),
            None => true,
        });
        let validation = &self.validations[algorithm as usize];
        let mut outcome = Refusal::UnknownKey;
        for key in candidates {
            if !key.algorithms.contains(algorithm) {
                if outcome == Refusal::UnknownKey {
                    outcome = Refusal::AlgorithmNotAllowed;
                }
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, validation) {
                Ok(data) => return self.require(data.claims),
                // Another key with the same kid (or none) may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    outcome = Refusal::BadSignature;
                }
                Err(e) => return Err(refuse(Refusal::of(&e), &e)),
            }
        }
        Err(refuse(outcome, &format_args!("{algorithm:?}, kid {kid:?}")))
    }

    /// Checks that the claims `jsonwebtoken` does not know about are present.
    fn require(&self, claims: Map<String, Value>) -> Result<Map<String, Value>, Refusal> {
        match self
            .spec
            .required
            .iter()
            .find(|c| !claims.contains_key(**c))
        {
            None => Ok(claims),
            Some(claim) => {
                tracing::debug!(
                    policy = self.spec.name,
                    claim,
                    "token refused: missing claim"
                );
                Err(Refusal::MissingClaim)
            }
        }
    }
}

/// One check per algorithm, all alike but for the algorithm.
pub(super) fn validations(spec: &JwtSpec) -> [Validation; JwtAlgorithm::ALL.len()] {
    let mut base = Validation::new(Algorithm::HS256);
    base.required_spec_claims = spec
        .required
        .iter()
        .filter(|claim| SPEC_CLAIMS.contains(claim))
        .map(ToString::to_string)
        .collect();
    base.leeway = spec.leeway.as_secs();
    base.validate_exp = true;
    base.validate_nbf = true;
    if !spec.issuers.is_empty() {
        base.set_issuer(spec.issuers);
        base.required_spec_claims.insert("iss".into());
    }
    base.validate_aud = !spec.audiences.is_empty();
    if base.validate_aud {
        base.set_audience(spec.audiences);
        base.required_spec_claims.insert("aud".into());
    }
    JwtAlgorithm::ALL.map(|algorithm| {
        let mut validation = base.clone();
        validation.algorithms = vec![algorithm::verifier(algorithm)];
        validation
    })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{get_current_timestamp, Algorithm};
    use serde_json::json;

    use crate::policy::jwt::fixtures::{
        b64url, claims, invalid, passes, refused, rs256, rsa, signing_key, token, token_with,
        with_jwks, with_pem, ISSUER,
    };

    #[tokio::test]
    async fn a_tampered_token_has_a_bad_signature() {
        let policy = with_jwks(|_| {});
        let token = rs256(&claims());
        let mut admin = claims();
        admin["level"] = 9.into();
        let forged = rs256(&admin);
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = forged.split('.').nth(1).unwrap();
        assert_eq!(
            refused(&policy, &parts.join(".")).await,
            invalid("bad signature")
        );
        // Signed by another key of the same type.
        let other = token_with(
            Algorithm::HS256,
            "hmac",
            b"another secret of 32 bytes long!",
        );
        assert_eq!(refused(&policy, &other).await, invalid("bad signature"));
    }

    #[tokio::test]
    async fn expiry_and_not_before_are_checked_with_the_leeway() {
        let policy = with_jwks(|_| {});
        let now = get_current_timestamp();
        let mut claims = claims();
        claims["exp"] = (now - 3600).into();
        assert_eq!(
            refused(&policy, &rs256(&claims)).await,
            invalid("token expired")
        );
        claims["exp"] = (now - 10).into();
        passes(&policy, &rs256(&claims)).await;
        claims["exp"] = (now + 600).into();
        claims["nbf"] = (now + 3600).into();
        assert_eq!(
            refused(&policy, &rs256(&claims)).await,
            invalid("token not yet valid")
        );
        claims["nbf"] = (now + 10).into();
        passes(&policy, &rs256(&claims)).await;
    }

    #[tokio::test]
    async fn issuer_and_audience_are_checked() {
        let policy = with_jwks(|_| {});
        let mut claims = claims();
        claims["iss"] = "https://elsewhere.example".into();
        assert_eq!(
            refused(&policy, &rs256(&claims)).await,
            invalid("wrong issuer")
        );
        claims["iss"] = ISSUER.into();
        claims["aud"] = "billing".into();
        assert_eq!(
            refused(&policy, &rs256(&claims)).await,
            invalid("wrong audience")
        );
        claims["aud"] = json!(["billing", "support"]);
        assert_eq!(
            refused(&policy, &rs256(&claims)).await,
            invalid("wrong audience")
        );
        claims["aud"] = json!(["billing", "orders"]);
        passes(&policy, &rs256(&claims)).await;
        // With issuers and audiences configured, a token must name them.
        for claim in ["iss", "aud"] {
            let mut without = claims.clone();
            without.as_object_mut().unwrap().remove(claim);
            assert_eq!(
                refused(&policy, &rs256(&without)).await,
                invalid("missing required claim")
            );
        }
        // Unconfigured, neither is checked.
        let open = with_jwks(|spec| {
            spec.issuers = &[];
            spec.audiences = &[];
        });
        claims["iss"] = "https://elsewhere.example".into();
        claims["aud"] = "billing".into();
        passes(&open, &rs256(&claims)).await;
    }

    #[tokio::test]
    async fn missing_required_claims_are_refused() {
        let policy = with_jwks(|spec| spec.required = &["exp", "sub", "tenant"]);
        let mut claims = claims();
        assert_eq!(
            refused(&policy, &rs256(&claims)).await,
            invalid("missing required claim")
        );
        claims["tenant"] = "acme".into();
        passes(&policy, &rs256(&claims)).await;
        for claim in ["sub", "exp"] {
            let mut without = claims.clone();
            without.as_object_mut().unwrap().remove(claim);
            assert_eq!(
                refused(&policy, &rs256(&without)).await,
                invalid("missing required claim")
            );
        }
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let policy = with_jwks(|_| {});
        for header in [
            json!({ "alg": "none", "typ": "JWT" }),
            json!({ "alg": "none", "kid": "rsa" }),
        ] {
            let header = b64url(header.to_string().as_bytes());
            let payload = b64url(claims().to_string().as_bytes());
            for token in [
                format!("{header}.{payload}."),
                format!("{header}.{payload}"),
            ] {
                assert_eq!(refused(&policy, &token).await, invalid("malformed token"));
            }
        }
    }

    #[tokio::test]
    async fn an_hmac_token_keyed_with_a_public_key_is_refused() {
        let public_pem = rsa().public_key_pem();
        let pem_policy = with_pem(&public_pem);
        let jwks_policy = with_jwks(|_| {});
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let forged = token_with(alg, "rsa", public_pem.as_bytes());
            assert_eq!(
                refused(&pem_policy, &forged).await,
                invalid("algorithm not allowed")
            );
            assert_eq!(
                refused(&jwks_policy, &forged).await,
                invalid("algorithm not allowed")
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_kid_is_refused() {
        let policy = with_jwks(|_| {});
        let token = token(
            Algorithm::RS256,
            Some("retired"),
            &claims(),
            &signing_key(rsa()),
        );
        assert_eq!(refused(&policy, &token).await, invalid("unknown key"));
    }
}
