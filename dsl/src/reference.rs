//! The directives of every block, read from the tables the lowering checks files with: what
//! each means, how it is written, its default, and which names it declares or refers to. Editors
//! (`edgec lsp`'s hover and completion) and the syntax highlighting's tests read it, so what they
//! show cannot drift from what the compiler accepts.
//!
//! ```
//! use edge_dsl::reference::{Block, ItemKind};
//!
//! let pool = Block::top_level().entry("pool").expect("a top-level item");
//! assert_eq!(pool.declares(), Some(ItemKind::Pool));
//! let balance = pool.block(None).and_then(|pool| pool.entry("balance")).expect("a pool directive");
//! assert_eq!(balance.default(), Some("round_robin"));
//! ```

use crate::lower::table::{Naming, Need, Opens, Repeat, Rule, Table};
use crate::lower::ITEMS;

pub use crate::lower::table::ItemKind;

impl ItemKind {
    /// The keyword that declares such an item: `listener`, `pool`...
    pub fn keyword(self) -> &'static str {
        match self {
            ItemKind::Listener => "listener",
            ItemKind::Pool => "pool",
            ItemKind::Route => "route",
            ItemKind::Policy => "policy",
            ItemKind::Store => "store",
        }
    }
}

/// A kind of block: the top level, a listener, a `jwt` policy, a pool's `tls`...
#[derive(Clone, Copy, Debug)]
pub struct Block(&'static Table);

impl Block {
    /// The items of a file.
    pub fn top_level() -> Block {
        Block(&ITEMS)
    }

    /// Every kind of block reachable from the top level, each once (blocks of one kind, such
    /// as a headers policy's `request` and `response`, share their place), the top level first.
    pub fn all() -> Vec<Block> {
        let mut blocks = vec![Block::top_level()];
        let mut next = 0;
        while let Some(block) = blocks.get(next).copied() {
            next += 1;
            for entry in block.entries() {
                for inner in entry.blocks() {
                    if !blocks.iter().any(|known| known.place() == inner.place()) {
                        blocks.push(inner);
                    }
                }
            }
        }
        blocks
    }

    /// Where the block is, as diagnostics say it: "in a listener", "in `tls`".
    pub fn place(self) -> &'static str {
        self.0.place
    }

    /// The directives the block takes, in the order its diagnostics list them.
    pub fn entries(self) -> impl Iterator<Item = Entry> {
        self.0
            .rules
            .iter()
            .filter(|rule| !matches!(rule.need, Need::Elsewhere(_)))
            .map(Entry)
    }

    /// The directive `name` of this block, if it takes one.
    pub fn entry(self, name: &str) -> Option<Entry> {
        self.entries().find(|entry| entry.name() == name)
    }
}

