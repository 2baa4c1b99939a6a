//! Whatever bytes a file holds, every reader answers with a value or an error, never a panic.

use edge_formats::public_key::Algorithms;
use edge_formats::{api_keys, htpasswd, jwks, pem};
use proptest::prelude::*;

/// Bytes that look enough like each format to reach past its first checks.
fn near_misses() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "([a-z#:\\$2yb0-9./ \r\n]|sha256:|[0-9a-f]{64}){0,12}".prop_map(String::into_bytes),
        "\\{\"keys\": \\[(\\{\"kty\": \"(oct|RSA|EC|OKP)\", \"(k|n|e|x|y|crv|alg|use|kid)\": \"[A-Za-z0-9_=-]{0,12}\"\\},?){0,3}\\]\\}"
            .prop_map(String::into_bytes),
        "(-----(BEGIN|END) (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE|PRIVATE KEY)-----\n|[A-Za-z0-9+/=]{0,64}\n){0,6}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #[test]
    fn readers_never_panic(bytes in near_misses()) {
        let _ = htpasswd::parse(&bytes).map_err(|e| e.to_string());
        let _ = api_keys::parse(&bytes).map_err(|e| e.to_string());
        let _ = jwks::parse(&bytes, Algorithms::ALL).map_err(|e| e.to_string());
        let _ = pem::parse(&bytes, Algorithms::ALL).map_err(|e| e.to_string());
    }

    /// A PEM section of arbitrary DER reaches the DER parsers.
    #[test]
    fn pem_sections_of_any_der_never_panic(
        label in prop_oneof![Just("PUBLIC KEY"), Just("RSA PUBLIC KEY"), Just("CERTIFICATE")],
        der in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        let text = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        let _ = pem::parse(text.as_bytes(), Algorithms::ALL).map_err(|e| e.to_string());
    }
}
