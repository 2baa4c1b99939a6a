//! A document's syntax tree, as the compiler's own parser reads it, and where an offset falls in
//! it: the blocks around it, each known through the compiler's directive tables, and the word
//! under it. A file being typed often does not parse; the tree is then read again with the
//! line being edited left out, or with the blocks still open closed, so that the blocks around
//! the cursor are known all the same.

use edge_dsl::reference::{Block, Entry};
use edge_dsl::syntax::{self, Arg, Directive};
use edge_dsl::Span;

/// The most blocks closed for a file whose last blocks are still open.
const MOST_OPEN_BLOCKS: usize = 8;

/// The top-level directives of a document.
#[derive(Debug)]
pub struct Tree {
    pub directives: Vec<Directive>,
}

/// What a block holds.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    /// Directives, as this table of the compiler's gives them.
    Block(Block),
    /// The lines of a `test`: `on LISTENER` and requests.
    Test,
    /// Nothing the compiler takes (inside an unknown directive, say).
    Unknown,
}

/// The word of a directive an offset is on.
#[derive(Clone, Copy, Debug)]
pub enum Word<'t> {
    Name,
    Arg(&'t Arg),
}

/// A directive, the blocks around it and the word of it an offset is on.
#[derive(Debug)]
pub struct Spot<'t> {
    pub place: Place,
    pub directive: &'t Directive,
    pub word: Word<'t>,
}

impl Tree {
    /// The tree of `text`, if it parses.
    pub fn parse(text: &str) -> Option<Tree> {
        syntax::parse(text)
            .ok()
            .map(|directives| Tree { directives })
    }

    /// The tree of `text` as it is; else with its open blocks closed; else without the line
    /// holding `offset` (spaces in its place, so offsets stay), and its open blocks closed.
    pub fn parse_around(text: &str, offset: usize) -> Option<Tree> {
        Tree::closing(text).or_else(|| Tree::closing(&without_line(text, offset)))
    }

    /// The tree of `text` without the line holding `offset`: the blocks around a line being
    /// typed, whatever the line holds so far.
    pub fn parse_without_line(text: &str, offset: usize) -> Option<Tree> {
        Tree::closing(&without_line(text, offset))
    }

    /// `text`, or `text` with up to [`MOST_OPEN_BLOCKS`] blocks closed at its end.
    fn closing(text: &str) -> Option<Tree> {
        let mut closed = text.to_owned();
        for _ in 0..=MOST_OPEN_BLOCKS {
            if let Some(tree) = Tree::parse(&closed) {
                return Some(tree);
            }
            closed.push_str("\n}");
        }
        None
    }

    /// The directives whose blocks hold `offset`, outermost first.
    pub fn enclosing(&self, offset: usize) -> Vec<&Directive> {
        let mut chain = Vec::new();
        let mut directives = &self.directives[..];
        while let Some(directive) = directives.iter().find(|directive| {
            directive
                .block
                .as_ref()
                .is_some_and(|block| block.span.start < offset && offset < block.span.end)
        }) {
            chain.push(directive);
            directives = directive
                .block
                .as_ref()
                .map_or(&[][..], |block| &block.directives[..]);
        }
        chain
    }

    /// What the innermost block holding `offset` holds.
    pub fn place_at(&self, offset: usize) -> Place {
        self.enclosing(offset)
            .into_iter()
            .fold(Place::top(), |place, directive| place.inner(directive))
    }

    /// The directives of the innermost block holding `offset` (the top level's if none).
    pub fn siblings_at(&self, offset: usize) -> &[Directive] {
        self.enclosing(offset)
            .last()
            .and_then(|directive| directive.block.as_ref())
            .map_or(&self.directives[..], |block| &block.directives[..])
    }

