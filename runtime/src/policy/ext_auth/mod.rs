//! `ext_auth`: each request asks an authorisation service first, with nginx's `auth_request`
//! and Traefik's `forwardAuth` semantics. The check is a `GET` of the policy's path sent to its
//! pool, carrying the request's `Host`, the headers the policy forwards, and the request's
//! method and URI in `x-forwarded-method` and `x-forwarded-uri` (the pool adds the client's
//! address and the scheme, as it does to any request). Its answer decides:
//!
//! - `2xx`: the request goes on, with the headers the policy copies taken from the answer (a
//!   client's own copies of them are always removed first, so they cannot be forged);
//! - `401` or `403`: the client gets that status, with the answer's `WWW-Authenticate`,
//!   `Content-Type` and body (up to 16 KiB);
//! - anything else, no answer within the timeout, or no usable server: the check failed, and
//!   the client gets `503` (or, with `on_error allow`, the request goes on).
//!
//! Answers that decide (`2xx`, `401`, `403`) may be kept for a while ([`answers`]), by a key the
//! policy names, within a number of bytes; a failed check never is.

mod answers;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use smallvec::SmallVec;

use super::Policy;
use crate::{Cx, Guard, Pool, Request, RequestBody, Response, Strategy, Unguarded};
use answers::{Answers, Weigh};

/// The headers of a denial passed on to the client.
const DENIAL_HEADERS: [HeaderName; 2] = [WWW_AUTHENTICATE, CONTENT_TYPE];

/// The longest denial body passed on; a longer one is cut to nothing but its status.
const MAX_DENIAL_BODY: usize = 16 * 1024;

const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// An `ext_auth` policy as the `.edge` file writes it.
#[derive(Debug)]
pub struct ExtAuthSpec {
    /// The policy's name, for logs.
    pub name: &'static str,
    /// The path each check asks for.
    pub path: &'static str,
    /// The request's headers sent with each check.
    pub forward_headers: &'static [HeaderName],
    /// The headers of an allowing answer copied onto the request.
    pub copy_headers: &'static [HeaderName],
    /// The longest wait for an answer.
    pub timeout: Duration,
    /// Whether a failed check lets the request through.
    pub fail_open: bool,
    /// How long answers are kept, and by what key.
    pub cache: Option<AnswerCache>,
}

/// How long an `ext_auth` policy keeps answers, by what key, and in how many bytes.
#[derive(Debug)]
pub struct AnswerCache {
    pub ttl: Duration,
    pub key: AnswerKey,
    /// The most bytes the kept answers weigh in all, keys included; an answer heavier than a
    /// sixteenth of it is never kept.
    pub max_size: u64,
}

