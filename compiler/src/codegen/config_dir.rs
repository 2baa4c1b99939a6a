//! The config's folder in generated code: the files a config names are absolute paths (the
//! proxy opens them wherever it is started), and those inside the config's folder are written
//! `concat!(config_dir!(), "/name")`, so the folder is spelled out on one line only.

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

/// The folder of the `.edge` file, and whether any path used it.
pub(super) struct ConfigDir {
    dir: PathBuf,
    used: Cell<bool>,
}

impl ConfigDir {
    /// The folder of `source`, made absolute as the checker makes the paths in it.
    pub(super) fn of(source: &str) -> ConfigDir {
        let parent = Path::new(source).parent().unwrap_or(Path::new(""));
        let dir = if parent.as_os_str().is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned())
        };
        ConfigDir {
            dir,
            used: Cell::new(false),
        }
    }

    /// A file's path: `concat!(config_dir!(), "/rest")` inside the folder, a literal else.
    pub(super) fn path(&self, path: &str) -> TokenStream {
        let rest = Path::new(path)
            .strip_prefix(&self.dir)
            .ok()
            .and_then(|rest| {
                let parts = rest.components().map(|part| match part {
                    Component::Normal(name) => name.to_str(),
                    Component::ParentDir => Some(".."),
                    _ => None,
                });
                parts.collect::<Option<Vec<_>>>()
            });
        match rest {
            Some(parts) if !parts.is_empty() => {
                self.used.set(true);
                let rest = format!("/{}", parts.join("/"));
                quote! { concat!(config_dir!(), #rest) }
            }
            _ => quote! { #path },
        }
    }

    /// The `config_dir!` macro, when a path uses it; it must come before those paths.
    pub(super) fn definition(&self) -> Option<TokenStream> {
        let dir = self.dir.to_str()?;
        self.used.get().then(|| {
            quote! {
                /// The folder of the config, which the files it names are relative to.
                macro_rules! config_dir {
                    () => {
                        #dir
                    };
                }
            }
        })
    }
}