/// One directive of a block.
#[derive(Clone, Copy, Debug)]
pub struct Entry(&'static Rule);

impl Entry {
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The directive written right; alternatives are joined by "` or `", to be shown between
    /// backticks.
    pub fn usage(self) -> &'static str {
        self.0.usage
    }

    /// What it means, in a sentence or two.
    pub fn doc(self) -> &'static str {
        self.0.doc
    }

    /// What holds when it is not given, where that is worth saying.
    pub fn default(self) -> Option<&'static str> {
        self.0.default
    }

    /// Whether the block must give it (or a directive standing in for it).
    pub fn required(self) -> bool {
        matches!(self.0.need, Need::Required(_))
    }

    /// Whether it may be given more than once.
    pub fn repeats(self) -> bool {
        self.0.repeat == Repeat::Many
    }

    /// The kind of item whose name its first argument declares: `pool NAME`.
    pub fn declares(self) -> Option<ItemKind> {
        match self.0.naming {
            Some(Naming::Declares(kind)) => Some(kind),
            _ => None,
        }
    }

    /// The kind of item its arguments name: `forward POOL`, `use POLICY, POLICY`.
    pub fn refers_to(self) -> Option<ItemKind> {
        match self.0.naming {
            Some(Naming::RefersTo(kind)) => Some(kind),
            _ => None,
        }
    }

    /// The kinds its last argument may name, each opening a block of its own: `jwt`, `cors`...
    /// for `policy NAME = KIND`; empty for a directive whose block is always the same kind.
    pub fn kinds(self) -> impl Iterator<Item = &'static str> {
        let kinds = match self.0.opens {
            Opens::ByKind(kinds) => kinds,
            _ => &[],
        };
        kinds.iter().map(|(kind, _)| *kind)
    }

    /// The block this directive opens, given its last argument (`kind`) for the directives
    /// whose block depends on it (`policy NAME = jwt`, `health http`); `None` for directives
    /// without a block, and for `test`, whose lines are requests rather than directives.
    pub fn block(self, kind: Option<&str>) -> Option<Block> {
        match self.0.opens {
            Opens::Nothing => None,
            Opens::Table(table) => Some(Block(table)),
            Opens::ByKind(kinds) => kinds
                .iter()
                .find(|(name, _)| Some(*name) == kind)
                .map(|(_, table)| Block(table)),
        }
    }

    /// Every block this directive may open.
    fn blocks(self) -> Vec<Block> {
        match self.0.opens {
            Opens::Nothing => Vec::new(),
            Opens::Table(table) => vec![Block(table)],
            Opens::ByKind(kinds) => kinds.iter().map(|(_, table)| Block(table)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Block, Entry};
    use crate::ast::{PolicyKind, StoreKind};
    use crate::SourceFile;

    /// The head of a directive, written from its usage (`tls`, `sni "api.example.com"`,
    /// `policy NAME = jwt`): the text before its block, the last word replaced by `kind`.
    fn head(entry: Entry, kind: Option<&str>) -> String {
        let usage = entry.usage().split('`').next().unwrap_or_default();
        let written = usage.split('{').next().unwrap_or_default().trim();
        match kind {
            Some(kind) => match written.rsplit_once(' ') {
                Some((before, _)) => format!("{before} {kind}"),
                None => format!("{written} {kind}"),
            },
            None => written.to_owned(),
        }
    }

    /// Every block with the heads of the blocks around it, from the top level down: the
    /// places the lowering is asked about.
    fn nested() -> Vec<(Vec<String>, Block)> {
        let mut found = vec![(Vec::new(), Block::top_level())];
        let mut next = 0;
        while let Some((heads, block)) = found.get(next).cloned() {
            next += 1;
            for entry in block.entries() {
                let kinds: Vec<Option<&str>> = match entry.kinds().collect::<Vec<_>>() {
                    kinds if kinds.is_empty() => vec![None],
                    kinds => kinds.into_iter().map(Some).collect(),
                };
                for kind in kinds {
                    if let Some(inner) = entry.block(kind) {
                        let mut inner_heads = heads.clone();
                        inner_heads.push(head(entry, kind));
                        found.push((inner_heads, inner));
                    }
                }
            }
        }
        found
    }

    /// `line` inside the blocks `heads` open, as a file.
    fn within(heads: &[String], line: &str) -> String {
        let mut text = String::new();
        for head in heads {
            text.push_str(&format!("{head} {{\n"));
        }
        text.push_str(line);
        text.push('\n');
        text.push_str(&"}\n".repeat(heads.len()));
        text
    }

    /// The unknown-directive diagnostic for the directive named `name` in `text`, if any.
    fn unknown(text: &str, name: &str) -> Option<crate::Diagnostic> {
        let at = text.find(name).expect("the name is in the text");
        let diagnostics = crate::parse(&SourceFile::new("t.edge", text)).err()?;
        diagnostics.into_iter().find(|diagnostic| {
            diagnostic.code == "unknown-directive"
                && diagnostic.labels.iter().any(|label| label.span.start == at)
        })
    }

    #[test]
    fn each_block_lists_the_directives_the_lowering_takes_there() {
        let blocks = nested();
        assert!(blocks.len() >= 30, "{} blocks found", blocks.len());
        for (heads, block) in blocks {
            let text = within(&heads, "zzz_unknown 1");
            let diagnostic = unknown(&text, "zzz_unknown")
                .unwrap_or_else(|| panic!("no unknown directive reported in:\n{text}"));
            let listed: Vec<String> = block
                .entries()
                .map(|entry| format!("`{}`", entry.name()))
                .collect();
            let expected = format!(
                "{}, the directives are: {}",
                block.place(),
                listed.join(", ")
            );
            assert!(
                diagnostic.help.contains(&expected),
                "in:\n{text}\nthe lowering says {:?}, the reference {expected:?}",
                diagnostic.help
            );
        }
    }

    #[test]
    fn no_directive_opens_a_block_of_directives_the_reference_does_not_know() {
        for (heads, block) in nested() {
            for entry in block.entries().filter(|entry| entry.block(None).is_none()) {
                if entry.kinds().next().is_some() {
                    continue;
                }
                let line = format!("{} {{\nzzz_unknown 1\n}}", head(entry, None));
                let text = within(&heads, &line);
                assert!(
                    unknown(&text, "zzz_unknown").is_none(),
                    "`{}` {} opens a block of directives:\n{text}",
                    entry.name(),
                    block.place()
                );
            }
        }
    }

    #[test]
    fn the_kinds_of_items_are_those_of_the_ast() {
        let top = Block::top_level();
        let kinds = |name: &str| -> Vec<&str> {
            top.entry(name)
                .map(|e| e.kinds().collect())
                .unwrap_or_default()
        };
        assert_eq!(kinds("policy"), PolicyKind::NAMES);
        assert_eq!(kinds("store"), StoreKind::NAMES);
    }

    #[test]
    fn every_directive_says_what_it_means() {
        for block in Block::all() {
            for entry in block.entries() {
                let doc = entry.doc();
                assert!(
                    doc.ends_with('.') && doc.len() > 10,
                    "`{}` {} needs a sentence: {doc:?}",
                    entry.name(),
                    block.place()
                );
                assert!(!entry.usage().is_empty());
            }
        }
    }
}
