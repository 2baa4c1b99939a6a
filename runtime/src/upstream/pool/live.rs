//! Live membership: in a pool with servers given by name, one background task on worker 0's
//! runtime keeps the pool's server set (`servers`) current.
//!
//! The task resolves every name once at start-up (`run` and `Server::bind` wait for that, up
//! to the pool's connect timeout), then each name again when its answer's TTL runs out
//! (clamped to [`MIN_REFRESH`] .. [`MAX_REFRESH`]). `host:port` gives one server per A/AAAA
//! address; an SRV name one server per record target's address, with the record's port and
//! weight, its lowest priority value as primaries and the others as backups. When an answer
//! differs from the last, a new set is built, reusing the `Backend` (health, counters, passive
//! window, latency estimate, idle connections, an operator's state and weight) of every
//! address that stays, with a fresh strategy table (a hash ring over the new addresses, new
//! smooth weights), and swapped in;
//! requests already under way finish on the set they picked from. Health checkers start for
//! addresses that join and stop for those that leave.
//!
//! A lookup that fails (timeout, SERVFAIL, refused, ...) keeps the name's last good addresses
//! and is retried with a backoff from 1 s to 30 s, logged at warn. A name that exists with no
//! address, or does not exist, leaves no server for it.
//!
//! Capacity bounds stay compiled: at most [`MAX_ADDRESSES_PER_NAME`] addresses per name and
//! [`MAX_SERVERS_PER_POOL`] servers per pool; the rest are ignored with a warning (addresses
//! are taken in sorted order, so the same ones are kept from one answer to the next).

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use hickory_resolver::{
    config::{LookupIpStrategy, NameServerConfigGroup, ResolverConfig},
    name_server::TokioConnectionProvider,
    proto::{op::ResponseCode, ProtoErrorKind},
    ResolveError, Resolver, TokioResolver,
};
use tokio::{runtime::Handle, sync::watch, task::AbortHandle, task::JoinSet};

use super::{ServerSet, Servers};
use crate::registry::Firsts;
use crate::{
    address::Upstream,
    upstream::backend::Backend,
    upstream::counts::Gauge,
    upstream::health,
    upstream::pools::Pools,
    upstream::spec::{PoolSpec, ServerSpec},
    upstream::tls::Connector,
    Strategy,
};

/// Addresses one name may give; more are ignored with a warning.
pub(crate) const MAX_ADDRESSES_PER_NAME: usize = 64;

/// Servers one pool may have at once; more are ignored with a warning.
pub(crate) const MAX_SERVERS_PER_POOL: usize = 256;

/// The shortest time an answer is kept before the name is resolved again.
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(1);

/// The longest time an answer is kept before the name is resolved again.
pub(crate) const MAX_REFRESH: Duration = Duration::from_secs(300);

/// How long an empty answer without a negative TTL is kept.
const EMPTY_REFRESH: Duration = Duration::from_secs(5);

/// The first and the longest wait before a failed lookup is tried again.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// A name's lookups (for SRV, with its targets') taking longer than this have failed.
const LOOKUP_LIMIT: Duration = Duration::from_secs(10);

/// Overrides the system's name servers with one `IP:PORT` (an operations setting).
const DNS_SERVER_VARIABLE: &str = "EDGE_DNS_SERVER";

/// The task that keeps a pool's set current, stopped when dropped (with the pool).
pub(crate) struct Names {
    task: AbortHandle,
}

