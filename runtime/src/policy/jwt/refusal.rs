//! Why a request is refused and the 401 it gets: no token is an `invalid_request` challenge,
//! a token that does not pass an `invalid_token` one whose `error_description` says why.

use http::HeaderValue;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};

use crate::policy::unauthorized;
use crate::Response;

/// Why a request is refused: no token, or a token that does not pass, each with its
/// `error_description`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
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

const NO_TOKEN: HeaderValue =
    HeaderValue::from_static(r#"Bearer realm="edge", error="invalid_request""#);

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
    pub(super) fn of(error: &JwtError) -> Refusal {
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

    pub(super) fn response(self) -> Response {
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
