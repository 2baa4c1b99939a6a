//! The module graph of a crate read from its source, and the cycles in it.
//!
//! A crate's modules form a tree; each parent's children should form a layered graph: if
//! `a` uses `b`, nothing under `b` uses anything under `a`. References from a module to its
//! own ancestors or descendants are structure, not layering, and are not counted. Paths are
//! read from the tokens of every file (so paths inside macro calls count too) and resolved
//! through `use` aliases, so `crate::Pool` re-exported by `lib.rs` still points at the module
//! that defines it.

mod graph;
mod paths;
mod tree;

pub use graph::{Cycle, Edge};
pub use tree::Crate;

use std::path::Path;

/// The sibling cycles in the crate rooted at `root` (its `lib.rs` or `main.rs`), each with
/// one reference per edge as evidence.
pub fn cycles(root: &Path) -> std::io::Result<Vec<Cycle>> {
    let krate = Crate::read(root)?;
    Ok(graph::cycles(&krate))
}
