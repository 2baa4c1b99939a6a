//! What the generated code writes for a `jwt` policy: where its keys are (a file or a URL), the algorithms,
//! issuers and audiences it accepts, its leeway, the claims it requires and those it forwards.

use std::time::Duration;

use http::HeaderName;

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

/// Where the verification keys are: a file (by absolute path, or relative to the run-time
/// root), read at start-up and again on SIGHUP, or a JWK set fetched over HTTPS and kept fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtKeys {
    /// A JWK set (`{"keys": [...]}`): `oct` (HMAC), `RSA`, `EC` (P-256, P-384) and `OKP`
    /// (Ed25519) keys. Keys for encryption (`"use": "enc"`) are skipped.
    Jwks(&'static str),
    /// One PEM public key (`PUBLIC KEY`, or `RSA PUBLIC KEY`) or certificate: RSA, EC (P-256,
    /// P-384) or Ed25519.
    Pem(&'static str),
    /// A JWK set, as [`JwtKeys::Jwks`] holds, fetched from an `https://` URL before the proxy
    /// serves and again as its `Cache-Control` says, or sooner when a token names a key the
    /// set lacks.
    Url {
        /// `https://HOST[:PORT]/PATH[?QUERY]`.
        url: &'static str,
        /// A PEM CA bundle the key server is verified against; `None`: Mozilla's roots.
        ca: Option<&'static str>,
    },
}

/// A signature algorithm a token may use: the key files' readers' [`Algorithm`], which the
/// compiler's checks and the language's names use too.
///
/// [`Algorithm`]: edge_formats::public_key::Algorithm
pub use edge_formats::public_key::Algorithm as JwtAlgorithm;

/// A claim forwarded upstream as a request header. A client-sent copy of the header is
/// always removed; the header is set only when the token carries the claim.
#[derive(Clone, Debug)]
pub struct ForwardClaim {
    /// The claim's name, at the top level of the token's claims.
    pub claim: &'static str,
    /// The request header it is set as: a string as is, other JSON values compact.
    pub header: HeaderName,
}
