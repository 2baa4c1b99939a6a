//! Semantic checks: resolves names (with "did you mean" help), rejects duplicates, listeners
//! that would bind the same address and routes that can never match, and builds the Model.

use std::path::Path;

use edge_dsl::ast::{self, Config, HostPattern, PathMatch, RetryOn, UpstreamProtocol};
use edge_dsl::{Diagnostic, Ident, Label, Span, Spanned};

use crate::matching::covers;
use crate::model::{self, defaults, Model};
use crate::{config_tests, files, instances, policy_model};

/// The model when the config is valid, and every diagnostic (errors and warnings) found.
pub struct Checked {
    pub model: Option<Model>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks `config`; the files it names are resolved against `base`, the config's folder.
pub fn check(config: &Config, base: &Path) -> Checked {
    let mut diagnostics = Vec::new();
    top_level(config, &mut diagnostics);
    let policies: Vec<Option<model::Policy>> = config
        .policies
        .iter()
        .map(|policy| policy_model::policy(policy, base, &mut diagnostics))
        .collect();
    let mut used = Used {
        pools: vec![false; config.pools.len()],
        policies: vec![false; config.policies.len()],
    };
    let mut pool_tls = Vec::with_capacity(config.pools.len());
    for pool in &config.pools {
        duplicate_servers(pool, &mut diagnostics);
        pool_checks(pool, &mut diagnostics);
        pool_tls.push(self::pool_tls(pool, base, &mut diagnostics));
    }
    let mut listeners: Vec<model::Listener> = config
        .listeners
        .iter()
        .map(|listener| self::listener(listener, base, &mut diagnostics))
        .collect();
    let mut attached: Vec<Vec<&ast::Route>> = vec![Vec::new(); listeners.len()];
    for route in &config.routes {
        if let Some((listener, checked)) =
            self::route(config, base, route, &mut used, &mut diagnostics)
        {
            let earlier = &listeners[listener].routes;
            if let Some(index) = earlier.iter().position(|e| covers(e, &checked)) {
                unreachable(route, attached[listener][index], &mut diagnostics);
            }
            attached[listener].push(route);
            listeners[listener].routes.push(checked);
        }
    }

    if !diagnostics.iter().any(Diagnostic::is_error) {
        let route_spans: Vec<Vec<Span>> = attached
            .iter()
            .map(|routes| routes.iter().map(|route| route.span).collect())
            .collect();
        config_tests::run(config, &listeners, &route_spans, &mut diagnostics);
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Checked {
            model: None,
            diagnostics,
        };
    }
    unused(config, &attached, &used, &mut diagnostics);
    let model = model(config, base, listeners, pool_tls, policies);
    Checked {
        model: Some(model),
        diagnostics,
    }
}

/// What the routes refer to, for the warnings about what nothing uses.
struct Used {
    pools: Vec<bool>,
    policies: Vec<bool>,
}

/// Checks across the top-level items: names given twice, listeners (and the admin listener)
/// on one address, error pages given twice.
fn top_level(config: &Config, diagnostics: &mut Vec<Diagnostic>) {
    duplicates(
        "listener",
        config.listeners.iter().map(|l| &l.name),
        diagnostics,
    );
    duplicates("pool", config.pools.iter().map(|p| &p.name), diagnostics);
    duplicates("route", config.routes.iter().map(|r| &r.name), diagnostics);
    duplicates(
        "policy",
        config.policies.iter().map(|p| &p.name),
        diagnostics,
    );
    bind_conflicts(&config.listeners, diagnostics);
    admin_conflict(config, diagnostics);
    for (index, page) in config.error_pages.iter().enumerate() {
        let status = &page.value.status;
        if let Some(first) = config.error_pages[..index]
            .iter()
            .find(|p| p.value.status.value == status.value)
        {
            diagnostics.push(
                Diagnostic::error(format!("two error pages for {}", status.value))
                    .with_label(Label::primary(page.span, "given again here"))
                    .with_label(Label::secondary(first.span, "first given here")),
            );
        }
    }
}

/// A listener as the model holds it, its TLS files read; routes are attached later.
fn listener(
    listener: &ast::Listener,
    base: &Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> model::Listener {
    model::Listener {
        tls: listener
            .tls
            .as_ref()
            .and_then(|tls| self::tls(&tls.value, base, diagnostics)),
        name: listener.name.value.clone(),
        bind: listener.bind.value,
        mode: match listener.mode.as_ref().map(|m| m.value) {
            Some(ast::Mode::Tcp) => model::Mode::Tcp {
                idle_timeout: value(&listener.idle_timeout).unwrap_or(defaults::TCP_IDLE_TIMEOUT),
            },
            Some(ast::Mode::Http) | None => model::Mode::Http,
        },
        limits: model::Limits {
            max_header_size: value(&listener.max_header_size),
            header_timeout: value(&listener.header_timeout),
            keepalive_timeout: value(&listener.keepalive_timeout),
            body_timeout: value(&listener.body_timeout),
            send_timeout: value(&listener.send_timeout),
            ping_interval: value(&listener.ping_interval),
            max_body: value(&listener.max_body),
            max_connections: value(&listener.max_connections),
            max_streams: value(&listener.max_streams),
            underscores_in_headers: value(&listener.underscores_in_headers),
            allow_encoded_slashes: value(&listener.allow_encoded_slashes),
            allow_semicolons: value(&listener.allow_semicolons),
            case_insensitive_paths: value(&listener.case_insensitive_paths),
        },
        routes: Vec::new(),
    }
}

/// Checks one route against the items it names; returns its listener and the route as the
/// model holds it, or `None` when its listener or action could not be resolved.
fn route(
    config: &Config,
    base: &Path,
    route: &ast::Route,
    used: &mut Used,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(usize, model::Route)> {
    let listener = resolve(
        &route.on,
        "listener",
        config.listeners.iter().map(|l| &l.name),
    );
    let action = action(config, base, route, &mut used.pools);
    answered_at_the_edge(route, diagnostics);
    let uses = uses(config, route, &mut used.policies, diagnostics);
    let (listener, action) = match (listener, action) {
        (Ok(listener), Ok(action)) => (listener, action),
        (listener, action) => {
            diagnostics.extend(listener.err());
            diagnostics.extend(action.err());
            return None;
        }
    };
    on_its_listener(config, route, listener, &action, diagnostics);
    Some((
        listener,
        model::Route {
            name: route.name.value.clone(),
            hosts: route.hosts.iter().map(|h| h.value.clone()).collect(),
            sni: route.sni.iter().map(|h| h.value.clone()).collect(),
            path: route.path.as_ref().map(|p| p.value.clone()),
            methods: route.methods.iter().map(|m| m.value).collect(),
            matchers: route.matchers.iter().map(|m| m.value.clone()).collect(),
            policies: uses,
            timeout: route.timeout.as_ref().map(|t| t.value),
            upgrades: route.upgrades.iter().map(|u| u.value.clone()).collect(),
            action,
        },
    ))
}

/// A route that an earlier route on its listener shadows.
fn unreachable(route: &ast::Route, earlier: &ast::Route, diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.push(
        Diagnostic::error(format!("route `{}` can never match", route.name))
            .with_label(Label::primary(route.span, "unreachable route"))
            .with_label(Label::secondary(
                earlier.span,
                format!(
                    "`{}` comes first and matches every request this one would",
                    earlier.name
                ),
            ))
            .with_help("routes are tried in order: move the more specific route above"),
    );
}

/// A route's action with its names resolved and its folder read; marks a forwarded-to pool
/// as used.
fn action(
    config: &Config,
    base: &Path,
    route: &ast::Route,
    pool_used: &mut [bool],
) -> Result<model::Action, Diagnostic> {
    match &route.action.value {
        ast::Action::Forward(pool) => resolve(pool, "pool", config.pools.iter().map(|p| &p.name))
            .map(|index| {
                pool_used[index] = true;
                model::Action::Forward(index)
            }),
        ast::Action::Respond { status, body } => Ok(model::Action::Respond {
            status: status.value,
            body: body.as_ref().map(|b| b.value.clone()).unwrap_or_default(),
        }),
        ast::Action::RedirectHttps => Ok(model::Action::RedirectHttps),
        ast::Action::Redirect { status, location } => Ok(model::Action::Redirect {
            status: status.value,
            location: location.value.clone(),
        }),
        ast::Action::Serve(folder) => files::folder(base, folder).map(|root| {
            let strip = match route.path.as_ref().map(|p| &p.value) {
                Some(PathMatch::Prefix(prefix)) if prefix != "/" => {
                    prefix.trim_end_matches('/').to_owned()
                }
                _ => String::new(),
            };
            model::Action::Serve {
                root: root.display().to_string(),
                strip,
            }
        }),
    }
}

/// A `timeout` or an `upgrade` on a route that answers without a pool.
fn answered_at_the_edge(route: &ast::Route, diagnostics: &mut Vec<Diagnostic>) {
    if matches!(route.action.value, ast::Action::Forward(_)) {
        return;
    }
    if let Some(timeout) = &route.timeout {
        diagnostics.push(
            Diagnostic::error(format!(
                "route `{}` has a timeout but does not forward",
                route.name
            ))
            .with_label(Label::primary(timeout.span, "nothing to wait for"))
            .with_label(Label::secondary(route.action.span, "answered at the edge"))
            .with_help("`timeout` bounds the wait for a pool's answer"),
        );
    }
    if let Some(upgrade) = route.upgrades.first() {
        diagnostics.push(
            Diagnostic::error(format!(
                "route `{}` tunnels upgrades but does not forward",
                route.name
            ))
            .with_label(Label::primary(upgrade.span, "nothing to tunnel to"))
            .with_label(Label::secondary(route.action.span, "answered at the edge"))
            .with_help("`upgrade` names the protocols tunnelled to a pool's server"),
        );
    }
}

/// The policies a route uses, resolved, each once; marks them as used.
fn uses(
    config: &Config,
    route: &ast::Route,
    policy_used: &mut [bool],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<usize> {
    let mut uses = Vec::new();
    for (index, name) in route.uses.iter().enumerate() {
        if let Some(first) = route.uses[..index].iter().find(|u| u.value == name.value) {
            diagnostics.push(
                Diagnostic::error(format!("route `{}` uses `{name}` twice", route.name))
                    .with_label(Label::primary(name.span, "used again here"))
                    .with_label(Label::secondary(first.span, "first used here")),
            );
            continue;
        }
        match resolve(name, "policy", config.policies.iter().map(|p| &p.name)) {
            Ok(policy) => {
                policy_used[policy] = true;
                uses.push(policy);
            }
            Err(error) => diagnostics.push(error),
        }
    }
    uses
}

/// What a route may ask of the listener it is on: no upper-case path where paths are folded,
/// no HTTPS redirect on TLS, `sni` only on tcp listeners, the PROXY protocol only from them.
fn on_its_listener(
    config: &Config,
    route: &ast::Route,
    listener: usize,
    action: &model::Action,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let tcp = config.listeners[listener]
        .mode
        .as_ref()
        .is_some_and(|m| m.value == ast::Mode::Tcp);
    let folded = config.listeners[listener]
        .case_insensitive_paths
        .as_ref()
        .is_some_and(|on| on.value);
    if let Some(path) = route.path.as_ref().filter(|_| folded) {
        let text = match &path.value {
            PathMatch::Prefix(text) | PathMatch::Exact(text) => text,
        };
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "route `{}` matches a path with upper-case letters",
                    route.name
                ))
                .with_label(Label::primary(path.span, "never matches"))
                .with_label(Label::secondary(
                    route.on.span,
                    "this listener lower-cases request paths (`case_insensitive_paths on`)",
                ))
                .with_help(format!("write `{}`", text.to_ascii_lowercase())),
            );
        }
    }
    if matches!(action, model::Action::RedirectHttps) && config.listeners[listener].tls.is_some() {
        diagnostics.push(
            Diagnostic::warning(format!(
                "route `{}` redirects to HTTPS on a TLS listener",
                route.name
            ))
            .with_label(Label::primary(
                route.action.span,
                "clients are already on HTTPS",
            ))
            .with_help("a client following this redirect would come back here, in a loop"),
        );
    }
    if let Some(sni) = route.sni.first().filter(|_| !tcp) {
        diagnostics.push(
            Diagnostic::error(format!("route `{}` matches `sni` on an HTTP listener", route.name))
                .with_label(Label::primary(sni.span, "only a tcp listener reads it"))
                .with_help("HTTP routes match the requested host with `host`; `sni` routes TLS passthrough on `mode tcp` listeners"),
        );
    }
    if tcp {
        tcp_route(route, &config.pools, diagnostics);
    } else if let model::Action::Forward(pool) = *action {
        if let Some(send_proxy) = &config.pools[pool].send_proxy {
            diagnostics.push(
                Diagnostic::error(format!(
                    "route `{}` sends HTTP to pool `{}`, which sends the PROXY protocol",
                    route.name, config.pools[pool].name
                ))
                .with_label(Label::primary(route.action.span, "an HTTP route"))
                .with_label(Label::secondary(send_proxy.span, "only for tcp tunnels"))
                .with_help("forward to this pool from routes on `mode tcp` listeners only"),
            );
        }
    }
}

