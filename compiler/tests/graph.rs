//! The graph of a config and of a stack of configs, built from the examples: its DOT parsed
//! back by a DOT parser (`graphviz-rust`) and its SVG by an XML parser (`roxmltree`), both
//! holding every route with its policy chain and pool, the stack's layers joined from the L4
//! balancer down to the pods, and no two boxes of the SVG overlapping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use edge_compiler::graph::Graph;
use edge_compiler::model::{Action, Model};
use edge_compiler::{analyze, SourceFile};
use graphviz_rust::dot_structures::{self as dot, Attribute, EdgeTy, Id, Stmt, Vertex};

/// The checked model of a file of the repository, `relative` to its root.
fn model(relative: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    checked(SourceFile::new(path.display().to_string(), text))
}

fn checked(source: SourceFile) -> Model {
    let analysis = analyze(&source);
    analysis.model.unwrap_or_else(|| {
        panic!(
            "{} has errors:\n{}",
            source.name,
            source.render(&analysis.diagnostics)
        )
    })
}

/// The graph of these files of the repository, each named by its file name.
fn graph_of(files: &[&str]) -> Graph {
    let models: Vec<Model> = files.iter().map(|file| model(file)).collect();
    let named: Vec<(&str, &Model)> = files
        .iter()
        .map(|file| file.rsplit('/').next().unwrap_or(file))
        .zip(&models)
        .collect();
    Graph::of(&named)
}

const STACK: [&str; 3] = [
    "examples/stack/l4.edge",
    "examples/stack/gateway.edge",
    "examples/stack/pods.edge",
];

/// A DOT graph as parsed back: nodes with their attributes, the nodes of each cluster (by
/// label), and edges with theirs, every id and value unquoted.
#[derive(Debug, Default)]
struct ParsedDot {
    nodes: BTreeMap<String, BTreeMap<String, String>>,
    clusters: BTreeMap<String, Vec<String>>,
    edges: Vec<(String, String, BTreeMap<String, String>)>,
}

impl ParsedDot {
    fn of(text: &str) -> ParsedDot {
        let graph = graphviz_rust::parse(text).unwrap_or_else(|error| panic!("{error}\n{text}"));
        let dot::Graph::DiGraph { stmts, .. } = graph else {
            panic!("not a digraph:\n{text}");
        };
        let mut parsed = ParsedDot::default();
        parsed.read(&stmts, None);
        for (from, to, _) in &parsed.edges {
            assert!(parsed.nodes.contains_key(from), "{from} is not declared");
            assert!(parsed.nodes.contains_key(to), "{to} is not declared");
        }
        parsed
    }

    fn read(&mut self, stmts: &[Stmt], cluster: Option<&str>) {
        for stmt in stmts {
            match stmt {
                Stmt::Node(node) => {
                    let id = unquote(&node.id.0);
                    if let Some(cluster) = cluster {
                        self.clusters
                            .entry(cluster.to_owned())
                            .or_default()
                            .push(id.clone());
                    }
                    let previous = self.nodes.insert(id.clone(), attributes(&node.attributes));
                    assert!(previous.is_none(), "{id} is declared twice");
                }
                Stmt::Subgraph(subgraph) => {
                    let label = subgraph
                        .stmts
                        .iter()
                        .find_map(|stmt| match stmt {
                            Stmt::Attribute(Attribute(name, value)) if unquote(name) == "label" => {
                                Some(unquote(value))
                            }
                            _ => None,
                        })
                        .expect("every cluster has a label");
                    assert!(unquote(&subgraph.id).starts_with("cluster"));
                    self.read(&subgraph.stmts, Some(&label));
                }
                Stmt::Edge(edge) => {
                    let EdgeTy::Pair(Vertex::N(from), Vertex::N(to)) = &edge.ty else {
                        panic!("an edge between two nodes expected: {edge:?}");
                    };
                    self.edges.push((
                        unquote(&from.0),
                        unquote(&to.0),
                        attributes(&edge.attributes),
                    ));
                }
                Stmt::Attribute(_) | Stmt::GAttribute(_) => {}
            }
        }
    }

