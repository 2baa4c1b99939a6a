//! `policy NAME = security_headers { ... }`: the security headers added to answers, each given
//! a value or turned `off`.

use crate::ast::{Hsts, SecurityHeaders, Setting};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::syntax::Arg;

use super::Item;
use crate::lower::table::Args::Own;
use crate::lower::table::{unread, Given, Rule, Table};
use crate::lower::Lowering;

/// Each takes `off` or a value, so each reads its own arguments.
pub(super) const SECURITY_HEADERS: Table = Table {
    place: "in a security_headers policy",
    rules: &[
        Rule::once("hsts", Own, "hsts 365d include_subdomains preload")
            .doc("`Strict-Transport-Security` on answers to TLS requests: a max-age, `include_subdomains`, `preload`; or `off`.")
            .by_default("max-age one year"),
        Rule::once("frame_options", Own, "frame_options deny")
            .doc("`X-Frame-Options`: `deny`, `sameorigin` or `off`.")
            .by_default("deny"),
        Rule::once("content_type_options", Own, "content_type_options off")
            .doc("`X-Content-Type-Options: nosniff`, or `off`.")
            .by_default("nosniff"),
        Rule::once("referrer_policy", Own, "referrer_policy \"...\"")
            .doc("`Referrer-Policy`: a value, or `off`.")
            .by_default("strict-origin-when-cross-origin"),
        Rule::once("permissions_policy", Own, "permissions_policy \"...\"")
            .doc("`Permissions-Policy`: a value, or `off`.")
            .by_default("camera=(), microphone=(), geolocation=()"),
        Rule::once("csp", Own, "csp \"...\"")
            .doc("`Content-Security-Policy`: a value.")
            .by_default("none"),
    ],
};

impl Lowering {
    pub(super) fn security_headers(&mut self, policy: &Item<'_>) -> SecurityHeaders {
        let mut headers = SecurityHeaders::default();
        self.directives(&SECURITY_HEADERS, policy.directives, |lower, given| {
            let off = matches!(given.args, [arg] if arg.is_bare() && arg.text == "off");
            let h = &mut headers;
            match (given.name(), off) {
                ("hsts", true) => h.hsts = Setting::Off,
                ("frame_options", true) => h.frame_options = Setting::Off,
                ("content_type_options", true) => h.content_type_options = Setting::Off,
                ("referrer_policy", true) => h.referrer_policy = Setting::Off,
                ("permissions_policy", true) => h.permissions_policy = Setting::Off,
                ("hsts", false) => match lower.hsts(given) {
                    Some(hsts) => h.hsts = Setting::Value(hsts),
                    None => return false,
                },
                ("frame_options", false) => match lower.frame_options(given) {
                    Some(value) => h.frame_options = Setting::Value(value.to_owned()),
                    None => return false,
                },
                ("referrer_policy" | "permissions_policy" | "csp", false) => {
                    let Some([value]) = lower.args(given.directive, 1, given.usage) else {
                        return false;
                    };
                    let Some(value) = lower.keep(literal::header_value(value)) else {
                        return false;
                    };
                    if given.name() == "referrer_policy" && !lower.referrer_policy(given.arg()) {
                        return false;
                    }
                    match given.name() {
                        "referrer_policy" => h.referrer_policy = Setting::Value(value.value),
                        "permissions_policy" => h.permissions_policy = Setting::Value(value.value),
                        _ => h.csp = Some(value.value),
                    }
                }
                (name @ ("csp" | "content_type_options"), _) => {
                    let (message, label) = if name == "csp" {
                        ("`csp` takes a quoted value, not `off`", "no policy to turn off")
                    } else {
                        ("`content_type_options` takes only `off`", "expected `off`")
                    };
                    lower.error(
                        Diagnostic::error("wrong-arguments", message)
                            .with_label(Label::primary(given.head(), label))
                            .with_help(if name == "csp" {
                                "write `csp \"default-src 'self'\"` (there is no CSP unless given)"
                            } else {
                                "`X-Content-Type-Options: nosniff` is on; `content_type_options off` drops it"
                            }),
                    );
                    return false;
                }
                (name, _) => unread(name),
            }
            true
        });
        headers
    }

    /// `hsts MAX_AGE [include_subdomains] [preload]`
    fn hsts(&mut self, given: Given<'_>) -> Option<Hsts> {
        let args = self.some_args(given.directive, given.usage)?;
        // `max-age=0` is how a site withdraws HSTS from browsers that saw it.
        let max_age = self.keep(literal::duration_or_zero(&args[0]))?;
        let mut hsts = Hsts {
            max_age: max_age.value,
            include_subdomains: false,
            preload: false,
        };
        for flag in &args[1..] {
            match flag.text.as_str() {
                "include_subdomains" if flag.is_bare() => hsts.include_subdomains = true,
                "preload" if flag.is_bare() => hsts.preload = true,
                other => self.error(
                    Diagnostic::error("unknown-choice", format!("unknown HSTS option `{other}`"))
                        .with_label(Label::primary(flag.span, "not an option"))
                        .with_help("the options are `include_subdomains` and `preload`"),
                ),
            }
        }
        Some(hsts)
    }

    /// Whether a `referrer_policy` value is a comma-separated list of the policies of the
    /// W3C Referrer Policy (browsers ignore a token they do not know).
    fn referrer_policy(&mut self, value: &Arg) -> bool {
        const POLICIES: &[&str] = &[
            "no-referrer",
            "no-referrer-when-downgrade",
            "origin",
            "origin-when-cross-origin",
            "same-origin",
            "strict-origin",
            "strict-origin-when-cross-origin",
            "unsafe-url",
        ];
        let unknown = value
            .text
            .split(',')
            .map(str::trim)
            .find(|token| !POLICIES.contains(&token.to_ascii_lowercase().as_str()));
        let Some(unknown) = unknown else {
            return true;
        };
        self.error(
            Diagnostic::error(
                "unknown-choice",
                format!("unknown referrer policy `{unknown}`"),
            )
            .with_label(Label::primary(value.span, "browsers ignore it"))
            .with_suggestion(unknown, "a policy", POLICIES.iter().copied())
            .with_help(format!("the policies are {}", POLICIES.join(", "))),
        );
        false
    }

    /// `frame_options deny` or `frame_options sameorigin`, as the header writes them.
    fn frame_options(&mut self, given: Given<'_>) -> Option<&'static str> {
        let [value] = self.args(given.directive, 1, given.usage)? else {
            unreachable!("args checked the count")
        };
        match value.text.as_str() {
            "deny" if value.is_bare() => Some("DENY"),
            "sameorigin" if value.is_bare() => Some("SAMEORIGIN"),
            _ if self.quoted_word(value, &["deny", "sameorigin"]) => None,
            other => {
                self.error(
                    Diagnostic::error("unknown-choice", format!("unknown frame option `{other}`"))
                        .with_label(Label::primary(value.span, "not a frame option"))
                        .with_help("write `deny`, `sameorigin` or `off`; for more, use `csp \"frame-ancestors ...\"`"),
                );
                None
            }
        }
    }
}
