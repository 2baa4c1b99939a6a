//! Stamps proxy crates out of `templates/`: `edgec new` writes one for the user to keep, taking
//! the Edge crates from a path, a git repository or a registry ([`Source`]); `edgec build` and
//! `edgec run` keep one per config in a cache folder, all sharing one target directory so a
//! rebuild after an edit recompiles only the generated crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_compiler::Sources;

const CARGO_TOML: &str = include_str!("../../../../templates/proxy/Cargo.toml.in");
const BUILD_RS: &str = include_str!("../../../../templates/proxy/build.rs.in");
const CACHED_BUILD_RS: &str = include_str!("../../../../templates/proxy/build.cached.rs.in");
const MAIN_RS: &str = include_str!("../../../../templates/proxy/src/main.rs");
const STARTER: &str = include_str!("../../../../templates/proxy/proxy.edge");
const GITIGNORE: &str = include_str!("../../../../templates/proxy/gitignore");

/// Where the Edge sources (runtime, compiler, Cargo.lock) are: `EDGE_SOURCE_DIR`, or the
/// checkout this `edgec` was built from.
fn source_dir() -> PathBuf {
    std::env::var_os("EDGE_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// `EDGE_CACHE_DIR`, else `$XDG_CACHE_HOME/edge`, else `~/.cache/edge`.
fn cache_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("EDGE_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("edge"));
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/edge"))
        .ok_or_else(|| "no cache folder: set EDGE_CACHE_DIR".to_owned())
}

fn write(path: &Path, content: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn toml_string(text: &str) -> String {
    format!("{text:?}")
}

/// Where a stamped crate takes `edge-runtime` and `edge-compiler` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A folder holding the Edge sources (`runtime/`, `compiler/`): written relative to the
    /// crate when both are under one folder besides `/`, so they can move together.
    Path(PathBuf),
    /// A git repository, at a commit, tag or branch (`rev`), else its default branch.
    Git { url: String, rev: Option<String> },
    /// A registry (crates.io, or one cargo is configured for), at this version requirement.
    Version(String),
}

impl Source {
    /// The Edge sources this `edgec` was built from, or `EDGE_SOURCE_DIR`.
    pub fn checkout() -> Result<Source, String> {
        source_dir()
            .canonicalize()
            .map(Source::Path)
            .map_err(|e| format!("cannot find the Edge sources (set EDGE_SOURCE_DIR): {e}"))
    }

    /// The dependency on `krate` as an inline TOML value, for a crate in `dir`, with `extra`
    /// keys (`default-features = false`) appended.
    fn dependency(&self, krate: &str, dir: &Path, extra: &str) -> String {
        let table = match self {
            Source::Path(sources) => {
                let folder = sources.join(krate);
                let path = relative(dir, &folder).unwrap_or(folder);
                format!("path = {}", toml_string(&path.display().to_string()))
            }
            Source::Git { url, rev } => match rev {
                Some(rev) => format!("git = {}, rev = {}", toml_string(url), toml_string(rev)),
                None => format!("git = {}", toml_string(url)),
            },
            Source::Version(version) => format!("version = {}", toml_string(version)),
        };
        format!("{{ {table}{extra} }}")
    }
}

/// `to` as a path relative to the folder `from` (both absolute), when they share a folder
/// other than `/`.
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    if common < 2 {
        return None;
    }
    let ups = from.components().count() - common;
    let mut path: PathBuf = std::iter::repeat_n("..", ups).collect();
    path.extend(to.components().skip(common));
    Some(path)
}

/// A package name from a file or folder name: `my proxy.edge` → `my-proxy`.
fn package_name(stem: &str) -> String {
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.to_owned()
    } else {
        format!("edge-{name}")
    }
}

/// Writes a crate that compiles `config` (a path as the crate's build script sees it), with
/// the Edge crates from `source` and the build script `build_rs`.
fn stamp(
    dir: &Path,
    name: &str,
    config: &str,
    source: &Source,
    build_rs: &str,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let at = dir
        .canonicalize()
        .map_err(|e| format!("cannot find {}: {e}", dir.display()))?;
    let manifest = CARGO_TOML
        .replace("{{name}}", name)
        .replace("{{runtime}}", &source.dependency("runtime", &at, ""))
        .replace(
            "{{compiler}}",
            &source.dependency("compiler", &at, ", default-features = false"),
        );
    write(&dir.join("Cargo.toml"), &manifest)?;
    write(
        &dir.join("build.rs"),
        &build_rs.replace("{{config}}", &format!("{config:?}")),
    )?;
    write(&dir.join("src/main.rs"), MAIN_RS)?;
    // The versions the Edge sources were tested with (cargo updates the Edge crates' own
    // entries for a git or registry source).
    let sources = source_dir();
    if let Ok(lock) = std::fs::read_to_string(sources.join("Cargo.lock")) {
        if !dir.join("Cargo.lock").exists() {
            write(&dir.join("Cargo.lock"), &lock)?;
        }
    }
    Ok(())
}