/// Warnings about listeners without routes and pools and policies nothing uses.
fn unused(
    config: &Config,
    attached: &[Vec<&ast::Route>],
    used: &Used,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (listener, routes) in config.listeners.iter().zip(attached) {
        if routes.is_empty() {
            diagnostics.push(
                Diagnostic::warning(format!("listener `{}` has no routes", listener.name))
                    .with_label(Label::primary(listener.span, "every request here gets 404"))
                    .with_help(format!("attach a route with `on {}`", listener.name)),
            );
        }
    }
    for (pool, used) in config.pools.iter().zip(&used.pools) {
        if !used {
            diagnostics.push(
                Diagnostic::warning(format!("pool `{}` is never used", pool.name))
                    .with_label(Label::primary(pool.span, "no route forwards here"))
                    .with_help(format!(
                        "forward to it from a route with `forward {}`",
                        pool.name
                    )),
            );
        }
    }
    for (policy, used) in config.policies.iter().zip(&used.policies) {
        if !used {
            diagnostics.push(
                Diagnostic::warning(format!("policy `{}` is never used", policy.name))
                    .with_label(Label::primary(policy.span, "no route uses it"))
                    .with_help(format!("attach it to a route with `use {}`", policy.name)),
            );
        }
    }
}

/// The model of a checked config.
fn model(
    config: &Config,
    base: &Path,
    mut listeners: Vec<model::Listener>,
    pool_tls: Vec<Option<model::UpstreamTls>>,
    policies: Vec<Option<model::Policy>>,
) -> Model {
    // Without errors, every policy passed its checks: indices stay those of the config.
    let policies: Vec<model::Policy> = policies.into_iter().flatten().collect();
    let instances = instances::assign(&mut listeners, &policies);
    let admin = config.admin.as_ref().map(|admin| model::Admin {
        bind: value(&admin.value.bind).unwrap_or(defaults::ADMIN_BIND),
        token_env: value(&admin.value.token_env),
    });
    let access_log = config.access_log.as_ref().map(|log| model::AccessLog {
        format: log.value.format,
        path: log.value.path.as_ref().map(|path| {
            files::absolute(files::resolve(base, &path.value))
                .display()
                .to_string()
        }),
    });
    Model {
        listeners,
        pools: config.pools.iter().zip(pool_tls).map(pool).collect(),
        policies,
        instances,
        admin,
        access_log,
        request_id: value(&config.request_id),
        workers: config.workers.as_ref().map_or(0, |w| w.value as usize),
        error_pages: config
            .error_pages
            .iter()
            .map(|page| model::ErrorPage {
                status: page.value.status.value,
                body: page.value.body.clone(),
                html: page.value.html,
            })
            .collect(),
        via: value(&config.via),
    }
}

