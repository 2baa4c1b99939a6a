//! `edgec check`: checks configs and reports their diagnostics, rendered as rustc does or as
//! JSON lines for editors and CI; exits 1 when a file has errors (or, with
//! `--deny-warnings`, warnings).

use std::io::Read;
use std::path::{Path, PathBuf};

use edge_compiler::{analyze_with, Analysis, Diagnostic, Options, SourceFile, Sources};
use edge_dsl::Span;
use serde_json::{json, Value};

/// How diagnostics are reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// As rustc does, on standard error, then a summary line per file on standard output.
    #[default]
    Human,
    /// One JSON object per diagnostic, one a line, on standard output.
    Json,
}

/// Checks `paths` (`-`: standard input); `Err` (already reported) when one failed.
pub fn run(
    paths: &[PathBuf],
    options: Options,
    format: Format,
    deny_warnings: bool,
) -> Result<(), String> {
    let mut failed = 0;
    for path in paths {
        let source = read(path)?;
        let analysis = analyze_with(&source, options);
        match format {
            Format::Human => human(&source, &analysis),
            Format::Json => {
                for diagnostic in &analysis.diagnostics {
                    println!("{}", to_json(&analysis.sources, diagnostic));
                }
                for deferred in &analysis.deferred {
                    eprintln!("note: {deferred}");
                }
            }
        }
        let refused = analysis
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.is_error() || deny_warnings);
        failed += usize::from(refused);
    }
    match failed {
        0 => Ok(()),
        _ if format == Format::Json => Err(String::new()),
        1 if paths.len() == 1 => Err(String::new()),
        n => Err(format!("{n} of {} files did not pass", paths.len())),
    }
}

/// A config from a file, or from standard input for `-`.
pub fn read(path: &Path) -> Result<SourceFile, String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(SourceFile::new("<stdin>", text));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// The diagnostics on standard error, the files left for start-up, and a summary: what the
/// config holds, or how many errors stop it.
fn human(source: &SourceFile, analysis: &Analysis) {
    report(source, analysis);
    if let Some(model) = &analysis.model {
        let routes: usize = model.listeners.iter().map(|l| l.routes.len()).sum();
        println!(
            "{}: ok ({}, {}, {}, {})",
            source.name,
            counted(model.listeners.len(), "listener"),
            counted(model.pools.len(), "pool"),
            counted(routes, "route"),
            counted(model.policies.len(), "policy"),
        );
    }
}

/// Prints a config's diagnostics and the files left for start-up on standard error, then how
/// many errors it has if any; whether it has none.
pub fn report(source: &SourceFile, analysis: &Analysis) -> bool {
    analysis.sources.emit_to_stderr(&analysis.diagnostics);
    for deferred in &analysis.deferred {
        eprintln!("note: {deferred}");
    }
    let errors = analysis.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        eprintln!(
            "error: {} has {errors} error{}",
            source.name,
            if errors == 1 { "" } else { "s" }
        );
    }
    errors == 0
}

/// `1 pool`, `2 pools`, `3 policies`.
fn counted(count: usize, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        (_, None) => format!("{count} {noun}s"),
    }
}

/// One diagnostic as JSON: where its primary label is (the file it points into, lines and
/// columns from 1, columns in characters), its other labels, and its help lines.
fn to_json(sources: &Sources, diagnostic: &Diagnostic) -> Value {
    let files: Vec<&SourceFile> = sources.files().collect();
    let place = |span: Span| {
        let (file, local) = sources.locate(span);
        let text = &files[file].text;
        let (line, column) = line_column(text, local.start);
        let (end_line, end_column) = line_column(text, local.end);
        (
            files[file].name.as_str(),
            json!({ "line": line, "column": column }),
            json!({ "line": end_line, "column": end_column }),
        )
    };
    let label = |label: &edge_dsl::Label| {
        let (file, start, end) = place(label.span);
        json!({ "message": label.message, "file": file, "start": start, "end": end })
    };
    let primary = diagnostic.labels.iter().find(|label| label.primary);
    let (file, start, end) = place(primary.map_or(Span::default(), |label| label.span));
    json!({
        "severity": if diagnostic.is_error() { "error" } else { "warning" },
        "code": diagnostic.code,
        "message": diagnostic.message,
        "file": file,
        "line": start["line"],
        "column": start["column"],
        "end": end,
        "label": primary.map(|label| label.message.as_str()),
        "related": diagnostic.labels.iter().filter(|label| !label.primary).map(label).collect::<Vec<_>>(),
        "help": diagnostic.help,
    })
}

/// The line and column (from 1; the column in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "ab\néé x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 8), (2, 4));
        assert_eq!(line_column(text, text.len()), (3, 1));
    }
}
