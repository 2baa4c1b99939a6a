//! The `jwt` policy: admits a request whose `Authorization: Bearer` token is a JSON Web Token
//! signed by one of the configured keys and whose claims pass the configured checks, records
//! the caller, and forwards chosen claims as request headers.
//!
//! Keys come from a JWKS file or from one PEM public key or certificate, read and parsed once
//! at start-up. A token is checked against the keys named by its `kid` (keys without a `kid`
//! stand in when none carries the token's), and only against keys whose type is for the
//! token's algorithm: an HMAC algorithm only ever uses `oct` keys, so a public key can never
//! serve as an HMAC secret.

use std::{future::Future, time::Duration};

use edge_formats::public_key::{self as keys, Algorithms, PublicKey};
use http::{header::AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{
    errors::{Error as JwtError, ErrorKind},
    Algorithm, DecodingKey, Validation,
};
use serde_json::{Map, Value};

use super::{read_file, unauthorized, Caller, LoadError, Policy};
use crate::{Cx, Request, Response};

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

/// A verification key and the algorithms it is used for (never empty).
#[derive(Debug)]
struct Key {
    kid: Option<Box<str>>,
    algorithms: Algorithms,
    decoding: DecodingKey,
}

/// Why a request is refused: no token, or a token that does not pass, each with its
/// `error_description`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NoToken,
    Malformed,
    AlgorithmNotAllowed,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    InvalidClaim,
    Invalid,
}

/// The claims `jsonwebtoken` itself can require.
const SPEC_CLAIMS: [&str; 5] = ["exp", "nbf", "iss", "aud", "sub"];

