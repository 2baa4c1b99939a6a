//! Answers an `ext_auth` policy keeps, by key, for a fixed time: split over shards, each a map
//! behind its own lock held only to look up or insert, of at most [`MAX_ENTRIES`] entries in all.
//! A full shard first drops what has expired; if it is still full, the answer is not kept (the
//! next request asks again). Keys are kept whole, never only hashed, so two keys can never share
//! an answer.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::clock::{self, Nanos};

/// The most answers one policy keeps.
pub(crate) const MAX_ENTRIES: usize = 10_000;

const SHARDS: usize = 16;

/// One shard: each key's answer with the time it expires.
type Shard<T> = Mutex<HashMap<Box<[u8]>, (Nanos, T)>>;

/// Kept answers of type `T`.
#[derive(Debug)]
pub(super) struct Answers<T> {
    ttl: Nanos,
    hasher: ahash::RandomState,
    shards: [Shard<T>; SHARDS],
}

impl<T: Clone> Answers<T> {
    pub(super) fn new(ttl: Duration) -> Answers<T> {
        Answers {
            ttl: Nanos::try_from(ttl.as_nanos()).unwrap_or(Nanos::MAX),
            hasher: ahash::RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(&self, key: &[u8]) -> &Shard<T> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[index]
    }

    /// The answer kept for `key`, if it has not expired.
    pub(super) fn get(&self, key: &[u8]) -> Option<T> {
        let shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (expires, answer) = shard.get(key)?;
        (*expires > clock::now()).then(|| answer.clone())
    }

    /// Keeps `answer` for `key` until the time to live has passed.
    pub(super) fn put(&self, key: Vec<u8>, answer: T) {
        let now = clock::now();
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= MAX_ENTRIES / SHARDS && !shard.contains_key(key.as_slice()) {
            shard.retain(|_, (expires, _)| *expires > now);
            if shard.len() >= MAX_ENTRIES / SHARDS {
                return;
            }
        }
        shard.insert(
            key.into_boxed_slice(),
            (now.saturating_add(self.ttl), answer),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_by_their_whole_key_until_they_expire() {
        let answers = Answers::new(Duration::from_secs(60));
        answers.put(b"alice".to_vec(), 1);
        assert_eq!(answers.get(b"alice"), Some(1));
        assert_eq!(answers.get(b"alicE"), None);
        let expired = Answers::new(Duration::ZERO);
        expired.put(b"alice".to_vec(), 1);
        assert_eq!(expired.get(b"alice"), None);
    }

    #[test]
    fn a_full_cache_keeps_no_more() {
        let answers = Answers::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES * 2 {
            answers.put(i.to_le_bytes().to_vec(), i);
        }
        let kept: usize = answers.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(kept <= MAX_ENTRIES, "{kept}");
        assert!(kept > MAX_ENTRIES / 2, "{kept}");
    }
}
