//! A crate's module tree: every file reached from the root through `mod NAME;`, with its tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// A module's path from the crate root: `[]` is the root, `["policy", "cache"]` is
/// `crate::policy::cache`.
pub type ModPath = Vec<String>;

/// The files of one crate.
pub struct Crate {
    /// Each module defined by a file, with that file and its tokens.
    pub modules: BTreeMap<ModPath, Module>,
}

/// One file of the crate.
pub struct Module {
    pub file: PathBuf,
    pub tokens: TokenStream,
}

impl Crate {
    /// Reads the crate whose root file (`lib.rs` or `main.rs`) is `root`.
    pub fn read(root: &Path) -> std::io::Result<Crate> {
        let mut krate = Crate {
            modules: BTreeMap::new(),
        };
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        krate.add(Vec::new(), root.to_path_buf(), dir)?;
        Ok(krate)
    }

    /// Adds the module in `file`, whose own `mod NAME;` files live in `children`.
    fn add(&mut self, path: ModPath, file: PathBuf, children: PathBuf) -> std::io::Result<()> {
        let source = std::fs::read_to_string(&file)?;
        let tokens = TokenStream::from_str(&source).map_err(|err| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {err}", file.display()),
            )
        })?;
        let declared = declared_modules(&tokens);
        self.modules.insert(
            path.clone(),
            Module {
                file: file.clone(),
                tokens,
            },
        );
        for name in declared {
            let flat = children.join(format!("{name}.rs"));
            let (file, grandchildren) = if flat.is_file() {
                (flat, children.join(&name))
            } else {
                (children.join(&name).join("mod.rs"), children.join(&name))
            };
            let mut child = path.clone();
            child.push(name);
            self.add(child, file, grandchildren)?;
        }
        Ok(())
    }
}

/// The names of `mod NAME;` declarations at the top level of a file.
fn declared_modules(tokens: &TokenStream) -> Vec<String> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    trees
        .windows(3)
        .filter_map(|window| match window {
            [TokenTree::Ident(keyword), TokenTree::Ident(name), TokenTree::Punct(semi)]
                if keyword == "mod" && semi.as_char() == ';' =>
            {
                Some(name.to_string().trim_start_matches("r#").to_owned())
            }
            _ => None,
        })
        .collect()
}

/// Whether a token is a `{ ... }` group.
pub fn is_brace(tree: &TokenTree) -> bool {
    matches!(tree, TokenTree::Group(group) if group.delimiter() == Delimiter::Brace)
}
