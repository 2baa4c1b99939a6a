//! `policy NAME = compress { ... }`: the codings offered, the smallest body worth compressing
//! and the media types compressed.

use crate::ast::{Coding, Compress};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::Arg;

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore};
use crate::lower::table::{set, unread, Rule, Table};
use crate::lower::Lowering;

pub(super) const COMPRESS: Table = Table {
    place: "in a compress policy",
    rules: &[
        Rule::once("algorithms", OneOrMore, "algorithms br gzip zstd")
            .doc("The codings offered, preferred first: `br`, `zstd`, `gzip`.")
            .by_default("br zstd gzip"),
        Rule::once("min_size", Exactly(1), "min_size 1KiB")
            .doc("Smaller answers are sent as they are.")
            .by_default("1KiB"),
        Rule::once("types", OneOrMore, "types \"text/*\"")
            .doc("The media types compressed (`text/*` for a whole type).")
            .by_default("text and text-based formats"),
    ],
};

impl Lowering {
    pub(super) fn compress(&mut self, policy: &Item<'_>) -> Compress {
        let mut compress = Compress::default();
        self.directives(&COMPRESS, policy.directives, |lower, given| {
            let c = &mut compress;
            match given.name() {
                "algorithms" => {
                    for arg in given.args {
                        let Some(coding) = lower.coding(arg) else {
                            continue;
                        };
                        if c.algorithms.contains(&coding) {
                            lower.error(
                                Diagnostic::error(
                                    "duplicate-item",
                                    format!("`{}` is listed twice", arg.text),
                                )
                                .with_label(Label::primary(arg.span, "listed again here")),
                            );
                        } else {
                            c.algorithms.push(coding);
                        }
                    }
                    !c.algorithms.is_empty()
                }
                "min_size" => set(&mut c.min_size, lower.keep(literal::size(given.arg()))),
                "types" => {
                    c.types = lower
                        .strings(given)
                        .into_iter()
                        .filter_map(|media| lower.media_family(media))
                        .collect();
                    !c.types.is_empty()
                }
                name => unread(name),
            }
        });
        compress
    }

    fn coding(&mut self, arg: &Arg) -> Option<Coding> {
        match arg.text.as_str() {
            "gzip" if arg.is_bare() => Some(Coding::Gzip),
            "br" if arg.is_bare() => Some(Coding::Brotli),
            "zstd" if arg.is_bare() => Some(Coding::Zstd),
            _ if self.quoted_word(arg, &["gzip", "br", "zstd"]) => None,
            other => {
                self.error(
                    Diagnostic::error("unknown-choice", format!("unknown compression `{other}`"))
                        .with_label(Label::primary(arg.span, "not an algorithm"))
                        .with_suggestion(other, "an algorithm", ["gzip", "br", "zstd"])
                        .with_help("the algorithms are `gzip`, `br` and `zstd`"),
                );
                None
            }
        }
    }

    /// A media type, or a whole family of them: `"text/*"`.
    fn media_family(&mut self, media: Spanned<String>) -> Option<Spanned<String>> {
        if let Some(family) = media.value.strip_suffix("/*") {
            let valid = !family.is_empty()
                && family
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b));
            if valid {
                return Some(Spanned::new(media.value.to_ascii_lowercase(), media.span));
            }
        }
        self.media_type(media)
    }
}
