//! The cache's memory: stored answers in a moka cache bounded in bytes (TinyLFU admission,
//! per-entry expiry), the requests in flight that others wait for, and the list of caches the
//! admin listener purges and reports.
//!
//! Keys are bytes. Under a *base key* (the configured parts of the URL) lies a record: how the
//! answers for that URL vary (the header names of their `Vary`) with a generation number, or a
//! pass marker saying that URL's answers are not cacheable for now. Answers lie under *variant
//! keys*: the record's generation, the configured request headers' values, and the values of
//! the request headers the record's `Vary` names. Purging a URL removes its record; its
//! answers can then no longer be reached, and a new record gets a new generation, so they
//! never come back (they are evicted in time). An answer whose `Vary` differs from the record
//! replaces the record the same way.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use http::{
    header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED},
    HeaderMap, HeaderName, StatusCode, Uri,
};
use tokio::sync::watch;

use super::freshness::{http_date, Timing};
use super::CacheKey;
use crate::clock::{self, Nanos};
use crate::registry::Started;

pub(super) type Key = Box<[u8]>;

/// How long a URL whose answer could not be stored skips request coalescing (Varnish's
/// "hit-for-miss"): its requests go upstream at once instead of queueing behind one another.
/// An answer that can be stored ends it earlier.
const PASS_FOR: Duration = Duration::from_secs(30);

/// What a key holds.
#[derive(Clone)]
enum Stored {
    /// Under a base key: how its answers vary.
    Variants(Arc<Variants>),
    /// Under a base key: its last answer could not be stored.
    Pass,
    /// Under a variant key.
    Answer(Arc<Entry>),
}

struct Variants {
    generation: u64,
    vary: Box<[HeaderName]>,
}

/// Generations are unique in the process, so a variant key needs no base key.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A stored answer.
pub(crate) struct Entry {
    status: StatusCode,
    /// As received, without `Age`.
    headers: HeaderMap,
    body: Bytes,
    stored_at: Nanos,
    timing: Timing,
    /// When a request was let through to revalidate it while others get it stale; 0: never.
    claimed: AtomicU64,
}

/// What a stored answer is good for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    Fresh,
    /// Stale, but within its `stale-while-revalidate` window.
    WhileRevalidating,
    /// Must be validated (or fetched again) before use.
    Validate,
}

/// A revalidation claimed this long ago without an answer is handed to another request.
const CLAIM_FOR: Nanos = 30 * 1_000_000_000;

