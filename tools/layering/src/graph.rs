//! References resolved to the modules that define what they name, folded into one graph per
//! parent module over its children, and the strongly connected parts of those graphs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::paths::names;
use crate::tree::{Crate, ModPath};

/// A set of sibling modules that use each other, directly or through one another.
#[derive(Debug)]
pub struct Cycle {
    /// The parent of the modules (`crate` for the root).
    pub parent: String,
    /// The modules in the cycle.
    pub members: Vec<String>,
    /// The uses between them, one example reference each.
    pub edges: Vec<Edge>,
}

/// One sibling using another.
#[derive(Debug)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// A file under `from` and the path in it that names something under `to`.
    pub example: String,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "in {}: {}", self.parent, self.members.join(" ↔ "))?;
        for edge in &self.edges {
            writeln!(f, "  {} → {}: {}", edge.from, edge.to, edge.example)?;
        }
        Ok(())
    }
}

/// Uses between siblings: parent → from → to → an example.
type Siblings = BTreeMap<ModPath, BTreeMap<String, BTreeMap<String, String>>>;

/// The cycles among siblings anywhere in `krate`.
pub fn cycles(krate: &Crate) -> Vec<Cycle> {
    let known: BTreeSet<ModPath> = krate.modules.keys().cloned().collect();
    let mut aliases: BTreeMap<ModPath, BTreeMap<String, ModPath>> = BTreeMap::new();
    let mut references = Vec::new();
    for (path, module) in &krate.modules {
        let found = names(&module.tokens, path, &known);
        for (context, name, target) in found.aliases {
            aliases.entry(context).or_default().insert(name, target);
        }
        for reference in found.references {
            references.push((path, module, reference));
        }
    }
    let mut siblings = Siblings::new();
    for (from, module, reference) in references {
        let to = resolve(&reference, &known, &aliases);
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        siblings
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .entry(to[common].clone())
            .or_insert_with(|| format!("{} names {}", module.file.display(), reference.join("::")));
    }
    siblings
        .iter()
        .flat_map(|(parent, uses)| {
            strongly_connected(uses)
                .into_iter()
                .filter(|part| part.len() > 1)
                .map(move |members| cycle(parent, uses, members))
        })
        .collect()
}

/// The module that defines what `path` names: its longest prefix that is a module, followed
/// through `use` aliases of that module.
fn resolve(
    path: &[String],
    known: &BTreeSet<ModPath>,
    aliases: &BTreeMap<ModPath, BTreeMap<String, ModPath>>,
) -> ModPath {
    let mut path = path.to_vec();
    for _ in 0..16 {
        let module = (0..=path.len())
            .rev()
            .map(|len| path[..len].to_vec())
            .find(|prefix| known.contains(prefix))
            .unwrap_or_default();
        let alias = path
            .get(module.len())
            .and_then(|name| aliases.get(&module)?.get(name));
        match alias {
            Some(target) if *target != path[..=module.len()] => {
                path = target
                    .iter()
                    .chain(&path[module.len() + 1..])
                    .cloned()
                    .collect();
            }
            _ => return module,
        }
    }
    path
}

fn cycle(
    parent: &ModPath,
    uses: &BTreeMap<String, BTreeMap<String, String>>,
    members: Vec<String>,
) -> Cycle {
    let edges = members
        .iter()
        .flat_map(|from| {
            uses.get(from)
                .into_iter()
                .flatten()
                .filter(|(to, _)| members.contains(to))
                .map(move |(to, example)| Edge {
                    from: from.clone(),
                    to: to.clone(),
                    example: example.clone(),
                })
        })
        .collect();
    Cycle {
        parent: if parent.is_empty() {
            "crate".to_owned()
        } else {
            parent.join("::")
        },
        members,
        edges,
    }
}

/// Tarjan's strongly connected components of a small graph.
fn strongly_connected(uses: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        uses: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        parts: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        for to in state.uses.get(node).into_iter().flat_map(BTreeMap::keys) {
            if !state.index.contains_key(to.as_str()) {
                visit(state, to);
                let low = state.low[node].min(state.low[to.as_str()]);
                state.low.insert(node, low);
            } else if state.stack.contains(&to.as_str()) {
                let low = state.low[node].min(state.index[to.as_str()]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut part = Vec::new();
            while let Some(top) = state.stack.pop() {
                part.push(top.to_owned());
                if top == node {
                    break;
                }
            }
            part.sort();
            state.parts.push(part);
        }
    }
    let mut state = State {
        uses,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        parts: Vec::new(),
    };
    for node in uses.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.parts
}