/// The value of an optional directive.
fn value<T: Clone>(spanned: &Option<Spanned<T>>) -> Option<T> {
    spanned.as_ref().map(|s| s.value.clone())
}

fn pool((pool, tls): (&ast::Pool, Option<model::UpstreamTls>)) -> model::Pool {
    model::Pool {
        name: pool.name.value.clone(),
        balance: pool.balance.value.clone(),
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
        protocol: value(&pool.protocol).unwrap_or(UpstreamProtocol::Http1),
    }
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

/// Whether a pool speaks TLS to its servers: it has a `tls` block, or servers written
/// `https://` (then all of them are, as [`pool_tls`] checks).
fn speaks_tls(pool: &ast::Pool) -> bool {
    pool.tls.is_some() || pool.servers.iter().any(|server| server.https)
}

/// A pool's TLS towards its servers with every file checked: `None` for a cleartext pool (and
/// when a file is unusable, with its diagnostic). A pool without a `tls` block may not mix
/// `https://` servers with cleartext ones (`dns_srv` entries are cleartext without one).
fn pool_tls(
    pool: &ast::Pool,
    base: &Path,
    out: &mut Vec<Diagnostic>,
) -> Option<model::UpstreamTls> {
    if pool.tls.is_none() {
        let https = pool.servers.iter().find(|server| server.https)?;
        if let Some(cleartext) = pool.servers.iter().find(|server| !server.https) {
            out.push(
                Diagnostic::error(format!(
                    "pool `{}` mixes TLS and cleartext servers",
                    pool.name
                ))
                .with_label(Label::primary(cleartext.address.span, "a cleartext server"))
                .with_label(Label::secondary(https.address.span, "a TLS server"))
                .with_help(
                    "a pool's servers all speak TLS or none does: write each with `https://`, \
                     or add `tls { }` to the pool to make every server TLS",
                ),
            );
        }
        return Some(model::UpstreamTls::default());
    }
    let tls = &pool.tls.as_ref()?.value;
    let before = out.iter().filter(|d| d.is_error()).count();
    let ca = tls.ca.as_ref().and_then(|ca| {
        files::ca_bundle(base, ca)
            .map_err(|error| out.push(error))
            .ok()
    });
    let client_cert = tls.client_cert.as_ref().and_then(|(cert, key)| {
        let cert = files::certificate_chain(base, cert);
        let key = files::private_key(base, key);
        match (cert, key) {
            (Ok((cert, warnings)), Ok(key)) => {
                out.extend(warnings);
                Some(model::ClientCert {
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                })
            }
            (cert, key) => {
                out.extend(cert.err());
                out.extend(key.err());
                None
            }
        }
    });
    if let Some(off) = tls.verify.as_ref().filter(|verify| !verify.value) {
        let mut warning = Diagnostic::warning(format!(
            "pool `{}` does not verify its servers' certificates",
            pool.name
        ))
        .with_label(Label::primary(off.span, "any certificate is accepted"))
        .with_help(
            "anyone on the path can pose as these servers; give their CA with `ca \"ca.pem\"` \
             and remove `verify off`",
        );
        if let Some(ca) = &tls.ca {
            warning = warning.with_label(Label::secondary(ca.span, "this CA bundle is not used"));
        }
        out.push(warning);
    }
    let clean = out.iter().filter(|d| d.is_error()).count() == before;
    clean.then(|| model::UpstreamTls {
        ca: ca.map(|path| path.display().to_string()),
        server_name: value(&tls.sni),
        client_cert,
        verify: value(&tls.verify),
    })
}

/// A listener's TLS settings with every file checked; `None` (and diagnostics) when one is
/// unusable or certificates conflict.
fn tls(tls: &ast::Tls, base: &Path, out: &mut Vec<Diagnostic>) -> Option<model::Tls> {
    let before = out.iter().filter(|d| d.is_error()).count();
    let mut defaults = tls.certificates.iter().filter(|c| c.names.is_empty());
    if let (Some(first), Some(second)) = (defaults.next(), defaults.next()) {
        out.push(
            Diagnostic::error("two default certificates")
                .with_label(Label::primary(
                    second.span,
                    "another certificate without names",
                ))
                .with_label(Label::secondary(first.span, "the default certificate"))
                .with_help("give every certificate but one its SNI names"),
        );
    }
    let names = tls.certificates.iter().flat_map(|c| &c.names);
    for (index, name) in names.clone().enumerate() {
        if let Some(first) = names.clone().take(index).find(|n| n.value == name.value) {
            out.push(
                Diagnostic::error("an SNI name is given to two certificates")
                    .with_label(Label::primary(name.span, "given again here"))
                    .with_label(Label::secondary(first.span, "first given here"))
                    .with_help("each name selects one certificate"),
            );
        }
    }
    let mut certs = Vec::new();
    for certificate in &tls.certificates {
        let cert = files::certificate_chain(base, &certificate.cert);
        let key = files::private_key(base, &certificate.key);
        match (cert, key) {
            (Ok((cert, warnings)), Ok(key)) => {
                out.extend(warnings);
                certs.push(model::Cert {
                    names: certificate
                        .names
                        .iter()
                        .map(|name| match &name.value {
                            HostPattern::Exact(host) => host.clone(),
                            HostPattern::Suffix(suffix) => format!("*{suffix}"),
                        })
                        .collect(),
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                });
            }
            (cert, key) => {
                out.extend(cert.err());
                out.extend(key.err());
            }
        }
    }
    let client_auth = tls.client_ca.as_ref().and_then(|client| {
        files::ca_bundle(base, &client.ca)
            .map_err(|error| out.push(error))
            .ok()
            .map(|path| model::ClientAuth {
                ca: path.display().to_string(),
                required: !client.optional,
            })
    });
    let clean = out.iter().filter(|d| d.is_error()).count() == before;
    clean.then(|| model::Tls {
        certs,
        client_auth,
        hsts: value(&tls.hsts),
    })
}

/// A route on a `mode tcp` listener: no request to match on and nothing to respond with, and
/// a pool whose strategy can work without a request.
fn tcp_route(route: &ast::Route, pools: &[ast::Pool], out: &mut Vec<Diagnostic>) {
    let matchers = route
        .hosts
        .iter()
        .map(|h| h.span)
        .chain(route.path.as_ref().map(|p| p.span))
        .chain(route.methods.iter().map(|m| m.span))
        .chain(route.matchers.iter().map(|m| m.span))
        .chain(route.uses.iter().map(|u| u.span))
        .chain(route.timeout.as_ref().map(|t| t.span));
    for span in matchers {
        out.push(
            Diagnostic::error(format!(
                "route `{}` matches requests on a tcp listener",
                route.name
            ))
            .with_label(Label::primary(
                span,
                "a tcp listener sees bytes, not requests",
            ))
            .with_help("routes on a `mode tcp` listener only `forward`"),
        );
    }
    match &route.action.value {
        ast::Action::Respond { .. }
        | ast::Action::RedirectHttps
        | ast::Action::Redirect { .. }
        | ast::Action::Serve(_) => out.push(
            Diagnostic::error(format!("route `{}` responds on a tcp listener", route.name))
                .with_label(Label::primary(
                    route.action.span,
                    "there is no request to answer",
                ))
                .with_help("routes on a `mode tcp` listener only `forward`"),
        ),
        ast::Action::Forward(name) => {
            let pool = pools.iter().find(|p| p.name.value == name.value);
            if let Some(pool) = pool.filter(|p| speaks_tls(p)) {
                out.push(
                    Diagnostic::error(format!(
                        "pool `{}` speaks TLS to its servers, but route `{}` forwards a tcp connection",
                        pool.name, route.name
                    ))
                    .with_label(Label::primary(route.action.span, "a tcp tunnel"))
                    .with_label(Label::secondary(pool.span, "a TLS pool"))
                    .with_help(
                        "tcp tunnels pass bytes through as they are, TLS included: write the \
                         servers without `https://` and leave out the pool's `tls`",
                    ),
                );
            }
            if let Some(pool) = pool.filter(|p| matches!(&p.balance.value, ast::Balance::Hash(key) if *key != ast::HashKey::ClientIp)) {
                out.push(
                    Diagnostic::error(format!(
                        "pool `{}` hashes a request, but route `{}` forwards a tcp connection",
                        pool.name, route.name
                    ))
                    .with_label(Label::primary(route.action.span, "a tcp tunnel"))
                    .with_label(Label::secondary(pool.balance.span, "needs an HTTP request"))
                    .with_help("tcp routes can hash `client_ip`; headers, cookies and paths need HTTP"),
                );
            }
        }
    }
}

/// Checks of a pool's servers, health check and retries taken together.
fn pool_checks(pool: &ast::Pool, out: &mut Vec<Diagnostic>) {
    if !pool.servers.is_empty() && pool.servers.iter().all(|s| s.backup.is_some()) {
        out.push(
            Diagnostic::error(format!("pool `{}` has only backup servers", pool.name))
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
                Diagnostic::warning(format!(
                    "pool `{}` has {servers} server{} but asks for {} retries",
                    pool.name,
                    if servers == 1 { "" } else { "s" },
                    retry.value.attempts.value
                ))
                .with_label(Label::primary(
                    retry.value.attempts.span,
                    "more than can be used",
                ))
                .with_help(format!(
                    "each retry goes to a different server: at most {} can happen",
                    servers.saturating_sub(1)
                )),
            );
        }
    }
    if let Some(health) = &pool.health {
        let health = &health.value;
        let interval = health
            .interval
            .as_ref()
            .map_or(defaults::HEALTH_INTERVAL, |i| i.value);
        if let Some(timeout) = health.timeout.as_ref().filter(|t| t.value > interval) {
            out.push(
                Diagnostic::warning("the health check timeout is longer than its interval")
                    .with_label(Label::primary(timeout.span, "longer than the interval"))
                    .with_help(
                        "a check must end before the next one starts; make the timeout shorter",
                    ),
            );
        }
    }
}

