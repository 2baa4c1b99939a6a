//! The workspace's crates have no import cycles among sibling modules.

use std::path::Path;

fn assert_layered(root: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(root);
    let cycles = edge_layering::cycles(&root).expect("the crate's files are readable");
    let report: String = cycles.iter().map(ToString::to_string).collect();
    assert!(
        cycles.is_empty(),
        "{} has import cycles:\n{report}",
        root.display()
    );
}

#[test]
fn the_runtime_is_layered() {
    assert_layered("runtime/src/lib.rs");
}

#[test]
fn the_compiler_is_layered() {
    assert_layered("compiler/src/lib.rs");
    assert_layered("compiler/src/bin/edgec/main.rs");
}

#[test]
fn the_dsl_is_layered() {
    assert_layered("dsl/src/lib.rs");
}