/// What an answer is kept by.
#[derive(Debug)]
pub enum AnswerKey {
    /// Everything a check carries that the request gives: the method, the URI and the
    /// forwarded headers.
    Request,
    ClientIp,
    /// A request header.
    Header(HeaderName),
    Cookie(&'static str),
    /// The path (without the query).
    Path,
}

/// Headers an answer sets.
type Headers = SmallVec<[(HeaderName, HeaderValue); 2]>;

/// What a check decided.
#[derive(Debug, Clone)]
enum Decision {
    /// The request goes on, with these headers set.
    Allow(Headers),
    /// The client gets this answer.
    Deny {
        status: StatusCode,
        headers: Headers,
        body: Bytes,
    },
}

impl Decision {
    /// The decision with its header values and body in allocations of their own, of their
    /// exact size: taken from the service's answer, they share the buffer its whole head (or
    /// more) was read into, which a kept decision would otherwise hold on to unweighed.
    fn to_keep(&self) -> Decision {
        let own = |headers: &Headers| {
            headers
                .iter()
                .map(|(name, value)| {
                    // A header value's bytes always make one again.
                    let copy = HeaderValue::from_bytes(value.as_bytes()).map_or_else(
                        |_| value.clone(),
                        |mut copy| {
                            copy.set_sensitive(value.is_sensitive());
                            copy
                        },
                    );
                    (name.clone(), copy)
                })
                .collect()
        };
        match self {
            Decision::Allow(headers) => Decision::Allow(own(headers)),
            Decision::Deny {
                status,
                headers,
                body,
            } => Decision::Deny {
                status: *status,
                headers: own(headers),
                body: Bytes::copy_from_slice(body),
            },
        }
    }
}

impl Weigh for Decision {
    fn weight(&self) -> usize {
        let headers = |headers: &Headers| {
            let spilled = if headers.spilled() {
                headers.capacity() * std::mem::size_of::<(HeaderName, HeaderValue)>()
            } else {
                0
            };
            spilled
                + headers
                    .iter()
                    .map(|(name, value)| name.as_str().len() + value.len())
                    .sum::<usize>()
        };
        match self {
            Decision::Allow(set) => headers(set),
            Decision::Deny {
                headers: set, body, ..
            } => headers(set) + body.len(),
        }
    }
}

/// An `ext_auth` policy, asking the pool balanced by `S` (and guarded by `G`).
#[derive(Debug)]
pub struct ExtAuth<S: Strategy, G: Guard = Unguarded> {
    spec: &'static ExtAuthSpec,
    /// The spec's path, parsed once.
    path: http::Uri,
    pool: Arc<Pool<S, G>>,
    answers: Option<Answers<Decision>>,
}

impl<S: Strategy, G: Guard> ExtAuth<S, G> {
    /// The policy of `spec`, asking `pool` (the pool `spec` names, shared with the routes
    /// that forward to it).
    ///
    /// # Panics
    ///
    /// When the spec's path is not a URI's path, which the compiler checks.
    pub fn new(spec: &'static ExtAuthSpec, pool: Arc<Pool<S, G>>) -> ExtAuth<S, G> {
        ExtAuth {
            spec,
            path: http::Uri::from_static(spec.path),
            pool,
            answers: spec.cache.as_ref().map(|cache| {
                let max_size = usize::try_from(cache.max_size).unwrap_or(usize::MAX);
                Answers::new(cache.ttl, max_size)
            }),
        }
    }

    /// The bytes the policy's kept answers weigh (keys included), which its `max_size`
    /// bounds; 0 when it keeps none.
    #[doc(hidden)]
    pub fn kept_bytes(&self) -> usize {
        self.answers.as_ref().map_or(0, Answers::bytes)
    }

