//! PEM public keys (`jwt { public_key "file" }`): the first `PUBLIC KEY` (SubjectPublicKeyInfo),
//! `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` section of the file gives the key, which must be
//! RSA, EC on P-256 or P-384, or Ed25519, and usable with the allowed algorithms. A private key
//! before it is refused (it was surely given by mistake); other sections are skipped.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine};
use x509_cert::{
    der::{
        self,
        asn1::{ObjectIdentifier, UintRef},
        Decode, Reader, SliceReader,
    },
    spki::SubjectPublicKeyInfoOwned,
    Certificate,
};

use crate::public_key::{Algorithms, KeyKind, PublicKey};

/// The key of a PEM file and the allowed algorithms it is for (never none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemKey {
    public: PublicKey,
    algorithms: Algorithms,
}

/// Why a PEM file is refused. `line` is that of the section's `BEGIN` line, from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The file is not UTF-8 text: this line is the first that is not.
    NotUtf8 { line: usize },
    /// A section without its `END` line.
    Unterminated { line: usize },
    /// A section whose body is not base64.
    NotBase64 { line: usize },
    /// A private key comes before any public key.
    PrivateKey { line: usize },
    /// The DER of a section does not parse as what its label says.
    Der {
        line: usize,
        what: Section,
        error: der::Error,
    },
    /// A key of another algorithm than RSA, EC and Ed25519 (the OID, dotted).
    UnsupportedAlgorithm { line: usize, oid: String },
    /// An EC key on another curve than P-256 and P-384.
    UnsupportedCurve { line: usize },
    /// The key's bytes do not have its type's shape.
    NotA { line: usize, kind: KeyKind },
    /// No public key or certificate section.
    NoKey,
    /// The key is for none of the allowed algorithms.
    NotAllowed(KeyKind),
}

/// The sections that give a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    PublicKey,
    RsaPublicKey,
    Certificate,
}

impl PemKey {
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn algorithms(&self) -> Algorithms {
        self.algorithms
    }
}

/// Reads the public key of a PEM file, usable with `allowed`.
pub fn parse(bytes: &[u8], allowed: Algorithms) -> Result<PemKey, Error> {
    let public = first_key(bytes)?;
    let kind = public.kind();
    let algorithms = kind.algorithms().intersection(allowed);
    if algorithms.is_empty() {
        return Err(Error::NotAllowed(kind));
    }
    Ok(PemKey { public, algorithms })
}

/// The key of the first section that gives one.
fn first_key(bytes: &[u8]) -> Result<PublicKey, Error> {
    // PEM is text; the whole file is, not only its sections.
    if let Some(index) = bytes
        .split(|&b| b == b'\n')
        .position(|line| std::str::from_utf8(line).is_err())
    {
        return Err(Error::NotUtf8 { line: index + 1 });
    }
    let mut open: Option<(usize, &[u8], Vec<u8>)> = None;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        let Some((begun, label, body)) = &mut open else {
            if let Some(label) = marker(line, b"-----BEGIN ") {
                open = Some((index + 1, label, Vec::new()));
            }
            continue;
        };
        let begun = *begun;
        match marker(line, b"-----END ") {
            Some(end) if end == *label => {
                let what = match *label {
                    b"PUBLIC KEY" => Section::PublicKey,
                    b"RSA PUBLIC KEY" => Section::RsaPublicKey,
                    b"CERTIFICATE" => Section::Certificate,
                    b"PRIVATE KEY"
                    | b"RSA PRIVATE KEY"
                    | b"EC PRIVATE KEY"
                    | b"ENCRYPTED PRIVATE KEY" => return Err(Error::PrivateKey { line: begun }),
                    _ => {
                        open = None;
                        continue;
                    }
                };
                let der = STANDARD
                    .decode(&body)
                    .map_err(|_| Error::NotBase64 { line: begun })?;
                return key(begun, what, &der);
            }
            Some(_) => return Err(Error::Unterminated { line: begun }),
            None => body.extend(line.iter().filter(|b| !b.is_ascii_whitespace())),
        }
    }
    match open {
        Some((line, ..)) => Err(Error::Unterminated { line }),
        None => Err(Error::NoKey),
    }
}

/// The label of a `-----BEGIN LABEL-----` or `-----END LABEL-----` line.
fn marker<'a>(line: &'a [u8], start: &[u8]) -> Option<&'a [u8]> {
    line.strip_prefix(start)?.strip_suffix(b"-----")
}