impl Entry {
    pub(super) fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        timing: Timing,
    ) -> Entry {
        Entry {
            status,
            headers,
            body,
            stored_at: clock::now(),
            timing,
            claimed: AtomicU64::new(0),
        }
    }

    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    pub(super) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(super) fn body(&self) -> &Bytes {
        &self.body
    }

    /// When it was stored (or last refreshed).
    pub(super) fn stored_at(&self) -> Nanos {
        self.stored_at
    }

    pub(super) fn timing(&self) -> Timing {
        self.timing
    }

    pub(super) fn age(&self, now: Nanos) -> Duration {
        let held = Duration::from_nanos(now.saturating_sub(self.stored_at));
        self.timing.initial_age.saturating_add(held)
    }

    pub(super) fn usable(&self, now: Nanos) -> Use {
        if self.timing.always_revalidate {
            return Use::Validate;
        }
        let age = self.age(now);
        if age < self.timing.lifetime {
            Use::Fresh
        } else if !self.timing.never_stale
            && age
                < self
                    .timing
                    .lifetime
                    .saturating_add(self.timing.stale_while_revalidate)
        {
            Use::WhileRevalidating
        } else {
            Use::Validate
        }
    }

    /// Whether it may stand in for an answer that failed (`stale-if-error`, or within
    /// `stale-while-revalidate`).
    pub(super) fn usable_on_error(&self, now: Nanos) -> bool {
        !self.timing.never_stale
            && self.age(now)
                < self
                    .timing
                    .lifetime
                    .saturating_add(self.timing.stale_window())
    }

    /// Lets one request revalidate it: true for the first caller, and again once a claim is
    /// old enough to have failed.
    pub(super) fn claim(&self, now: Nanos) -> bool {
        let claimed = self.claimed.load(Ordering::Relaxed);
        (claimed == 0 || now.saturating_sub(claimed) > CLAIM_FOR)
            && self
                .claimed
                .compare_exchange(claimed, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Sets the conditional headers that revalidate it; false when it has no validator.
    pub(super) fn make_conditional(&self, headers: &mut HeaderMap) -> bool {
        let etag = self.headers.get(ETAG);
        let modified = self.headers.get(LAST_MODIFIED);
        if let Some(etag) = etag {
            headers.insert(IF_NONE_MATCH, etag.clone());
        }
        if let Some(modified) = modified {
            headers.insert(IF_MODIFIED_SINCE, modified.clone());
        }
        etag.is_some() || modified.is_some()
    }

    /// Whether a client's conditional request (`If-None-Match`, else `If-Modified-Since`) is
    /// satisfied by this answer, so a 304 will do.
    pub(super) fn not_modified_for(&self, request: &HeaderMap) -> bool {
        if self.status != StatusCode::OK {
            return false;
        }
        if request.contains_key(IF_NONE_MATCH) {
            let Some(etag) = self.headers.get(ETAG).and_then(|v| v.to_str().ok()) else {
                return false;
            };
            return request
                .get_all(IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .any(|tag| tag == "*" || weak(tag) == weak(etag));
        }
        let since = request.get(IF_MODIFIED_SINCE).and_then(http_date);
        let modified = self.headers.get(LAST_MODIFIED).and_then(http_date);
        matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
    }

    /// Bytes it takes: body, headers and bookkeeping.
    fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        self.body.len() + headers + 160
    }
}

/// An entity tag compared weakly (RFC 9110 §8.8.3.2).
fn weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// What a lookup found.
pub(super) enum Found {
    /// A stored answer, and its key, on which its revalidations wait for one another.
    Answer(Arc<Entry>, Key),
    /// Nothing usable; concurrent misses wait on `flight`'s key.
    Missing { flight: Key },
    /// The URL's answers are not cacheable for now: go upstream without waiting.
    Pass,
}

/// How a fetch others waited for ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Its answer was stored: look again.
    Stored,
    /// Its answer cannot be stored: go upstream.
    Uncacheable,
    /// The upstream failed: a stale answer may stand in.
    Failed,
}

type Sender = watch::Sender<Option<Outcome>>;
pub(super) type Receiver = watch::Receiver<Option<Outcome>>;

/// Requests on their way upstream that others wait for, by key, in shards.
struct Flights {
    shards: Box<[Mutex<HashMap<Key, Sender, ahash::RandomState>>]>,
    hasher: ahash::RandomState,
}

const FLIGHT_SHARDS: usize = 16;

