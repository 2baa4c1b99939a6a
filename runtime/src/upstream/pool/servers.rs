//! The servers a pool's picks choose from: one [`ServerSet`] (the servers, which of them are
//! backups, each one's weight and the strategy's table for them), held by [`Servers`] behind an
//! `ArcSwap` and replaced whole, never edited. A new set is built when a name's refresh changes
//! the pool's membership (`live`) and when a server is given another weight (through the admin
//! API, or by a predecessor's hand-off), from the servers' `Backend`s, which carry over.
//!
//! A pick loads the current set once, without a lock, and sees weights and a table built
//! together. Sets are built off the request path (on the admin listener, on the pool's DNS
//! task), one at a time under a lock the request path never takes, so two rebuilds cannot undo
//! each other (a refresh swapping in a set built before a weight changed).
//!
//! An `ArcSwap` load costs a pick about 60 instructions (callgrind, docs/benchmarks.md), which
//! most pools (plain addresses, weights as the config gives them) would pay for nothing: until
//! a set is first swapped in, a pick reads the pool's first set directly, after one flag.

use std::{
    ops::Deref,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use arc_swap::{ArcSwap, Guard};

use crate::{
    clock::Nanos, upstream::backend::Backend, upstream::balance::Choice, upstream::pools::Roster,
    upstream::spec::ServerSpec, Strategy,
};

/// One set of servers with the weights in force when it was built and the strategy's table
/// for them. Indices into `backends` are only meaningful within the set.
#[derive(Debug)]
pub(crate) struct ServerSet<T> {
    pub(crate) backends: Box<[Arc<Backend>]>,
    /// Indices of the primary servers, and of the backups.
    pub(super) primaries: Box<[usize]>,
    pub(super) backups: Box<[usize]>,
    /// Each server's weight (at least 1), indexed like `backends`.
    weights: Box<[u32]>,
    pub(super) table: T,
}

impl<T> ServerSet<T> {
    /// A set of `backends`, in this order, with their weights in force now and the table `S`
    /// builds for them.
    pub(crate) fn new<S: Strategy<Table = T>>(backends: Vec<Arc<Backend>>) -> ServerSet<T> {
        let specs: Vec<ServerSpec> = backends
            .iter()
            .map(|backend| ServerSpec {
                weight: backend.weight(),
                ..backend.spec
            })
            .collect();
        let (backups, primaries): (Vec<usize>, Vec<usize>) =
            (0..specs.len()).partition(|&index| specs[index].backup);
        ServerSet {
            table: S::table(&specs),
            weights: specs.iter().map(ServerSpec::weight).collect(),
            backends: backends.into(),
            primaries: primaries.into(),
            backups: backups.into(),
        }
    }

    /// The servers of `members` (a tier's indices) for one attempt of a request that has
    /// tried (or found full) the servers of `excluded`, by [`Backend::id`].
    pub(super) fn choice<'a>(
        &'a self,
        members: &'a [usize],
        backup: bool,
        excluded: &'a [usize],
        now: Nanos,
    ) -> Choice<'a> {
        Choice::new(
            &self.backends,
            &self.weights,
            members,
            backup,
            excluded,
            now,
        )
    }
}

/// A pool's current server set, and the lock its rebuilds take.
pub(crate) struct Servers<S: Strategy> {
    /// The set the pool started with, which picks read until another is swapped in.
    first: Arc<ServerSet<S::Table>>,
    /// Raised (for good) once another set has been swapped in: picks then load `current`.
    swapped: AtomicBool,
    /// The current set: `first` until a rebuild.
    current: ArcSwap<ServerSet<S::Table>>,
    /// Held while a new set is built and swapped in; never on the request path.
    rebuilding: Mutex<()>,
}

/// The set one pick reads.
pub(super) enum Current<'a, T> {
    /// The pool's first set, never replaced so far.
    First(&'a ServerSet<T>),
    /// A set swapped in, held for the pick.
    Swapped(Guard<Arc<ServerSet<T>>>),
}

impl<T> Deref for Current<'_, T> {
    type Target = ServerSet<T>;

    fn deref(&self) -> &ServerSet<T> {
        match self {
            Current::First(set) => set,
            Current::Swapped(set) => set,
        }
    }
}

impl<S: Strategy> Servers<S> {
    /// `backends`, in this order, as the first set.
    pub(super) fn new(backends: Vec<Arc<Backend>>) -> Servers<S> {
        let first = Arc::new(ServerSet::new::<S>(backends));
        Servers {
            current: ArcSwap::new(Arc::clone(&first)),
            first,
            swapped: AtomicBool::new(false),
            rebuilding: Mutex::new(()),
        }
    }