/// The key of a section's DER.
fn key(line: usize, what: Section, der: &[u8]) -> Result<PublicKey, Error> {
    let fail = |error| Error::Der { line, what, error };
    let spki = match what {
        Section::RsaPublicKey => {
            let public = rsa(der).map_err(fail)?;
            return public.checked().ok_or(Error::NotA {
                line,
                kind: KeyKind::Rsa,
            });
        }
        Section::PublicKey => SubjectPublicKeyInfoOwned::from_der(der).map_err(fail)?,
        Section::Certificate => {
            Certificate::from_der(der)
                .map_err(fail)?
                .tbs_certificate
                .subject_public_key_info
        }
    };
    public_key(line, &spki)
}

/// The key of a `SubjectPublicKeyInfo`.
fn public_key(line: usize, spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, Error> {
    const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

    // The key's bits, which must be whole bytes.
    let bits = |kind| {
        spki.subject_public_key
            .as_bytes()
            .map(<[u8]>::to_vec)
            .ok_or(Error::NotA { line, kind })
    };
    let oid = spki.algorithm.oid;
    let public = if oid == RSA {
        rsa(&bits(KeyKind::Rsa)?).map_err(|error| Error::Der {
            line,
            what: Section::PublicKey,
            error,
        })?
    } else if oid == ED25519 {
        PublicKey::Ed25519(bits(KeyKind::Ed25519)?)
    } else if oid == EC {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match curve {
            Some(curve) if curve == P256 => PublicKey::P256(bits(KeyKind::P256)?),
            Some(curve) if curve == P384 => PublicKey::P384(bits(KeyKind::P384)?),
            _ => return Err(Error::UnsupportedCurve { line }),
        }
    } else {
        return Err(Error::UnsupportedAlgorithm {
            line,
            oid: oid.to_string(),
        });
    };
    let kind = public.kind();
    public.checked().ok_or(Error::NotA { line, kind })
}

/// A PKCS#1 `RSAPublicKey`: the sequence of modulus and exponent (not yet checked).
fn rsa(der: &[u8]) -> der::Result<PublicKey> {
    let mut reader = SliceReader::new(der)?;
    let (modulus, exponent) = reader.sequence(|fields| {
        Ok((
            UintRef::decode(fields)?.as_bytes().to_vec(),
            UintRef::decode(fields)?.as_bytes().to_vec(),
        ))
    })?;
    reader.finish(PublicKey::Rsa { modulus, exponent })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotUtf8 { line } => write!(f, "line {line} is not UTF-8 text"),
            Error::Unterminated { line } => {
                write!(f, "the PEM section of line {line} has no matching END line")
            }
            Error::NotBase64 { line } => {
                write!(f, "the PEM section of line {line} is not base64")
            }
            Error::PrivateKey { line } => write!(
                f,
                "it holds a private key (line {line}); give the public key or a certificate"
            ),
            Error::Der { line, what, error } => {
                let what = match what {
                    Section::PublicKey => "public key",
                    Section::RsaPublicKey => "RSA public key",
                    Section::Certificate => "certificate",
                };
                write!(f, "the {what} of line {line} cannot be parsed ({error})")
            }
            Error::UnsupportedAlgorithm { line, oid } => write!(
                f,
                "the key of line {line} is of algorithm {oid}; RSA, EC and Ed25519 keys are \
                 supported"
            ),
            Error::UnsupportedCurve { line } => write!(
                f,
                "the key of line {line} is an EC key on another curve than P-256 and P-384"
            ),
            Error::NotA { line, kind } => write!(f, "the key of line {line} is not {kind}"),
            Error::NoKey => f.write_str("it holds no PEM public key or certificate"),
            Error::NotAllowed(kind) => write!(
                f,
                "it holds {kind}, which none of the allowed algorithms uses"
            ),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_key::Algorithm;

    /// A PEM section of `der`, its base64 in lines of 64.
    fn section(label: &str, der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<_> = body
            .as_bytes()
            .chunks(64)
            .map(String::from_utf8_lossy)
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// DER of a SubjectPublicKeyInfo: algorithm (and curve) OIDs, then the key's bits.
    fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let mut bits = vec![0x03, key.len() as u8 + 1, 0];
        bits.extend_from_slice(key);
        let mut algorithm = algorithm.to_vec();
        algorithm.insert(0, algorithm.len() as u8);
        algorithm.insert(0, 0x30);
        let mut out = vec![0x30, (algorithm.len() + bits.len()) as u8];
        out.extend(algorithm);
        out.extend(bits);
        out
    }

    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    /// id-ecPublicKey and P-256.
    const P256: &[u8] = &[
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
        0x3d, 0x03, 0x01, 0x07,
    ];
    /// id-ecPublicKey and secp256k1.
    const K256: &[u8] = &[
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
        0x0a,
    ];
    /// rsaEncryption and NULL.
    const RSA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    /// PKCS#1: modulus 0x00c5c5 (a leading zero keeps it positive), exponent 65537.
    const PKCS1: &[u8] = &[
        0x30, 0x0a, 0x02, 0x03, 0x00, 0xc5, 0xc5, 0x02, 0x03, 0x01, 0x00, 0x01,
    ];

    fn ed25519() -> String {
        section("PUBLIC KEY", &spki(ED25519, &[7; 32]))
    }

    #[test]
    fn public_keys_of_every_supported_type_load() {
        let key = parse(ed25519().as_bytes(), Algorithms::ALL).unwrap();
        assert_eq!(key.public_key(), &PublicKey::Ed25519(vec![7; 32]));
        assert_eq!(key.algorithms(), Algorithms::one(Algorithm::EdDsa));

        let point = [vec![4], vec![1; 64]].concat();
        let key = parse(
            section("PUBLIC KEY", &spki(P256, &point)).as_bytes(),
            Algorithms::ALL,
        )
        .unwrap();
        assert_eq!(key.public_key(), &PublicKey::P256(point));

        let rsa = PublicKey::Rsa {
            modulus: vec![0xc5, 0xc5],
            exponent: vec![1, 0, 1],
        };
        let spki_rsa = section("PUBLIC KEY", &spki(RSA, PKCS1));
        let pkcs1 = section("RSA PUBLIC KEY", PKCS1);
        for text in [spki_rsa, pkcs1] {
            let key = parse(text.as_bytes(), Algorithms::ALL).unwrap();
            assert_eq!(key.public_key(), &rsa);
            assert_eq!(key.algorithms(), KeyKind::Rsa.algorithms());
        }
    }

    #[test]
    fn the_first_key_counts_and_other_sections_are_skipped() {
        let text = format!(
            "issuer key\n{}{}{}",
            section("X509 CRL", b"whatever"),
            ed25519(),
            section("PRIVATE KEY", b"later"),
        );
        assert!(parse(text.as_bytes(), Algorithms::ALL).is_ok());
        let text = format!("{}{}", section("EC PRIVATE KEY", b"k"), ed25519());
        assert_eq!(
            parse(text.as_bytes(), Algorithms::ALL),
            Err(Error::PrivateKey { line: 1 })
        );
    }

    #[test]
    fn unusable_files_are_refused() {
        let all = Algorithms::ALL;
        assert_eq!(parse(b"not pem", all), Err(Error::NoKey));
        assert_eq!(parse(b"", all), Err(Error::NoKey));
        let mut latin1 = ed25519().into_bytes();
        latin1.extend_from_slice(b"issuer: M\xfcnchen\n");
        assert_eq!(parse(&latin1, all), Err(Error::NotUtf8 { line: 4 }));
        assert_eq!(
            parse(b"\n-----BEGIN PUBLIC KEY-----\nAAAA\n", all),
            Err(Error::Unterminated { line: 2 })
        );
        assert_eq!(
            parse(
                b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
                all
            ),
            Err(Error::NotBase64 { line: 1 })
        );
        assert!(matches!(
            parse(section("CERTIFICATE", b"\x30\x00").as_bytes(), all),
            Err(Error::Der {
                line: 1,
                what: Section::Certificate,
                ..
            })
        ));
        let k256 = section("PUBLIC KEY", &spki(K256, &[4; 65]));
        assert_eq!(
            parse(k256.as_bytes(), all),
            Err(Error::UnsupportedCurve { line: 1 })
        );
        let short = section("PUBLIC KEY", &spki(ED25519, &[7; 31]));
        assert_eq!(
            parse(short.as_bytes(), all),
            Err(Error::NotA {
                line: 1,
                kind: KeyKind::Ed25519
            })
        );
        let dsa = section(
            "PUBLIC KEY",
            &spki(
                &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01],
                &[1],
            ),
        );
        assert_eq!(
            parse(dsa.as_bytes(), all),
            Err(Error::UnsupportedAlgorithm {
                line: 1,
                oid: "1.2.840.10040.4.1".into()
            })
        );
    }

    #[test]
    fn the_key_must_be_for_an_allowed_algorithm() {
        let error = parse(ed25519().as_bytes(), Algorithms::one(Algorithm::Rs256)).unwrap_err();
        assert_eq!(error, Error::NotAllowed(KeyKind::Ed25519));
        assert_eq!(
            error.to_string(),
            "it holds an Ed25519 key, which none of the allowed algorithms uses"
        );
    }
}