const NO_TOKEN: HeaderValue =
    HeaderValue::from_static(r#"Bearer realm="edge", error="invalid_request""#);

impl JwtAlgorithm {
    const ALL: [JwtAlgorithm; 12] = [
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

    fn algorithm(self) -> Algorithm {
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

    fn of(algorithm: Algorithm) -> JwtAlgorithm {
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
    fn format(self) -> keys::Algorithm {
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

/// The `error_description` of an `invalid_token` challenge, as a whole header value.
macro_rules! invalid_token {
    ($description:literal) => {
        HeaderValue::from_static(concat!(
            r#"Bearer realm="edge", error="invalid_token", error_description=""#,
            $description,
            r#"""#
        ))
    };
}

impl Refusal {
    fn of(error: &JwtError) -> Refusal {
        match error.kind() {
            ErrorKind::ExpiredSignature => Refusal::Expired,
            ErrorKind::ImmatureSignature => Refusal::NotYetValid,
            ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
            ErrorKind::InvalidAudience => Refusal::WrongAudience,
            ErrorKind::MissingRequiredClaim(_) => Refusal::MissingClaim,
            ErrorKind::InvalidClaimFormat(_) | ErrorKind::InvalidSubject => Refusal::InvalidClaim,
            ErrorKind::InvalidSignature => Refusal::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => Refusal::AlgorithmNotAllowed,
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => Refusal::Malformed,
            _ => Refusal::Invalid,
        }
    }

    fn response(self) -> Response {
        let challenge = match self {
            Refusal::NoToken => {
                return unauthorized("401 Unauthorized: no bearer token\n", NO_TOKEN);
            }
            Refusal::Malformed => invalid_token!("malformed token"),
            Refusal::AlgorithmNotAllowed => invalid_token!("algorithm not allowed"),
            Refusal::UnknownKey => invalid_token!("unknown key"),
            Refusal::BadSignature => invalid_token!("bad signature"),
            Refusal::Expired => invalid_token!("token expired"),
            Refusal::NotYetValid => invalid_token!("token not yet valid"),
            Refusal::WrongIssuer => invalid_token!("wrong issuer"),
            Refusal::WrongAudience => invalid_token!("wrong audience"),
            Refusal::MissingClaim => invalid_token!("missing required claim"),
            Refusal::InvalidClaim => invalid_token!("invalid claim"),
            Refusal::Invalid => invalid_token!("invalid token"),
        };
        unauthorized("401 Unauthorized: invalid token\n", challenge)
    }
}

impl Jwt {
    /// Reads the keys; fails when the file cannot be read or holds no key for the allowed
    /// algorithms (see [`edge_formats::jwks`] and [`edge_formats::pem`]).
    pub fn load(spec: &'static JwtSpec) -> Result<Jwt, LoadError> {
        let allowed = if spec.algorithms.is_empty() {
            Algorithms::ALL
        } else {
            spec.algorithms
                .iter()
                .map(|algorithm| Algorithms::one(algorithm.format()))
                .fold(Algorithms::NONE, Algorithms::union)
        };
        let error = |reason| LoadError::Policy {
            name: spec.name,
            reason,
        };
        let keys = match spec.keys {
            JwtKeys::Jwks(path) => {
                let text = read_file(spec.name, "JWKS", path)?;
                edge_formats::jwks::parse(text.as_bytes(), allowed)
                    .map_err(|reason| error(format!("JWKS file {path}: {reason}")))?
                    .keys()
                    .iter()
                    .map(|key| Key {
                        kid: key.kid().map(Into::into),
                        algorithms: key.algorithms(),
                        decoding: decoding(key.public_key()),
                    })
                    .collect()
            }
            JwtKeys::Pem(path) => {
                let text = read_file(spec.name, "PEM", path)?;
                let key = edge_formats::pem::parse(text.as_bytes(), allowed)
                    .map_err(|reason| error(format!("PEM file {path}: {reason}")))?;
                vec![Key {
                    kid: None,
                    algorithms: key.algorithms(),
                    decoding: decoding(key.public_key()),
                }]
            }
        };
        let algorithms: Algorithms = keys
            .iter()
            .fold(Algorithms::NONE, |set, key| set.union(key.algorithms));
        Ok(Jwt {
            spec,
            keys,
            algorithms,
            validations: validations(spec),
        })
    }

    fn check(&self, req: &mut Request) -> Result<(), Refusal> {
        let token = bearer(req.headers()).map_err(|why| {
            tracing::debug!(policy = self.spec.name, why, "request refused");
            Refusal::NoToken
        })?;
        let claims = self.verify(token)?;
        self.admit(req, claims);
        Ok(())
    }

    /// The claims of `token` once its signature and claims pass.
    fn verify(&self, token: &str) -> Result<Map<String, Value>, Refusal> {
        let refuse = |error: Refusal, why: &dyn std::fmt::Display| {
            tracing::debug!(policy = self.spec.name, %why, "token refused: {error:?}");
            error
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| refuse(Refusal::Malformed, &e))?;
        let algorithm = JwtAlgorithm::of(header.alg);
        if !self.algorithms.contains(algorithm.format()) {
            return Err(refuse(
                Refusal::AlgorithmNotAllowed,
                &"no key is for this algorithm",
            ));
        }
        let kid = header.kid.as_deref();
        let named = kid.is_some_and(|kid| self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
        let candidates = self.keys.iter().filter(|key| match kid {
            Some(kid) if named => key.kid.as_deref() == Some(kid),
            Some(_) => key.kid.is_none(),
            None => true,
        });
        let validation = &self.validations[algorithm as usize];
        let mut outcome = Refusal::UnknownKey;
        for key in candidates {
            if !key.algorithms.contains(algorithm.format()) {
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

    /// Records the caller and sets the forwarded claims' headers.
    fn admit(&self, req: &mut Request, claims: Map<String, Value>) {
        let headers = req.headers_mut();
        for forward in self.spec.forward {
            headers.remove(&forward.header);
        }
        for forward in self.spec.forward {
            let Some(claim) = claims.get(forward.claim) else {
                continue;
            };
            match header_value(claim) {
                Some(value) => {
                    headers.append(forward.header.clone(), value);
                }
                None => tracing::debug!(
                    policy = self.spec.name,
                    claim = forward.claim,
                    "claim not forwarded: not a valid header value"
                ),
            }
        }
        let consumer = match claims.get("sub") {
            Some(Value::String(sub)) => Some(sub.as_str().into()),
            Some(Value::Number(sub)) => Some(sub.to_string().into_boxed_str()),
            _ => None,
        };
        req.extensions_mut().insert(Caller {
            consumer,
            claims: Some(claims),
        });
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

/// The token of the one `Authorization: Bearer` header, or why there is none.
fn bearer(headers: &HeaderMap) -> Result<&str, &'static str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or("no Authorization header")?;
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value
        .to_str()
        .map_err(|_| "Authorization header is not text")?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or("Authorization header without a token")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("Authorization scheme is not Bearer");
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err("malformed bearer token");
    }
    Ok(token)
}

/// A claim as a header value: a string as is, anything else as compact JSON.
fn header_value(claim: &Value) -> Option<HeaderValue> {
    match claim {
        Value::String(text) => HeaderValue::from_str(text).ok(),
        other => HeaderValue::try_from(other.to_string()).ok(),
    }
}

/// One check per algorithm, all alike but for the algorithm.
fn validations(spec: &JwtSpec) -> [Validation; JwtAlgorithm::ALL.len()] {
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
        validation.algorithms = vec![algorithm.algorithm()];
        validation
    })
}

/// The verifier's key for a key the files gave.
fn decoding(key: &PublicKey) -> DecodingKey {
    match key {
        PublicKey::Hmac(secret) => DecodingKey::from_secret(secret),
        PublicKey::Rsa { modulus, exponent } => {
            DecodingKey::from_rsa_raw_components(modulus, exponent)
        }
        PublicKey::P256(point) | PublicKey::P384(point) => DecodingKey::from_ec_der(point),
        PublicKey::Ed25519(key) => DecodingKey::from_ed_der(key),
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write, sync::OnceLock};

    use bytes::Bytes;
    use http::{header::WWW_AUTHENTICATE, StatusCode};
    use jsonwebtoken::{encode, get_current_timestamp, jwk::Jwk, EncodingKey, Header};
    use rcgen::{
        CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
        PKCS_RSA_SHA256,
    };
    use serde_json::json;

    use super::*;
    use crate::{body::RequestBody, host_name::HostName};

    const SECRET: &[u8] = b"a shared secret of 32 bytes long";
    const ISSUER: &str = "https://issuer.example";

    static FORWARD: [ForwardClaim; 2] = [
        ForwardClaim {
            claim: "sub",
            header: HeaderName::from_static("x-user"),
        },
        ForwardClaim {
            claim: "level",
            header: HeaderName::from_static("x-level"),
        },
    ];

    fn key_pair(
        cell: &'static OnceLock<KeyPair>,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> &'static KeyPair {
        cell.get_or_init(|| KeyPair::generate_for(alg).unwrap())
    }

    fn rsa() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        key_pair(&KEY, &PKCS_RSA_SHA256)
    }

    fn p256() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        key_pair(&KEY, &PKCS_ECDSA_P256_SHA256)
    }

    fn p384() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        key_pair(&KEY, &PKCS_ECDSA_P384_SHA384)
    }

    fn ed25519() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        key_pair(&KEY, &PKCS_ED25519)
    }

    fn signing_key(pair: &KeyPair) -> EncodingKey {
        let pem = pair.serialize_pem();
        if pair.is_compatible(&PKCS_RSA_SHA256) {
            EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
        } else if pair.is_compatible(&PKCS_ED25519) {
            EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()
        } else {
            EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
        }
    }

    /// Unpadded base64url, as JOSE uses.
    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            }
        }
        out
    }

    /// A JWK of `pair` for `alg`, without the `alg` member, named `kid`.
    fn jwk(pair: &KeyPair, alg: Algorithm, kid: &str) -> Value {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&signing_key(pair), alg).unwrap()).unwrap();
        jwk["kid"] = kid.into();
        jwk.as_object_mut().unwrap().remove("alg");
        jwk
    }

    fn jwk_set() -> String {
        let mut rs256_only = jwk(rsa(), Algorithm::RS256, "rs256-only");
        rs256_only["alg"] = "RS256".into();
        let mut encryption = jwk(rsa(), Algorithm::RS256, "enc");
        encryption["use"] = "enc".into();
        json!({ "keys": [
            jwk(rsa(), Algorithm::RS256, "rsa"),
            rs256_only,
            encryption,
            jwk(p256(), Algorithm::ES256, "p256"),
            jwk(p384(), Algorithm::ES384, "p384"),
            { "kty": "OKP", "crv": "Ed25519", "x": b64url(ed25519().public_key_raw()), "kid": "ed" },
            { "kty": "oct", "k": b64url(SECRET), "kid": "hmac" },
        ]})
        .to_string()
    }

    /// A temporary file holding `content`, and its path.
    fn file(content: &str) -> (tempfile::NamedTempFile, &'static str) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content.as_bytes()).unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        (file, Box::leak(path.into_boxed_str()))
    }

    fn spec(keys: JwtKeys) -> JwtSpec {
        JwtSpec {
            name: "auth",
            keys,
            algorithms: &[],
            issuers: &[ISSUER],
            audiences: &["orders"],
            leeway: Duration::from_secs(30),
            required: &["exp", "sub"],
            forward: &FORWARD,
        }
    }

    fn load(spec: JwtSpec) -> Result<Jwt, LoadError> {
        Jwt::load(Box::leak(Box::new(spec)))
    }

    /// A policy with the keys of [`jwk_set`], adjusted by `edit`.
    fn with_jwks(edit: impl FnOnce(&mut JwtSpec)) -> Jwt {
        let (_file, path) = file(&jwk_set());
        let mut spec = spec(JwtKeys::Jwks(path));
        edit(&mut spec);
        load(spec).unwrap()
    }

    fn with_pem(pem: &str) -> Jwt {
        let (_file, path) = file(pem);
        load(spec(JwtKeys::Pem(path))).unwrap()
    }

    fn claims() -> Value {
        json!({
            "sub": "alice",
            "iss": ISSUER,
            "aud": "orders",
            "exp": get_current_timestamp() + 600,
            "level": 3,
        })
    }

    fn token(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(Into::into);
        encode(&header, claims, key).unwrap()
    }

    fn rs256(claims: &Value) -> String {
        token(Algorithm::RS256, Some("rsa"), claims, &signing_key(rsa()))
    }

    fn request(authorization: Option<&str>) -> Request {
        let mut builder = http::Request::builder().uri("/orders");
        if let Some(authorization) = authorization {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        builder.body(RequestBody::full(Bytes::new())).unwrap()
    }

    async fn check(policy: &Jwt, token: &str) -> (Result<(), Response>, Request) {
        let mut req = request(Some(&format!("Bearer {token}")));
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        );
        (policy.request(&mut req, &cx).await, req)
    }

    async fn passes(policy: &Jwt, token: &str) -> Request {
        let (outcome, req) = check(policy, token).await;
        if let Err(response) = outcome {
            panic!("refused: {:?}", response.headers().get(WWW_AUTHENTICATE));
        }
        req
    }

    /// The challenge of a 401.
    fn challenge(outcome: Result<(), Response>) -> String {
        let response = outcome.expect_err("the request should be refused");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned()
    }

    async fn refused(policy: &Jwt, token: &str) -> String {
        challenge(check(policy, token).await.0)
    }

    fn invalid(description: &str) -> String {
        format!(r#"Bearer realm="edge", error="invalid_token", error_description="{description}""#)
    }

    #[tokio::test]
    async fn a_valid_token_passes_records_the_caller_and_forwards_claims() {
        let policy = with_jwks(|_| {});
        let token = rs256(&claims());
        let mut req = request(Some(&format!("bearer {token}")));
        req.headers_mut()
            .append("x-user", "mallory".parse().unwrap());
        req.headers_mut().append("x-user", "eve".parse().unwrap());
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        );
        policy.request(&mut req, &cx).await.unwrap();
        let users: Vec<_> = req.headers().get_all("x-user").iter().collect();
        assert_eq!(users, ["alice"]);
        assert_eq!(req.headers()["x-level"], "3");
        assert_eq!(req.headers()[AUTHORIZATION], format!("bearer {token}"));
        let caller = Caller::of(&req).unwrap();
        assert_eq!(caller.consumer.as_deref(), Some("alice"));
        assert_eq!(caller.claims.as_ref().unwrap()["level"], 3);
    }

    #[tokio::test]
    async fn a_client_copy_of_a_forwarded_header_goes_even_without_the_claim() {
        let policy = with_jwks(|_| {});
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove("level");
        let mut req = request(Some(&format!("Bearer {}", rs256(&claims))));
        req.headers_mut()
            .insert("x-level", "admin".parse().unwrap());
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        );
        policy.request(&mut req, &cx).await.unwrap();
        assert!(req.headers().get("x-level").is_none());
        assert_eq!(req.headers()["x-user"], "alice");
    }

    #[tokio::test]
    async fn every_key_type_of_a_jwk_set_verifies() {
        let policy = with_jwks(|_| {});
        let hmac = EncodingKey::from_secret(SECRET);
        let cases = [
            (Algorithm::RS256, "rsa", signing_key(rsa())),
            (Algorithm::RS512, "rsa", signing_key(rsa())),
            (Algorithm::PS256, "rsa", signing_key(rsa())),
            (Algorithm::ES256, "p256", signing_key(p256())),
            (Algorithm::ES384, "p384", signing_key(p384())),
            (Algorithm::EdDSA, "ed", signing_key(ed25519())),
            (Algorithm::HS256, "hmac", hmac.clone()),
            (Algorithm::HS512, "hmac", hmac),
        ];
        for (alg, kid, key) in cases {
            passes(&policy, &token(alg, Some(kid), &claims(), &key)).await;
            // Without a kid, the keys whose type fits are tried.
            passes(&policy, &token(alg, None, &claims(), &key)).await;
        }
    }

    #[tokio::test]
    async fn pem_public_keys_and_certificates_verify() {
        for (pair, alg) in [
            (rsa(), Algorithm::PS384),
            (p256(), Algorithm::ES256),
            (p384(), Algorithm::ES384),
            (ed25519(), Algorithm::EdDSA),
        ] {
            let token = token(alg, Some("any"), &claims(), &signing_key(pair));
            passes(&with_pem(&pair.public_key_pem()), &token).await;
            let certificate = CertificateParams::new(vec!["issuer.example".into()])
                .unwrap()
                .self_signed(pair)
                .unwrap();
            passes(&with_pem(&certificate.pem()), &token).await;
        }
    }

    #[tokio::test]
    async fn no_token_or_a_malformed_header_is_an_invalid_request() {
        let policy = with_jwks(|_| {});
        let token = rs256(&claims());
        for authorization in [
            None,
            Some("Basic YWxpY2U6c2VjcmV0"),
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer a b"),
            Some(token.as_str()),
        ] {
            let mut req = request(authorization);
            let cx = Cx::new(
                "web",
                "127.0.0.1:5555".parse().unwrap(),
                HeaderValue::from_static("127.0.0.1"),
                HostName::EMPTY,
                false,
            );
            let outcome = policy.request(&mut req, &cx).await;
            assert_eq!(
                challenge(outcome),
                r#"Bearer realm="edge", error="invalid_request""#,
                "{authorization:?}"
            );
        }
    }

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

    fn token_with(alg: Algorithm, kid: &str, secret: &[u8]) -> String {
        token(alg, Some(kid), &claims(), &EncodingKey::from_secret(secret))
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

    #[tokio::test]
    async fn allowed_algorithms_and_a_jwk_alg_restrict_keys() {
        let policy = with_jwks(|spec| spec.algorithms = &[JwtAlgorithm::Es256]);
        passes(
            &policy,
            &token(
                Algorithm::ES256,
                Some("p256"),
                &claims(),
                &signing_key(p256()),
            ),
        )
        .await;
        for (alg, kid, key) in [
            (Algorithm::RS256, "rsa", signing_key(rsa())),
            (Algorithm::ES384, "p384", signing_key(p384())),
            (Algorithm::HS256, "hmac", EncodingKey::from_secret(SECRET)),
        ] {
            assert_eq!(
                refused(&policy, &token(alg, Some(kid), &claims(), &key)).await,
                invalid("algorithm not allowed")
            );
        }
        let policy = with_jwks(|_| {});
        let key = signing_key(rsa());
        passes(
            &policy,
            &token(Algorithm::RS256, Some("rs256-only"), &claims(), &key),
        )
        .await;
        assert_eq!(
            refused(
                &policy,
                &token(Algorithm::PS256, Some("rs256-only"), &claims(), &key)
            )
            .await,
            invalid("algorithm not allowed")
        );
        // An encryption key never verifies.
        assert_eq!(
            refused(
                &policy,
                &token(Algorithm::RS256, Some("enc"), &claims(), &key)
            )
            .await,
            invalid("unknown key")
        );
    }

    #[test]
    fn claims_become_header_values() {
        assert_eq!(header_value(&json!("a b")).unwrap(), "a b");
        assert_eq!(header_value(&json!(42)).unwrap(), "42");
        assert_eq!(header_value(&json!(true)).unwrap(), "true");
        assert_eq!(
            header_value(&json!(["admin", { "x": 1 }])).unwrap(),
            r#"["admin",{"x":1}]"#
        );
        assert!(header_value(&json!("two\nlines")).is_none());
    }

    fn load_error(keys: impl FnOnce(&'static str) -> JwtKeys, content: &str) -> String {
        let (_file, path) = file(content);
        let (policy, reason) = load(spec(keys(path))).unwrap_err().policy_reason();
        assert_eq!(policy, "auth");
        assert!(reason.contains(path), "{reason}");
        reason
    }

    #[test]
    fn files_that_do_not_hold_usable_keys_fail_to_load() {
        let error = load(spec(JwtKeys::Pem("/nonexistent/key.pem"))).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("policy `auth`: cannot read PEM file /nonexistent/key.pem: "));

        let private = rsa().serialize_pem();
        assert!(load_error(JwtKeys::Pem, &private).contains("private key"));
        assert!(load_error(JwtKeys::Pem, "not pem").contains("no PEM public key"));

        let mut only_es256 = spec(JwtKeys::Pem(""));
        only_es256.algorithms = &[JwtAlgorithm::Es256];
        let (_file, path) = file(&rsa().public_key_pem());
        only_es256.keys = JwtKeys::Pem(path);
        let (_, reason) = load(only_es256).unwrap_err().policy_reason();
        assert!(reason.contains("RSA key"), "{reason}");

        assert!(load_error(JwtKeys::Jwks, "[]").contains("not a JWK set"));
        let p521 = json!({ "keys": [{ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "big" }] });
        assert!(load_error(JwtKeys::Jwks, &p521.to_string()).contains("key `big`"));
        let short = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": "AAAA" }] });
        assert!(load_error(JwtKeys::Jwks, &short.to_string()).contains("key 1"));
        let mismatch = json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "alg": "RS256" }] });
        assert!(load_error(JwtKeys::Jwks, &mismatch.to_string()).contains("HMAC"));
        let encryption_only = json!({ "keys": [jwk(rsa(), Algorithm::RS256, "enc")
            .as_object()
            .cloned()
            .map(|mut key| { key.insert("use".into(), "enc".into()); key })] });
        assert!(load_error(JwtKeys::Jwks, &encryption_only.to_string()).contains("no signing key"));
    }
}
