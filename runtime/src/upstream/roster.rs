//! The pools of the process, as the admin listener lists them: each pool registers a weak
//! handle on its server set when it is built. Only the admin listener walks this list, so the
//! trait object behind each handle costs nothing on the request path.

use std::sync::{Arc, Weak};

use crate::{registry::Started, upstream::backend::Backend};

/// A pool's current servers.
pub(crate) trait Roster: Send + Sync {
    fn backends(&self) -> Vec<Arc<Backend>>;
}

static POOLS: Started<dyn Roster> = Started::new();

/// Lists a pool; it leaves the list when its server set is gone.
pub(crate) fn register(pool: &'static str, roster: Weak<dyn Roster>) {
    POOLS.register(pool, roster);
}

/// Every live pool with its current servers, in the order they were built.
pub(crate) fn pools() -> Vec<(&'static str, Vec<Arc<Backend>>)> {
    POOLS
        .live()
        .into_iter()
        .map(|(pool, roster)| (pool, roster.backends()))
        .collect()
}
