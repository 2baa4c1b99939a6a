//! What a process has started, kept so the process can find it again: live things by weak
//! handle ([`Started`]: pools for the admin listener, pools' TLS clients for SIGHUP, caches
//! for purges and metrics), and first-time work to wait for before serving ([`Firsts`]: names
//! resolved, servers checked). Never read on the request path.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::Instant,
};

use tokio::sync::watch;

/// Things of one kind started in this process, each with a name, by weak handle: a thing
/// leaves when its last strong handle is dropped.
pub(crate) struct Started<T: ?Sized> {
    entries: Mutex<Vec<(&'static str, Weak<T>)>>,
}

impl<T: ?Sized> Started<T> {
    pub(crate) const fn new() -> Started<T> {
        Started {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Lists `thing` under `name`; things gone since drop out.
    pub(crate) fn register(&self, name: &'static str, thing: Weak<T>) {
        let mut entries = lock(&self.entries);
        entries.retain(|(_, thing)| thing.strong_count() > 0);
        entries.push((name, thing));
    }

    /// The things still alive, in the order they were listed.
    pub(crate) fn live(&self) -> Vec<(&'static str, Arc<T>)> {
        lock(&self.entries)
            .iter()
            .filter_map(|(name, thing)| Some((*name, thing.upgrade()?)))
            .collect()
    }
}

/// First-time work started in this process and not finished yet, each with the time past
/// which it is not waited for.
pub(crate) struct Firsts {
    pending: Mutex<Vec<(watch::Receiver<bool>, Instant)>>,
}

impl Firsts {
    pub(crate) const fn new() -> Firsts {
        Firsts {
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Lists work to wait for until `until` at most; it is done when the returned sender sends
    /// `true` (or is dropped).
    pub(crate) fn start(&self, until: Instant) -> watch::Sender<bool> {
        let (done, first) = watch::channel(false);
        self.unfinished().push((first, until));
        done
    }

    /// Waits until all the work listed so far is done, each for at most its time.
    pub(crate) async fn wait(&self) {
        let pending = self.unfinished().clone();
        for (mut done, until) in pending {
            let _ = tokio::time::timeout_at(until.into(), done.wait_for(|done| *done)).await;
        }
    }

    /// The work still worth waiting for: not done, sender alive, not past its time.
    fn unfinished(&self) -> MutexGuard<'_, Vec<(watch::Receiver<bool>, Instant)>> {
        let mut pending = lock(&self.pending);
        let now = Instant::now();
        pending
            .retain(|(done, until)| *until > now && !*done.borrow() && done.has_changed().is_ok());
        pending
    }
}

/// A registry is only held to push or copy, so a poisoned lock still holds sound data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn things_leave_when_dropped() {
        let started: Started<str> = Started::new();
        let kept: Arc<str> = Arc::from("kept");
        let gone: Arc<str> = Arc::from("gone");
        started.register("a", Arc::downgrade(&kept));
        started.register("b", Arc::downgrade(&gone));
        drop(gone);
        let live = started.live();
        assert_eq!(live.len(), 1);
        assert_eq!((live[0].0, &*live[0].1), ("a", "kept"));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_work_until_done_or_its_time() {
        let firsts = Firsts::new();
        let done = firsts.start(Instant::now() + Duration::from_secs(60));
        let _stuck = firsts.start(Instant::now() + Duration::from_millis(50));
        let finishing = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            done.send_replace(true);
        });
        tokio::time::timeout(Duration::from_secs(1), firsts.wait())
            .await
            .expect("the stuck work is waited for 50 ms at most");
        finishing.await.unwrap();
    }
}
