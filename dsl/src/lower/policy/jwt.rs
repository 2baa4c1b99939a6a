//! `policy NAME = jwt { ... }`: where the keys are (a file, or a URL with the CA its server is
//! verified against), the algorithms, issuers and audiences accepted, the clock leeway, the claims required and the claims forwarded as headers.

use crate::ast::{Jwt, JwtAlgorithm, JwtKeys};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Span, Spanned};
use crate::syntax::Arg;

use super::Item;
use crate::lower::table::Args::{Exactly, OneOrMore, Own};
use crate::lower::table::{add, set, unread, Given, Rule, Table};
use crate::lower::Lowering;

/// The three key sources say themselves when two are given.
pub(super) const JWT: Table = Table {
    place: "in a jwt policy",
    rules: &[
        Rule::once("jwks", Own, "jwks \"jwks.json\"")
            .required("jwks \"jwks.json\"")
            .doc("The key set (a JWKS JSON file) whose keys verify the tokens; a token's `kid` picks its key."),
        Rule::once("public_key", Own, "public_key \"signer.pem\"")
            .instead_of("jwks")
            .doc("A PEM public key or certificate verifying the tokens, instead of `jwks`."),
        Rule::once(
            "jwks_url",
            Exactly(1),
            "jwks_url \"https://auth.example.com/.well-known/jwks.json\"",
        )
        .instead_of("jwks")
        .doc("The HTTPS URL of the key set, instead of `jwks`: fetched before the proxy serves, again as its `Cache-Control` says, and when a token names a key the set lacks."),
        Rule::once("jwks_ca", Own, "jwks_ca \"ca.pem\"")
            .doc("A PEM CA bundle the `jwks_url` server is verified against.")
            .by_default("Mozilla's roots"),
        Rule::once("algorithms", OneOrMore, "algorithms RS256 ES256")
            .doc("The algorithms accepted (`none` never is).")
            .by_default("what the keys are for"),
        Rule::once("issuer", OneOrMore, "issuer \"https://auth.example.com\"")
            .doc("The issuers accepted in the token's `iss`.")
            .by_default("any"),
        Rule::once("audience", OneOrMore, "audience \"my-api\"")
            .doc("Audiences of which one must be in the token's `aud`.")
            .by_default("any"),
        Rule::once("leeway", Exactly(1), "leeway 5s")
            .doc("The clock skew allowed on `exp` and `nbf`.")
            .by_default("60s"),
        Rule::once("require", OneOrMore, "require exp sub")
            .doc("The claims a token must have.")
            .by_default("exp"),
        Rule::many(
            "forward_claim",
            Exactly(2),
            "forward_claim sub \"x-user-id\"",
        )
        .doc("Forward a claim to the servers as this request header (a client's copy is removed)."),
    ],
};

