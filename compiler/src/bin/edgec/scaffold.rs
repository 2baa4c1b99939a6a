//! Stamps proxy crates out of `templates/`: `edgec new` writes one for the user to keep;
//! `edgec build` and `edgec run` keep one per config in a cache folder, all sharing one target
//! directory so a rebuild after an edit recompiles only the generated crate.

use std::path::{Path, PathBuf};
use std::process::Command;

const CARGO_TOML: &str = include_str!("../../../../templates/proxy/Cargo.toml.in");
const BUILD_RS: &str = include_str!("../../../../templates/proxy/build.rs.in");
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

fn toml_string(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
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

/// Writes a crate that compiles `config` (a path as the crate's build script sees it).
fn stamp(dir: &Path, name: &str, config: &str) -> Result<(), String> {
    let sources = source_dir()
        .canonicalize()
        .map_err(|e| format!("cannot find the Edge sources (set EDGE_SOURCE_DIR): {e}"))?;
    let manifest = CARGO_TOML
        .replace("{{name}}", name)
        .replace("{{runtime}}", &toml_string(&sources.join("runtime")))
        .replace("{{compiler}}", &toml_string(&sources.join("compiler")));
    write(&dir.join("Cargo.toml"), &manifest)?;
    write(
        &dir.join("build.rs"),
        &BUILD_RS.replace("{{config}}", &format!("{config:?}")),
    )?;
    write(&dir.join("src/main.rs"), MAIN_RS)?;
    if let Ok(lock) = std::fs::read_to_string(sources.join("Cargo.lock")) {
        if !dir.join("Cargo.lock").exists() {
            write(&dir.join("Cargo.lock"), &lock)?;
        }
    }
    Ok(())
}

/// `edgec new DIR`: a crate with its own starter config.
pub fn new(dir: &Path) -> Result<(), String> {
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
    stamp(dir, &package_name(&stem), "proxy.edge")?;
    write(&dir.join("proxy.edge"), STARTER)?;
    write(&dir.join(".gitignore"), GITIGNORE)
}

/// FNV-1a: a stable short hash to tell cached crates of same-named configs apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Builds the proxy for `config` in the cache and returns the binary's path; with
/// `files_at_start`, files absent here are left for the proxy to check when it starts.
pub fn build(config: &Path, debug: bool, files_at_start: bool) -> Result<PathBuf, String> {
    let config = config
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = package_name(&stem);
    let cache = cache_dir()?;
    let key = fnv1a(config.as_os_str().as_encoded_bytes());
    // The crate, and so its binary, is named for the config's path too: every cached crate
    // shares one target folder, where `release/NAME` would hold whichever same-named config
    // was built last, and cargo does not copy it again for a crate that is up to date.
    let package = format!("{name}-{key:016x}");
    let dir = cache.join("crates").join(&package);
    stamp(&dir, &package, &config.display().to_string())?;
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
    if !debug {
        command.arg("--release");
    }
    eprintln!("edgec: building {name} from {}", config.display());
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed for {}", dir.display()));
    }
    Ok(target
        .join(if debug { "debug" } else { "release" })
        .join(package))
}

/// Replaces this process with the built proxy.
pub fn exec(binary: &Path) -> String {
    use std::os::unix::process::CommandExt;
    let error = Command::new(binary).exec();
    format!("cannot start {}: {error}", binary.display())
}
