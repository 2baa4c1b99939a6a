//! The token a request presents: the one `Authorization` header's, with the `Bearer` scheme
//! in any case.

use http::{header::AUTHORIZATION, HeaderMap};

/// The token of the one `Authorization: Bearer` header, or why there is none.
pub(super) fn token(headers: &HeaderMap) -> Result<&str, &'static str> {
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

#[cfg(test)]
mod tests {
    use crate::policy::jwt::fixtures::{challenge, claims, cx, request, rs256, with_jwks};
    use crate::policy::Policy;

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
            let outcome = policy.request(&mut req, &cx()).await;
            assert_eq!(
                challenge(outcome),
                r#"Bearer realm="edge", error="invalid_request""#,
                "{authorization:?}"
            );
        }
    }
}
