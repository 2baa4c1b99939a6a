//! Per-route policies: authentication, rate limits, validation, header edits and the rest.
//!
//! A route's policies run as a static chain of direct calls that generated code writes out in
//! `use` order: each policy's [`Policy::request`] may edit the request or answer in its place;
//! once the route's action has answered, each [`Policy::response`] that ran edits the response,
//! in reverse order (the first policy sees the response last, as in a middleware stack). A
//! policy that refuses a request still gets the earlier policies' response edits applied to its
//! answer, so e.g. CORS headers reach a 401.
//!
//! Policies are built once at start-up from `static` specs (files are read and keys, schemas
//! and patterns compiled then) and shared by every worker.

mod access;
mod api_key;
mod basic_auth;
mod cache;
mod compress;
mod cors;
mod headers;
mod jwt;
mod rate_limit;
mod rewrite;
mod security_headers;
mod validate;

use std::future::Future;

use http::{header::WWW_AUTHENTICATE, HeaderValue};

use crate::{Cx, LoadError, Request, Response};

pub use access::{Access, AccessRule, AccessSpec, Cidr};
pub use api_key::{ApiKey, ApiKeySpec, KeySource};
pub use basic_auth::{BasicAuth, BasicAuthSpec};
pub(crate) use cache::{figures as cache_figures, purge as purge_cached, Target as PurgeTarget};
pub use cache::{Cache, CacheKey, CacheSpec, CacheTicket};
pub use compress::{Coding, Compress, CompressSpec};
pub use cors::{Cors, CorsSpec};
pub use headers::{HeaderEdits, Headers, HeadersSpec};
pub use jwt::{ForwardClaim, Jwt, JwtAlgorithm, JwtKeys, JwtSpec};
pub use rate_limit::{LimitAlgorithm, LimitKey, Rate, RateLimit, RateLimitSpec};
pub use rewrite::{Rewrite, RewriteRule, RewriteSpec};
pub use security_headers::{SecurityHeaders, SecurityHeadersSpec};
pub use validate::{Validate, ValidateSpec};

/// One step of a route's chain.
pub trait Policy: Send + Sync + 'static {
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

/// Reads a text file named in a policy's spec; a failure names the file.
fn read_file(policy: &'static str, what: &str, path: &'static str) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|e| LoadError::Policy {
        name: policy,
        reason: format!("cannot read {what} file {path}: {e}"),
    })
}

/// The 401 an authentication policy answers with: a short text and its challenge.
fn unauthorized(body: &'static str, challenge: HeaderValue) -> Response {
    let mut response = crate::respond(401, body);
    response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    response
}