impl Flights {
    fn new() -> Flights {
        Flights {
            shards: (0..FLIGHT_SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            hasher: ahash::RandomState::new(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Key, Sender, ahash::RandomState>> {
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        &self.shards[index]
    }
}

/// Either this request fetches for the others, or it waits.
pub(super) enum Join {
    Lead(Flight),
    Wait(Receiver),
}

/// A request fetching an answer others wait for. Finishing it tells them how it went;
/// dropping it unfinished (the request or its answer went away) tells them to try again.
pub(crate) struct Flight {
    store: Arc<Store>,
    key: Key,
}

impl Flight {
    pub(super) fn finish(self, outcome: Outcome) {
        if let Some(sender) = self.take() {
            sender.send_replace(Some(outcome));
        }
    }

    fn take(&self) -> Option<Sender> {
        self.store
            .flights
            .shard(&self.key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key)
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.take();
    }
}

impl fmt::Debug for Flight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flight")
            .field("cache", &self.store.name)
            .finish()
    }
}

/// Requests and their results, per cache.
#[derive(Default)]
pub(super) struct Counters {
    pub hit: AtomicU64,
    pub miss: AtomicU64,
    pub stale: AtomicU64,
    pub revalidated: AtomicU64,
    pub bypass: AtomicU64,
}

/// One `cache` policy's memory.
pub(crate) struct Store {
    name: &'static str,
    key: &'static CacheKey,
    map: moka::sync::Cache<Key, Stored, ahash::RandomState>,
    flights: Flights,
    pub(super) counters: Counters,
}

/// Entries expire when they are of no more use; records never do, pass markers after
/// [`PASS_FOR`].
struct Expiry;

impl moka::Expiry<Key, Stored> for Expiry {
    fn expire_after_create(&self, _key: &Key, value: &Stored, _at: Instant) -> Option<Duration> {
        match value {
            Stored::Variants(_) => None,
            Stored::Pass => Some(PASS_FOR),
            Stored::Answer(entry) => {
                let validators =
                    entry.headers.contains_key(ETAG) || entry.headers.contains_key(LAST_MODIFIED);
                entry.timing.keep(validators)
            }
        }
    }

    fn expire_after_update(
        &self,
        key: &Key,
        value: &Stored,
        at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, value, at)
    }
}

impl Store {
    pub(super) fn new(name: &'static str, key: &'static CacheKey, max_size: u64) -> Arc<Store> {
        let map = moka::sync::Cache::builder()
            .max_capacity(max_size)
            .weigher(|key: &Key, value: &Stored| {
                let value = match value {
                    Stored::Variants(variants) => {
                        64 + variants
                            .vary
                            .iter()
                            .map(|name| name.as_str().len() + 16)
                            .sum::<usize>()
                    }
                    Stored::Pass => 32,
                    Stored::Answer(entry) => entry.weight(),
                };
                u32::try_from(key.len() + value).unwrap_or(u32::MAX)
            })
            .expire_after(Expiry)
            .build_with_hasher(ahash::RandomState::new());
        Arc::new(Store {
            name,
            key,
            map,
            flights: Flights::new(),
            counters: Counters::default(),
        })
    }

    /// The stored answer for a request, if any: `base` is the request's base key and
    /// `values` the configured headers' values ([`header_values`]).
    pub(super) fn find(&self, base: &[u8], values: &[u8], request: &HeaderMap) -> Found {
        match self.map.get(base) {
            Some(Stored::Variants(variants)) => {
                let key = variant_key(variants.generation, values, &variants.vary, request);
                match self.map.get(&key[..]) {
                    Some(Stored::Answer(entry)) => Found::Answer(entry, key),
                    _ => Found::Missing { flight: key },
                }
            }
            Some(Stored::Pass) => Found::Pass,
            // A variant key held by a base key cannot happen: the first byte tells them apart.
            Some(Stored::Answer(_)) | None => {
                let mut flight = Vec::with_capacity(base.len() + values.len());
                flight.push(b'F');
                flight.extend_from_slice(&base[1..]);
                flight.extend_from_slice(values);
                Found::Missing {
                    flight: flight.into(),
                }
            }
        }
    }

    /// Leads the fetch for `key`, or waits for the request that does.
    pub(super) fn join(self: &Arc<Store>, key: Key) -> Join {
        let mut flights = self
            .flights
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = flights.get(&key) {
            return Join::Wait(sender.subscribe());
        }
        flights.insert(key.clone(), watch::Sender::new(None));
        drop(flights);
        Join::Lead(Flight {
            store: Arc::clone(self),
            key,
        })
    }

    /// Stores `entry` for the request whose base key, configured header values and headers
    /// are given; `vary` is the answer's `Vary`.
    pub(super) fn insert(
        &self,
        base: &[u8],
        values: &[u8],
        vary: &[HeaderName],
        request: &HeaderMap,
        entry: Arc<Entry>,
    ) {
        let generation = match self.map.get(base) {
            Some(Stored::Variants(variants)) if *variants.vary == *vary => variants.generation,
            _ => {
                let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
                let variants = Variants {
                    generation,
                    vary: vary.into(),
                };
                self.map
                    .insert(base.into(), Stored::Variants(Arc::new(variants)));
                generation
            }
        };
        let key = variant_key(generation, values, vary, request);
        self.map.insert(key, Stored::Answer(entry));
    }

