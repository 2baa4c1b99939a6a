//! The `BUILD` static: what the proxy tells of the config it was built from (`--version`,
//! `--print-config`, the `edge_build_info` metric), and the folder its relative paths start
//! from when it is given no run-time root. The config's text is the `CONFIG_TEXT` static,
//! appended to the formatted module as written (see [`config_text`]); its picture, the SVG
//! `edgec graph` draws, the `TOPOLOGY` static the admin listener's page shows.

use std::fmt::Write;
use std::path::Path;

use edge_dsl::SourceFile;
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use sha2::{Digest, Sha256};

pub(super) fn build_info(source: &SourceFile) -> TokenStream {
    let path = Path::new(&source.name);
    let name = path.file_name().map_or_else(
        || source.name.clone(),
        |name| name.to_string_lossy().into_owned(),
    );
    let digest = Sha256::digest(source.text.as_bytes()).iter().fold(
        String::with_capacity(64),
        |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        },
    );
    let root = config_folder(path).display().to_string();
    quote! {
        /// The config this proxy was built from.
        pub static BUILD: ::edge_runtime::BuildInfo = ::edge_runtime::BuildInfo {
            config_name: #name,
            config_sha256: #digest,
            built_at: ::core::option_env!("EDGE_BUILT_AT"),
            root: #root,
            config_text: CONFIG_TEXT,
            topology: TOPOLOGY,
        };
    }
}

/// The folder of the `.edge` file, absolute, as the checker read the files in it.
fn config_folder(source: &Path) -> std::path::PathBuf {
    let parent = source.parent().unwrap_or(Path::new(""));
    if parent.as_os_str().is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned())
    }
}

/// The `CONFIG_TEXT` static, to append to the formatted module: written after formatting so
/// that nothing (the blank lines put between items) touches the text.
pub(super) fn config_text(source: &SourceFile) -> String {
    format!(
        "\n/// The config this proxy was built from, as written.\npub static CONFIG_TEXT: &str = {};\n",
        text_literal(&source.text)
    )
}

/// The `TOPOLOGY` static, appended like [`config_text`]: the config drawn as `edgec graph
/// --format svg` draws it.
pub(super) fn topology(model: &crate::model::Model, source: &SourceFile) -> String {
    let name = Path::new(&source.name).file_name().map_or_else(
        || source.name.clone(),
        |name| name.to_string_lossy().into_owned(),
    );
    let svg = crate::graph::Graph::of(&[(name.as_str(), model)]).to_svg();
    format!(
        "\n/// The config drawn as `edgec graph` draws it (SVG), for the admin listener's page.\npub static TOPOLOGY: &str = {};\n",
        text_literal(&svg)
    )
}

/// The config's text as a raw string literal, so the generated code shows it as written
/// (a plain literal for text with a carriage return, which raw strings cannot hold).
fn text_literal(text: &str) -> Literal {
    if text.contains('\r') {
        return Literal::string(text);
    }
    let hashes = (0..)
        .map(|count| "#".repeat(count))
        .find(|hashes| !text.contains(&format!("\"{hashes}")))
        .expect("some number of hashes closes the literal");
    format!("r{hashes}\"{text}\"{hashes}")
        .parse()
        .expect("a raw string literal parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_literals_hold_quotes_and_hashes() {
        for text in [
            "plain",
            "a \"quoted\" word",
            "ends with \"#",
            "\"## and \"#",
        ] {
            let literal = text_literal(text).to_string();
            let parsed: syn::LitStr = syn::parse_str(&literal).unwrap();
            assert_eq!(parsed.value(), text, "{literal}");
        }
        assert_eq!(
            syn::parse_str::<syn::LitStr>(&text_literal("a\r\nb").to_string())
                .unwrap()
                .value(),
            "a\r\nb"
        );
    }
}
