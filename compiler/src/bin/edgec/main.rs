//! `edgec`: checks and formats `.edge` files, shows the Rust they compile to, builds, runs or scaffolds
//! the proxy crates that link them with the runtime, and serves editors as a language server.

mod changes;
mod check;
mod explain;
mod fmt;
mod scaffold;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edge_compiler::{analyze_with, Options, SourceFile};

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
pub(crate) struct FileChecks {
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
    /// Check configs (`-`: standard input) and print their diagnostics; exits 1 when one has
    /// errors.
    Check {
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        /// How diagnostics are printed.
        #[arg(long, value_enum, default_value_t)]
        format: check::Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
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
    /// Say what a request meets: its listener and route, each policy in order, where it ends.
    Explain(explain::Args),
    /// Draw configs as a picture: listeners, routes, policies, pools and servers; given the
    /// files of a stack, the servers of one joined to the listeners of the next.
    Graph {
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        /// `svg` is drawn by edgec itself; `dot` is for Graphviz.
        #[arg(long, value_enum, default_value_t)]
        format: GraphFormat,
        #[command(flatten)]
        files: FileChecks,
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
        /// Build for trying a config out, not for production: the generated crate
        /// unoptimised and incremental (seconds to rebuild, about half as fast to serve).
        #[arg(long, alias = "debug")]
        dev: bool,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Build a proxy from a config and run it.
    Run {
        file: PathBuf,
        /// Build as `build --dev` does: not for production.
        #[arg(long, alias = "debug")]
        dev: bool,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Serve a config and keep serving its latest good version: each save is checked, built
    /// and handed the listening sockets of the proxy running (a config with errors swaps
    /// nothing), with what changed and how long each step took.
    Watch {
        file: PathBuf,
        /// Build as `build --dev` does: not for production.
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        files: FileChecks,
    },
    /// Print a completion script for a shell: `source <(edgec completions bash)`.
    Completions { shell: clap_complete::Shell },
    /// Run the language server on standard input and output, for editors.
    Lsp,
    /// Create a crate that builds a proxy from its own `.edge` file.
    New {
        dir: PathBuf,
        #[command(flatten)]
        edge: EdgeSource,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Check {
            configs,
            format,
            deny_warnings,
            files,
        } => check::run(&configs, files.options(), format, deny_warnings),
        Command::Fmt { files, check } => fmt::run(&files, check),
        Command::Explain(args) => explain::run(&args),
        Command::Graph {
            configs,
            format,
            files,
        } => graph(&configs, format, files),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "edgec", &mut std::io::stdout());
            Ok(())
        }
        Command::Expand { file, files } => check(&file, files)
            .map(|(_, analysis)| print!("{}", analysis.generate().unwrap_or_default())),
        Command::Build {
            file,
            output,
            dev,
            files,
        } => check(&file, files).and_then(|(_, analysis)| {
            let binary = scaffold::build(&file, &analysis.sources, dev, files.files_at_start)?;
            std::fs::copy(&binary, &output)
                .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            eprintln!("edgec: built {}", output.display());
            Ok(())
        }),
        Command::Run { file, dev, files } => check(&file, files).and_then(|(_, analysis)| {
            let binary = scaffold::build(&file, &analysis.sources, dev, files.files_at_start)?;
            Err(scaffold::exec(&binary))
        }),
        Command::Watch { file, dev, files } => watch::run(&file, dev, files),
        Command::Lsp => edge_lsp::run_stdio(lsp_check).map_err(|e| e.to_string()),
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

/// The compiler's check of a document open in an editor, for `edgec lsp`: the diagnostics'
/// places in the document. One about a file the document includes is shown at the document's
/// start, its message naming that file; places in other files are left out.
fn lsp_check(source: &SourceFile, files: edge_lsp::Files) -> Vec<edge_compiler::Diagnostic> {
    let options = Options {
        files_at_start: files == edge_lsp::Files::AtStart,
    };
    let analysis = analyze_with(source, options);
    let names: Vec<&str> = analysis.sources.files().map(|f| f.name.as_str()).collect();
    let here = |span| analysis.sources.locate(span).0 == 0;
    let mut diagnostics = analysis.diagnostics.clone();
    for diagnostic in &mut diagnostics {
        let primary = diagnostic.labels.iter().find(|label| label.primary);
        if let Some(elsewhere) = primary.filter(|label| !here(label.span)) {
            let file = names[analysis.sources.locate(elsewhere.span).0];
            diagnostic.message = format!("in {file}: {}", diagnostic.message);
            diagnostic.labels = vec![edge_dsl::Label::primary(
                edge_dsl::Span::new(0, 0),
                "in an included file",
            )];
        }
        diagnostic.labels.retain(|label| here(label.span));
    }
    diagnostics
}

/// What `edgec graph` prints.
#[derive(Clone, Copy, Default, clap::ValueEnum)]
enum GraphFormat {
    #[default]
    Svg,
    Dot,
}

/// Prints the picture of `configs`, each checked first.
fn graph(configs: &[PathBuf], format: GraphFormat, files: FileChecks) -> Result<(), String> {
    let mut checked = Vec::new();
    for path in configs {
        let (source, analysis) = check(path, files)?;
        let model = analysis.model.ok_or_else(String::new)?;
        checked.push((source.name, model));
    }
    let named: Vec<(&str, &edge_compiler::model::Model)> = checked
        .iter()
        .map(|(name, model)| (name.as_str(), model))
        .collect();
    let graph = edge_compiler::graph::Graph::of(&named);
    print!(
        "{}",
        match format {
            GraphFormat::Svg => graph.to_svg(),
            GraphFormat::Dot => graph.to_dot(),
        }
    );
    Ok(())
}

/// Reads and checks a config, printing its diagnostics and the files left for start-up; an
/// `Err` when it has errors (already reported, so the message is empty) or cannot be read.
pub(crate) fn check(
    path: &Path,
    files: FileChecks,
) -> Result<(SourceFile, edge_compiler::Analysis), String> {
    let source = check::read(path)?;
    let analysis = analyze_with(&source, files.options());
    if check::report(&source, &analysis) {
        Ok((source, analysis))
    } else {
        Err(String::new())
    }
}
