//! The directive tables every block is lowered from, and the one check that applies them: an
//! unknown directive (with a "did you mean"), a directive given twice, arguments of the wrong
//! shape, a required directive left out. A directive that passes is handed to the block's
//! meaning, which reads its values.

use crate::diagnostic::{Diagnostic, Label};
use crate::span::{Ident, Span};
use crate::syntax::{Arg, Directive};

use super::Lowering;

/// What a directive takes after its name.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Args {
    /// Exactly this many arguments and no block.
    Exactly(usize),
    /// One or more arguments and no block.
    OneOrMore,
    /// A block and no arguments.
    Block,
    /// A shape of its own (`path = /x`, `server ADDR weight 2`, `hsts off`...), checked by its
    /// meaning.
    Own,
}

/// Whether a directive may be given more than once in its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    Once,
    Many,
}

/// Whether a block must give a directive.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Need {
    Optional,
    /// Required; the example is offered when it is missing.
    Required(&'static str),
    /// Taken in place of the required directive so named (`public_key` for `jwks`).
    Instead(&'static str),
    /// Not taken here, though another kind of block takes it (`url` in a `redis_cluster`
    /// store): unknown, with this help saying what to write instead.
    Elsewhere(&'static str),
}

/// The kinds of named items, each in a namespace of its own (public as
/// `edge_dsl::reference::ItemKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Listener,
    Pool,
    Route,
    Policy,
    Store,
}

/// The name a directive declares or refers to, for editors: `pool NAME` declares a pool,
/// `forward NAME` refers to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Naming {
    /// Its first argument is the name of a new item of this kind.
    Declares(ItemKind),
    /// Each of its arguments names an item of this kind.
    RefersTo(ItemKind),
}

/// The table a directive's block is lowered with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Opens {
    /// No table: the directive takes no block, or reads its block itself (`test`).
    Nothing,
    Table(&'static Table),
    /// The table of the kind its last argument names: `policy NAME = jwt`, `health http`.
    ByKind(&'static [(&'static str, &'static Table)]),
}

/// One directive a block accepts.
#[derive(Debug)]
pub(crate) struct Rule {
    pub name: &'static str,
    pub args: Args,
    pub repeat: Repeat,
    pub need: Need,
    /// The directive written right, shown when its arguments are wrong.
    pub usage: &'static str,
    /// What it means, in a sentence, for editors (`edgec lsp`).
    pub doc: &'static str,
    /// What holds when it is not given, when that is a value worth showing.
    pub default: Option<&'static str>,
    pub naming: Option<Naming>,
    pub opens: Opens,
}

impl Rule {
    /// A directive that may be given once.
    pub(super) const fn once(name: &'static str, args: Args, usage: &'static str) -> Rule {
        Rule {
            name,
            args,
            repeat: Repeat::Once,
            need: Need::Optional,
            usage,
            doc: "",
            default: None,
            naming: None,
            opens: Opens::Nothing,
        }
    }

    /// A directive that may be given any number of times.
    pub(super) const fn many(name: &'static str, args: Args, usage: &'static str) -> Rule {
        Rule {
            repeat: Repeat::Many,
            ..Rule::once(name, args, usage)
        }
    }

    /// The block must give this directive.
    pub(super) const fn required(self, example: &'static str) -> Rule {
        Rule {
            need: Need::Required(example),
            ..self
        }
    }

    /// A directive of another kind of block, unknown in this one; `help` says what to write.
    pub(super) const fn elsewhere(name: &'static str, help: &'static str) -> Rule {
        Rule {
            need: Need::Elsewhere(help),
            ..Rule::many(name, Args::Own, "")
        }
    }

    /// This directive does the job of the required directive `name`.
    pub(super) const fn instead_of(self, name: &'static str) -> Rule {
        Rule {
            need: Need::Instead(name),
            ..self
        }
    }

    /// What the directive means (see `reference::Entry::doc`).
    pub(super) const fn doc(self, doc: &'static str) -> Rule {
        Rule { doc, ..self }
    }

    /// What holds when the directive is not given.
    pub(super) const fn by_default(self, default: &'static str) -> Rule {
        Rule {
            default: Some(default),
            ..self
        }
    }

    /// The directive's first argument names a new item of this kind.
    pub(super) const fn declares(self, kind: ItemKind) -> Rule {
        Rule {
            naming: Some(Naming::Declares(kind)),
            ..self
        }
    }

    /// The directive's arguments name items of this kind.
    pub(super) const fn refers_to(self, kind: ItemKind) -> Rule {
        Rule {
            naming: Some(Naming::RefersTo(kind)),
            ..self
        }
    }

    /// The directive's block is lowered with `table`.
    pub(super) const fn opens(self, table: &'static Table) -> Rule {
        Rule {
            opens: Opens::Table(table),
            ..self
        }
    }

    /// The directive's block is lowered with the table of the kind its last argument names.
    pub(super) const fn opens_kinds(
        self,
        kinds: &'static [(&'static str, &'static Table)],
    ) -> Rule {
        Rule {
            opens: Opens::ByKind(kinds),
            ..self
        }
    }
}

/// The directives of one kind of block, in the order its help lists them.
#[derive(Debug)]
pub(crate) struct Table {
    /// Where the block is, as messages say it: "in a listener", "in `tls`".
    pub place: &'static str,
    pub rules: &'static [Rule],
}

impl Table {
    /// The directives the block takes.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> + Clone + '_ {
        self.rules
            .iter()
            .filter(|rule| !matches!(rule.need, Need::Elsewhere(_)))
            .map(|rule| rule.name)
    }
}

