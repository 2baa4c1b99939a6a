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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use edge_dsl::value::{LimitAlgorithm, OnStoreError, Rate};

    use super::*;
    use crate::model::{Action, Limits, Mode, RateLimit, Route};

    fn limit(name: &str, key: LimitKey) -> Policy {
        Policy {
            name: name.to_owned(),
            kind: PolicyKind::RateLimit(RateLimit {
                key,
                rate: Rate {
                    count: 1,
                    per: Duration::from_secs(1),
                },
                burst: 1,
                algorithm: LimitAlgorithm::TokenBucket,
                max_keys: 1,
                ipv6_prefix: None,
                store: None,
                on_store_error: OnStoreError::Local,
            }),
        }
    }

    fn route(name: &str, policies: Vec<usize>) -> Route {
        Route {
            name: name.to_owned(),
            hosts: Vec::new(),
            sni: Vec::new(),
            path: None,
            methods: Vec::new(),
            matchers: Vec::new(),
            policies,
            timeout: None,
            upgrades: Vec::new(),
            mirror: None,
            action: Action::RedirectHttps,
        }
    }

    #[test]
    fn a_limit_keyed_by_route_has_an_instance_per_route() {
        let policies = [
            limit("shared", LimitKey::ClientIp),
            limit("own", LimitKey::Route),
        ];
        let mut listeners = [Listener {
            name: "web".to_owned(),
            bind: "127.0.0.1:80".parse().unwrap(),
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            mode: Mode::Http,
            tls: None,
            routes: vec![route("a", vec![1, 0]), route("b", vec![0, 1])],
        }];
        let instances = assign(&mut listeners, &policies);
        let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["own_a", "shared", "own_b"]);
        assert_eq!(listeners[0].routes[0].policies, [0, 1]);
        assert_eq!(listeners[0].routes[1].policies, [1, 2]);
    }
}