impl Drop for Names {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Names {
    /// Spawns on `runtime` the task that resolves the names of the pool whose set `servers`
    /// holds (its addresses so far). Health checkers connect with `tls`; the first resolution
    /// and the first checks are listed in `pools`. Every server reports the end of its
    /// requests to `gauge`, if the pool has one.
    pub(crate) fn start<S: Strategy>(
        spec: &'static PoolSpec,
        runtime: &Handle,
        servers: &Arc<Servers<S>>,
        tls: Option<Arc<Connector>>,
        gauge: Option<&Arc<Gauge>>,
        pools: &Pools,
    ) -> Names {
        let ready = pools
            .resolving()
            .start(Instant::now() + spec.timeouts.connect);
        let maintained = maintain::<S>(
            spec,
            Arc::downgrade(servers),
            ready,
            tls,
            gauge.cloned(),
            pools.clone(),
        );
        Names {
            task: runtime.spawn(maintained).abort_handle(),
        }
    }
}

/// One server found for an entry of the pool: its spec (with an address as upstream) and the
/// `host:port` it was found by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Found {
    spec: ServerSpec,
    host: Option<Arc<str>>,
}

/// What a lookup gave.
#[derive(Debug)]
enum Outcome {
    /// The servers of the name (possibly none), valid for this long.
    Found(Vec<Found>, Duration),
    Failed(String),
}

/// One entry of the pool's spec and what it currently gives.
#[derive(Debug)]
struct Source {
    entry: &'static ServerSpec,
    found: Vec<Found>,
    /// When to resolve it again; `None` for an address.
    due: Option<Instant>,
    failures: u32,
}

impl Source {
    fn new(entry: &'static ServerSpec, now: Instant) -> Source {
        let (found, due) = match entry.upstream {
            Upstream::Socket(_) => (
                vec![Found {
                    spec: *entry,
                    host: None,
                }],
                None,
            ),
            Upstream::Name(_) | Upstream::Srv(_) => (Vec::new(), Some(now)),
        };
        Source {
            entry,
            found,
            due,
            failures: 0,
        }
    }

    /// Takes a lookup's outcome; whether the entry's servers changed.
    fn update(&mut self, pool: &'static str, outcome: Outcome, now: Instant) -> bool {
        let name = self.entry.upstream;
        match outcome {
            Outcome::Found(found, ttl) => {
                self.failures = 0;
                self.due = Some(now + ttl.clamp(MIN_REFRESH, MAX_REFRESH));
                if found == self.found {
                    return false;
                }
                tracing::info!(pool, %name, addresses = found.len(), "name resolved to new addresses");
                self.found = found;
                true
            }
            Outcome::Failed(error) => {
                let retry = FIRST_RETRY
                    .saturating_mul(1 << self.failures.min(10))
                    .min(MAX_RETRY);
                self.failures += 1;
                self.due = Some(now + retry);
                tracing::warn!(pool, %name, %error, ?retry, kept = self.found.len(), "cannot resolve; keeping the last addresses");
                false
            }
        }
    }
}

/// Keeps the pool's set current until the pool is dropped (or this task aborted with it).
async fn maintain<S: Strategy>(
    spec: &'static PoolSpec,
    servers: Weak<Servers<S>>,
    ready: watch::Sender<bool>,
    tls: Option<Arc<Connector>>,
    gauge: Option<Arc<Gauge>>,
    pools: Pools,
) {
    let pool = spec.name;
    let mut sources: Vec<Source> = spec
        .servers
        .iter()
        .map(|entry| Source::new(entry, Instant::now()))
        .collect();
    let mut checkers = HashMap::new();
    let resolver = match resolver() {
        Ok(resolver) => Some(resolver),
        Err(error) => {
            tracing::error!(pool, %error, "cannot set up DNS resolution: servers given by name get no address");
            None
        }
    };
    let mut first = true;
    loop {
        let now = Instant::now();
        let mut lookups = JoinSet::new();
        if let Some(resolver) = &resolver {
            for (index, source) in sources.iter().enumerate() {
                if source.due.is_some_and(|due| due <= now) {
                    let (resolver, upstream) = (resolver.clone(), source.entry.upstream);
                    let entry = source.entry;
                    lookups.spawn(async move {
                        let outcome = tokio::time::timeout(LOOKUP_LIMIT, resolve(&resolver, entry))
                            .await
                            .unwrap_or_else(|_| {
                                Outcome::Failed(format!("no answer within {LOOKUP_LIMIT:?}"))
                            });
                        tracing::debug!(pool, name = %upstream, ?outcome, "looked up");
                        (index, outcome)
                    });
                }
            }
        }
        let mut changed = first;
        while let Some(done) = lookups.join_next().await {
            if let Ok((index, outcome)) = done {
                changed |= sources[index].update(pool, outcome, Instant::now());
            }
        }
        let Some(live) = servers.upgrade() else {
            return;
        };
        if changed {
            let checks = Checks {
                running: &mut checkers,
                tls: tls.as_ref(),
                firsts: pools.checking(),
                gauge: gauge.as_ref(),
            };
            live.rebuild(|current| {
                let next = rebuild::<S>(spec, &sources, current, checks);
                tracing::debug!(pool, servers = next.backends.len(), "server set swapped");
                next
            });
        }
        drop(live);
        if first {
            ready.send_replace(true);
            first = false;
        }
        if resolver.is_none() {
            return;
        }
        let Some(next) = sources.iter().filter_map(|source| source.due).min() else {
            return;
        };
        tokio::time::sleep_until(next.into()).await;
    }
}

