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
pub mod explain;
mod files;
pub mod graph;
mod ident;
mod instances;
mod matching;
pub mod model;
mod policy_files;
mod policy_model;
mod spelling;

pub use builder::{compile, Builder, Error, FILES_AT_START_VAR};
pub use edge_dsl::{Diagnostic, Severity, SourceFile, Sources};
pub use files::Deferred;

/// How a config is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The files the config names may be absent here: those that are are left for the proxy
    /// to check when it starts (see [`Analysis::deferred`]), for builds on a machine that does
    /// not hold the production certificates and keys.
    pub files_at_start: bool,
}

/// The outcome of checking one `.edge` file (and the files it includes).
pub struct Analysis {
    /// The config's files, which the diagnostics' spans point into: render them with
    /// [`Sources::render`] or [`Sources::emit_to_stderr`].
    pub sources: Sources,
    /// The checked model, when the file has no errors.
    pub model: Option<model::Model>,
    /// Every error and warning, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// The files absent at build time, checked by the proxy at start-up instead.
    pub deferred: Vec<Deferred>,
}

impl Analysis {
    /// The generated Rust module, when the config has no errors.
    pub fn generate(&self) -> Option<String> {
        let whole = SourceFile::new(self.sources.root().name.clone(), self.sources.text());
        self.model
            .as_ref()
            .map(|model| codegen::generate(model, &whole))
    }
}

/// Parses and checks one `.edge` file, every file it names present.
pub fn analyze(source: &SourceFile) -> Analysis {
    analyze_with(source, Options::default())
}

/// Parses and checks one `.edge` file, with the files it includes (read relative to the
/// including file's folder, so `source.name` should be its path).
pub fn analyze_with(source: &SourceFile, options: Options) -> Analysis {
    let mut sources = Sources::new(source.clone());
    match edge_dsl::parse_config(&mut sources) {
        Ok(config) => {
            let base = std::path::Path::new(&source.name)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            let folder = files::Folder::new(base, options.files_at_start);
            let checked = check::check(&config, &folder, &source.name);
            Analysis {
                sources,
                model: checked.model,
                diagnostics: checked.diagnostics,
                deferred: folder.into_deferred(),
            }
        }
        Err(diagnostics) => Analysis {
            sources,
            model: None,
            diagnostics,
            deferred: Vec::new(),
        },
    }
}
