//! A rate limit kept in a store (`store NAME` in the policy), so that every proxy using the
//! store counts against one bucket per key.
//!
//! The bucket is GCRA, evaluated atomically by a script in Redis (one round trip, no
//! read-modify-write race between proxies, the server's clock). A round trip takes up to
//! `batch` requests of the key at once: the process spends them locally, without asking
//! again, for up to a second. When a quarter of a batch is left, the request that finds it
//! so asks for the next one in the background and passes at once, so a busy key's requests
//! find a batch held instead of waiting for a round trip. Requests are counted in the store
//! before they pass, so a batch never lets more through than the limit; what it can do is
//! hold requests another proxy could have used: at most `batch + batch / 4 - 1` per key and
//! proxy at a time, returned to nobody if unspent (they lapse after a second). `batch` is a
//! twenty-fifth of the burst (at least 1, at most 32), so that error stays under 5 % of the
//! burst per proxy; a burst under 25 makes every request a round trip, exact. One request of
//! a key asks at a time: the others arriving meanwhile (from other connections) wait for its
//! answer, up to the store's deadline, and spend the batch it brings, so a key makes one
//! round trip per batch, not one per connection. A refusal is remembered too, until the
//! store's bucket can give its next request: until then the answer cannot change, so an
//! abusive client costs no round trip per request.
//!
//! Keys are named `PREFIX INSTANCE : DIGEST` (the instance is the policy's name, or
//! `POLICY_ROUTE` for a limit keyed by route, whose every route has a bucket), the digest the
//! first 128 bits of the SHA-256 of what the key is (the client's network, or the header's,
//! claim's or consumer's value), so every proxy names a key alike and a name's length does not
//! depend on what a client sent.

use std::collections::{hash_map::Entry, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::{Decision, Key, Material, Params};
use crate::clock::{self, Nanos};
use crate::store::{Decided, Grant, RedisStore, StoreError};

/// How long a batch may be spent, at most.
const BATCH_LIFE: Nanos = 1_000_000_000;

/// The most requests one round trip takes.
const MAX_BATCH: u32 = 32;

/// A batch is a burst's twenty-fifth.
const BATCHES_PER_BURST: u32 = 25;

/// Shards of the held batches.
const SHARDS: usize = 16;

/// The part of a rate limit that lives in a store.
pub(super) struct Global {
    store: Arc<RedisStore>,
    /// `PREFIX INSTANCE :`, what every key's name starts with.
    prefix: String,
    /// Requests taken at once.
    batch: u32,
    /// What is left of a batch when the next one is asked for in the background.
    low: u32,
    /// Picks a key's shard.
    hasher: ahash::RandomState,
    held: Box<[Mutex<HashMap<Key, Held, ahash::RandomState>>]>,
    /// Per shard: woken when an answer about one of its keys arrives.
    answered: Box<[tokio::sync::Notify]>,
    /// How long a request waits for another's answer: the store's deadline.
    patience: Nanos,
    /// The most keys held per shard.
    per_shard: usize,
}

/// What this process holds of one key.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// Requests taken from the store and not yet spent, spendable until `until`. `tat` is
    /// the store's theoretical arrival time after the grant, on this process's clock.
    /// `refilling`: the next batch has been asked for (answered or not, it is asked for once).
    Batch {
        left: u32,
        until: Nanos,
        tat: Nanos,
        refilling: bool,
    },
    /// The store refused: no request of this key passes before `until`.
    Refused { until: Nanos, tat: Nanos },
    /// A request of this process is asking the store about the key since `since`: others
    /// wait for its answer (for up to the store's deadline) rather than ask too.
    Asking { since: Nanos },
}

/// What a request can do before anything is awaited.
pub(super) enum Local<'g> {
    /// Decided from what this process holds.
    Decided(Decision),
    /// Decided from a batch now running low: this request has the next one asked for, in
    /// the background ([`Global::refill`]).
    Refill(Decision),
    /// Another request is asking the store about the key: wait for its answer.
    Wait,
    /// Ask the store: this request is now the one asking.
    Ask(Asking<'g>),
}