/// The set for the sources' current servers, in the spec's order: the backend of every server
/// of `current` that stays is reused, the others are new. Health checkers follow.
fn rebuild<S: Strategy>(
    spec: &'static PoolSpec,
    sources: &[Source],
    current: &ServerSet<S::Table>,
    checks: Checks<'_>,
) -> ServerSet<S::Table> {
    let old: HashMap<Found, &Arc<Backend>> = current
        .backends
        .iter()
        .map(|backend| (found_of(backend), backend))
        .collect();
    let mut kept: HashSet<Found> = HashSet::new();
    let mut backends = Vec::new();
    let mut ignored = 0;
    for found in sources.iter().flat_map(|source| &source.found) {
        if kept.contains(found) {
            continue;
        }
        if backends.len() == MAX_SERVERS_PER_POOL {
            ignored += 1;
            continue;
        }
        let backend = match old.get(found) {
            Some(&backend) => Arc::clone(backend),
            None => Arc::new(Backend::new(
                found.spec,
                found.host.clone(),
                checks.gauge.cloned(),
            )),
        };
        kept.insert(found.clone());
        backends.push(backend);
    }
    if ignored > 0 {
        tracing::warn!(
            pool = spec.name,
            ignored,
            max = MAX_SERVERS_PER_POOL,
            "too many servers: the rest are ignored"
        );
    }
    if let Some(check) = spec.health {
        checks.running.retain(|found, checker| {
            let stays = kept.contains(found);
            if !stays {
                checker.abort();
            }
            stays
        });
        let runtime = Handle::current();
        for backend in &backends {
            checks.running.entry(found_of(backend)).or_insert_with(|| {
                health::spawn(
                    &runtime,
                    spec,
                    check,
                    backend,
                    checks.tls.cloned(),
                    checks.firsts,
                )
            });
        }
    }
    ServerSet::new::<S>(backends)
}

/// A pool's health checkers by server, and what new servers and checkers are started with.
struct Checks<'a> {
    running: &'a mut HashMap<Found, AbortHandle>,
    /// What checkers connect with.
    tls: Option<&'a Arc<Connector>>,
    /// Where their first checks are listed.
    firsts: &'a Firsts,
    /// The pool's gauge, which new servers report the end of their requests to.
    gauge: Option<&'a Arc<Gauge>>,
}

fn found_of(backend: &Backend) -> Found {
    Found {
        spec: backend.spec,
        host: backend.host.clone(),
    }
}

