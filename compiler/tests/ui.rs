//! UI tests of the checks: each `tests/ui/NAME.edge` parses, is checked, and its rendered
//! diagnostics are compared with `tests/ui/NAME.stderr`, exactly. Run with `BLESS=1` to write the
//! expected files after a deliberate change, then review the diff. Syntax and lowering mistakes
//! are the language's own UI tests, in `dsl/tests/ui`.

use std::path::Path;

use edge_compiler::{analyze, SourceFile};

#[test]
fn diagnostics_match_expected_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ui exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "edge"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the UI cases went missing");
    let mut failures = Vec::new();
    for case in &cases {
        let name = format!("tests/ui/{}", case.file_name().unwrap().to_string_lossy());
        let source = SourceFile::new(&name, std::fs::read_to_string(case).unwrap());
        assert!(
            edge_dsl::parse(&source).is_ok(),
            "{name} does not parse: its diagnostics belong in dsl/tests/ui"
        );
        let analysis = analyze(&source);
        assert!(
            !analysis.diagnostics.is_empty(),
            "{name} produced no diagnostic"
        );
        let actual = analysis.sources.render(&analysis.diagnostics);
        let expected_path = case.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "── {name}\n── expected ({})\n{expected}\n── actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "diagnostics differ (BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}
