//! `rate_limit`: caps how often one client (or consumer, claim, header value, or the whole
//! route) may call a route, answering 429 past the cap.
//!
//! Each key has a bucket of `burst` requests that refills continuously at `rate`: from idle,
//! `burst` requests pass at once, then the sustained rate. Two algorithms give the same
//! decisions with different state:
//!
//! - `TokenBucket` keeps the credit left and when it was last updated. Credit is counted in
//!   nanoseconds: one request costs the emission interval `T = per / count` (rounded down to
//!   a whole nanosecond, at least 1) and the bucket holds `burst · T`.
//! - `Gcra` (generic cell rate algorithm, virtual scheduling) keeps one theoretical arrival
//!   time (TAT) per key. A request at `now` passes when `max(TAT, now) - now ≤ (burst - 1) · T`
//!   and then moves TAT on by `T`, so `burst` requests pass at once from idle.
//!
//! A key is the client's IP (an IPv4-mapped IPv6 address counts as the IPv4 address; an IPv6
//! client counts by its network, a /64 unless `ipv6_prefix` says otherwise, since one
//! subscriber holds a whole /64 and could otherwise take a new key per request), a header's
//! value, a claim of the verified token (a string or a number), the consumer, or one key for
//! the whole route. When the header, claim or consumer is absent (or empty), the client's IP
//! is the key instead, so unauthenticated callers are still limited one by one. A text key is
//! kept as a 128-bit digest (two keyed hashes with seeds drawn at start-up), so a key costs
//! the same few bytes whatever the length of the header a client sends.
//!
//! State is shared by every worker: a power-of-two number of shards (up to 32, at most
//! `max_keys`), each a map behind its own mutex, picked by the key's hash; a lookup holds one
//! shard's lock for a few comparisons, and an IP key is not allocated. At most `max_keys` keys
//! are tracked: each shard holds at most `max_keys / shards`. When a new key finds its shard
//! full, keys whose bucket is full again are forgotten first (that changes no decision); if
//! that leaves the shard more than three quarters full, the keys whose bucket will be full
//! soonest are forgotten down to three quarters (found by sampling 32 keys). Those are the
//! keys forgetting forgives least: a one-off key seen a moment ago goes before a busy key
//! last seen a little earlier, where least-recently-seen would do the opposite. This costs
//! two passes over one shard once per quarter-shard of new keys. Keys whose bucket is full
//! again are also swept from a shard once a minute at most, when a request meets it, so idle
//! keys leave with time and not only under pressure.
//!
//! The answers to requests the policy counted carry `RateLimit-Limit` (the burst),
//! `RateLimit-Remaining` (requests that would pass right now) and `RateLimit-Reset` (seconds
//! until the bucket is full), after the IETF httpapi rate-limit headers draft, replacing any
//! the upstream sent; a 429 also carries `Retry-After` (whole seconds, at least 1).

mod global;

use std::{
    borrow::Cow,
    collections::{hash_map::Entry, HashMap},
    future::Future,
    net::IpAddr,
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use http::{
    header::{HeaderName, HeaderValue, RETRY_AFTER},
    HeaderMap,
};

use crate::{
    clock::{self, Nanos},
    respond,
    store::{Decided, StoreSpec, Stores},
    Caller, Cx, LoadError, Policy, Request, Response,
};

/// A `rate_limit` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct RateLimitSpec {
    pub name: &'static str,
    /// What one bucket is for.
    pub key: LimitKey,
    /// The sustained rate; a `count` of 0 counts as 1.
    pub rate: Rate,
    /// Requests that may pass at once from idle; 0 counts as 1.
    pub burst: u32,
    pub algorithm: LimitAlgorithm,
    /// The most keys tracked at once; 0 counts as 1.
    pub max_keys: u32,
    /// How many leading bits of an IPv6 client address make its key (1 to 128; 64 by
    /// default, one subscriber's network).
    pub ipv6_prefix: u8,
    /// The store the buckets are kept in, shared with the other proxies that use it; `None`:
    /// in this process only.
    pub store: Option<&'static StoreSpec>,
    /// What a request gets when the store does not answer in time.
    pub on_store_error: OnStoreError,
}

/// What a request gets when its limit's store does not answer in time (or at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// This process's own bucket decides, with the policy's rate (the default).
    Local,
    /// The request passes.
    Allow,
    /// The request gets `503`.
    Deny,
}

impl RateLimitSpec {
    /// The IPv6 prefix length clients are keyed by when the config does not say.
    pub const IPV6_PREFIX: u8 = 64;
}

/// What a bucket is for. `Header`, `Claim` and `Consumer` fall back to the client's IP when
/// the request has no such value.
#[derive(Debug, Clone)]
pub enum LimitKey {
    /// The client's IP address.
    ClientIp,
    /// The value of a request header.
    Header(HeaderName),
    /// A claim of the caller's verified token, rendered when it is a string or a number.
    Claim(&'static str),
    /// The caller's consumer name.
    Consumer,
    /// One bucket shared by every request of the route.
    Route,
}

/// `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// How buckets are kept; both give the same decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAlgorithm {
    TokenBucket,
    Gcra,
}

/// The `rate_limit` policy.
pub struct RateLimit {
    spec: &'static RateLimitSpec,
    /// The buckets of this process: all of them without a store, the fallback with one.
    limiter: Limiter,
    /// The buckets in the store, when the policy names one.
    global: Option<Arc<global::Global>>,
    /// The two keyed hashes a text key is kept as.
    digests: [ahash::RandomState; 2],
    /// `RateLimit-Limit`, the burst.
    limit: HeaderValue,
    numbers: Numbers,
}

/// What the request step hands to the response step: the quota left after the request.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    remaining: u64,
    /// Seconds until the bucket is full.
    reset: u64,
}

