//! Generates a listener's router: a function that maps (method, host, path) to one of the
//! listener's routes, first match wins. The host is classified once by a `match` over every
//! exact host the routes name (a jump on string comparisons); the routes are then tried in
//! order, each a conjunction of an integer host test, method comparisons and a path test.
//! Generated code grows linearly with the number of routes.

use edge_dsl::ast::{HostPattern, Method, PathMatch};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::model::Route;

/// The router function `fn_name` returning `Option<enum_name>`; `variants[i]` names `routes[i]`.
pub fn router(
    fn_name: &Ident,
    enum_name: &Ident,
    routes: &[Route],
    variants: &[Ident],
) -> TokenStream {
    let hosts = exact_hosts(routes);
    let classify = (!hosts.is_empty()).then(|| {
        let arms = hosts.iter().zip(1u32..).map(|(host, id)| {
            let id = Literal::u32_unsuffixed(id);
            quote! { #host => #id, }
        });
        quote! {
            let host_id: u32 = match host {
                #(#arms)*
                _ => 0,
            };
        }
    });
    let mut steps = Vec::new();
    let mut tail = quote! { None };
    for (route, variant) in routes.iter().zip(variants) {
        let conditions: Vec<Vec<TokenStream>> = host_condition(&route.hosts, &hosts)
            .into_iter()
            .chain(method_condition(&route.methods))
            .chain(route.path.as_ref().and_then(path_condition))
            .collect();
        if conditions.is_empty() {
            tail = quote! { Some(#enum_name::#variant) };
            break;
        }
        let condition = all(conditions);
        steps.push(quote! {
            if #condition {
                return Some(#enum_name::#variant);
            }
        });
    }
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
            #classify
            #(#steps)*
            #tail
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

/// Every exact host named by a route, in first-seen order; host ids start at 1.
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

/// The host test for a route, `None` when it names no host. Exact hosts, and wildcards that
/// cover an exact host some route names, become host-id comparisons decided at build time; a
/// wildcard is checked on the string only for hosts no route names exactly (host id 0).
fn host_condition(patterns: &[HostPattern], hosts: &[&str]) -> Option<Vec<TokenStream>> {
    if patterns.is_empty() {
        return None;
    }
    let matches = |host: &str| {
        patterns.iter().any(|pattern| match pattern {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
        })
    };
    let ids: Vec<Literal> = hosts
        .iter()
        .zip(1u32..)
        .filter(|(host, _)| matches(host))
        .map(|(_, id)| Literal::u32_unsuffixed(id))
        .collect();
    let mut checks = Vec::new();
    match ids.as_slice() {
        [] => {}
        [id] => checks.push(quote! { host_id == #id }),
        ids => checks.push(quote! { matches!(host_id, #(#ids)|*) }),
    }
    for pattern in patterns {
        if let HostPattern::Suffix(suffix) = pattern {
            checks.push(quote! { host_id == 0 && host.ends_with(#suffix) });
        }
    }
    Some(checks)
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

/// The path test, or `None` for `path /`, which every normalised path matches. The prefix
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
