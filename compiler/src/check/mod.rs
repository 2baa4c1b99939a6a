//! Semantic checks: resolves names (with "did you mean" help), rejects duplicates, listeners
//! that would bind the same address and routes that can never match, and builds the Model.
//! This module runs the checks in order and holds those across the top-level items; routes,
//! pools, stores, TLS settings and the Model's assembly have modules of their own.

mod pools;
mod routes;
mod site;
mod stores;
mod tls;

use crate::files::Folder;

use edge_dsl::ast::{self, Config};
use edge_dsl::{Diagnostic, Ident, Label, Span, Spanned};

use crate::matching::covers;
use crate::model::{self, defaults, Model};
use crate::{config_tests, policy_model};

/// The model when the config is valid, and every diagnostic (errors and warnings) found.
pub struct Checked {
    pub model: Option<Model>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks `config`, read from the file `config_name`; the files it names are read from
/// `folder`, the config's folder.
pub fn check(config: &Config, folder: &Folder, config_name: &str) -> Checked {
    let mut diagnostics = Vec::new();
    top_level(config, &mut diagnostics);
    let stores: Vec<Option<model::Store>> = config
        .stores
        .iter()
        .map(|store| stores::store(store, folder, config_name, &mut diagnostics))
        .collect();
    let store_named = |name: &Ident| resolve(name, "store", config.stores.iter().map(|s| &s.name));
    let pool_named = |name: &Ident| resolve(name, "pool", config.pools.iter().map(|p| &p.name));
    let named = policy_model::Named {
        store: &store_named,
        pool: &pool_named,
    };
    let policies: Vec<Option<model::Policy>> = config
        .policies
        .iter()
        .map(|policy| policy_model::policy(policy, folder, &named, &mut diagnostics))
        .collect();
    let mut used = Used {
        pools: asked_by_policies(&policies, config.pools.len()),
        policies: vec![false; config.policies.len()],
        stores: stores::named(&policies, config.stores.len()),
    };
    let mut pool_tls = Vec::with_capacity(config.pools.len());
    for pool in &config.pools {
        pools::duplicate_servers(pool, &mut diagnostics);
        pools::pool_checks(pool, &mut diagnostics);
        pool_tls.push(tls::pool_tls(pool, folder, &mut diagnostics));
    }
    let mut listeners: Vec<model::Listener> = config
        .listeners
        .iter()
        .map(|listener| site::listener(listener, folder, &mut diagnostics))
        .collect();
    let mut attached: Vec<Vec<&ast::Route>> = vec![Vec::new(); listeners.len()];
    for route in &config.routes {
        if let Some((listener, checked)) =
            routes::route(config, folder, route, &mut used, &mut diagnostics)
        {
            let earlier = &listeners[listener].routes;
            if let Some(index) = earlier.iter().position(|e| covers(e, &checked)) {
                routes::unreachable(route, attached[listener][index], &mut diagnostics);
            }
            attached[listener].push(route);
            listeners[listener].routes.push(checked);
        }
    }

    if diagnostics.iter().any(Diagnostic::is_error) {
        return Checked {
            model: None,
            diagnostics,
        };
    }
    let route_spans: Vec<Vec<Span>> = attached
        .iter()
        .map(|routes| routes.iter().map(|route| route.span).collect())
        .collect();
    let model = site::model(config, listeners, pool_tls, policies, stores);
    config_tests::run(config, &model, &route_spans, &mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Checked {
            model: None,
            diagnostics,
        };
    }
    unused(config, &attached, &used, &mut diagnostics);
    Checked {
        model: Some(model),
        diagnostics,
    }
}

/// Per pool, whether a policy (`ext_auth`) asks it.
fn asked_by_policies(policies: &[Option<model::Policy>], pools: usize) -> Vec<bool> {
    let mut asked = vec![false; pools];
    for policy in policies.iter().flatten() {
        if let model::PolicyKind::ExtAuth(ext) = &policy.kind {
            asked[ext.pool] = true;
        }
    }
    asked
}

/// What the routes (and the policies) refer to, for the warnings about what nothing uses.
pub(super) struct Used {
    pub(super) pools: Vec<bool>,
    pub(super) policies: Vec<bool>,
    /// Named by a rate limit's `store`.
    pub(super) stores: Vec<bool>,
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
    duplicates("store", config.stores.iter().map(|s| &s.name), diagnostics);
    bind_conflicts(&config.listeners, diagnostics);
    admin_conflict(config, diagnostics);
    tracing_without_context(config, diagnostics);
    for (index, page) in config.error_pages.iter().enumerate() {
        let status = &page.value.status;
        if let Some(first) = config.error_pages[..index]
            .iter()
            .find(|p| p.value.status.value == status.value)
        {
            diagnostics.push(
                Diagnostic::error(
                    "duplicate-error-page",
                    format!("two error pages for {}", status.value),
                )
                .with_label(Label::primary(page.span, "given again here"))
                .with_label(Label::secondary(first.span, "first given here"))
                .with_help(format!(
                    "a status has one error page: keep one of the two `error_page {}` lines",
                    status.value
                )),
            );
        }
    }
}

/// Warnings about listeners without routes and pools, policies and stores nothing uses.
fn unused(
    config: &Config,
    attached: &[Vec<&ast::Route>],
    used: &Used,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (listener, routes) in config.listeners.iter().zip(attached) {
        if routes.is_empty() {
            diagnostics.push(
                Diagnostic::warning(
                    "listener-without-routes",
                    format!("listener `{}` has no routes", listener.name),
                )
                .with_label(Label::primary(listener.span, "every request here gets 404"))
                .with_help(format!("attach a route with `on {}`", listener.name)),
            );
        }
    }
    for (pool, used) in config.pools.iter().zip(&used.pools) {
        if !used {
            diagnostics.push(
                Diagnostic::warning("unused-pool", format!("pool `{}` is never used", pool.name))
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
                Diagnostic::warning(
                    "unused-policy",
                    format!("policy `{}` is never used", policy.name),
                )
                .with_label(Label::primary(policy.span, "no route uses it"))
                .with_help(format!("attach it to a route with `use {}`", policy.name)),
            );
        }
    }
    for (store, used) in config.stores.iter().zip(&used.stores) {
        if !used {
            diagnostics.push(
                Diagnostic::warning(
                    "unused-store",
                    format!("store `{}` is never used", store.name),
                )
                .with_label(Label::primary(
                    store.span,
                    "no rate limit keeps its buckets here",
                ))
                .with_help(format!(
                    "share a rate limit's buckets through it with `store {}` in the policy",
                    store.name
                )),
            );
        }
    }
}

/// The index of the item named `name`, or an error suggesting a near miss.
pub(super) fn resolve<'a>(
    name: &Ident,
    kind: &str,
    declared: impl Iterator<Item = &'a Ident> + Clone,
) -> Result<usize, Diagnostic> {
    declared
        .clone()
        .position(|declared| declared.value == name.value)
        .ok_or_else(|| Diagnostic::unknown_name(name, kind, declared.map(|d| d.value.as_str())))
}

