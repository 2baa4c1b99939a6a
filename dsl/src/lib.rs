//! The `.edge` language: its pest grammar, a typed AST in which every node carries its span,
//! the span-free values the AST and the compiler's model share ([`value`]), and rustc-style
//! diagnostics.
//!
//! ```
//! let source = edge_dsl::SourceFile::new("ok.edge", "listener web {\n    bind 127.0.0.1:8080\n}\n");
//! let config = edge_dsl::parse(&source).expect("a valid file");
//! assert_eq!(config.listeners[0].name.value, "web");
//! ```

pub mod ast;
mod diagnostic;
mod expand;
mod format;
mod literal;
mod lower;
pub mod reference;
mod sources;
mod span;
pub mod syntax;
pub mod value;

pub use diagnostic::{closest, Diagnostic, Label, Severity, SourceFile};
pub use format::format;
pub use sources::Sources;
pub use span::{Ident, Span, Spanned};

/// Parses and lowers one `.edge` text, returning every syntax or literal error it holds; an
/// `include` in it is an error (nothing is read from disk: see [`parse_config`]).
pub fn parse(source: &SourceFile) -> Result<ast::Config, Vec<Diagnostic>> {
    parse_sources(&mut Sources::new(source.clone()), false)
}

/// Parses and lowers the config whose file is `sources`' first, reading the files it includes
/// (relative to the including file's folder) into `sources`, whose spans diagnostics use.
pub fn parse_config(sources: &mut Sources) -> Result<ast::Config, Vec<Diagnostic>> {
    parse_sources(sources, true)
}

fn parse_sources(
    sources: &mut Sources,
    read_includes: bool,
) -> Result<ast::Config, Vec<Diagnostic>> {
    let directives = syntax::parse(&sources.root().text).map_err(|diagnostic| vec![diagnostic])?;
    let mut diagnostics = Vec::new();
    let directives = expand::expand(sources, directives, read_includes, &mut diagnostics);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    lower::lower(&directives)
}

/// A request's URL as a `test` line writes it (`https://HOST[:PORT]/PATH[?QUERY]` or
/// `/PATH`), for `edgec explain`; its diagnostic points into `text`.
pub fn request_url(text: &str) -> Result<value::RequestUrl, Diagnostic> {
    let arg = syntax::Arg {
        text: text.to_owned(),
        kind: syntax::ArgKind::Bare,
        span: Span::new(0, text.len()),
    };
    literal::test_url(&arg)
}
