//! Diagnostics: a data model (severity, code, message, labelled spans, help) kept apart from its
//! rendering, which codespan-reporting does in rustc's style.

use codespan_reporting::diagnostic::{Diagnostic as Rendered, Label as RenderedLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};

use crate::span::{Ident, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a message; the primary label is where the problem is, secondary ones give context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

impl Label {
    pub fn primary(span: Span, message: impl Into<String>) -> Self {
        Label {
            span,
            message: message.into(),
            primary: true,
        }
    }

    pub fn secondary(span: Span, message: impl Into<String>) -> Self {
        Label {
            span,
            message: message.into(),
            primary: false,
        }
    }
}

/// One problem found in a `.edge` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The kind of problem as a stable kebab-case slug, such as `unknown-directive`, for tools
    /// to match on; the message may change, the code does not. docs/language.md lists them all.
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Vec<String>,
}

impl Diagnostic {
    /// An error of the kind `code` (see [`Diagnostic::code`]).
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: Vec::new(),
        }
    }

    /// A warning of the kind `code` (see [`Diagnostic::code`]).
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn with_label(mut self, label: Label) -> Self {
        self.labels.push(label);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds "did you mean" help when `candidates` holds a name close to `wrong`.
    pub fn with_suggestion<'a>(
        self,
        wrong: &str,
        what: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        match closest(wrong, candidates) {
            Some(name) => self.with_help(format!("{what} with a similar name exists: `{name}`")),
            None => self,
        }
    }

    /// No item of `kind` is named `name`: the closest of the `declared` names when one is close,
    /// else the names there are, or that there is none.
    pub fn unknown_name<'a>(
        name: &Ident,
        kind: &str,
        declared: impl Iterator<Item = &'a str> + Clone,
    ) -> Diagnostic {
        let diagnostic = Diagnostic::error("unknown-name", format!("no {kind} named `{name}`"))
            .with_label(Label::primary(name.span, format!("unknown {kind}")));
        if closest(&name.value, declared.clone()).is_some() {
            return diagnostic.with_suggestion(&name.value, &format!("a {kind}"), declared);
        }
        /// Names listed at most; a longer list ends with how many more there are.
        const LISTED: usize = 8;
        let mut names: Vec<String> = declared.map(|d| format!("`{d}`")).collect();
        if names.len() > LISTED {
            let more = names.len() - LISTED;
            names.truncate(LISTED);
            names.push(format!("{more} more"));
        }
        diagnostic.with_help(match names.len() {
            0 => format!("no {kind} is defined"),
            1 => format!("the only {kind} is {}", names[0]),
            _ => {
                let kinds = kind
                    .strip_suffix('y')
                    .map_or(format!("{kind}s"), |stem| format!("{stem}ies"));
                format!("the {kinds} are {}", names.join(", "))
            }
        })
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest candidate to `wrong`, if any is close enough to be a likely typo.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|name| (strsim::jaro_winkler(wrong, name), name))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// A named source text that diagnostics point into.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Renders diagnostics as plain text (for build scripts, logs and snapshot tests).
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        let files = SimpleFile::new(self.name.as_str(), self.text.as_str());
        let config = term::Config::default();
        diagnostics
            .iter()
            .map(|diagnostic| {
                term::emit_into_string(&config, &files, &to_rendered(diagnostic, |span| ((), span)))
                    .expect("spans come from this file")
            })
            .collect()
    }

    /// Writes diagnostics to standard error, coloured when it is a terminal.
    pub fn emit_to_stderr(&self, diagnostics: &[Diagnostic]) {
        let files = SimpleFile::new(self.name.as_str(), self.text.as_str());
        let config = term::Config::default();
        let stream = termcolor::StandardStream::stderr(color_choice());
        let mut stream = stream.lock();
        for diagnostic in diagnostics {
            term::emit_to_write_style(
                &mut stream,
                &config,
                &files,
                &to_rendered(diagnostic, |span| ((), span)),
            )
            .expect("spans come from this file");
        }
    }
}

pub(crate) fn color_choice() -> termcolor::ColorChoice {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        termcolor::ColorChoice::Auto
    } else {
        termcolor::ColorChoice::Never
    }
}

/// The diagnostic as codespan renders it, each label in the file `locate` finds for its span.
pub(crate) fn to_rendered<F: Copy>(
    diagnostic: &Diagnostic,
    locate: impl Fn(Span) -> (F, Span),
) -> Rendered<F> {
    let rendered = match diagnostic.severity {
        Severity::Error => Rendered::error(),
        Severity::Warning => Rendered::warning(),
    };
    let labels = diagnostic.labels.iter().map(|label| {
        let make = if label.primary {
            RenderedLabel::primary
        } else {
            RenderedLabel::secondary
        };
        let (file, span) = locate(label.span);
        make(file, span.start..span.end).with_message(&label.message)
    });
    rendered
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_labels(labels.collect())
        .with_notes(
            diagnostic
                .help
                .iter()
                .map(|help| format!("help: {help}"))
                .collect(),
        )
}
