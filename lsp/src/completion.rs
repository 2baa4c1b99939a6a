//! Completion: at the start of a line, the directives the block around the cursor takes (from
//! the compiler's tables, without those given once already); after a directive that names an
//! item (`forward`, `use`, `on`, `store`), the items of that kind the file declares; after
//! `policy NAME =`, `store NAME =` or `health`, the kinds. The line being typed is read as
//! words; the blocks around it come from the syntax tree of the file without that line (or
//! with it, when the line opens a block).

use edge_dsl::reference::{Entry, ItemKind};
use edge_dsl::value::Method;
use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};

use crate::hover;
use crate::names::Names;
use crate::tree::{Place, Tree};

/// What to offer at `offset` of `text`; `on_space` when typing a space asked for it (nothing
/// is offered then at the start of a line, where a space is indentation).
pub fn complete(text: &str, offset: usize, on_space: bool) -> Vec<CompletionItem> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
    let line = &text[line_start..offset];
    let segment = line.rsplit(['{', '}', ';']).next().unwrap_or(line);
    if segment.contains('#') || segment.matches('"').count() % 2 == 1 {
        return Vec::new();
    }
    let mut words: Vec<&str> = segment
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty())
        .collect();
    if !segment.ends_with(|c: char| c.is_whitespace() || c == ',') {
        words.pop();
    }
    let tree = Tree::parse_without_line(text, offset).or_else(|| Tree::parse_around(text, offset));
    let Some(tree) = tree else {
        return Vec::new();
    };
    let place = tree.place_at(offset);
    match words.as_slice() {
        [] if on_space => Vec::new(),
        [] => directives(&tree, place, offset),
        [first, ..] => arguments(&tree, place, first, &words),
    }
}

/// The directives the block at `offset` takes, less those it takes once and has.
fn directives(tree: &Tree, place: Place, offset: usize) -> Vec<CompletionItem> {
    let given: Vec<&str> = tree
        .siblings_at(offset)
        .iter()
        .map(|directive| directive.name.value.as_str())
        .collect();
    match place {
        Place::Block(block) => block
            .entries()
            .filter(|entry| entry.repeats() || !given.contains(&entry.name()))
            .map(|entry| directive(entry, block.place()))
            .collect(),
        Place::Test => {
            let on = CompletionItem {
                label: "on".to_owned(),
                kind: Some(CompletionItemKind::KEYWORD),
                detail: Some("on LISTENER".to_owned()),
                ..CompletionItem::default()
            };
            let requests = Method::ALL.iter().map(|method| CompletionItem {
                label: method.as_str().to_owned(),
                kind: Some(CompletionItemKind::KEYWORD),
                detail: Some(format!("{} URL -> ROUTE", method.as_str())),
                ..CompletionItem::default()
            });
            std::iter::once(on)
                .filter(|_| !given.contains(&"on"))
                .chain(requests)
                .collect()
        }
        Place::Unknown => Vec::new(),
    }
}

fn directive(entry: Entry, place: &str) -> CompletionItem {
    CompletionItem {
        label: entry.name().to_owned(),
        kind: Some(CompletionItemKind::KEYWORD),
        detail: Some(entry.usage().replace("` or `", "  or  ")),
        documentation: Some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: hover::directive(entry, place),
        })),
        ..CompletionItem::default()
    }
}

/// What may follow the `words` of a directive: names, or kinds.
fn arguments(tree: &Tree, place: Place, first: &str, words: &[&str]) -> Vec<CompletionItem> {
    let previous = words.last().copied().unwrap_or_default();
    match place {
        Place::Block(_) => {
            let Some(entry) = place.entry(first) else {
                return Vec::new();
            };
            if let Some(kind) = entry.refers_to() {
                return names(tree, kind);
            }
            let kind_follows = match entry.declares() {
                Some(_) => previous == "=",
                None => words.len() == 1,
            };
            if !kind_follows {
                return Vec::new();
            }
            entry
                .kinds()
                .map(|kind| CompletionItem {
                    label: kind.to_owned(),
                    kind: Some(CompletionItemKind::ENUM_MEMBER),
                    detail: entry
                        .block(Some(kind))
                        .map(|block| block.place().to_owned()),
                    ..CompletionItem::default()
                })
                .collect()
        }
        Place::Test if first == "on" && words.len() == 1 => names(tree, ItemKind::Listener),
        Place::Test if previous == "->" => names(tree, ItemKind::Route),
        Place::Test if words.contains(&"via") => names(tree, ItemKind::Policy),
        Place::Test | Place::Unknown => Vec::new(),
    }
}