/// Held by the request that asks the store about a key. Dropped without an answer (the
/// request went away with its client), it wakes the key's waiters to ask themselves: they
/// wait for an answer with no timer of their own, since the asking request gives one within
/// the store's deadline.
pub(super) struct Asking<'g> {
    global: &'g Global,
    key: Key,
    answered: bool,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.global.forget_asking(self.key);
        }
    }
}

impl Global {
    pub(super) fn new(store: Arc<RedisStore>, instance: &str, burst: u32, max_keys: u32) -> Global {
        let prefix = format!("{}{instance}:", store.spec().prefix);
        let patience = crate::clock::nanos(store.spec().timeout);
        let batch = (burst / BATCHES_PER_BURST).clamp(1, MAX_BATCH);
        Global {
            store,
            prefix,
            batch,
            low: batch / 4,
            hasher: ahash::RandomState::new(),
            held: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(ahash::RandomState::new())))
                .collect(),
            answered: (0..SHARDS).map(|_| tokio::sync::Notify::new()).collect(),
            patience,
            per_shard: usize::try_from(max_keys).unwrap_or(usize::MAX) / SHARDS + 1,
        }
    }

    fn index(&self, key: Key) -> usize {
        self.hasher.hash_one(key) as usize % SHARDS
    }

    fn shard(&self, key: Key) -> &Mutex<HashMap<Key, Held, ahash::RandomState>> {
        &self.held[self.index(key)]
    }

    /// Woken when an answer about a key of `key`'s shard arrives (or a call fails): arm its
    /// `notified()` before looking at [`Global::held`], so an answer in between is not missed.
    pub(super) fn answered(&self, key: Key) -> &tokio::sync::Notify {
        &self.answered[self.index(key)]
    }

    /// What this process can do about `key` at `now` on its own: decide from a batch it
    /// holds or a refusal it remembers, wait for another request's answer, or ask (then this
    /// request is marked as the one asking).
    pub(super) fn held(&self, key: Key, now: Nanos, params: &Params) -> Local<'_> {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let asking = Held::Asking { since: now };
        let held = match shard.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                entry.insert(asking);
                return Local::Ask(self.asking(key));
            }
        };
        match *held {
            Held::Batch {
                left,
                until,
                tat,
                refilling,
            } if now < until && left > 0 => {
                let refill = !refilling && left - 1 <= self.low;
                *held = Held::Batch {
                    left: left - 1,
                    until,
                    tat,
                    refilling: refilling || refill,
                };
                let decision = Decision {
                    allowed: true,
                    credit: credit(params, tat, now, left - 1),
                };
                if refill {
                    Local::Refill(decision)
                } else {
                    Local::Decided(decision)
                }
            }
            Held::Refused { until, tat } if now < until => Local::Decided(Decision {
                allowed: false,
                credit: credit(params, tat, now, 0),
            }),
            Held::Asking { since } if now.saturating_sub(since) < self.patience => Local::Wait,
            _ => {
                *held = asking;
                Local::Ask(self.asking(key))
            }
        }
    }

    fn asking(&self, key: Key) -> Asking<'_> {
        Asking {
            global: self,
            key,
            answered: false,
        }
    }

    /// Asks the store for up to a batch of `key`'s requests (named from `material`), and
    /// keeps what it grants beyond this request.
    pub(super) async fn ask(
        &self,
        mut asking: Asking<'_>,
        material: &Material<'_>,
        now: Nanos,
        params: &Params,
    ) -> Result<Decision, StoreError> {
        let key = asking.key;
        // Answered below whatever happens, unless the request is dropped while it waits.
        let name = self.name(material);
        let tolerance = params.capacity - params.interval;
        let grant = match self
            .store
            .take(&name, params.interval, tolerance, self.batch)
            .await
        {
            Ok(grant) => grant,
            Err(error) => {
                asking.answered = true;
                self.forget_asking(key);
                return Err(error);
            }
        };
        asking.answered = true;
        let (held, decision) = self.settle(grant, now, params, 1);
        self.keep(key, held, now);
        self.answered[self.index(key)].notify_waiters();
        Ok(decision)
    }

    /// Asks the store for the next batch of `key` (named `name`, see [`Global::name`])
    /// without waiting for the answer, the one held running low. A failed call is not
    /// retried: the batch's last requests are spent, then a request asks as it would with
    /// nothing held. Called from a task on a runtime, which the round trip is spawned on.
    pub(super) fn refill(self: &Arc<Self>, key: Key, name: String, params: Params) {
        let global = Arc::clone(self);
        tokio::spawn(async move {
            let now = clock::now();
            let tolerance = params.capacity - params.interval;
            let taken = global
                .store
                .take(&name, params.interval, tolerance, global.batch)
                .await;
            if let Ok(grant) = taken {
                let (held, _) = global.settle(grant, now, &params, 0);
                global.keep(key, held, now);
                global.answered[global.index(key)].notify_waiters();
            }
        });
    }

    /// What a grant asked for at `now` leaves held, `spent` of its requests (0 or 1) going
    /// to the request that asked; the decision for that request.
    fn settle(&self, grant: Grant, now: Nanos, params: &Params, spent: u32) -> (Held, Decision) {
        let tolerance = params.capacity - params.interval;
        let tat = now.saturating_add(grant.ahead);
        if grant.granted == 0 {
            // The next request passes once the TAT is within the tolerance again.
            let until = tat.saturating_sub(tolerance);
            let decision = Decision {
                allowed: false,
                credit: credit(params, tat, now, 0),
            };
            (Held::Refused { until, tat }, decision)
        } else {
            let left = grant.granted - spent;
            let until = now.saturating_add(BATCH_LIFE.min(params.capacity).max(params.interval));
            let decision = Decision {
                allowed: true,
                credit: credit(params, tat, now, left),
            };
            let held = Held::Batch {
                left,
                until,
                tat,
                refilling: false,
            };
            (held, decision)
        }
    }

    /// After a failed call: nobody is asking about `key` any more; its waiters ask themselves.
    fn forget_asking(&self, key: Key) {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(shard.get(&key), Some(Held::Asking { .. })) {
            shard.remove(&key);
        }
        drop(shard);
        self.answered[self.index(key)].notify_waiters();
    }

    /// The store's decision counts: batch, store, fallback.
    #[cfg(test)]
    pub(super) fn figures_for_tests(&self) -> [u64; 3] {
        self.store.figures().decisions()
    }

    /// Counts where a decision was taken.
    pub(super) fn decided(&self, decided: Decided) {
        self.store.decided(decided);
    }

    /// Remembers `held` for `key`, added to what is held already: requests of one key asked
    /// about at once (from several connections) each bring a batch, and none may be lost, or
    /// the key would get fewer requests than the store gave. A refusal does not hide a batch
    /// still held. A full shard first forgets what has lapsed, and keeps nothing new if that
    /// frees no room (the key is then asked about each time).
    fn keep(&self, key: Key, held: Held, now: Nanos) {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            let patience = self.patience;
            shard.retain(|_, held| match held {
                Held::Batch { until, left, .. } => now < *until && *left > 0,
                Held::Refused { until, .. } => now < *until,
                Held::Asking { since } => now.saturating_sub(*since) < patience,
            });
            if shard.len() >= self.per_shard {
                return;
            }
        }
        let kept = match (shard.get(&key), held) {
            (
                Some(&Held::Batch {
                    left: earlier,
                    until: earlier_until,
                    ..
                }),
                Held::Batch {
                    left,
                    until,
                    tat,
                    refilling,
                },
            ) if now < earlier_until => Held::Batch {
                left: left.saturating_add(earlier),
                until,
                tat,
                refilling,
            },
            (Some(&batch @ Held::Batch { left, until, .. }), Held::Refused { .. })
                if now < until && left > 0 =>
            {
                batch
            }
            _ => held,
        };
        shard.insert(key, kept);
    }

    /// The key's name in the store.
    pub(super) fn name(&self, material: &Material<'_>) -> String {
        let mut hasher = Sha256::new();
        match material {
            Material::Ip(ip) => {
                hasher.update(b"ip:");
                match ip {
                    std::net::IpAddr::V4(v4) => hasher.update(v4.octets()),
                    std::net::IpAddr::V6(v6) => hasher.update(v6.octets()),
                }
            }
            Material::Text(text) => {
                hasher.update(b"text:");
                hasher.update(text);
            }
            Material::Route => hasher.update(b"route"),
        }
        let digest = hasher.finalize();
        let mut name = String::with_capacity(self.prefix.len() + 32);
        name.push_str(&self.prefix);
        for byte in &digest[..16] {
            let _ = write!(name, "{byte:02x}");
        }
        name
    }
}