    /// The current set, for one pick: the first set while no other has been swapped in (one
    /// flag read), else a lock-free load.
    pub(super) fn load(&self) -> Current<'_, S::Table> {
        // Acquire: a pick that sees the flag raised loads a set no older than the one whose
        // swap raised it.
        if self.swapped.load(Ordering::Acquire) {
            Current::Swapped(self.current.load())
        } else {
            Current::First(&self.first)
        }
    }

    /// The current set, to keep.
    pub(super) fn load_full(&self) -> Arc<ServerSet<S::Table>> {
        self.current.load_full()
    }

    /// Swaps in the set `build` makes from the current one, after any rebuild under way.
    pub(super) fn rebuild(&self, build: impl FnOnce(&ServerSet<S::Table>) -> ServerSet<S::Table>) {
        let _one_at_a_time = self
            .rebuilding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let next = build(&self.current.load());
        self.current.store(Arc::new(next));
        self.swapped.store(true, Ordering::Release);
    }
}

impl<S: Strategy> Roster for Servers<S> {
    fn backends(&self) -> Vec<Arc<Backend>> {
        self.load().backends.to_vec()
    }

    fn reweigh(&self) {
        self.rebuild(|current| ServerSet::new::<S>(current.backends.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::{address::Upstream, LeastConn, RoundRobin};

    fn backends(weights: &[u32]) -> Vec<Arc<Backend>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| {
                let spec = ServerSpec {
                    weight,
                    ..ServerSpec::new(Upstream::Socket(
                        (Ipv4Addr::new(10, 0, 0, i as u8 + 1), 8080).into(),
                    ))
                };
                Arc::new(Backend::new(spec, None, None))
            })
            .collect()
    }

    /// Which server each of `count` picks of the current set goes to.
    fn counts<S: Strategy>(servers: &Servers<S>, strategy: &S, count: usize) -> Vec<usize> {
        let headers = http::HeaderMap::new();
        let target =
            crate::upstream::balance::Target::request(&headers, "/", Ipv4Addr::LOCALHOST.into());
        let set = servers.load();
        let mut counts = vec![0; set.backends.len()];
        for _ in 0..count {
            let choice = set.choice(&set.primaries, false, &[], 0);
            counts[strategy
                .pick(&set.table, &choice, &target)
                .expect("a server")] += 1;
        }
        counts
    }

    #[test]
    fn a_new_weight_is_picked_by_once_the_set_is_rebuilt() {
        let servers = Servers::<RoundRobin>::new(backends(&[1, 1]));
        let strategy = RoundRobin::default();
        assert_eq!(counts(&servers, &strategy, 2_000), [1_000, 1_000]);
        let before = servers.load_full();
        assert!(
            matches!(servers.load(), Current::First(_)),
            "no flag raised yet"
        );
        before.backends[0].reweigh(3, "admin".to_owned());
        // Picks read the set's weights, not the servers': nothing moves before the swap.
        assert_eq!(counts(&servers, &strategy, 2_000), [1_000, 1_000]);
        servers.reweigh();
        assert!(matches!(servers.load(), Current::Swapped(_)));
        assert_eq!(counts(&servers, &strategy, 2_000), [1_500, 500]);
        let after = servers.load_full();
        assert!(!Arc::ptr_eq(&before, &after), "a new set");
        for (old, new) in before.backends.iter().zip(after.backends.iter()) {
            assert!(Arc::ptr_eq(old, new), "the same servers, state and all");
        }
        // The config's weight again: equal weights, plain rotation.
        after.backends[0].reweigh(1, "admin".to_owned());
        servers.reweigh();
        assert_eq!(counts(&servers, &strategy, 2_000), [1_000, 1_000]);
    }

    #[test]
    fn load_per_unit_of_weight_follows_the_new_weight() {
        let servers = Servers::<LeastConn>::new(backends(&[1, 1]));
        let strategy = LeastConn::default();
        let set = servers.load_full();
        // 2 in flight on the first, 1 on the second: the second is less loaded.
        let _busy: Vec<_> = [0, 0, 1]
            .into_iter()
            .map(|i| crate::upstream::backend::Slot::acquire(&set.backends[i]).unwrap())
            .collect();
        assert_eq!(counts(&servers, &strategy, 10), [0, 10]);
        set.backends[0].reweigh(4, "admin".to_owned());
        servers.reweigh();
        // 2 on weight 4 is lighter than 1 on weight 1.
        assert_eq!(counts(&servers, &strategy, 10), [10, 0]);
    }
}
