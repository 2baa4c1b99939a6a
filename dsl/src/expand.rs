//! Before lowering, a config's directives are made whole. `include "PATTERN"` (at the top
//! level) is replaced by the directives of the files it names, read from disk relative to the
//! including file's folder (a pattern with `*`, `?` or `[` is a glob: its files in name order,
//! none at all being fine; a plain path must exist), each file's spans placed in the config's
//! [`Sources`]; included files may include others, and no file is included twice.
//! `defaults KIND { ... }` (KIND `listener`, `pool` or `route`) gives every item of that kind,
//! in any of the files, each of its directives that the item does not give itself: the item's
//! own directives of a name replace the defaults' of that name.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Label, SourceFile};
use crate::sources::Sources;
use crate::span::Span;
use crate::syntax::{self, Arg, Block, Directive};

/// The kinds of item `defaults` applies to.
pub(crate) const DEFAULTS_KINDS: &[&str] = &["listener", "pool", "route"];

/// The directives of the config whose root is `sources`' first file (parsed as `directives`),
/// with includes read (when `read_includes`; otherwise each is an error) and defaults
/// applied; the files read are added to `sources`.
pub(crate) fn expand(
    sources: &mut Sources,
    directives: Vec<Directive>,
    read_includes: bool,
    out: &mut Vec<Diagnostic>,
) -> Vec<Directive> {
    let directives = if read_includes {
        let root = Path::new(&sources.root().name).to_path_buf();
        let mut seen = vec![std::fs::canonicalize(&root).unwrap_or(root.clone())];
        include(sources, &root, directives, &mut seen, out)
    } else {
        let (includes, rest): (Vec<_>, Vec<_>) = directives
            .into_iter()
            .partition(|d| d.name.value == "include");
        out.extend(includes.iter().map(|directive| {
            Diagnostic::error(
                "unusable-file",
                "`include` reads files, and this text is no file",
            )
            .with_label(Label::primary(directive.head_span(), "not read"))
            .with_help("check the config from its file, as `edgec check` does")
        }));
        rest
    };
    apply_defaults(directives, out)
}

/// `directives` of the file at `path`, its `include`s replaced by what they name.
fn include(
    sources: &mut Sources,
    path: &Path,
    directives: Vec<Directive>,
    seen: &mut Vec<PathBuf>,
    out: &mut Vec<Diagnostic>,
) -> Vec<Directive> {
    let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut whole = Vec::with_capacity(directives.len());
    for directive in directives {
        if directive.name.value != "include" {
            whole.push(directive);
            continue;
        }
        let Some(pattern) = include_pattern(&directive, out) else {
            continue;
        };
        for file in files(&folder, pattern, out) {
            let canonical = std::fs::canonicalize(&file).unwrap_or(file.clone());
            if seen.contains(&canonical) {
                out.push(
                    Diagnostic::error(
                        "duplicate-include",
                        format!("`{}` is included twice", file.display()),
                    )
                    .with_label(Label::primary(pattern.span, "included again here"))
                    .with_help("a file is included once; its items would be defined twice"),
                );
                continue;
            }
            seen.push(canonical);
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(error) => {
                    out.push(cannot_include(pattern, &file, &error.to_string()));
                    continue;
                }
            };
            let start = sources.add(SourceFile::new(file.display().to_string(), text.clone()));
            match syntax::parse(&text) {
                Ok(mut included) => {
                    for directive in &mut included {
                        shift_directive(directive, start);
                    }
                    whole.extend(include(sources, &file, included, seen, out));
                }
                Err(mut diagnostic) => {
                    for label in &mut diagnostic.labels {
                        label.span = shift(label.span, start);
                    }
                    out.push(diagnostic);
                }
            }
        }
    }
    whole
}

/// The quoted pattern of an `include`.
fn include_pattern<'d>(directive: &'d Directive, out: &mut Vec<Diagnostic>) -> Option<&'d Arg> {
    match (directive.args.as_slice(), &directive.block) {
        ([pattern], None) if pattern.is_quoted() && !pattern.text.is_empty() => Some(pattern),
        _ => {
            out.push(
                Diagnostic::error(
                    "wrong-arguments",
                    "`include` takes a quoted file or pattern",
                )
                .with_label(Label::primary(
                    directive.head_span(),
                    "expected one quoted path",
                ))
                .with_help("write `include \"services/*.edge\"`"),
            );
            None
        }
    }
}

