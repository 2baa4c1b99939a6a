//! Mirrors in generated code: a `MirrorSpec` static per mirroring route, an `Edge` field with
//! the route's `Mirror` over its shadow pool's type; and how `Edge` holds each pool: a pool a
//! mirror (or an `ext_auth` policy) sends to is shared (an `Arc`) between its own field, if a
//! route forwards to it, and them, since a mirror's copies are sent by tasks of their own.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use crate::ident::{snake, unique};
use crate::model::{Action, Mirror, Model};

/// A route with a mirror: where it is, its `Edge` field and spec static, its name, and its
/// mirror.
pub(super) struct MirrorRoute {
    pub(super) at: (usize, usize),
    pub(super) field: Ident,
    spec: Ident,
    route: String,
    mirror: Mirror,
}

/// Every route with a mirror, in the order of the listeners and their routes.
pub(super) fn mirror_routes(model: &Model) -> Vec<MirrorRoute> {
    let mut found = Vec::new();
    for (l, listener) in model.listeners.iter().enumerate() {
        for (r, route) in listener.routes.iter().enumerate() {
            if let Some(mirror) = &route.mirror {
                found.push(((l, r), route.name.as_str(), mirror.clone()));
            }
        }
    }
    let fields = unique(found.iter().map(|(_, name, _)| *name), snake, "mirror_");
    let statics = unique(
        found.iter().map(|(_, name, _)| *name),
        |name| snake(name).to_ascii_uppercase(),
        "MIRROR_",
    );
    found
        .into_iter()
        .zip(fields.into_iter().zip(statics))
        .map(|((at, route, mirror), (field, spec))| MirrorRoute {
            at,
            field,
            spec,
            route: route.to_owned(),
            mirror,
        })
        .collect()
}

/// How `Edge` holds a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Held {
    /// In a field of its own: no mirror or policy sends to it.
    Field,
    /// In a field, and by the mirrors and policies that send to it: an `Arc`.
    Shared,
    /// By the mirrors and policies that send to it only (no route forwards to it): no field.
    Local,
}

/// How `Edge` holds each pool of the model, `asked` being the pools the generated policies
/// send to (`ext_auth`).
pub(super) fn held_pools(model: &Model, mirrors: &[MirrorRoute], asked: &[usize]) -> Vec<Held> {
    let mut forwarded = vec![false; model.pools.len()];
    for route in model.listeners.iter().flat_map(|l| &l.routes) {
        match &route.action {
            Action::Forward(pool) => forwarded[*pool] = true,
            Action::Split { pools, .. } => {
                for &(pool, _) in pools {
                    forwarded[pool] = true;
                }
            }
            _ => {}
        }
    }
    let mut held = vec![Held::Field; model.pools.len()];
    let sent_to = mirrors
        .iter()
        .map(|m| m.mirror.pool)
        .chain(asked.iter().copied());
    for pool in sent_to {
        held[pool] = if forwarded[pool] {
            Held::Shared
        } else {
            Held::Local
        };
    }
    held
}

impl MirrorRoute {
    /// The mirror's spec, as a static.
    pub(super) fn spec(&self, model: &Model) -> TokenStream {
        let (name, route) = (&self.spec, &self.route);
        let pool = &model.pools[self.mirror.pool].name;
        let share = Literal::u32_unsuffixed(self.mirror.share);
        let max_body = Literal::u64_unsuffixed(self.mirror.max_body);
        let max_in_flight = Literal::u32_unsuffixed(self.mirror.max_in_flight);
        quote! {
            static #name: ::edge_runtime::MirrorSpec = ::edge_runtime::MirrorSpec {
                route: #route,
                pool: #pool,
                share: #share,
                max_body: #max_body,
                max_in_flight: #max_in_flight,
            };
        }
    }

    /// The field's type: a mirror over the shadow pool's strategy.
    pub(super) fn field_type(&self, pool_types: &[TokenStream]) -> TokenStream {
        let strategy = &pool_types[self.mirror.pool];
        quote! { ::edge_runtime::Mirror<#strategy> }
    }

    /// The field's value, built from the shadow pool's shared handle (a local of `Edge::new`
    /// named as its field).
    pub(super) fn build(&self, pool_fields: &[Ident]) -> TokenStream {
        let (spec, pool) = (&self.spec, &pool_fields[self.mirror.pool]);
        quote! {
            ::edge_runtime::Mirror::new(&#spec, ::std::sync::Arc::clone(&#pool), process.mirrors())
        }
    }
}