    /// Asks the service about `req`: its decision, or `None` when the check failed.
    async fn ask(&self, req: &Request, cx: &Cx) -> Option<Decision> {
        let spec = self.spec;
        let mut check = http::Request::new(RequestBody::full(Bytes::new()));
        *check.uri_mut() = self.path.clone();
        let headers = check.headers_mut();
        for name in spec.forward_headers {
            for value in req.headers().get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let host = req.headers().get(HOST).cloned().or_else(|| {
            let authority = req.uri().authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        if let Some(host) = host {
            headers.insert(HOST, host);
        }
        let method = HeaderValue::from_str(req.method().as_str()).ok()?;
        headers.insert(X_FORWARDED_METHOD, method);
        let uri = req
            .uri()
            .path_and_query()
            .map_or("/", |target| target.as_str());
        headers.insert(X_FORWARDED_URI, HeaderValue::from_str(uri).ok()?);
        let exchange = async {
            let answer = self.pool.forward(check, cx).await;
            let (head, body) = answer.into_parts();
            decide(spec, head, body).await
        };
        // Boxed: the exchange's future is large, and most requests of a cached policy never
        // make one.
        match tokio::time::timeout(spec.timeout, Box::pin(exchange)).await {
            Ok(decision) => decision,
            Err(_) => {
                tracing::debug!(
                    policy = spec.name,
                    "the authorisation service did not answer in time"
                );
                None
            }
        }
    }

    /// The key `req`'s answer is kept by, when answers are kept and `req` has one.
    fn key(&self, req: &Request, cx: &Cx) -> Option<Vec<u8>> {
        let cache = self.spec.cache.as_ref()?;
        let mut key = Vec::new();
        let mut part = |bytes: &[u8]| {
            key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            key.extend_from_slice(bytes);
        };
        match &cache.key {
            AnswerKey::Request => {
                part(req.method().as_str().as_bytes());
                part(
                    req.uri()
                        .path_and_query()
                        .map_or(b"/", |t| t.as_str().as_bytes()),
                );
                for name in self.spec.forward_headers {
                    for value in req.headers().get_all(name) {
                        part(name.as_str().as_bytes());
                        part(value.as_bytes());
                    }
                }
            }
            AnswerKey::ClientIp => match cx.client().ip().to_canonical() {
                std::net::IpAddr::V4(ip) => part(&ip.octets()),
                std::net::IpAddr::V6(ip) => part(&ip.octets()),
            },
            AnswerKey::Header(name) => part(req.headers().get(name)?.as_bytes()),
            AnswerKey::Cookie(name) => part(crate::cookies::value(req.headers(), name)?),
            AnswerKey::Path => part(req.uri().path().as_bytes()),
        }
        Some(key)
    }
}

/// What the service's answer decides; `None` for an answer that decides nothing (the check
/// failed).
async fn decide(
    spec: &'static ExtAuthSpec,
    head: http::response::Parts,
    mut body: crate::Body,
) -> Option<Decision> {
    let kept = |names: &[HeaderName]| {
        names
            .iter()
            .filter_map(|name| Some((name.clone(), head.headers.get(name)?.clone())))
            .collect::<SmallVec<_>>()
    };
    match head.status.as_u16() {
        200..=299 => {
            // Read to the end, so the connection goes back to the pool.
            while let Some(frame) = body.frame().await {
                frame.ok()?;
            }
            Some(Decision::Allow(kept(spec.copy_headers)))
        }
        401 | 403 => {
            let mut text = BytesMut::new();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.ok()?.into_data() {
                    text.extend_from_slice(&data);
                    if text.len() > MAX_DENIAL_BODY {
                        text.clear();
                        break;
                    }
                }
            }
            Some(Decision::Deny {
                status: head.status,
                headers: kept(&DENIAL_HEADERS),
                body: text.freeze(),
            })
        }
        status => {
            tracing::debug!(
                policy = spec.name,
                status,
                "the authorisation service failed"
            );
            None
        }
    }
}

impl<S: Strategy, G: Guard> Policy for ExtAuth<S, G> {
    type Ticket = ();

    async fn request(&self, req: &mut Request, cx: &Cx) -> Result<(), Response> {
        for name in self.spec.copy_headers {
            req.headers_mut().remove(name);
        }
        let key = self.answers.as_ref().and_then(|_| self.key(req, cx));
        let kept = match (&self.answers, &key) {
            (Some(answers), Some(key)) => answers.get(key),
            _ => None,
        };
        let decision = match kept {
            Some(decision) => decision,
            None => match self.ask(req, cx).await {
                Some(decision) => {
                    if let (Some(answers), Some(key)) = (&self.answers, key) {
                        answers.put(key, decision.to_keep());
                    }
                    decision
                }
                None if self.spec.fail_open => return Ok(()),
                None => return Err(crate::respond(503, "authorisation unavailable\n")),
            },
        };
        match decision {
            Decision::Allow(headers) => {
                for (name, value) in headers {
                    req.headers_mut().insert(name, value);
                }
                Ok(())
            }
            Decision::Deny {
                status,
                headers,
                body,
            } => {
                let mut answer = crate::respond::respond_text(status, body);
                for (name, value) in headers {
                    answer.headers_mut().insert(name, value);
                }
                Err(answer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept decision holds copies of exactly its bytes, not the buffer the service's answer
    /// was read into, and weighs its headers and body.
    #[test]
    fn a_kept_decision_owns_and_weighs_its_bytes() {
        let head = Bytes::from(vec![b'a'; 8192]);
        let challenge = HeaderValue::from_maybe_shared(head.slice(..6)).unwrap();
        let mut body = BytesMut::with_capacity(4096);
        body.extend_from_slice(b"denied");
        let decision = Decision::Deny {
            status: StatusCode::UNAUTHORIZED,
            headers: smallvec::smallvec![(WWW_AUTHENTICATE, challenge)],
            body: body.freeze(),
        };
        let kept = decision.to_keep();
        assert_eq!(kept.weight(), "www-authenticate".len() + 6 + 6);
        let Decision::Deny { headers, body, .. } = kept else {
            panic!("a denial stays one");
        };
        assert_eq!(headers[0].1, "aaaaaa");
        assert!(!head
            .as_ptr_range()
            .contains(&headers[0].1.as_bytes().as_ptr()));
        assert_eq!(body, "denied");
        let allowed = Decision::Allow((0..3).map(|i| (WWW_AUTHENTICATE, i.into())).collect());
        let spilled = 3 * std::mem::size_of::<(HeaderName, HeaderValue)>();
        assert!(allowed.weight() >= spilled + 3 * ("www-authenticate".len() + 1));
    }
}