/// The files `pattern` names, relative to `folder`.
fn files(folder: &Path, pattern: &Arg, out: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let joined = folder.join(&pattern.text);
    if !pattern.text.contains(['*', '?', '[']) {
        if joined.is_file() {
            return vec![joined];
        }
        out.push(cannot_include(pattern, &joined, "no such file"));
        return Vec::new();
    }
    let Some(text) = joined.to_str() else {
        out.push(cannot_include(pattern, &joined, "not a UTF-8 path"));
        return Vec::new();
    };
    match glob::glob(text) {
        Ok(paths) => {
            let mut files: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files
        }
        Err(error) => {
            out.push(cannot_include(pattern, &joined, &error.to_string()));
            Vec::new()
        }
    }
}

fn cannot_include(pattern: &Arg, file: &Path, reason: &str) -> Diagnostic {
    Diagnostic::error(
        "unusable-file",
        format!("cannot include `{}`", file.display()),
    )
    .with_label(Label::primary(pattern.span, reason.to_owned()))
    .with_help("an included path is relative to the folder of the file that includes it")
}

/// Applies each `defaults KIND { ... }` to the items of its kind, and drops the `defaults`.
fn apply_defaults(directives: Vec<Directive>, out: &mut Vec<Diagnostic>) -> Vec<Directive> {
    let mut defaults: Vec<(String, Block, Span)> = Vec::new();
    let mut items = Vec::with_capacity(directives.len());
    for directive in directives {
        if directive.name.value != "defaults" {
            items.push(directive);
            continue;
        }
        let head = directive.head_span();
        let (kind, block) = match (directive.args.as_slice(), directive.block) {
            ([kind], Some(block))
                if kind.is_bare() && DEFAULTS_KINDS.contains(&kind.text.as_str()) =>
            {
                (kind.text.clone(), block)
            }
            ([kind], Some(_)) => {
                out.push(
                    Diagnostic::error("unknown-choice", format!("no defaults for `{}`", kind.text))
                        .with_label(Label::primary(
                            kind.span,
                            "not a kind of item with defaults",
                        ))
                        .with_suggestion(&kind.text, "a kind", DEFAULTS_KINDS.iter().copied())
                        .with_help("defaults are for `listener`, `pool` and `route`"),
                );
                continue;
            }
            _ => {
                out.push(
                    Diagnostic::error("wrong-arguments", "`defaults` takes a kind and a block")
                        .with_label(Label::primary(head, "expected `defaults KIND { ... }`"))
                        .with_help("write `defaults pool { retry 1 }`"),
                );
                continue;
            }
        };
        if let Some((_, _, first)) = defaults.iter().find(|(given, ..)| *given == kind) {
            out.push(
                Diagnostic::error(
                    "duplicate-directive",
                    format!("`defaults {kind}` is given twice"),
                )
                .with_label(Label::primary(head, "given again here"))
                .with_label(Label::secondary(*first, "first given here"))
                .with_help("put every default of a kind in one block"),
            );
            continue;
        }
        defaults.push((kind, block, head));
    }
    for item in &mut items {
        let Some((_, given, _)) = defaults.iter().find(|(kind, ..)| *kind == item.name.value)
        else {
            continue;
        };
        let Some(block) = &mut item.block else {
            continue;
        };
        let own: Vec<String> = block
            .directives
            .iter()
            .map(|d| d.name.value.clone())
            .collect();
        block.directives.extend(
            given
                .directives
                .iter()
                .filter(|default| !own.contains(&default.name.value))
                .cloned(),
        );
    }
    items
}

fn shift(span: Span, by: usize) -> Span {
    Span::new(span.start + by, span.end + by)
}

fn shift_directive(directive: &mut Directive, by: usize) {
    directive.name.span = shift(directive.name.span, by);
    for arg in &mut directive.args {
        arg.span = shift(arg.span, by);
    }
    if let Some(block) = &mut directive.block {
        block.span = shift(block.span, by);
        for inner in &mut block.directives {
            shift_directive(inner, by);
        }
    }
}
