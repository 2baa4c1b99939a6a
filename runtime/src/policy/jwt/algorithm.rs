//! The signature algorithms as `jsonwebtoken` names them: the one translation between the
//! [`JwtAlgorithm`] the spec and the key files name and the verifier's own.

use jsonwebtoken::Algorithm;

use super::spec::JwtAlgorithm;

/// The verifier's name for `algorithm`.
pub(super) fn verifier(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
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

/// The algorithm a token's header names, as the verifier read it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_translates_back() {
        for algorithm in JwtAlgorithm::ALL {
            assert_eq!(of(verifier(algorithm)), algorithm);
        }
    }
}
