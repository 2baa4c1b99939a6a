//! `policy NAME = access { allow ..  deny .. }`: the client networks let in or kept out, in
//! order.

use crate::ast::AccessRule;
use crate::literal;
use crate::syntax::Arg;

use super::Item;
use crate::lower::table::Args::OneOrMore;
use crate::lower::table::{add, Rule, Table};
use crate::lower::Lowering;

pub(super) const ACCESS: Table = Table {
    place: "in an access policy",
    rules: &[
        Rule::many("allow", OneOrMore, "allow 10.0.0.0/8")
            .required("allow 10.0.0.0/8")
            .doc("Let in clients from these networks (`all` for any); rules are tried in order, the first that matches decides."),
        Rule::many("deny", OneOrMore, "deny 10.0.0.0/8")
            .instead_of("allow")
            .doc("Refuse clients from these networks (`all` for any) with `403`; rules are tried in order."),
    ],
};

impl Lowering {
    pub(super) fn access(&mut self, policy: &Item<'_>) -> Option<Vec<AccessRule>> {
        let mut rules = Vec::new();
        let taken = self.directives(&ACCESS, policy.directives, |lower, given| {
            let allow = given.name() == "allow";
            let before = rules.len();
            for arg in given.args {
                if arg.is_bare() && arg.text == "all" {
                    for any in ["0.0.0.0/0", "::/0"] {
                        let net = Arg {
                            text: any.to_owned(),
                            ..arg.clone()
                        };
                        add(&mut rules, lower.access_rule(allow, &net));
                    }
                } else {
                    add(&mut rules, lower.access_rule(allow, arg));
                }
            }
            rules.len() > before
        });
        self.require(&ACCESS, &taken, "policy", &policy.name, policy.head);
        (!rules.is_empty()).then_some(rules)
    }

    fn access_rule(&mut self, allow: bool, net: &Arg) -> Option<AccessRule> {
        self.keep(literal::cidr(net))
            .map(|net| AccessRule { allow, net })
    }
}