/// The credit after a request, as the local buckets report it: the room left under the
/// store's TAT, plus the requests this process holds unspent.
fn credit(params: &Params, tat: Nanos, now: Nanos, held: u32) -> Nanos {
    params
        .capacity
        .saturating_sub(tat.saturating_sub(now))
        .saturating_add(params.interval.saturating_mul(u64::from(held)))
        .min(params.capacity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StorePassword, StoreSpec, Stores};
    use std::time::Duration;

    const SECOND: Nanos = 1_000_000_000;

    /// A batch of `left` requests, spendable for a second, the store's TAT at `tat`.
    fn batch(left: u32, tat: Nanos) -> Held {
        Held::Batch {
            left,
            until: SECOND,
            tat,
            refilling: false,
        }
    }

    /// The decision taken locally, if any.
    fn decided(local: Local) -> Option<Decision> {
        match local {
            Local::Decided(decision) | Local::Refill(decision) => Some(decision),
            Local::Wait | Local::Ask(_) => None,
        }
    }

    fn global(burst: u32) -> Global {
        let spec: &'static StoreSpec = Box::leak(Box::new(StoreSpec {
            name: "shared",
            servers: crate::store::StoreServers::Single("redis://127.0.0.1:1/0"),
            password: StorePassword::None,
            timeout: Duration::from_millis(5),
            prefix: "edge:test:",
        }));
        let store = Stores::default().get(spec).unwrap();
        Global::new(store, "limit", burst, 1000)
    }

    /// 20 a second, a burst of `burst`.
    fn params(burst: u32) -> Params {
        Params {
            interval: SECOND / 20,
            capacity: SECOND / 20 * u64::from(burst),
        }
    }

    #[test]
    fn a_batch_is_spent_locally_then_lapses() {
        let (global, params) = (global(100), params(100));
        assert_eq!(global.batch, 4);
        let key = Key::Route;
        assert!(
            decided(global.held(key, 0, &params)).is_none(),
            "nothing held yet"
        );
        let tat = 10 * params.interval;
        global.keep(key, batch(4, tat), 0);
        for left in (0..4).rev() {
            let decision = decided(global.held(key, 0, &params)).unwrap();
            assert!(decision.allowed);
            assert_eq!(
                decision.credit,
                params.capacity - tat + left * params.interval
            );
        }
        assert!(
            decided(global.held(key, 0, &params)).is_none(),
            "spent: ask again"
        );
        global.keep(key, batch(4, tat), 0);
        assert!(
            decided(global.held(key, SECOND, &params)).is_none(),
            "lapsed: ask again"
        );
    }

    #[test]
    fn a_batch_running_low_is_refilled_once_and_the_refill_adds_to_it() {
        let (global, params) = (global(800), params(800));
        assert_eq!((global.batch, global.low), (32, 8));
        let key = Key::Route;
        global.keep(key, batch(32, 0), 0);
        let refills: Vec<bool> = (0..32)
            .map(|_| matches!(global.held(key, 0, &params), Local::Refill(_)))
            .collect();
        assert_eq!(
            refills.iter().position(|&refill| refill),
            Some(23),
            "asked for when 8 are left"
        );
        assert_eq!(refills.iter().filter(|&&refill| refill).count(), 1);
        // The refill arrives with 4 left: they add up, and the next low point asks again.
        global.keep(key, batch(4, 0), 0);
        global.keep(key, batch(32, 0), 0);
        let refill = (0..36).position(|_| matches!(global.held(key, 0, &params), Local::Refill(_)));
        assert_eq!(refill, Some(27));
        // A refused refill leaves the batch as it is, asked for already: it is spent, then
        // the next request asks.
        global.keep(
            key,
            Held::Refused {
                until: SECOND,
                tat: 0,
            },
            0,
        );
        let spent = (0..10)
            .filter(|_| matches!(global.held(key, 0, &params), Local::Decided(d) if d.allowed))
            .count();
        assert_eq!(spent, 8);
        assert!(matches!(global.held(key, 0, &params), Local::Ask(_)));
    }

    #[test]
    fn batches_asked_for_at_once_add_up_and_a_refusal_does_not_hide_one() {
        let (global, params) = (global(100), params(100));
        let key = Key::Route;
        global.keep(key, batch(4, 0), 0);
        global.keep(key, batch(4, 0), 0);
        global.keep(
            key,
            Held::Refused {
                until: SECOND,
                tat: 0,
            },
            0,
        );
        let spent = (0..10)
            .filter(|_| decided(global.held(key, 0, &params)).is_some_and(|d| d.allowed))
            .count();
        assert_eq!(spent, 8);
    }

    #[test]
    fn one_request_asks_while_the_others_wait_for_its_answer() {
        let (global, params) = (global(100), params(100));
        let key = Key::Route;
        let first = global.held(key, 0, &params);
        assert!(matches!(first, Local::Ask(_)));
        assert!(matches!(global.held(key, 1, &params), Local::Wait));
        // The answer: a batch the waiters spend.
        global.keep(key, batch(4, 0), 2);
        assert!(matches!(global.held(key, 3, &params), Local::Decided(d) if d.allowed));
        drop(first);
        // An asker that never answers is waited for no longer than the store's deadline.
        let later = 10 * SECOND;
        let stuck = global.held(key, later, &params);
        assert!(matches!(stuck, Local::Ask(_)));
        let patience = global.patience;
        assert!(matches!(
            global.held(key, later + patience - 1, &params),
            Local::Wait
        ));
        let next = global.held(key, later + patience, &params);
        assert!(matches!(next, Local::Ask(_)));
        // An asker that goes away without an answer lets the waiters ask at once.
        drop(next);
        let again = global.held(key, later + patience + 1, &params);
        assert!(matches!(again, Local::Ask(_)));
        drop(stuck);
    }

    #[test]
    fn a_refusal_holds_until_the_store_can_give_again() {
        let (global, params) = (global(20), params(20));
        assert_eq!(
            global.batch, 1,
            "a small burst is exact: one request a round trip"
        );
        let key = Key::Ip([127, 0, 0, 2].into());
        global.keep(
            key,
            Held::Refused {
                until: 100,
                tat: 200,
            },
            0,
        );
        let refused = decided(global.held(key, 50, &params)).unwrap();
        assert!(!refused.allowed);
        assert!(decided(global.held(key, 100, &params)).is_none());
    }

    #[test]
    fn names_are_the_same_in_every_process_and_of_one_length() {
        let (one, two) = (global(20), global(20));
        let header = Material::Text(b"a-client-key".as_slice().into());
        let name = one.name(&header);
        assert_eq!(name, two.name(&header));
        assert!(name.starts_with("edge:test:limit:"));
        assert_eq!(name.len(), "edge:test:limit:".len() + 32);
        let long = Material::Text(vec![b'x'; 10_000].into());
        assert_eq!(one.name(&long).len(), name.len());
        assert_ne!(
            one.name(&Material::Ip([127, 0, 0, 2].into())),
            one.name(&Material::Route)
        );
    }

    #[test]
    fn a_full_shard_forgets_what_lapsed_and_keeps_nothing_it_cannot() {
        let global = global(100);
        let per_shard = global.per_shard;
        let keys: Vec<Key> = (0..per_shard as u64 * SHARDS as u64 * 4)
            .map(|i| Key::Digest([i, i]))
            .collect();
        for &key in &keys {
            global.keep(key, Held::Refused { until: 10, tat: 10 }, 0);
        }
        let held: usize = global
            .held
            .iter()
            .map(|shard| shard.lock().unwrap().len())
            .sum();
        assert!(held <= per_shard * SHARDS, "{held}");
        // Once lapsed, new keys take their place.
        let late = Key::Digest([u64::MAX, 0]);
        global.keep(
            late,
            Held::Refused {
                until: 100,
                tat: 100,
            },
            50,
        );
        assert!(decided(global.held(late, 60, &global_params())).is_some());
    }

    fn global_params() -> Params {
        params(100)
    }
}
