//! A route's weighted split across pools (`forward app 95, app_v2 5`): canaries and blue/green.
//! Each request goes to one pool, with a chance proportional to its weight; with a key (`by
//! client_ip`, `by cookie("session")`...) the pool is the key's, so a client stays on one side
//! for as long as the weights stay. The key's hash is the fixed function consistent hashing
//! uses, so every proxy of a fleet puts a key on the same side; a request without the key is
//! placed by weight at random. The generated route matches on the index and forwards to that
//! pool, each pool keeping its own type.
//!
//! The weights are live data: the admin API (`PUT /routes/NAME/split`) changes them without a
//! rebuild, through the process's [`Splits`]; a pick reads them with relaxed loads (plain loads
//! on x86-64). Weights changed so are carried to the next process of a zero-downtime upgrade
//! ([`Splits::changed`], [`Splits::adopt`]) when its config splits the route as this one's did.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::balance::{HashKey, Target};
use crate::registry::Started;
use crate::{Cx, Request};

/// The most a weight may be, as the language allows.
pub(crate) const MAX_WEIGHT: u32 = 10_000;

/// A split as the `.edge` file writes it.
#[derive(Debug)]
pub struct SplitSpec {
    /// The route's name.
    pub route: &'static str,
    /// Each pool's name and weight, in the order written; at least one weight is not 0.
    pub pools: &'static [(&'static str, u32)],
}

/// No key: every request is placed by weight at random.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnyRequest;

impl HashKey for AnyRequest {
    fn hash(&self, _: &Target<'_>) -> Option<u64> {
        None
    }
}

/// A split's current weights, in its spec's order.
#[derive(Debug)]
pub(crate) struct Weights {
    spec: &'static SplitSpec,
    weights: Box<[AtomicU32]>,
}

/// Why new weights were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WeightsError {
    UnknownPool {
        pool: String,
        pools: Vec<&'static str>,
    },
    OutOfRange {
        pool: String,
    },
    AllZero,
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::UnknownPool { pool, pools } => write!(
                f,
                "the split has no pool `{pool}`; its pools are {}",
                pools.join(", ")
            ),
            WeightsError::OutOfRange { pool } => write!(
                f,
                "the weight of `{pool}` must be a whole number from 0 to {MAX_WEIGHT}"
            ),
            WeightsError::AllZero => {
                write!(f, "every weight would be 0: no request would go anywhere")
            }
        }
    }
}

impl Weights {
    fn new(spec: &'static SplitSpec) -> Weights {
        Weights {
            spec,
            weights: spec.pools.iter().map(|&(_, w)| AtomicU32::new(w)).collect(),
        }
    }

    /// Each pool's name and current weight.
    pub(crate) fn current(&self) -> Vec<(&'static str, u32)> {
        self.spec
            .pools
            .iter()
            .zip(self.weights.iter())
            .map(|(&(pool, _), weight)| (pool, weight.load(Ordering::Relaxed)))
            .collect()
    }

    /// Sets the weights of the pools `changes` names (the others keep theirs), all or none.
    pub(crate) fn set(&self, changes: &[(String, u64)]) -> Result<(), WeightsError> {
        let mut next: Vec<u32> = self.current().into_iter().map(|(_, w)| w).collect();
        for (pool, weight) in changes {
            let Some(index) = self.spec.pools.iter().position(|(name, _)| name == pool) else {
                return Err(WeightsError::UnknownPool {
                    pool: pool.clone(),
                    pools: self.spec.pools.iter().map(|&(name, _)| name).collect(),
                });
            };
            next[index] = u32::try_from(*weight)
                .ok()
                .filter(|&w| w <= MAX_WEIGHT)
                .ok_or_else(|| WeightsError::OutOfRange { pool: pool.clone() })?;
        }
        if next.iter().all(|&w| w == 0) {
            return Err(WeightsError::AllZero);
        }
        for (slot, weight) in self.weights.iter().zip(next) {
            slot.store(weight, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The pool whose share of the weights' total holds `draw` scaled onto it (multiply-shift,
    /// so every 64-bit draw maps evenly). The weights are read twice, for the total and for the
    /// walk: a change in between can only move a draw past the end, which goes to the last
    /// pool.
    fn at(&self, draw: u64) -> usize {
        let weight = |w: &AtomicU32| u64::from(w.load(Ordering::Relaxed));
        let total: u64 = self.weights.iter().map(weight).sum();
        let point = ((u128::from(draw) * u128::from(total)) >> 64) as u64;
        let mut end = 0;
        for (index, slot) in self.weights.iter().enumerate() {
            end += weight(slot);
            if point < end {
                return index;
            }
        }
        self.weights.len() - 1
    }
}

/// A split whose weights were changed while the process ran, as the hand-off to a next
/// process carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedSplit {
    pub(crate) route: String,
    /// Each pool's name, its weight in the config, and its weight now.
    pub(crate) pools: Vec<(String, u32, u32)>,
}

/// What became of a split a predecessor changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Adoption {
    /// Its weights are in force here.
    Kept,
    /// This config splits the route otherwise (other pools or weights): its weights stand.
    ConfigChanged,
    /// This config has no split on the route.
    NoSuchSplit,
    /// The weights are not ones an operator could set here (they came from a faulty peer).
    Refused(WeightsError),
}

/// The splits of a process, by route, for the admin API.
#[derive(Clone)]
pub struct Splits(Arc<Started<Weights>>);

impl fmt::Debug for Splits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.all()
                    .iter()
                    .map(|(route, weights)| (route, weights.current())),
            )
            .finish()
    }
}

