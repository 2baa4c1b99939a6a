//! Every `examples/*.edge` file has its binary in `src/bin/`, so its generated code is
//! compiled and linted with the rest of the workspace.

use std::path::Path;

#[test]
fn every_example_has_a_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut examples = 0;
    for entry in std::fs::read_dir(dir).expect("the examples folder is readable") {
        let path = entry.expect("a readable entry").path();
        if path.extension().is_some_and(|ext| ext == "edge") {
            examples += 1;
            let stem = path.file_stem().expect("a file name").to_string_lossy();
            let binary = dir.join("src/bin").join(format!("{stem}.rs"));
            if !binary.is_file() {
                missing.push(format!("{stem}.edge has no src/bin/{stem}.rs"));
            }
        }
    }
    assert!(examples >= 6, "the examples went missing");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
