//! A route's weighted split across pools (`forward app 95, app_v2 5`): canaries and blue/green.
//! Each request goes to one pool, with a chance proportional to its weight; with a key (`by
//! client_ip`, `by cookie("session")`...) the pool is the key's, so a client stays on one side
//! for as long as the weights stay. The key's hash is the fixed function consistent hashing
//! uses, so every proxy of a fleet puts a key on the same side; a request without the key is
//! placed by weight at random. The generated route matches on the index and forwards to that
//! pool, each pool keeping its own type.

use super::balance::{HashKey, Target};
use crate::{Cx, Request};

/// A split as the `.edge` file writes it.
#[derive(Debug)]
pub struct SplitSpec {
    /// Each pool's weight, in the order written; at least one is not 0.
    pub weights: &'static [u32],
}

/// No key: every request is placed by weight at random.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnyRequest;

impl HashKey for AnyRequest {
    fn hash(&self, _: &Target<'_>) -> Option<u64> {
        None
    }
}

/// A route's split, keyed by `K`.
#[derive(Debug)]
pub struct Split<K> {
    spec: &'static SplitSpec,
    key: K,
    /// The sum of the weights.
    total: u64,
}

impl<K: HashKey> Split<K> {
    pub fn new(spec: &'static SplitSpec, key: K) -> Split<K> {
        Split {
            spec,
            key,
            total: spec.weights.iter().map(|&w| u64::from(w)).sum(),
        }
    }

    /// The index of the pool `req` goes to, in the order the spec lists them.
    pub fn pick(&self, req: &Request, cx: &Cx) -> usize {
        let target = Target::request(req.headers(), req.uri().path(), cx.client().ip());
        let draw = self.key.hash(&target).unwrap_or_else(crate::rand::next);
        self.at(draw)
    }

    /// The pool whose share of `0..total` holds `draw` scaled onto it (multiply-shift, so
    /// every 64-bit draw maps evenly).
    fn at(&self, draw: u64) -> usize {
        let point = ((u128::from(draw) * u128::from(self.total)) >> 64) as u64;
        let mut end = 0;
        for (index, &weight) in self.spec.weights.iter().enumerate() {
            end += u64::from(weight);
            if point < end {
                return index;
            }
        }
        self.spec.weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::balance::ClientIpKey;

    static CANARY: SplitSpec = SplitSpec {
        weights: &[95, 0, 5],
    };

    #[test]
    fn draws_land_in_shares_by_weight_and_a_zero_weight_gets_none() {
        let split = Split::new(&CANARY, AnyRequest);
        let mut counts = [0usize; 3];
        for i in 0..10_000u64 {
            counts[split.at(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_300..=9_700).contains(&counts[0]), "{counts:?}");
        assert_eq!(split.at(0), 0);
        assert_eq!(split.at(u64::MAX), 2);
    }

    #[test]
    fn a_keyed_split_keeps_a_client_on_its_side() {
        let split = Split::new(&CANARY, ClientIpKey);
        let sides: Vec<usize> = (0..200u8)
            .map(|last| {
                let client = std::net::IpAddr::from([192, 0, 2, last]);
                let target = Target::tunnel(client);
                let side = split.at(split.key.hash(&target).unwrap());
                assert_eq!(side, split.at(split.key.hash(&target).unwrap()));
                side
            })
            .collect();
        assert!(sides.contains(&0) && sides.contains(&2), "{sides:?}");
    }
}