/// A directive whose name, repetition and arguments passed its table.
#[derive(Clone, Copy, Debug)]
pub(super) struct Given<'d> {
    pub directive: &'d Directive,
    pub args: &'d [Arg],
    /// The directives of its block (none when it has no block).
    pub inner: &'d [Directive],
    pub usage: &'static str,
}

impl<'d> Given<'d> {
    pub(super) fn name(&self) -> &'d str {
        &self.directive.name.value
    }

    pub(super) fn head(&self) -> Span {
        self.directive.head_span()
    }

    /// The first argument; for directives the table gives at least one.
    pub(super) fn arg(&self) -> &'d Arg {
        &self.args[0]
    }
}

/// The directives of a block already given, each with where it first appeared.
pub(super) struct Seen<'a> {
    first: Vec<(&'a str, Span)>,
}

impl<'a> Seen<'a> {
    pub(super) fn new() -> Self {
        Seen { first: Vec::new() }
    }
}

/// The directives whose meaning was taken, for the required ones.
pub(super) struct Taken(Vec<&'static str>);

/// Stores a lowered value, saying whether there was one.
pub(super) fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    *slot = value;
    slot.is_some()
}

/// Appends lowered values, saying whether there was any.
pub(super) fn add<T>(list: &mut Vec<T>, values: impl IntoIterator<Item = T>) -> bool {
    let before = list.len();
    list.extend(values);
    list.len() > before
}

impl Lowering {
    /// Checks a block's directives against its table, in order, and hands each one that passes
    /// to `meaning`, which returns whether it took the directive's value.
    pub(super) fn directives<'d>(
        &mut self,
        table: &Table,
        directives: &'d [Directive],
        mut meaning: impl FnMut(&mut Lowering, Given<'d>) -> bool,
    ) -> Taken {
        let mut seen = Seen::new();
        let mut taken = Vec::new();
        for directive in directives {
            let name = directive.name.value.as_str();
            let rule = table.rules.iter().find(|rule| rule.name == name);
            let instead = match rule.map(|rule| rule.need) {
                Some(Need::Elsewhere(help)) => Some(help),
                _ => None,
            };
            let Some(rule) = rule.filter(|_| instead.is_none()) else {
                self.unknown(directive, table.place, table.names(), instead);
                continue;
            };
            if rule.repeat == Repeat::Once && !self.once(&mut seen, directive) {
                continue;
            }
            let Some(given) = self.shape(directive, rule) else {
                continue;
            };
            if meaning(self, given) {
                taken.push(rule.name);
            }
        }
        Taken(taken)
    }

    /// Reports each required directive of `table` that was not taken, in table order.
    pub(super) fn require(
        &mut self,
        table: &Table,
        taken: &Taken,
        kind: &str,
        item: &Ident,
        head: Span,
    ) {
        for rule in table.rules {
            let Need::Required(example) = rule.need else {
                continue;
            };
            let stands_in = |other: &Rule| {
                other.name == rule.name
                    || matches!(other.need, Need::Instead(name) if name == rule.name)
            };
            let given = table
                .rules
                .iter()
                .any(|other| stands_in(other) && taken.0.contains(&other.name));
            if !given {
                self.missing(kind, item, head, rule.name, example);
            }
        }
    }

