//! What the `jwt` tests share: generated key pairs and the JWK set of their public keys, a
//! policy loaded from it or from one PEM file, signed tokens, and requests run through a
//! policy with their outcome.

use std::{io::Write, sync::OnceLock, time::Duration};

use bytes::Bytes;
use http::{
    header::{AUTHORIZATION, WWW_AUTHENTICATE},
    HeaderName, HeaderValue, StatusCode,
};
use jsonwebtoken::{encode, get_current_timestamp, jwk::Jwk, Algorithm, EncodingKey, Header};
use rcgen::{
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use serde_json::{json, Value};

use super::spec::{ForwardClaim, JwtKeys, JwtSpec};
use super::Jwt;
use crate::policy::Policy;
use crate::{body::RequestBody, host_name::HostName, Cx, LoadError, Request, Response};

pub(super) const SECRET: &[u8] = b"a shared secret of 32 bytes long";
pub(super) const ISSUER: &str = "https://issuer.example";

pub(super) static FORWARD: [ForwardClaim; 2] = [
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

pub(super) fn rsa() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    key_pair(&KEY, &PKCS_RSA_SHA256)
}

pub(super) fn p256() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    key_pair(&KEY, &PKCS_ECDSA_P256_SHA256)
}

pub(super) fn p384() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    key_pair(&KEY, &PKCS_ECDSA_P384_SHA384)
}

pub(super) fn ed25519() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    key_pair(&KEY, &PKCS_ED25519)
}

pub(super) fn signing_key(pair: &KeyPair) -> EncodingKey {
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
pub(super) fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
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
pub(super) fn jwk(pair: &KeyPair, alg: Algorithm, kid: &str) -> Value {
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&signing_key(pair), alg).unwrap()).unwrap();
    jwk["kid"] = kid.into();
    jwk.as_object_mut().unwrap().remove("alg");
    jwk
}

pub(super) fn jwk_set() -> String {
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
pub(super) fn file(content: &str) -> (tempfile::NamedTempFile, &'static str) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    (file, Box::leak(path.into_boxed_str()))
}

pub(super) fn spec(keys: JwtKeys) -> JwtSpec {
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

pub(super) fn load(spec: JwtSpec) -> Result<Jwt, LoadError> {
    Jwt::load_alone(Box::leak(Box::new(spec)))
}

/// A policy with the keys of [`jwk_set`], adjusted by `edit`.
pub(super) fn with_jwks(edit: impl FnOnce(&mut JwtSpec)) -> Jwt {
    let (_file, path) = file(&jwk_set());
    let mut spec = spec(JwtKeys::Jwks(path));
    edit(&mut spec);
    load(spec).unwrap()
}

pub(super) fn with_pem(pem: &str) -> Jwt {
    let (_file, path) = file(pem);
    load(spec(JwtKeys::Pem(path))).unwrap()
}

pub(super) fn claims() -> Value {
    json!({
        "sub": "alice",
        "iss": ISSUER,
        "aud": "orders",
        "exp": get_current_timestamp() + 600,
        "level": 3,
    })
}

pub(super) fn token(
    alg: Algorithm,
    kid: Option<&str>,
    claims: &Value,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, claims, key).unwrap()
}

pub(super) fn rs256(claims: &Value) -> String {
    token(Algorithm::RS256, Some("rsa"), claims, &signing_key(rsa()))
}

pub(super) fn request(authorization: Option<&str>) -> Request {
    let mut builder = http::Request::builder().uri("/orders");
    if let Some(authorization) = authorization {
        builder = builder.header(AUTHORIZATION, authorization);
    }
    builder.body(RequestBody::full(Bytes::new())).unwrap()
}

pub(super) async fn check(policy: &Jwt, token: &str) -> (Result<(), Response>, Request) {
    let mut req = request(Some(&format!("Bearer {token}")));
    (policy.request(&mut req, &cx()).await, req)
}

pub(super) async fn passes(policy: &Jwt, token: &str) -> Request {
    let (outcome, req) = check(policy, token).await;
    if let Err(response) = outcome {
        panic!("refused: {:?}", response.headers().get(WWW_AUTHENTICATE));
    }
    req
}

/// The challenge of a 401.
pub(super) fn challenge(outcome: Result<(), Response>) -> String {
    let response = outcome.expect_err("the request should be refused");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned()
}

pub(super) async fn refused(policy: &Jwt, token: &str) -> String {
    challenge(check(policy, token).await.0)
}

pub(super) fn invalid(description: &str) -> String {
    format!(r#"Bearer realm="edge", error="invalid_token", error_description="{description}""#)
}

pub(super) fn token_with(alg: Algorithm, kid: &str, secret: &[u8]) -> String {
    token(alg, Some(kid), &claims(), &EncodingKey::from_secret(secret))
}

/// The context of a request on listener `web` from 127.0.0.1.
pub(super) fn cx() -> Cx {
    Cx::new(
        "web",
        "127.0.0.1:5555".parse().unwrap(),
        HeaderValue::from_static("127.0.0.1"),
        HostName::EMPTY,
        false,
    )
}