    /// Marks a URL whose answer could not be stored, so its requests skip coalescing a while.
    pub(super) fn pass(&self, base: &[u8]) {
        self.map.insert(base.into(), Stored::Pass);
    }

    /// Forgets every stored answer for `base`; true when there was something to forget.
    fn purge(&self, base: &[u8]) -> bool {
        self.map.remove(base).is_some()
    }

    pub(super) fn name(&self) -> &'static str {
        self.name
    }
}

/// The base key of a request: the configured parts of its URL. `host` is lower-cased without
/// its port, `path` normalised (as routing sees them).
pub(super) fn base_key(key: &CacheKey, host: &str, path: &str, query: Option<&str>) -> Key {
    let mut out = Vec::with_capacity(2 + host.len() + path.len() + query.map_or(0, str::len));
    out.push(b'B');
    for (used, part) in [
        (key.host, host),
        (key.path, path),
        (key.query, query.unwrap_or("")),
    ] {
        if used {
            out.extend_from_slice(part.as_bytes());
            out.push(0);
        }
    }
    out.into()
}

/// The values of the request headers `names`, in order: each one's lines joined by `,`,
/// spaces and tabs removed, ended by a 0 byte (which no header value holds).
pub(super) fn header_values(out: &mut Vec<u8>, names: &[HeaderName], request: &HeaderMap) {
    for name in names {
        for (index, value) in request.get_all(name).iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend(
                value
                    .as_bytes()
                    .iter()
                    .filter(|b| !matches!(b, b' ' | b'\t')),
            );
        }
        out.push(0);
    }
}

/// Who asked for an authorized answer, after the header values: the consumer a policy found,
/// else the `Authorization` value (a 1 byte first, so no header value can pose as it).
pub(super) fn who_asked(
    out: &mut Vec<u8>,
    consumer: Option<&str>,
    authorization: Option<&http::HeaderValue>,
) {
    out.push(1);
    match (consumer, authorization) {
        (Some(consumer), _) => {
            out.push(b'c');
            out.extend_from_slice(consumer.as_bytes());
        }
        (None, Some(authorization)) => {
            out.push(b'a');
            out.extend_from_slice(authorization.as_bytes());
        }
        (None, None) => {}
    }
    out.push(0);
}

fn variant_key(generation: u64, values: &[u8], vary: &[HeaderName], request: &HeaderMap) -> Key {
    let mut key = Vec::with_capacity(9 + values.len() + 16 * vary.len());
    key.push(b'V');
    key.extend_from_slice(&generation.to_le_bytes());
    key.extend_from_slice(values);
    key.push(1);
    header_values(&mut key, vary, request);
    key.into()
}

/// Every cache of a process, for purges and metrics: each `cache` policy lists its store here
/// when it is built. Cheap to clone (one shared list).
#[derive(Clone)]
pub struct Caches(Arc<Started<Store>>);

impl fmt::Debug for Caches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.live().into_iter().map(|(name, _)| name))
            .finish()
    }
}

impl Caches {
    pub(crate) fn new() -> Caches {
        Caches(Arc::new(Started::new()))
    }

    pub(super) fn register(&self, store: &Arc<Store>) {
        self.0.register(store.name, Arc::downgrade(store));
    }

    fn live(&self) -> Vec<Arc<Store>> {
        self.0.live().into_iter().map(|(_, store)| store).collect()
    }

    /// Forgets the answers for `target` in every cache, whatever their variants; returns how
    /// many caches held it.
    pub(crate) fn purge(&self, target: &Target) -> usize {
        self.live()
            .iter()
            .filter(|store| {
                let query = target.query.as_deref();
                let base = base_key(store.key, target.host.as_str(), &target.path, query);
                store.purge(&base)
            })
            .count()
    }