impl Splits {
    pub(crate) fn new() -> Splits {
        Splits(Arc::new(Started::new()))
    }

    /// Every split's route and weights.
    pub(crate) fn all(&self) -> Vec<(&'static str, Arc<Weights>)> {
        self.0.live()
    }

    /// The split of route `route`.
    pub(crate) fn route(&self, route: &str) -> Option<Arc<Weights>> {
        self.all()
            .into_iter()
            .find(|(name, _)| *name == route)
            .map(|(_, weights)| weights)
    }

    /// The splits whose weights differ from the config's now.
    pub(crate) fn changed(&self) -> Vec<ChangedSplit> {
        self.all()
            .into_iter()
            .filter_map(|(route, weights)| {
                let pools: Vec<(String, u32, u32)> = weights
                    .spec
                    .pools
                    .iter()
                    .zip(weights.current())
                    .map(|(&(pool, configured), (_, live))| (pool.to_owned(), configured, live))
                    .collect();
                pools
                    .iter()
                    .any(|(_, configured, live)| configured != live)
                    .then(|| ChangedSplit {
                        route: route.to_owned(),
                        pools,
                    })
            })
            .collect()
    }

    /// Puts in force the weights a predecessor's operator set on a route, when this config
    /// splits the route exactly as the predecessor's did (the same pools with the same
    /// weights, in any order): a config that says something new about the split is the later
    /// word, and wins.
    pub(crate) fn adopt(&self, changed: &ChangedSplit) -> Adoption {
        let Some(weights) = self.route(&changed.route) else {
            return Adoption::NoSuchSplit;
        };
        let mut theirs: Vec<(&str, u32)> = changed
            .pools
            .iter()
            .map(|(pool, configured, _)| (pool.as_str(), *configured))
            .collect();
        let mut ours = weights.spec.pools.to_vec();
        theirs.sort_unstable();
        ours.sort_unstable();
        if theirs != ours {
            return Adoption::ConfigChanged;
        }
        let live: Vec<(String, u64)> = changed
            .pools
            .iter()
            .map(|(pool, _, live)| (pool.clone(), u64::from(*live)))
            .collect();
        match weights.set(&live) {
            Ok(()) => Adoption::Kept,
            Err(error) => Adoption::Refused(error),
        }
    }
}

/// A route's split, keyed by `K`.
#[derive(Debug)]
pub struct Split<K> {
    weights: Arc<Weights>,
    key: K,
}

impl<K: HashKey> Split<K> {
    /// The split of `spec`, listed in `splits` for the admin API.
    pub fn new(spec: &'static SplitSpec, key: K, splits: &Splits) -> Split<K> {
        let weights = Arc::new(Weights::new(spec));
        splits.0.register(spec.route, Arc::downgrade(&weights));
        Split { weights, key }
    }