/// `edgec new DIR`: a crate with its own starter config, the Edge crates from `source`.
pub fn new(dir: &Path, source: &Source) -> Result<(), String> {
    if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    let stem = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_owned())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "proxy".to_owned());
    stamp(dir, &package_name(&stem), "proxy.edge", source, BUILD_RS)?;
    write(&dir.join("proxy.edge"), STARTER)?;
    write(&dir.join(".gitignore"), GITIGNORE)
}

/// FNV-1a's starting value.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, a stable short hash, carried on from `hash` over `bytes`.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the config's files say, as one hash: their texts in the order read, each with its
/// length so that no two different sets of texts run together the same way. Names are left
/// out: the same text read by another path is the same config.
fn digest(sources: &Sources) -> u64 {
    sources.files().fold(FNV_OFFSET, |hash, file| {
        let hash = fnv1a(hash, &(file.text.len() as u64).to_le_bytes());
        fnv1a(hash, file.text.as_bytes())
    })
}

/// Builds the proxy for `config` in the cache and returns the binary's path; `sources` are
/// the config's files as checked. With `files_at_start`, files absent here are left for the
/// proxy to check when it starts; with `dev`, with the crate's development profile. The
/// crate's build script runs again only when the files' content changed since the last
/// build (cargo still rebuilds for a new Edge or toolchain, and is then a no-op).
pub fn build(
    config: &Path,
    sources: &Sources,
    dev: bool,
    files_at_start: bool,
) -> Result<PathBuf, String> {
    let config = config
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = package_name(&stem);
    let cache = cache_dir()?;
    // Tells the cached crates of same-named configs apart.
    let key = fnv1a(FNV_OFFSET, config.as_os_str().as_encoded_bytes());
    // The crate, and so its binary, is named for the config's path too: every cached crate
    // shares one target folder, where `release/NAME` would hold whichever same-named config
    // was built last, and cargo does not copy it again for a crate that is up to date.
    let package = format!("{name}-{key:016x}");
    let dir = cache.join("crates").join(&package);
    stamp(
        &dir,
        &package,
        &config.display().to_string(),
        &Source::checkout()?,
        CACHED_BUILD_RS,
    )?;
    write(
        &dir.join("edge.digest"),
        &format!("{:016x}\n", digest(sources)),
    )?;
    let target = cache.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env(
            edge_compiler::FILES_AT_START_VAR,
            if files_at_start { "1" } else { "0" },
        );
    if !dev {
        command.arg("--release");
    }
    let purpose = if dev {
        " for development (--dev): slower, not for production"
    } else {
        ""
    };
    eprintln!("edgec: building {name} from {}{purpose}", config.display());
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed for {}", dir.display()));
    }
    Ok(target
        .join(if dev { "debug" } else { "release" })
        .join(package))
}

/// Replaces this process with the built proxy.
pub fn exec(binary: &Path) -> String {
    use std::os::unix::process::CommandExt;
    let error = Command::new(binary).exec();
    format!("cannot start {}: {error}", binary.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_when_they_share_a_folder() {
        let from = Path::new("/work/app/proxy");
        assert_eq!(
            relative(from, Path::new("/work/edge/runtime")),
            Some(PathBuf::from("../../edge/runtime"))
        );
        assert_eq!(
            relative(from, Path::new("/work/app/proxy/vendor/runtime")),
            Some(PathBuf::from("vendor/runtime"))
        );
        assert_eq!(relative(from, Path::new("/opt/edge/runtime")), None);
    }

    #[test]
    fn dependencies_name_their_source() {
        let dir = Path::new("/work/app/proxy");
        let path = Source::Path(PathBuf::from("/work/edge"));
        assert_eq!(
            path.dependency("compiler", dir, ", default-features = false"),
            r#"{ path = "../../edge/compiler", default-features = false }"#
        );
        let git = Source::Git {
            url: "https://git.example.com/edge.git".to_owned(),
            rev: Some("v0.1.0".to_owned()),
        };
        assert_eq!(
            git.dependency("runtime", dir, ""),
            r#"{ git = "https://git.example.com/edge.git", rev = "v0.1.0" }"#
        );
        assert_eq!(
            Source::Version("0.1".to_owned()).dependency("runtime", dir, ""),
            r#"{ version = "0.1" }"#
        );
    }
}
