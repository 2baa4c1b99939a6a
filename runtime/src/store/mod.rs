//! Shared stores: state that several proxies keep together, today the buckets of rate limits
//! declared with `store NAME` (`store NAME = redis { ... }` in the `.edge` file). A process
//! starts each store once, when the first policy that uses it is built, and lists it so that
//! the admin listener can report its figures ([`Stores`]).

mod redis;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::LoadError;

pub(crate) use self::redis::{Decided, Grant, RedisStore, StoreError, ROUND_TRIP_BUCKETS_US};

/// A `store NAME = redis { ... }` as written in the `.edge` file.
#[derive(Debug)]
pub struct StoreSpec {
    pub name: &'static str,
    /// Where the store is. A URL is `redis://HOST[:PORT][/DB]`, or `rediss://...` for TLS; a
    /// user name may be given (`redis://edge@HOST`), a password never: see `password`.
    pub servers: StoreServers,
    /// Where the password comes from when the proxy starts.
    pub password: StorePassword,
    /// Each call's deadline: a call that takes longer counts as a failed one.
    pub timeout: Duration,
    /// What every key of the store starts with (`edge:CONFIG:` unless the config says), so
    /// that configs sharing one Redis never share a key.
    pub prefix: &'static str,
}

impl StoreSpec {
    /// The deadline of a call when the config does not say.
    pub const TIMEOUT: Duration = Duration::from_millis(5);
}

/// The Redis a store is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreServers {
    /// One server (or one address that follows its primary).
    Single(&'static str),
    /// A Redis Cluster, by seed nodes: the client finds the others, and follows slots that
    /// move and primaries that fail over.
    Cluster(&'static [&'static str]),
    /// A primary watched by Redis Sentinel: the Sentinels (`redis://HOST:PORT`, or
    /// `rediss://` for TLS to them and to the primary) are asked where the primary named
    /// `master` is at each connection, so after a failover the next connection finds the new
    /// one; `database` is the primary's.
    Sentinel {
        sentinels: &'static [&'static str],
        master: &'static str,
        database: u32,
    },
}

impl StoreServers {
    /// The first address, for messages.
    pub(crate) fn first(&self) -> &'static str {
        match self {
            StoreServers::Single(url) => url,
            StoreServers::Cluster(nodes)
            | StoreServers::Sentinel {
                sentinels: nodes, ..
            } => nodes.first().copied().unwrap_or(""),
        }
    }
}

/// Where a store's password comes from: never from the config's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorePassword {
    None,
    /// An environment variable's value.
    Env(&'static str),
    /// A file's content, trailing newline removed (a relative path from the run-time root).
    File(&'static str),
}

/// The stores a process has started, by name; each started once. Cheap to clone.
#[derive(Clone, Default)]
pub struct Stores(Arc<Mutex<Vec<Arc<RedisStore>>>>);

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.live().iter().map(|store| store.spec().name))
            .finish()
    }
}

impl Stores {
    /// The store of `spec`, started on first use: reads its password, checks its address.
    /// Connections are opened later, by each worker on its first call.
    pub(crate) fn get(&self, spec: &'static StoreSpec) -> Result<Arc<RedisStore>, LoadError> {
        let mut stores = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.iter().find(|store| store.spec().name == spec.name) {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(RedisStore::start(spec).map_err(|reason| LoadError::Store {
            name: spec.name,
            reason,
        })?);
        stores.push(Arc::clone(&store));
        Ok(store)
    }

    /// Every store started, in the order they were.
    pub(crate) fn live(&self) -> Vec<Arc<RedisStore>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(password: StorePassword) -> &'static StoreSpec {
        Box::leak(Box::new(StoreSpec {
            name: "shared",
            servers: StoreServers::Single("redis://127.0.0.1:1/0"),
            password,
            timeout: StoreSpec::TIMEOUT,
            prefix: "edge:test:",
        }))
    }

    fn refusal(password: StorePassword) -> String {
        match Stores::default().get(spec(password)) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("the store started"),
        }
    }

    #[test]
    fn a_password_that_cannot_be_read_stops_the_start_naming_it() {
        assert_eq!(
            refusal(StorePassword::Env("EDGE_TEST_NO_SUCH_VARIABLE")),
            "store `shared`: the password variable EDGE_TEST_NO_SUCH_VARIABLE is not set"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("redis.pass");
        std::fs::write(&empty, "\n").unwrap();
        let empty: &'static str = Box::leak(empty.display().to_string().into_boxed_str());
        assert_eq!(
            refusal(StorePassword::File(empty)),
            format!("store `shared`: the password file {empty} is empty")
        );
        let store = Stores::default();
        let first = store.get(spec(StorePassword::None)).unwrap();
        let again = store.get(spec(StorePassword::None)).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "a store starts once per process"
        );
    }
}
