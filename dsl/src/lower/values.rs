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
    /// Reports a word of `choices` written in quotes (`"on"`, `"gcra"`), which makes it a
    /// string rather than the word; returns whether it did.
    pub(super) fn quoted_word(&mut self, arg: &Arg, choices: &[&str]) -> bool {
        let quoted = arg.is_quoted() && choices.contains(&arg.text.as_str());
        if quoted {
            self.error(
                Diagnostic::error(
                    "unknown-choice",
                    format!("`{}` is written without quotes", arg.text),
                )
                .with_label(Label::primary(arg.span, "a quoted string"))
                .with_help(format!(
                    "remove the quotes: `{}` is a word of the language, not a string",
                    arg.text
                )),
            );
        }
        quoted
    }

    /// `on` or `off`; `example` shows the directive written right.
    pub(super) fn on_off(&mut self, word: &Arg, example: &str) -> Option<Spanned<bool>> {
        match word.text.as_str() {
            "on" if word.is_bare() => Some(Spanned::new(true, word.span)),
            "off" if word.is_bare() => Some(Spanned::new(false, word.span)),
            _ if self.quoted_word(word, &["on", "off"]) => None,
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
        if !path.is_quoted() {
            self.error(
                Diagnostic::error("expected-string", "a file path is a quoted string")
                    .with_label(Label::primary(path.span, "expected a quoted path"))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        if path.text.is_empty() {
            self.error(
                Diagnostic::error("expected-string", "the file path is empty")
                    .with_label(Label::primary(path.span, "no path between the quotes"))
                    .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        Some(Spanned::new(path.text.clone(), path.span))
    }
}
