//! Admitting a request whose token passed: the caller is recorded with the token's claims
//! (its `sub` as the consumer) and the chosen claims are set as request headers, replacing
//! any copy the client sent.

use http::HeaderValue;
use serde_json::{Map, Value};

use super::Jwt;
use crate::policy::Caller;
use crate::Request;

impl Jwt {
    /// Records the caller and sets the forwarded claims' headers.
    pub(super) fn admit(&self, req: &mut Request, claims: Map<String, Value>) {
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

/// A claim as a header value: a string as is, anything else as compact JSON.
fn header_value(claim: &Value) -> Option<HeaderValue> {
    match claim {
        Value::String(text) => HeaderValue::from_str(text).ok(),
        other => HeaderValue::try_from(other.to_string()).ok(),
    }
}

#[cfg(test)]
mod tests {
    use http::header::AUTHORIZATION;
    use serde_json::json;

    use super::*;
    use crate::policy::jwt::fixtures::{claims, cx, request, rs256, with_jwks};
    use crate::policy::Policy;

    #[tokio::test]
    async fn a_valid_token_passes_records_the_caller_and_forwards_claims() {
        let policy = with_jwks(|_| {});
        let token = rs256(&claims());
        let mut req = request(Some(&format!("bearer {token}")));
        req.headers_mut()
            .append("x-user", "mallory".parse().unwrap());
        req.headers_mut().append("x-user", "eve".parse().unwrap());
        policy.request(&mut req, &cx()).await.unwrap();
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
        policy.request(&mut req, &cx()).await.unwrap();
        assert!(req.headers().get("x-level").is_none());
        assert_eq!(req.headers()["x-user"], "alice");
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
}
