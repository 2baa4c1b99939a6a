//! Balancing strategies: which server of a pool gets the next attempt of a request.
//!
//! A strategy is `Pool`'s type parameter, so the pick is a direct, inlinable call. It sees the
//! pool through a [`Choice`]: the servers of the tier in use (primaries, or backups when no
//! primary is usable) and whether each is usable right now (up for active and passive health,
//! below `max_conns`, not tried yet by this request). Every strategy skips unusable servers and
//! returns `None` when it finds none.

mod ewma;
mod hash;
mod key;
mod least_conn;
mod random;
mod round_robin;

pub use ewma::Ewma;
pub use hash::Hash;
pub use key::{ClientIpKey, CookieKey, HashKey, HeaderKey, PathKey};
pub use least_conn::LeastConn;
pub use random::Random;
pub use round_robin::RoundRobin;

use std::{net::IpAddr, sync::Arc};

use http::HeaderMap;

use crate::{clock::Nanos, rand, upstream::backend::Backend, upstream::spec::ServerSpec};

/// A balancing strategy, chosen at build time as `Pool`'s type parameter and given to
/// `Pool::new` as a value. Its methods are the runtime's business: generated code only names
/// the strategy types and builds them.
///
/// What a strategy keeps per server (a hash ring, smooth weights, the largest weight) is its
/// `Table`, built for each server set when the set is made (at start-up, and off the request
/// path whenever a pool's membership or a server's weight changes) and swapped in together
/// with it, so `pick` never sees a table of another set, nor weights of another. What it keeps across sets (a rotation counter) stays in
/// the strategy itself.
pub trait Strategy: Send + Sync + 'static {
    /// Whether the pool must keep each server's latency estimate up to date for this strategy.
    #[doc(hidden)]
    const MEASURES_LATENCY: bool = false;

    /// What the strategy keeps for one server set, indexed like it.
    #[doc(hidden)]
    type Table: Send + Sync + 'static;

    /// Builds the table for a server set, in the set's order, each server with the weight in
    /// force.
    #[doc(hidden)]
    fn table(servers: &[ServerSpec]) -> Self::Table;

    /// The index of a usable server of `choice`'s tier, or `None` if there is none.
    #[doc(hidden)]
    fn pick(&self, table: &Self::Table, choice: &Choice<'_>, target: &Target<'_>) -> Option<usize>;
}

/// The servers one attempt may go to.
#[derive(Debug)]
pub struct Choice<'a> {
    backends: &'a [Arc<Backend>],
    /// The set's weights, indexed like `backends`: at least 1 each.
    weights: &'a [u32],
    /// The indices of the tier's servers.
    members: &'a [usize],
    backup: bool,
    /// Servers this request has already tried or found full, by [`Backend::id`].
    excluded: &'a [usize],
    now: Nanos,
}

impl<'a> Choice<'a> {
    pub(crate) fn new(
        backends: &'a [Arc<Backend>],
        weights: &'a [u32],
        members: &'a [usize],
        backup: bool,
        excluded: &'a [usize],
        now: Nanos,
    ) -> Choice<'a> {
        Choice {
            backends,
            weights,
            members,
            backup,
            excluded,
            now,
        }
    }

    /// The tier's servers, as indices into the pool.
    fn members(&self) -> &'a [usize] {
        self.members
    }

    /// Whether server `index` belongs to the tier.
    fn in_tier(&self, index: usize) -> bool {
        self.backends[index].spec.backup == self.backup
    }

    /// Whether server `index` may take this attempt.
    pub(crate) fn usable(&self, index: usize) -> bool {
        let backend = &self.backends[index];
        backend.is_up(self.now)
            && backend.takes_new()
            && backend.has_room()
            && !self.excluded.contains(&backend.id())
    }

    fn weight(&self, index: usize) -> u64 {
        u64::from(self.weights[index])
    }

    fn active(&self, index: usize) -> u64 {
        u64::from(self.backends[index].active())
    }

    /// Whether server `a` is less loaded than `b`, in requests in flight per unit of weight.
    fn less_loaded(&self, a: usize, b: usize) -> bool {
        self.active(a) * self.weight(b) < self.active(b) * self.weight(a)
    }
}