/// The index of the item named `name`, or an error suggesting a near miss.
fn resolve<'a>(
    name: &Ident,
    kind: &str,
    declared: impl Iterator<Item = &'a Ident> + Clone,
) -> Result<usize, Diagnostic> {
    declared
        .clone()
        .position(|declared| declared.value == name.value)
        .ok_or_else(|| {
            Diagnostic::error(format!("no {kind} named `{name}`"))
                .with_label(Label::primary(name.span, format!("unknown {kind}")))
                .with_suggestion(
                    &name.value,
                    &format!("a {kind}"),
                    declared.map(|d| d.value.as_str()),
                )
        })
}

fn duplicates<'a>(kind: &str, names: impl Iterator<Item = &'a Ident>, out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<&Ident> = Vec::new();
    for name in names {
        match seen.iter().find(|first| first.value == name.value) {
            Some(first) => out.push(
                Diagnostic::error(format!("the {kind} `{name}` is defined twice"))
                    .with_label(Label::primary(name.span, "defined again here"))
                    .with_label(Label::secondary(first.span, "first defined here"))
                    .with_help(format!("give each {kind} its own name")),
            ),
            None => seen.push(name),
        }
    }
}

/// Whether two listening addresses would take the same port.
fn overlap(addr: std::net::SocketAddr, other: std::net::SocketAddr) -> bool {
    addr.port() != 0
        && addr.port() == other.port()
        && (addr.ip() == other.ip() || addr.ip().is_unspecified() || other.ip().is_unspecified())
}

