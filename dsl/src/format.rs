//! The canonical layout of `.edge` files (`edgec fmt`): one directive a line, four spaces a
//! level, one space between arguments (`, ` after a comma), `{` at the end of its
//! directive's line and `}` on a line of its own (`{}` for an empty block), at most one blank
//! line in a row and none just inside braces. Comments stay where they are, on their own line
//! or after a directive; words, strings and calls are kept exactly as written, so formatting
//! never changes what a file means, and a formatted file formats to itself.

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::syntax;

const INDENT: &str = "    ";

/// `source` in the canonical layout; its syntax error when it has one (nothing is formatted
/// that does not parse).
pub fn format(source: &SourceFile) -> Result<String, Diagnostic> {
    syntax::parse(&source.text)?;
    let mut printer = Printer::default();
    for token in Lexer::new(&source.text) {
        printer.token(token);
    }
    Ok(printer.finish())
}

/// What the layout sees of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'s> {
    /// A bare word, a quoted string or a call, exactly as written.
    Word(&'s str),
    Comma,
    Semicolon,
    Open,
    Close,
    Newline,
    /// `# ...` up to the end of its line.
    Comment(&'s str),
}

/// The tokens of a file that parses, split as the grammar splits them.
struct Lexer<'s> {
    text: &'s str,
    at: usize,
}

impl<'s> Lexer<'s> {
    fn new(text: &'s str) -> Lexer<'s> {
        Lexer { text, at: 0 }
    }

    /// The end of the string starting at `start` (a `"`), after its closing quote.
    fn string_end(&self, start: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut at = start + 1;
        while at < bytes.len() {
            match bytes[at] {
                b'\\' => at += 2,
                b'"' => return at + 1,
                _ => at += 1,
            }
        }
        bytes.len()
    }

    /// The end of the bare word (or call, `name("...")`) starting at `start`.
    fn word_end(&self, start: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut at = start;
        while at < bytes.len() && !b" \t\r\n{};,#\"".contains(&bytes[at]) {
            at += 1;
        }
        if at > start && bytes[at - 1] == b'(' && bytes.get(at) == Some(&b'"') {
            let closed = self.string_end(at);
            if bytes.get(closed) == Some(&b')') {
                return closed + 1;
            }
        }
        at
    }
}

impl<'s> Iterator for Lexer<'s> {
    type Item = Token<'s>;

    fn next(&mut self) -> Option<Token<'s>> {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
        let start = self.at;
        let (token, end) = match *bytes.get(start)? {
            b'\r' if bytes.get(start + 1) == Some(&b'\n') => (Token::Newline, start + 2),
            b'\n' | b'\r' => (Token::Newline, start + 1),
            b'{' => (Token::Open, start + 1),
            b'}' => (Token::Close, start + 1),
            b';' => (Token::Semicolon, start + 1),
            b',' => (Token::Comma, start + 1),
            b'#' => {
                let end = self.text[start..]
                    .find(['\r', '\n'])
                    .map_or(self.text.len(), |n| start + n);
                (Token::Comment(self.text[start..end].trim_end()), end)
            }
            b'"' => {
                let end = self.string_end(start);
                (Token::Word(&self.text[start..end]), end)
            }
            _ => {
                let end = self.word_end(start);
                (Token::Word(&self.text[start..end]), end)
            }
        };
        self.at = end;
        Some(token)
    }
}

/// A line of output.
enum Line {
    Blank,
    /// `opens`: the line opens a block.
    Text {
        depth: usize,
        text: String,
        opens: bool,
    },
}

/// Lays tokens out line by line.
#[derive(Default)]
struct Printer {
    lines: Vec<Line>,
    /// The line being written, and its depth.
    current: Option<(usize, String)>,
    /// The current line opens a block.
    opens: bool,
    /// The current line ends with `{` or is a `}`: a word starts a new line.
    closed: bool,
    /// The current line ends with a `{` with nothing after it yet.
    just_opened: bool,
    depth: usize,
    /// Newlines since the last other token: two or more leave a blank line.
    newlines: usize,
}

impl Printer {
    fn token(&mut self, token: Token<'_>) {
        let just_opened = std::mem::take(&mut self.just_opened);
        match token {
            Token::Newline => {
                self.flush();
                self.newlines += 1;
                self.just_opened = just_opened;
                return;
            }
            Token::Semicolon => self.flush(),
            Token::Comment(comment) => match &mut self.current {
                Some((_, line)) => {
                    line.push(' ');
                    line.push_str(comment);
                    self.flush();
                }
                None => {
                    self.start(comment);
                    self.flush();
                }
            },
            Token::Word(word) => match &mut self.current {
                Some((_, line)) if !self.closed => {
                    line.push(' ');
                    line.push_str(word);
                }
                _ => {
                    self.flush();
                    self.start(word);
                }
            },
            Token::Comma => {
                if let Some((_, line)) = &mut self.current {
                    line.push(',');
                }
            }
            Token::Open => {
                if let Some((_, line)) = &mut self.current {
                    line.push_str(" {");
                }
                self.opens = true;
                self.depth += 1;
                self.closed = true;
                self.just_opened = true;
            }
            Token::Close => {
                self.depth = self.depth.saturating_sub(1);
                self.flush();
                // An empty block closes on its opening line: `name {}`.
                self.current = match self.lines.pop() {
                    Some(Line::Text {
                        depth, mut text, ..
                    }) if just_opened => {
                        text.push('}');
                        Some((depth, text))
                    }
                    last => {
                        self.lines.extend(last);
                        Some((self.depth, "}".to_owned()))
                    }
                };
                self.closed = true;
            }
        }
        self.newlines = 0;
    }

