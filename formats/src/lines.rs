//! The lines of the line-based files (htpasswd, API keys): numbered from 1, trimmed, with
//! blank lines and `#` comments left out.

/// The entries of `bytes`: each line that is neither blank nor a comment, trimmed, with its
/// number; `Err(number)` for a line that is not UTF-8.
pub(crate) fn entries(bytes: &[u8]) -> impl Iterator<Item = Result<(usize, &str), usize>> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(index, line)| match std::str::from_utf8(line) {
            Err(_) => Some(Err(index + 1)),
            Ok(text) => {
                let text = text.trim();
                (!text.is_empty() && !text.starts_with('#')).then_some(Ok((index + 1, text)))
            }
        })
}

/// Whether `name` can be sent as a header value (the consumer header): no control characters.
pub(crate) fn sendable(name: &str) -> bool {
    !name.bytes().any(|b| b.is_ascii_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_comments_are_skipped_and_lines_keep_their_numbers() {
        let entries: Vec<_> = entries(b"# users\r\n\n  a:b \r\n\t# c\nd\n\xff\n").collect();
        assert_eq!(entries, [Ok((3, "a:b")), Ok((5, "d")), Err(6)]);
    }

    #[test]
    fn control_characters_cannot_be_sent() {
        assert!(sendable("alice smith"));
        assert!(sendable("jörg"));
        assert!(!sendable("al\u{7f}ice"));
        assert!(!sendable("al\tice"));
    }
}