/// A resolver for the system's configuration, or for the one name server that
/// `EDGE_DNS_SERVER` names. Answers are cached no longer than [`MAX_REFRESH`], so a name
/// resolved again gets a fresh answer.
fn resolver() -> Result<TokioResolver, String> {
    let mut builder = match std::env::var(DNS_SERVER_VARIABLE) {
        Ok(value) => {
            let server: SocketAddr = value
                .trim()
                .parse()
                .map_err(|_| format!("{DNS_SERVER_VARIABLE}={value:?} is not IP:PORT"))?;
            let servers =
                NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), servers),
                TokioConnectionProvider::default(),
            )
        }
        Err(_) => TokioResolver::builder_tokio()
            .map_err(|error| format!("cannot read the system's DNS configuration: {error}"))?,
    };
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.positive_max_ttl = Some(MAX_REFRESH);
    options.negative_max_ttl = Some(MAX_REFRESH);
    Ok(builder.build())
}

/// Looks up one entry of the pool.
async fn resolve(resolver: &TokioResolver, entry: &'static ServerSpec) -> Outcome {
    let result = match entry.upstream {
        Upstream::Socket(_) => unreachable!("addresses are not looked up"),
        Upstream::Name(name) => resolve_name(resolver, entry, name).await,
        Upstream::Srv(name) => resolve_srv(resolver, entry, name).await,
    };
    match result {
        Ok((found, ttl)) => Outcome::Found(found, ttl),
        Err(error) => Outcome::Failed(error),
    }
}

type Resolved = Result<(Vec<Found>, Duration), String>;

/// `host:port`: one server per address of `host`.
async fn resolve_name(
    resolver: &TokioResolver,
    entry: &ServerSpec,
    name: &'static str,
) -> Resolved {
    let (host, port) = name
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("`{name}` is not host:port"))?;
    let (mut ips, ttl) = lookup_ips(resolver, host).await?;
    cap(&mut ips, name);
    let host: Arc<str> = name.into();
    let found = ips
        .into_iter()
        .map(|ip| Found {
            spec: ServerSpec {
                upstream: Upstream::Socket(SocketAddr::new(ip, port)),
                ..*entry
            },
            host: Some(Arc::clone(&host)),
        })
        .collect();
    Ok((found, ttl))
}

/// An SRV name: one server per address of each record's target, on the record's port, with
/// its weight; the lowest priority value are primaries, the others backups.
async fn resolve_srv(resolver: &TokioResolver, entry: &ServerSpec, name: &'static str) -> Resolved {
    let (mut records, mut ttl) = match resolver.srv_lookup(name).await {
        Ok(lookup) => {
            let records: Vec<(u16, u16, u16, String)> = lookup
                .iter()
                .filter(|srv| !srv.target().is_root())
                .map(|srv| {
                    let target = srv.target().to_ascii();
                    let target = target.trim_end_matches('.').to_owned();
                    (srv.priority(), srv.weight(), srv.port(), target)
                })
                .collect();
            (records, remaining(lookup.as_lookup().valid_until()))
        }
        Err(error) => return empty_or_failed(error),
    };
    records.sort();
    records.dedup();
    let first_priority = records.first().map(|record| record.0);
    let mut found = Vec::new();
    let mut ignored = 0;
    for (priority, weight, port, target) in records {
        let (ips, target_ttl) = lookup_ips(resolver, &target).await?;
        ttl = ttl.min(target_ttl);
        let host: Arc<str> = format!("{target}:{port}").into();
        for ip in ips {
            if found.len() == MAX_ADDRESSES_PER_NAME {
                ignored += 1;
                continue;
            }
            found.push(Found {
                spec: ServerSpec {
                    upstream: Upstream::Socket(SocketAddr::new(ip, port)),
                    weight: u32::from(weight),
                    max_conns: entry.max_conns,
                    backup: entry.backup || Some(priority) != first_priority,
                },
                host: Some(Arc::clone(&host)),
            });
        }
    }
    if ignored > 0 {
        tracing::warn!(%name, ignored, max = MAX_ADDRESSES_PER_NAME, "too many addresses for one name: the rest are ignored");
    }
    Ok((found, ttl))
}

