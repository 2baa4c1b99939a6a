//! The untyped syntax tree: what the pest grammar recognised, with spans, before any meaning
//! is given to directive names or arguments.

use pest::Parser;
use pest_derive::Parser;

use crate::diagnostic::{Diagnostic, Label};
use crate::span::{Ident, Span};

#[derive(Parser)]
#[grammar = "grammar.pest"]
struct EdgeParser;

/// One directive: `name arg arg { ... }`.
#[derive(Clone, Debug)]
pub struct Directive {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub block: Option<Block>,
}

impl Directive {
    /// The span of the name and arguments, without the block: where most diagnostics point.
    pub fn head_span(&self) -> Span {
        self.args
            .last()
            .map_or(self.name.span, |arg| self.name.span.to(arg.span))
    }
}

/// `{ directives }` with the span of its braces.
#[derive(Clone, Debug)]
pub struct Block {
    pub directives: Vec<Directive>,
    pub span: Span,
}

/// One argument of a directive.
#[derive(Clone, Debug)]
pub struct Arg {
    /// The word, the string's content, or the call's function name.
    pub text: String,
    pub kind: ArgKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A bare word.
    Bare,
    /// A double-quoted string (escapes resolved).
    Quoted,
    /// `text("argument")`, holding the argument.
    Call(String),
}

impl Arg {
    pub fn is_bare(&self) -> bool {
        self.kind == ArgKind::Bare
    }

    pub fn is_quoted(&self) -> bool {
        self.kind == ArgKind::Quoted
    }
}

/// Parses source text into top-level directives.
pub fn parse(source: &str) -> Result<Vec<Directive>, Diagnostic> {
    let mut pairs = EdgeParser::parse(Rule::file, source).map_err(|error| {
        let diagnostic = syntax_error(error);
        match unclosed_brace(source) {
            Some(at) => diagnostic.with_label(Label::secondary(
                Span::new(at, at + 1),
                "this `{` is never closed",
            )),
            None => diagnostic,
        }
    })?;
    let file = pairs
        .next()
        .expect("the file rule always produces one pair");
    let mut directives = Vec::new();
    for pair in file.into_inner() {
        if pair.as_rule() == Rule::directive {
            directives.push(directive(pair)?);
        }
    }
    Ok(directives)
}

type Pair<'i> = pest::iterators::Pair<'i, Rule>;

fn directive(pair: Pair<'_>) -> Result<Directive, Diagnostic> {
    let mut inner = pair.into_inner();
    let name = inner.next().expect("a directive starts with its name");
    let name = Ident::new(name.as_str().to_owned(), name.as_span().into());
    let mut args = Vec::new();
    let mut block = None;
    for pair in inner {
        match pair.as_rule() {
            Rule::string => args.push(string(pair)?),
            Rule::call => {
                let span = pair.as_span().into();
                let mut inner = pair.into_inner();
                let function = inner.next().expect("a call has a name").as_str().to_owned();
                let argument = string(inner.next().expect("a call has an argument"))?;
                args.push(Arg {
                    text: function,
                    kind: ArgKind::Call(argument.text),
                    span,
                });
            }
            Rule::bare => args.push(Arg {
                text: pair.as_str().to_owned(),
                kind: ArgKind::Bare,
                span: pair.as_span().into(),
            }),
            Rule::block => {
                let span = pair.as_span().into();
                let directives = pair
                    .into_inner()
                    .filter(|pair| pair.as_rule() == Rule::directive)
                    .map(directive)
                    .collect::<Result<_, _>>()?;
                block = Some(Block { directives, span });
            }
            rule => unreachable!("the grammar puts no {rule:?} inside a directive"),
        }
    }
    Ok(Directive { name, args, block })
}

fn string(pair: Pair<'_>) -> Result<Arg, Diagnostic> {
    let span: Span = pair.as_span().into();
    let body = pair.into_inner().next().expect("a string has a body");
    let mut text = String::with_capacity(body.as_str().len());
    let mut chars = body.as_str().char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        let escaped = chars.next().map(|(_, e)| e);
        match escaped {
            Some('"') => text.push('"'),
            Some('\\') => text.push('\\'),
            Some('n') => text.push('\n'),
            Some('t') => text.push('\t'),
            _ => {
                let start = body.as_span().start() + at;
                let width = 1 + escaped.map_or(0, char::len_utf8);
                return Err(
                    Diagnostic::error("unknown-escape", "unknown escape in string")
                        .with_label(Label::primary(
                            Span::new(start, start + width),
                            "not a known escape",
                        ))
                        .with_help("strings know `\\\"`, `\\\\`, `\\n` and `\\t`"),
                );
            }
        }
    }
    Ok(Arg {
        text,
        kind: ArgKind::Quoted,
        span,
    })
}

fn syntax_error(error: pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match error.location {
        pest::error::InputLocation::Pos(at) => (at, at),
        pest::error::InputLocation::Span(span) => span,
    };
    let message = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => expected(positives),
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    Diagnostic::error("syntax", "syntax error")
        .with_label(Label::primary(Span::new(start, end), message))
}

fn expected(rules: &[Rule]) -> String {
    let mut names: Vec<&str> = rules.iter().filter_map(|rule| rule_name(*rule)).collect();
    names.dedup();
    match names.as_slice() {
        [] => "unexpected input".to_owned(),
        [one] => format!("expected {one}"),
        [rest @ .., last] => format!("expected {} or {last}", rest.join(", ")),
    }
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::directive | Rule::name => "a directive",
        Rule::block | Rule::open => "`{`",
        Rule::close => "`}`",
        Rule::string | Rule::string_body => "a string",
        Rule::call => "a call such as `header(\"x-user\")`",
        Rule::bare => "an argument",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

/// The first `{` (outside strings and comments) that no `}` closes, if any.
fn unclosed_brace(source: &str) -> Option<usize> {
    let mut open = Vec::new();
    let mut in_string = false;
    let mut in_comment = false;
    let mut escaped = false;
    for (at, c) in source.char_indices() {
        match c {
            '\n' => {
                in_comment = false;
                in_string = false;
            }
            _ if in_comment => {}
            _ if in_string => {
                in_string = escaped || c != '"';
                escaped = !escaped && c == '\\';
            }
            '#' => in_comment = true,
            '"' => in_string = true,
            '{' => open.push(at),
            '}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.first().copied()
}
