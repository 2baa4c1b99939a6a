//! Which policy objects the proxy holds: one per policy that routes use, shared by them,
//! except a rate limit keyed by route, which each of its routes has its own of (the bucket is
//! the route's). Routes are pointed at their instances.

use edge_dsl::value::LimitKey;

use crate::model::{Instance, Listener, Policy, PolicyKind};

/// Given every policy as written (by index; `None` for one that failed its checks) and
/// listeners whose routes refer to those indices, returns the used policies in the order first
/// used and their instances, and points each route at its instances instead.
pub fn assign(
    listeners: &mut [Listener],
    mut written: Vec<Option<Policy>>,
) -> (Vec<Policy>, Vec<Instance>) {
    let mut policies = Vec::new();
    // Written index → index in `policies`, once used.
    let mut used: Vec<Option<usize>> = vec![None; written.len()];
    // Written index → its shared instance, once made.
    let mut shared: Vec<Option<usize>> = vec![None; written.len()];
    let mut instances = Vec::new();
    for listener in listeners {
        for route in &mut listener.routes {
            let mut assigned = Vec::with_capacity(route.policies.len());
            for &p in &route.policies {
                let policy = match used[p] {
                    Some(policy) => policy,
                    None => {
                        let Some(taken) = written[p].take() else {
                            continue;
                        };
                        policies.push(taken);
                        used[p] = Some(policies.len() - 1);
                        policies.len() - 1
                    }
                };
                let name = &policies[policy].name;
                let instance = if per_route(&policies[policy]) {
                    instances.push(Instance {
                        policy,
                        name: format!("{name}_{}", route.name),
                    });
                    instances.len() - 1
                } else if let Some(instance) = shared[p] {
                    instance
                } else {
                    instances.push(Instance {
                        policy,
                        name: name.clone(),
                    });
                    shared[p] = Some(instances.len() - 1);
                    instances.len() - 1
                };
                assigned.push(instance);
            }
            route.policies = assigned;
        }
    }
    (policies, instances)
}

/// Whether each route using the policy has an instance of its own.
fn per_route(policy: &Policy) -> bool {
    matches!(&policy.kind, PolicyKind::RateLimit(limit) if limit.key == LimitKey::Route)
}
