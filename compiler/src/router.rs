//! Generates a listener's router: a function that maps (method, host, path) to one of the
//! listener's routes. It is a decision tree: a `match` on the host first, then, in the order the
//! routes were written, direct method and path comparisons. First match wins.

use edge_dsl::ast::{HostPattern, Method, PathMatch};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::model::Route;

/// The router function `fn_name` returning `Option<enum_name>`; `variants[i]` names `routes[i]`.
pub fn router(
    fn_name: &Ident,
    enum_name: &Ident,
    routes: &[Route],
    variants: &[Ident],
) -> TokenStream {
    let exact_hosts = exact_hosts(routes);
    let body = if exact_hosts.is_empty() {
        chain(routes, variants, enum_name, None)
    } else {
        let arms = exact_hosts.iter().map(|host| {
            let chain = chain(routes, variants, enum_name, Some(host));
            quote! { #host => { #chain } }
        });
        let fallback = chain(routes, variants, enum_name, None);
        quote! {
            match host {
                #(#arms)*
                _ => { #fallback }
            }
        }
    };
    let method = parameter("method", routes.iter().any(|r| !r.methods.is_empty()));
    let host = parameter("host", routes.iter().any(|r| !r.hosts.is_empty()));
    let path = parameter(
        "path",
        routes
            .iter()
            .any(|r| r.path.as_ref().is_some_and(|p| path_condition(p).is_some())),
    );
    quote! {
        fn #fn_name(#method: &::edge_runtime::http::Method, #host: &str, #path: &str) -> Option<#enum_name> {
            #body
        }
    }
}

/// A parameter name, marked unused when no route looks at it.
fn parameter(name: &str, used: bool) -> Ident {
    if used {
        format_ident!("{name}")
    } else {
        format_ident!("_{name}")
    }
}

/// Every exact host named by a route, in first-seen order.
fn exact_hosts(routes: &[Route]) -> Vec<&str> {
    let mut hosts: Vec<&str> = Vec::new();
    for route in routes {
        for pattern in &route.hosts {
            if let HostPattern::Exact(host) = pattern {
                if !hosts.contains(&host.as_str()) {
                    hosts.push(host);
                }
            }
        }
    }
    hosts
}

/// The routes that can match when the host is `host` (or, for `None`, a host no route names
/// exactly), tried in order; a route with no remaining condition ends the chain.
fn chain(
    routes: &[Route],
    variants: &[Ident],
    enum_name: &Ident,
    host: Option<&str>,
) -> TokenStream {
    let mut steps = Vec::new();
    for (route, variant) in routes.iter().zip(variants) {
        let Some(host_condition) = host_condition(&route.hosts, host) else {
            continue;
        };
        let conditions: Vec<Vec<TokenStream>> = host_condition
            .into_iter()
            .chain(method_condition(&route.methods))
            .chain(route.path.as_ref().and_then(path_condition))
            .collect();
        if conditions.is_empty() {
            return quote! {
                #(#steps)*
                Some(#enum_name::#variant)
            };
        }
        let condition = all(conditions);
        steps.push(quote! {
            if #condition {
                return Some(#enum_name::#variant);
            }
        });
    }
    quote! {
        #(#steps)*
        None
    }
}

/// Joins conditions, each a list of alternatives, with `&&` and `||`, adding parentheses
/// only where they are needed.
fn all(conditions: Vec<Vec<TokenStream>>) -> TokenStream {
    let single = conditions.len() == 1;
    let terms = conditions.into_iter().map(|alternatives| {
        if single || alternatives.len() == 1 {
            quote! { #(#alternatives)||* }
        } else {
            quote! { (#(#alternatives)||*) }
        }
    });
    quote! { #(#terms)&&* }
}

/// `None` when the route cannot match in this host arm; `Some(None)` when it matches without a
/// run-time check; `Some(Some(checks))` when a wildcard must be checked at run time.
fn host_condition(
    patterns: &[HostPattern],
    host: Option<&str>,
) -> Option<Option<Vec<TokenStream>>> {
    if patterns.is_empty() {
        return Some(None);
    }
    match host {
        Some(host) => patterns
            .iter()
            .any(|pattern| match pattern {
                HostPattern::Exact(exact) => exact == host,
                HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
            })
            .then_some(None),
        None => {
            let checks: Vec<TokenStream> = patterns
                .iter()
                .filter_map(|pattern| match pattern {
                    HostPattern::Suffix(suffix) => Some(quote! { host.ends_with(#suffix) }),
                    HostPattern::Exact(_) => None,
                })
                .collect();
            (!checks.is_empty()).then_some(Some(checks))
        }
    }
}

fn method_condition(methods: &[Method]) -> Option<Vec<TokenStream>> {
    if methods.is_empty() {
        return None;
    }
    let checks = methods.iter().map(|method| {
        let constant = format_ident!("{}", method.as_str());
        quote! { *method == ::edge_runtime::http::Method::#constant }
    });
    Some(checks.collect())
}

/// The path check, or `None` for `path /`, which every normalised path matches. The prefix
/// rule is the one `check::under_prefix` applies when it looks for unreachable routes.
fn path_condition(path: &PathMatch) -> Option<Vec<TokenStream>> {
    let check = match path {
        PathMatch::Prefix(prefix) if prefix == "/" => return None,
        PathMatch::Exact(exact) => quote! { path == #exact },
        PathMatch::Prefix(prefix) if prefix.ends_with('/') => quote! { path.starts_with(#prefix) },
        PathMatch::Prefix(prefix) => {
            quote! { path.strip_prefix(#prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) }
        }
    };
    Some(vec![check])
}