    fn shape<'d>(&mut self, directive: &'d Directive, rule: &Rule) -> Option<Given<'d>> {
        let (args, inner) = match rule.args {
            Args::Exactly(count) => (self.args(directive, count, rule.usage)?, &[][..]),
            Args::OneOrMore => (self.some_args(directive, rule.usage)?, &[][..]),
            Args::Block => (&[][..], &self.block(directive, rule.usage)?.directives[..]),
            Args::Own => (
                &directive.args[..],
                directive
                    .block
                    .as_ref()
                    .map_or(&[][..], |block| &block.directives[..]),
            ),
        };
        Some(Given {
            directive,
            args,
            inner,
            usage: rule.usage,
        })
    }

    /// An unknown directive, with the closest known name, then `instead` (what to write in its
    /// place), then the known ones.
    pub(super) fn unknown<'a>(
        &mut self,
        directive: &Directive,
        place: &str,
        known: impl Iterator<Item = &'a str> + Clone,
        instead: Option<&str>,
    ) {
        let name = &directive.name.value;
        let mut diagnostic = Diagnostic::error(
            "unknown-directive",
            format!("unknown directive `{name}` {place}"),
        )
        .with_label(Label::primary(directive.name.span, "not known here"))
        .with_suggestion(name, "a directive", known.clone());
        if let Some(instead) = instead {
            diagnostic = diagnostic.with_help(instead);
        }
        self.error(diagnostic.with_help(format!(
                    "{place}, the directives are: {}",
                    known
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
    }

    /// Reports a second occurrence of a directive that may appear once.
    pub(super) fn once<'a>(&mut self, seen: &mut Seen<'a>, directive: &'a Directive) -> bool {
        let name = directive.name.value.as_str();
        if let Some((_, first)) = seen.first.iter().find(|(n, _)| *n == name) {
            self.error(
                Diagnostic::error("duplicate-directive", format!("`{name}` is given twice"))
                    .with_label(Label::primary(directive.head_span(), "given again here"))
                    .with_label(Label::secondary(*first, "first given here")),
            );
            return false;
        }
        seen.first.push((name, directive.head_span()));
        true
    }

    /// Checks that a directive has no block and exactly `count` arguments.
    pub(super) fn args<'d>(
        &mut self,
        directive: &'d Directive,
        count: usize,
        usage: &str,
    ) -> Option<&'d [Arg]> {
        if let Some(block) = &directive.block {
            self.error(
                Diagnostic::error(
                    "unexpected-block",
                    format!("`{}` takes no block", directive.name),
                )
                .with_label(Label::primary(block.span, "unexpected block"))
                .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        if directive.args.len() != count {
            let message = match count {
                0 => "no argument".to_owned(),
                1 => "one argument".to_owned(),
                n => format!("{n} arguments"),
            };
            let mut diagnostic = Diagnostic::error(
                "wrong-arguments",
                format!("`{}` takes {message}", directive.name),
            )
            .with_label(Label::primary(
                directive.head_span(),
                format!("{} given", directive.args.len()),
            ));
            if let (1, [number, unit]) = (count, directive.args.as_slice()) {
                let is_number = |text: &str| text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                if number.is_bare()
                    && unit.is_bare()
                    && is_number(&number.text)
                    && unit.text.bytes().all(|b| b.is_ascii_alphabetic())
                {
                    diagnostic = diagnostic.with_help(format!(
                        "a number and its unit are one word: write `{}`, without a space",
                        crate::literal::one_word(&number.text, &unit.text)
                    ));
                }
            }
            self.error(diagnostic.with_help(format!("write `{usage}`")));
            return None;
        }
        Some(&directive.args)
    }

    /// Checks that a directive has no block and at least one argument.
    pub(super) fn some_args<'d>(
        &mut self,
        directive: &'d Directive,
        usage: &str,
    ) -> Option<&'d [Arg]> {
        if directive.args.is_empty() || directive.block.is_some() {
            self.error(
                Diagnostic::error(
                    "wrong-arguments",
                    format!("`{}` takes one or more arguments", directive.name),
                )
                .with_label(Label::primary(directive.head_span(), "expected arguments"))
                .with_help(format!("write `{usage}`")),
            );
            return None;
        }
        Some(&directive.args)
    }

    /// The block of a directive that takes a block and no arguments.
    pub(super) fn block<'d>(
        &mut self,
        directive: &'d Directive,
        usage: &str,
    ) -> Option<&'d crate::syntax::Block> {
        match &directive.block {
            Some(block) if directive.args.is_empty() => Some(block),
            _ => {
                self.error(
                    Diagnostic::error(
                        "missing-block",
                        format!("`{}` takes a block", directive.name),
                    )
                    .with_label(Label::primary(directive.head_span(), "expected `{ ... }`"))
                    .with_help(format!("write `{usage}`")),
                );
                None
            }
        }
    }

    pub(super) fn missing(
        &mut self,
        kind: &str,
        name: &Ident,
        head: Span,
        what: &str,
        example: &str,
    ) {
        self.error(
            Diagnostic::error(
                "missing-directive",
                format!("{kind} `{name}` has no `{what}`"),
            )
            .with_label(Label::primary(head, format!("`{what}` is required")))
            .with_help(format!("add a line such as `{example}`")),
        );
    }
}

