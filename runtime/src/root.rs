//! Where the files a config names are found where the proxy runs. A path the `.edge` file
//! writes as relative is relative to the run-time root: `--root DIR`, else `EDGE_ROOT`, else
//! the config's folder on the machine that built the proxy (as nginx's `-p` prefix and its
//! compiled-in default). Absolute paths are used as they are.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The variable naming the run-time root when `--root` does not.
pub(crate) const ROOT_VAR: &str = "EDGE_ROOT";

static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Sets the root, once, before anything is read; later calls change nothing.
pub(crate) fn set(root: PathBuf) {
    let _ = ROOT.set(root);
}

/// Where `path` is: joined to the root when relative (and a root is set).
pub(crate) fn resolve(path: &str) -> PathBuf {
    match ROOT.get() {
        Some(root) => root.join(path),
        None => PathBuf::from(path),
    }
}

/// The root: `flag`, else `EDGE_ROOT` (when set and not empty), else `built`.
pub(crate) fn choose(flag: Option<PathBuf>, built: &str) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(ROOT_VAR)
            .filter(|root| !root.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| Path::new(built).to_owned())
}