/// The A and AAAA addresses of `host`, sorted, and how long they are valid. No address (the
/// name does not exist, or has none) is an empty list, not an error.
async fn lookup_ips(
    resolver: &TokioResolver,
    host: &str,
) -> Result<(Vec<IpAddr>, Duration), String> {
    match resolver.lookup_ip(host).await {
        Ok(lookup) => {
            let mut ips: Vec<IpAddr> = lookup.iter().collect();
            ips.sort();
            ips.dedup();
            Ok((ips, remaining(lookup.valid_until())))
        }
        Err(error) => empty_or_failed(error).map(|(_, ttl)| (Vec::new(), ttl)),
    }
}

/// An answer that says there is nothing (NXDOMAIN, or no records of the type) is an empty
/// result, kept for its negative TTL; any other error is a failure.
fn empty_or_failed(error: ResolveError) -> Resolved {
    if let Some(ProtoErrorKind::NoRecordsFound {
        response_code: ResponseCode::NoError | ResponseCode::NXDomain,
        negative_ttl,
        ..
    }) = error.proto().map(|proto| proto.kind())
    {
        let ttl = negative_ttl.map_or(EMPTY_REFRESH, |ttl| Duration::from_secs(ttl.into()));
        return Ok((Vec::new(), ttl));
    }
    Err(error.to_string())
}

fn remaining(valid_until: Instant) -> Duration {
    valid_until.saturating_duration_since(Instant::now())
}

