//! `cache`: an in-memory HTTP cache in front of the route (a shared cache in RFC 9111's terms).
//!
//! The request step answers from the cache when it can (`X-Cache: HIT`, with `Age`), so the
//! rest of the chain and the route's action do not run. Otherwise the request goes on, and the
//! response step stores the answer while it streams to the client: the body is copied as it
//! passes (up to `max_object`) and stored when it ends; the client never waits for the copy.
//!
//! - Only `GET` answers are stored; `HEAD` requests are answered from them. Requests with
//!   `Range`, with `Cache-Control: no-store`, and (unless `cache_authorized`) with
//!   `Authorization` pass by (`X-Cache: BYPASS`). `Cache-Control: no-cache` or `max-age=0` on a
//!   request skips the lookup but stores the new answer.
//! - Stored: statuses 200, 203, 204, 300, 301, 308, 404, 410 with freshness information
//!   (`s-maxage`, `max-age`, `Expires`) or the configured `default_ttl`. Never stored: `no-store`,
//!   `private`, `Set-Cookie`, `Vary: *`, answers to requests with `Authorization` unless the
//!   cache allows it and the answer says `public`, `s-maxage` or `must-revalidate`.
//! - `Vary` keeps variants apart: the answer's `Vary` header names are remembered per URL and
//!   their request values are part of the key of each variant.
//! - A burst of misses for one key sends one request upstream; the others wait for its answer
//!   to be stored (at most 30 s) and are answered from the cache. When that answer
//!   cannot be stored they go upstream themselves, and so do requests for that URL in the next
//!   30 s, without waiting (Varnish's hit-for-miss).
//! - A stale answer with a validator (`ETag`, `Last-Modified`) is revalidated with a
//!   conditional request; a `304` refreshes it and the client gets it
//!   (`X-Cache: REVALIDATED`). Within `stale-while-revalidate`, one request goes upstream to
//!   revalidate while the others get the stale answer at once (`X-Cache: STALE`): the policy has
//!   no connection of its own to revalidate in the background. Within `stale-if-error` (or
//!   `stale-while-revalidate`), a 500, 502, 503 or 504 is replaced by the stale answer.
//! - A client's own `If-None-Match` or `If-Modified-Since` that a stored answer satisfies gets
//!   a `304` from the cache.

mod freshness;
mod store;
mod stored;

use std::{
    future::Future,
    sync::{atomic::Ordering, Arc},
    time::{Duration, SystemTime},
};

use http::{
    header::{
        AGE, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_LOCATION,
        CONTENT_RANGE, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RANGE,
        VARY,
    },
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode,
};

use freshness::{Asks, Defaults, NotStored};
use store::{Entry, Fill, Flight, Found, Join, Key, Outcome, Store, Use};

pub use store::Caches;
pub(crate) use store::Figures;
use store::Filler;
pub(crate) use store::Target;

use crate::{clock, Body, Caller, Cx, Policy, Request, Response};