fn duplicates<'a>(kind: &str, names: impl Iterator<Item = &'a Ident>, out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<&Ident> = Vec::new();
    for name in names {
        match seen.iter().find(|first| first.value == name.value) {
            Some(first) => out.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("the {kind} `{name}` is defined twice"),
                )
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
            Diagnostic::error(
                "duplicate-bind",
                format!(
                    "the admin listener and listener `{}` bind the same address",
                    listener.name
                ),
            )
            .with_label(Label::primary(span, format!("admin on {addr}")))
            .with_label(Label::secondary(
                listener.bind.span,
                "is already bound here",
            ))
            .with_help("give the admin listener its own port with `bind`"),
        );
    }
}

/// Exported spans need the trace context that `request_id off` turns off.
fn tracing_without_context(config: &Config, out: &mut Vec<Diagnostic>) {
    let (Some(tracing), Some(request_id)) = (&config.tracing, &config.request_id) else {
        return;
    };
    if request_id.value.enabled {
        return;
    }
    out.push(
        Diagnostic::error(
            "tracing-without-context",
            "spans are exported, but `request_id off` turns trace context off",
        )
        .with_label(Label::primary(tracing.span, "spans exported"))
        .with_label(Label::secondary(
            request_id.span,
            "no `traceparent` passed on or started",
        ))
        .with_help("remove `request_id off`, or the `tracing` block"),
    );
}

fn bind_conflicts(listeners: &[ast::Listener], out: &mut Vec<Diagnostic>) {
    for (index, listener) in listeners.iter().enumerate() {
        let addr = listener.bind.value;
        let clash = listeners[..index]
            .iter()
            .find(|earlier| overlap(addr, earlier.bind.value));
        if let Some(earlier) = clash {
            out.push(
                Diagnostic::error(
                    "duplicate-bind",
                    format!(
                        "listeners `{}` and `{}` bind the same address",
                        earlier.name, listener.name
                    ),
                )
                .with_label(Label::primary(listener.bind.span, "this address"))
                .with_label(Label::secondary(earlier.bind.span, "is already bound here"))
                .with_help("give each listener its own port"),
            );
        }
    }
}

/// The value of an optional directive.
pub(super) fn value<T: Clone>(spanned: &Option<Spanned<T>>) -> Option<T> {
    spanned.as_ref().map(|s| s.value.clone())
}
