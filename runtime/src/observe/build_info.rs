//! What a proxy tells of the config it was built from: the `--version` line, the text for
//! `--print-config`, the `edge_build_info` metric, and where its relative paths start when it
//! is given no run-time root.

/// The config a proxy was built from, as `--version`, `--print-config` and the
/// `edge_build_info` metric tell it, and where its relative paths start by default.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    /// The `.edge` file's name.
    pub config_name: &'static str,
    /// The SHA-256 of its text, in lowercase hex.
    pub config_sha256: &'static str,
    /// When its code was generated (RFC 3339), when the build said.
    pub built_at: Option<&'static str>,
    /// The folder relative paths are read from when neither `--root` nor `EDGE_ROOT` names
    /// one: the config's folder where the proxy was built.
    pub root: &'static str,
    /// The config's text.
    pub config_text: &'static str,
    /// The config drawn as `edgec graph` draws it: an SVG document, shown by the admin
    /// listener's page; `""` when none was drawn.
    pub topology: &'static str,
}

impl BuildInfo {
    /// The runtime's version, which is Edge's.
    pub const EDGE_VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// The `--version` line: `edge 0.1.0 (gateway.edge sha256:… built …)`.
    pub fn version_line(&self) -> String {
        let built = self
            .built_at
            .map_or_else(String::new, |at| format!(", built {at}"));
        format!(
            "edge {} ({} sha256:{}{built})",
            Self::EDGE_VERSION,
            self.config_name,
            self.config_sha256
        )
    }
}
