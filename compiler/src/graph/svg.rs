//! The SVG rendering of a laid-out graph: a band per file, then the edges (cubic curves with
//! arrowheads), then the nodes on top, each a `<g>` with its id, its kind as class, `data-`
//! attributes, a `<title>`, a box and its text. Presentation attributes only (no style
//! sheet), so a page's CSS can recolour any node by id.

use std::fmt;

use super::layout::{Layout, Rect, FONT_SIZE, HEADING, LINE_HEIGHT, PAD_X, PAD_Y};
use super::{Edge, EdgeKind, Graph, Item, Node};
use crate::spelling::address;

const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const INK: &str = "#0f172a";
const LINE: &str = "#64748b";
const ACROSS: &str = "#0284c7";

/// The graph as a standalone SVG document, laid out by `layout`.
pub(super) fn render(graph: &Graph, layout: &Layout) -> String {
    Svg { graph, layout }.to_string()
}

struct Svg<'a> {
    graph: &'a Graph,
    layout: &'a Layout,
}

impl fmt::Display for Svg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (graph, layout) = (self.graph, self.layout);
        writeln!(f, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            f,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="{FONT_SIZE}">"#,
            w = layout.width.ceil(),
            h = layout.height.ceil(),
        )?;
        writeln!(f, "<title>{}</title>", escape(&graph.files.join(", ")))?;
        writeln!(
            f,
            r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{LINE}"/></marker><marker id="arrow-across" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{ACROSS}"/></marker></defs>"#
        )?;
        for (file, band) in graph.files.iter().zip(&layout.bands) {
            self.band(f, file, band)?;
        }
        writeln!(f, r#"<g class="edges" fill="none">"#)?;
        for edge in &graph.edges {
            self.edge(f, edge)?;
        }
        writeln!(f, "</g>")?;
        writeln!(f, r#"<g class="nodes">"#)?;
        for (node, rect) in graph.nodes.iter().zip(&layout.boxes) {
            self.node(f, node, rect)?;
        }
        writeln!(f, "</g>")?;
        writeln!(f, "</svg>")
    }
}

impl Svg<'_> {
    fn band(&self, f: &mut fmt::Formatter<'_>, file: &str, band: &Rect) -> fmt::Result {
        let file = escape(file);
        writeln!(
            f,
            r##"<g class="file" data-file="{file}"><title>{file}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="10" fill="#f8fafc" stroke="#cbd5e1"/><text x="{:.1}" y="{:.1}" font-weight="bold" fill="{INK}">{file}</text></g>"##,
            band.x,
            band.y,
            band.width,
            band.height,
            band.x + PAD_X,
            band.y + HEADING / 2.0 + FONT_SIZE / 3.0,
        )
    }

    fn edge(&self, f: &mut fmt::Formatter<'_>, edge: &Edge) -> fmt::Result {
        let (from, to) = (&self.graph.nodes[edge.from], &self.graph.nodes[edge.to]);
        let (start, end) = (&self.layout.boxes[edge.from], &self.layout.boxes[edge.to]);
        let kind = edge.kind;
        let (x1, y1, x2, y2) = (start.right(), start.middle(), end.x, end.middle());
        let bend = ((x2 - x1).abs() / 2.0).max(30.0);
        let (colour, marker, dashes) = match kind {
            EdgeKind::Reaches => (ACROSS, "arrow-across", r#" stroke-dasharray="6 4""#),
            EdgeKind::Mirrors => (LINE, "arrow", r#" stroke-dasharray="3 3""#),
            _ => (LINE, "arrow", ""),
        };
        writeln!(
            f,
            r#"<path class="edge {}" data-from="{}" data-to="{}" d="M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}" stroke="{colour}" stroke-width="1.2"{dashes} marker-end="url(#{marker})"><title>{} → {}</title></path>"#,
            kind.as_str(),
            from.id,
            to.id,
            x1 + bend,
            x2 - bend,
            escape(&from.item.description()),
            escape(&to.item.description()),
        )?;
        if let EdgeKind::Tries(place) = kind {
            writeln!(
                f,
                r#"<text class="place" x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="{LINE}">{place}</text>"#,
                x2 - 9.0,
                y2 - 5.0,
            )?;
        }
        Ok(())
    }

    fn node(&self, f: &mut fmt::Formatter<'_>, node: &Node, rect: &Rect) -> fmt::Result {
        let kind = node.item.kind();
        write!(
            f,
            r#"<g id="{}" class="{}" data-file="{}""#,
            node.id,
            kind.as_str(),
            escape(&self.graph.files[node.file]),
        )?;
        for (name, value) in data(&node.item) {
            write!(f, r#" data-{name}="{}""#, escape(&value))?;
        }
        writeln!(f, ">")?;
        writeln!(f, "<title>{}</title>", escape(&node.item.description()))?;
        writeln!(
            f,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6" fill="{}" stroke="{LINE}"/>"#,
            rect.x,
            rect.y,
            rect.width,
            rect.height,
            kind.fill(),
        )?;
        for (index, line) in node.item.lines().iter().enumerate() {
            let weight = if index == 0 {
                r#" font-weight="bold""#
            } else {
                ""
            };
            writeln!(
                f,
                r#"<text x="{:.1}" y="{:.1}" fill="{INK}"{weight}>{}</text>"#,
                rect.x + PAD_X,
                rect.y + PAD_Y + index as f64 * LINE_HEIGHT + FONT_SIZE,
                escape(line),
            )?;
        }
        writeln!(f, "</g>")
    }
}

/// A node's `data-` attributes besides `data-file`: its name, address and what it belongs to.
fn data(item: &Item) -> Vec<(&'static str, String)> {
    match item {
        Item::Listener { name, bind, .. } => {
            vec![("name", name.clone()), ("address", bind.to_string())]
        }
        Item::Route { name, .. } | Item::Pool { name, .. } => vec![("name", name.clone())],
        Item::Policy {
            route, name, kind, ..
        } => vec![
            ("route", route.clone()),
            ("name", name.clone()),
            ("kind", (*kind).to_owned()),
        ],
        Item::Server {
            pool,
            address: server,
            ..
        } => vec![("pool", pool.clone()), ("address", address(server))],
        Item::Leaf { route, action } => vec![("route", route.clone()), ("action", action.clone())],
    }
}

/// Text as XML character data or a double- or single-quoted attribute value; a character
/// XML cannot hold at all (a control character, U+FFFE, U+FFFF) is written U+FFFD.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn graph_svg_text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;\u{fffd}"
        );
    }
}
