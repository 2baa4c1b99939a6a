//! Snapshot tests of the code generated for every example, plus the properties the generated
//! code must always have: deterministic output and no dynamic dispatch or maps.

use std::path::Path;

use edge_compiler::{analyze, SourceFile};

/// The code generated for an example, with the examples folder written as `$EXAMPLES` so
/// the snapshots do not depend on where the repository is checked out (paths of files a
/// config names are absolute in generated code), formatted again after that.
fn generate(path: &Path) -> String {
    let dir = std::path::absolute(path.parent().unwrap()).unwrap();
    let name = dir.join(path.file_name().unwrap()).display().to_string();
    let source = SourceFile::new(name, std::fs::read_to_string(path).unwrap());
    let analysis = analyze(&source);
    let code = analysis.generate(&source.name).unwrap_or_else(|| {
        panic!(
            "{} has errors:\n{}",
            source.name,
            source.render(&analysis.diagnostics)
        )
    });
    // Formatted again once the folder is replaced: where prettyplease wraps a line depends on
    // the length of the paths in it, and so on where the repository is checked out.
    let code = code.replace(&dir.display().to_string(), "$EXAMPLES");
    let file = syn::parse_file(&code).expect("generated code parses");
    prettyplease::unparse(&file)
}

fn examples() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "edge"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "the examples went missing");
    paths
}

#[test]
fn generated_code_matches_snapshots() {
    for path in examples() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(stem, generate(&path));
    }
}

#[test]
fn generated_code_is_deterministic() {
    for path in examples() {
        assert_eq!(generate(&path), generate(&path), "{}", path.display());
    }
}

#[test]
fn generated_code_has_no_dynamic_dispatch_or_maps() {
    for path in examples() {
        let code = generate(&path);
        for banned in ["dyn ", "HashMap", "BTreeMap", "Box<"] {
            assert!(
                !code.contains(banned),
                "{} generates `{banned}`",
                path.display()
            );
        }
    }
}
