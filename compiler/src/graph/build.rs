//! The nodes and edges of one file: each listener, the routes tried on it in order, each
//! route's policy chain and what it ends in, and the pools with their servers.

use edge_dsl::value::Address;

use super::ids::{file_stem, Ids};
use super::{Edge, EdgeKind, Graph, Item, Node};
use crate::model::{Action, Listener, Model, Route};
use crate::spelling;

/// Adds the nodes and edges of `model`, read from `file`, to `graph`.
pub(super) fn add_file(graph: &mut Graph, ids: &mut Ids, file: &str, model: &Model) {
    graph.files.push(file.to_owned());
    let mut builder = FileBuilder {
        file: graph.files.len() - 1,
        graph,
        ids,
        stem: file_stem(file),
        model,
        pools: vec![None; model.pools.len()],
    };
    for listener in &model.listeners {
        builder.listener(listener);
    }
    // Pools no route forwards to come last.
    for pool in 0..model.pools.len() {
        builder.pool(pool);
    }
}

struct FileBuilder<'a> {
    graph: &'a mut Graph,
    ids: &'a mut Ids,
    /// Index into `Graph::files`.
    file: usize,
    stem: &'a str,
    model: &'a Model,
    /// The node of each of the model's pools, once drawn.
    pools: Vec<Option<usize>>,
}

impl FileBuilder<'_> {
    fn listener(&mut self, listener: &Listener) {
        let node = self.node(
            &[&listener.name],
            Item::Listener {
                name: listener.name.clone(),
                bind: listener.bind,
                mode: listener.mode,
                tls: listener.tls.is_some(),
            },
        );
        for (place, route) in listener.routes.iter().enumerate() {
            let route_node = self.route(route);
            self.edge(node, route_node, EdgeKind::Tries(place + 1));
        }
    }

    /// The route's node, its policy chain and what the chain ends in.
    fn route(&mut self, route: &Route) -> usize {
        let node = self.node(
            &[&route.name],
            Item::Route {
                name: route.name.clone(),
                matches: spelling::matches(route),
            },
        );
        let mut last = node;
        for (index, &instance) in route.policies.iter().enumerate() {
            let policy = &self.model.policies[self.model.instances[instance].policy];
            let place = index + 1;
            let step = self.node(
                &[&route.name, &place.to_string(), &policy.name],
                Item::Policy {
                    route: route.name.clone(),
                    place,
                    name: policy.name.clone(),
                    kind: spelling::policy_kind(&policy.kind),
                },
            );
            self.edge(last, step, EdgeKind::Uses);
            last = step;
        }
        if let Some(mirror) = &route.mirror {
            let pool = self.pool(mirror.pool);
            self.edge(last, pool, EdgeKind::Mirrors);
        }
        match &route.action {
            Action::Forward(pool) => {
                let pool = self.pool(*pool);
                self.edge(last, pool, EdgeKind::Forwards);
            }
            Action::Split { pools, .. } => {
                for &(pool, _) in pools {
                    let pool = self.pool(pool);
                    self.edge(last, pool, EdgeKind::Forwards);
                }
            }
            action => {
                let leaf = self.node(
                    &[&route.name],
                    Item::Leaf {
                        route: route.name.clone(),
                        action: spelling::action(action),
                    },
                );
                self.edge(last, leaf, EdgeKind::Answers);
            }
        }
        node
    }

    /// The node of the model's pool `index`, drawn with its servers the first time.
    fn pool(&mut self, index: usize) -> usize {
        if let Some(node) = self.pools[index] {
            return node;
        }
        let pool = &self.model.pools[index];
        let node = self.node(
            &[&pool.name],
            Item::Pool {
                name: pool.name.clone(),
                balance: spelling::balance(&pool.balance),
                tls: pool.tls.is_some(),
                guard: pool.circuit.as_ref().map(guard).unwrap_or_default(),
            },
        );
        self.pools[index] = Some(node);
        for server in &pool.servers {
            let address = match &server.upstream {
                Address::Srv(name) => name.clone(),
                upstream => spelling::address(upstream),
            };
            let server_node = self.node(
                &[&pool.name, &address],
                Item::Server {
                    pool: pool.name.clone(),
                    address: server.upstream.clone(),
                    weight: server.weight,
                    max_conns: server.max_conns,
                    backup: server.backup,
                },
            );
            self.edge(node, server_node, EdgeKind::Has);
        }
        node
    }

    /// Adds a node whose id is its kind, the file's stem and `names`.
    fn node(&mut self, names: &[&str], item: Item) -> usize {
        let mut parts = vec![item.kind().as_str(), self.stem];
        parts.extend_from_slice(names);
        let id = self.ids.unique(&parts);
        self.graph.nodes.push(Node {
            id,
            file: self.file,
            item,
        });
        self.graph.nodes.len() - 1
    }

    fn edge(&mut self, from: usize, to: usize, kind: EdgeKind) {
        self.graph.edges.push(Edge { from, to, kind });
    }
}

/// A pool's circuit as a graph lists it: each setting that is on.
fn guard(circuit: &crate::model::Circuit) -> Vec<String> {
    let caps = [
        ("max_pending", circuit.max_pending),
        ("max_requests", circuit.max_requests),
    ];
    caps.into_iter()
        .filter(|(_, cap)| *cap != 0)
        .map(|(name, cap)| format!("{name} {cap}"))
        .chain(circuit.outlier.map(|_| "outlier".to_owned()))
        .collect()
}
