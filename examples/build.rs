//! Compiles every `examples/*.edge` file into `$OUT_DIR/NAME.rs` through the build API, so
//! each example is a binary of this crate (and a broken example fails the workspace build).

fn main() -> Result<(), edge_compiler::Error> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(dir).expect("the examples folder is readable");
    for entry in entries {
        let path = entry.expect("a readable entry").path();
        if path.extension().is_some_and(|ext| ext == "edge") {
            let stem = path.file_stem().expect("a file name").to_string_lossy();
            edge_compiler::Builder::new(&path)
                .file_name(format!("{stem}.rs"))
                .compile()?;
        }
    }
    Ok(())
}