    fn label(&self, node: &str) -> &str {
        &self.nodes[node]["label"]
    }

    /// The edges from `node`, in order: (to, class, label).
    fn from(&self, node: &str) -> Vec<(&str, &str, &str)> {
        self.edges
            .iter()
            .filter(|(from, _, _)| from == node)
            .map(|(_, to, attributes)| {
                let class = attributes.get("class").map_or("", String::as_str);
                let label = attributes.get("label").map_or("", String::as_str);
                (to.as_str(), class, label)
            })
            .collect()
    }

    /// The one edge of this class from `node`.
    fn next(&self, node: &str, class: &str) -> &str {
        let found: Vec<_> = self
            .from(node)
            .into_iter()
            .filter(|(_, kind, _)| *kind == class)
            .collect();
        assert_eq!(found.len(), 1, "one `{class}` edge from {node}: {found:?}");
        found[0].0
    }

    /// A route's policy chain (labels) and the node it ends in.
    fn chain(&self, route: &str) -> (Vec<String>, String) {
        let mut labels = Vec::new();
        let mut node = route;
        loop {
            match self.from(node).as_slice() {
                [(next, "uses", _)] => {
                    labels.push(self.label(next).to_owned());
                    node = next;
                }
                [(end, "forwards" | "answers", _)] => return (labels, (*end).to_owned()),
                other => panic!("{node} leads to {other:?}"),
            }
        }
    }
}

fn attributes(attributes: &[Attribute]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|Attribute(name, value)| (unquote(name), unquote(value)))
        .collect()
}

/// A DOT id's text: a quoted one without its quotes, `\"`, `\\` and `\n` read back.
fn unquote(id: &Id) -> String {
    match id {
        Id::Escaped(quoted) => {
            let inner = &quoted[1..quoted.len() - 1];
            let mut text = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    text.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => text.push('\n'),
                    Some(other) => text.push(other),
                    None => panic!("a dangling backslash in {quoted}"),
                }
            }
            text
        }
        Id::Plain(text) | Id::Html(text) | Id::Anonymous(text) => text.clone(),
    }
}

/// A node of the SVG: its class, its box and its `data-` attributes.
#[derive(Debug)]
struct SvgNode {
    class: String,
    rect: [f64; 4],
    data: BTreeMap<String, String>,
}

/// An SVG as parsed back: its nodes by id, and its edges (from, to, class).
struct ParsedSvg {
    nodes: BTreeMap<String, SvgNode>,
    edges: Vec<(String, String, String)>,
}