    /// The index of the pool `req` goes to, in the order the spec lists them.
    pub fn pick(&self, req: &Request, cx: &Cx) -> usize {
        let target = Target::request(req.headers(), req.uri().path(), cx.client().ip());
        let draw = self.key.hash(&target).unwrap_or_else(crate::rand::next);
        self.weights.at(draw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::balance::ClientIpKey;

    static CANARY: SplitSpec = SplitSpec {
        route: "app",
        pools: &[("app", 95), ("parked", 0), ("app_v2", 5)],
    };

    #[test]
    fn draws_land_in_shares_by_weight_and_a_zero_weight_gets_none() {
        let split = Split::new(&CANARY, AnyRequest, &Splits::new());
        let mut counts = [0usize; 3];
        for i in 0..10_000u64 {
            counts[split.weights.at(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_300..=9_700).contains(&counts[0]), "{counts:?}");
        assert_eq!(split.weights.at(0), 0);
        assert_eq!(split.weights.at(u64::MAX), 2);
    }

    #[test]
    fn a_keyed_split_keeps_a_client_on_its_side() {
        let split = Split::new(&CANARY, ClientIpKey, &Splits::new());
        let sides: Vec<usize> = (0..200u8)
            .map(|last| {
                let client = std::net::IpAddr::from([192, 0, 2, last]);
                let target = Target::tunnel(client);
                let side = split.weights.at(split.key.hash(&target).unwrap());
                assert_eq!(side, split.weights.at(split.key.hash(&target).unwrap()));
                side
            })
            .collect();
        assert!(sides.contains(&0) && sides.contains(&2), "{sides:?}");
    }

    #[test]
    fn weights_change_all_or_nothing_and_are_found_by_route() {
        let splits = Splits::new();
        let split = Split::new(&CANARY, AnyRequest, &splits);
        let weights = splits.route("app").expect("listed");
        assert!(splits.route("other").is_none());
        let change = |pool: &str, weight| vec![(pool.to_owned(), weight)];
        assert!(matches!(
            weights.set(&change("app_v3", 1)),
            Err(WeightsError::UnknownPool { .. })
        ));
        assert_eq!(
            weights.set(&[("app_v2".to_owned(), 50), ("app".to_owned(), 10_001)]),
            Err(WeightsError::OutOfRange { pool: "app".into() })
        );
        assert_eq!(weights.current()[2], ("app_v2", 5), "nothing changed");
        assert_eq!(
            weights.set(&[("app".to_owned(), 0), ("app_v2".to_owned(), 0)]),
            Err(WeightsError::AllZero)
        );
        weights
            .set(&[("app".to_owned(), 0), ("app_v2".to_owned(), 1)])
            .unwrap();
        assert_eq!(
            split.weights.at(0),
            2,
            "every draw goes to the only weight left"
        );
        assert_eq!(split.weights.at(u64::MAX), 2);
    }

    #[test]
    fn changed_weights_are_adopted_only_where_the_config_agrees() {
        static SWAPPED: SplitSpec = SplitSpec {
            route: "app",
            pools: &[("app_v2", 5), ("parked", 0), ("app", 95)],
        };
        static MOVED_ON: SplitSpec = SplitSpec {
            route: "app",
            pools: &[("app", 80), ("parked", 0), ("app_v2", 20)],
        };
        let old = Splits::new();
        let _old = Split::new(&CANARY, AnyRequest, &old);
        assert!(old.changed().is_empty(), "nothing changed yet");
        let change = [("app".to_owned(), 10), ("app_v2".to_owned(), 90)];
        old.route("app").unwrap().set(&change).unwrap();
        let [changed] = <[ChangedSplit; 1]>::try_from(old.changed()).unwrap();
        assert_eq!(changed.pools[2], ("app_v2".to_owned(), 5, 90));

        // The same split, written in another order: the live weights carry over.
        let same = Splits::new();
        let _same = Split::new(&SWAPPED, AnyRequest, &same);
        assert_eq!(same.adopt(&changed), Adoption::Kept);
        let now = same.route("app").unwrap().current();
        assert_eq!(now, [("app_v2", 90), ("parked", 0), ("app", 10)]);

        // A config that moved the split on is the later word.
        let moved = Splits::new();
        let _moved = Split::new(&MOVED_ON, AnyRequest, &moved);
        assert_eq!(moved.adopt(&changed), Adoption::ConfigChanged);
        assert_eq!(moved.route("app").unwrap().current()[0], ("app", 80));

        assert_eq!(Splits::new().adopt(&changed), Adoption::NoSuchSplit);
        let mut faulty = changed.clone();
        faulty.pools[0].2 = MAX_WEIGHT + 1;
        assert!(matches!(same.adopt(&faulty), Adoption::Refused(_)));
    }
}
