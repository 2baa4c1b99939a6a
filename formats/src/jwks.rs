//! JWK sets (`jwt { jwks "file" }`, RFC 7517): a JSON object whose `keys` array holds the
//! keys that verify tokens. Keys for encryption (`"use": "enc"`, or an encryption `alg`) are
//! skipped; every other key must be usable: an `oct` (HMAC), `RSA`, `EC` (P-256, P-384) or
//! `OKP` (Ed25519) key with its members in unpadded base64url, and an `alg`, when it has one,
//! for its type. A key without a `kid` is kept: it verifies tokens whose `kid` no key has.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{Map, Value};

use crate::public_key::{Algorithm, Algorithms, KeyKind, PublicKey};

/// The signing keys of a JWK set usable with the allowed algorithms, in file order (at least
/// one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// A signing key: its `kid`, its material and the allowed algorithms it is for (never none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    kid: Option<String>,
    public: PublicKey,
    algorithms: Algorithms,
}

/// Why a JWK set is refused.
#[derive(Debug)]
pub enum Error {
    /// Not JSON; the error knows the line and column.
    Json(serde_json::Error),
    /// JSON without a `keys` array.
    NotASet,
    /// The `keys` array is empty.
    Empty,
    /// A key (numbered from 1 in the array, named by its `kid` when it has one) is unusable.
    Key {
        index: usize,
        kid: Option<String>,
        problem: Problem,
    },
    /// No key is a signing key for the allowed algorithms.
    NoSigningKey,
}

/// What is wrong with a key of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    NotAnObject,
    /// A member the key's type needs is missing.
    Missing(&'static str),
    /// A member is not a JSON string.
    NotAString(&'static str),
    /// A member is not unpadded base64url.
    NotBase64(&'static str),
    /// A `kty` other than `oct`, `RSA`, `EC` and `OKP`.
    UnknownType(String),
    /// An EC curve other than P-256 and P-384, or an OKP curve other than Ed25519.
    UnsupportedCurve(String),
    /// An `alg` that is neither a supported signature algorithm nor an encryption one.
    UnsupportedAlgorithm(String),
    /// An `alg` that is not for the key's type.
    AlgorithmMismatch(Algorithm, KeyKind),
    /// The decoded material does not have the shape of its type (e.g. an Ed25519 key that is
    /// not 32 bytes).
    NotA(KeyKind),
}

/// The `alg` values of encryption keys, which are skipped.
const ENCRYPTION: [&str; 3] = ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256"];

impl KeySet {
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }
}

impl Key {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn algorithms(&self) -> Algorithms {
        self.algorithms
    }
}

/// Reads a JWK set, keeping the signing keys usable with `allowed`.
pub fn parse(bytes: &[u8], allowed: Algorithms) -> Result<KeySet, Error> {
    let set: Value = serde_json::from_slice(bytes).map_err(Error::Json)?;
    let members = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(Error::NotASet)?;
    if members.is_empty() {
        return Err(Error::Empty);
    }
    let mut keys = Vec::new();
    for (index, member) in members.iter().enumerate() {
        let kid = member.get("kid").and_then(Value::as_str).map(str::to_owned);
        let fail = |problem| Error::Key {
            index: index + 1,
            kid: kid.clone(),
            problem,
        };
        if let Some(key) = signing_key(member).map_err(fail)? {
            let algorithms = key.algorithms.intersection(allowed);
            if !algorithms.is_empty() {
                keys.push(Key { algorithms, ..key });
            }
        }
    }
    if keys.is_empty() {
        return Err(Error::NoSigningKey);
    }
    Ok(KeySet { keys })
}

/// The key `member` describes; `None` for an encryption key.
fn signing_key(member: &Value) -> Result<Option<Key>, Problem> {
    let object = member.as_object().ok_or(Problem::NotAnObject)?;
    if optional_string(object, "use")? == Some("enc") {
        return Ok(None);
    }
    let kid = optional_string(object, "kid")?.map(str::to_owned);
    let alg = match optional_string(object, "alg")? {
        None => None,
        Some(name) if ENCRYPTION.contains(&name) => return Ok(None),
        Some(name) => Some(
            Algorithm::from_name(name)
                .ok_or_else(|| Problem::UnsupportedAlgorithm(name.to_owned()))?,
        ),
    };
    let public = material(object)?;
    let kind = public.kind();
    let algorithms = match alg {
        None => kind.algorithms(),
        Some(alg) if kind.algorithms().contains(alg) => Algorithms::one(alg),
        Some(alg) => return Err(Problem::AlgorithmMismatch(alg, kind)),
    };
    Ok(Some(Key {
        kid,
        public,
        algorithms,
    }))
}

/// The key material of a JWK, by its `kty`.
fn material(object: &Map<String, Value>) -> Result<PublicKey, Problem> {
    let bytes = |member| base64url(object, member);
    let (kind, public) = match string(object, "kty")? {
        "oct" => (KeyKind::Hmac, PublicKey::Hmac(bytes("k")?)),
        "RSA" => (
            KeyKind::Rsa,
            PublicKey::Rsa {
                modulus: without_leading_zeros(bytes("n")?),
                exponent: without_leading_zeros(bytes("e")?),
            },
        ),
        "EC" => {
            let (kind, point): (_, fn(Vec<u8>) -> PublicKey) = match string(object, "crv")? {
                "P-256" => (KeyKind::P256, PublicKey::P256),
                "P-384" => (KeyKind::P384, PublicKey::P384),
                other => return Err(Problem::UnsupportedCurve(other.to_owned())),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != y.len() {
                return Err(Problem::NotA(kind));
            }
            (kind, point([&[4][..], &x, &y].concat()))
        }
        "OKP" => match string(object, "crv")? {
            "Ed25519" => (KeyKind::Ed25519, PublicKey::Ed25519(bytes("x")?)),
            other => return Err(Problem::UnsupportedCurve(other.to_owned())),
        },
        other => return Err(Problem::UnknownType(other.to_owned())),
    };
    public.checked().ok_or(Problem::NotA(kind))
}

fn optional_string<'a>(
    object: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, Problem> {
    match object.get(member) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Problem::NotAString(member)),
    }
}