/// What hash keys are read from: the request being forwarded, if any, and its client.
#[derive(Debug)]
pub struct Target<'a> {
    /// `None` for a tunnel, which has no request.
    pub(crate) request: Option<RequestKeys<'a>>,
    pub(crate) client: IpAddr,
    /// The server a sticky pool's cookie names, by its `sticky_id`.
    pub(crate) sticky: Option<u64>,
}

/// The parts of a request that keys hash.
#[derive(Debug)]
pub(crate) struct RequestKeys<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) path: &'a str,
}

impl<'a> Target<'a> {
    /// A request from `client`.
    pub(crate) fn request(headers: &'a HeaderMap, path: &'a str, client: IpAddr) -> Target<'a> {
        Target {
            request: Some(RequestKeys { headers, path }),
            client,
            sticky: None,
        }
    }

    /// The same, to the server whose sticky id is `id` while it is usable.
    pub(crate) fn sticking_to(self, id: Option<u64>) -> Target<'a> {
        Target { sticky: id, ..self }
    }

    /// A tunnel from `client`: only the client's IP can be hashed.
    pub(crate) fn tunnel(client: IpAddr) -> Target<'a> {
        Target {
            request: None,
            client,
            sticky: None,
        }
    }
}

/// Draws a usable member, each with a chance proportional to its weight, never `other`.
/// A few random draws usually find one; after that a weighted scan decides, so a pool with most
/// servers down still gets a fair draw in bounded time.
fn draw(choice: &Choice<'_>, max_weight: u64, other: Option<usize>) -> Option<usize> {
    const DRAWS: usize = 4;
    let members = choice.members();
    let fits = |index: usize| Some(index) != other && choice.usable(index);
    for _ in 0..DRAWS {
        let index = members[rand::below(members.len())];
        let weight = choice.weight(index);
        if fits(index)
            && (weight >= max_weight || rand::below(max_weight as usize) < weight as usize)
        {
            return Some(index);
        }
    }
    let total: u64 = members
        .iter()
        .filter(|&&index| fits(index))
        .map(|&index| choice.weight(index))
        .sum();
    let mut left = rand::below(total as usize) as u64;
    for &index in members.iter().filter(|&&index| fits(index)) {
        let weight = choice.weight(index);
        if left < weight {
            return Some(index);
        }
        left -= weight;
    }
    None
}

/// Power of two choices: two weighted random draws, the one `better` prefers wins.
fn two_choices(
    choice: &Choice<'_>,
    max_weight: u64,
    better: impl Fn(usize, usize) -> bool,
) -> Option<usize> {
    let first = draw(choice, max_weight, None)?;
    match draw(choice, max_weight, Some(first)) {
        Some(second) if better(second, first) => Some(second),
        _ => Some(first),
    }
}