    /// Starts a line at the current depth, after a blank line if the source had one here
    /// (never first in the file or first in a block).
    fn start(&mut self, text: &str) {
        let after_open = match self.lines.last() {
            None | Some(Line::Blank) => true,
            Some(Line::Text { opens, .. }) => *opens,
        };
        if self.newlines >= 2 && !after_open {
            self.lines.push(Line::Blank);
        }
        self.current = Some((self.depth, text.to_owned()));
        self.closed = false;
    }

    fn flush(&mut self) {
        if let Some((depth, text)) = self.current.take() {
            let opens = std::mem::take(&mut self.opens);
            self.lines.push(Line::Text { depth, text, opens });
        }
        self.closed = false;
    }

    fn finish(mut self) -> String {
        self.flush();
        let mut out = String::new();
        for line in &self.lines {
            if let Line::Text { depth, text, .. } = line {
                for _ in 0..*depth {
                    out.push_str(INDENT);
                }
                out.push_str(text);
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(text: &str) -> String {
        format(&SourceFile::new("t.edge", text)).unwrap()
    }

    #[test]
    fn lays_out_blocks_arguments_and_comments() {
        let messy =
            "# head\n\n\n\nlistener   web {  bind 127.0.0.1:80 ;  tls { cert \"a b.pem\" } }\n\
             pool p {\n\n  server a:1 weight 2,server b:1   # the spare\n\t\n\n  health { }\n\n}\n\
             route r { on web; match header(\"x-a\") \"v\"\n  # why\n  forward p\n}\n\n\n";
        let expected = "# head\n\nlistener web {\n    bind 127.0.0.1:80\n    tls {\n        \
             cert \"a b.pem\"\n    }\n}\npool p {\n    server a:1 weight 2, server b:1 # the spare\n\n    \
             health {}\n}\nroute r {\n    on web\n    match header(\"x-a\") \"v\"\n    # why\n    \
             forward p\n}\n";
        assert_eq!(formatted(messy), expected);
        assert_eq!(formatted(expected), expected, "formatting is idempotent");
    }

    #[test]
    fn keeps_comments_after_braces_and_crlf_files_become_lf() {
        let text = "listener web { # public {\r\n\r\n    bind :80\r\n} # end\r\n";
        assert_eq!(
            formatted(text),
            "listener web { # public {\n    bind :80\n} # end\n"
        );
        assert_eq!(
            formatted("a {\n\n}\nb {\n  # c\n}\n"),
            "a {}\nb {\n    # c\n}\n"
        );
    }

    #[test]
    fn strings_with_escapes_and_hashes_are_kept_whole() {
        let text = "route r {\n    respond 200 \"a # b \\\" {c}; d\"\n}\n";
        assert_eq!(formatted(text), text);
    }

    /// A file's syntax tree without spans: what formatting must not change.
    fn shape(directives: &[syntax::Directive]) -> String {
        directives
            .iter()
            .map(|directive| {
                let args: Vec<String> = directive
                    .args
                    .iter()
                    .map(|arg| format!("{:?}{:?}", arg.kind, arg.text))
                    .collect();
                let block = directive
                    .block
                    .as_ref()
                    .map(|block| format!("{{{}}}", shape(&block.directives)));
                format!(
                    "{}({}){};",
                    directive.name.value,
                    args.join(","),
                    block.unwrap_or_default()
                )
            })
            .collect()
    }

    fn edge_files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() && !name.starts_with('.') && name != "target" {
                edge_files(&path, found);
            } else if name.ends_with(".edge") {
                found.push(path);
            }
        }
    }

    /// Every `.edge` file of the repository that parses is formatted, and formatting it (or
    /// a version with its layout undone) means the same and formats to itself.
    #[test]
    fn every_config_in_the_repository_is_formatted() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        edge_files(&root, &mut files);
        assert!(files.len() > 40, "{files:?}");
        let mut formatted_files = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(tree) = syntax::parse(&text) else {
                continue;
            };
            let name = path.display().to_string();
            let source = SourceFile::new(name.clone(), text.clone());
            let ours = format(&source).unwrap();
            assert_eq!(ours, text, "{name} is not formatted: `edgec fmt {name}`");
            // Undo the layout: one line, `;` between directives, no indentation.
            let flat: String = Lexer::new(&text)
                .filter(|token| !matches!(token, Token::Comment(_)))
                .map(|token| match token {
                    Token::Word(word) => format!("{word} "),
                    Token::Comma => ", ".into(),
                    Token::Semicolon | Token::Newline => "; ".into(),
                    Token::Open => "{ ".into(),
                    Token::Close => "} ".into(),
                    Token::Comment(_) => unreachable!(),
                })
                .collect();
            let refolded = formatted(&flat);
            assert_eq!(
                shape(&syntax::parse(&refolded).unwrap()),
                shape(&tree),
                "{name}"
            );
            assert_eq!(formatted(&refolded), refolded, "{name}");
            formatted_files += 1;
        }
        assert!(formatted_files > 40);
    }

    #[test]
    fn a_file_that_does_not_parse_is_not_formatted() {
        let error = format(&SourceFile::new("t.edge", "listener web {\n")).unwrap_err();
        assert!(error.is_error());
    }
}
