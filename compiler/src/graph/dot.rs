//! The Graphviz DOT rendering: one cluster per file, every id quoted, nodes and edges in
//! graph order.

use std::fmt;

use super::{EdgeKind, Graph};

/// The graph as a DOT `digraph`.
pub(super) fn render(graph: &Graph) -> String {
    Dot(graph).to_string()
}

struct Dot<'a>(&'a Graph);

impl fmt::Display for Dot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let graph = self.0;
        writeln!(f, "digraph config {{")?;
        writeln!(f, "  rankdir=LR;")?;
        writeln!(
            f,
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];"
        )?;
        writeln!(f, "  edge [fontname=\"Helvetica\", fontsize=9];")?;
        for (file, name) in graph.files.iter().enumerate() {
            writeln!(f, "  subgraph {} {{", quote(&format!("cluster_{file}")))?;
            writeln!(f, "    label={};", quote(name))?;
            writeln!(f, "    style=\"rounded\";")?;
            for node in graph.nodes.iter().filter(|node| node.file == file) {
                let kind = node.item.kind();
                writeln!(
                    f,
                    "    {} [label={}, class={}, fillcolor={}, tooltip={}];",
                    quote(&node.id),
                    quote(&node.item.lines().join("\n")),
                    quote(kind.as_str()),
                    quote(kind.fill()),
                    quote(&node.item.description()),
                )?;
            }
            writeln!(f, "  }}")?;
        }
        for edge in &graph.edges {
            write!(
                f,
                "  {} -> {} [class={}",
                quote(&graph.nodes[edge.from].id),
                quote(&graph.nodes[edge.to].id),
                quote(edge.kind.as_str()),
            )?;
            match edge.kind {
                EdgeKind::Tries(place) => write!(f, ", label={}", quote(&place.to_string()))?,
                EdgeKind::Forwards => write!(f, ", label=\"forward\"")?,
                EdgeKind::Mirrors => write!(f, ", label=\"mirror\", style=dashed")?,
                EdgeKind::Reaches => write!(f, ", style=dashed, color=\"#64748b\"")?,
                EdgeKind::Uses | EdgeKind::Answers | EdgeKind::Has => {}
            }
            writeln!(f, "];")?;
        }
        writeln!(f, "}}")
    }
}

/// A DOT double-quoted string: `"` and `\` escaped, a line break written `\n`.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn graph_dot_strings_are_escaped() {
        assert_eq!(quote("a \"b\"\\c\nd"), r#""a \"b\"\\c\nd""#);
    }
}
