//! Byte offsets, as the compiler's spans count them, to and from LSP positions: a line and a
//! column counted in UTF-16 code units, as the protocol counts them by default.

use edge_dsl::Span;
use lsp_types::{Position, Range};

/// Where each line of a text starts.
#[derive(Debug)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Lines { starts }
    }

    /// The position of byte `offset` of `text` (an offset inside a character counts as its
    /// start; one past the end as the end).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let column: usize = text[self.starts[line]..offset]
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(saturate(line), saturate(column))
    }

    pub fn range(&self, text: &str, span: Span) -> Range {
        Range::new(
            self.position(text, span.start),
            self.position(text, span.end),
        )
    }

    /// The byte offset of `position` in `text`: a column past the end of its line is the end
    /// of the line (before its line break), a line past the end of the text is its end.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = usize::try_from(position.line)
            .ok()
            .and_then(|line| self.starts.get(line))
        else {
            return text.len();
        };
        let line = text[start..].split('\n').next().unwrap_or_default();
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut units = 0;
        for (at, c) in line.char_indices() {
            if units >= position.character as usize {
                return start + at;
            }
            units += c.len_utf16();
        }
        start + line.len()
    }
}

fn saturate(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units() {
        let text = "ab\n\u{e9}\u{1f600}x\n";
        let lines = Lines::new(text);
        assert_eq!(lines.position(text, 0), Position::new(0, 0));
        assert_eq!(lines.position(text, 3), Position::new(1, 0));
        // é is 2 bytes and 1 unit, the emoji 4 bytes and 2 units.
        assert_eq!(lines.position(text, 5), Position::new(1, 1));
        assert_eq!(lines.position(text, 9), Position::new(1, 3));
        assert_eq!(lines.position(text, 6), Position::new(1, 1));
        assert_eq!(lines.position(text, text.len()), Position::new(2, 0));
    }

    #[test]
    fn offsets_come_back_from_positions() {
        let text = "ab\r\n\u{e9}\u{1f600}x\n";
        let lines = Lines::new(text);
        for offset in [0, 1, 4, 6, 10, text.len()] {
            assert_eq!(lines.offset(text, lines.position(text, offset)), offset);
        }
        assert_eq!(lines.offset(text, Position::new(0, 99)), 2);
        assert_eq!(lines.offset(text, Position::new(9, 0)), text.len());
    }
}
