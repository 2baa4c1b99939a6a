//! What the editor shows over a word: a directive's meaning, usage and default from the
//! compiler's tables, or what a name refers to (`pool users: round_robin, 2 servers`).

use edge_dsl::reference::{Entry, ItemKind};
use edge_dsl::syntax::Directive;
use edge_dsl::value::Method;
use edge_dsl::Span;

use crate::names::{Name, Names};
use crate::tree::{Place, Tree, Word};

/// The text over the word at `offset`, and the word's span.
pub fn hover(tree: &Tree, text: &str, offset: usize) -> Option<(String, Span)> {
    let spot = tree.spot(offset)?;
    match spot.word {
        Word::Name => {
            let name = spot.directive.name.value.as_str();
            let shown = match spot.place {
                Place::Block(block) => directive(block.entry(name)?, block.place()),
                Place::Test => test_line(name)?,
                Place::Unknown => return None,
            };
            Some((shown, spot.directive.name.span))
        }
        Word::Arg(arg) => {
            let names = Names::of(tree);
            let name = names.at(offset).filter(|name| name.span == arg.span)?;
            Some((item(&names, &name, text), name.span))
        }
    }
}

/// A directive as hover and completion show it, in Markdown: what it means, how it is
/// written, its default.
pub fn directive(entry: Entry, place: &str) -> String {
    let mut shown = format!("**`{}`** {place}\n\n{}\n\n", entry.name(), entry.doc());
    shown.push_str(&format!("`{}`", entry.usage()));
    let mut facts = Vec::new();
    if entry.required() {
        facts.push("required".to_owned());
    }
    if let Some(default) = entry.default() {
        facts.push(format!("default: `{default}`"));
    }
    if entry.repeats() {
        facts.push("may be repeated".to_owned());
    }
    if !facts.is_empty() {
        shown.push_str(&format!("\n\n{}", capitalised(&facts.join("; "))));
    }
    shown
}

/// A line of a `test` block, which has no table.
fn test_line(name: &str) -> Option<String> {
    if name == "on" {
        return Some(
            "**`on`** in a test\n\nThe listener the test's requests are sent to; optional with \
             a single HTTP listener.\n\n`on LISTENER`"
                .to_owned(),
        );
    }
    Method::ALL.iter().find(|method| method.as_str() == name)?;
    Some(format!(
        "**`{name}`** in a test\n\nA request, and what it must reach: a route, or the status \
         of a route answering itself (`404` when no route matches).\n\n\
         `{name} https://api.example.com/users/42 -> users`"
    ))
}

/// What `name` refers to, with where it is declared.
fn item(names: &Names<'_>, name: &Name<'_>, text: &str) -> String {
    let keyword = name.kind.keyword();
    let declarations = names.declarations(name);
    let Some(first) = declarations.first() else {
        return format!("no {keyword} named `{}` in this file", name.text);
    };
    let line = text[..first.span.start.min(text.len())]
        .matches('\n')
        .count()
        + 1;
    let summary = first
        .declaration
        .map_or_else(String::new, |directive| describe(name.kind, directive));
    format!(
        "`{keyword} {}`{summary}\n\ndeclared on line {line}",
        name.text
    )
}

/// What an item's declaration says, in a few words: `: round_robin, 2 servers`.
pub fn describe(kind: ItemKind, item: &Directive) -> String {
    let within = |name: &'static str| inner(item, name);
    let args = |directive: &Directive| -> String {
        directive
            .args
            .iter()
            .map(|arg| arg.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let facts: Vec<String> = match kind {
        ItemKind::Listener => {
            let mut facts: Vec<String> = within("bind").map(args).collect();
            facts.push(
                within("mode")
                    .next()
                    .map_or_else(|| "http".to_owned(), args),
            );
            facts.extend(within("tls").next().map(|_| "TLS".to_owned()));
            facts
        }
        ItemKind::Pool => {
            let balance = within("balance")
                .next()
                .map_or_else(|| "round_robin".to_owned(), args);
            let servers = within("server").count();
            let mut facts = vec![balance, counted(servers, "server")];
            facts.extend(within("dns_srv").map(|srv| format!("SRV {}", args(srv))));
            facts
        }
        ItemKind::Route => {
            let actions = ["forward", "respond", "redirect", "serve"];
            let mut facts: Vec<String> =
                within("on").map(|on| format!("on {}", args(on))).collect();
            facts.extend(
                actions
                    .iter()
                    .flat_map(|action| within(action))
                    .map(|action| format!("{} {}", action.name.value, args(action))),
            );
            facts
        }
        ItemKind::Policy | ItemKind::Store => item
            .args
            .last()
            .map(|kind| kind.text.clone())
            .into_iter()
            .collect(),
    };
    if facts.is_empty() {
        String::new()
    } else {
        format!(": {}", facts.join(", "))
    }
}

/// The directives `name` in the block of `item`.
fn inner<'d>(item: &'d Directive, name: &'static str) -> impl Iterator<Item = &'d Directive> {
    item.block
        .iter()
        .flat_map(|block| &block.directives)
        .filter(move |directive| directive.name.value == name)
}

/// `1 server`, `2 servers`.
fn counted(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
listener web {\n    bind 127.0.0.1:8080\n}\n\
pool users {\n    server 127.0.0.1:9000\n    server 127.0.0.1:9001\n}\n\
route r {\n    on web\n    forward users\n    forward nowhere\n}\n";

    fn over(needle: &str) -> String {
        let tree = Tree::parse(CONFIG).expect("parses");
        let offset = CONFIG.rfind(needle).expect("in the text") + 1;
        hover(&tree, CONFIG, offset)
            .map(|(text, _)| text)
            .unwrap_or_default()
    }

    #[test]
    fn a_directive_shows_its_meaning_usage_and_default() {
        let shown = over("bind");
        assert!(
            shown.starts_with("**`bind`** in a listener\n\nThe address"),
            "{shown}"
        );
        assert!(shown.contains("`bind 127.0.0.1:8080`"), "{shown}");
        assert!(shown.ends_with("Required"), "{shown}");
        assert!(over("server")
            .ends_with("Required; default: `weight 1, no cap, primary`; may be repeated"));
    }

    #[test]
    fn a_name_shows_what_it_refers_to() {
        assert_eq!(
            over("users\n    forward"),
            "`pool users`: round_robin, 2 servers\n\ndeclared on line 4"
        );
        assert_eq!(
            over("web\n    forward"),
            "`listener web`: 127.0.0.1:8080, http\n\ndeclared on line 1"
        );
        assert_eq!(
            over("r {"),
            "`route r`: on web, forward users, forward nowhere\n\ndeclared on line 8"
        );
        assert_eq!(over("nowhere"), "no pool named `nowhere` in this file");
    }
}