    /// Every cache's figures, in the order they were built.
    pub(crate) fn figures(&self) -> Vec<Figures> {
        self.live().iter().map(|store| store.figures()).collect()
    }
}

/// A purge request naming something that is not a URL a client could ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadUrl(pub String);

impl fmt::Display for BadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a URL to purge: `{}` (write `http://HOST/PATH?QUERY`)",
            self.0
        )
    }
}

impl std::error::Error for BadUrl {}

/// A URL to purge, as the cache keys see it.
#[derive(Debug)]
pub(crate) struct Target {
    host: crate::host_name::HostName,
    path: String,
    query: Option<String>,
}

impl Target {
    /// Reads `http://host/path?query` (or `/path?query` for requests without a host).
    pub(crate) fn parse(url: &str) -> Result<Target, BadUrl> {
        let bad = || BadUrl(url.to_owned());
        let uri: Uri = url.trim().parse().map_err(|_| bad())?;
        let host = match uri.authority() {
            Some(authority) => {
                crate::host_name::HostName::parse(authority.as_str()).ok_or_else(bad)?
            }
            None => crate::host_name::HostName::EMPTY,
        };
        let rules = crate::downstream::normalize::PathRules::PERMISSIVE;
        let path = crate::downstream::normalize::normalize(uri.path(), rules).map_err(|_| bad())?;
        Ok(Target {
            host,
            path: path.into_owned(),
            query: uri.query().map(str::to_owned),
        })
    }
}

/// One cache's figures for the metrics.
pub(crate) struct Figures {
    pub name: &'static str,
    /// Requests by result: hit, miss, stale, revalidated, bypass.
    pub results: [(&'static str, u64); 5],
    pub entries: u64,
    pub bytes: u64,
}

impl Figures {
    /// Lookups and hits: every result but `bypass` (not cacheable) is a lookup, and every one
    /// but `miss` a hit (fresh, stale or revalidated, all answered from the cache).
    pub(crate) fn lookups_and_hits(&self) -> [u64; 2] {
        let count = |name: &str| {
            self.results
                .iter()
                .find(|(result, _)| *result == name)
                .map_or(0, |(_, count)| *count)
        };
        let hits = count("hit") + count("stale") + count("revalidated");
        [hits + count("miss"), hits]
    }
}

impl Store {
    /// This cache's figures for the metrics.
    fn figures(&self) -> Figures {
        let c = &self.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Figures {
            name: self.name,
            results: [
                ("hit", read(&c.hit)),
                ("miss", read(&c.miss)),
                ("stale", read(&c.stale)),
                ("revalidated", read(&c.revalidated)),
                ("bypass", read(&c.bypass)),
            ],
            entries: self.map.entry_count(),
            bytes: self.map.weighted_size(),
        }
    }
}

/// An answer on its way to the client that is being copied for the cache; stored when its
/// body has ended, within `max_object` bytes.
pub(crate) struct Filler {
    store: Arc<Store>,
    base: Key,
    values: Vec<u8>,
    vary: Vec<HeaderName>,
    request: HeaderMap,
    status: StatusCode,
    headers: HeaderMap,
    timing: Timing,
    flight: Option<Flight>,
    body: BytesMut,
    max: usize,
}

impl fmt::Debug for Filler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filler")
            .field("cache", &self.store.name)
            .field("bytes", &self.body.len())
            .finish()
    }
}

/// What a filler needs besides the store: the request's keys and headers, and the answer.
pub(super) struct Fill {
    pub base: Key,
    pub values: Vec<u8>,
    pub vary: Vec<HeaderName>,
    pub request: HeaderMap,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub timing: Timing,
    pub flight: Option<Flight>,
    pub max: usize,
    /// The declared length, to reserve room once.
    pub length: Option<u64>,
}

impl Filler {
    pub(super) fn new(store: Arc<Store>, fill: Fill) -> Filler {
        let reserve = fill
            .length
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .min(fill.max);
        Filler {
            store,
            base: fill.base,
            values: fill.values,
            vary: fill.vary,
            request: fill.request,
            status: fill.status,
            headers: fill.headers,
            timing: fill.timing,
            flight: fill.flight,
            body: BytesMut::with_capacity(reserve),
            max: fill.max,
        }
    }

