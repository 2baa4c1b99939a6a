//! Checks of one route: the items it names, what it may ask of its listener, and the route as
//! the Model holds it.

use crate::files::Folder;

use edge_dsl::ast::{self, Config, LimitKey, PathMatch, PolicyKind, UpstreamProtocol};
use edge_dsl::{Diagnostic, Ident, Label, Spanned};

use super::tls::speaks_tls;
use super::{resolve, Used};
use crate::files;
use crate::model;

/// Checks one route against the items it names; returns its listener and the route as the
/// model holds it, or `None` when its listener or action could not be resolved.
pub(super) fn route(
    config: &Config,
    folder: &Folder,
    route: &ast::Route,
    used: &mut Used,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(usize, model::Route)> {
    let listener = resolve(
        &route.on,
        "listener",
        config.listeners.iter().map(|l| &l.name),
    );
    let action = action(config, folder, route, &mut used.pools);
    let mirror = mirror(config, route, &mut used.pools, diagnostics);
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
    if let (Some(mirror), Some(at)) = (&mirror, &route.mirror) {
        mirrored_elsewhere(config, route, &action, mirror, at.span, diagnostics);
    }
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
            mirror,
            action,
        },
    ))
}

/// A route's mirror with its pool resolved (and marked used) and its defaults filled in.
fn mirror(
    config: &Config,
    route: &ast::Route,
    pool_used: &mut [bool],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<model::Mirror> {
    let mirror = &route.mirror.as_ref()?.value;
    let pool = resolve(&mirror.pool, "pool", config.pools.iter().map(|p| &p.name))
        .map_err(|error| diagnostics.push(error))
        .ok()?;
    pool_used[pool] = true;
    Some(model::Mirror {
        pool,
        share: mirror
            .share
            .as_ref()
            .map_or(model::Mirror::SHARE, |s| s.value),
        max_body: mirror
            .max_body
            .as_ref()
            .map_or(model::Mirror::MAX_BODY, |b| b.value),
        max_in_flight: mirror
            .max_in_flight
            .as_ref()
            .map_or(model::Mirror::MAX_IN_FLIGHT, |m| m.value),
    })
}

/// A mirror must go to a pool the route does not forward to (the servers would get each
/// request twice), and to one that takes HTTP.
fn mirrored_elsewhere(
    config: &Config,
    route: &ast::Route,
    action: &model::Action,
    mirror: &model::Mirror,
    at: edge_dsl::Span,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let forwarded = match action {
        model::Action::Forward(pool) => *pool == mirror.pool,
        model::Action::Split { pools, .. } => pools.iter().any(|&(pool, _)| pool == mirror.pool),
        _ => false,
    };
    let pool = &config.pools[mirror.pool];
    if forwarded {
        diagnostics.push(
            Diagnostic::error(
                "mirror-to-forwarded-pool",
                format!(
                    "route `{}` mirrors to pool `{}`, which it forwards to",
                    route.name, pool.name
                ),
            )
            .with_label(Label::primary(at, "the copy would go to the same servers"))
            .with_label(Label::secondary(route.action.span, "the request goes there already"))
            .with_help("mirror to a pool of its own (a shadow deployment), not to one the route forwards to"),
        );
    }
    if let Some(send_proxy) = &pool.send_proxy {
        diagnostics.push(
            Diagnostic::error(
                "pool-mode-mismatch",
                format!(
                    "route `{}` mirrors HTTP to pool `{}`, which sends the PROXY protocol",
                    route.name, pool.name
                ),
            )
            .with_label(Label::primary(at, "copies of HTTP requests"))
            .with_label(Label::secondary(send_proxy.span, "only for tcp tunnels"))
            .with_help("mirror to a pool without `send_proxy`"),
        );
    }
}

/// A route that an earlier route on its listener shadows.
pub(super) fn unreachable(
    route: &ast::Route,
    earlier: &ast::Route,
    diagnostics: &mut Vec<Diagnostic>,
) {
    diagnostics.push(
        Diagnostic::error(
            "unreachable-route",
            format!("route `{}` can never match", route.name),
        )
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
    folder: &Folder,
    route: &ast::Route,
    pool_used: &mut [bool],
) -> Result<model::Action, Diagnostic> {
    match &route.action.value {
        ast::Action::Forward(pool) => resolve(pool, "pool", config.pools.iter().map(|p| &p.name))
            .map(|index| {
                pool_used[index] = true;
                model::Action::Forward(index)
            }),
        ast::Action::Split { pools, by } => {
            let mut split = Vec::with_capacity(pools.len());
            for (pool, weight) in pools {
                let index = resolve(pool, "pool", config.pools.iter().map(|p| &p.name))?;
                pool_used[index] = true;
                split.push((index, weight.value));
            }
            Ok(model::Action::Split {
                pools: split,
                by: by.as_ref().map(|key| key.value.clone()),
            })
        }
        ast::Action::Respond { status, body } => Ok(model::Action::Respond {
            status: status.value,
            body: body.as_ref().map(|b| b.value.clone()).unwrap_or_default(),
        }),
        ast::Action::RedirectHttps => Ok(model::Action::RedirectHttps),
        ast::Action::Redirect { status, location } => Ok(model::Action::Redirect {
            status: status.value,
            location: location.value.clone(),
        }),
        ast::Action::Serve(served) => files::served_folder(folder, served).map(|root| {
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
    if matches!(
        route.action.value,
        ast::Action::Forward(_) | ast::Action::Split { .. }
    ) {
        return;
    }
    if let Some(timeout) = &route.timeout {
        diagnostics.push(
            Diagnostic::error(
                "ineffective-directive",
                format!("route `{}` has a timeout but does not forward", route.name),
            )
            .with_label(Label::primary(timeout.span, "nothing to wait for"))
            .with_label(Label::secondary(route.action.span, "answered at the edge"))
            .with_help("`timeout` bounds the wait for a pool's answer"),
        );
    }
    if let Some(mirror) = &route.mirror {
        diagnostics.push(
            Diagnostic::error(
                "ineffective-directive",
                format!("route `{}` mirrors but does not forward", route.name),
            )
            .with_label(Label::primary(mirror.span, "nothing is sent to copy"))
            .with_label(Label::secondary(route.action.span, "answered at the edge"))
            .with_help("`mirror` copies requests a route forwards to a pool"),
        );
    }
    if let Some(upgrade) = route.upgrades.first() {
        diagnostics.push(
            Diagnostic::error(
                "ineffective-directive",
                format!(
                    "route `{}` tunnels upgrades but does not forward",
                    route.name
                ),
            )
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
    let mut chain = Vec::new();
    for (index, name) in route.uses.iter().enumerate() {
        if let Some(first) = route.uses[..index].iter().find(|u| u.value == name.value) {
            diagnostics.push(
                Diagnostic::error(
                    "duplicate-item",
                    format!("route `{}` uses `{name}` twice", route.name),
                )
                .with_label(Label::primary(name.span, "used again here"))
                .with_label(Label::secondary(first.span, "first used here"))
                .with_help(format!(
                    "a policy runs once in a route's chain: remove the second `{name}`"
                )),
            );
            continue;
        }
        match resolve(name, "policy", config.policies.iter().map(|p| &p.name)) {
            Ok(policy) => {
                policy_used[policy] = true;
                uses.push(policy);
                chain.push((name, &config.policies[policy]));
            }
            Err(error) => diagnostics.push(error),
        }
    }
    limits_need_callers(route, &chain, diagnostics);
    forwarded_headers_kept(route, &chain, diagnostics);
    gates_before_cache(route, &chain, diagnostics);
    methods_validated(route, &chain, diagnostics);
    uses
}

/// A rate limit keyed by a claim or a consumer counts by what an authentication policy earlier
/// in the route's chain found; without one, every request would count by its client's IP.
fn limits_need_callers(
    route: &ast::Route,
    chain: &[(&Ident, &ast::Policy)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (index, (used, policy)) in chain.iter().enumerate() {
        let PolicyKind::RateLimit(limit) = &policy.kind.value else {
            continue;
        };
        let Some(key) = &limit.key else {
            continue;
        };
        let (what, a_what, finds): (&str, &str, fn(&PolicyKind) -> bool) = match &key.value {
            LimitKey::Claim(_) => ("`jwt`", "a `jwt`", |kind| {
                matches!(kind, PolicyKind::Jwt(_))
            }),
            LimitKey::Consumer => ("authentication", "an authentication", |kind| {
                matches!(
                    kind,
                    PolicyKind::Jwt(_) | PolicyKind::ApiKey(_) | PolicyKind::BasicAuth(_)
                )
            }),
            _ => continue,
        };
        if chain[..index].iter().any(|(_, p)| finds(&p.kind.value)) {
            continue;
        }
        let mut diagnostic = Diagnostic::error(
            "ineffective-directive",
            format!(
                "rate limit `{}` counts by who is calling, but route `{}` runs no {what} policy before it",
                policy.name, route.name
            ),
        )
        .with_label(Label::primary(used.span, "no caller is known here"))
        .with_label(Label::secondary(key.span, "counts by the caller"));
        let later = chain[index + 1..]
            .iter()
            .find(|(_, p)| finds(&p.kind.value));
        diagnostic = match later {
            Some((auth, _)) => diagnostic
                .with_label(Label::secondary(auth.span, "runs after the limit"))
                .with_help(format!("list `{auth}` before `{used}` in `use`")),
            None => diagnostic.with_help(format!(
                "without one, every request counts by its client's IP: list {a_what} policy \
                 before `{used}` in `use`, or key the limit by `client_ip`"
            )),
        };
        diagnostics.push(diagnostic);
    }
}

/// A `cache` answers a stored request from its request step, so the policies after it in the
/// chain never see the requests it answers: an authentication or `access` policy there would
/// let anyone have what an allowed caller once fetched.
fn gates_before_cache(
    route: &ast::Route,
    chain: &[(&Ident, &ast::Policy)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(cache) = chain
        .iter()
        .position(|(_, p)| matches!(p.kind.value, PolicyKind::Cache(_)))
    else {
        return;
    };
    let (cache_used, _) = chain[cache];
    for (gate, policy) in &chain[cache + 1..] {
        let what = match &policy.kind.value {
            PolicyKind::Jwt(_) | PolicyKind::ApiKey(_) | PolicyKind::BasicAuth(_) => {
                "authenticates"
            }
            PolicyKind::Access(_) | PolicyKind::ExtAuth(_) => "decides who may call",
            _ => continue,
        };
        diagnostics.push(
            Diagnostic::error(
                "cache-before-gate",
                format!(
                    "route `{}` answers from its cache before `{gate}` {what}",
                    route.name
                ),
            )
            .with_label(Label::primary(gate.span, "never runs for a cached answer"))
            .with_label(Label::secondary(
                cache_used.span,
                "answers stored requests here",
            ))
            .with_help(format!(
                "a cached answer would reach callers `{gate}` refuses: list `{gate}` before \
                 `{cache_used}` in `use`"
            )),
        );
    }
}

/// A `validate` policy whose methods are none of those the route matches: every request the
/// route takes would get `405`.
fn methods_validated(
    route: &ast::Route,
    chain: &[(&Ident, &ast::Policy)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (Some(first), Some(last)) = (route.methods.first(), route.methods.last()) else {
        return;
    };
    for (used, policy) in chain {
        let PolicyKind::Validate(validate) = &policy.kind.value else {
            continue;
        };
        let allowed = |method: &Spanned<ast::Method>| {
            validate.methods.iter().any(|m| m.value == method.value)
        };
        if validate.methods.is_empty() || route.methods.iter().any(allowed) {
            continue;
        }
        let listed = |methods: &[Spanned<ast::Method>]| {
            let names: Vec<&str> = methods.iter().map(|m| m.value.as_str()).collect();
            names.join(" ")
        };
        diagnostics.push(
            Diagnostic::error(
                "ineffective-directive",
                format!(
                    "route `{}` matches only {}, which policy `{used}` refuses with 405",
                    route.name,
                    listed(&route.methods)
                ),
            )
            .with_label(Label::primary(used.span, "every request would get 405"))
            .with_label(Label::secondary(
                first.span.to(last.span),
                "the route's methods",
            ))
            .with_help(format!(
                "`{used}` allows {}: make the route's `methods` and the policy's agree",
                listed(&validate.methods)
            )),
        );
    }
}

/// A header an authentication policy forwards (`forward_claim`, `consumer_header`) that a later
/// `headers` policy of the chain removes or sets, so the servers never get it.
fn forwarded_headers_kept(
    route: &ast::Route,
    chain: &[(&Ident, &ast::Policy)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (index, (used, policy)) in chain.iter().enumerate() {
        let forwarded: Vec<&Spanned<String>> = match &policy.kind.value {
            PolicyKind::Jwt(jwt) => jwt.forward.iter().map(|(_, header)| header).collect(),
            PolicyKind::ApiKey(key) => key.consumer_header.iter().collect(),
            PolicyKind::BasicAuth(basic) => basic.consumer_header.iter().collect(),
            PolicyKind::ExtAuth(ext) => ext.copy_headers.iter().collect(),
            _ => continue,
        };
        for (later, edits) in
            chain[index + 1..]
                .iter()
                .filter_map(|(name, p)| match &p.kind.value {
                    PolicyKind::Headers(headers) => Some((name, &headers.request)),
                    _ => None,
                })
        {
            let edited = edits
                .remove
                .iter()
                .map(|name| (name, "removes"))
                .chain(edits.set.iter().map(|(name, _)| (name, "replaces")));
            for (edit, verb) in edited {
                let Some(header) = forwarded.iter().find(|h| h.value == edit.value) else {
                    continue;
                };
                diagnostics.push(
                    Diagnostic::error(
                        "ineffective-directive",
                        format!(
                            "policy `{later}` {verb} the header `{}` that `{used}` forwards, on route `{}`",
                            header.value, route.name
                        ),
                    )
                    .with_label(Label::primary(edit.span, format!("{verb} it")))
                    .with_label(Label::secondary(header.span, "forwarded here"))
                    .with_label(Label::secondary(later.span, "runs after it"))
                    .with_help(format!(
                        "policies edit the request in `use` order: list `{later}` before `{used}`, \
                         or leave `{}` out of its request edits",
                        header.value
                    )),
                );
            }
        }
    }
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
                Diagnostic::error(
                    "uppercase-path",
                    format!(
                        "route `{}` matches a path with upper-case letters",
                        route.name
                    ),
                )
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
            Diagnostic::warning(
                "https-redirect-loop",
                format!(
                    "route `{}` redirects to HTTPS on a TLS listener",
                    route.name
                ),
            )
            .with_label(Label::primary(
                route.action.span,
                "clients are already on HTTPS",
            ))
            .with_help("a client following this redirect would come back here, in a loop"),
        );
    }
    if let Some(sni) = route.sni.first().filter(|_| !tcp) {
        diagnostics.push(
            Diagnostic::error("route-mode-mismatch", format!("route `{}` matches `sni` on an HTTP listener", route.name))
                .with_label(Label::primary(sni.span, "only a tcp listener reads it"))
                .with_help("HTTP routes match the requested host with `host`; `sni` routes TLS passthrough on `mode tcp` listeners"),
        );
    }
    if tcp {
        tcp_route(route, &config.pools, diagnostics);
    } else {
        let pools: Vec<usize> = match action {
            model::Action::Forward(pool) => vec![*pool],
            model::Action::Split { pools, .. } => pools.iter().map(|&(pool, _)| pool).collect(),
            _ => Vec::new(),
        };
        for pool in pools {
            http_pool(route, &config.pools[pool], diagnostics);
        }
    }
}

/// What a pool an HTTP route forwards to must not be.
fn http_pool(route: &ast::Route, pool: &ast::Pool, diagnostics: &mut Vec<Diagnostic>) {
    upgrades_to_http2(route, pool, diagnostics);
    if let Some(send_proxy) = &pool.send_proxy {
        diagnostics.push(
            Diagnostic::error(
                "pool-mode-mismatch",
                format!(
                    "route `{}` sends HTTP to pool `{}`, which sends the PROXY protocol",
                    route.name, pool.name
                ),
            )
            .with_label(Label::primary(route.action.span, "an HTTP route"))
            .with_label(Label::secondary(send_proxy.span, "only for tcp tunnels"))
            .with_help("forward to this pool from routes on `mode tcp` listeners only"),
        );
    }
}

/// An `upgrade` on a route whose pool speaks HTTP/2 to its servers: upgrades are tunnelled to
/// HTTP/1.1 servers only, so such a request goes as a plain one.
fn upgrades_to_http2(route: &ast::Route, pool: &ast::Pool, out: &mut Vec<Diagnostic>) {
    let (Some(upgrade), Some(protocol)) = (route.upgrades.first(), &pool.protocol) else {
        return;
    };
    if protocol.value != UpstreamProtocol::Http2 {
        return;
    }
    out.push(
        Diagnostic::error(
            "ineffective-directive",
            format!(
                "route `{}` tunnels upgrades, but pool `{}` speaks HTTP/2",
                route.name, pool.name
            ),
        )
        .with_label(Label::primary(upgrade.span, "never tunnelled"))
        .with_label(Label::secondary(protocol.span, "HTTP/2 has no `Upgrade`"))
        .with_help(
            "upgrades reach HTTP/1.1 servers only: forward this route to a pool without \
             `protocol h2`, or leave out `upgrade`",
        ),
    );
}

/// The first of a pool's circuit directives (`max_pending`, `max_requests`, `outlier`), if any.
fn guarded(pool: &ast::Pool) -> Option<edge_dsl::Span> {
    let spans = [
        pool.max_pending.as_ref().map(|m| m.span),
        pool.max_requests.as_ref().map(|m| m.span),
        pool.outlier.as_ref().map(|o| o.span),
    ];
    spans.into_iter().flatten().min_by_key(|span| span.start)
}

/// A route on a `mode tcp` listener: no request to match on, no policy to run, no answer to
/// wait for and nothing to respond with, and a pool whose strategy can work without a request.
fn tcp_route(route: &ast::Route, pools: &[ast::Pool], out: &mut Vec<Diagnostic>) {
    let matchers: Vec<_> = route
        .hosts
        .iter()
        .map(|h| h.span)
        .chain(route.path.as_ref().map(|p| p.span))
        .chain(route.methods.iter().map(|m| m.span))
        .chain(route.matchers.iter().map(|m| m.span))
        .collect();
    if let Some((first, rest)) = matchers.split_first() {
        let mut diagnostic = Diagnostic::error(
            "route-mode-mismatch",
            format!("route `{}` matches requests on a tcp listener", route.name),
        )
        .with_label(Label::primary(
            *first,
            "a tcp listener sees bytes, not requests",
        ));
        for span in rest {
            diagnostic = diagnostic.with_label(Label::secondary(*span, "nor this"));
        }
        out.push(diagnostic.with_help(
            "routes on a `mode tcp` listener only `forward`, choosing by `sni` if at all",
        ));
    }
    if let (Some(first), Some(last)) = (route.uses.first(), route.uses.last()) {
        out.push(
            Diagnostic::error(
                "route-mode-mismatch",
                format!("route `{}` runs policies on a tcp listener", route.name),
            )
            .with_label(Label::primary(
                first.span.to(last.span),
                "policies act on requests, which a tcp tunnel has not",
            ))
            .with_help(
                "remove `use`: a tcp tunnel copies bytes; put policies on routes of an HTTP \
                 listener",
            ),
        );
    }
    if let Some(timeout) = &route.timeout {
        out.push(
            Diagnostic::error(
                "route-mode-mismatch",
                format!("route `{}` has a timeout on a tcp listener", route.name),
            )
            .with_label(Label::primary(
                timeout.span,
                "a tcp tunnel waits for no answer",
            ))
            .with_help(
                "remove `timeout`: a tunnel ends when it is silent for the listener's \
                 `idle_timeout`; connecting is bounded by the pool's `timeouts { connect .. }`",
            ),
        );
    }
    if let Some(mirror) = &route.mirror {
        out.push(
            Diagnostic::error(
                "route-mode-mismatch",
                format!("route `{}` mirrors on a tcp listener", route.name),
            )
            .with_label(Label::primary(mirror.span, "a copy of requests"))
            .with_help(
                "a tcp tunnel has no requests to copy: mirror on routes of an HTTP listener",
            ),
        );
    }
    match &route.action.value {
        ast::Action::Split { .. } => out.push(
            Diagnostic::error(
                "route-mode-mismatch",
                format!("route `{}` splits a tcp listener's connections", route.name),
            )
            .with_label(Label::primary(route.action.span, "a split of requests"))
            .with_help("routes on a `mode tcp` listener forward to one pool"),
        ),
        ast::Action::Respond { .. }
        | ast::Action::RedirectHttps
        | ast::Action::Redirect { .. }
        | ast::Action::Serve(_) => out.push(
            Diagnostic::error(
                "route-mode-mismatch",
                format!("route `{}` responds on a tcp listener", route.name),
            )
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
                    Diagnostic::error("pool-mode-mismatch", format!(
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
            let balance = pool.and_then(|p| Some((p, p.balance.as_ref()?)));
            if let Some((pool, balance)) = balance.filter(|(_, b)| matches!(&b.value, ast::Balance::Hash(key) if *key != ast::HashKey::ClientIp)) {
                out.push(
                    Diagnostic::error("pool-mode-mismatch", format!(
                        "pool `{}` hashes a request, but route `{}` forwards a tcp connection",
                        pool.name, route.name
                    ))
                    .with_label(Label::primary(route.action.span, "a tcp tunnel"))
                    .with_label(Label::secondary(balance.span, "needs an HTTP request"))
                    .with_help("tcp routes can hash `client_ip`; headers, cookies and paths need HTTP"),
                );
            }
            if let Some((pool, span)) = pool.and_then(|p| Some((p, guarded(p)?))) {
                out.push(
                    Diagnostic::error(
                        "pool-mode-mismatch",
                        format!(
                            "pool `{}` has circuit breakers or outlier detection, but route `{}` forwards a tcp connection",
                            pool.name, route.name
                        ),
                    )
                    .with_label(Label::primary(route.action.span, "a tcp tunnel"))
                    .with_label(Label::secondary(span, "counts HTTP requests"))
                    .with_help("`max_pending`, `max_requests` and `outlier` act on HTTP requests: forward to this pool from HTTP routes only"),
                );
            }
            if let Some((pool, sticky)) = pool.and_then(|p| Some((p, p.sticky.as_ref()?))) {
                out.push(
                    Diagnostic::error(
                        "pool-mode-mismatch",
                        format!(
                            "pool `{}` keeps clients by a cookie, but route `{}` forwards a tcp connection",
                            pool.name, route.name
                        ),
                    )
                    .with_label(Label::primary(route.action.span, "a tcp tunnel"))
                    .with_label(Label::secondary(sticky.span, "needs HTTP answers"))
                    .with_help("a tcp tunnel has no cookie to read or set: `balance hash client_ip` keeps a client on its server"),
                );
            }
            let http2 = pool.and_then(|p| Some((p, p.protocol.as_ref()?)));
            if let Some((pool, protocol)) =
                http2.filter(|(_, protocol)| protocol.value == UpstreamProtocol::Http2)
            {
                out.push(
                    Diagnostic::error(
                        "pool-mode-mismatch",
                        format!(
                            "pool `{}` speaks HTTP/2 to its servers, but route `{}` forwards a tcp connection",
                            pool.name, route.name
                        ),
                    )
                    .with_label(Label::primary(route.action.span, "a tcp tunnel"))
                    .with_label(Label::secondary(protocol.span, "an HTTP version"))
                    .with_help("tcp tunnels pass bytes through as they are: leave out the pool's `protocol`"),
                );
            }
        }
    }
}
