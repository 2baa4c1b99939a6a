//! The files and patterns policies name, checked at build time so a broken key set, password
//! file or schema is a diagnostic naming the file, not a failed start. Like certificates, the
//! files stay live data that the proxy reads at start-up, and may be left for it to check
//! there (see [`Folder`]).

use std::path::PathBuf;

use edge_dsl::{Diagnostic, Label, Spanned};
use edge_formats::public_key::Algorithms;
use edge_formats::{api_keys as api_key_file, htpasswd as htpasswd_file, jwks as jwks_file, pem};

use crate::files::{unreadable, Folder};

fn read(
    what: &str,
    folder: &Folder,
    file: &Spanned<String>,
) -> Result<(PathBuf, Vec<u8>), Diagnostic> {
    let path = folder.resolve(&file.value);
    let bytes =
        std::fs::read(&path).map_err(|error| unreadable(what, file, &path, error.to_string()))?;
    Ok((path, bytes))
}

/// Reads the file as the proxy will (with the same reader), so a file accepted here loads.
/// Files absent here are left for start-up when the folder says so.
fn check<T, E: std::fmt::Display>(
    what: &'static str,
    folder: &Folder,
    file: &Spanned<String>,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<PathBuf, Diagnostic> {
    if folder.defers(what, file) {
        return Ok(PathBuf::from(&file.value));
    }
    let (path, bytes) = read(what, folder, file)?;
    match parse(&bytes) {
        Ok(_) => Ok(PathBuf::from(&file.value)),
        Err(error) => Err(unreadable(what, file, &path, error.to_string())),
    }
}

/// A JWKS file with at least one signing key for the `allowed` algorithms.
pub fn jwks(
    folder: &Folder,
    file: &Spanned<String>,
    allowed: Algorithms,
) -> Result<PathBuf, Diagnostic> {
    check("the key set", folder, file, |bytes| {
        jwks_file::parse(bytes, allowed)
    })
}

/// A PEM public key or certificate whose key verifies tokens of an `allowed` algorithm.
pub fn public_key(
    folder: &Folder,
    file: &Spanned<String>,
    allowed: Algorithms,
) -> Result<PathBuf, Diagnostic> {
    check("the public key", folder, file, |bytes| {
        pem::parse(bytes, allowed)
    })
}

/// An htpasswd file of bcrypt entries (`htpasswd -B`), each user once.
pub fn htpasswd(folder: &Folder, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    check("the password file", folder, file, htpasswd_file::parse)
}

/// An API key file: `CONSUMER sha256:HEX` per line, each key hash once.
pub fn api_keys(folder: &Folder, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    check("the key file", folder, file, api_key_file::parse)
}

/// A JSON Schema that compiles.
pub fn json_schema(folder: &Folder, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    if folder.defers("the schema", file) {
        return Ok(PathBuf::from(&file.value));
    }
    let (path, bytes) = read("the schema", folder, file)?;
    let fail = |reason: String| unreadable("the schema", file, &path, reason);
    let schema: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| fail(format!("not JSON: {error}")))?;
    jsonschema::validator_for(&schema)
        .map_err(|error| fail(format!("not a valid JSON Schema: {error}")))?;
    Ok(PathBuf::from(&file.value))
}

/// A regular expression the runtime's `regex` crate accepts.
pub fn regex(pattern: &Spanned<String>) -> Result<(), Diagnostic> {
    regex::Regex::new(&pattern.value)
        .map(drop)
        .map_err(|error| {
            let detail = error.to_string();
            let last = detail.lines().last().unwrap_or("invalid").trim().to_owned();
            Diagnostic::error("invalid-literal", "invalid regular expression")
                .with_label(Label::primary(pattern.span, last))
                .with_help(
                    "the syntax is that of the `regex` crate (no look-around or back-references)",
                )
        })
}
