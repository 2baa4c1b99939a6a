//! The checker on small crates written for the purpose: it finds cycles through `use`, through
//! paths in expressions and macros and through re-exports, and ignores parents and children.

/// Writes `files` (path, text) under a fresh folder and returns the cycles of its `lib.rs`.
fn cycles(files: &[(&str, &str)]) -> Vec<edge_layering::Cycle> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    edge_layering::cycles(&dir.path().join("lib.rs")).unwrap()
}

fn members(cycles: &[edge_layering::Cycle]) -> Vec<(String, Vec<String>)> {
    cycles
        .iter()
        .map(|cycle| (cycle.parent.clone(), cycle.members.clone()))
        .collect()
}

#[test]
fn a_cycle_through_a_re_export_and_a_macro_is_found() {
    let found = cycles(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::Y;\n"),
        ("a.rs", "use crate::b::X;\npub struct Y;\n"),
        ("b.rs", "pub struct X;\npub fn f() { crate::c::g() }\n"),
        (
            "c.rs",
            "pub fn g() { let _ = format!(\"{:?}\", crate::Y); }\n",
        ),
    ]);
    assert_eq!(
        members(&found),
        [(
            "crate".to_owned(),
            vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]
        )]
    );
    let shown = found[0].to_string();
    assert!(
        shown.contains("a → b") && shown.contains("c → a"),
        "{shown}"
    );
}

#[test]
fn cycles_among_nested_siblings_are_found_through_super() {
    let found = cycles(&[
        ("lib.rs", "mod side;\n"),
        ("side/mod.rs", "mod one;\nmod two;\n"),
        (
            "side/one.rs",
            "use super::two::{Two, self as other};\npub struct One;\n",
        ),
        ("side/two.rs", "pub struct Two(super::one::One);\n"),
    ]);
    assert_eq!(
        members(&found),
        [("side".to_owned(), vec!["one".to_owned(), "two".to_owned()])]
    );
}

#[test]
fn layers_parents_and_children_are_no_cycle() {
    let found = cycles(&[
        ("lib.rs", "mod base;\nmod top;\npub use base::Base;\n"),
        ("base.rs", "pub struct Base;\n"),
        (
            "top/mod.rs",
            "mod part;\nuse crate::Base;\npub use part::Part;\n",
        ),
        (
            "top/part.rs",
            "pub struct Part(super::super::Base);\nfn f() -> crate::top::Part { todo!() }\n",
        ),
    ]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_missing_module_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "mod gone;\n").unwrap();
    assert!(edge_layering::cycles(&dir.path().join("lib.rs")).is_err());
}
