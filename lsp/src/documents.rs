//! The documents the editor has open: their text as last sent (whole, or edited by ranges),
//! and the name the compiler knows each by.

use std::collections::HashMap;

use edge_dsl::SourceFile;
use lsp_types::{TextDocumentContentChangeEvent, Url};

use crate::lines::Lines;

/// One open document.
#[derive(Debug)]
pub struct Document {
    pub text: String,
    pub lines: Lines,
    /// Its path for a `file:` document: the compiler resolves the paths the config names from
    /// its folder, as `edgec check` does for the file on disk.
    pub path: Option<String>,
}

impl Document {
    pub fn new(uri: &Url, text: String) -> Document {
        let path = (uri.scheme() == "file")
            .then(|| uri.to_file_path().ok())
            .flatten()
            .map(|path| path.display().to_string());
        Document {
            lines: Lines::new(&text),
            text,
            path,
        }
    }

    /// Applies the editor's changes, in order: a change with a range replaces that range, one
    /// without replaces the whole text.
    pub fn change(&mut self, changes: Vec<TextDocumentContentChangeEvent>) {
        for change in changes {
            match change.range {
                Some(range) => {
                    let start = self.lines.offset(&self.text, range.start);
                    let end = self.lines.offset(&self.text, range.end).max(start);
                    self.text.replace_range(start..end, &change.text);
                }
                None => self.text = change.text,
            }
            self.lines = Lines::new(&self.text);
        }
    }

    /// The document as the compiler reads it, named by its path (else by `uri`).
    pub fn source(&self, uri: &Url) -> SourceFile {
        let name = self.path.clone().unwrap_or_else(|| uri.to_string());
        SourceFile::new(name, self.text.clone())
    }
}

/// The open documents by URI.
#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<Url, Document>,
}

impl Documents {
    pub fn open(&mut self, uri: Url, text: String) {
        let document = Document::new(&uri, text);
        self.open.insert(uri, document);
    }

    pub fn get(&self, uri: &Url) -> Option<&Document> {
        self.open.get(uri)
    }

    /// Applies `changes` to the document at `uri`, if it is open.
    pub fn change(&mut self, uri: &Url, changes: Vec<TextDocumentContentChangeEvent>) {
        if let Some(document) = self.open.get_mut(uri) {
            document.change(changes);
        }
    }

    pub fn close(&mut self, uri: &Url) {
        self.open.remove(uri);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::{Position, Range};

    #[test]
    fn changes_apply_by_range_or_whole() {
        let uri = Url::parse("file:///srv/edge/gateway.edge").expect("a URL");
        let mut document = Document::new(&uri, "pool a {\n}\n".to_owned());
        assert_eq!(document.source(&uri).name, "/srv/edge/gateway.edge");
        document.change(vec![TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(0, 5), Position::new(0, 6))),
            range_length: None,
            text: "users".to_owned(),
        }]);
        assert_eq!(document.text, "pool users {\n}\n");
        document.change(vec![TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: "x".to_owned(),
        }]);
        assert_eq!(document.text, "x");
        let untitled = Url::parse("untitled:Untitled-1").expect("a URL");
        assert_eq!(
            Document::new(&untitled, String::new())
                .source(&untitled)
                .name,
            "untitled:Untitled-1"
        );
    }
}