/// A request over the limit.
#[derive(Debug, Clone, Copy)]
struct Limited {
    quota: Quota,
    /// Whole seconds, at least 1.
    retry_after: u64,
}

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The most shards a limiter splits its keys over.
const MAX_SHARDS: u32 = 32;

const SECOND: Nanos = 1_000_000_000;

impl RateLimit {
    /// The policy of `spec`, as the instance `instance` (the policy's name, or
    /// `POLICY_ROUTE` for a limit keyed by route, each route's bucket its own); with a store,
    /// the store started in `stores` (its password read: a missing one is the error), the
    /// instance's buckets named after it there.
    pub fn load(
        spec: &'static RateLimitSpec,
        instance: &str,
        stores: &Stores,
    ) -> Result<RateLimit, LoadError> {
        let mut limit = RateLimit::local(spec);
        if let Some(store) = spec.store {
            let store = stores.get(store)?;
            limit.global = Some(Arc::new(global::Global::new(
                store,
                instance,
                spec.burst.max(1),
                spec.max_keys.max(1),
            )));
        }
        Ok(limit)
    }

    fn local(spec: &'static RateLimitSpec) -> RateLimit {
        let params = Params::new(spec.rate, spec.burst);
        let max_keys = spec.max_keys.max(1);
        // A power of two no larger than `max_keys`, so every shard holds at least one key and
        // all of them together at most `max_keys`.
        let shards = 1 << (max_keys.min(MAX_SHARDS).ilog2());
        let limiter = match spec.algorithm {
            LimitAlgorithm::TokenBucket => {
                Limiter::TokenBucket(Table::new(params, max_keys, shards))
            }
            LimitAlgorithm::Gcra => Limiter::Gcra(Table::new(params, max_keys, shards)),
        };
        let burst = u64::from(spec.burst.max(1));
        RateLimit {
            spec,
            limiter,
            global: None,
            digests: [ahash::RandomState::new(), ahash::RandomState::new()],
            limit: HeaderValue::from(burst),
            numbers: Numbers::new(burst.max(params.capacity.div_ceil(SECOND))),
        }
    }

    /// Waits for another request's answer about `key`, then decides from it; `Err` when this
    /// request must ask the store itself (it is then the one asking).
    async fn wait<'g>(
        &self,
        global: &'g Arc<global::Global>,
        key: Key,
        material: &Material<'_>,
        now: Nanos,
    ) -> Result<Decision, (Nanos, global::Asking<'g>)> {
        let params = self.limiter.params();
        let mut now = now;
        loop {
            let mut answered = pin!(global.answered(key).notified());
            answered.as_mut().enable();
            match global.held(key, now, params) {
                global::Local::Decided(decision) => return Ok(decision),
                global::Local::Refill(decision) => {
                    global.refill(key, global.name(material), *params);
                    return Ok(decision);
                }
                global::Local::Ask(asking) => return Err((now, asking)),
                global::Local::Wait => {
                    // The asking request answers within the store's deadline, or wakes the
                    // waiters when it goes away without an answer.
                    answered.await;
                    now = clock::now();
                }
            }
        }
    }

    /// The request step at time `now`, in this process only: the quota left, or how long to
    /// wait.
    #[cfg(test)]
    fn check(&self, req: &Request, cx: &Cx, now: Nanos) -> Result<Quota, Limited> {
        self.judge(self.limiter.take(self.key(req, cx), now))
    }

    /// The quota left after `decision`, or how long to wait.
    fn judge(&self, decision: Decision) -> Result<Quota, Limited> {
        let params = self.limiter.params();
        let quota = Quota {
            remaining: decision.credit / params.interval,
            reset: (params.capacity - decision.credit).div_ceil(SECOND),
        };
        if decision.allowed {
            Ok(quota)
        } else {
            Err(Limited {
                quota,
                retry_after: (params.interval - decision.credit).div_ceil(SECOND).max(1),
            })
        }
    }

    /// The decision for `key` with the store: from what this process holds (after waiting
    /// for another request's round trip, if one is under way), else by a round trip, else by
    /// `on_store_error`.
    async fn decide<'g>(
        &self,
        global: &'g Arc<global::Global>,
        step: Step<'g>,
    ) -> Result<Decision, Response> {
        let (key, material, now, asking) = match step {
            Step::Decided(decision) => return Ok(decision),
            Step::Refill(decision, key, name) => {
                global.refill(key, name, *self.limiter.params());
                return Ok(decision);
            }
            Step::Ask(key, material, now, asking) => (key, material, now, asking),
            Step::Wait(key, material, now) => match self.wait(global, key, &material, now).await {
                Ok(decision) => {
                    global.decided(Decided::Batch);
                    return Ok(decision);
                }
                Err((now, asking)) => (key, material, now, asking),
            },
        };
        let params = self.limiter.params();
        match global.ask(asking, &material, now, params).await {
            Ok(decision) => {
                global.decided(Decided::Store);
                Ok(decision)
            }
            Err(_) => {
                global.decided(Decided::Fallback);
                match self.spec.on_store_error {
                    OnStoreError::Local => Ok(self.limiter.take(key, now)),
                    OnStoreError::Allow => Ok(Decision {
                        allowed: true,
                        credit: params.capacity - params.interval,
                    }),
                    OnStoreError::Deny => {
                        let mut response = respond(503, "503 Service Unavailable\n");
                        response
                            .headers_mut()
                            .insert(RETRY_AFTER, self.numbers.get(1));
                        Err(response)
                    }
                }
            }
        }
    }

    /// The 429 for a limited request.
    fn too_many(&self, limited: Limited) -> Response {
        let mut response = respond(429, "429 Too Many Requests\n");
        let headers = response.headers_mut();
        headers.insert(RETRY_AFTER, self.numbers.get(limited.retry_after));
        self.stamp(limited.quota, headers);
        response
    }

    /// What the request's bucket is for: the header's, claim's or consumer's value, else the
    /// client's network.
    fn material<'r>(&self, req: &'r Request, cx: &Cx) -> Material<'r> {
        let text: Option<Cow<'r, [u8]>> = match &self.spec.key {
            LimitKey::Route => return Material::Route,
            LimitKey::ClientIp => None,
            LimitKey::Header(name) => req
                .headers()
                .get(name)
                .map(|value| Cow::Borrowed(value.as_bytes())),
            LimitKey::Claim(claim) => Caller::of(req)
                .and_then(|caller| caller.claims.as_ref())
                .and_then(|claims| match claims.get(*claim)? {
                    serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_bytes())),
                    serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string().into_bytes())),
                    _ => None,
                }),
            LimitKey::Consumer => Caller::of(req)
                .and_then(|caller| caller.consumer.as_deref())
                .map(|consumer| Cow::Borrowed(consumer.as_bytes())),
        };
        match text {
            Some(text) if !text.is_empty() => Material::Text(text),
            _ => Material::Ip(network(cx.client().ip(), self.spec.ipv6_prefix)),
        }
    }

    fn key(&self, req: &Request, cx: &Cx) -> Key {
        self.key_of(&self.material(req, cx))
    }

    fn key_of(&self, material: &Material<'_>) -> Key {
        match material {
            Material::Ip(ip) => Key::Ip(*ip),
            Material::Text(text) => self.digest(text),
            Material::Route => Key::Route,
        }
    }

    /// The key of a text value.
    fn digest(&self, text: &[u8]) -> Key {
        let [first, second] = &self.digests;
        Key::Digest([first.hash_one(text), second.hash_one(text)])
    }

    fn stamp(&self, quota: Quota, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, self.limit.clone());
        headers.insert(RATELIMIT_REMAINING, self.numbers.get(quota.remaining));
        headers.insert(RATELIMIT_RESET, self.numbers.get(quota.reset));
    }
}

