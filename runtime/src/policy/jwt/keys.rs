//! The keys that verify tokens: a [`KeySet`] read from the policy's JWKS or PEM file by the
//! readers the compiler checked the file with, or parsed from a fetched JWK set, and turned
//! into the verifier's keys.

use edge_formats::jwks;
use edge_formats::public_key::{Algorithms, PublicKey};
use jsonwebtoken::DecodingKey;

use crate::policy::read_file;
use crate::LoadError;

/// A verification key and the algorithms it is used for (never empty).
#[derive(Debug)]
pub(super) struct Key {
    pub(super) kid: Option<Box<str>>,
    pub(super) algorithms: Algorithms,
    pub(super) decoding: DecodingKey,
}

/// The keys a policy verifies with at one time, replaced whole when they are read again.
#[derive(Debug)]
pub(super) struct KeySet {
    pub(super) keys: Vec<Key>,
    /// Every algorithm some key verifies.
    pub(super) algorithms: Algorithms,
}

impl KeySet {
    /// No key: what a policy whose keys are fetched holds until a fetch succeeds.
    pub(super) fn empty() -> KeySet {
        KeySet::of(Vec::new())
    }

    fn of(keys: Vec<Key>) -> KeySet {
        let algorithms = keys
            .iter()
            .fold(Algorithms::NONE, |set, key| set.union(key.algorithms));
        KeySet { keys, algorithms }
    }

    /// The signing keys of a JWK set for the `allowed` algorithms; fails when it is not a JWK
    /// set or has no such key (see [`edge_formats::jwks`]).
    pub(super) fn jwks(bytes: &[u8], allowed: Algorithms) -> Result<KeySet, jwks::Error> {
        let set = jwks::parse(bytes, allowed)?;
        let keys = set.keys().iter().map(|key| Key {
            kid: key.kid().map(Into::into),
            algorithms: key.algorithms(),
            decoding: decoding(key.public_key()),
        });
        Ok(KeySet::of(keys.collect()))
    }

    /// Whether a key of the set is named `kid`.
    pub(super) fn names(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }
}

/// A file the keys are read from.
#[derive(Clone, Copy, Debug)]
pub(super) enum KeyFile {
    Jwks(&'static str),
    Pem(&'static str),
}

/// Reads the keys of policy `name` from `file`; fails when the file cannot be read or holds no
/// key for the `allowed` algorithms (see [`edge_formats::jwks`] and [`edge_formats::pem`]).
pub(super) fn read(
    name: &'static str,
    file: KeyFile,
    allowed: Algorithms,
) -> Result<KeySet, LoadError> {
    let error = |reason| LoadError::Policy { name, reason };
    match file {
        KeyFile::Jwks(path) => {
            let text = read_file(name, "JWKS", path)?;
            KeySet::jwks(text.as_bytes(), allowed)
                .map_err(|reason| error(format!("JWKS file {path}: {reason}")))
        }
        KeyFile::Pem(path) => {
            let text = read_file(name, "PEM", path)?;
            let key = edge_formats::pem::parse(text.as_bytes(), allowed)
                .map_err(|reason| error(format!("PEM file {path}: {reason}")))?;
            Ok(KeySet::of(vec![Key {
                kid: None,
                algorithms: key.algorithms(),
                decoding: decoding(key.public_key()),
            }]))
        }
    }
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
    use jsonwebtoken::{Algorithm, EncodingKey};
    use rcgen::CertificateParams;
    use serde_json::json;

    use crate::policy::jwt::fixtures::{
        claims, ed25519, file, invalid, jwk, load, p256, p384, passes, refused, rsa, signing_key,
        spec, token, with_jwks, with_pem, SECRET,
    };
    use crate::policy::jwt::spec::{JwtAlgorithm, JwtKeys};

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