/// Parses an SVG, checking that it is XML, that each node has a title and a box, and that no
/// two boxes overlap.
fn parse_svg(text: &str) -> ParsedSvg {
    let document =
        roxmltree::Document::parse(text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    const KINDS: [&str; 6] = ["listener", "route", "policy", "pool", "server", "leaf"];
    let mut nodes = BTreeMap::new();
    for element in root.descendants().filter(|element| {
        element.has_tag_name("g") && KINDS.contains(&element.attribute("class").unwrap_or(""))
    }) {
        let id = element.attribute("id").expect("a node has an id");
        let child = |name: &str| {
            element
                .children()
                .find(|child| child.has_tag_name(name))
                .unwrap_or_else(|| panic!("{id} has no <{name}>"))
        };
        assert!(!child("title").text().unwrap_or("").is_empty());
        let rect = child("rect");
        let number = |name: &str| -> f64 {
            rect.attribute(name)
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{id}'s box has no {name}"))
        };
        let data = element
            .attributes()
            .filter_map(|attribute| {
                let name = attribute.name().strip_prefix("data-")?;
                Some((name.to_owned(), attribute.value().to_owned()))
            })
            .collect();
        let node = SvgNode {
            class: element.attribute("class").unwrap_or("").to_owned(),
            rect: [number("x"), number("y"), number("width"), number("height")],
            data,
        };
        assert!(nodes.insert(id.to_owned(), node).is_none(), "{id} twice");
    }
    let boxes: Vec<(&String, &SvgNode)> = nodes.iter().collect();
    for (index, (id, node)) in boxes.iter().enumerate() {
        let [x, y, width, height] = node.rect;
        assert!(width > 0.0 && height > 0.0, "{id} has an empty box");
        for (other_id, other) in &boxes[index + 1..] {
            let [ox, oy, owidth, oheight] = other.rect;
            let apart =
                x + width <= ox || ox + owidth <= x || y + height <= oy || oy + oheight <= y;
            assert!(
                apart,
                "{id} {:?} overlaps {other_id} {:?}",
                node.rect, other.rect
            );
        }
    }
    let edges = root
        .descendants()
        .filter(|element| element.has_tag_name("path") && element.has_attribute("data-from"))
        .map(|element| {
            let attribute = |name| element.attribute(name).unwrap_or("").to_owned();
            (
                attribute("data-from"),
                attribute("data-to"),
                attribute("class"),
            )
        })
        .collect();
    ParsedSvg { nodes, edges }
}

/// Checks that the SVG holds the same nodes (id and class) and edges as the DOT.
fn assert_same_picture(graph: &Graph) -> (ParsedDot, BTreeMap<String, SvgNode>) {
    let parsed = ParsedDot::of(&graph.to_dot());
    let ParsedSvg {
        nodes: svg_nodes,
        edges: svg_edges,
    } = parse_svg(&graph.to_svg());
    let dot_nodes: BTreeSet<(&str, &str)> = parsed
        .nodes
        .iter()
        .map(|(id, attributes)| (id.as_str(), attributes["class"].as_str()))
        .collect();
    let svg_node_set: BTreeSet<(&str, &str)> = svg_nodes
        .iter()
        .map(|(id, node)| (id.as_str(), node.class.as_str()))
        .collect();
    assert_eq!(dot_nodes, svg_node_set);
    let dot_edges: Vec<(&str, &str, String)> = parsed
        .edges
        .iter()
        .map(|(from, to, attributes)| {
            (
                from.as_str(),
                to.as_str(),
                format!("edge {}", attributes["class"]),
            )
        })
        .collect();
    let svg_edges: Vec<(&str, &str, String)> = svg_edges
        .iter()
        .map(|(from, to, class)| (from.as_str(), to.as_str(), class.clone()))
        .collect();
    assert_eq!(dot_edges, svg_edges);
    (parsed, svg_nodes)
}

#[test]
fn graph_of_api_gateway_has_every_route_with_its_policies_and_pool() {
    let model = model("examples/api_gateway.edge");
    let graph = Graph::of(&[("api_gateway.edge", &model)]);
    let (dot, svg) = assert_same_picture(&graph);
    assert_eq!(
        dot.clusters.keys().collect::<Vec<_>>(),
        ["api_gateway.edge"]
    );

    for listener in &model.listeners {
        let listener_id = format!("listener-api_gateway-{}", listener.name);
        assert_eq!(svg[&listener_id].data["address"], listener.bind.to_string());
        let tried: Vec<(&str, &str, &str)> = dot.from(&listener_id);
        assert_eq!(tried.len(), listener.routes.len());
        for (place, (route, (to, class, label))) in listener.routes.iter().zip(tried).enumerate() {
            let route_id = format!("route-api_gateway-{}", route.name);
            assert_eq!((to, class), (route_id.as_str(), "tries"));
            assert_eq!(label, (place + 1).to_string());
            assert_eq!(svg[&route_id].data["name"], route.name);

            let (chain, end) = dot.chain(&route_id);
            let names: Vec<String> = route
                .policies
                .iter()
                .map(|&instance| {
                    let policy = &model.policies[model.instances[instance].policy];
                    format!("{} (", policy.name)
                })
                .collect();
            assert_eq!(chain.len(), names.len(), "{route_id}: {chain:?}");
            for (label, name) in chain.iter().zip(&names) {
                assert!(label.starts_with(name), "{route_id}: {chain:?}");
            }
            match &route.action {
                Action::Forward(pool) => {
                    assert_eq!(end, format!("pool-api_gateway-{}", model.pools[*pool].name));
                }
                _ => assert_eq!(end, format!("leaf-api_gateway-{}", route.name)),
            }
        }
    }

    let (chain, end) = dot.chain("route-api_gateway-payments");
    assert_eq!(
        chain,
        [
            "browser (cors)",
            "auth (jwt)",
            "limit (rate_limit)",
            "payment_body (validate)"
        ]
    );
    assert_eq!(end, "pool-api_gateway-payments_service");
    assert_eq!(
        dot.label("route-api_gateway-health"),
        "health\npath = /healthz"
    );
    assert_eq!(dot.label("route-api_gateway-users"), "users\npath /users");
    let (_, leaf) = dot.chain("route-api_gateway-health");
    assert_eq!(dot.label(&leaf), "respond 200");
    assert_eq!(svg[&leaf].class, "leaf");
    assert_eq!(
        dot.from("pool-api_gateway-payments_service"),
        [(
            "server-api_gateway-payments_service-127.0.0.1_9103",
            "has",
            ""
        )]
    );
    // Only servers of another file reach a listener: the demo services are not joined.
    assert!(dot.edges.iter().all(|(_, _, a)| a["class"] != "reaches"));
}

#[test]
fn graph_of_the_stack_joins_the_balancer_to_the_gateway_to_the_pods() {
    let graph = graph_of(&STACK);
    let (dot, svg) = assert_same_picture(&graph);
    assert_eq!(
        dot.clusters.keys().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            &"gateway.edge".to_owned(),
            &"l4.edge".to_owned(),
            &"pods.edge".to_owned()
        ])
    );
    assert!(dot.clusters["l4.edge"].contains(&"listener-l4-edge".to_owned()));
    assert!(dot.clusters["pods.edge"].contains(&"leaf-pods-users_1".to_owned()));

    assert_eq!(dot.label("listener-l4-edge"), "edge\n127.0.0.1:9400 · tcp");
    assert_eq!(dot.next("listener-l4-edge", "tries"), "route-l4-all");
    assert_eq!(
        dot.chain("route-l4-all"),
        (vec![], "pool-l4-gateways".into())
    );
    assert_eq!(dot.label("pool-l4-gateways"), "gateways\nleast_conn");
    assert_eq!(
        dot.from("pool-l4-gateways"),
        [
            ("server-l4-gateways-127.0.0.1_9411", "has", ""),
            ("server-l4-gateways-127.0.0.1_9412", "has", "")
        ]
    );
    let server = &svg["server-l4-gateways-127.0.0.1_9411"];
    assert_eq!(server.class, "server");
    assert_eq!(server.data["pool"], "gateways");
    assert_eq!(server.data["address"], "127.0.0.1:9411");
    assert_eq!(server.data["file"], "l4.edge");
    assert_eq!(
        dot.next("server-l4-gateways-127.0.0.1_9411", "reaches"),
        "listener-gateway-api"
    );
    // The second gateway binds 9412 only through EDGE_BIND_API in run.sh: no file says so.
    assert!(dot.from("server-l4-gateways-127.0.0.1_9412").is_empty());

    let routes: Vec<&str> = dot
        .from("listener-gateway-api")
        .into_iter()
        .map(|(to, _, _)| to)
        .collect();
    assert_eq!(
        routes,
        [
            "route-gateway-orders",
            "route-gateway-checkout",
            "route-gateway-payments",
            "route-gateway-users"
        ]
    );
    let (chain, pool) = dot.chain("route-gateway-checkout");
    assert_eq!(
        chain,
        [
            "limit (rate_limit)",
            "checkout_attempts (rate_limit)",
            "hardened (security_headers)"
        ]
    );
    assert_eq!(pool, "pool-gateway-payments");

    for service in ["users", "orders", "payments"] {
        let (_, pool) = dot.chain(&format!("route-gateway-{service}"));
        assert_eq!(pool, format!("pool-gateway-{service}"));
        let servers = dot.from(&pool);
        assert_eq!(servers.len(), 2);
        for (copy, (server, class, _)) in servers.into_iter().enumerate() {
            assert_eq!(class, "has");
            let listener = dot.next(server, "reaches");
            assert_eq!(listener, format!("listener-pods-{service}_{}", copy + 1));
            let route = dot.next(listener, "tries");
            let (chain, leaf) = dot.chain(route);
            assert!(chain.is_empty());
            assert_eq!(dot.label(&leaf), "respond 200");
        }
    }
}

