//! Our own layered layout for the SVG: each file a band of columns (listeners, routes, one
//! column per step of the policy chains, pools and answers, servers), the bands left to right
//! in the order given. Boxes are sized from their text in a monospace font, so text always
//! fits; within a column they keep the graph's order, never overlap, and sit as near the
//! middle of their neighbours as that allows.

use super::{Graph, Item};

/// The font size of nodes' text, in pixels.
pub(super) const FONT_SIZE: f64 = 12.0;
/// The distance between lines of a node's text.
pub(super) const LINE_HEIGHT: f64 = 16.0;
/// The space between a box's edge and its text.
pub(super) const PAD_X: f64 = 10.0;
pub(super) const PAD_Y: f64 = 8.0;
/// The space above a band's first box, for the file's name.
pub(super) const HEADING: f64 = 34.0;
/// The advance of one character of a monospace font at `FONT_SIZE` (0.6 em), rounded up.
const CHAR_WIDTH: f64 = 7.3;
const MIN_WIDTH: f64 = 80.0;
const MARGIN: f64 = 16.0;
/// The space between a band's edge and its columns.
const BAND_PAD: f64 = 16.0;
const COLUMN_GAP: f64 = 56.0;
const BAND_GAP: f64 = 64.0;
const NODE_GAP: f64 = 14.0;
/// How many times the columns are placed left to right, then right to left.
const ROUNDS: usize = 2;

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Rect {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) width: f64,
    pub(super) height: f64,
}

impl Rect {
    pub(super) fn right(&self) -> f64 {
        self.x + self.width
    }

    pub(super) fn middle(&self) -> f64 {
        self.y + self.height / 2.0
    }
}

/// Where everything goes.
pub(super) struct Layout {
    /// Each node's box, by index into `Graph::nodes`.
    pub(super) boxes: Vec<Rect>,
    /// Each file's band, by index into `Graph::files`.
    pub(super) bands: Vec<Rect>,
    pub(super) width: f64,
    pub(super) height: f64,
}

impl Layout {
    pub(super) fn of(graph: &Graph) -> Layout {
        let mut boxes: Vec<Rect> = graph
            .nodes
            .iter()
            .map(|node| size(&node.item.lines()))
            .collect();
        let (columns, mut bands) = place_columns(graph, &mut boxes);
        place_rows(graph, &columns, &mut boxes);

        let top = boxes
            .iter()
            .map(|rect| rect.y)
            .fold(f64::INFINITY, f64::min);
        let shift = if top.is_finite() {
            MARGIN + HEADING - top
        } else {
            0.0
        };
        for rect in &mut boxes {
            rect.y += shift;
        }
        let bottom = boxes
            .iter()
            .map(|rect| rect.y + rect.height)
            .fold(MARGIN + HEADING, f64::max);
        for band in &mut bands {
            band.y = MARGIN;
            band.height = bottom + BAND_PAD - MARGIN;
        }
        let width = bands.last().map_or(0.0, Rect::right) + MARGIN;
        Layout {
            boxes,
            bands,
            width,
            height: bottom + BAND_PAD + MARGIN,
        }
    }
}

/// A box just big enough for these lines.
fn size(lines: &[String]) -> Rect {
    let chars = lines
        .iter()
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0);
    Rect {
        width: (chars as f64 * CHAR_WIDTH + 2.0 * PAD_X).max(MIN_WIDTH),
        height: lines.len() as f64 * LINE_HEIGHT + 2.0 * PAD_Y,
        ..Rect::default()
    }
}