/// Keeps the first [`MAX_ADDRESSES_PER_NAME`] addresses, with a warning when there were more.
fn cap(ips: &mut Vec<IpAddr>, name: &str) {
    if ips.len() > MAX_ADDRESSES_PER_NAME {
        let ignored = ips.len() - MAX_ADDRESSES_PER_NAME;
        tracing::warn!(%name, ignored, max = MAX_ADDRESSES_PER_NAME, "too many addresses for one name: the rest are ignored");
        ips.truncate(MAX_ADDRESSES_PER_NAME);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::{upstream::backend::Slot, RoundRobin, Strategy};

    static ENTRY: ServerSpec = ServerSpec::new(Upstream::Name("users.internal:8080"));

    static SPEC: PoolSpec = PoolSpec::new("app", std::slice::from_ref(&ENTRY));

    /// The source of `ENTRY` having resolved to 10.0.0.N for each N of `hosts`.
    fn source(hosts: impl IntoIterator<Item = u8>) -> Source {
        let host: Arc<str> = "users.internal:8080".into();
        let found = hosts
            .into_iter()
            .map(|n| Found {
                spec: ServerSpec {
                    upstream: Upstream::Socket((Ipv4Addr::new(10, 0, 0, n), 8080).into()),
                    ..ENTRY
                },
                host: Some(Arc::clone(&host)),
            })
            .collect();
        Source {
            entry: &ENTRY,
            found,
            due: None,
            failures: 0,
        }
    }

    /// What a pool without health checks rebuilds with.
    fn unchecked<'a>(
        running: &'a mut HashMap<Found, AbortHandle>,
        firsts: &'a Firsts,
    ) -> Checks<'a> {
        Checks {
            running,
            tls: None,
            firsts,
            gauge: None,
        }
    }

    fn hosts<T>(set: &ServerSet<T>) -> Vec<String> {
        set.backends
            .iter()
            .map(|b| b.spec.upstream.to_string())
            .collect()
    }

    #[test]
    fn addresses_that_stay_keep_their_backend_and_state() {
        let (mut checkers, firsts) = (HashMap::new(), Firsts::new());
        let empty = ServerSet::new::<RoundRobin>(Vec::new());
        let first = rebuild::<RoundRobin>(
            &SPEC,
            &[source([1, 2])],
            &empty,
            unchecked(&mut checkers, &firsts),
        );
        assert_eq!(hosts(&first), ["10.0.0.1:8080", "10.0.0.2:8080"]);
        first.backends[1].set_up(false);
        let _in_flight = Slot::acquire(&first.backends[1]).unwrap();

        let second = rebuild::<RoundRobin>(
            &SPEC,
            &[source([2, 3])],
            &first,
            unchecked(&mut checkers, &firsts),
        );
        assert_eq!(hosts(&second), ["10.0.0.2:8080", "10.0.0.3:8080"]);
        assert!(Arc::ptr_eq(&first.backends[1], &second.backends[0]));
        assert!(!second.backends[0].is_up(0));
        assert_eq!(second.backends[0].active(), 1);
        assert!(second.backends[1].is_up(0));
        assert_eq!(
            second.backends[0].to_string(),
            "users.internal:8080 (10.0.0.2:8080)"
        );
    }

    #[test]
    fn a_weight_set_by_an_operator_stays_with_its_address_across_a_refresh() {
        let (mut checkers, firsts) = (HashMap::new(), Firsts::new());
        let empty = ServerSet::new::<RoundRobin>(Vec::new());
        let first = rebuild::<RoundRobin>(
            &SPEC,
            &[source([1, 2])],
            &empty,
            unchecked(&mut checkers, &firsts),
        );
        first.backends[1].reweigh(5, "admin".to_owned());
        let second = rebuild::<RoundRobin>(
            &SPEC,
            &[source([2, 3])],
            &first,
            unchecked(&mut checkers, &firsts),
        );
        assert_eq!(hosts(&second), ["10.0.0.2:8080", "10.0.0.3:8080"]);
        assert_eq!(second.backends[0].live_weight(), Some(5));
        let (strategy, headers) = (RoundRobin::default(), http::HeaderMap::new());
        let target =
            crate::upstream::balance::Target::request(&headers, "/", Ipv4Addr::LOCALHOST.into());
        let mut counts = [0; 2];
        for _ in 0..600 {
            let choice = second.choice(&second.primaries, false, &[], 0);
            counts[strategy.pick(&second.table, &choice, &target).unwrap()] += 1;
        }
        assert_eq!(counts, [500, 100], "the new set is weighed with it");
    }

    #[test]
    fn servers_are_capped_per_pool() {
        let (mut checkers, firsts) = (HashMap::new(), Firsts::new());
        let empty = ServerSet::new::<RoundRobin>(Vec::new());
        let sources: Vec<Source> = (0..5).map(|_| source(1..=60)).collect();
        let mut distinct = sources;
        for (i, source) in distinct.iter_mut().enumerate() {
            for found in &mut source.found {
                if let Upstream::Socket(addr) = &mut found.spec.upstream {
                    addr.set_port(8000 + i as u16);
                }
            }
        }
        let set =
            rebuild::<RoundRobin>(&SPEC, &distinct, &empty, unchecked(&mut checkers, &firsts));
        assert_eq!(set.backends.len(), MAX_SERVERS_PER_POOL);
        // The same address from two entries is one server.
        let twice = rebuild::<RoundRobin>(
            &SPEC,
            &[source([1]), source([1])],
            &empty,
            unchecked(&mut checkers, &firsts),
        );
        assert_eq!(twice.backends.len(), 1);
    }

    #[test]
    fn failures_keep_the_addresses_and_back_off() {
        let mut source = source([1, 2]);
        let now = Instant::now();
        assert!(!source.update("app", Outcome::Failed("SERVFAIL".into()), now));
        assert_eq!(source.found.len(), 2);
        assert_eq!(source.due, Some(now + FIRST_RETRY));
        source.update("app", Outcome::Failed("SERVFAIL".into()), now);
        assert_eq!(source.due, Some(now + 2 * FIRST_RETRY));
        for _ in 0..20 {
            source.update("app", Outcome::Failed("SERVFAIL".into()), now);
        }
        assert_eq!(source.due, Some(now + MAX_RETRY));
        // An answer resets the backoff; its TTL is clamped.
        assert!(source.update("app", Outcome::Found(Vec::new(), Duration::ZERO), now));
        assert_eq!(source.due, Some(now + MIN_REFRESH));
        assert!(!source.update(
            "app",
            Outcome::Found(Vec::new(), Duration::from_secs(86_400)),
            now
        ));
        assert_eq!(source.due, Some(now + MAX_REFRESH));
    }
}