/// The arm of a meaning for a name its table lists but it does not read: a mistake in the
/// lowering itself, found by the first test that uses the directive.
pub(super) fn unread(name: &str) -> ! {
    unreachable!("`{name}` is in a table but its meaning does not read it")
}

#[cfg(test)]
mod tests {
    use super::Args::{Block, Exactly, OneOrMore};
    use super::{Lowering, Rule, Table};
    use crate::span::{Ident, Span};

    const BLOCK: Table = Table {
        place: "in a test block",
        rules: &[
            Rule::once("port", Exactly(1), "port 80").required("port 8080"),
            Rule::many("alias", OneOrMore, "alias a b"),
            Rule::once("spare", Exactly(1), "spare 81").instead_of("port"),
            Rule::once("inner", Block, "inner { }"),
            Rule::elsewhere("host", "a test block has its `port` only"),
        ],
    };

    /// Lowers `text` against `BLOCK`, taking every argument whose text is not `bad`, and
    /// returns the messages in order.
    fn messages(text: &str) -> Vec<String> {
        let directives = crate::syntax::parse(text).expect("valid syntax");
        let mut lowering = Lowering::default();
        let taken = lowering.directives(&BLOCK, &directives, |_, given| {
            given.args.iter().all(|arg| arg.text != "bad")
        });
        let name = Ident::new("b".to_owned(), Span::default());
        lowering.require(&BLOCK, &taken, "block", &name, Span::default());
        lowering
            .diagnostics
            .into_iter()
            .map(|diagnostic| {
                let help = diagnostic.help.join(" | ");
                format!("{} [{help}]", diagnostic.message)
            })
            .collect()
    }

    #[test]
    fn accepts_what_the_table_says() {
        assert!(messages("port 80\nalias a b\nalias c\ninner { x }\n").is_empty());
    }

    #[test]
    fn reports_in_order_unknown_twice_and_arity() {
        assert_eq!(
            messages("prot 80\nport 80\nport 81\nalias\ninner 1\nspare 1 2\n"),
            [
                "unknown directive `prot` in a test block [a directive with a similar name \
                 exists: `port` | in a test block, the directives are: `port`, `alias`, \
                 `spare`, `inner`]",
                "`port` is given twice []",
                "`alias` takes one or more arguments [write `alias a b`]",
                "`inner` takes a block [write `inner { }`]",
                "`spare` takes one argument [write `spare 81`]",
            ]
        );
    }

    #[test]
    fn a_directive_of_another_block_is_unknown_and_says_what_to_write() {
        assert_eq!(
            messages("port 80\nhost a\n"),
            [
                "unknown directive `host` in a test block [a test block has its `port` only | \
                 in a test block, the directives are: `port`, `alias`, `spare`, `inner`]"
            ]
        );
    }

    #[test]
    fn a_required_directive_is_taken_by_its_value_or_a_stand_in() {
        assert_eq!(
            messages("alias a\n"),
            ["block `b` has no `port` [add a line such as `port 8080`]"]
        );
        assert_eq!(
            messages("port bad\n"),
            ["block `b` has no `port` [add a line such as `port 8080`]"]
        );
        assert!(messages("spare 81\n").is_empty());
    }
}