#[test]
fn graph_servers_reach_wildcard_listeners_and_names_reach_nothing() {
    let front = checked(SourceFile::new(
        "front.edge",
        r#"
listener web {
    bind 127.0.0.1:8000
}

pool backends {
    balance hash header("x-user")
    server 10.0.0.5:8080 weight 3
    server [fd00::7]:8081 backup
    server app.internal:8080
    server 127.0.0.1:8000
}

pool named {
    dns_srv "_http._tcp.users.internal"
}

route api {
    on web
    host "api.example.com" "*.example.org"
    path /api
    methods GET POST
    header "x-env" "prod"
    forward backends
}

route rest {
    on web
    redirect 301 "https://example.com/"
}
"#,
    ));
    let v4 = checked(SourceFile::new(
        "v4.edge",
        "listener any {\n    bind 0.0.0.0:8080\n}\nroute all {\n    on any\n    respond 204\n}\n",
    ));
    let v6 = checked(SourceFile::new(
        "v6.edge",
        "listener any {\n    bind [::]:8081\n}\nroute all {\n    on any\n    respond 204\n}\n",
    ));
    let graph = Graph::of(&[("front.edge", &front), ("v4.edge", &v4), ("v6.edge", &v6)]);
    let (dot, svg) = assert_same_picture(&graph);

    assert_eq!(
        dot.label("route-front-api"),
        "api\nhost api.example.com *.example.org\npath /api\nmethods GET POST\nheader \"x-env\" \"prod\""
    );
    assert_eq!(
        dot.label("pool-front-backends"),
        "backends\nhash header(\"x-user\")"
    );
    assert_eq!(
        dot.label("server-front-backends-10.0.0.5_8080"),
        "10.0.0.5:8080\nweight 3"
    );
    assert_eq!(
        dot.next("server-front-backends-10.0.0.5_8080", "reaches"),
        "listener-v4-any"
    );
    assert_eq!(
        dot.next("server-front-backends-_fd00__7__8081", "reaches"),
        "listener-v6-any"
    );
    assert_eq!(
        svg["server-front-backends-_fd00__7__8081"].data["address"],
        "[fd00::7]:8081"
    );
    assert!(dot
        .from("server-front-backends-app.internal_8080")
        .is_empty());
    // A server of the file's own listener is no edge across files.
    assert!(dot.from("server-front-backends-127.0.0.1_8000").is_empty());
    // A pool no route forwards to is drawn all the same.
    assert_eq!(
        dot.from("pool-front-named"),
        [("server-front-named-_http._tcp.users.internal", "has", "")]
    );
    let (_, leaf) = dot.chain("route-front-rest");
    assert_eq!(dot.label(&leaf), "redirect 301 \"https://example.com/\"");
}

#[test]
fn graph_renderings_are_deterministic() {
    let first = graph_of(&STACK);
    let second = graph_of(&STACK);
    assert_eq!(first.to_dot(), second.to_dot());
    assert_eq!(first.to_svg(), second.to_svg());
    let gateway = graph_of(&["examples/api_gateway.edge"]);
    assert_eq!(
        gateway.to_svg(),
        graph_of(&["examples/api_gateway.edge"]).to_svg()
    );
}