impl Policy for RateLimit {
    type Ticket = Quota;

    fn request(
        &self,
        req: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<Quota, Response>> + Send {
        let now = clock::now();
        let step = match &self.global {
            None => Step::Decided(self.limiter.take(self.key(req, cx), now)),
            Some(global) => {
                let material = self.material(req, cx);
                let key = self.key_of(&material);
                match global.held(key, now, self.limiter.params()) {
                    global::Local::Decided(decision) => {
                        global.decided(Decided::Batch);
                        Step::Decided(decision)
                    }
                    global::Local::Refill(decision) => {
                        global.decided(Decided::Batch);
                        Step::Refill(decision, key, global.name(&material))
                    }
                    global::Local::Wait => Step::Wait(key, material.into_owned(), now),
                    global::Local::Ask(asking) => {
                        Step::Ask(key, material.into_owned(), now, asking)
                    }
                }
            }
        };
        let client = cx.client();
        async move {
            let decision = match &self.global {
                Some(global) => self.decide(global, step).await?,
                None => match step {
                    Step::Decided(decision) | Step::Refill(decision, ..) => decision,
                    Step::Ask(key, _, now, _) | Step::Wait(key, _, now) => {
                        self.limiter.take(key, now)
                    }
                },
            };
            self.judge(decision).map_err(|limited| {
                tracing::debug!(policy = self.spec.name, %client, "rate limited");
                self.too_many(limited)
            })
        }
    }

    fn response(&self, quota: Quota, resp: &mut Response) {
        self.stamp(quota, resp.headers_mut());
    }
}

/// Header values for the numbers `0..=n` (at most [`Numbers::MAX`]), made once so answers
/// only clone them.
struct Numbers(Box<[HeaderValue]>);

impl Numbers {
    const MAX: u64 = 1024;

    fn new(n: u64) -> Numbers {
        Numbers((0..=n.min(Numbers::MAX)).map(HeaderValue::from).collect())
    }

    fn get(&self, n: u64) -> HeaderValue {
        usize::try_from(n)
            .ok()
            .and_then(|i| self.0.get(i))
            .cloned()
            .unwrap_or_else(|| HeaderValue::from(n))
    }
}

/// What a request's bucket is for, before it is made a [`Key`] (or, with a store, a name).
#[derive(Debug, Clone)]
enum Material<'r> {
    Ip(IpAddr),
    Text(Cow<'r, [u8]>),
    Route,
}

impl Material<'_> {
    fn into_owned(self) -> Material<'static> {
        match self {
            Material::Ip(ip) => Material::Ip(ip),
            Material::Text(text) => Material::Text(Cow::Owned(text.into_owned())),
            Material::Route => Material::Route,
        }
    }
}

/// Where a request's decision stands before anything is awaited.
enum Step<'g> {
    Decided(Decision),
    /// Decided from a batch running low: the next one is asked for (in the background) once
    /// the request's future runs, on a runtime. The key and its name in the store.
    Refill(Decision, Key, String),
    /// The store must be asked about this key (this request is the one asking).
    Ask(Key, Material<'static>, Nanos, global::Asking<'g>),
    /// Another request is asking the store about this key: wait for its answer.
    Wait(Key, Material<'static>, Nanos),
}

/// What a bucket is for, as stored: a fixed size, so no key allocates and every key costs the
/// same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// An IPv4 address, or an IPv6 network.
    Ip(IpAddr),
    /// A text value's two keyed hashes.
    Digest([u64; 2]),
    Route,
}

