//! The files and patterns policies name, checked at build time so a broken key set, password
//! file or schema is a diagnostic naming the file, not a failed start. Like certificates, the
//! files stay live data: the proxy reads them at start-up by absolute path.

use std::path::{Path, PathBuf};

use edge_dsl::{Diagnostic, Label, Spanned};
use edge_formats::public_key::Algorithms;
use edge_formats::{api_keys as api_key_file, htpasswd as htpasswd_file, jwks as jwks_file, pem};

use crate::files::{absolute, resolve, unreadable};

fn read(what: &str, base: &Path, file: &Spanned<String>) -> Result<(PathBuf, Vec<u8>), Diagnostic> {
    let path = resolve(base, &file.value);
    let bytes =
        std::fs::read(&path).map_err(|error| unreadable(what, file, &path, error.to_string()))?;
    Ok((path, bytes))
}

/// Reads the file as the proxy will (with the same reader), so a file accepted here loads.
fn check<T, E: std::fmt::Display>(
    what: &str,
    base: &Path,
    file: &Spanned<String>,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<PathBuf, Diagnostic> {
    let (path, bytes) = read(what, base, file)?;
    match parse(&bytes) {
        Ok(_) => Ok(absolute(path)),
        Err(error) => Err(unreadable(what, file, &path, error.to_string())),
    }
}

/// A JWKS file with at least one signing key for the `allowed` algorithms.
pub fn jwks(
    base: &Path,
    file: &Spanned<String>,
    allowed: Algorithms,
) -> Result<PathBuf, Diagnostic> {
    check("the key set", base, file, |bytes| {
        jwks_file::parse(bytes, allowed)
    })
}

/// A PEM public key or certificate whose key verifies tokens of an `allowed` algorithm.
pub fn public_key(
    base: &Path,
    file: &Spanned<String>,
    allowed: Algorithms,
) -> Result<PathBuf, Diagnostic> {
    check("the public key", base, file, |bytes| {
        pem::parse(bytes, allowed)
    })
}

/// An htpasswd file of bcrypt entries (`htpasswd -B`), each user once.
pub fn htpasswd(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    check("the password file", base, file, htpasswd_file::parse)
}

/// An API key file: `CONSUMER sha256:HEX` per line, each key hash once.
pub fn api_keys(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    check("the key file", base, file, api_key_file::parse)
}

/// A JSON Schema that compiles.
pub fn json_schema(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let (path, bytes) = read("the schema", base, file)?;
    let fail = |reason: String| unreadable("the schema", file, &path, reason);
    let schema: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| fail(format!("not JSON: {error}")))?;
    jsonschema::validator_for(&schema)
        .map_err(|error| fail(format!("not a valid JSON Schema: {error}")))?;
    Ok(absolute(path))
}

/// A regular expression the runtime's `regex` crate accepts.
pub fn regex(pattern: &Spanned<String>) -> Result<(), Diagnostic> {
    regex::Regex::new(&pattern.value)
        .map(drop)
        .map_err(|error| {
            let detail = error.to_string();
            let last = detail.lines().last().unwrap_or("invalid").trim().to_owned();
            Diagnostic::error("invalid regular expression")
                .with_label(Label::primary(pattern.span, last))
                .with_help(
                    "the syntax is that of the `regex` crate (no look-around or back-references)",
                )
        })
}
