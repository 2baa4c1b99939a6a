//! Keeping a fetched key set fresh: one background task per policy fetches the set at start-up
//! (the process waits for that first fetch before serving, up to [`FIRST_WAIT`]), then again
//! when its lifetime ends, sooner after a failure ([`RETRY`], or [`RETRY_EMPTY`] while no set
//! was ever fetched), and at once when a request meets a token whose `kid` the set lacks.
//!
//! Those requests share one fetch: a request joins the fetch under way, or starts one when the
//! last one a request started is [`REFETCH_EVERY`] old or more (a flood of tokens with made-up
//! `kid`s costs the key server one fetch per interval), and waits for it up to [`JOIN_WAIT`];
//! when the limit forbids a fetch, the token is refused at once. A failed fetch keeps the set
//! held. Nothing here is on the path of a token whose key the set has.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use tokio::sync::{watch, Notify};

use super::keys::KeySet;
use super::remote::Endpoint;
use crate::clock::{self, Nanos};

/// How long the process waits for a policy's first fetch before it serves anyway.
pub(super) const FIRST_WAIT: Duration = Duration::from_secs(10);
/// When a fetch fails and a set is held, the next try is this much later.
const RETRY: Duration = Duration::from_secs(30);
/// When a fetch fails and no set was ever fetched (every token is refused), the next try.
const RETRY_EMPTY: Duration = Duration::from_secs(5);
/// At most one fetch per this long is started by tokens whose `kid` the set lacks.
const REFETCH_EVERY: Duration = Duration::from_secs(30);
/// How long a request waits for a fetch it joined.
pub(super) const JOIN_WAIT: Duration = Duration::from_secs(5);

/// A policy's fetched keys and what renews them.
#[derive(Debug)]
pub(super) struct Fetched {
    pub(super) current: ArcSwap<KeySet>,
    /// Wakes the task for a fetch now.
    wake: Notify,
    /// Raised while a fetch is under way.
    fetching: AtomicBool,
    /// Counts finished fetches, for requests waiting for one.
    finished: watch::Sender<u64>,
    limit: Limit,
}

impl Fetched {
    /// No key yet: the first fetch fills it.
    pub(super) fn new() -> Fetched {
        Fetched {
            current: ArcSwap::from_pointee(KeySet::empty()),
            wake: Notify::new(),
            fetching: AtomicBool::new(false),
            finished: watch::Sender::new(0),
            limit: Limit::new(REFETCH_EVERY),
        }
    }

    /// For a request whose token names a key the set lacks: the end of the fetch under way,
    /// or of one started now if the limit allows; `None` when there is none to wait for.
    pub(super) fn join(&self) -> Option<watch::Receiver<u64>> {
        // Subscribed first, so a fetch that ends after the check below is seen to end.
        let finished = self.finished.subscribe();
        if self.fetching.load(Ordering::Acquire) {
            return Some(finished);
        }
        if self.limit.allows(clock::now()) {
            self.wake.notify_one();
            return Some(finished);
        }
        None
    }
}

/// At most one start per interval, shared by every worker without a lock.
#[derive(Debug)]
struct Limit {
    every: Nanos,
    /// When the last start was allowed; 0: never.
    last: AtomicU64,
}

impl Limit {
    fn new(every: Duration) -> Limit {
        Limit {
            every: clock::nanos(every),
            last: AtomicU64::new(0),
        }
    }

    /// Whether a start at `now` is allowed; if so, it is counted.
    fn allows(&self, now: Nanos) -> bool {
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            if last != 0 && now.saturating_sub(last) < self.every {
                return false;
            }
            match self
                .last
                .compare_exchange_weak(last, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(newer) => last = newer,
            }
        }
    }
}

/// The task that keeps `fetched` fresh from `endpoint`, for policy `policy`; `first` is told
/// when the first fetch has ended, however it went. Runs until aborted.
pub(super) async fn run(
    policy: &'static str,
    endpoint: Endpoint,
    fetched: Arc<Fetched>,
    first: watch::Sender<bool>,
) {
    let url = endpoint.url();
    let mut first = Some(first);
    let mut held = false;
    loop {
        fetched.fetching.store(true, Ordering::Release);
        let next = match endpoint.fetch().await {
            Ok(set) => {
                tracing::info!(
                    policy,
                    url,
                    keys = set.keys.keys.len(),
                    next_in = ?set.lifetime,
                    "jwt keys fetched"
                );
                fetched.current.store(Arc::new(set.keys));
                held = true;
                set.lifetime
            }
            Err(error) if held => {
                tracing::warn!(policy, url, %error, retry_in = ?RETRY, "cannot fetch the jwt keys; keeping the keys fetched before");
                RETRY
            }
            Err(error) => {
                tracing::error!(policy, url, %error, retry_in = ?RETRY_EMPTY, "cannot fetch the jwt keys; every token is refused until a fetch succeeds");
                RETRY_EMPTY
            }
        };
        fetched.fetching.store(false, Ordering::Release);
        fetched.finished.send_modify(|count| *count += 1);
        if let Some(first) = first.take() {
            first.send_replace(true);
        }
        let next = Instant::now() + next;
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = fetched.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kids_start_at_most_one_fetch_per_interval() {
        let limit = Limit::new(Duration::from_secs(30));
        let at = |seconds: u64| clock::nanos(Duration::from_secs(86_400 + seconds));
        assert!(limit.allows(at(0)), "the first start is allowed");
        assert!(!limit.allows(at(0)));
        assert!(!limit.allows(at(29)));
        assert!(limit.allows(at(30)));
        assert!(!limit.allows(at(45)));
        assert!(limit.allows(at(100)));
        // A clock read before the last start (another worker's) does not start one.
        assert!(!limit.allows(at(99)));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_join_a_fetch_under_way_or_start_one_within_the_limit() {
        let fetched = Fetched::new();
        let mut first = fetched
            .join()
            .expect("the first unknown kid starts a fetch");
        assert!(
            fetched.join().is_none(),
            "a second is refused within the limit while no fetch runs"
        );
        fetched.fetching.store(true, Ordering::Release);
        let mut second = fetched.join().expect("a fetch under way is joined");
        fetched.fetching.store(false, Ordering::Release);
        fetched.finished.send_modify(|count| *count += 1);
        first.changed().await.unwrap();
        second.changed().await.unwrap();
        // The task was woken once, for the first.
        tokio::time::timeout(Duration::from_millis(1), fetched.wake.notified())
            .await
            .expect("a wake-up is stored");
        tokio::time::advance(REFETCH_EVERY).await;
        assert!(fetched.join().is_some(), "the limit has passed");
    }
}
