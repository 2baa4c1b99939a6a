//! Per-route policies: authentication, rate limits, validation, header edits and the rest.
//!
//! A route's policies are one [`Policy`] composed at compile time: a pair of policies is a
//! policy, so `use a, b, c` is `(&a, (&b, &c))`, its ticket the tuple of theirs, and
//! [`Policy::guard`] runs a route's action behind it. Each policy's [`Policy::request`] may edit the
//! request or answer in its place; once the route's action has answered, each
//! [`Policy::response`] that ran edits the response, in reverse order (the first policy sees
//! the response last, as in a middleware stack). A policy that refuses a request still gets
//! the earlier policies' response edits applied to its answer, so e.g. CORS headers reach a
//! 401. Everything is monomorphised: no boxing, no dynamic dispatch, no allocation.
//!
//! Policies are built once at start-up from `static` specs (files are read and keys, schemas
//! and patterns compiled then) and shared by every worker.

mod access;
mod api_key;
mod basic_auth;
mod cache;
mod compress;
mod cors;
mod ext_auth;
mod headers;
mod jwt;
mod rate_limit;
mod rewrite;
mod security_headers;
mod traced;
mod validate;

use std::future::Future;

use http::{header::WWW_AUTHENTICATE, HeaderValue};

use crate::{Cx, LoadError, Request, Response};

pub use access::{Access, AccessRule, AccessSpec};
pub use api_key::{ApiKey, ApiKeySpec, KeySource};
pub(crate) use basic_auth::credentials as basic_credentials;
pub use basic_auth::{BasicAuth, BasicAuthSpec};
pub(crate) use cache::Figures as CacheFigures;
pub(crate) use cache::Target as PurgeTarget;
pub use cache::{Cache, CacheKey, CacheSpec, CacheTicket, Caches};
pub use compress::{Coding, Compress, CompressSpec};
pub use cors::{Cors, CorsSpec};
pub use ext_auth::{AnswerCache, AnswerKey, ExtAuth, ExtAuthSpec};
pub use headers::{HeaderEdits, Headers, HeadersSpec};
pub use jwt::{ForwardClaim, Jwt, JwtAlgorithm, JwtKeys, JwtSpec, KeySets};
pub use rate_limit::{LimitAlgorithm, LimitKey, OnStoreError, Rate, RateLimit, RateLimitSpec};
pub use rewrite::{Rewrite, RewriteRule, RewriteSpec};
pub use security_headers::{SecurityHeaders, SecurityHeadersSpec};
pub use traced::Traced;
pub use validate::{Validate, ValidateSpec};

/// One step of a route's chain, or (as a pair or a reference) a whole chain.
pub trait Policy: Send + Sync {
    /// What the request step hands to the response step of the same request.
    type Ticket: Send;

    /// Looks at (and may edit) the request. `Err` is the answer the client gets instead: the
    /// rest of the chain and the route's action do not run.
    fn request(
        &self,
        req: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<Self::Ticket, Response>> + Send;

    /// Edits the response to a request whose request step passed.
    fn response(&self, ticket: Self::Ticket, resp: &mut Response) {
        let _ = (ticket, resp);
    }

    /// Answers `req` with `action` behind this policy (a route's chain): the request step
    /// first, whose refusal is the answer; else the action's answer, edited by the response
    /// step.
    fn guard<F: Future<Output = Response> + Send>(
        &self,
        mut req: Request,
        cx: &Cx,
        action: impl FnOnce(Request) -> F + Send,
    ) -> impl Future<Output = Response> + Send {
        async move {
            let ticket = match self.request(&mut req, cx).await {
                Ok(ticket) => ticket,
                Err(refusal) => return refusal,
            };
            let mut response = action(req).await;
            self.response(ticket, &mut response);
            response
        }
    }
}

/// A policy borrowed from the gateway, as chains hold them. Its request step is the policy's own
/// future, not one wrapped around it, so a chain's state machine nests one level per pair only.
impl<P: Policy + ?Sized> Policy for &P {
    type Ticket = P::Ticket;

    fn request(
        &self,
        req: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<Self::Ticket, Response>> + Send {
        (**self).request(req, cx)
    }

    fn response(&self, ticket: Self::Ticket, resp: &mut Response) {
        (**self).response(ticket, resp);
    }
}

/// `first`, then `rest`: the response steps in reverse order, and a refusal by `rest` still
/// gets `first`'s response edits. Longer chains nest: `(a, (b, c))`.
impl<A: Policy, B: Policy> Policy for (A, B) {
    type Ticket = (A::Ticket, B::Ticket);

