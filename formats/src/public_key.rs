//! The keys that verify JSON Web Tokens, as the JWKS and PEM readers give them: raw key
//! material of a supported type, and the signature algorithms a key may be used with. The
//! representation is neutral, so reading a file does not need a JWT library; the proxy turns
//! it into its verifier's keys.
//!
//! [`Algorithm`] is the one list of JWT algorithms: the language names them by
//! [`Algorithm::name`] (the `edge-dsl` crate's `JwtAlgorithm`) and the generated code by
//! variant (the runtime's `JwtAlgorithm`).

use std::fmt;

/// A public key (or HMAC secret), checked for its type's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// An HMAC secret: at least one byte.
    Hmac(Vec<u8>),
    /// An RSA public key: modulus and exponent, big-endian, without leading zeros.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// A P-256 point, uncompressed: `0x04`, x and y (65 bytes).
    P256(Vec<u8>),
    /// A P-384 point, uncompressed: `0x04`, x and y (97 bytes).
    P384(Vec<u8>),
    /// An Ed25519 public key (32 bytes).
    Ed25519(Vec<u8>),
}

/// What a key is, which decides the algorithms it may verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// A signature algorithm a token may use: its header's `alg`, `HS256` to `EdDSA`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
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

/// A set of [`Algorithm`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithms(u16);

impl PublicKey {
    pub fn kind(&self) -> KeyKind {
        match self {
            PublicKey::Hmac(_) => KeyKind::Hmac,
            PublicKey::Rsa { .. } => KeyKind::Rsa,
            PublicKey::P256(_) => KeyKind::P256,
            PublicKey::P384(_) => KeyKind::P384,
            PublicKey::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// `Some` when the material has the shape of `kind` (checked here, once, for both files).
    pub(crate) fn checked(self) -> Option<PublicKey> {
        let fits = match &self {
            PublicKey::Hmac(secret) => !secret.is_empty(),
            PublicKey::Rsa { modulus, exponent } => {
                modulus.first().is_some_and(|&b| b != 0)
                    && exponent.first().is_some_and(|&b| b != 0)
            }
            PublicKey::P256(point) => point.len() == 65 && point[0] == 4,
            PublicKey::P384(point) => point.len() == 97 && point[0] == 4,
            PublicKey::Ed25519(key) => key.len() == 32,
        };
        fits.then_some(self)
    }
}

impl KeyKind {
    /// Every algorithm a key of this kind verifies: HMAC secrets only ever HMAC, so a public
    /// key can never serve as an HMAC secret.
    pub fn algorithms(self) -> Algorithms {
        use Algorithm::*;
        Algorithms::of(match self {
            KeyKind::Hmac => &[Hs256, Hs384, Hs512],
            KeyKind::Rsa => &[Rs256, Rs384, Rs512, Ps256, Ps384, Ps512],
            KeyKind::P256 => &[Es256],
            KeyKind::P384 => &[Es384],
            KeyKind::Ed25519 => &[EdDsa],
        })
    }
}

impl fmt::Display for KeyKind {
    /// With its article: "an RSA key".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Hmac => "an HMAC secret",
            KeyKind::Rsa => "an RSA key",
            KeyKind::P256 => "a P-256 key",
            KeyKind::P384 => "a P-384 key",
            KeyKind::Ed25519 => "an Ed25519 key",
        })
    }
}

impl Algorithm {
    pub const ALL: [Algorithm; 12] = [
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
    ];

    /// The name in a token header and a JWK's `alg` (RFC 7518, RFC 8037).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name`, exactly as [`Algorithm::name`] writes it.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }
}

impl Algorithms {
    pub const NONE: Algorithms = Algorithms(0);
    pub const ALL: Algorithms = Algorithms((1 << Algorithm::ALL.len()) - 1);

    /// The algorithms a `jwt` policy accepts: those it names, or every one when it names none.
    pub fn allowed(named: &[Algorithm]) -> Algorithms {
        if named.is_empty() {
            Algorithms::ALL
        } else {
            Algorithms::of(named)
        }
    }

    pub fn of(algorithms: &[Algorithm]) -> Algorithms {
        algorithms.iter().fold(Algorithms::NONE, |set, &alg| {
            set.union(Algorithms::one(alg))
        })
    }

    pub const fn one(algorithm: Algorithm) -> Algorithms {
        Algorithms(1 << algorithm as u16)
    }

    pub fn contains(self, algorithm: Algorithm) -> bool {
        self.0 & Algorithms::one(algorithm).0 != 0
    }

    pub fn union(self, other: Algorithms) -> Algorithms {
        Algorithms(self.0 | other.0)
    }

    pub fn intersection(self, other: Algorithms) -> Algorithms {
        Algorithms(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms of the set, in [`Algorithm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |&alg| self.contains(alg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("rs256"), None);
        assert_eq!(Algorithms::ALL.iter().count(), Algorithm::ALL.len());
    }

    #[test]
    fn hmac_and_public_key_algorithms_never_mix() {
        let hmac = KeyKind::Hmac.algorithms();
        for kind in [KeyKind::Rsa, KeyKind::P256, KeyKind::P384, KeyKind::Ed25519] {
            assert!(hmac.intersection(kind.algorithms()).is_empty(), "{kind}");
        }
    }

    #[test]
    fn material_of_the_wrong_shape_is_refused() {
        assert!(PublicKey::Hmac(vec![]).checked().is_none());
        assert!(PublicKey::P256(vec![4; 64]).checked().is_none());
        assert!(PublicKey::P256([vec![2], vec![0; 64]].concat())
            .checked()
            .is_none());
        assert!(PublicKey::P384([vec![4], vec![0; 96]].concat())
            .checked()
            .is_some());
        assert!(PublicKey::Ed25519(vec![0; 31]).checked().is_none());
        let rsa = |modulus: &[u8]| PublicKey::Rsa {
            modulus: modulus.to_vec(),
            exponent: vec![1, 0, 1],
        };
        assert!(rsa(&[]).checked().is_none());
        assert!(rsa(&[0, 1]).checked().is_none());
        assert!(rsa(&[0xc1; 256]).checked().is_some());
    }
}
