//! The edges across files: from a server to each listener of another file bound to its
//! address. Servers named by DNS (or SRV) reach nothing the files can tell.

use std::net::SocketAddr;

use edge_dsl::value::Address;

use super::{Edge, EdgeKind, Graph, Item};

/// Adds an edge from every server to every listener of another file that it reaches.
pub(super) fn link_files(graph: &mut Graph) {
    let listeners: Vec<(usize, usize, SocketAddr)> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(index, node)| match node.item {
            Item::Listener { bind, .. } => Some((index, node.file, bind)),
            _ => None,
        })
        .collect();
    let mut edges = Vec::new();
    for (from, node) in graph.nodes.iter().enumerate() {
        let Item::Server {
            address: Address::Socket(server),
            ..
        } = node.item
        else {
            continue;
        };
        for &(to, file, bind) in &listeners {
            if file != node.file && reaches(server, bind) {
                edges.push(Edge {
                    from,
                    to,
                    kind: EdgeKind::Reaches,
                });
            }
        }
    }
    graph.edges.extend(edges);
}

/// Whether a connection to `server` arrives at a listener bound to `bind`: the same address,
/// or the same port when the listener binds every address (`0.0.0.0:P`, `[::]:P`).
fn reaches(server: SocketAddr, bind: SocketAddr) -> bool {
    server == bind || (bind.ip().is_unspecified() && bind.port() == server.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    #[test]
    fn graph_servers_reach_listeners_by_address_or_wildcard_port() {
        assert!(reaches(addr("127.0.0.1:9411"), addr("127.0.0.1:9411")));
        assert!(!reaches(addr("127.0.0.1:9412"), addr("127.0.0.1:9411")));
        assert!(!reaches(addr("127.0.0.2:9411"), addr("127.0.0.1:9411")));
        assert!(reaches(addr("10.0.0.7:80"), addr("0.0.0.0:80")));
        assert!(reaches(addr("10.0.0.7:80"), addr("[::]:80")));
        assert!(reaches(addr("[fd00::7]:80"), addr("[::]:80")));
        assert!(!reaches(addr("10.0.0.7:81"), addr("0.0.0.0:80")));
    }
}
