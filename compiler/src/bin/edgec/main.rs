//! `edgec`: checks and formats `.edge` files, shows the Rust they compile to, and builds, runs or scaffolds
//! the proxy crates that link them with the runtime.

mod fmt;
mod scaffold;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edge_compiler::{analyze_with, Diagnostic, Options, SourceFile};

#[derive(Parser)]
#[command(
    name = "edgec",
    version,
    about = "The Edge compiler: .edge files into proxy binaries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the files a config names are checked.
#[derive(clap::Args, Clone, Copy)]
struct FileChecks {
    /// Files the config names (certificates, keys, key sets, password files, schemas) may be
    /// absent here: the proxy checks those when it starts, relative paths from its run-time
    /// root (`--root` or `EDGE_ROOT`). Files that are present are checked all the same.
    #[arg(long)]
    files_at_start: bool,
}

impl FileChecks {
    fn options(self) -> Options {
        Options {
            files_at_start: self.files_at_start,
        }
    }
}

/// Where a new crate takes the Edge crates from; by default the sources this `edgec` was
/// built from (or `EDGE_SOURCE_DIR`), by a path relative to the crate when they share a
/// folder.
#[derive(clap::Args)]
struct EdgeSource {
    /// The Edge sources in this folder (holding `runtime/` and `compiler/`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["edge_git", "edge_version"])]
    edge_path: Option<PathBuf>,
    /// The Edge repository at this git URL.
    #[arg(long, value_name = "URL", conflicts_with = "edge_version")]
    edge_git: Option<String>,
    /// With `--edge-git`: the commit, tag or branch to build.
    #[arg(long, value_name = "REV", requires = "edge_git")]
    edge_rev: Option<String>,
    /// The Edge crates of a registry, at this version requirement.
    #[arg(long, value_name = "VERSION")]
    edge_version: Option<String>,
}

impl EdgeSource {
    fn source(self) -> Result<scaffold::Source, String> {
        if let Some(url) = self.edge_git {
            return Ok(scaffold::Source::Git {
                url,
                rev: self.edge_rev,
            });
        }
        if let Some(version) = self.edge_version {
            return Ok(scaffold::Source::Version(version));
        }
        match self.edge_path {
            Some(dir) => dir
                .canonicalize()
                .map(scaffold::Source::Path)
                .map_err(|e| format!("cannot find the Edge sources at {}: {e}", dir.display())),
            None => scaffold::Source::checkout(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check a config and print its diagnostics; exits 1 when it has errors.
    Check {
        file: PathBuf,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Rewrite configs in the canonical layout (folders: every `.edge` file under them; `-`:
    /// standard input to standard output).
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 if a file is not formatted, naming its first differing line.
        #[arg(long)]
        check: bool,
    },
    /// Print the Rust code a config compiles to.
    Expand {
        file: PathBuf,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Build a proxy binary from a config.
    Build {
        file: PathBuf,
        /// Where to put the binary.
        #[arg(short, long)]
        output: PathBuf,
        /// Build without optimisations (faster to build, slower to run).
        #[arg(long)]
        debug: bool,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Build a proxy from a config and run it.
    Run {
        file: PathBuf,
        #[arg(long)]
        debug: bool,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Create a crate that builds a proxy from its own `.edge` file.
    New {
        dir: PathBuf,
        #[command(flatten)]
        edge: EdgeSource,
    },
}

/// `1 pool`, `2 pools`, `3 policies`.
fn counted(count: usize, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        (_, None) => format!("{count} {noun}s"),
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Check { file, files } => check(&file, files).map(|(source, analysis)| {
            let summary = analysis.model.as_ref().map(|model| {
                let routes: usize = model.listeners.iter().map(|l| l.routes.len()).sum();
                format!(
                    "{}: ok ({}, {}, {}, {})",
                    source.name,
                    counted(model.listeners.len(), "listener"),
                    counted(model.pools.len(), "pool"),
                    counted(routes, "route"),
                    counted(model.policies.len(), "policy"),
                )
            });
            println!("{}", summary.unwrap_or_default());
        }),
        Command::Fmt { files, check } => fmt::run(&files, check),
        Command::Expand { file, files } => check(&file, files)
            .map(|(source, analysis)| print!("{}", analysis.generate(&source).unwrap_or_default())),
        Command::Build {
            file,
            output,
            debug,
            files,
        } => check(&file, files).and_then(|_| {
            let binary = scaffold::build(&file, debug, files.files_at_start)?;
            std::fs::copy(&binary, &output)
                .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            eprintln!("edgec: built {}", output.display());
            Ok(())
        }),
        Command::Run { file, debug, files } => check(&file, files).and_then(|_| {
            let binary = scaffold::build(&file, debug, files.files_at_start)?;
            Err(scaffold::exec(&binary))
        }),
        Command::New { dir, edge } => edge
            .source()
            .and_then(|source| scaffold::new(&dir, &source))
            .map(|()| {
                println!(
                    "created {}: `cd {}` then `cargo run --release`",
                    dir.display(),
                    dir.display()
                );
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Reads and checks a config, printing its diagnostics and the files left for start-up; an
/// `Err` when it has errors (already reported, so the message is empty) or cannot be read.
fn check(path: &Path, files: FileChecks) -> Result<(SourceFile, edge_compiler::Analysis), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let source = SourceFile::new(path.display().to_string(), text);
    let analysis = analyze_with(&source, files.options());
    source.emit_to_stderr(&analysis.diagnostics);
    for deferred in &analysis.deferred {
        eprintln!("note: {deferred}");
    }
    if analysis.diagnostics.iter().any(Diagnostic::is_error) {
        let errors = analysis.diagnostics.iter().filter(|d| d.is_error()).count();
        eprintln!(
            "error: {} has {errors} error{}",
            source.name,
            if errors == 1 { "" } else { "s" }
        );
        return Err(String::new());
    }
    Ok((source, analysis))
}
