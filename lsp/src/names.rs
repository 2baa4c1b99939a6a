//! The names of a document: where listeners, pools, routes, policies and stores are declared
//! and where they are used, read from the syntax tree (so a file with semantic errors still has
//! them) through the compiler's tables, which say which directives declare a name and which
//! refer to one. `test` lines, which have no table, are read here: `on LISTENER`, and a
//! request's `-> ROUTE` and `via POLICY, ...`.

use edge_dsl::reference::ItemKind;
use edge_dsl::syntax::{Arg, Directive};
use edge_dsl::Span;

use crate::tree::{covers, Place, Tree};

/// One name, declared or used.
#[derive(Clone, Copy, Debug)]
pub struct Name<'t> {
    pub kind: ItemKind,
    pub text: &'t str,
    pub span: Span,
    /// The directive declaring it, for a declaration.
    pub declaration: Option<&'t Directive>,
}

impl Name<'_> {
    /// Whether `other` names the same item.
    pub fn same(&self, other: &Name<'_>) -> bool {
        self.kind == other.kind && self.text == other.text
    }
}

/// Every name of a document, in the order written.
pub struct Names<'t> {
    all: Vec<Name<'t>>,
}

impl<'t> Names<'t> {
    pub fn of(tree: &'t Tree) -> Names<'t> {
        let mut all = Vec::new();
        for (place, directive) in tree.walk() {
            match place {
                Place::Block(_) => block_names(place, directive, &mut all),
                Place::Test => test_names(directive, &mut all),
                Place::Unknown => {}
            }
        }
        Names { all }
    }

    /// The name `offset` is on (or just after).
    pub fn at(&self, offset: usize) -> Option<Name<'t>> {
        self.all
            .iter()
            .find(|name| covers(name.span, offset))
            .copied()
    }

    /// The declarations of `name`'s item (more than one in a file with a duplicate name).
    pub fn declarations(&self, name: &Name<'_>) -> Vec<Name<'t>> {
        self.all
            .iter()
            .filter(|other| other.declaration.is_some() && other.same(name))
            .copied()
            .collect()
    }

    /// The declarations of every item of `kind`, each name once.
    pub fn declared(&self, kind: ItemKind) -> Vec<Name<'t>> {
        let mut declared: Vec<Name<'t>> = Vec::new();
        for name in &self.all {
            if name.kind == kind
                && name.declaration.is_some()
                && !declared.iter().any(|known| known.text == name.text)
            {
                declared.push(*name);
            }
        }
        declared
    }

    /// Every use of `name`'s item, and its declarations with `declarations`.
    pub fn uses(&self, name: &Name<'_>, declarations: bool) -> Vec<Name<'t>> {
        self.all
            .iter()
            .filter(|other| other.same(name) && (declarations || other.declaration.is_none()))
            .copied()
            .collect()
    }
}

/// The names of a directive of a block the compiler has a table for.
fn block_names<'t>(place: Place, directive: &'t Directive, all: &mut Vec<Name<'t>>) {
    let Some(entry) = place.entry(&directive.name.value) else {
        return;
    };
    if let Some(kind) = entry.declares() {
        all.extend(
            directive
                .args
                .first()
                .and_then(|arg| name(kind, arg, Some(directive))),
        );
    }
    if let Some(kind) = entry.refers_to() {
        // A split's weights are numbers, not names; its key follows `by`.
        all.extend(
            directive
                .args
                .iter()
                .take_while(|arg| !is_word(arg, "by"))
                .filter_map(|arg| name(kind, arg, None)),
        );
    }
}

/// The names of a line of a `test`: `on LISTENER`, or a request's `-> ROUTE` (not a status)
/// and `via POLICY, ...`.
fn test_names<'t>(line: &'t Directive, all: &mut Vec<Name<'t>>) {
    if line.name.value == "on" {
        all.extend(
            line.args
                .iter()
                .filter_map(|arg| name(ItemKind::Listener, arg, None)),
        );
        return;
    }
    let mut args = line.args.iter().skip_while(|arg| !is_word(arg, "->"));
    args.next();
    if let Some(route) = args.next().filter(|arg| !is_status(arg)) {
        all.extend(name(ItemKind::Route, route, None));
    }
    let policies = args.skip_while(|arg| !is_word(arg, "via")).skip(1);
    all.extend(policies.filter_map(|arg| name(ItemKind::Policy, arg, None)));
}

fn is_word(arg: &Arg, word: &str) -> bool {
    arg.is_bare() && arg.text == word
}

fn is_status(arg: &Arg) -> bool {
    arg.text.bytes().all(|b| b.is_ascii_digit())
}

/// `arg` as a name of `kind`, when it is written as one (a bare word of letters, digits and
/// `_`).
fn name<'t>(kind: ItemKind, arg: &'t Arg, declaration: Option<&'t Directive>) -> Option<Name<'t>> {
    let identifier = arg.is_bare()
        && arg
            .text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && arg
            .text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    identifier.then_some(Name {
        kind,
        text: &arg.text,
        span: arg.span,
        declaration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
listener web {\n    bind 127.0.0.1:8080\n}\n\
pool users {\n    server 127.0.0.1:9000\n}\n\
policy limit = rate_limit {\n    rate 10/s\n    store shared\n}\n\
store shared = redis {\n    url \"redis://127.0.0.1\"\n}\n\
route r {\n    on web\n    use limit\n    forward users\n}\n\
route s {\n    on web\n    forward users\n}\n\
test \"t\" {\n    on web\n    GET /x -> r via limit\n    GET /y -> 404\n}\n";

    fn listed(names: &[Name<'_>]) -> Vec<String> {
        names
            .iter()
            .map(|name| {
                let what = if name.declaration.is_some() {
                    "declares"
                } else {
                    "uses"
                };
                format!("{what} {} {}", name.kind.keyword(), name.text)
            })
            .collect()
    }

    #[test]
    fn declarations_and_uses_are_found_in_every_block() {
        let tree = Tree::parse(CONFIG).expect("parses");
        let names = Names::of(&tree);
        assert_eq!(
            listed(&names.all),
            [
                "declares listener web",
                "declares pool users",
                "declares policy limit",
                "uses store shared",
                "declares store shared",
                "declares route r",
                "uses listener web",
                "uses policy limit",
                "uses pool users",
                "declares route s",
                "uses listener web",
                "uses pool users",
                "uses listener web",
                "uses route r",
                "uses policy limit",
            ]
        );
        let users = names
            .at(CONFIG.rfind("users").expect("in the text"))
            .expect("a name");
        assert_eq!(names.uses(&users, false).len(), 2);
        assert_eq!(names.uses(&users, true).len(), 3);
        assert_eq!(names.declarations(&users).len(), 1);
        assert_eq!(
            listed(&names.declared(ItemKind::Store)),
            ["declares store shared"]
        );
    }
}
