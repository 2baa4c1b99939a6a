//! `policy NAME = headers { request { ... }  response { ... } }`: headers set, added and removed
//! on the way to the servers and on the way back.

use crate::ast::{HeaderEdits, Headers};
use crate::literal;
use crate::syntax::Directive;

use super::Item;
use crate::lower::table::Args::{Block, Exactly, OneOrMore};
use crate::lower::table::{add, unread, Rule, Table};
use crate::lower::Lowering;

pub(super) const HEADERS: Table = Table {
    place: "in a headers policy",
    rules: &[
        Rule::once(
            "request",
            Block,
            "request { set \"x-env\" \"prod\"  remove \"x-debug\" }",
        )
        .doc("The edits to the request on its way to the servers.")
        .opens(&HEADER_EDITS),
        Rule::once(
            "response",
            Block,
            "response { set \"x-env\" \"prod\"  remove \"x-debug\" }",
        )
        .doc("The edits to the answer on its way back.")
        .opens(&HEADER_EDITS),
    ],
};
const HEADER_EDITS: Table = Table {
    place: "in a header edit block",
    rules: &[
        Rule::many("set", Exactly(2), "set \"x-env\" \"prod\"")
            .doc("Set the header to this value, replacing any it has (after removals, before additions)."),
        Rule::many("add", Exactly(2), "add \"x-env\" \"prod\"")
            .doc("Add a line with this value, keeping those it has (last)."),
        Rule::many("remove", OneOrMore, "remove \"x-debug\"")
            .doc("Remove these headers (first)."),
    ],
};

impl Lowering {
    pub(super) fn headers(&mut self, policy: &Item<'_>) -> Headers {
        let mut headers = Headers::default();
        self.directives(&HEADERS, policy.directives, |lower, given| {
            let edits = lower.header_edits(given.inner);
            match given.name() {
                "request" => headers.request = edits,
                "response" => headers.response = edits,
                name => unread(name),
            }
            true
        });
        headers
    }

    fn header_edits(&mut self, directives: &[Directive]) -> HeaderEdits {
        let mut edits = HeaderEdits::default();
        self.directives(&HEADER_EDITS, directives, |lower, given| {
            if given.name() == "remove" {
                let names = lower.header_names(given);
                return add(&mut edits.remove, names);
            }
            let [name, value] = given.args else {
                unreachable!("the table gives two arguments")
            };
            let name = lower.keep(literal::sent_header_name(name));
            let value = lower.keep(literal::header_value(value));
            let list = if given.name() == "set" {
                &mut edits.set
            } else {
                &mut edits.add
            };
            add(list, name.zip(value))
        });
        edits
    }
}
