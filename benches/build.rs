//! Writes the router bench's route tables (10, 100 and 1,000 routes) as `.edge` files into
//! `OUT_DIR` and compiles each through the build API into `router_N.rs`, which
//! `benches/router.rs` includes. The tables come from `benches/common/router_table.rs`, the same
//! code the bench builds its interpreted routers from.

#[path = "benches/common/router_table.rs"]
mod router_table;

/// The table sizes; `benches/router.rs` includes one module per size. `router_overlap.rs`, a
/// table where order decides, is for `tests/router.rs`.
const SIZES: [usize; 3] = [10, 100, 1_000];

fn main() -> Result<(), edge_compiler::Error> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=benches/common/router_table.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let tables = SIZES
        .iter()
        .map(|n| (n.to_string(), router_table::table(*n)))
        .chain([("overlap".to_owned(), router_table::overlapping())]);
    for (n, table) in tables {
        let config = out.join(format!("router_{n}.edge"));
        let text = router_table::to_edge(&table);
        if std::fs::read_to_string(&config).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&config, text).expect("OUT_DIR is writable");
        }
        // The `.edge` file is generated here, so cargo watches its sources (above) instead.
        edge_compiler::Builder::new(&config)
            .out_dir(&out)
            .file_name(format!("router_{n}.rs"))
            .cargo_directives(false)
            .compile()?;
    }
    Ok(())
}
