//! The process around the two sides: `run` loads and binds, starts one worker per core
//! (`worker`), serves the admin listener and the metrics and logs (`observe`), reloads
//! certificates and `jwt` key files on SIGHUP (`reload`), drains on SIGTERM and hands its sockets to a successor
//! on an upgrade (`handoff`). What one process holds beyond its gateway is a [`Process`].

pub(crate) mod admin;
mod args;
pub(crate) mod bind;
mod dashboard;
mod figures;
pub(crate) mod handoff;
mod notify;
pub(crate) mod reload;
pub(crate) mod run;
pub(crate) mod server;
pub(crate) mod signals;
pub(crate) mod site;
mod startup;
mod steer;
mod upgrade;

use std::sync::Arc;

use crate::{
    downstream::front::Front,
    observe::Observer,
    policy::{Caches, KeySets},
    store::Stores,
    upstream::mirror::Mirrors,
    upstream::pools::{Forwarding, Pools},
    upstream::split::Splits,
};

/// One proxy's state beyond its gateway: the observer its connections record into, whether it
/// has handed its sockets over, the pools it built, its caches, `jwt` key sets, splits and mirrors. `run` builds it and hands
/// it to the generated `Edge::new`, which builds pools and caches into it; every worker shares
/// it. Two of them (two proxies in one test process) share nothing. Cheap to clone.
#[derive(Clone)]
pub struct Process {
    front: Arc<Front>,
    pools: Pools,
    caches: Caches,
    key_sets: KeySets,
    stores: Stores,
    splits: Splits,
    mirrors: Mirrors,
}

impl Process {
    /// A process without a generated site (tests, benches): no routes known to its metrics,
    /// no access log, request ids on, no `Via`.
    pub fn new() -> Process {
        Process::observed(Observer::quiet())
    }

    /// [`Process::new`], recording every request's spans and exporting them as `tracing`
    /// says: for tests and benches of tracing export without a generated site.
    pub fn traced(tracing: crate::TracingSpec) -> std::io::Result<Process> {
        let mut observer = Observer::quiet();
        observer.tracer = Some(Arc::new(crate::observe::trace::Tracer::start(tracing)?));
        Ok(Process::observed(observer))
    }

    /// A process recording into `observer`.
    pub(crate) fn observed(observer: Observer) -> Process {
        let forwarding = Forwarding {
            via: observer.via.clone(),
            report_server: observer.access_log.is_some(),
        };
        Process {
            front: Arc::new(Front::new(observer)),
            pools: Pools::new(forwarding),
            caches: Caches::new(),
            key_sets: KeySets::new(),
            stores: Stores::default(),
            splits: Splits::new(),
            mirrors: Mirrors::new(),
        }
    }

    /// Where the process's pools are listed: pass it to [`crate::Pool::new`].
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Where the process's caches are listed: pass it to [`crate::Cache::new`].
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// Where the process's `jwt` key sets are listed (files read again on SIGHUP, first
    /// fetches waited for): pass it to [`crate::Jwt::load`].
    pub fn key_sets(&self) -> &KeySets {
        &self.key_sets
    }

    /// Where the process's route splits are listed: pass it to [`crate::Split::new`].
    pub fn splits(&self) -> &Splits {
        &self.splits
    }

    /// Where the process's mirrors are counted: pass it to [`crate::Mirror::new`].
    pub fn mirrors(&self) -> &Mirrors {
        &self.mirrors
    }

    /// Where the process's shared stores are started: pass it to [`crate::RateLimit::load`].
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    pub(crate) fn front(&self) -> &Arc<Front> {
        &self.front
    }

    pub(crate) fn observer(&self) -> &Observer {
        &self.front.observer
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("pools", &self.pools)
            .field("caches", &self.caches)
            .finish_non_exhaustive()
    }
}

impl Default for Process {
    fn default() -> Process {
        Process::new()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::{Cache, CacheKey, CacheSpec, Pool, PoolSpec, RoundRobin, ServerSpec, Upstream};

    const fn at(port: u16) -> ServerSpec {
        ServerSpec::new(Upstream::Socket(SocketAddr::new(
            std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        )))
    }

    static ONE: [ServerSpec; 1] = [at(8001)];
    static TWO: [ServerSpec; 2] = [at(8002), at(8003)];
    static POOL_ONE: PoolSpec = PoolSpec::new("app", &ONE);
    static POOL_TWO: PoolSpec = PoolSpec::new("app", &TWO);
    static PAGES: CacheSpec = CacheSpec {
        name: "pages",
        max_size: 1 << 20,
        max_object: 1 << 16,
        key: CacheKey {
            host: true,
            path: true,
            query: true,
            headers: &[],
        },
        default_ttl: None,
        stale_while_revalidate: None,
        stale_if_error: None,
        cache_authorized: false,
    };

    fn servers(process: &Process) -> Vec<(&'static str, Vec<String>)> {
        let rosters = process.pools().rosters();
        rosters
            .into_iter()
            .map(|(pool, backends)| {
                let addrs = backends.iter().map(|b| b.spec.upstream.to_string());
                (pool, addrs.collect())
            })
            .collect()
    }

    #[test]
    fn two_processes_share_nothing() {
        let (a, b) = (Process::new(), Process::new());
        let _one = Pool::new(&POOL_ONE, RoundRobin::default(), a.pools());
        let _two = Pool::new(&POOL_TWO, RoundRobin::default(), b.pools());
        let _cache = Cache::new(&PAGES, b.caches());
        assert_eq!(servers(&a), [("app", vec!["127.0.0.1:8001".to_owned()])]);
        assert_eq!(
            servers(&b),
            [(
                "app",
                vec!["127.0.0.1:8002".to_owned(), "127.0.0.1:8003".to_owned()]
            )]
        );
        assert!(a.caches().figures().is_empty());
        assert_eq!(b.caches().figures().len(), 1);
        a.front().hand_over();
        assert!(a.front().handed_over());
        assert!(!b.front().handed_over());
        b.front().begin_draining();
        assert!(a.front().is_ready() && !b.front().is_ready());
        assert!(b.front().closes_each_answer() && !b.front().handed_over());
    }

    #[test]
    fn a_pool_dropped_leaves_its_process() {
        let process = Process::new();
        let pool = Pool::new(&POOL_ONE, RoundRobin::default(), process.pools());
        assert_eq!(servers(&process).len(), 1);
        drop(pool);
        assert!(servers(&process).is_empty());
    }
}
