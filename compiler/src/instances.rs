//! Which policy objects the proxy holds: one per policy that routes use, shared by them,
//! except a rate limit keyed by route, which each of its routes has its own of (the bucket is
//! the route's). Routes are pointed at their instances.

use edge_dsl::value::LimitKey;

use crate::model::{Instance, Listener, Policy, PolicyKind};

/// Given the Model's policies and listeners whose routes refer to them (by index), returns
/// the instances, in the order routes first use them, and points each route at its
/// instances instead.
pub fn assign(listeners: &mut [Listener], policies: &[Policy]) -> Vec<Instance> {
    // Policy index → its shared instance, once made.
    let mut shared: Vec<Option<usize>> = vec![None; policies.len()];
    let mut instances = Vec::new();
    for listener in listeners {
        for route in &mut listener.routes {
            let mut assigned = Vec::with_capacity(route.policies.len());
            for &policy in &route.policies {
                let name = &policies[policy].name;
                let instance = if per_route(&policies[policy]) {
                    instances.push(Instance {
                        policy,
                        name: format!("{name}_{}", route.name),
                    });
                    instances.len() - 1
                } else if let Some(instance) = shared[policy] {
                    instance
                } else {
                    instances.push(Instance {
                        policy,
                        name: name.clone(),
                    });
                    shared[policy] = Some(instances.len() - 1);
                    instances.len() - 1
                };
                assigned.push(instance);
            }
            route.policies = assigned;
        }
    }
    instances
}

/// Whether each route using the policy has an instance of its own.
fn per_route(policy: &Policy) -> bool {
    matches!(&policy.kind, PolicyKind::RateLimit(limit) if limit.key == LimitKey::Route)
}
