//! Stores as the Model holds them (`StoreSpec`): where state shared by several proxies is
//! kept, today the buckets of rate limits that name the store.

use std::time::Duration;

/// `StoreSpec`: a Redis server or a Redis Cluster.
#[derive(Clone, Debug)]
pub struct Store {
    pub name: String,
    pub servers: StoreServers,
    pub password: StorePassword,
    /// Each call's deadline; `None`: the runtime's `StoreSpec::TIMEOUT`.
    pub timeout: Option<Duration>,
    /// What every key starts with: as written, else `edge:` and the config file's stem.
    pub prefix: String,
}

/// `StoreServers`: where the store is. Each URL as written: `redis://` or `rediss://`, a host,
/// an optional port and database; never a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreServers {
    /// One server.
    Single(String),
    /// A Redis Cluster, by its seed nodes: one or more, all with one scheme, in database 0.
    Cluster(Vec<String>),
    /// A primary found through Redis Sentinel: the Sentinels (`redis://HOST:PORT`, one scheme
    /// for all), the name they know the primary by, and its database.
    Sentinel {
        sentinels: Vec<String>,
        master: String,
        database: u32,
    },
}

/// `StorePassword`: where the password comes from when the proxy starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorePassword {
    None,
    /// An environment variable's name.
    Env(String),
    /// A file, as written (a relative path from the proxy's run-time root).
    File(String),
}
