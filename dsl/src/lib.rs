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
mod format;
mod literal;
mod lower;
mod span;
mod syntax;
pub mod value;

pub use diagnostic::{closest, Diagnostic, Label, Severity, SourceFile};
pub use format::format;
pub use span::{Ident, Span, Spanned};

/// Parses and lowers one `.edge` file, returning every syntax or literal error it holds.
pub fn parse(source: &SourceFile) -> Result<ast::Config, Vec<Diagnostic>> {
    let directives = syntax::parse(&source.text).map_err(|diagnostic| vec![diagnostic])?;
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