/// The address a client is keyed by: IPv4 as is (IPv4-mapped IPv6 included), IPv6 cut to its
/// first `prefix` bits.
fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u32::from(prefix.clamp(1, 128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// How often a shard forgets the keys whose bucket is full again, at most.
const SWEEP_EVERY: Nanos = 60 * SECOND;

/// The bucket's shape in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Params {
    /// The emission interval `T`: what one request costs.
    interval: Nanos,
    /// `burst · T`: a full bucket.
    capacity: Nanos,
}

impl Params {
    fn new(rate: Rate, burst: u32) -> Params {
        let interval = (clock::nanos(rate.per) / u64::from(rate.count.max(1))).max(1);
        Params {
            interval,
            capacity: interval.saturating_mul(u64::from(burst.max(1))),
        }
    }
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy)]
struct Decision {
    allowed: bool,
    /// The credit left after the request, in nanoseconds, at most the capacity: the bucket is
    /// full in `capacity - credit` and the next request passes in `interval - credit`.
    credit: Nanos,
}

/// One way of keeping a bucket.
trait Algorithm {
    type State: Send;

    /// A full bucket at `now`.
    fn full(params: &Params, now: Nanos) -> Self::State;

    /// Takes one request out of `state` at `now`, if there is credit for it.
    fn take(params: &Params, state: &mut Self::State, now: Nanos) -> Decision;

    /// When the bucket is (or was) full again: from then on, forgetting it changes nothing.
    fn full_at(params: &Params, state: &Self::State) -> Nanos;
}

struct TokenBucket;

struct Bucket {
    credit: Nanos,
    at: Nanos,
}

impl Algorithm for TokenBucket {
    type State = Bucket;

    fn full(params: &Params, now: Nanos) -> Bucket {
        Bucket {
            credit: params.capacity,
            at: now,
        }
    }

    fn take(params: &Params, bucket: &mut Bucket, now: Nanos) -> Decision {
        let elapsed = now.saturating_sub(bucket.at);
        let mut credit = bucket.credit.saturating_add(elapsed).min(params.capacity);
        let allowed = credit >= params.interval;
        if allowed {
            credit -= params.interval;
        }
        bucket.credit = credit;
        bucket.at = bucket.at.max(now);
        Decision { allowed, credit }
    }

    fn full_at(params: &Params, bucket: &Bucket) -> Nanos {
        bucket
            .at
            .saturating_add(params.capacity.saturating_sub(bucket.credit))
    }
}

struct Gcra;

impl Algorithm for Gcra {
    /// The theoretical arrival time.
    type State = Nanos;

    fn full(_: &Params, now: Nanos) -> Nanos {
        now
    }

    fn take(params: &Params, tat: &mut Nanos, now: Nanos) -> Decision {
        let tolerance = params.capacity - params.interval;
        let mut next = (*tat).max(now);
        let allowed = next - now <= tolerance;
        if allowed {
            next = next.saturating_add(params.interval);
            *tat = next;
        }
        Decision {
            allowed,
            credit: params.capacity.saturating_sub(next - now),
        }
    }

    fn full_at(_: &Params, tat: &Nanos) -> Nanos {
        *tat
    }
}

enum Limiter {
    TokenBucket(Table<TokenBucket>),
    Gcra(Table<Gcra>),
}

impl Limiter {
    fn take(&self, key: Key, now: Nanos) -> Decision {
        match self {
            Limiter::TokenBucket(table) => table.take(key, now),
            Limiter::Gcra(table) => table.take(key, now),
        }
    }

    fn params(&self) -> &Params {
        match self {
            Limiter::TokenBucket(table) => &table.params,
            Limiter::Gcra(table) => &table.params,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Limiter::TokenBucket(table) => table.len(),
            Limiter::Gcra(table) => table.len(),
        }
    }
}

/// One shard's keys, and when its idle keys were last swept.
struct Shard<S> {
    keys: HashMap<Key, S, ahash::RandomState>,
    swept_at: Nanos,
}

/// The buckets of every key, sharded.
struct Table<A: Algorithm> {
    params: Params,
    /// Picks a key's shard; each shard's map hashes with its own seed.
    hasher: ahash::RandomState,
    shards: Box<[Mutex<Shard<A::State>>]>,
    /// The most keys one shard holds.
    per_shard: usize,
}