    async fn request(&self, req: &mut Request, cx: &Cx) -> Result<Self::Ticket, Response> {
        let first = self.0.request(req, cx).await?;
        match self.1.request(req, cx).await {
            Ok(rest) => Ok((first, rest)),
            Err(mut refusal) => {
                self.0.response(first, &mut refusal);
                Err(refusal)
            }
        }
    }

    fn response(&self, (first, rest): Self::Ticket, resp: &mut Response) {
        self.1.response(rest, resp);
        self.0.response(first, resp);
    }
}

/// Who is calling, as established by an authentication policy; kept in the request's
/// extensions for the policies that follow (e.g. a rate limit keyed by consumer or claim).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The consumer's name: an API key's or user's name, or a token's `sub`.
    pub consumer: Option<Box<str>>,
    /// A verified token's claims.
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Caller {
    /// The caller recorded on `req`, if an authentication policy ran.
    pub fn of(req: &Request) -> Option<&Caller> {
        req.extensions().get::<Caller>()
    }
}

/// Reads a text file named in a policy's spec (a relative path from the run-time root); a
/// failure names the file where it was looked for.
fn read_file(policy: &'static str, what: &str, path: &'static str) -> Result<String, LoadError> {
    let path = crate::root::resolve(path);
    std::fs::read_to_string(&path).map_err(|e| LoadError::Policy {
        name: policy,
        reason: format!("cannot read {what} file {}: {e}", path.display()),
    })
}

/// The 401 an authentication policy answers with: a short text and its challenge.
fn unauthorized(body: &'static str, challenge: HeaderValue) -> Response {
    let mut response = crate::respond(401, body);
    response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    response
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::HeaderValue;

    use super::*;
    use crate::{host_name::HostName, RequestBody};

    /// Passes (or refuses with 401) and marks each response it edits with its name.
    struct Mark {
        name: &'static str,
        refuses: bool,
    }

    impl Policy for Mark {
        type Ticket = &'static str;

        async fn request(&self, _req: &mut Request, _cx: &Cx) -> Result<&'static str, Response> {
            if self.refuses {
                Err(crate::respond(401, "refused\n"))
            } else {
                Ok(self.name)
            }
        }

        fn response(&self, ticket: &'static str, resp: &mut Response) {
            resp.headers_mut()
                .append("x-edited-by", HeaderValue::from_static(ticket));
        }
    }

    const fn passes(name: &'static str) -> Mark {
        Mark {
            name,
            refuses: false,
        }
    }

    const REFUSES: Mark = Mark {
        name: "refuses",
        refuses: true,
    };

    /// The chain's answer to a request whose action answers 200, with who edited it, in order.
    async fn answer(chain: impl Policy) -> (u16, Vec<String>) {
        let req = http::Request::get("/")
            .body(RequestBody::full(Bytes::new()))
            .unwrap();
        let cx = Cx::new(
            "web",
            "192.0.2.1:5000".parse().unwrap(),
            HeaderValue::from_static("-"),
            HostName::EMPTY,
            false,
        );
        let response = chain
            .guard(req, &cx, |_| async { crate::respond(200, "ok\n") })
            .await;
        let edits = response.headers().get_all("x-edited-by").iter();
        let edits = edits.map(|v| v.to_str().unwrap().to_owned()).collect();
        (response.status().as_u16(), edits)
    }

    #[tokio::test]
    async fn responses_are_edited_in_reverse_order() {
        let (a, b, c) = (passes("a"), passes("b"), passes("c"));
        let (status, edits) = answer((&a, (&b, &c))).await;
        assert_eq!(
            (status, edits),
            (200, vec!["c".into(), "b".into(), "a".into()])
        );
    }

    #[tokio::test]
    async fn a_refusal_gets_the_earlier_policies_edits_only() {
        let (a, b, c) = (passes("a"), passes("b"), passes("c"));
        let (status, edits) = answer((&a, (&b, (&REFUSES, &c)))).await;
        assert_eq!((status, edits), (401, vec!["b".into(), "a".into()]));
        let (status, edits) = answer((&REFUSES, (&a, &b))).await;
        assert_eq!((status, edits), (401, Vec::<String>::new()));
    }
}