/// A `cache` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct CacheSpec {
    pub name: &'static str,
    /// Bytes of stored answers (bodies and headers) kept at most.
    pub max_size: u64,
    /// Answers larger than this pass through without being stored.
    pub max_object: u64,
    pub key: CacheKey,
    /// The lifetime of answers without freshness information; `None`: not stored.
    pub default_ttl: Option<Duration>,
    /// `stale-while-revalidate` for answers that do not give one.
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error` for answers that do not give one.
    pub stale_if_error: Option<Duration>,
    /// Whether answers to requests with `Authorization` may be stored (when they say so).
    pub cache_authorized: bool,
}

/// What tells stored answers apart, besides the headers their `Vary` names. The method is
/// always `GET`.
#[derive(Debug)]
pub struct CacheKey {
    /// The request's host, lower-cased, without port.
    pub host: bool,
    /// The normalised path.
    pub path: bool,
    /// The query, as sent.
    pub query: bool,
    /// Request headers whose values are part of the key.
    pub headers: &'static [HeaderName],
}

/// How long a request waits for another one fetching the same answer before it goes upstream
/// itself.
const WAIT_FOR_LEADER: Duration = Duration::from_secs(30);

/// How many times a request waits for others' fetches before fetching itself (a fetch can
/// bring another variant than the one it needs).
const ROUNDS: usize = 3;

/// The `X-Cache` header on every answer of a route with a cache.
const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const HIT: HeaderValue = HeaderValue::from_static("HIT");
const MISS: HeaderValue = HeaderValue::from_static("MISS");
const STALE: HeaderValue = HeaderValue::from_static("STALE");
const REVALIDATED: HeaderValue = HeaderValue::from_static("REVALIDATED");
const BYPASS: HeaderValue = HeaderValue::from_static("BYPASS");

/// The `cache` policy.
pub struct Cache {
    spec: &'static CacheSpec,
    store: Arc<Store>,
    defaults: Defaults,
}

impl Cache {
    /// Builds the cache, one of the process's `caches` (which lists it for purges and
    /// metrics).
    pub fn new(spec: &'static CacheSpec, caches: &Caches) -> Cache {
        let store = Store::new(spec.name, &spec.key, spec.max_size);
        caches.register(&store);
        Cache {
            spec,
            store,
            defaults: Defaults {
                ttl: spec.default_ttl,
                stale_while_revalidate: spec.stale_while_revalidate,
                stale_if_error: spec.stale_if_error,
                authorized: spec.cache_authorized,
            },
        }
    }

    /// The request step: an answer from the cache, or what the response step needs.
    ///
    /// A request is authorized (RFC 9111 §3.5) when it carries `Authorization` or a policy
    /// before this one authenticated it (and may have removed the credential): its answer is
    /// only stored with `cache_authorized`, and then under a key that holds who asked (the
    /// consumer a policy found, else the credential itself), so one user's answer never
    /// reaches another. A `GET` or `HEAD` with a body is not answered from the cache: the body
    /// may change the answer, and the key does not hold it.
    async fn lookup(&self, req: &mut Request, cx: &Cx) -> Result<CacheTicket, Response> {
        use http_body::Body as _;
        let head = req.method() == Method::HEAD;
        let caller = Caller::of(req);
        let authorized = req.headers().contains_key(AUTHORIZATION) || caller.is_some();
        let asks = freshness::request_asks(req.headers());
        if !(head || req.method() == Method::GET)
            || !req.body().is_end_stream()
            || req.headers().contains_key(RANGE)
            || asks == Asks::NoStore
            || (authorized && !self.spec.cache_authorized)
        {
            return Ok(CacheTicket(Step::Bypass));
        }
        let uri = req.uri();
        let base = store::base_key(&self.spec.key, cx.host(), uri.path(), uri.query());
        let mut values = Vec::new();
        store::header_values(&mut values, self.spec.key.headers, req.headers());
        if authorized {
            let consumer = caller.and_then(|caller| caller.consumer.as_deref());
            store::who_asked(&mut values, consumer, req.headers().get(AUTHORIZATION));
        }
        let mut fetch = Fetch {
            base,
            values,
            request: HeaderMap::new(),
            stale: None,
            conditional: false,
            flight: None,
            authorized,
            store: !head,
        };
        if asks == Asks::Origin {
            return Ok(fetch.go(req));
        }
        let arrived = clock::now();
        for _ in 0..ROUNDS {
            let now = clock::now();
            let flight = match self.store.find(&fetch.base, &fetch.values, req.headers()) {
                Found::Answer(entry, key) => match entry.usable(now) {
                    Use::Fresh => return Err(self.hit(&entry, req.headers(), HIT, now)),
                    Use::WhileRevalidating if head || !entry.claim(now) => {
                        return Err(self.hit(&entry, req.headers(), STALE, now));
                    }
                    // This request revalidates; the others get the stale answer meanwhile.
                    Use::WhileRevalidating => {
                        fetch.stale = Some(entry);
                        return Ok(fetch.go(req));
                    }
                    // Validated by the origin since this request arrived (it waited for
                    // that): good for this request too, `no-cache` ones included. Strictly
                    // since: an answer stored in the tick the request arrived in may predate
                    // it, and is validated again.
                    Use::Validate if entry.stored_at() > arrived => {
                        return Err(self.hit(&entry, req.headers(), HIT, now));
                    }
                    Use::Validate if head => return Ok(fetch.go(req)),
                    // Concurrent revalidations of one answer wait for one another.
                    Use::Validate => {
                        fetch.stale = Some(entry);
                        key
                    }
                },
                Found::Pass => return Ok(fetch.go(req)),
                Found::Missing { .. } if head => return Ok(fetch.go(req)),
                Found::Missing { flight } => flight,
            };
            let mut waiting = match self.store.join(flight) {
                Join::Lead(flight) => {
                    fetch.flight = Some(flight);
                    return Ok(fetch.go(req));
                }
                Join::Wait(waiting) => waiting,
            };
            let waited =
                tokio::time::timeout(WAIT_FOR_LEADER, waiting.wait_for(Option::is_some)).await;
            let outcome = match waited {
                Err(_) => {
                    tracing::debug!(
                        cache = self.store.name(),
                        "the request fetching this answer is late: fetching it too"
                    );
                    break;
                }
                // The leader went away: look again, and maybe lead.
                Ok(Err(_)) => None,
                Ok(Ok(outcome)) => *outcome,
            };
            match outcome {
                None | Some(Outcome::Stored) => continue,
                Some(Outcome::Uncacheable) => break,
                Some(Outcome::Failed) => {
                    let now = clock::now();
                    match &fetch.stale {
                        Some(entry) if entry.usable_on_error(now) => {
                            return Err(self.hit(entry, req.headers(), STALE, now));
                        }
                        _ => break,
                    }
                }
            }
        }
        Ok(fetch.go(req))
    }

    /// A stored answer served in place of the route's, counted.
    fn hit(
        &self,
        entry: &Entry,
        request: &HeaderMap,
        label: HeaderValue,
        now: clock::Nanos,
    ) -> Response {
        let counters = &self.store.counters;
        let counter = match label.as_bytes() {
            b"HIT" => &counters.hit,
            b"STALE" => &counters.stale,
            _ => &counters.revalidated,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer(entry, request, label, now)
    }

    /// The response step of a request that went upstream.
    fn complete(&self, fetch: Fetch, resp: &mut Response) {
        let now = clock::now();
        let status = resp.status();
        if let (StatusCode::NOT_MODIFIED, true, Some(entry)) =
            (status, fetch.conditional, &fetch.stale)
        {
            *resp = self.refresh(&fetch, entry, resp.headers(), now);
            if let Some(flight) = fetch.flight {
                flight.finish(Outcome::Stored);
            }
            return;
        }
        let failed = matches!(status.as_u16(), 500 | 502 | 503 | 504);
        if let (true, Some(entry)) = (failed, &fetch.stale) {
            if entry.usable_on_error(now) {
                *resp = self.hit(entry, &fetch.request, STALE, now);
                if let Some(flight) = fetch.flight {
                    flight.finish(Outcome::Failed);
                }
                return;
            }
        }
        self.store.counters.miss.fetch_add(1, Ordering::Relaxed);
        if fetch.store {
            self.store_answer(fetch, failed, resp);
        }
        resp.headers_mut().insert(X_CACHE, MISS);
    }

    /// Stores the answer as its body streams, or tells the requests waiting for it why not.
    fn store_answer(&self, fetch: Fetch, failed: bool, resp: &mut Response) {
        let headers = resp.headers();
        let validators = headers.contains_key(ETAG) || headers.contains_key(LAST_MODIFIED);
        let length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| http_body::Body::size_hint(resp.body()).exact());
        let storable = freshness::storable(
            resp.status(),
            headers,
            fetch.authorized,
            validators,
            &self.defaults,
            SystemTime::now(),
        )
        .and_then(|timing| match length {
            Some(length) if length > self.spec.max_object => Err(NotStored::TooLarge),
            _ => Ok(timing),
        });
        let timing = match storable {
            Ok(timing) => timing,
            Err(reason) => {
                tracing::debug!(cache = self.store.name(), ?reason, "answer not stored");
                if reason.lasting() {
                    self.store.pass(&fetch.base);
                }
                if let Some(flight) = fetch.flight {
                    flight.finish(if failed {
                        Outcome::Failed
                    } else {
                        Outcome::Uncacheable
                    });
                }
                return;
            }
        };
        let mut stored = headers.clone();
        stored.remove(AGE);
        stored.remove(X_CACHE);
        let fill = Fill {
            base: fetch.base,
            values: fetch.values,
            vary: freshness::vary_names(headers).unwrap_or_default(),
            request: fetch.request,
            status: resp.status(),
            headers: stored,
            timing,
            flight: fetch.flight,
            max: usize::try_from(self.spec.max_object).unwrap_or(usize::MAX),
            length,
        };
        let filler = Filler::new(Arc::clone(&self.store), fill);
        if http_body::Body::is_end_stream(resp.body()) {
            filler.finish();
        } else {
            let body = std::mem::take(resp.body_mut());
            *resp.body_mut() = Body::wrap(stored::Stored {
                inner: body,
                filler: Some(filler),
            });
        }
    }

    /// The answer to a `304` for a revalidation: the stored answer with its headers updated
    /// from the `304` (RFC 9111 §4.3.4), stored again unless the `304` now forbids it.
    fn refresh(
        &self,
        fetch: &Fetch,
        entry: &Entry,
        update: &HeaderMap,
        now: clock::Nanos,
    ) -> Response {
        let mut headers = entry.headers().clone();
        for name in update.keys() {
            if [
                CONTENT_LENGTH,
                CONTENT_ENCODING,
                CONTENT_RANGE,
                AGE,
                X_CACHE,
            ]
            .contains(name)
            {
                continue;
            }
            headers.remove(name);
            for value in update.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let status = entry.status();
        let storable = freshness::storable(
            status,
            &headers,
            fetch.authorized,
            true,
            &self.defaults,
            SystemTime::now(),
        );
        let vary = freshness::vary_names(&headers).unwrap_or_default();
        let timing = match storable {
            Ok(timing) => Some(timing),
            Err(reason) => {
                tracing::debug!(
                    cache = self.store.name(),
                    ?reason,
                    "revalidated answer dropped"
                );
                self.store.pass(&fetch.base);
                None
            }
        };
        let refreshed = Arc::new(Entry::new(
            status,
            headers,
            entry.body().clone(),
            timing.unwrap_or_else(|| entry.timing()),
        ));
        if timing.is_some() {
            let request = &fetch.request;
            let refreshed = Arc::clone(&refreshed);
            self.store
                .insert(&fetch.base, &fetch.values, &vary, request, refreshed);
        }
        self.hit(&refreshed, &fetch.request, REVALIDATED, now)
    }
}

/// A stored answer for a client: `304` when the client's own conditional is satisfied.
fn answer(entry: &Entry, request: &HeaderMap, label: HeaderValue, now: clock::Nanos) -> Response {
    let mut response = if entry.not_modified_for(request) {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        let headers = response.headers_mut();
        for name in [
            CACHE_CONTROL,
            CONTENT_LOCATION,
            DATE,
            ETAG,
            EXPIRES,
            LAST_MODIFIED,
            VARY,
        ] {
            for value in entry.headers().get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        response
    } else {
        let mut response = Response::new(Body::from_bytes(entry.body().clone()));
        *response.status_mut() = entry.status();
        *response.headers_mut() = entry.headers().clone();
        response
    };
    let headers = response.headers_mut();
    headers.insert(AGE, HeaderValue::from(entry.age(now).as_secs()));
    headers.insert(X_CACHE, label);
    response
}

impl Policy for Cache {
    type Ticket = CacheTicket;

    fn request(
        &self,
        req: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<CacheTicket, Response>> + Send {
        self.lookup(req, cx)
    }

    fn response(&self, ticket: CacheTicket, resp: &mut Response) {
        match ticket.0 {
            Step::Bypass => {
                self.store.counters.bypass.fetch_add(1, Ordering::Relaxed);
                resp.headers_mut().insert(X_CACHE, BYPASS);
            }
            Step::Fetch(fetch) => self.complete(*fetch, resp),
        }
    }
}

/// What the request step hands to the response step.
pub struct CacheTicket(Step);

enum Step {
    /// The cache does not apply to this request.
    Bypass,
    /// The request went upstream.
    Fetch(Box<Fetch>),
}

/// A request on its way upstream.
struct Fetch {
    base: Key,
    /// The configured request headers' values.
    values: Vec<u8>,
    /// The client's headers as they were before going upstream, for the answer's `Vary` and
    /// the client's own conditionals.
    request: HeaderMap,
    /// The stored answer being revalidated, or that may stand in for an error.
    stale: Option<Arc<Entry>>,
    /// Whether the request carries the stale answer's validators.
    conditional: bool,
    /// Set when other requests wait for this one's answer.
    flight: Option<Flight>,
    authorized: bool,
    /// Whether the answer may be stored (not for `HEAD`).
    store: bool,
}

impl Fetch {
    /// Sends the request on: without the client's conditionals when the answer is to be
    /// stored (a `304` for one client cannot be), with the stale answer's validators instead.
    fn go(mut self, req: &mut Request) -> CacheTicket {
        self.request = req.headers().clone();
        if self.store {
            let headers = req.headers_mut();
            headers.remove(IF_NONE_MATCH);
            headers.remove(IF_MODIFIED_SINCE);
            if let Some(entry) = &self.stale {
                self.conditional = entry.make_conditional(headers);
            }
        }
        CacheTicket(Step::Fetch(Box::new(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{host_name::HostName, RequestBody};
    use bytes::Bytes;
    use http_body_util::BodyExt;

    static KEY: CacheKey = CacheKey {
        host: true,
        path: true,
        query: true,
        headers: &[],
    };

    type Headers = &'static [(&'static str, &'static str)];

    fn spec(name: &'static str) -> &'static CacheSpec {
        Box::leak(Box::new(CacheSpec {
            name,
            max_size: 1 << 20,
            max_object: 1024,
            key: CacheKey { ..KEY },
            default_ttl: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            cache_authorized: false,
        }))
    }

    fn request(method: Method, path: &str, headers: &[(&'static str, &'static str)]) -> Request {
        let mut builder = http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(RequestBody::full(Bytes::new())).unwrap()
    }

    fn cx() -> Cx {
        Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        )
    }

    fn upstream(
        status: u16,
        body: &'static str,
        headers: &[(&'static str, &'static str)],
    ) -> Response {
        let mut response = crate::respond(status, body);
        for (name, value) in headers {
            response
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        response
    }

    /// The request step: the ticket, or the cache's answer.
    async fn ask(cache: &Cache, mut req: Request) -> (Result<CacheTicket, Response>, Request) {
        let step = cache.lookup(&mut req, &cx()).await;
        (step, req)
    }

    /// Sends `req` through the cache to an upstream answering `answer`; returns the answer
    /// the client gets, its body read to the end, and the request as it went upstream.
    async fn through(
        cache: &Cache,
        req: Request,
        answer: impl FnOnce() -> Response,
    ) -> (Response, Bytes, Option<Request>) {
        let (step, req) = ask(cache, req).await;
        let (mut response, sent) = match step {
            Ok(ticket) => {
                let mut response = answer();
                cache.response(ticket, &mut response);
                (response, Some(req))
            }
            Err(response) => (response, None),
        };
        let body = std::mem::take(response.body_mut());
        let bytes = body.collect().await.unwrap().to_bytes();
        (response, bytes, sent)
    }

    fn x_cache(response: &Response) -> &str {
        response.headers()[X_CACHE].to_str().unwrap()
    }

    #[tokio::test]
    async fn a_fresh_answer_is_served_from_the_cache_with_its_age() {
        let cache = Cache::new(spec("fresh"), &Caches::new());
        let fresh = || upstream(200, "hello", &[("cache-control", "max-age=60")]);
        let (first, body, sent) = through(&cache, request(Method::GET, "/a?x=1", &[]), fresh).await;
        assert_eq!((x_cache(&first), &body[..]), ("MISS", &b"hello"[..]));
        assert!(sent.is_some());
        let (second, body, sent) =
            through(&cache, request(Method::GET, "/a?x=1", &[]), fresh).await;
        assert!(sent.is_none(), "answered from the cache");
        assert_eq!((x_cache(&second), &body[..]), ("HIT", &b"hello"[..]));
        assert_eq!(second.headers()[AGE], "0");
        assert_eq!(second.headers()[CACHE_CONTROL], "max-age=60");
        // Another query is another key; HEAD is answered from GET's answer.
        let (_, _, sent) = through(&cache, request(Method::GET, "/a?x=2", &[]), fresh).await;
        assert!(sent.is_some());
        let (head, _, sent) = through(&cache, request(Method::HEAD, "/a?x=1", &[]), fresh).await;
        assert!(sent.is_none());
        assert_eq!(x_cache(&head), "HIT");
        // A client's own validator that matches gets a 304 from the cache.
        let etagged = || {
            upstream(
                200,
                "tagged",
                &[("cache-control", "max-age=60"), ("etag", "\"t1\"")],
            )
        };
        through(&cache, request(Method::GET, "/tagged", &[]), etagged).await;
        let conditional = request(Method::GET, "/tagged", &[("if-none-match", "\"t1\"")]);
        let (not_modified, body, sent) = through(&cache, conditional, etagged).await;
        assert!(sent.is_none());
        assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(not_modified.headers()[ETAG], "\"t1\"");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_ages_with_the_clock_and_goes_upstream_once_stale() {
        let cache = Cache::new(spec("ageing"), &Caches::new());
        let fresh = || upstream(200, "hello", &[("cache-control", "max-age=60")]);
        through(&cache, request(Method::GET, "/aged", &[]), fresh).await;
        tokio::time::advance(Duration::from_secs(30)).await;
        let (hit, _, sent) = through(&cache, request(Method::GET, "/aged", &[]), fresh).await;
        assert!(sent.is_none(), "fresh for 60 s");
        assert_eq!(hit.headers()[AGE], "30");
        tokio::time::advance(Duration::from_secs(31)).await;
        let (_, _, sent) = through(&cache, request(Method::GET, "/aged", &[]), fresh).await;
        assert!(sent.is_some(), "stale after 60 s: asked upstream again");
    }

    #[tokio::test]
    async fn what_must_not_be_stored_always_goes_upstream() {
        let cache = Cache::new(spec("never"), &Caches::new());
        let cases: [(&str, Headers, Headers); 5] = [
            (
                "/no-store",
                &[],
                &[("cache-control", "no-store, max-age=60")],
            ),
            ("/private", &[], &[("cache-control", "private, max-age=60")]),
            (
                "/cookie",
                &[],
                &[("cache-control", "max-age=60"), ("set-cookie", "a=1")],
            ),
            ("/none", &[], &[]),
            (
                "/auth",
                &[("authorization", "Bearer x")],
                &[("cache-control", "public, max-age=60")],
            ),
        ];
        for (path, asked, answered) in cases {
            for _ in 0..2 {
                let (response, _, sent) =
                    through(&cache, request(Method::GET, path, asked), || {
                        upstream(200, "x", answered)
                    })
                    .await;
                assert!(sent.is_some(), "{path} was answered from the cache");
                assert_ne!(x_cache(&response), "HIT");
            }
        }
        let (post, _, sent) = through(&cache, request(Method::POST, "/none", &[]), || {
            upstream(200, "x", &[("cache-control", "max-age=60")])
        })
        .await;
        assert!(sent.is_some());
        assert_eq!(x_cache(&post), "BYPASS");
    }

    #[tokio::test]
    async fn an_answer_larger_than_max_object_is_not_stored() {
        let cache = Cache::new(spec("large"), &Caches::new());
        let big: &'static str = Box::leak("x".repeat(2000).into_boxed_str());
        for _ in 0..2 {
            let (_, body, sent) = through(&cache, request(Method::GET, "/big", &[]), || {
                upstream(200, big, &[("cache-control", "max-age=60")])
            })
            .await;
            assert!(sent.is_some());
            assert_eq!(body.len(), 2000, "the client gets all of it");
        }
    }

    #[tokio::test]
    async fn concurrent_misses_wait_for_the_first() {
        let cache = Cache::new(spec("burst"), &Caches::new());
        let (leader, _) = ask(&cache, request(Method::GET, "/burst", &[])).await;
        let Ok(ticket) = leader else {
            panic!("the first request goes upstream");
        };
        let waiter = ask(&cache, request(Method::GET, "/burst", &[]));
        tokio::pin!(waiter);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiter)
                .await
                .is_err(),
            "the second request waits"
        );
        let mut response = upstream(200, "once", &[("cache-control", "max-age=60")]);
        cache.response(ticket, &mut response);
        // The waiter is answered once the leader's body has been stored.
        response.into_body().collect().await.unwrap();
        let (answered, _) = waiter.await;
        let Err(hit) = answered else {
            panic!("the waiter went upstream");
        };
        assert_eq!(x_cache(&hit), "HIT");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_go_upstream_when_the_answer_cannot_be_stored() {
        let cache = Arc::new(Cache::new(spec("dynamic"), &Caches::new()));
        let (leader, _) = ask(&cache, request(Method::GET, "/dynamic", &[])).await;
        let Ok(ticket) = leader else {
            panic!("the first request goes upstream");
        };
        let waiting = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let mut req = request(Method::GET, "/dynamic", &[]);
                cache.lookup(&mut req, &cx()).await.is_ok()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second request waits");
        let mut response = upstream(200, "dynamic", &[("cache-control", "no-store")]);
        cache.response(ticket, &mut response);
        assert!(waiting.await.unwrap(), "the waiter goes upstream");
        // Later requests for it do not wait at all.
        let (first, _) = ask(&cache, request(Method::GET, "/dynamic", &[])).await;
        let (second, _) = ask(&cache, request(Method::GET, "/dynamic", &[])).await;
        assert!(first.is_ok() && second.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_revalidation_others_waited_for_answers_them_too() {
        let cache = Arc::new(Cache::new(spec("no_cache"), &Caches::new()));
        let always = || {
            upstream(
                200,
                "v1",
                &[("cache-control", "no-cache"), ("etag", "\"v1\"")],
            )
        };
        through(&cache, request(Method::GET, "/n", &[]), always).await;
        let (leader, sent) = ask(&cache, request(Method::GET, "/n", &[])).await;
        assert_eq!(
            sent.headers()[IF_NONE_MATCH],
            "\"v1\"",
            "no-cache: validated each time"
        );
        let waiting = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let mut req = request(Method::GET, "/n", &[]);
                cache.lookup(&mut req, &cx()).await.err()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut not_modified = upstream(304, "", &[("cache-control", "no-cache")]);
        cache.response(leader.ok().unwrap(), &mut not_modified);
        assert_eq!(x_cache(&not_modified), "REVALIDATED");
        let answered = waiting.await.unwrap().expect("answered from the cache");
        assert_eq!(x_cache(&answered), "HIT");
    }

    #[tokio::test]
    async fn stale_answers_are_revalidated_and_stand_in_for_errors() {
        let cache = Cache::new(spec("stale"), &Caches::new());
        let tagged = || {
            upstream(
                200,
                "v1",
                &[("cache-control", "max-age=0"), ("etag", "\"v1\"")],
            )
        };
        through(&cache, request(Method::GET, "/r", &[]), tagged).await;
        // Stale at once: revalidated with its ETag; a 304 refreshes it.
        let not_modified = || upstream(304, "", &[("cache-control", "max-age=60")]);
        let (revalidated, body, sent) =
            through(&cache, request(Method::GET, "/r", &[]), not_modified).await;
        assert_eq!(sent.unwrap().headers()[IF_NONE_MATCH], "\"v1\"");
        assert_eq!(revalidated.status(), StatusCode::OK);
        assert_eq!(
            (x_cache(&revalidated), &body[..]),
            ("REVALIDATED", &b"v1"[..])
        );
        assert_eq!(revalidated.headers()[CACHE_CONTROL], "max-age=60");
        let (hit, _, sent) = through(&cache, request(Method::GET, "/r", &[]), tagged).await;
        assert!(sent.is_none());
        assert_eq!(x_cache(&hit), "HIT");

        let lasting = || {
            upstream(
                200,
                "old",
                &[("cache-control", "max-age=0, stale-if-error=60")],
            )
        };
        through(&cache, request(Method::GET, "/e", &[]), lasting).await;
        let (stale, body, sent) = through(&cache, request(Method::GET, "/e", &[]), || {
            upstream(503, "down", &[])
        })
        .await;
        assert!(sent.is_some());
        assert_eq!((x_cache(&stale), &body[..]), ("STALE", &b"old"[..]));
        assert_eq!(stale.status(), StatusCode::OK);

        let revalidating = || {
            upstream(
                200,
                "swr",
                &[("cache-control", "max-age=0, stale-while-revalidate=60")],
            )
        };
        through(&cache, request(Method::GET, "/w", &[]), revalidating).await;
        let (first, _) = ask(&cache, request(Method::GET, "/w", &[])).await;
        assert!(first.is_ok(), "one request revalidates");
        let (second, _) = ask(&cache, request(Method::GET, "/w", &[])).await;
        let Err(stale) = second else {
            panic!("the others are answered at once");
        };
        assert_eq!(x_cache(&stale), "STALE");
    }
}
