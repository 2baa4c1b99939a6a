//! `edgec fmt`: rewrites `.edge` files in the canonical layout, or with `--check` says which
//! ones are not in it; `-` formats standard input to standard output.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Formats `paths` (files, folders searched for `*.edge`, `-`); `Err` when a file does not
/// parse or cannot be read or written, or, with `check`, is not formatted.
pub fn run(paths: &[PathBuf], check: bool) -> Result<(), String> {
    let mut failed = 0;
    for path in expand(paths)? {
        if let Err(message) = one(&path, check) {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            failed += 1;
        }
    }
    let what = if check {
        "not formatted"
    } else {
        "could not be formatted"
    };
    match failed {
        0 => Ok(()),
        1 => Err(format!("1 file {what}")),
        n => Err(format!("{n} files {what}")),
    }
}

/// The files named, folders replaced by the `.edge` files under them, in order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            find(path, &mut found).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn find(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "edge") {
            found.push(path);
        }
    }
    Ok(())
}

fn one(path: &Path, check: bool) -> Result<(), String> {
    let stdin = path.as_os_str() == "-";
    let source = crate::check::read(path)?;
    let formatted = edge_dsl::format(&source).map_err(|diagnostic| {
        source.emit_to_stderr(&[diagnostic]);
        String::new()
    })?;
    if check {
        return match first_difference(&source.text, &formatted) {
            None => Ok(()),
            Some(line) => {
                eprintln!("{}:{line}: not formatted", source.name);
                Err(String::new())
            }
        };
    }
    if stdin {
        return std::io::stdout()
            .write_all(formatted.as_bytes())
            .map_err(|e| format!("cannot write standard output: {e}"));
    }
    if formatted != source.text {
        std::fs::write(path, formatted)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The first line (from 1) where `text` and `formatted` differ.
fn first_difference(text: &str, formatted: &str) -> Option<usize> {
    if text == formatted {
        return None;
    }
    let mut theirs = text.split('\n');
    let mut ours = formatted.split('\n');
    (1..).find(|_| theirs.next() != ours.next())
}
