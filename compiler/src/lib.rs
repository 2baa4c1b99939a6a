//! The Edge compiler: checks a `.edge` file and compiles it into a Rust module that links with
//! `edge-runtime`. Three ways in share one path: [`analyze`] (what `edgec check` and
//! `edgec expand` run), the [`Builder`] for a crate's `build.rs` (like prost-build), and the
//! `edgec` command line.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), edge_compiler::Error> {
//!     edge_compiler::compile("proxy.edge")
//! }
//! ```

mod builder;
mod check;
mod codegen;
mod config_tests;
mod files;
mod ident;
mod instances;
mod matching;
pub mod model;
mod policy_files;
mod policy_model;

pub use builder::{compile, Builder, Error};
pub use edge_dsl::{Diagnostic, Severity, SourceFile};

/// The outcome of checking one `.edge` file.
pub struct Analysis {
    /// The checked model, when the file has no errors.
    pub model: Option<model::Model>,
    /// Every error and warning, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    /// The generated Rust module, when the file has no errors.
    pub fn generate(&self, source_name: &str) -> Option<String> {
        self.model
            .as_ref()
            .map(|model| codegen::generate(model, source_name))
    }
}

/// Parses and checks one `.edge` file.
pub fn analyze(source: &SourceFile) -> Analysis {
    match edge_dsl::parse(source) {
        Ok(config) => {
            let base = std::path::Path::new(&source.name)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            let checked = check::check(&config, base);
            Analysis {
                model: checked.model,
                diagnostics: checked.diagnostics,
            }
        }
        Err(diagnostics) => Analysis {
            model: None,
            diagnostics,
        },
    }
}
