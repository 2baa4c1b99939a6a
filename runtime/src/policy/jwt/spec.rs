//! What the generated code writes for a `jwt` policy: where its keys are, the algorithms,
//! issuers and audiences it accepts, its leeway, the claims it requires and those it forwards.

use std::time::Duration;

use edge_formats::public_key as keys;
use http::HeaderName;
use jsonwebtoken::Algorithm;

/// How a `jwt` policy checks tokens.
#[derive(Debug)]
pub struct JwtSpec {
    /// The policy's name in the `.edge` file.
    pub name: &'static str,
    /// Where the keys that verify signatures are.
    pub keys: JwtKeys,
    /// The accepted algorithms; empty: every algorithm the keys are for.
    pub algorithms: &'static [JwtAlgorithm],
    /// The accepted `iss` values; empty: `iss` is not checked.
    pub issuers: &'static [&'static str],
    /// The accepted audiences: a token passes when its `aud` (a string or an array) names one
    /// of them. Empty: `aud` is not checked.
    pub audiences: &'static [&'static str],
    /// Clock skew allowed on `exp` and `nbf`, in whole seconds.
    pub leeway: Duration,
    /// Claims every token must carry, e.g. `exp`.
    pub required: &'static [&'static str],
    /// Claims set as request headers towards the upstream.
    pub forward: &'static [ForwardClaim],
}

/// The file the verification keys are read from, by absolute path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtKeys {
    /// A JWK set (`{"keys": [...]}`): `oct` (HMAC), `RSA`, `EC` (P-256, P-384) and `OKP`
    /// (Ed25519) keys. Keys for encryption (`"use": "enc"`) are skipped.
    Jwks(&'static str),
    /// One PEM public key (`PUBLIC KEY`, or `RSA PUBLIC KEY`) or certificate: RSA, EC (P-256,
    /// P-384) or Ed25519.
    Pem(&'static str),
}

/// A signature algorithm a token may use: its header's `alg`, `HS256` to `EdDSA`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// A claim forwarded upstream as a request header. A client-sent copy of the header is
/// always removed; the header is set only when the token carries the claim.
#[derive(Clone, Debug)]
pub struct ForwardClaim {
    /// The claim's name, at the top level of the token's claims.
    pub claim: &'static str,
    /// The request header it is set as: a string as is, other JSON values compact.
    pub header: HeaderName,
}

impl JwtAlgorithm {
    pub(super) const ALL: [JwtAlgorithm; 12] = [
        JwtAlgorithm::Hs256,
        JwtAlgorithm::Hs384,
        JwtAlgorithm::Hs512,
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Ps256,
        JwtAlgorithm::Ps384,
        JwtAlgorithm::Ps512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
        JwtAlgorithm::EdDsa,
    ];

    pub(super) fn algorithm(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Hs384 => Algorithm::HS384,
            JwtAlgorithm::Hs512 => Algorithm::HS512,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Rs384 => Algorithm::RS384,
            JwtAlgorithm::Rs512 => Algorithm::RS512,
            JwtAlgorithm::Ps256 => Algorithm::PS256,
            JwtAlgorithm::Ps384 => Algorithm::PS384,
            JwtAlgorithm::Ps512 => Algorithm::PS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }

    pub(super) fn of(algorithm: Algorithm) -> JwtAlgorithm {
        match algorithm {
            Algorithm::HS256 => JwtAlgorithm::Hs256,
            Algorithm::HS384 => JwtAlgorithm::Hs384,
            Algorithm::HS512 => JwtAlgorithm::Hs512,
            Algorithm::RS256 => JwtAlgorithm::Rs256,
            Algorithm::RS384 => JwtAlgorithm::Rs384,
            Algorithm::RS512 => JwtAlgorithm::Rs512,
            Algorithm::PS256 => JwtAlgorithm::Ps256,
            Algorithm::PS384 => JwtAlgorithm::Ps384,
            Algorithm::PS512 => JwtAlgorithm::Ps512,
            Algorithm::ES256 => JwtAlgorithm::Es256,
            Algorithm::ES384 => JwtAlgorithm::Es384,
            Algorithm::EdDSA => JwtAlgorithm::EdDsa,
        }
    }

    /// The same algorithm as the key files' readers name it.
    pub(super) fn format(self) -> keys::Algorithm {
        match self {
            JwtAlgorithm::Hs256 => keys::Algorithm::Hs256,
            JwtAlgorithm::Hs384 => keys::Algorithm::Hs384,
            JwtAlgorithm::Hs512 => keys::Algorithm::Hs512,
            JwtAlgorithm::Rs256 => keys::Algorithm::Rs256,
            JwtAlgorithm::Rs384 => keys::Algorithm::Rs384,
            JwtAlgorithm::Rs512 => keys::Algorithm::Rs512,
            JwtAlgorithm::Ps256 => keys::Algorithm::Ps256,
            JwtAlgorithm::Ps384 => keys::Algorithm::Ps384,
            JwtAlgorithm::Ps512 => keys::Algorithm::Ps512,
            JwtAlgorithm::Es256 => keys::Algorithm::Es256,
            JwtAlgorithm::Es384 => keys::Algorithm::Es384,
            JwtAlgorithm::EdDsa => keys::Algorithm::EdDsa,
        }
    }
}
