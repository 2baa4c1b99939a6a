//! The build API for a crate's `build.rs`: compiles a `.edge` file into `$OUT_DIR`, tells cargo
//! when to rerun, and fails the build with rendered diagnostics when the file is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{analyze, SourceFile};

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

/// Compiles `config` into `$OUT_DIR/edge_config.rs` with default settings.
pub fn compile(config: impl AsRef<Path>) -> Result<(), Error> {
    Builder::new(config).compile().map(drop)
}

/// Settings for compiling one `.edge` file from a build script.
pub struct Builder {
    config: PathBuf,
    out_dir: Option<PathBuf>,
    file_name: String,
    cargo_directives: bool,
}

impl Builder {
    pub fn new(config: impl AsRef<Path>) -> Self {
        Builder {
            config: config.as_ref().to_owned(),
            out_dir: None,
            file_name: "edge_config.rs".to_owned(),
            cargo_directives: true,
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

    /// Checks the config and writes the module, returning its path. The file is rewritten only
    /// when its content changes, so an unchanged config does not trigger a rebuild.
    pub fn compile(&self) -> Result<PathBuf, Error> {
        if self.cargo_directives {
            println!("cargo:rerun-if-changed={}", self.config.display());
        }
        let text = std::fs::read_to_string(&self.config).map_err(|source| Error::Io {
            path: self.config.clone(),
            source,
        })?;
        let source = SourceFile::new(self.config.display().to_string(), text);
        let analysis = analyze(&source);
        let rendered = source.render(&analysis.diagnostics);
        let Some(code) = analysis.generate(&source.name) else {
            return Err(Error::Invalid(rendered));
        };
        if self.cargo_directives {
            for line in rendered.lines().filter(|line| !line.is_empty()) {
                println!("cargo:warning={line}");
            }
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

fn write_if_changed(path: &Path, content: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}
