//! The files and patterns policies name, checked at build time so a broken key set, password
//! file or schema is a diagnostic naming the file, not a failed start. Like certificates, the
//! files stay live data: the proxy reads them at start-up by absolute path.

use std::path::{Path, PathBuf};

use edge_dsl::ast::{self, JwtKeys, PolicyKind, Rewrite};
use edge_dsl::{Diagnostic, Label, Spanned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};

use crate::files::{absolute, resolve, unreadable};
use crate::model;

fn read(what: &str, base: &Path, file: &Spanned<String>) -> Result<(PathBuf, String), Diagnostic> {
    let path = resolve(base, &file.value);
    let text = std::fs::read_to_string(&path)
        .map_err(|error| unreadable(what, file, &path, error.to_string()))?;
    Ok((path, text))
}

/// A JWKS file: a JSON object whose `keys` hold at least one key of a type JWT policies use.
pub fn jwks(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let (path, text) = read("the key set", base, file)?;
    let fail = |reason: String| unreadable("the key set", file, &path, reason);
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| fail(format!("not JSON: {error}")))?;
    let keys = value
        .get("keys")
        .and_then(|keys| keys.as_array())
        .ok_or_else(|| fail("no `keys` array (expected a JWKS, RFC 7517)".to_owned()))?;
    if keys.is_empty() {
        return Err(fail("the `keys` array is empty".to_owned()));
    }
    for (index, key) in keys.iter().enumerate() {
        let needs: &[&str] = match key.get("kty").and_then(|kty| kty.as_str()) {
            Some("oct") => &["k"],
            Some("RSA") => &["n", "e"],
            Some("EC") => &["crv", "x", "y"],
            Some("OKP") => &["crv", "x"],
            Some(other) => {
                return Err(fail(format!(
                    "key {} has unknown type `{other}`",
                    index + 1
                )))
            }
            None => return Err(fail(format!("key {} has no `kty`", index + 1))),
        };
        if let Some(missing) = needs.iter().find(|member| key.get(**member).is_none()) {
            return Err(fail(format!("key {} has no `{missing}`", index + 1)));
        }
    }
    Ok(absolute(path))
}

/// A PEM public key (SubjectPublicKeyInfo) or certificate whose key verifies tokens.
pub fn public_key(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let path = resolve(base, &file.value);
    if SubjectPublicKeyInfoDer::from_pem_file(&path).is_err()
        && CertificateDer::from_pem_file(&path).is_err()
    {
        let reason = match std::fs::metadata(&path) {
            Err(error) => error.to_string(),
            Ok(_) => "no PEM `PUBLIC KEY` or `CERTIFICATE` in it".to_owned(),
        };
        return Err(unreadable("the public key", file, &path, reason));
    }
    Ok(absolute(path))
}

/// An htpasswd file of bcrypt entries (`htpasswd -B`).
pub fn htpasswd(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let (path, text) = read("the password file", base, file)?;
    let mut users = 0;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let reason = match line.split_once(':') {
            None => "is not `user:hash`",
            Some(("", _)) => "has no user name",
            Some((_, hash)) if is_bcrypt(hash) => {
                users += 1;
                continue;
            }
            Some(_) => "is not a bcrypt entry (make it with `htpasswd -B`)",
        };
        return Err(unreadable(
            "the password file",
            file,
            &path,
            format!("line {} {reason}", number + 1),
        ));
    }
    if users == 0 {
        return Err(unreadable(
            "the password file",
            file,
            &path,
            "holds no user".to_owned(),
        ));
    }
    Ok(absolute(path))
}

fn is_bcrypt(hash: &str) -> bool {
    let bytes = hash.as_bytes();
    hash.len() == 60
        && matches!(&hash[..4], "$2a$" | "$2b$" | "$2y$")
        && bytes[4].is_ascii_digit()
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'$'
}

/// An API key file: `CONSUMER sha256:HEX` per line, each key hash once.
pub fn api_keys(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let (path, text) = read("the key file", base, file)?;
    let mut seen = std::collections::HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let hash = line
            .split_once(char::is_whitespace)
            .and_then(|(_, hash)| hash.trim().strip_prefix("sha256:"))
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let reason = match hash {
            None => "is not `CONSUMER sha256:HEX` (64 hex digits of the key's SHA-256)",
            Some(hex) if !seen.insert(hex.to_ascii_lowercase()) => "repeats a key",
            Some(_) => continue,
        };
        return Err(unreadable(
            "the key file",
            file,
            &path,
            format!("line {} {reason}", number + 1),
        ));
    }
    if seen.is_empty() {
        return Err(unreadable(
            "the key file",
            file,
            &path,
            "holds no key".to_owned(),
        ));
    }
    Ok(absolute(path))
}

/// A JSON Schema that compiles.
pub fn json_schema(base: &Path, file: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
    let (path, text) = read("the schema", base, file)?;
    let fail = |reason: String| unreadable("the schema", file, &path, reason);
    let schema: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| fail(format!("not JSON: {error}")))?;
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
        PolicyKind::Jwt(jwt) => match &mut jwt.keys.value {
            JwtKeys::Jwks(file) => absolute_in(file, |file| jwks(base, file)),
            JwtKeys::Pem(file) => absolute_in(file, |file| public_key(base, file)),
        },
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