/// The items of `kind` the file declares, each with what it is.
fn names(tree: &Tree, kind: ItemKind) -> Vec<CompletionItem> {
    Names::of(tree)
        .declared(kind)
        .into_iter()
        .map(|name| CompletionItem {
            label: name.text.to_owned(),
            kind: Some(CompletionItemKind::REFERENCE),
            detail: Some(format!(
                "{} {}{}",
                kind.keyword(),
                name.text,
                name.declaration
                    .map(|item| hover::describe(kind, item))
                    .unwrap_or_default()
            )),
            ..CompletionItem::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
listener web {\n    bind 127.0.0.1:8080\n}\n\
pool users {\n    server 127.0.0.1:9000\n    \n}\n\
pool admins {\n    server 127.0.0.1:9001\n}\n\
route r {\n    on web\n    forward \n}\n";

    fn labels(text: &str, at: &str, after: usize) -> Vec<String> {
        let offset = text.find(at).expect("in the text") + after;
        complete(text, offset, false)
            .into_iter()
            .map(|item| item.label)
            .collect()
    }

    #[test]
    fn a_block_offers_its_directives() {
        let offered = labels(CONFIG, "    \n}", 4);
        assert!(offered.contains(&"server".to_owned()), "{offered:?}");
        assert!(offered.contains(&"balance".to_owned()), "{offered:?}");
        assert!(!offered.contains(&"bind".to_owned()), "{offered:?}");
        let top = labels(CONFIG, "pool admins", 0);
        assert!(top.contains(&"listener".to_owned()) && top.contains(&"policy".to_owned()));
    }

    #[test]
    fn directives_given_once_are_not_offered_again() {
        let text = "listener web {\n    bind 127.0.0.1:8080\n    \n}\n";
        let offered = labels(text, "    \n}", 4);
        assert!(offered.contains(&"mode".to_owned()), "{offered:?}");
        assert!(!offered.contains(&"bind".to_owned()), "{offered:?}");
    }

    #[test]
    fn a_reference_offers_the_names_of_its_kind() {
        assert_eq!(labels(CONFIG, "forward \n", 8), ["users", "admins"]);
        let typed = CONFIG.replace("forward \n", "forward us\n");
        assert_eq!(labels(&typed, "forward us", 10), ["users", "admins"]);
        assert_eq!(labels(CONFIG, "on web", 3), ["web"]);
    }

    #[test]
    fn kinds_follow_their_items() {
        let text = "policy auth = \n";
        let offered = labels(text, "= ", 2);
        assert!(offered.contains(&"jwt".to_owned()), "{offered:?}");
        assert!(labels(text, "auth", 4).is_empty());
        let health = "pool p {\n    health \n}\n";
        assert_eq!(labels(health, "health ", 7), ["http", "tcp"]);
    }

    #[test]
    fn tests_offer_requests_routes_and_listeners() {
        let text =
            "route users {\n    on web\n    respond 200\n}\ntest \"t\" {\n    \n    GET / -> \n}\n";
        let lines = labels(text, "    \n    GET", 4);
        assert_eq!(lines[..2], ["on".to_owned(), "GET".to_owned()]);
        assert_eq!(labels(text, "-> \n", 3), ["users"]);
    }

    #[test]
    fn nothing_is_offered_in_strings_and_comments() {
        assert!(labels("listener web { # bi\n}\n", "bi", 2).is_empty());
        assert!(labels("via \"fo\n", "fo", 2).is_empty());
    }
}
