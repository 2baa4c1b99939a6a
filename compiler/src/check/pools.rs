//! Checks of a pool (servers listed twice, only backups, more retries than servers, a health
//! check slower than its interval, a queue no server fills, outlier detection with nothing to
//! compare) and the pool as the Model holds it, its defaults applied.

use edge_dsl::ast::{self, RetryOn};
use edge_dsl::{Diagnostic, Label};

use super::value;
use crate::model::{self, defaults};

/// Checks of a pool's servers, health check and retries taken together.
pub(super) fn pool_checks(pool: &ast::Pool, out: &mut Vec<Diagnostic>) {
    if !pool.servers.is_empty() && pool.servers.iter().all(|s| s.backup.is_some()) {
        out.push(
            Diagnostic::error(
                "only-backup-servers",
                format!("pool `{}` has only backup servers", pool.name),
            )
            .with_label(Label::primary(pool.span, "no primary server"))
            .with_help("backup servers are used only when every primary server is down"),
        );
    }
    // Names may stand for several servers; only a pool of addresses has a known size.
    let fixed = pool
        .servers
        .iter()
        .all(|s| matches!(s.address.value, ast::Address::Socket(_)));
    if let Some(retry) = pool.retry.as_ref().filter(|_| fixed) {
        let servers = pool.servers.len() as u32;
        if retry.value.attempts.value >= servers {
            out.push(
                Diagnostic::warning(
                    "too-many-retries",
                    format!(
                        "pool `{}` has {} but asks for {}",
                        pool.name,
                        counted(servers, "server"),
                        counted(retry.value.attempts.value, "retry")
                    ),
                )
                .with_label(Label::primary(
                    retry.value.attempts.span,
                    "more than can be used",
                ))
                .with_help(match servers {
                    1 => "each retry goes to a different server: with one server, none can happen"
                        .to_owned(),
                    _ => format!(
                        "each retry goes to a different server: at most {} can happen",
                        servers - 1
                    ),
                }),
            );
        }
    }
    circuit_checks(pool, fixed, out);
    if let Some(health) = &pool.health {
        let health = &health.value;
        let interval = health
            .interval
            .as_ref()
            .map_or(defaults::HEALTH_INTERVAL, |i| i.value);
        if let Some(timeout) = health.timeout.as_ref().filter(|t| t.value > interval) {
            let mut diagnostic = Diagnostic::warning(
                "health-timeout-too-long",
                format!(
                    "the health check of pool `{}` has a timeout longer than its interval",
                    pool.name
                ),
            )
            .with_label(Label::primary(
                timeout.span,
                format!("longer than the interval, {interval:?}"),
            ))
            .with_help("a check must end before the next one starts; make the timeout shorter");
            if let Some(given) = &health.interval {
                diagnostic = diagnostic.with_label(Label::secondary(given.span, "the interval"));
            }
            out.push(diagnostic);
        }
    }
}

/// Checks of `max_pending` and `outlier` against the pool's servers. `fixed`: every server is
/// an address, so the pool's size is known.
fn circuit_checks(pool: &ast::Pool, fixed: bool, out: &mut Vec<Diagnostic>) {
    if let Some(max_pending) = &pool.max_pending {
        if pool.servers.iter().all(|server| server.max_conns.is_none()) {
            out.push(
                Diagnostic::error(
                    "ineffective-directive",
                    format!("pool `{}` queues requests, but no server has `max_conns`", pool.name),
                )
                .with_label(Label::primary(max_pending.span, "nothing ever waits"))
                .with_help("requests wait only when every usable server is at its `max_conns`: give the servers a cap (`server ADDR max_conns 100`)"),
            );
        }
    }
    let Some(outlier) = &pool.outlier else {
        return;
    };
    let primaries = pool.servers.iter().filter(|s| s.backup.is_none()).count();
    if fixed && primaries < 2 {
        out.push(
            Diagnostic::warning(
                "outlier-without-peers",
                format!("pool `{}` has one primary server: outlier detection has nothing to compare it with", pool.name),
            )
            .with_label(Label::primary(outlier.span, "compares a server with the others"))
            .with_help("a server is judged against the median of the pool's other servers: give the pool more servers, or leave out `outlier`"),
        );
    }
    let times = (
        &outlier.value.base_ejection_time,
        &outlier.value.max_ejection_time,
    );
    if let (Some(base), Some(max)) = times {
        if base.value > max.value {
            out.push(
                Diagnostic::error(
                    "out-of-range",
                    format!(
                        "the outlier detection of pool `{}` has a base ejection time longer than its maximum",
                        pool.name
                    ),
                )
                .with_label(Label::primary(base.span, "longer than the maximum"))
                .with_label(Label::secondary(max.span, "the maximum"))
                .with_help("an ejection lasts the base time × the times the server was ejected, up to the maximum: make the base shorter"),
            );
        }
    }
}

/// `1 server`, `2 servers`, `1 retry`, `3 retries`.
fn counted(count: u32, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        (_, None) => format!("{count} {noun}s"),
    }
}

pub(super) fn duplicate_servers(pool: &ast::Pool, out: &mut Vec<Diagnostic>) {
    for (index, server) in pool.servers.iter().enumerate() {
        let address = &server.address;
        if let Some(first) = pool.servers[..index]
            .iter()
            .find(|s| s.address.value == address.value)
        {
            out.push(
                Diagnostic::error(
                    "duplicate-server",
                    format!("pool `{}` lists a server twice", pool.name),
                )
                .with_label(Label::primary(address.span, "listed again here"))
                .with_label(Label::secondary(first.address.span, "first listed here"))
                .with_help(
                    "to send a server more traffic, give it a weight: `server ADDR weight 2`",
                ),
            );
        }
    }
}