fn string<'a>(object: &'a Map<String, Value>, member: &'static str) -> Result<&'a str, Problem> {
    optional_string(object, member)?.ok_or(Problem::Missing(member))
}

fn base64url(object: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, Problem> {
    URL_SAFE_NO_PAD
        .decode(string(object, member)?)
        .map_err(|_| Problem::NotBase64(member))
}

/// An unsigned big-endian integer in its minimal form (some issuers pad RSA moduli).
fn without_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
    bytes
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json(error) => write!(f, "not JSON: {error}"),
            Error::NotASet => f.write_str("not a JWK set: no `keys` array (RFC 7517)"),
            Error::Empty => f.write_str("the `keys` array is empty"),
            Error::Key {
                kid: Some(kid),
                problem,
                ..
            } => write!(f, "key `{kid}` {problem}"),
            Error::Key {
                index,
                kid: None,
                problem,
            } => write!(f, "key {index} {problem}"),
            Error::NoSigningKey => f.write_str("holds no signing key for the allowed algorithms"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Json(error) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotAnObject => f.write_str("is not a JSON object"),
            Problem::Missing(member) => write!(f, "has no `{member}`"),
            Problem::NotAString(member) => write!(f, "has a `{member}` that is not a string"),
            Problem::NotBase64(member) => {
                write!(f, "has a `{member}` that is not unpadded base64url")
            }
            Problem::UnknownType(kty) => write!(f, "has unknown type `{kty}`"),
            Problem::UnsupportedCurve(crv) => write!(
                f,
                "is on curve `{crv}`; EC keys are supported on P-256 and P-384, OKP keys on \
                 Ed25519"
            ),
            Problem::UnsupportedAlgorithm(alg) => write!(f, "has unsupported `alg` `{alg}`"),
            Problem::AlgorithmMismatch(alg, kind) => {
                write!(f, "has `alg` `{}`, which is not for {kind}", alg.name())
            }
            Problem::NotA(kind) => write!(f, "is not {kind}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// 32 bytes of `byte`, in base64url.
    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn set(keys: Value) -> Vec<u8> {
        json!({ "keys": keys }).to_string().into_bytes()
    }

    fn problem(keys: Value) -> (usize, Option<String>, Problem) {
        match parse(&set(keys), Algorithms::ALL) {
            Err(Error::Key {
                index,
                kid,
                problem,
            }) => (index, kid, problem),
            other => panic!("{other:?}"),
        }
    }

    fn every_type() -> Value {
        json!([
            { "kty": "RSA", "kid": "rsa", "n": b64(&[0, 0xc5, 7, 9]), "e": "AQAB" },
            { "kty": "RSA", "kid": "rs256", "alg": "RS256", "n": b64(&[0xc5; 8]), "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": "!!", "e": "AQAB" },
            { "kty": "RSA", "kid": "oaep", "alg": "RSA-OAEP", "n": b64(&[9]), "e": "AQAB" },
            { "kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "kid": "p256" },
            { "kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48]) },
            { "kty": "OKP", "crv": "Ed25519", "x": b64(&[3; 32]), "kid": "ed", "use": "sig" },
            { "kty": "oct", "k": b64(b"secret"), "kid": "hmac", "extra": [1, 2] },
        ])
    }

    #[test]
    fn signing_keys_of_every_type_load_and_encryption_keys_are_skipped() {
        let set = parse(&set(every_type()), Algorithms::ALL).unwrap();
        let keys: Vec<_> = set
            .keys()
            .iter()
            .map(|key| (key.kid(), key.public_key().kind()))
            .collect();
        assert_eq!(
            keys,
            [
                (Some("rsa"), KeyKind::Rsa),
                (Some("rs256"), KeyKind::Rsa),
                (Some("p256"), KeyKind::P256),
                (None, KeyKind::P384),
                (Some("ed"), KeyKind::Ed25519),
                (Some("hmac"), KeyKind::Hmac),
            ]
        );
        assert_eq!(
            set.keys()[0].public_key(),
            &PublicKey::Rsa {
                modulus: vec![0xc5, 7, 9],
                exponent: vec![1, 0, 1]
            }
        );
        assert_eq!(set.keys()[0].algorithms(), KeyKind::Rsa.algorithms());
        assert_eq!(
            set.keys()[1].algorithms(),
            Algorithms::one(Algorithm::Rs256)
        );
        let PublicKey::P256(point) = set.keys()[2].public_key() else {
            panic!()
        };
        assert_eq!((point.len(), point[0], point[1], point[64]), (65, 4, 1, 2));
    }

    #[test]
    fn only_keys_for_the_allowed_algorithms_are_kept() {
        let es256 = parse(&set(every_type()), Algorithms::one(Algorithm::Es256)).unwrap();
        assert_eq!(es256.keys().len(), 1);
        assert_eq!(es256.keys()[0].kid(), Some("p256"));
        let ps256 = Algorithms::of(&[Algorithm::Ps256, Algorithm::Hs256]);
        let kept = parse(&set(every_type()), ps256).unwrap();
        let kept: Vec<_> = kept
            .keys()
            .iter()
            .map(|key| (key.kid(), key.algorithms()))
            .collect();
        assert_eq!(
            kept,
            [
                (Some("rsa"), Algorithms::one(Algorithm::Ps256)),
                (Some("hmac"), Algorithms::one(Algorithm::Hs256))
            ]
        );
        let only_enc = json!([{ "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB" }]);
        assert!(matches!(
            parse(&set(only_enc), Algorithms::ALL),
            Err(Error::NoSigningKey)
        ));
        let rsa = json!([{ "kty": "RSA", "n": "AQAB", "e": "AQAB" }]);
        let error = parse(&set(rsa), Algorithms::one(Algorithm::EdDsa)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "holds no signing key for the allowed algorithms"
        );
    }

    #[test]
    fn unusable_keys_are_refused_by_number_or_kid() {
        assert_eq!(
            problem(json!([{ "kty": "oct" }])),
            (1, None, Problem::Missing("k"))
        );
        assert_eq!(
            problem(json!([{ "kty": "oct", "k": "c2VjcmV0" }, { "k": "c2VjcmV0" }])),
            (2, None, Problem::Missing("kty"))
        );
        assert_eq!(
            problem(json!([{ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "big" }])),
            (
                1,
                Some("big".into()),
                Problem::UnsupportedCurve("P-521".into())
            )
        );
        assert_eq!(
            problem(json!([{ "kty": "OKP", "crv": "X25519", "x": b64(&[1; 32]) }])).2,
            Problem::UnsupportedCurve("X25519".into())
        );
        assert_eq!(
            problem(json!([{ "kty": "OKP", "crv": "Ed25519", "x": "AAAA" }])).2,
            Problem::NotA(KeyKind::Ed25519)
        );
        assert_eq!(
            problem(
                json!([{ "kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 31]) }])
            )
            .2,
            Problem::NotA(KeyKind::P256)
        );
        assert_eq!(
            problem(json!([{ "kty": "oct", "k": "c2VjcmV0", "alg": "RS256" }])).2,
            Problem::AlgorithmMismatch(Algorithm::Rs256, KeyKind::Hmac)
        );
        assert_eq!(
            problem(json!([{ "kty": "oct", "k": "c2VjcmV0", "alg": "none" }])).2,
            Problem::UnsupportedAlgorithm("none".into())
        );
        assert_eq!(
            problem(json!([{ "kty": "oct", "k": "c2VjcmV0=" }])).2,
            Problem::NotBase64("k")
        );
        assert_eq!(
            problem(json!([{ "kty": "oct", "k": "" }])).2,
            Problem::NotA(KeyKind::Hmac)
        );
        assert_eq!(
            problem(json!([{ "kty": "oct", "k": "c2VjcmV0", "kid": 7 }])).2,
            Problem::NotAString("kid")
        );
        assert_eq!(
            problem(json!([{ "kty": "RSA", "n": "AA", "e": "AQAB" }])).2,
            Problem::NotA(KeyKind::Rsa)
        );
        assert_eq!(
            problem(json!([{ "kty": "PGP" }])).2,
            Problem::UnknownType("PGP".into())
        );
        assert_eq!(problem(json!(["oct"])).2, Problem::NotAnObject);
    }

    #[test]
    fn errors_read_as_diagnostics() {
        let message = |bytes: &[u8]| parse(bytes, Algorithms::ALL).unwrap_err().to_string();
        assert_eq!(
            message(br#"{"keys": [ {"kty": "oct""#),
            "not JSON: EOF while parsing an object at line 1 column 24"
        );
        assert_eq!(message(b"[]"), "not a JWK set: no `keys` array (RFC 7517)");
        assert_eq!(message(br#"{"keys": []}"#), "the `keys` array is empty");
        assert_eq!(
            message(&set(
                json!([{ "kty": "oct", "k": "c2VjcmV0", "alg": "RS256", "kid": "a" }])
            )),
            "key `a` has `alg` `RS256`, which is not for an HMAC secret"
        );
        assert_eq!(
            message(&set(json!([{ "kty": "EC", "crv": "P-256", "y": "AA" }]))),
            "key 1 has no `x`"
        );
    }
}
