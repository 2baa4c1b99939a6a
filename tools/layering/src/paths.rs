//! The paths a file names: every `crate::`, `super::` and `self::` path in its tokens, and
//! every `use` declaration (which both names a path and makes an alias for it).

use std::collections::BTreeSet;

use proc_macro2::{TokenStream, TokenTree};

use crate::tree::{is_brace, ModPath};

/// What one file says about other modules.
#[derive(Default)]
pub struct Names {
    /// Absolute paths the file refers to.
    pub references: Vec<ModPath>,
    /// `use` aliases: in module `.0`, the name `.1` stands for the path `.2`.
    pub aliases: Vec<(ModPath, String, ModPath)>,
}

/// Reads the names in the tokens of the module at `module`. `known` holds the crate's modules, to tell `use child::X` from `use some_crate::X`.
pub fn names(tokens: &TokenStream, module: &ModPath, known: &BTreeSet<ModPath>) -> Names {
    let mut names = Names::default();
    walk(tokens, module, known, &mut names);
    names
}

fn walk(tokens: &TokenStream, context: &ModPath, known: &BTreeSet<ModPath>, names: &mut Names) {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        match &trees[i] {
            TokenTree::Ident(ident) if ident == "mod" => {
                if let (Some(TokenTree::Ident(name)), Some(TokenTree::Group(body))) =
                    (trees.get(i + 1), trees.get(i + 2))
                {
                    if is_brace(&trees[i + 2]) {
                        let mut inner = context.clone();
                        inner.push(name.to_string());
                        walk(&body.stream(), &inner, known, names);
                        i += 3;
                        continue;
                    }
                }
                i += 1;
            }
            TokenTree::Ident(ident) if ident == "use" => {
                let end = trees[i + 1..]
                    .iter()
                    .position(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ';'))
                    .map_or(trees.len(), |at| i + 1 + at);
                let mut leaves = Vec::new();
                use_tree(&trees[i + 1..end], Vec::new(), &mut leaves);
                for (path, alias) in leaves {
                    if let Some(absolute) = absolute(&path, context, known) {
                        if let Some(alias) = alias {
                            names
                                .aliases
                                .push((context.clone(), alias, absolute.clone()));
                        }
                        names.references.push(absolute);
                    }
                }
                i = end + 1;
            }
            TokenTree::Ident(ident)
                if ["crate", "super", "self"].contains(&ident.to_string().as_str())
                    && is_path_sep(&trees[i + 1..]) =>
            {
                let (path, next) = expression_path(&trees, i);
                if let Some(absolute) = absolute(&path, context, known) {
                    names.references.push(absolute);
                }
                i = next;
            }
            TokenTree::Group(group) => {
                walk(&group.stream(), context, known, names);
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// Whether the tokens start with `::`.
fn is_path_sep(trees: &[TokenTree]) -> bool {
    matches!(
        trees,
        [TokenTree::Punct(a), TokenTree::Punct(b), ..] if a.as_char() == ':' && b.as_char() == ':'
    )
}

/// The path starting at `trees[start]` (`a::b::c`), and the index after it.
fn expression_path(trees: &[TokenTree], start: usize) -> (Vec<String>, usize) {
    let mut path = Vec::new();
    let mut i = start;
    while let Some(TokenTree::Ident(ident)) = trees.get(i) {
        path.push(ident.to_string());
        if is_path_sep(&trees[i + 1..]) {
            i += 3;
        } else {
            return (path, i + 1);
        }
    }
    (path, i)
}

/// The leaves of a use tree (`a::{b, c::d as e, f::*}`): each full path with the name it
/// brings into scope (none for globs and `_`).
fn use_tree(
    trees: &[TokenTree],
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>)>,
) {
    for part in trees.split(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ',')) {
        let mut path = prefix.clone();
        let mut i = 0;
        let mut alias = None;
        let mut nested = false;
        while i < part.len() {
            match &part[i] {
                TokenTree::Ident(ident) if ident == "as" => {
                    alias = part.get(i + 1).map(ToString::to_string);
                    break;
                }
                TokenTree::Ident(ident) => path.push(ident.to_string()),
                TokenTree::Group(group) if is_brace(&part[i]) => {
                    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                    use_tree(&inner, path.clone(), leaves);
                    nested = true;
                    break;
                }
                TokenTree::Punct(p) if p.as_char() == '*' => {
                    nested = true;
                    leaves.push((path.clone(), None));
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        if nested || path.len() == prefix.len() {
            continue;
        }
        let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
        let name = if name == "self" {
            path.pop();
            path.last().cloned().unwrap_or_default()
        } else {
            name
        };
        leaves.push((path, (name != "_").then_some(name)));
    }
}

/// `path` as seen from `context`, made absolute; `None` for paths into other crates.
fn absolute(path: &[String], context: &ModPath, known: &BTreeSet<ModPath>) -> Option<ModPath> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "self" => Some(context.iter().chain(&path[1..]).cloned().collect()),
        "super" => {
            let supers = path
                .iter()
                .take_while(|segment| *segment == "super")
                .count();
            let base = context.len().checked_sub(supers)?;
            Some(
                context[..base]
                    .iter()
                    .chain(&path[supers..])
                    .cloned()
                    .collect(),
            )
        }
        _ => {
            let local: ModPath = context.iter().chain(path.iter().take(1)).cloned().collect();
            known
                .contains(&local)
                .then(|| context.iter().chain(path).cloned().collect())
        }
    }
}