pub(super) fn pool((pool, tls): (&ast::Pool, Option<model::UpstreamTls>)) -> model::Pool {
    model::Pool {
        name: pool.name.value.clone(),
        balance: value(&pool.balance).unwrap_or(defaults::POOL_BALANCE),
        servers: pool
            .servers
            .iter()
            .map(|server| model::Server {
                upstream: server.address.value.clone(),
                weight: value(&server.weight).unwrap_or(defaults::SERVER_WEIGHT),
                max_conns: value(&server.max_conns).unwrap_or(defaults::SERVER_MAX_CONNS),
                backup: server.backup.is_some(),
            })
            .collect(),
        timeouts: model::Timeouts {
            connect: value(&pool.timeouts.connect),
            response: value(&pool.timeouts.response),
            idle: value(&pool.timeouts.idle),
            tunnel: value(&pool.timeouts.tunnel),
        },
        health: pool
            .health
            .as_ref()
            .map(|health| health_check(&health.value)),
        passive: pool.passive.as_ref().map(|passive| {
            let passive = &passive.value;
            model::Passive {
                max_fails: value(&passive.max_fails).unwrap_or(defaults::PASSIVE_MAX_FAILS),
                fail_timeout: value(&passive.fail_timeout)
                    .unwrap_or(defaults::PASSIVE_FAIL_TIMEOUT),
                consecutive_5xx: value(&passive.consecutive_5xx)
                    .unwrap_or(defaults::PASSIVE_CONSECUTIVE_5XX),
            }
        }),
        retry: pool.retry.as_ref().map(|retry| {
            let retry = &retry.value;
            let on = |condition| retry.on.iter().any(|on| on.value == condition);
            model::Retry {
                attempts: retry.attempts.value,
                on: if retry.on.is_empty() {
                    defaults::RETRY_ON
                } else {
                    model::RetryOn {
                        connect_error: on(RetryOn::ConnectError),
                        timeout: on(RetryOn::Timeout),
                        status_5xx: on(RetryOn::Status5xx),
                    }
                },
            }
        }),
        proxy_protocol: value(&pool.send_proxy),
        tls,
        protocol: value(&pool.protocol).unwrap_or(defaults::UPSTREAM_PROTOCOL),
        circuit: circuit(pool),
        sticky: pool.sticky.as_ref().map(|sticky| {
            let sticky = &sticky.value;
            model::Sticky {
                cookie: sticky.cookie.value.clone(),
                ttl: value(&sticky.ttl),
                path: value(&sticky.path).unwrap_or_else(|| "/".to_owned()),
                secure: sticky.secure,
                http_only: sticky.http_only,
            }
        }),
    }
}

/// The pool's circuit with every default applied; `None` when it has no circuit directive.
fn circuit(pool: &ast::Pool) -> Option<model::Circuit> {
    let outlier = pool.outlier.as_ref().map(|outlier| {
        let outlier = &outlier.value;
        model::Outlier {
            interval: value(&outlier.interval).unwrap_or(defaults::OUTLIER_INTERVAL),
            min_requests: value(&outlier.min_requests).unwrap_or(defaults::OUTLIER_MIN_REQUESTS),
            success_rate: value(&outlier.success_rate).unwrap_or(0),
            latency: value(&outlier.latency).unwrap_or(0),
            base_ejection_time: value(&outlier.base_ejection_time)
                .unwrap_or(defaults::OUTLIER_BASE_EJECTION_TIME),
            max_ejection_time: value(&outlier.max_ejection_time)
                .unwrap_or(defaults::OUTLIER_MAX_EJECTION_TIME),
            max_ejection_percent: value(&outlier.max_ejection_percent)
                .unwrap_or(defaults::OUTLIER_MAX_EJECTION_PERCENT),
        }
    });
    let (max_pending, max_requests) = (value(&pool.max_pending), value(&pool.max_requests));
    (max_pending.is_some() || max_requests.is_some() || outlier.is_some()).then(|| model::Circuit {
        max_pending: max_pending.unwrap_or(0),
        max_requests: max_requests.unwrap_or(0),
        outlier,
    })
}

/// An active health check with every default applied.
fn health_check(health: &ast::Health) -> model::HealthCheck {
    let interval = value(&health.interval).unwrap_or(defaults::HEALTH_INTERVAL);
    let timeout = value(&health.timeout).unwrap_or(defaults::HEALTH_TIMEOUT);
    let rise = value(&health.rise).unwrap_or(defaults::HEALTH_RISE);
    let fall = value(&health.fall).unwrap_or(defaults::HEALTH_FALL);
    match &health.check {
        ast::HealthCheck::Http { path, expect } => model::HealthCheck::Http(model::HttpCheck {
            path: value(path).unwrap_or_else(|| defaults::HEALTH_PATH.to_owned()),
            expect: value(expect).unwrap_or(defaults::HEALTH_EXPECT),
            interval,
            timeout,
            rise,
            fall,
        }),
        ast::HealthCheck::Tcp => model::HealthCheck::Tcp(model::TcpCheck {
            interval,
            timeout,
            rise,
            fall,
        }),
    }
}
