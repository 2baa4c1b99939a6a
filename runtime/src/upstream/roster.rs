//! The pools of the process, as the admin listener lists them: each pool registers a weak
//! handle on its server set when it is built. Only the admin listener walks this list, so the
//! trait object behind each handle costs nothing on the request path.

use std::sync::{Arc, Mutex, Weak};

use crate::upstream::backend::Backend;

/// A pool's current servers.
pub(crate) trait Roster: Send + Sync {
    fn backends(&self) -> Vec<Arc<Backend>>;
}

struct Registered {
    pool: &'static str,
    roster: Weak<dyn Roster>,
}

static POOLS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// Lists a pool; it leaves the list when its server set is gone.
pub(crate) fn register(pool: &'static str, roster: Weak<dyn Roster>) {
    let mut pools = POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    pools.retain(|registered| registered.roster.strong_count() > 0);
    pools.push(Registered { pool, roster });
}

/// Every live pool with its current servers, in the order they were built.
pub(crate) fn pools() -> Vec<(&'static str, Vec<Arc<Backend>>)> {
    let pools = POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    pools
        .iter()
        .filter_map(|registered| {
            let roster = registered.roster.upgrade()?;
            Some((registered.pool, roster.backends()))
        })
        .collect()
}
