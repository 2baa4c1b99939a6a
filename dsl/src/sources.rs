//! The files of one config: the file given and the files it includes, each placed at its own
//! range of one offset space, so that a [`Span`] names a file as well as a place in it and the
//! rest of the compiler keeps handling plain spans. Diagnostics render with each label in the
//! file it points into.

use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};

use crate::diagnostic::{color_choice, to_rendered, Diagnostic, SourceFile};
use crate::span::Span;

/// A config's files, the first the one given.
#[derive(Clone, Debug)]
pub struct Sources {
    /// Each file with the offset its text starts at.
    files: Vec<(SourceFile, usize)>,
}

impl Sources {
    /// The sources of a config of one file (so far).
    pub fn new(root: SourceFile) -> Sources {
        Sources {
            files: vec![(root, 0)],
        }
    }

    /// Adds an included file; its spans start at the offset returned.
    pub fn add(&mut self, file: SourceFile) -> usize {
        let (last, start) = self.files.last().expect("the root file");
        // One past the end, so that a span at the end of a file is not the next one's start.
        let start = start + last.text.len() + 1;
        self.files.push((file, start));
        start
    }

    /// The file given.
    pub fn root(&self) -> &SourceFile {
        &self.files[0].0
    }

    /// Every file, the one given first, then in the order included.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter().map(|(file, _)| file)
    }

    /// Whether the config is more than the file given.
    pub fn has_includes(&self) -> bool {
        self.files.len() > 1
    }

    /// The file a span points into (by its index in [`Sources::files`]), and the span within
    /// that file.
    pub fn locate(&self, span: Span) -> (usize, Span) {
        let index = self
            .files
            .partition_point(|(_, start)| *start <= span.start)
            .saturating_sub(1);
        let start = self.files[index].1;
        (
            index,
            Span::new(span.start - start, span.end.saturating_sub(start)),
        )
    }

    /// Every file's text, as one: the file given, then each included file after a comment
    /// naming it; what `--print-config` shows and the config's digest covers.
    pub fn text(&self) -> String {
        let mut text = self.root().text.clone();
        for (file, _) in &self.files[1..] {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("\n# included: {}\n", file.name));
            text.push_str(&file.text);
        }
        text
    }

    /// Renders diagnostics as plain text, each label in its own file.
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        let files = self.codespan_files();
        let config = term::Config::default();
        diagnostics
            .iter()
            .map(|diagnostic| {
                term::emit_into_string(
                    &config,
                    &files,
                    &to_rendered(diagnostic, |span| self.locate(span)),
                )
                .expect("spans come from these files")
            })
            .collect()
    }

    /// Writes diagnostics to standard error, coloured when it is a terminal.
    pub fn emit_to_stderr(&self, diagnostics: &[Diagnostic]) {
        let files = self.codespan_files();
        let config = term::Config::default();
        let stream = termcolor::StandardStream::stderr(color_choice());
        let mut stream = stream.lock();
        for diagnostic in diagnostics {
            let rendered = to_rendered(diagnostic, |span| self.locate(span));
            term::emit_to_write_style(&mut stream, &config, &files, &rendered)
                .expect("spans come from these files");
        }
    }

    fn codespan_files(&self) -> SimpleFiles<&str, &str> {
        let mut files = SimpleFiles::new();
        for (file, _) in &self.files {
            files.add(file.name.as_str(), file.text.as_str());
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Label;

    #[test]
    fn spans_are_found_in_their_file_and_rendered_there() {
        let mut sources = Sources::new(SourceFile::new("main.edge", "listener web {}\n"));
        let start = sources.add(SourceFile::new("more.edge", "pool p {}\n"));
        assert_eq!(start, 17);
        assert_eq!(sources.locate(Span::new(9, 12)), (0, Span::new(9, 12)));
        assert_eq!(
            sources.locate(Span::new(start + 5, start + 6)),
            (1, Span::new(5, 6))
        );
        let diagnostic = Diagnostic::error("duplicate-name", "twice")
            .with_label(Label::primary(Span::new(start + 5, start + 6), "here"))
            .with_label(Label::secondary(Span::new(9, 12), "first"));
        let rendered = sources.render(&[diagnostic]);
        assert!(rendered.contains("more.edge:1:6"), "{rendered}");
        assert!(rendered.contains("main.edge"), "{rendered}");
        assert_eq!(
            sources.text(),
            "listener web {}\n\n# included: more.edge\npool p {}\n"
        );
    }
}