impl<A: Algorithm> Table<A> {
    /// A table of at most `max_keys` keys over `shards` shards (a power of two, at most
    /// `max_keys`).
    fn new(params: Params, max_keys: u32, shards: u32) -> Table<A> {
        Table {
            params,
            hasher: ahash::RandomState::new(),
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        keys: HashMap::with_hasher(ahash::RandomState::new()),
                        swept_at: clock::now(),
                    })
                })
                .collect(),
            per_shard: usize::try_from(max_keys / shards)
                .unwrap_or(usize::MAX)
                .max(1),
        }
    }

    fn take(&self, key: Key, now: Nanos) -> Decision {
        let index = self.hasher.hash_one(key) as usize & (self.shards.len() - 1);
        let mut guard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let shard = &mut *guard;
        if now.saturating_sub(shard.swept_at) >= SWEEP_EVERY {
            shard.swept_at = now;
            let params = &self.params;
            shard
                .keys
                .retain(|_, state| A::full_at(params, state) > now);
        }
        let shard = &mut shard.keys;
        let full = shard.len() >= self.per_shard;
        let entry = match shard.entry(key) {
            Entry::Occupied(mut entry) => return A::take(&self.params, entry.get_mut(), now),
            Entry::Vacant(entry) => entry,
        };
        let mut state = A::full(&self.params, now);
        let decision = A::take(&self.params, &mut state, now);
        if full {
            let key = entry.into_key();
            self.evict(shard, now);
            shard.insert(key, state);
        } else {
            entry.insert(state);
        }
        decision
    }

    /// Makes room in a full shard: forgets the keys whose bucket is full, then, if less than
    /// a quarter of the shard is free, the keys closest to a full bucket.
    fn evict(&self, shard: &mut HashMap<Key, A::State, ahash::RandomState>, now: Nanos) {
        const SAMPLES: usize = 32;
        let keep = self.per_shard - (self.per_shard / 4).max(1);
        let stride = (shard.len() / SAMPLES).max(1);
        let mut samples = [0; SAMPLES];
        let (mut sampled, mut visited) = (0, 0);
        shard.retain(|_, state| {
            let full_at = A::full_at(&self.params, state);
            if full_at <= now {
                return false;
            }
            if visited % stride == 0 && sampled < SAMPLES {
                samples[sampled] = full_at;
                sampled += 1;
            }
            visited += 1;
            true
        });
        if shard.len() <= keep {
            return;
        }
        // `shard` is not empty, so at least one key was sampled, and the key holding the
        // smallest sample is at or under the threshold: at least one key goes.
        let samples = &mut samples[..sampled];
        samples.sort_unstable();
        let mut excess = shard.len() - keep;
        let threshold = samples[(sampled * excess / shard.len()).min(sampled - 1)];
        shard.retain(|_, state| {
            if excess > 0 && A::full_at(&self.params, state) <= threshold {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                shard.keys.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{host_name::HostName, RequestBody};
    use bytes::Bytes;
    use http::StatusCode;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MS: Nanos = 1_000_000;

    fn spec(algorithm: LimitAlgorithm, key: LimitKey, max_keys: u32) -> &'static RateLimitSpec {
        Box::leak(Box::new(RateLimitSpec {
            name: "limit",
            key,
            rate: Rate {
                count: 10,
                per: Duration::from_secs(1),
            },
            burst: 10,
            algorithm,
            max_keys,
            ipv6_prefix: RateLimitSpec::IPV6_PREFIX,
            store: None,
            on_store_error: OnStoreError::Local,
        }))
    }

    fn cx(client: &str) -> Cx {
        Cx::new(
            "web",
            client.parse().unwrap(),
            HeaderValue::from_static("-"),
            HostName::EMPTY,
            false,
        )
    }

    fn request() -> Request {
        http::Request::builder()
            .uri("/")
            .body(RequestBody::full(Bytes::new()))
            .unwrap()
    }

    fn ip(n: u32) -> Key {
        Key::Ip(IpAddr::V4(Ipv4Addr::from(n)))
    }

    /// How many of `n` requests of one key at `now` pass.
    fn passed<A: Algorithm>(table: &Table<A>, key: &Key, n: usize, now: Nanos) -> usize {
        (0..n).filter(|_| table.take(*key, now).allowed).count()
    }

    fn burst_then_rate<A: Algorithm>() {
        let table = Table::<A>::new(Params::new(spec_rate(), 10), 1000, 32);
        let key = ip(1);
        assert_eq!(passed(&table, &key, 30, 0), 10);
        // 10/s: one more every 100 ms, none in between.
        assert_eq!(passed(&table, &key, 5, 99 * MS), 0);
        assert_eq!(passed(&table, &key, 5, 100 * MS), 1);
        assert_eq!(passed(&table, &key, 5, 350 * MS), 2);
        // A second of quiet refills the whole burst, and no more.
        assert_eq!(passed(&table, &key, 30, 1400 * MS), 10);
        // Other keys have buckets of their own.
        assert_eq!(passed(&table, &ip(2), 30, 1400 * MS), 10);
    }

    fn spec_rate() -> Rate {
        Rate {
            count: 10,
            per: Duration::from_secs(1),
        }
    }

    #[test]
    fn token_bucket_lets_a_burst_through_then_the_rate() {
        burst_then_rate::<TokenBucket>();
    }

    #[test]
    fn gcra_lets_a_burst_through_then_the_rate() {
        burst_then_rate::<Gcra>();
    }

    #[test]
    fn both_algorithms_agree_on_credit() {
        let params = Params::new(spec_rate(), 10);
        let (bucket, gcra) = (
            Table::<TokenBucket>::new(params, 10, 1),
            Table::<Gcra>::new(params, 10, 1),
        );
        for now in [0, 0, 0, 30 * MS, 150 * MS, 151 * MS, 900 * MS, 5000 * MS] {
            let (a, b) = (bucket.take(Key::Route, now), gcra.take(Key::Route, now));
            assert_eq!((a.allowed, a.credit), (b.allowed, b.credit), "at {now}");
        }
    }

    #[test]
    fn thirty_at_once_gets_the_burst_then_429s_and_passes_again_a_second_later() {
        for algorithm in [LimitAlgorithm::TokenBucket, LimitAlgorithm::Gcra] {
            let limit = RateLimit::local(spec(algorithm, LimitKey::ClientIp, 1000));
            let (req, cx) = (request(), cx("192.0.2.7:4000"));
            let results: Vec<_> = (0..30).map(|_| limit.check(&req, &cx, 5 * MS)).collect();
            let passed = results.iter().filter(|r| r.is_ok()).count();
            assert!((10..=12).contains(&passed), "{passed} passed");
            let response = limit.too_many(results[29].unwrap_err());
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let headers = response.headers();
            assert_eq!(headers[RETRY_AFTER], "1");
            assert_eq!(headers[RATELIMIT_LIMIT], "10");
            assert_eq!(headers[RATELIMIT_REMAINING], "0");
            assert_eq!(headers[RATELIMIT_RESET], "1");
            let later: Vec<_> = (0..30).map(|_| limit.check(&req, &cx, 1005 * MS)).collect();
            assert_eq!(later.iter().filter(|r| r.is_ok()).count(), 10);
        }
    }

    #[test]
    fn passed_responses_carry_the_quota() {
        let limit = RateLimit::local(spec(LimitAlgorithm::Gcra, LimitKey::Route, 10));
        let (req, cx) = (request(), cx("192.0.2.7:4000"));
        limit.check(&req, &cx, 0).unwrap();
        let quota = limit.check(&req, &cx, 0).unwrap();
        let mut response = respond(200, "ok\n");
        limit.response(quota, &mut response);
        assert_eq!(response.headers()[RATELIMIT_LIMIT], "10");
        assert_eq!(response.headers()[RATELIMIT_REMAINING], "8");
        assert_eq!(response.headers()[RATELIMIT_RESET], "1");
        assert!(response.headers().get(RETRY_AFTER).is_none());
    }

    #[test]
    fn a_slow_rate_asks_to_retry_in_whole_seconds() {
        let spec = Box::leak(Box::new(RateLimitSpec {
            name: "slow",
            key: LimitKey::Route,
            rate: Rate {
                count: 1,
                per: Duration::from_secs(60),
            },
            burst: 2,
            algorithm: LimitAlgorithm::TokenBucket,
            max_keys: 1,
            ipv6_prefix: RateLimitSpec::IPV6_PREFIX,
            store: None,
            on_store_error: OnStoreError::Local,
        }));
        let limit = RateLimit::local(spec);
        let (req, cx) = (request(), cx("192.0.2.7:4000"));
        assert!(limit.check(&req, &cx, 0).is_ok());
        assert!(limit.check(&req, &cx, 0).is_ok());
        let response = limit.too_many(limit.check(&req, &cx, 500 * MS).unwrap_err());
        assert_eq!(response.headers()[RETRY_AFTER], "60");
        assert_eq!(response.headers()[RATELIMIT_RESET], "120");
    }

    #[test]
    fn keys_fall_back_to_the_client_ip_and_mapped_addresses_are_ipv4() {
        let header = RateLimit::local(spec(
            LimitAlgorithm::TokenBucket,
            LimitKey::Header(HeaderName::from_static("x-api-key")),
            100,
        ));
        let mut req = request();
        let v4 = cx("192.0.2.7:1");
        assert_eq!(
            header.key(&req, &v4),
            Key::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
        );
        let mapped = cx("[::ffff:192.0.2.7]:1");
        assert_eq!(header.key(&req, &mapped), header.key(&req, &v4));
        // An IPv6 client counts by its /64: another address of the network is the same key.
        let v6 = cx("[2001:db8::1]:1");
        assert_eq!(
            header.key(&req, &v6),
            Key::Ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)))
        );
        let same_network = cx("[2001:db8::ffff:1:2:3]:1");
        assert_eq!(header.key(&req, &same_network), header.key(&req, &v6));
        assert_ne!(
            header.key(&req, &cx("[2001:db8:0:1::1]:1")),
            header.key(&req, &v6)
        );
        req.headers_mut()
            .insert("x-api-key", HeaderValue::from_static("k1"));
        let k1 = header.key(&req, &v4);
        assert!(matches!(k1, Key::Digest(_)));
        assert_eq!(header.key(&req, &v6), k1);
        req.headers_mut()
            .insert("x-api-key", HeaderValue::from_static("k2"));
        assert_ne!(header.key(&req, &v4), k1);

        let claim = RateLimit::local(spec(LimitAlgorithm::Gcra, LimitKey::Claim("tier"), 100));
        let consumer = RateLimit::local(spec(LimitAlgorithm::Gcra, LimitKey::Consumer, 100));
        assert!(matches!(claim.key(&req, &v4), Key::Ip(_)));
        assert!(matches!(consumer.key(&req, &v4), Key::Ip(_)));
        let mut claims = serde_json::Map::new();
        claims.insert("tier".into(), serde_json::json!(3));
        req.extensions_mut().insert(Caller {
            consumer: Some("alice".into()),
            claims: Some(claims),
        });
        assert_eq!(claim.key(&req, &v4), claim.digest(b"3"));
        assert_eq!(consumer.key(&req, &v4), consumer.digest(b"alice"));
    }

    #[test]
    fn ipv6_networks_follow_the_prefix() {
        let ip: IpAddr = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff".parse().unwrap();
        let cases = [
            (128, "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"),
            (64, "2001:db8:aaaa:bbbb::"),
            (48, "2001:db8:aaaa::"),
            (1, "::"),
            (0, "::"),
        ];
        for (prefix, expected) in cases {
            assert_eq!(network(ip, prefix).to_string(), expected, "/{prefix}");
        }
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(network(v4, 64), v4);
    }

    #[test]
    fn idle_keys_are_swept_with_time() {
        let limit = RateLimit::local(spec(
            LimitAlgorithm::TokenBucket,
            LimitKey::ClientIp,
            10_000,
        ));
        let start = clock::now();
        for n in 0..1000 {
            assert!(limit.limiter.take(ip(n), start).allowed);
        }
        assert_eq!(limit.limiter.len(), 1000);
        // A minute later every bucket is full again: each shard a request meets forgets its
        // idle keys (a thousand new keys meet all 32 shards).
        let later = start + SWEEP_EVERY + 1;
        for n in 1000..2000 {
            assert!(limit.limiter.take(ip(n), later).allowed);
        }
        assert_eq!(limit.limiter.len(), 1000);
    }

    /// Sends one request from each of `keys` distinct IPs: the first half at one instant (none
    /// turns idle), the rest a microsecond apart (each turns idle 100 ms, 100,000 keys, later).
    fn flood(algorithm: LimitAlgorithm, keys: u32, max_keys: u32) {
        let limit = RateLimit::local(spec(algorithm, LimitKey::ClientIp, max_keys));
        let cap = usize::try_from(max_keys).unwrap();
        for n in 0..keys {
            let now = if n < keys / 2 { 0 } else { u64::from(n) * 1000 };
            assert!(limit.limiter.take(ip(n), now).allowed);
            if n % 4096 == 0 {
                assert!(limit.limiter.len() <= cap);
            }
        }
        let len = limit.limiter.len();
        assert!((cap / 2..=cap).contains(&len), "{len} keys kept");
    }

    #[test]
    fn a_million_keys_stay_within_max_keys() {
        flood(LimitAlgorithm::TokenBucket, 1_000_000, 10_000);
        // The eviction is the same code for both; GCRA's idea of idle is its own.
        flood(LimitAlgorithm::Gcra, 200_000, 1_000);
    }

    #[test]
    fn a_full_shard_forgets_idle_keys_first_then_those_closest_to_full() {
        let params = Params::new(spec_rate(), 10);
        let table = Table::<TokenBucket>::new(params, 100, 1);
        // A heavy key drains its bucket; a flood of one-off keys at the same instant must not
        // push it out.
        assert_eq!(passed(&table, &ip(0), 10, 0), 10);
        for n in 1..5000 {
            table.take(ip(n), 0);
            assert!(table.len() <= 100);
        }
        assert_eq!(passed(&table, &ip(0), 1, 0), 0);
        // 100 ms later every one-off key is full again: the next new key sweeps them all.
        table.take(ip(9999), 100 * MS);
        assert_eq!(table.len(), 2);
    }

    /// A limit of `burst` at 1 a minute (nothing refills during a test) kept in `redis`.
    fn stored(redis: &edge_testkit::RedisServer, burst: u32) -> &'static RateLimitSpec {
        stored_at(redis.url(), Duration::from_secs(1), burst)
    }

    /// A limit of `burst` at 1 a minute kept in the Redis at `url`, called within `timeout`.
    fn stored_at(url: String, timeout: Duration, burst: u32) -> &'static RateLimitSpec {
        let url: &'static str = Box::leak(url.into_boxed_str());
        stored_in(crate::store::StoreServers::Single(url), timeout, burst)
    }

    /// A limit of `burst` at 1 a minute kept in `servers`, called within `timeout`.
    fn stored_in(
        servers: crate::store::StoreServers,
        timeout: Duration,
        burst: u32,
    ) -> &'static RateLimitSpec {
        let store: &'static StoreSpec = Box::leak(Box::new(StoreSpec {
            name: "shared",
            servers,
            password: crate::store::StorePassword::None,
            timeout,
            prefix: "edge:test:",
        }));
        Box::leak(Box::new(RateLimitSpec {
            name: "limit",
            key: LimitKey::ClientIp,
            rate: Rate {
                count: 1,
                per: Duration::from_secs(60),
            },
            burst,
            algorithm: LimitAlgorithm::Gcra,
            max_keys: 1000,
            ipv6_prefix: RateLimitSpec::IPV6_PREFIX,
            store: Some(store),
            on_store_error: OnStoreError::Deny,
        }))
    }

    /// Of `n` requests from one client sent in turn through `limits`, how many pass.
    async fn through(limits: &[RateLimit], n: usize) -> usize {
        through_from(limits, n, "192.0.2.7:4000").await
    }

    /// Of `n` requests from `client` sent in turn through `limits`, how many pass.
    async fn through_from(limits: &[RateLimit], n: usize, client: &str) -> usize {
        let cx = cx(client);
        let mut passed = 0;
        for i in 0..n {
            let mut req = request();
            match limits[i % limits.len()].request(&mut req, &cx).await {
                Ok(_) => passed += 1,
                Err(response) => assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS),
            }
        }
        passed
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn two_processes_share_one_bucket_in_redis_exactly() {
        let redis = edge_testkit::RedisServer::start();
        let spec = stored(&redis, 20);
        block_on(async {
            // Each with its own stores: two processes, two connections.
            let limits = [
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
            ];
            assert_eq!(through(&limits, 60).await, 20);
            let figures = |limit: &RateLimit| {
                let global = limit.global.as_ref().unwrap();
                global.figures_for_tests()
            };
            // A burst of 20 is asked about request by request, and each refusal once.
            let [batch, store, fallback] = figures(&limits[0]);
            assert_eq!((batch + store, fallback), (30, 0));
            assert!(store >= 10, "{store}");
        });
    }

    #[test]
    fn a_busy_key_finds_its_next_batch_asked_for_in_the_background() {
        let redis = edge_testkit::RedisServer::start();
        let spec = stored(&redis, 800);
        block_on(async {
            let limit = RateLimit::load(spec, "limit", &Stores::default()).unwrap();
            let cx = cx("192.0.2.7:4000");
            for _ in 0..200 {
                assert!(limit.request(&mut request(), &cx).await.is_ok());
                // Time for a refill's round trip, as other requests would take.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let [batch, store, fallback] = limit.global.as_ref().unwrap().figures_for_tests();
            assert_eq!(
                (batch, store, fallback),
                (199, 1, 0),
                "only the first request waits for a round trip"
            );
        });
    }

    #[test]
    fn batches_never_let_more_through_than_the_bucket_holds() {
        let redis = edge_testkit::RedisServer::start();
        let spec = stored(&redis, 100);
        block_on(async {
            let limits = [
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
            ];
            assert_eq!(through(&limits, 300).await, 100);
            let [batch, store, _] = limits[0].global.as_ref().unwrap().figures_for_tests();
            assert!(
                batch > store,
                "most decisions need no round trip: {batch} {store}"
            );
        });
        // The key lasts only until its bucket would be full again.
        let client = redis::Client::open(redis.url()).unwrap();
        let mut connection = client.get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("edge:test:limit:*")
            .query(&mut connection)
            .unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&keys[0])
            .query(&mut connection)
            .unwrap();
        assert!(ttl > 0 && ttl <= 100 * 60_000 + 1, "{ttl}");
    }

    #[test]
    fn a_store_that_is_down_answers_by_on_store_error_at_once() {
        let mut redis = edge_testkit::RedisServer::start();
        let spec = stored(&redis, 5);
        redis.stop();
        block_on(async {
            let limit = RateLimit::load(spec, "limit", &Stores::default()).unwrap();
            let cx = cx("192.0.2.7:4000");
            for _ in 0..3 {
                let started = std::time::Instant::now();
                let refused = limit.request(&mut request(), &cx).await.unwrap_err();
                assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(refused.headers()[RETRY_AFTER], "1");
                assert!(started.elapsed() < Duration::from_secs(1));
            }
        });
    }

    /// A port in front of `redis` that lets each connection through only after `delay`: a
    /// slow handshake.
    fn slow_front(redis: &edge_testkit::RedisServer, delay: Duration) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (port, target) = (listener.local_addr().unwrap().port(), redis.addr());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let server = std::net::TcpStream::connect(target).unwrap();
                    let (mut client_in, mut server_out) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
                    let (mut server_in, mut client_out) = (server, client);
                    let _ = std::io::copy(&mut server_in, &mut client_out);
                });
            }
        });
        port
    }

    #[test]
    fn a_connection_slower_than_the_deadline_is_made_all_the_same() {
        let redis = edge_testkit::RedisServer::start();
        let port = slow_front(&redis, Duration::from_millis(100));
        let url = format!("redis://127.0.0.1:{port}/0");
        let spec = stored_at(url, Duration::from_millis(10), 20);
        block_on(async {
            let limit = RateLimit::load(spec, "limit", &Stores::default()).unwrap();
            let cx = cx("192.0.2.7:4000");
            // The first call gives up at its deadline; the connection is made meanwhile.
            let first = limit.request(&mut request(), &cx).await.unwrap_err();
            assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
            // After the rest, the store answers.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert!(limit.request(&mut request(), &cx).await.is_ok());
        });
    }

    #[test]
    fn a_cluster_keeps_each_bucket_on_the_node_of_its_slot() {
        let cluster = edge_testkit::RedisCluster::start();
        let nodes: Vec<&'static str> = cluster
            .urls()
            .into_iter()
            .map(|url| &*Box::leak(url.into_boxed_str()))
            .collect();
        let servers = crate::store::StoreServers::Cluster(Box::leak(nodes.into_boxed_slice()));
        let spec = stored_in(servers, Duration::from_secs(1), 5);
        block_on(async {
            let limits = [
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
            ];
            for client in 1..=30 {
                let client = format!("192.0.2.{client}:4000");
                assert_eq!(through_from(&limits, 12, &client).await, 5, "{client}");
            }
        });
        let keys = cluster.keys_per_node();
        assert_eq!(keys.iter().sum::<u64>(), 30);
        assert!(keys.iter().all(|&held| held > 0), "{keys:?}");
    }

    #[test]
    fn a_primary_behind_sentinel_is_followed_through_a_failover() {
        let redis = edge_testkit::RedisSentinel::start();
        let sentinel: &'static str = Box::leak(redis.url().into_boxed_str());
        let servers = crate::store::StoreServers::Sentinel {
            sentinels: Box::leak(Box::new([sentinel])),
            master: edge_testkit::RedisSentinel::MASTER,
            database: 0,
        };
        let spec = stored_in(servers, Duration::from_secs(1), 5);
        block_on(async {
            let limits = [
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
            ];
            assert_eq!(through_from(&limits, 12, "192.0.2.1:4000").await, 5);
            redis.failover();
            // The first calls of each process meet the old primary, now a replica
            // (`READONLY`): its store rests for a second, answering by the fallback (503
            // here), then asks the Sentinel again.
            let cx = cx("192.0.2.2:4000");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut fallbacks = 0;
            for limit in &limits {
                while let Err(response) = limit.request(&mut request(), &cx).await {
                    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                    fallbacks += 1;
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the new primary is not used"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            assert!(fallbacks >= 2, "the old primary answered a write");
            assert_eq!(through_from(&limits, 10, "192.0.2.2:4000").await, 3);
            // The first client's bucket came over with the replication.
            assert_eq!(through_from(&limits, 3, "192.0.2.1:4000").await, 0);
        });
        assert_eq!(
            redis.primary_port(),
            redis.second.port,
            "the Sentinel names the replica as the primary"
        );
    }

    #[test]
    fn concurrent_requests_of_a_key_wait_for_one_round_trip() {
        let redis = edge_testkit::RedisServer::start();
        let spec = stored(&redis, 1000);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            let limit: &'static RateLimit = Box::leak(Box::new(
                RateLimit::load(spec, "limit", &Stores::default()).unwrap(),
            ));
            // 320 requests at once, as from 320 connections: a batch is 32 (1000 / 25, at most 32).
            let requests: Vec<_> = (0..320)
                .map(|_| {
                    tokio::task::spawn_local(async move {
                        let cx = cx("192.0.2.7:4000");
                        limit.request(&mut request(), &cx).await.is_ok()
                    })
                })
                .collect();
            let mut passed = 0;
            for request in requests {
                passed += usize::from(request.await.unwrap());
            }
            assert_eq!(passed, 320);
            let [batch, store, fallback] = limit.global.as_ref().unwrap().figures_for_tests();
            assert_eq!((batch + store, fallback), (320, 0));
            assert!(
                store <= 12,
                "{store} round trips for 320 requests in batches of 32"
            );
        });
    }
}
