//! Code generation for a route's answer: its action, behind its policy chain, under its
//! timeout. A chain of several policies is one runtime `Policy` (pairs of policies are
//! policies), built by an `Edge` method written once per distinct chain; routes that `use` the
//! same policies call the same method.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::duration;
use crate::model::{Action, Route};

/// The distinct chains of two policies or more: their fields, in `use` order, and the name of
/// the method that builds each.
#[derive(Default)]
pub(super) struct Chains {
    chains: Vec<(Vec<Ident>, Ident)>,
    /// Whether any route has a policy: `Policy::guard` is then called as a method.
    used: bool,
    /// When spans are exported: each policy field's policy name and kind, for the `Traced`
    /// wrapper that makes its request step a span.
    traced: Option<Vec<(Ident, String, &'static str)>>,
}

impl Chains {
    /// Chains whose policies are each wrapped in `Traced` under the name and kind `labels`
    /// give their field.
    pub(super) fn traced(labels: Vec<(Ident, String, &'static str)>) -> Chains {
        Chains {
            traced: Some(labels),
            ..Chains::default()
        }
    }

    /// The policy in `field` as a chain holds it: borrowed, and wrapped when traced.
    fn link(&self, field: &Ident) -> TokenStream {
        let label = self
            .traced
            .as_ref()
            .and_then(|labels| labels.iter().find(|(known, _, _)| known == field));
        match label {
            Some((_, name, kind)) => {
                quote! { ::edge_runtime::Traced::new(&self.#field, #name, #kind) }
            }
            None => quote! { &self.#field },
        }
    }

    /// The expression of the chain of `fields`: `self.field` for one, a method call for more.
    pub(super) fn of(&mut self, fields: &[&Ident]) -> Option<TokenStream> {
        self.used |= !fields.is_empty();
        match fields {
            [] => None,
            [field] if self.traced.is_some() => Some(self.link(field)),
            [field] => Some(quote! { self.#field }),
            _ => {
                let method = match self
                    .chains
                    .iter()
                    .find(|(known, _)| known.iter().eq(fields.iter().copied()))
                {
                    Some((_, method)) => method.clone(),
                    None => self.add(fields),
                };
                Some(quote! { self.#method() })
            }
        }
    }

    /// Records a new chain; its method is named after its policies, kept clear of the others'
    /// and of `Edge`'s own methods.
    fn add(&mut self, fields: &[&Ident]) -> Ident {
        let names: Vec<String> = fields.iter().copied().map(policy_name).collect();
        let name = names.join("_");
        let mut method = match syn::parse_str::<Ident>(&name) {
            Ok(method) => method,
            Err(_) => format_ident!("chain_{name}"),
        };
        let taken = |method: &Ident| {
            method == "handle_tcp" || self.chains.iter().any(|(_, known)| known == method)
        };
        if taken(&method) {
            method = format_ident!("{method}_{}", self.chains.len());
        }
        self.chains.push((
            fields.iter().map(|&field| field.clone()).collect(),
            method.clone(),
        ));
        method
    }

    /// `use ::edge_runtime::Policy as _;` when a route calls `guard`: the trait's methods in
    /// scope without its name, which then cannot clash with the including crate's.
    pub(super) fn import(&self) -> Option<TokenStream> {
        self.used
            .then(|| quote! { use ::edge_runtime::Policy as _; })
    }

    /// One `Edge` method per chain.
    pub(super) fn methods(&self) -> Vec<TokenStream> {
        self.chains
            .iter()
            .map(|(fields, method)| {
                let names: Vec<String> = fields.iter().map(policy_name).collect();
                let doc = format!(" The chain `use {}`, as one policy.", names.join(", "));
                let (last, rest) = fields
                    .split_last()
                    .expect("a chain has two policies or more");
                let chain = rest.iter().rev().fold(self.link(last), |chain, field| {
                    let link = self.link(field);
                    quote! { (#link, #chain) }
                });
                quote! {
                    #[doc = #doc]
                    fn #method(&self) -> impl ::edge_runtime::Policy + '_ {
                        #chain
                    }
                }
            })
            .collect()
    }
}

/// A policy's name as its field spells it (`policy_auth` → `auth`).
fn policy_name(field: &Ident) -> String {
    let field = field.to_string();
    field.strip_prefix("policy_").unwrap_or(&field).to_owned()
}

/// The `Edge` fields a route's action uses beyond the pools: its folder (`serve`), its split,
/// its mirror.
#[derive(Clone, Copy, Default)]
pub(super) struct ActionFields<'a> {
    pub(super) files: Option<&'a Ident>,
    pub(super) split: Option<&'a Ident>,
    pub(super) mirror: Option<&'a Ident>,
}

/// A route's answer: its action behind `chain`, the whole under its timeout.
pub(super) fn route_body(
    route: &Route,
    pool_fields: &[Ident],
    chain: Option<TokenStream>,
    fields: ActionFields<'_>,
) -> TokenStream {
    let Some(chain) = chain else {
        return match (&route.action, route.timeout) {
            (Action::Forward(_) | Action::Split { .. }, Some(timeout)) => {
                let timeout = duration(timeout);
                let forward = forward(route, pool_fields, fields);
                quote! { ::edge_runtime::Deadline::after(#timeout).bound(#forward).await }
            }
            _ => action(route, pool_fields, fields),
        };
    };
    // The action, deferred until the chain has let the request through.
    let (name, deferred) = match &route.action {
        Action::Forward(_) | Action::Split { .. } => {
            let forward = forward(route, pool_fields, fields);
            match route.timeout {
                Some(_) => (
                    quote! { forward },
                    quote! { move |req| deadline.bound(#forward) },
                ),
                None => (quote! { forward }, quote! { move |req| #forward }),
            }
        }
        Action::RedirectHttps => {
            let action = action(route, pool_fields, fields);
            (
                quote! { redirect },
                quote! { move |req| async move { #action } },
            )
        }
        Action::Serve { .. } => {
            let action = action(route, pool_fields, fields);
            (
                quote! { serve },
                quote! { move |req| async move { #action } },
            )
        }
        Action::Respond { .. } => {
            let action = action(route, pool_fields, fields);
            (quote! { respond }, quote! { |_| async { #action } })
        }
        Action::Redirect { .. } => {
            let action = action(route, pool_fields, fields);
            (quote! { redirect }, quote! { |_| async { #action } })
        }
    };
    match route.timeout {
        // One deadline bounds the action (so its 504 still passes the policies' response
        // steps) and the whole chain (so a policy that waits spends the same budget).
        Some(timeout) => {
            let timeout = duration(timeout);
            quote! {{
                let deadline = ::edge_runtime::Deadline::after(#timeout);
                let #name = #deferred;
                deadline.bound(#chain.guard(req, cx, #name)).await
            }}
        }
        None => quote! {{
            let #name = #deferred;
            #chain.guard(req, cx, #name).await
        }},
    }
}

/// The future of forwarding the request to the route's pool (for a split, to the pool its
/// `split` field picks, each arm its own pool's type), after its `mirror` field has taken a
/// copy of it.
fn forward(route: &Route, pool_fields: &[Ident], fields: ActionFields<'_>) -> TokenStream {
    let req = match fields.mirror {
        Some(mirror) => quote! { self.#mirror.copy(req, cx) },
        None => quote! { req },
    };
    let call = |field: &Ident| {
        if route.upgrades.is_empty() {
            quote! { self.#field.forward(#req, cx) }
        } else {
            let upgrades = &route.upgrades;
            quote! { self.#field.forward_upgrading(#req, cx, &[#(#upgrades),*]) }
        }
    };
    match &route.action {
        Action::Forward(pool) => call(&pool_fields[*pool]),
        Action::Split { pools, .. } => {
            let split = fields.split.expect("every split route has its split field");
            let last = pools.len() - 1;
            let arms = pools.iter().enumerate().map(|(index, (pool, _))| {
                let call = call(&pool_fields[*pool]);
                if index == last {
                    quote! { _ => #call.await, }
                } else {
                    let index = proc_macro2::Literal::usize_unsuffixed(index);
                    quote! { #index => #call.await, }
                }
            });
            quote! {
                async move {
                    match self.#split.pick(&req, cx) {
                        #(#arms)*
                    }
                }
            }
        }
        _ => unreachable!("only forwarding routes forward"),
    }
}

/// The route's action, an expression of its answer (awaited where it waits).
fn action(route: &Route, pool_fields: &[Ident], fields: ActionFields<'_>) -> TokenStream {
    match &route.action {
        Action::Forward(_) | Action::Split { .. } => {
            let forward = forward(route, pool_fields, fields);
            quote! { #forward.await }
        }
        Action::Respond { status, body } => {
            let status = proc_macro2::Literal::u16_unsuffixed(*status);
            quote! { ::edge_runtime::respond(#status, #body) }
        }
        Action::RedirectHttps => quote! { ::edge_runtime::redirect_https(&req, cx) },
        Action::Redirect { status, location } => {
            let status = proc_macro2::Literal::u16_unsuffixed(*status);
            quote! { ::edge_runtime::redirect_to(#status, #location) }
        }
        Action::Serve { .. } => match fields.files {
            Some(field) => quote! { self.#field.serve(&req).await },
            None => unreachable!("every serve route has its folder field"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(names: &[&str]) -> Vec<Ident> {
        names.iter().map(|name| format_ident!("{name}")).collect()
    }

    #[test]
    fn routes_with_the_same_policies_share_one_method() {
        let (a, b) = (
            idents(&["policy_cors", "policy_auth"]),
            idents(&["policy_auth", "policy_cors"]),
        );
        let mut chains = Chains::default();
        let first = chains.of(&a.iter().collect::<Vec<_>>()).unwrap();
        let again = chains.of(&a.iter().collect::<Vec<_>>()).unwrap();
        let other = chains.of(&b.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(first.to_string(), again.to_string());
        assert_eq!(first.to_string(), "self . cors_auth ()");
        assert_eq!(other.to_string(), "self . auth_cors ()");
        assert_eq!(chains.methods().len(), 2);
    }

    #[test]
    fn one_policy_is_its_field_and_none_is_no_chain() {
        let one = idents(&["policy_auth"]);
        let mut chains = Chains::default();
        assert!(chains.import().is_none());
        assert!(chains.of(&[]).is_none());
        let chain = chains.of(&one.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(chain.to_string(), "self . policy_auth");
        assert!(chains.methods().is_empty());
        assert!(chains.import().is_some());
    }

    #[test]
    fn method_names_stay_clear_of_handle_tcp() {
        let fields = idents(&["policy_handle", "policy_tcp"]);
        let mut chains = Chains::default();
        let chain = chains.of(&fields.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(chain.to_string(), "self . handle_tcp_0 ()");
    }
}