    /// The directive whose name or argument `offset` is on (or just after).
    pub fn spot(&self, offset: usize) -> Option<Spot<'_>> {
        let place = self.place_at(offset);
        let directive = self
            .siblings_at(offset)
            .iter()
            .find(|directive| covers(directive.head_span(), offset))?;
        let word = if covers(directive.name.span, offset) {
            Word::Name
        } else {
            Word::Arg(directive.args.iter().find(|arg| covers(arg.span, offset))?)
        };
        Some(Spot {
            place,
            directive,
            word,
        })
    }

    /// Every directive with what the block it is in holds, in the order written.
    pub fn walk(&self) -> Vec<(Place, &Directive)> {
        let mut found = Vec::new();
        walk(&self.directives, Place::top(), &mut found);
        found
    }
}

impl Place {
    pub fn top() -> Place {
        Place::Block(Block::top_level())
    }

    /// The entry of the directive `name` here.
    pub fn entry(self, name: &str) -> Option<Entry> {
        match self {
            Place::Block(block) => block.entry(name),
            Place::Test | Place::Unknown => None,
        }
    }

    /// What the block of `directive`, given here, holds.
    pub fn inner(self, directive: &Directive) -> Place {
        let name = directive.name.value.as_str();
        if name == "test"
            && matches!(self, Place::Block(block) if block.place() == Block::top_level().place())
        {
            return Place::Test;
        }
        let kind = directive.args.last().map(|arg| arg.text.as_str());
        self.entry(name)
            .and_then(|entry| entry.block(kind))
            .map_or(Place::Unknown, Place::Block)
    }
}

fn walk<'t>(directives: &'t [Directive], place: Place, found: &mut Vec<(Place, &'t Directive)>) {
    for directive in directives {
        found.push((place, directive));
        if let Some(block) = &directive.block {
            walk(&block.directives, place.inner(directive), found);
        }
    }
}

/// Whether `offset` is on `span` or just after it (where a cursor ending a word is).
pub fn covers(span: Span, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

/// `text` with the line holding `offset` turned into spaces.
fn without_line(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
    let end = text[offset..]
        .find('\n')
        .map_or(text.len(), |at| offset + at);
    let mut blanked = String::with_capacity(text.len());
    blanked.push_str(&text[..start]);
    blanked.push_str(&" ".repeat(end - start));
    blanked.push_str(&text[end..]);
    blanked
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "pool users {\n    server 127.0.0.1:9000\n    health http {\n        path \"/\"\n    }\n}\n";

    fn place_name(place: Place) -> &'static str {
        match place {
            Place::Block(block) => block.place(),
            Place::Test => "test",
            Place::Unknown => "unknown",
        }
    }

    #[test]
    fn places_follow_the_blocks_and_their_kinds() {
        let tree = Tree::parse(CONFIG).expect("parses");
        let at = |needle: &str| CONFIG.find(needle).expect("in the text");
        assert_eq!(place_name(tree.place_at(0)), "at the top level");
        assert_eq!(place_name(tree.place_at(at("server"))), "in a pool");
        assert_eq!(place_name(tree.place_at(at("path"))), "in `health http`");
        let spot = tree.spot(at("9000")).expect("on an argument");
        assert_eq!(spot.directive.name.value, "server");
        assert!(matches!(spot.word, Word::Arg(arg) if arg.text == "127.0.0.1:9000"));
    }

    #[test]
    fn a_file_being_typed_is_read_around_its_cursor() {
        let typed = "pool users {\n    server 127.0.0.1:9000\n    tls { ca \"x\n";
        assert!(Tree::parse(typed).is_none());
        let tree = Tree::parse_around(typed, typed.len() - 2).expect("read around the cursor");
        assert_eq!(
            place_name(tree.place_at(typed.len() - 2)),
            "in a pool",
            "{tree:?}"
        );
        let test = "test \"t\" {\n    GET / -> ";
        let tree = Tree::parse_around(test, test.len()).expect("closed");
        assert_eq!(place_name(tree.place_at(test.len())), "test");
    }
}
