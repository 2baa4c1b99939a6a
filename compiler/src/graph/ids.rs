//! Node ids: readable, unique, and valid both as XML ids and (quoted) as DOT ids.

use std::collections::HashSet;
use std::path::Path;

/// The ids given so far.
#[derive(Default)]
pub(super) struct Ids {
    taken: HashSet<String>,
}

impl Ids {
    /// `parts` joined with `-`, each part's characters other than `[A-Za-z0-9_.-]` written
    /// `_`; on a clash, `-2`, `-3`, ... is added. The first part is a kind's name, so the id
    /// starts with a letter.
    pub(super) fn unique(&mut self, parts: &[&str]) -> String {
        let base = parts
            .iter()
            .map(|part| sanitise(part))
            .collect::<Vec<_>>()
            .join("-");
        let mut id = base.clone();
        let mut count = 1;
        while self.taken.contains(&id) {
            count += 1;
            id = format!("{base}-{count}");
        }
        self.taken.insert(id.clone());
        id
    }
}

/// A file's name as ids write it: its stem (`l4` for `examples/stack/l4.edge`).
pub(super) fn file_stem(file: &str) -> &str {
    Path::new(file)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(file)
}

fn sanitise(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_ids_are_sanitised_and_unique() {
        let mut ids = Ids::default();
        assert_eq!(
            ids.unique(&["server", "l4", "gateways", "127.0.0.1:9411"]),
            "server-l4-gateways-127.0.0.1_9411"
        );
        assert_eq!(
            ids.unique(&["server", "l4", "v6", "[::1]:80"]),
            "server-l4-v6-___1__80"
        );
        assert_eq!(ids.unique(&["pool", "a b"]), "pool-a_b");
        assert_eq!(ids.unique(&["pool", "a:b"]), "pool-a_b-2");
        assert_eq!(ids.unique(&["pool", "a/b"]), "pool-a_b-3");
        assert_eq!(file_stem("examples/stack/l4.edge"), "l4");
    }
}
