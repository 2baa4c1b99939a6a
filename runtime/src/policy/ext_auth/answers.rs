//! Answers an `ext_auth` policy keeps, by key, for a fixed time: split over shards, each a map
//! behind its own lock held only to look up or insert. Keys are kept whole, never only hashed,
//! so two keys can never share an answer.
//!
//! What is kept is bounded by bytes, not by count: a client chooses the key (an `Authorization`
//! header, a cookie), so entries of a few KiB each would otherwise let one policy hold tens of
//! MiB. Every entry is weighed when kept (its key, what its answer holds ([`Weigh`]) and
//! [`Answers::OVERHEAD`] for the entry itself), and each shard keeps at most its share of the
//! policy's bytes. A shard an answer would overflow first drops what has expired; if there is
//! still no room, the answer is not kept (the next request asks again). An entry heavier than a
//! shard's share is never kept.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::clock::{self, Nanos};

/// The shards a policy's answers are split over; each keeps a sixteenth of its bytes.
pub(crate) const SHARDS: usize = 16;

/// The bytes a kept answer holds beyond its own inline size: its allocations.
pub(super) trait Weigh {
    fn weight(&self) -> usize;
}

/// A kept answer: when it expires, what it weighs (to give back when it is dropped), and itself.
#[derive(Debug)]
struct Entry<T> {
    expires: Nanos,
    weight: usize,
    answer: T,
}

#[derive(Debug)]
struct Shard<T> {
    entries: HashMap<Box<[u8]>, Entry<T>>,
    /// The weight of `entries`.
    bytes: usize,
    /// No entry expires before this; `Nanos::MAX` when there are none.
    first_expiry: Nanos,
}

impl<T> Shard<T> {
    /// Drops the entries that have expired by `now`, when there may be some.
    fn drop_expired(&mut self, now: Nanos) {
        if self.first_expiry > now {
            return;
        }
        let mut first_expiry = Nanos::MAX;
        let mut bytes = self.bytes;
        self.entries.retain(|_, entry| {
            if entry.expires > now {
                first_expiry = first_expiry.min(entry.expires);
                true
            } else {
                bytes -= entry.weight;
                false
            }
        });
        self.bytes = bytes;
        self.first_expiry = first_expiry;
    }
}

/// Kept answers of type `T`.
#[derive(Debug)]
pub(super) struct Answers<T> {
    ttl: Nanos,
    /// The bytes each shard may keep.
    shard_bytes: usize,
    hasher: ahash::RandomState,
    shards: [Mutex<Shard<T>>; SHARDS],
}

impl<T: Clone + Weigh> Answers<T> {
    /// What an entry weighs besides its key's bytes and its answer's [`Weigh::weight`]: its
    /// slot in the map (key, expiry and answer inline) twice over, for the spare slots of a
    /// table that doubles as it grows, and the allocator's share of the key's allocation.
    pub(super) const OVERHEAD: usize = 2 * size_of::<(Box<[u8]>, Entry<T>)>() + 16;