    /// Copies `data`; false when the answer has grown past `max_object` (then call
    /// [`Filler::give_up`]).
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        if self.body.len() + data.len() > self.max {
            return false;
        }
        self.body.extend_from_slice(data);
        true
    }

    /// The body has ended: stores the answer.
    pub(crate) fn finish(mut self) {
        let body = std::mem::take(&mut self.body).freeze();
        let headers = std::mem::take(&mut self.headers);
        let entry = Arc::new(Entry::new(self.status, headers, body, self.timing));
        self.store
            .insert(&self.base, &self.values, &self.vary, &self.request, entry);
        if let Some(flight) = self.flight.take() {
            flight.finish(Outcome::Stored);
        }
    }

    /// The answer is too large to store: its URL skips coalescing a while.
    pub(crate) fn give_up(mut self) {
        tracing::debug!(
            cache = self.store.name,
            "answer larger than max_object: not stored"
        );
        self.store.pass(&self.base);
        if let Some(flight) = self.flight.take() {
            flight.finish(Outcome::Uncacheable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    static KEY: CacheKey = CacheKey {
        host: true,
        path: true,
        query: true,
        headers: &[],
    };

    fn timing(lifetime: u64) -> Timing {
        Timing {
            lifetime: Duration::from_secs(lifetime),
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            always_revalidate: false,
            never_stale: false,
        }
    }

    fn entry(body: &'static str) -> Arc<Entry> {
        Arc::new(Entry::new(
            StatusCode::OK,
            HeaderMap::new(),
            Bytes::from_static(body.as_bytes()),
            timing(60),
        ))
    }

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn body(found: Found) -> Option<Bytes> {
        match found {
            Found::Answer(entry, _) => Some(entry.body.clone()),
            _ => None,
        }
    }

    #[test]
    fn variants_named_by_vary_are_kept_apart() {
        let store = Store::new("test_vary", &KEY, 1 << 20);
        let base = base_key(&KEY, "a.example", "/x", None);
        let vary = vec![HeaderName::from_static("accept-encoding")];
        let gzip = request(&[("accept-encoding", "gzip")]);
        let identity = request(&[("accept-encoding", "identity")]);
        assert!(body(store.find(&base, &[], &gzip)).is_none());
        store.insert(&base, &[], &vary, &gzip, entry("gzipped"));
        assert_eq!(body(store.find(&base, &[], &gzip)).unwrap(), "gzipped");
        assert!(body(store.find(&base, &[], &identity)).is_none());
        store.insert(&base, &[], &vary, &identity, entry("plain"));
        assert_eq!(body(store.find(&base, &[], &identity)).unwrap(), "plain");
        assert_eq!(body(store.find(&base, &[], &gzip)).unwrap(), "gzipped");
        // Spacing does not make another variant.
        let spaced = request(&[("accept-encoding", " gzip ")]);
        assert_eq!(body(store.find(&base, &[], &spaced)).unwrap(), "gzipped");
    }

    #[test]
    fn a_new_vary_or_a_purge_drops_every_variant() {
        let (caches, elsewhere) = (Caches::new(), Caches::new());
        let store = Store::new("test_purge", &KEY, 1 << 20);
        let other = Store::new("test_purge", &KEY, 1 << 20);
        caches.register(&store);
        elsewhere.register(&other);
        let base = base_key(&KEY, "a.example", "/p", Some("q=1"));
        let gzip = request(&[("accept-encoding", "gzip")]);
        let vary = vec![HeaderName::from_static("accept-encoding")];
        store.insert(&base, &[], &vary, &gzip, entry("one"));
        store.insert(&base, &[], &[], &gzip, entry("two"));
        assert_eq!(
            body(store.find(&base, &[], &HeaderMap::new())).unwrap(),
            "two"
        );
        other.insert(&base, &[], &[], &gzip, entry("two"));
        assert_eq!(
            caches.purge(&Target::parse("http://A.example:8080/p?q=1").unwrap()),
            1
        );
        assert!(body(store.find(&base, &[], &gzip)).is_none());
        // Another process's cache is its own.
        assert_eq!(body(other.find(&base, &[], &gzip)).unwrap(), "two");
        store.insert(&base, &[], &[], &gzip, entry("three"));
        assert_eq!(body(store.find(&base, &[], &gzip)).unwrap(), "three");
        assert!(Target::parse("not a url").is_err());
        assert!(Target::parse("http://a.example/../x").is_err());
    }

    #[test]
    fn configured_headers_are_part_of_the_key() {
        static TENANT: [HeaderName; 1] = [HeaderName::from_static("x-tenant")];
        static BY_TENANT: CacheKey = CacheKey {
            host: false,
            path: true,
            query: false,
            headers: &TENANT,
        };
        let store = Store::new("test_tenant", &BY_TENANT, 1 << 20);
        let base = base_key(&BY_TENANT, "ignored", "/t", Some("ignored"));
        assert_eq!(base, base_key(&BY_TENANT, "other", "/t", None));
        let values = |tenant| {
            let mut out = Vec::new();
            header_values(&mut out, &TENANT, &request(&[("x-tenant", tenant)]));
            out
        };
        let (a, b) = (values("a"), values("b"));
        store.insert(&base, &a, &[], &HeaderMap::new(), entry("for a"));
        assert_eq!(
            body(store.find(&base, &a, &HeaderMap::new())).unwrap(),
            "for a"
        );
        assert!(body(store.find(&base, &b, &HeaderMap::new())).is_none());
    }

    #[test]
    fn one_request_leads_and_the_others_learn_how_it_went() {
        let store = Store::new("test_flight", &KEY, 1 << 20);
        let key: Key = Box::from(&b"Fk"[..]);
        let Join::Lead(flight) = store.join(key.clone()) else {
            panic!("the first request leads");
        };
        let Join::Wait(mut waiter) = store.join(key.clone()) else {
            panic!("the second waits");
        };
        flight.finish(Outcome::Uncacheable);
        assert_eq!(*waiter.borrow_and_update(), Some(Outcome::Uncacheable));
        let Join::Lead(flight) = store.join(key.clone()) else {
            panic!("a finished flight is gone");
        };
        let Join::Wait(waiter) = store.join(key) else {
            panic!("the second waits");
        };
        drop(flight);
        assert!(
            waiter.has_changed().is_err(),
            "a dropped leader closes the channel"
        );
    }

    #[test]
    fn freshness_and_revalidation_claims() {
        let entry = Entry::new(
            StatusCode::OK,
            request(&[("etag", "\"v1\"")]),
            Bytes::new(),
            Timing {
                stale_while_revalidate: Duration::from_secs(30),
                ..timing(10)
            },
        );
        let now = entry.stored_at;
        let secs = |s: u64| now + s * 1_000_000_000;
        assert_eq!(entry.usable(now), Use::Fresh);
        assert_eq!(entry.usable(secs(15)), Use::WhileRevalidating);
        assert_eq!(entry.usable(secs(45)), Use::Validate);
        assert!(entry.usable_on_error(secs(35)));
        assert!(!entry.usable_on_error(secs(45)));
        assert!(entry.claim(secs(15)));
        assert!(!entry.claim(secs(16)), "one revalidation at a time");
        assert!(entry.claim(secs(50)), "a claim left unanswered expires");
        let mut conditional = HeaderMap::new();
        assert!(entry.make_conditional(&mut conditional));
        assert_eq!(conditional[IF_NONE_MATCH], "\"v1\"");
        assert!(entry.not_modified_for(&request(&[("if-none-match", "W/\"v1\", \"v0\"")])));
        assert!(!entry.not_modified_for(&request(&[("if-none-match", "\"v2\"")])));
        assert!(!entry.not_modified_for(&HeaderMap::new()));
    }
}