impl Lowering {
    pub(super) fn jwt(&mut self, policy: &Item<'_>) -> Option<Jwt> {
        let head = policy.head;
        let mut keys: Option<Spanned<JwtKeys>> = None;
        let mut jwks_ca: Option<(Span, Spanned<String>)> = None;
        let mut jwt = Jwt {
            keys: Spanned::new(JwtKeys::Jwks(Spanned::new(String::new(), head)), head),
            algorithms: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: None,
            required: None,
            forward: Vec::new(),
        };
        let taken = self.directives(&JWT, policy.directives, |lower, given| {
            let args = given.args;
            match given.name() {
                "jwks" | "public_key" | "jwks_url" => {
                    if let Some(first) = &keys {
                        lower.error(
                            Diagnostic::error(
                                "conflicting-directives",
                                format!("policy `{}` has two key sources", policy.name),
                            )
                            .with_label(Label::primary(given.head(), "second"))
                            .with_label(Label::secondary(first.span, "first"))
                            .with_help(
                                "give one of `jwks \"file\"`, `public_key \"file\"` and \
                                 `jwks_url \"https://...\"`",
                            ),
                        );
                        return false;
                    }
                    let source = match given.name() {
                        "jwks" => lower.key_file(given).map(JwtKeys::Jwks),
                        "public_key" => lower.key_file(given).map(JwtKeys::Pem),
                        _ => lower
                            .keep(literal::https_url(given.arg(), given.usage))
                            .map(|url| JwtKeys::Url { url, ca: None }),
                    };
                    let url = given.name() == "jwks_url";
                    let taken = set(
                        &mut keys,
                        source.map(|source| Spanned::new(source, given.head())),
                    );
                    // A URL not of its form says so itself: the source is not missing.
                    taken || url
                }
                "jwks_ca" => set(
                    &mut jwks_ca,
                    lower.key_file(given).map(|file| (given.head(), file)),
                ),
                "algorithms" => add(
                    &mut jwt.algorithms,
                    args.iter().filter_map(|arg| lower.keep(algorithm(arg))),
                ),
                "issuer" => {
                    jwt.issuers = lower.strings(given);
                    !jwt.issuers.is_empty()
                }
                "audience" => {
                    jwt.audiences = lower.strings(given);
                    !jwt.audiences.is_empty()
                }
                "leeway" => set(&mut jwt.leeway, lower.keep(literal::duration(given.arg()))),
                "require" => set(
                    &mut jwt.required,
                    Some(
                        args.iter()
                            .map(|arg| Spanned::new(arg.text.clone(), arg.span))
                            .collect(),
                    ),
                ),
                "forward_claim" => {
                    let [claim, header] = args else {
                        unreachable!("the table gives two arguments")
                    };
                    let forward = lower
                        .keep(literal::sent_header_name(header))
                        .map(|header| (Spanned::new(claim.text.clone(), claim.span), header));
                    add(&mut jwt.forward, forward)
                }
                name => unread(name),
            }
        });
        self.require(&JWT, &taken, "policy", &policy.name, head);
        let mut keys = keys?;
        match (&mut keys.value, jwks_ca) {
            (JwtKeys::Url { ca, .. }, given) => *ca = given.map(|(_, file)| file),
            (_, Some((directive, _))) => {
                self.error(
                    Diagnostic::error(
                        "ineffective-directive",
                        "`jwks_ca` applies only to keys fetched with `jwks_url`",
                    )
                    .with_label(Label::primary(directive, "no key server to verify"))
                    .with_label(Label::secondary(keys.span, "the keys are read from a file"))
                    .with_help(
                        "remove `jwks_ca`, or fetch the keys with `jwks_url \"https://...\"`",
                    ),
                );
                return None;
            }
            (_, None) => {}
        }
        jwt.keys = keys;
        Some(jwt)
    }

    /// `jwks "FILE"`, `public_key "FILE"` or `jwks_ca "FILE"`.
    fn key_file(&mut self, given: Given<'_>) -> Option<Spanned<String>> {
        let [path] = self.args(given.directive, 1, given.usage)? else {
            unreachable!("args checked the count")
        };
        self.file(path, given.usage)
    }
}

/// A JWT algorithm name as RFC 7518 writes it: `RS256`, `EdDSA`...
fn algorithm(arg: &Arg) -> Result<Spanned<JwtAlgorithm>, Diagnostic> {
    JwtAlgorithm::from_name(&arg.text)
        .map(|algorithm| Spanned::new(algorithm, arg.span))
        .ok_or_else(|| {
            let names = JwtAlgorithm::ALL.map(JwtAlgorithm::name);
            Diagnostic::error(
                "unknown-choice",
                format!("unknown JWT algorithm `{}`", arg.text),
            )
            .with_label(Label::primary(arg.span, "not an algorithm"))
            .with_suggestion(&arg.text, "an algorithm", names.iter().copied())
            .with_help(format!(
                "the algorithms are {} (`none` is never accepted)",
                names.join(", ")
            ))
        })
}