    /// Answers kept for `ttl`, in at most `max_bytes` in all.
    pub(super) fn new(ttl: Duration, max_bytes: usize) -> Answers<T> {
        Answers {
            ttl: Nanos::try_from(ttl.as_nanos()).unwrap_or(Nanos::MAX),
            shard_bytes: max_bytes / SHARDS,
            hasher: ahash::RandomState::new(),
            shards: std::array::from_fn(|_| {
                Mutex::new(Shard {
                    entries: HashMap::new(),
                    bytes: 0,
                    first_expiry: Nanos::MAX,
                })
            }),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard<T>> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[index]
    }

    /// The answer kept for `key`, if it has not expired.
    pub(super) fn get(&self, key: &[u8]) -> Option<T> {
        let shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.entries.get(key)?;
        (entry.expires > clock::now()).then(|| entry.answer.clone())
    }

    /// Keeps `answer` for `key` until the time to live has passed, if there is room for it.
    pub(super) fn put(&self, key: Vec<u8>, answer: T) {
        let weight = key.len() + answer.weight() + Self::OVERHEAD;
        if weight > self.shard_bytes {
            return;
        }
        let now = clock::now();
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A new answer for a key replaces the old one, whatever becomes of it.
        if let Some(old) = shard.entries.remove(key.as_slice()) {
            shard.bytes -= old.weight;
        }
        if shard.bytes + weight > self.shard_bytes {
            shard.drop_expired(now);
            if shard.bytes + weight > self.shard_bytes {
                return;
            }
        }
        let expires = now.saturating_add(self.ttl);
        shard.bytes += weight;
        shard.first_expiry = shard.first_expiry.min(expires);
        shard.entries.insert(
            key.into_boxed_slice(),
            Entry {
                expires,
                weight,
                answer,
            },
        );
    }

    /// The weight of what is kept, expired entries not yet dropped included.
    pub(super) fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer weighing its length.
    #[derive(Debug, Clone, PartialEq)]
    struct Text(String);

    impl Weigh for Text {
        fn weight(&self) -> usize {
            self.0.len()
        }
    }

    fn text(text: &str) -> Text {
        Text(text.to_owned())
    }

    fn kept(answers: &Answers<Text>) -> usize {
        answers
            .shards
            .iter()
            .map(|shard| shard.lock().unwrap().entries.len())
            .sum()
    }

    #[test]
    fn answers_are_kept_by_their_whole_key_until_they_expire() {
        let answers = Answers::new(Duration::from_secs(60), 1 << 20);
        answers.put(b"alice".to_vec(), text("yes"));
        assert_eq!(answers.get(b"alice"), Some(text("yes")));
        assert_eq!(answers.get(b"alicE"), None);
        let expired = Answers::new(Duration::ZERO, 1 << 20);
        expired.put(b"alice".to_vec(), text("yes"));
        assert_eq!(expired.get(b"alice"), None);
    }

    #[test]
    fn every_entry_is_weighed_and_given_back_when_replaced() {
        let answers = Answers::new(Duration::from_secs(60), 1 << 20);
        answers.put(b"alice".to_vec(), text("yes"));
        let one = 5 + 3 + Answers::<Text>::OVERHEAD;
        assert_eq!(answers.bytes(), one);
        answers.put(b"alice".to_vec(), text("no"));
        assert_eq!(answers.bytes(), one - 1);
        assert_eq!(answers.get(b"alice"), Some(text("no")));
    }

    /// Clients choosing keys of 4 KiB each cannot make a policy keep more than its bytes.
    #[test]
    fn large_keys_stay_within_the_bytes() {
        let max = 256 << 10;
        let answers = Answers::new(Duration::from_secs(60), max);
        for i in 0..2_000_u32 {
            let mut key = vec![b'x'; 4096];
            key[..4].copy_from_slice(&i.to_le_bytes());
            answers.put(key, text("yes"));
        }
        assert!(answers.bytes() <= max, "{} > {max}", answers.bytes());
        // Each shard is full: every one of them holds several.
        assert!(kept(&answers) >= SHARDS * 2, "{}", kept(&answers));
        assert!(answers.bytes() > max / 2, "{}", answers.bytes());
    }

    #[test]
    fn an_entry_heavier_than_a_shard_is_never_kept() {
        let answers = Answers::new(Duration::from_secs(60), 64 << 10);
        answers.put(vec![b'x'; 4 << 10], text("yes"));
        assert_eq!(answers.get(&[b'x'; 4 << 10]), None);
        assert_eq!(answers.bytes(), 0);
        answers.put(b"alice".to_vec(), text("yes"));
        assert_eq!(answers.get(b"alice"), Some(text("yes")));
    }

    #[tokio::test(start_paused = true)]
    async fn room_is_made_by_dropping_what_expired() {
        let answers = Answers::new(Duration::from_secs(10), 256 << 10);
        let heavy = |i: u32| {
            let mut key = vec![b'x'; 4096];
            key[..4].copy_from_slice(&i.to_le_bytes());
            key
        };
        for i in 0..2_000 {
            answers.put(heavy(i), text("yes"));
        }
        // Full: some small key's shard has no room left for it.
        let refused = (0..1_000_u32)
            .map(|i| format!("small-{i}").into_bytes())
            .find(|key| {
                answers.put(key.clone(), text("yes"));
                answers.get(key).is_none()
            })
            .expect("a full shard refuses");
        tokio::time::advance(Duration::from_secs(11)).await;
        answers.put(refused.clone(), text("yes"));
        assert_eq!(answers.get(&refused), Some(text("yes")));
        // The heavy entries of that shard were dropped, and their bytes given back.
        assert!(answers.bytes() < 256 << 10);
        answers.put(heavy(5_000), text("yes"));
        assert_eq!(answers.get(&heavy(5_000)), Some(text("yes")));
    }
}