/// The largest weight of a pool, for weighted draws.
fn max_weight(servers: &[ServerSpec]) -> u64 {
    servers
        .iter()
        .map(|s| u64::from(s.weight()))
        .max()
        .unwrap_or(1)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A pool's live state without a pool, for strategy tests.

    use std::{net::Ipv4Addr, sync::Arc};

    use super::*;
    use crate::{address::Upstream, upstream::backend::Slot, upstream::spec::ServerSpec};

    pub(crate) struct Bench {
        pub(crate) servers: &'static [ServerSpec],
        pub(crate) backends: Vec<Arc<Backend>>,
        pub(crate) weights: Vec<u32>,
        primaries: Vec<usize>,
        backups: Vec<usize>,
    }

    /// A strategy with its table for a bench's servers.
    pub(crate) struct Prepared<S: Strategy> {
        pub(crate) strategy: S,
        pub(crate) table: S::Table,
    }

    pub(crate) fn servers(weights: &[u32]) -> &'static [ServerSpec] {
        let specs: Vec<ServerSpec> = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| ServerSpec {
                weight,
                ..ServerSpec::new(Upstream::Socket(
                    (Ipv4Addr::new(10, 0, 0, i as u8 + 1), 8080).into(),
                ))
            })
            .collect();
        Box::leak(specs.into_boxed_slice())
    }

    impl Bench {
        pub(crate) fn new(servers: &'static [ServerSpec]) -> Bench {
            let backends = servers
                .iter()
                .map(|&spec| Arc::new(Backend::new(spec, None, None)))
                .collect();
            let (backups, primaries) = (0..servers.len()).partition(|&i| servers[i].backup);
            Bench {
                servers,
                backends,
                weights: servers.iter().map(ServerSpec::weight).collect(),
                primaries,
                backups,
            }
        }

        pub(crate) fn strategy<S: Strategy>(&self, strategy: S) -> Prepared<S> {
            Prepared {
                strategy,
                table: S::table(self.servers),
            }
        }

        /// Picks among the primaries.
        pub(crate) fn pick<S: Strategy>(
            &self,
            strategy: &Prepared<S>,
            target: &Target<'_>,
        ) -> Option<usize> {
            self.pick_excluding(strategy, target, &[])
        }

        /// Picks among the primaries, never the servers at `excluded` indices.
        pub(crate) fn pick_excluding<S: Strategy>(
            &self,
            strategy: &Prepared<S>,
            target: &Target<'_>,
            excluded: &[usize],
        ) -> Option<usize> {
            let excluded: Vec<usize> = excluded.iter().map(|&i| self.backends[i].id()).collect();
            let choice = Choice::new(
                &self.backends,
                &self.weights,
                &self.primaries,
                false,
                &excluded,
                0,
            );
            strategy.strategy.pick(&strategy.table, &choice, target)
        }

        pub(crate) fn pick_backup<S: Strategy>(
            &self,
            strategy: &Prepared<S>,
            target: &Target<'_>,
        ) -> Option<usize> {
            let choice = Choice::new(&self.backends, &self.weights, &self.backups, true, &[], 0);
            strategy.strategy.pick(&strategy.table, &choice, target)
        }

        /// Counts `count` picks per server.
        pub(crate) fn counts<S: Strategy>(
            &self,
            strategy: &Prepared<S>,
            count: usize,
        ) -> Vec<usize> {
            let headers = HeaderMap::new();
            let target = target(&headers, "/");
            let mut counts = vec![0; self.servers.len()];
            for _ in 0..count {
                counts[self.pick(strategy, &target).expect("a usable server")] += 1;
            }
            counts
        }

        /// Holds `count` requests in flight to server `index`.
        pub(crate) fn hold(&self, index: usize, count: usize) -> Vec<Slot> {
            (0..count)
                .map(|_| Slot::acquire(&self.backends[index]).expect("room"))
                .collect()
        }
    }

    pub(crate) fn target<'a>(headers: &'a HeaderMap, path: &'a str) -> Target<'a> {
        Target::request(headers, path, Ipv4Addr::LOCALHOST.into())
    }
}

#[cfg(test)]
mod tests {
    use super::{testing::*, *};

    #[test]
    fn weighted_draws_follow_the_weights() {
        let bench = Bench::new(servers(&[3, 1]));
        let members = [0, 1];
        let choice = Choice::new(&bench.backends, &bench.weights, &members, false, &[], 0);
        let mut counts = [0; 2];
        for _ in 0..4_000 {
            counts[draw(&choice, 3, None).unwrap()] += 1;
        }
        assert!((2_700..3_300).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn draws_skip_unusable_servers_and_the_other_choice() {
        let bench = Bench::new(servers(&[1, 1, 1, 1]));
        bench.backends[1].set_up(false);
        let members = [0, 1, 2, 3];
        let excluded = [bench.backends[3].id()];
        let choice = Choice::new(
            &bench.backends,
            &bench.weights,
            &members,
            false,
            &excluded,
            0,
        );
        for _ in 0..200 {
            assert_eq!(draw(&choice, 1, Some(0)), Some(2));
        }
        bench.backends[2].set_up(false);
        assert_eq!(draw(&choice, 1, Some(0)), None);
    }
}
