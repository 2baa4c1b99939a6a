//! Stores as the Model holds them: the password file checked (or left for start-up), the
//! key prefix decided; and which stores the rate limits name.

use std::path::Path;

use edge_dsl::ast::{self, StoreKind};
use edge_dsl::Diagnostic;

use super::value;
use crate::files::{self, Folder};
use crate::model::{self, defaults};

/// The store's Model; `None` (and a diagnostic) when its password file is unusable.
/// `config_name` is the config file's name, whose stem makes the default key prefix.
pub(super) fn store(
    store: &ast::Store,
    folder: &Folder,
    config_name: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<model::Store> {
    let servers = match &store.kind.value {
        StoreKind::Redis(redis) => model::StoreServers::Single(redis.url.value.clone()),
        StoreKind::RedisCluster(cluster) => model::StoreServers::Cluster(
            cluster
                .nodes
                .iter()
                .map(|node| node.value.clone())
                .collect(),
        ),
        StoreKind::RedisSentinel(sentinel) => model::StoreServers::Sentinel {
            sentinels: sentinel
                .sentinels
                .iter()
                .map(|url| url.value.clone())
                .collect(),
            master: sentinel.master.value.clone(),
            database: value(&sentinel.database).unwrap_or(0),
        },
    };
    let options = store.kind.value.options();
    let password = match options.password.as_ref().map(|p| &p.value) {
        None => model::StorePassword::None,
        Some(ast::StorePassword::Env(name)) => model::StorePassword::Env(name.value.clone()),
        Some(ast::StorePassword::File(file)) => match files::password_file(folder, file) {
            Ok(path) => model::StorePassword::File(path.display().to_string()),
            Err(error) => {
                out.push(error);
                return None;
            }
        },
    };
    let stem = Path::new(config_name)
        .file_stem()
        .map_or_else(|| config_name.into(), |stem| stem.to_string_lossy());
    Some(model::Store {
        name: store.name.value.clone(),
        servers,
        password,
        timeout: value(&options.timeout),
        prefix: value(&options.prefix).unwrap_or_else(|| defaults::store_prefix(&stem)),
    })
}

/// Which of the config's `count` stores a rate limit names.
pub(super) fn named(policies: &[Option<model::Policy>], count: usize) -> Vec<bool> {
    let mut named = vec![false; count];
    for policy in policies.iter().flatten() {
        if let model::PolicyKind::RateLimit(model::RateLimit {
            store: Some(store), ..
        }) = policy.kind
        {
            named[store] = true;
        }
    }
    named
}
