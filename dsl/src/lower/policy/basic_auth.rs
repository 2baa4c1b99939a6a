//! `policy NAME = basic_auth { ... }`: the htpasswd file, the realm the browser shows and the
//! header naming the consumer to the servers.

use crate::ast::BasicAuth;
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;

use super::Item;
use crate::lower::table::Args::Exactly;
use crate::lower::table::{set, unread, Given, Rule, Table};
use crate::lower::Lowering;

pub(super) const BASIC_AUTH: Table = Table {
    place: "in a basic_auth policy",
    rules: &[
        Rule::once("htpasswd", Exactly(1), "htpasswd \"users.htpasswd\"")
            .required("htpasswd \"users.htpasswd\"")
            .doc("The password file: `user:hash` lines with bcrypt hashes, as `htpasswd -B` writes them."),
        Rule::once("realm", Exactly(1), "realm \"staff\"")
            .doc("The realm the browser shows when it asks for a password.")
            .by_default("\"edge\""),
        Rule::once(
            "consumer_header",
            Exactly(1),
            "consumer_header \"x-consumer\"",
        )
        .doc("Forward the user's name to the servers in this header.")
        .by_default("not forwarded"),
    ],
};

impl Lowering {
    pub(super) fn basic_auth(&mut self, policy: &Item<'_>) -> Option<BasicAuth> {
        let mut htpasswd = None;
        let mut realm = None;
        let mut consumer_header = None;
        let taken = self.directives(&BASIC_AUTH, policy.directives, |lower, given| {
            match given.name() {
                "htpasswd" => set(&mut htpasswd, lower.file(given.arg(), given.usage)),
                "realm" => set(&mut realm, lower.realm(given)),
                "consumer_header" => set(
                    &mut consumer_header,
                    lower.keep(literal::sent_header_name(given.arg())),
                ),
                name => unread(name),
            }
        });
        self.require(&BASIC_AUTH, &taken, "policy", &policy.name, policy.head);
        Some(BasicAuth {
            htpasswd: htpasswd?,
            realm,
            consumer_header,
        })
    }

    /// The realm: visible ASCII that needs no escape in `WWW-Authenticate`.
    fn realm(&mut self, given: Given<'_>) -> Option<Spanned<String>> {
        let realm = self.keep(literal::text(given.arg(), "the value", given.usage))?;
        let plain = realm
            .value
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic())
            && !realm.value.contains(['"', '\\']);
        if !plain {
            self.error(
                Diagnostic::error("invalid-literal", "invalid realm")
                    .with_label(Label::primary(realm.span, "not a plain realm"))
                    .with_help("a realm is visible ASCII without `\"` or `\\`"),
            );
            return None;
        }
        Some(realm)
    }
}