/// Splits the nodes into columns, left to right, and sets their boxes' `x` (every box of a
/// column as wide as its widest); returns the columns and each file's band (`x` and width).
fn place_columns(graph: &Graph, boxes: &mut [Rect]) -> (Vec<Vec<usize>>, Vec<Rect>) {
    let mut columns = Vec::new();
    let mut bands = Vec::new();
    let mut x = MARGIN;
    for (file, name) in graph.files.iter().enumerate() {
        let nodes: Vec<usize> = (0..graph.nodes.len())
            .filter(|&node| graph.nodes[node].file == file)
            .collect();
        let steps = nodes
            .iter()
            .map(|&node| match graph.nodes[node].item {
                Item::Policy { place, .. } => place,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let mut slots = vec![Vec::new(); steps + 4];
        for &node in &nodes {
            let slot = match graph.nodes[node].item {
                Item::Listener { .. } => 0,
                Item::Route { .. } => 1,
                Item::Policy { place, .. } => 1 + place,
                Item::Pool { .. } | Item::Leaf { .. } => steps + 2,
                Item::Server { .. } => steps + 3,
            };
            slots[slot].push(node);
        }

        let band_x = x;
        let mut column_x = band_x + BAND_PAD;
        for column in slots.into_iter().filter(|slot| !slot.is_empty()) {
            let width = column
                .iter()
                .map(|&node| boxes[node].width)
                .fold(0.0, f64::max);
            for &node in &column {
                boxes[node].x = column_x;
                boxes[node].width = width;
            }
            column_x += width + COLUMN_GAP;
            columns.push(column);
        }
        let columns_right = column_x - COLUMN_GAP + BAND_PAD;
        let heading_right = band_x + 2.0 * BAND_PAD + name.chars().count() as f64 * CHAR_WIDTH;
        let right = columns_right.max(heading_right);
        bands.push(Rect {
            x: band_x,
            width: right - band_x,
            ..Rect::default()
        });
        x = right + BAND_GAP;
    }
    (columns, bands)
}

/// Sets the boxes' `y`: each column stacked first, then placed by the middles of the nodes'
/// neighbours, left to right by those they come from, then right to left by those they go
/// to.
fn place_rows(graph: &Graph, columns: &[Vec<usize>], boxes: &mut [Rect]) {
    let mut from = vec![Vec::new(); graph.nodes.len()];
    let mut to = vec![Vec::new(); graph.nodes.len()];
    for edge in &graph.edges {
        from[edge.to].push(edge.from);
        to[edge.from].push(edge.to);
    }
    for column in columns {
        let wanted: Vec<f64> = vec![0.0; column.len()];
        place(column, &wanted, boxes);
    }
    for _ in 0..ROUNDS {
        for column in columns {
            align(column, &from, boxes);
        }
        for column in columns.iter().rev() {
            align(column, &to, boxes);
        }
    }
}

/// Places a column's nodes by the middles of their neighbours (a node without any keeps its
/// own).
fn align(column: &[usize], neighbours: &[Vec<usize>], boxes: &mut [Rect]) {
    let wanted: Vec<f64> = column
        .iter()
        .map(|&node| {
            let near = &neighbours[node];
            if near.is_empty() {
                boxes[node].middle()
            } else {
                near.iter().map(|&other| boxes[other].middle()).sum::<f64>() / near.len() as f64
            }
        })
        .collect();
    place(column, &wanted, boxes);
}

/// Sets the `y` of a column's boxes, kept in order and at least `NODE_GAP` apart, so that
/// their middles are as near the wanted ones as can be (least squares, by pooling adjacent
/// violators): with `offset` the height of the boxes above and their gaps, each box's
/// `y - offset` must not decrease down the column.
fn place(column: &[usize], wanted: &[f64], boxes: &mut [Rect]) {
    let mut offsets = Vec::with_capacity(column.len());
    let mut offset = 0.0;
    for &node in column {
        offsets.push(offset);
        offset += boxes[node].height + NODE_GAP;
    }
    // Runs of boxes moved together: (sum of their targets, how many).
    let mut runs: Vec<(f64, usize)> = Vec::new();
    for (index, &node) in column.iter().enumerate() {
        runs.push((wanted[index] - boxes[node].height / 2.0 - offsets[index], 1));
        while let [.., (above, above_count), (last, last_count)] = runs[..] {
            if above / above_count as f64 <= last / last_count as f64 {
                break;
            }
            runs.pop();
            runs.pop();
            runs.push((above + last, above_count + last_count));
        }
    }
    let mut index = 0;
    for (sum, count) in runs {
        let shift = sum / count as f64;
        for _ in 0..count {
            boxes[column[index]].y = shift + offsets[index];
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column_of(heights: &[f64]) -> (Vec<usize>, Vec<Rect>) {
        let boxes = heights
            .iter()
            .map(|&height| Rect {
                height,
                ..Rect::default()
            })
            .collect();
        ((0..heights.len()).collect(), boxes)
    }

    #[test]
    fn graph_layout_keeps_a_column_in_order_without_overlaps() {
        let (column, mut boxes) = column_of(&[20.0, 20.0, 20.0]);
        place(&column, &[100.0, 100.0, 100.0], &mut boxes);
        let tops: Vec<f64> = boxes.iter().map(|rect| rect.y).collect();
        assert_eq!(tops, [56.0, 90.0, 124.0]);

        let (column, mut boxes) = column_of(&[20.0, 20.0]);
        place(&column, &[10.0, 500.0], &mut boxes);
        let tops: Vec<f64> = boxes.iter().map(|rect| rect.y).collect();
        assert_eq!(tops, [0.0, 490.0]);

        let (column, mut boxes) = column_of(&[20.0, 20.0]);
        place(&column, &[500.0, 10.0], &mut boxes);
        assert!(boxes[1].y >= boxes[0].y + 20.0 + NODE_GAP);
    }
}
