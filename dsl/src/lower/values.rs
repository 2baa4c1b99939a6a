//! Argument values read the same way in several blocks: `on`/`off` switches, quoted file paths,
//! and the lists of names shown in help lines.

use crate::diagnostic::{Diagnostic, Label};
use crate::span::Spanned;
use crate::syntax::Arg;

use super::Lowering;

/// A list of names for help lines: "`a`, `b`, `c`".
pub(super) fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Lowering {
    /// `on` or `off`; `example` shows the directive written right.
    pub(super) fn on_off(&mut self, word: &Arg, example: &str) -> Option<Spanned<bool>> {
        match word.text.as_str() {
            "on" if word.is_bare() => Some(Spanned::new(true, word.span)),
            "off" if word.is_bare() => Some(Spanned::new(false, word.span)),
            _ => {
                self.error(
                    Diagnostic::error(
                        "unknown-choice",
                        format!("expected `on` or `off`, not `{}`", word.text),
                    )
                    .with_label(Label::primary(word.span, "not `on` or `off`"))
                    .with_help(format!("write `{example}`")),
                );
                None
            }
        }
    }

    /// A quoted file path; `usage` shows the directive written right.
    pub(super) fn file(&mut self, path: &Arg, usage: &str) -> Option<Spanned<String>> {
        if !path.is_quoted() || path.text.is_empty() {
            self.error(
                Diagnostic::error("expected-string", "a file path is a quoted string")
                    .with_label(Label::primary(path.span, "expected a quoted path"))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        Some(Spanned::new(path.text.clone(), path.span))
    }
}