/// The admin listener must not take a listener's address.
fn admin_conflict(config: &Config, out: &mut Vec<Diagnostic>) {
    let Some(admin) = &config.admin else {
        return;
    };
    let (addr, span) = admin
        .value
        .bind
        .as_ref()
        .map_or((defaults::ADMIN_BIND, admin.span), |b| (b.value, b.span));
    if let Some(listener) = config
        .listeners
        .iter()
        .find(|l| overlap(addr, l.bind.value))
    {
        out.push(
            Diagnostic::error(format!(
                "the admin listener and listener `{}` bind the same address",
                listener.name
            ))
            .with_label(Label::primary(span, format!("admin on {addr}")))
            .with_label(Label::secondary(
                listener.bind.span,
                "is already bound here",
            ))
            .with_help("give the admin listener its own port with `bind`"),
        );
    }
}

fn bind_conflicts(listeners: &[ast::Listener], out: &mut Vec<Diagnostic>) {
    for (index, listener) in listeners.iter().enumerate() {
        let addr = listener.bind.value;
        let clash = listeners[..index]
            .iter()
            .find(|earlier| overlap(addr, earlier.bind.value));
        if let Some(earlier) = clash {
            out.push(
                Diagnostic::error(format!(
                    "listeners `{}` and `{}` bind the same address",
                    earlier.name, listener.name
                ))
                .with_label(Label::primary(listener.bind.span, "this address"))
                .with_label(Label::secondary(earlier.bind.span, "is already bound here"))
                .with_help("give each listener its own port"),
            );
        }
    }
}

fn duplicate_servers(pool: &ast::Pool, out: &mut Vec<Diagnostic>) {
    for (index, server) in pool.servers.iter().enumerate() {
        let address = &server.address;
        if let Some(first) = pool.servers[..index]
            .iter()
            .find(|s| s.address.value == address.value)
        {
            out.push(
                Diagnostic::error(format!("pool `{}` lists a server twice", pool.name))
                    .with_label(Label::primary(address.span, "listed again here"))
                    .with_label(Label::secondary(first.address.span, "first listed here"))
                    .with_help(
                        "to send a server more traffic, give it a weight: `server ADDR weight 2`",
                    ),
            );
        }
    }
}
