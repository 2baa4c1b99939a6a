//! The files and patterns policies name, checked at build time so a broken key set, password
//! file or schema is a diagnostic naming the file, not a failed start. Like certificates, the
//! files stay live data: the proxy reads them at start-up by absolute path.

use std::path::{Path, PathBuf};

use edge_dsl::ast::{self, JwtAlgorithm, JwtKeys, PolicyKind, Rewrite};
use edge_dsl::{Diagnostic, Label, Spanned};
use edge_formats::public_key::{Algorithm, Algorithms};
use edge_formats::{api_keys as api_key_file, htpasswd as htpasswd_file, jwks as jwks_file, pem};

use crate::files::{absolute, resolve, unreadable};
use crate::model;

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

/// The algorithms a `jwt` policy allows: those it names, or every one.
fn allowed(algorithms: &[Spanned<JwtAlgorithm>]) -> Algorithms {
    if algorithms.is_empty() {
        return Algorithms::ALL;
    }
    algorithms
        .iter()
        .filter_map(|algorithm| {
            JwtAlgorithm::ALL
                .iter()
                .find(|(_, known)| *known == algorithm.value)
                .and_then(|(name, _)| Algorithm::from_name(name))
        })
        .map(Algorithms::one)
        .fold(Algorithms::NONE, Algorithms::union)
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

/// The policy with every file it names checked and made absolute, and its patterns compiled;
/// `None` (and diagnostics) when one is unusable.
pub fn policy(
    policy: &ast::Policy,
    base: &Path,
    out: &mut Vec<Diagnostic>,
) -> Option<model::Policy> {
    let mut kind = policy.kind.value.clone();
    let checked = match &mut kind {
        PolicyKind::Jwt(jwt) => {
            let allowed = allowed(&jwt.algorithms);
            match &mut jwt.keys.value {
                JwtKeys::Jwks(file) => absolute_in(file, |file| jwks(base, file, allowed)),
                JwtKeys::Pem(file) => absolute_in(file, |file| public_key(base, file, allowed)),
            }
        }
        PolicyKind::ApiKey(api_key) => absolute_in(&mut api_key.keys, |file| api_keys(base, file)),
        PolicyKind::BasicAuth(basic) => {
            absolute_in(&mut basic.htpasswd, |file| htpasswd(base, file))
        }
        PolicyKind::Validate(validate) => match &mut validate.json_schema {
            Some(file) => absolute_in(file, |file| json_schema(base, file)),
            None => Ok(()),
        },
        PolicyKind::Rewrite(rewrite) => match &rewrite.value {
            Rewrite::Regex { pattern, .. } => regex(pattern),
            _ => Ok(()),
        },
        PolicyKind::RateLimit(_)
        | PolicyKind::Compress(_)
        | PolicyKind::Cache(_)
        | PolicyKind::SecurityHeaders(_)
        | PolicyKind::Cors(_)
        | PolicyKind::Headers(_)
        | PolicyKind::Access(_) => Ok(()),
    };
    match checked {
        Ok(()) => Some(model::Policy {
            name: policy.name.value.clone(),
            kind,
        }),
        Err(error) => {
            out.push(error);
            None
        }
    }
}

/// Replaces the written path with the checked absolute one.
fn absolute_in(
    file: &mut Spanned<String>,
    check: impl FnOnce(&Spanned<String>) -> Result<PathBuf, Diagnostic>,
) -> Result<(), Diagnostic> {
    file.value = check(file)?.display().to_string();
    Ok(())
}
