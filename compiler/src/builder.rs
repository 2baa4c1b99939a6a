//! The build API for a crate's `build.rs`: compiles a `.edge` file into `$OUT_DIR`, tells cargo
//! when to rerun and when the config was compiled (`EDGE_BUILT_AT`, shown by the proxy's
//! `--version`), and fails the build with rendered diagnostics when the file is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{analyze_with, Options, SourceFile};

/// Why a build could not produce its module.
pub enum Error {
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The `.edge` file has errors; holds the rendered diagnostics.
    Invalid(String),
    /// `OUT_DIR` is not set: not running inside a build script and no `out_dir` was given.
    NoOutDir,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "cannot access {}: {source}", path.display()),
            Error::Invalid(rendered) => write!(f, "the edge config has errors\n\n{rendered}"),
            Error::NoOutDir => {
                f.write_str("OUT_DIR is not set; call this from build.rs or set an out_dir")
            }
        }
    }
}

/// Shows the rendered diagnostics as they are, so `fn main() -> Result<(), Error>` in a build
/// script prints a readable failure.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// The variable that, set to `1`, builds with [`Builder::files_at_start`].
pub const FILES_AT_START_VAR: &str = "EDGE_FILES_AT_START";

/// Compiles `config` into `$OUT_DIR/edge_config.rs` with default settings, and files left for
/// start-up when `EDGE_FILES_AT_START=1`.
pub fn compile(config: impl AsRef<Path>) -> Result<(), Error> {
    Builder::new(config).compile().map(drop)
}

/// Settings for compiling one `.edge` file from a build script.
pub struct Builder {
    config: PathBuf,
    out_dir: Option<PathBuf>,
    file_name: String,
    cargo_directives: bool,
    rerun_on: Option<PathBuf>,
    options: Options,
}

impl Builder {
    pub fn new(config: impl AsRef<Path>) -> Self {
        Builder {
            config: config.as_ref().to_owned(),
            out_dir: None,
            file_name: "edge_config.rs".to_owned(),
            cargo_directives: true,
            rerun_on: None,
            options: Options {
                files_at_start: std::env::var(FILES_AT_START_VAR).is_ok_and(|v| v == "1"),
            },
        }
    }

    /// Where to write the module (default: `$OUT_DIR`).
    pub fn out_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.out_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The module's file name (default: `edge_config.rs`).
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = name.into();
        self
    }

    /// Whether to print `cargo:` directives (default: yes).
    pub fn cargo_directives(&mut self, enabled: bool) -> &mut Self {
        self.cargo_directives = enabled;
        self
    }

    /// Reruns the build when `stamp` changes instead of when the config or a file it includes
    /// does (default: the config and its includes). Cargo compares files' modification times,
    /// so a config saved unchanged, checked out again or touched rebuilds the proxy; a caller
    /// that rewrites `stamp` only when the config's content changes rebuilds it only then.
    pub fn rerun_on(&mut self, stamp: impl AsRef<Path>) -> &mut Self {
        self.rerun_on = Some(stamp.as_ref().to_owned());
        self
    }

    /// Whether files the config names may be absent here, to be checked by the proxy when it
    /// starts (default: `EDGE_FILES_AT_START=1`). Present files are checked either way.
    pub fn files_at_start(&mut self, enabled: bool) -> &mut Self {
        self.options.files_at_start = enabled;
        self
    }

    /// Checks the config and writes the module, returning its path.
    pub fn compile(&self) -> Result<PathBuf, Error> {
        if self.cargo_directives {
            let watched = self.rerun_on.as_ref().unwrap_or(&self.config);
            println!("cargo:rerun-if-changed={}", watched.display());
            println!("cargo:rerun-if-env-changed={FILES_AT_START_VAR}");
        }
        let text = std::fs::read_to_string(&self.config).map_err(|source| Error::Io {
            path: self.config.clone(),
            source,
        })?;
        let source = SourceFile::new(self.config.display().to_string(), text);
        let analysis = analyze_with(&source, self.options);
        if self.cargo_directives && self.rerun_on.is_none() {
            // An included file, or a new file in an included folder, changes the config too.
            let mut folders: Vec<&std::path::Path> = Vec::new();
            for file in analysis.sources.files().skip(1) {
                println!("cargo:rerun-if-changed={}", file.name);
                let folder = std::path::Path::new(&file.name).parent();
                if let Some(folder) = folder.filter(|folder| !folders.contains(folder)) {
                    println!("cargo:rerun-if-changed={}", folder.display());
                    folders.push(folder);
                }
            }
        }
        let rendered = analysis.sources.render(&analysis.diagnostics);
        let Some(code) = analysis.generate() else {
            return Err(Error::Invalid(rendered));
        };
        if self.cargo_directives {
            for line in rendered.lines().filter(|line| !line.is_empty()) {
                println!("cargo:warning={line}");
            }
            for deferred in &analysis.deferred {
                println!("cargo:warning={deferred}");
            }
            println!("cargo:rustc-env=EDGE_BUILT_AT={}", built_at());
        }
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        let path = out_dir.join(&self.file_name);
        write_if_changed(&path, &code)?;
        Ok(path)
    }
}

/// Now, or `SOURCE_DATE_EPOCH` for a reproducible build, in RFC 3339.
fn built_at() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map(|seconds| std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds));
    humantime::format_rfc3339_seconds(epoch.unwrap_or_else(std::time::SystemTime::now)).to_string()
}

fn write_if_changed(path: &Path, content: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}
