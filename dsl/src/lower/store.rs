//! Lowering of `store NAME = KIND { ... }` items: the head, then the kind's own directives.
//! `redis` is the one kind: where the server is, where its password comes from (never the
//! config itself), each call's deadline and what every key starts with.

use std::time::Duration;

use crate::ast::{Redis, Store, StoreKind, StorePassword};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;

use super::table::Args::Exactly;
use super::table::{set, unread, Given, Rule, Table};
use super::{Item, Lowering};

/// `password_env` and `password_file` say themselves when both are given.
const REDIS: Table = Table {
    place: "in a redis store",
    rules: &[
        Rule::once("url", Exactly(1), "url \"redis://127.0.0.1:6379/0\"")
            .required("url \"redis://127.0.0.1:6379\""),
        Rule::once("password_env", Exactly(1), "password_env REDIS_PASSWORD"),
        Rule::once(
            "password_file",
            Exactly(1),
            "password_file \"secrets/redis.pass\"",
        ),
        Rule::once("timeout", Exactly(1), "timeout 5ms"),
        Rule::once("prefix", Exactly(1), "prefix \"edge:gateway:\""),
    ],
};

/// The longest a call to a store may take: a request waits for it.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

impl Lowering {
    /// `store NAME = KIND { ... }`
    pub(super) fn store(&mut self, given: Given<'_>) -> Option<Store> {
        let (store, kind) = self.kinded_item(given)?;
        let before = self.diagnostics.len();
        let lowered = match kind.text.as_str() {
            "redis" => self.redis(&store).map(StoreKind::Redis),
            _ => {
                self.unknown_kind("store", kind, &StoreKind::NAMES);
                return None;
            }
        };
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Store {
            name: store.name,
            span: store.head,
            kind: Spanned::new(lowered?, kind.span),
        })
    }

    fn redis(&mut self, store: &Item<'_>) -> Option<Redis> {
        let before = self.diagnostics.len();
        let mut url = None;
        let mut password: Option<Spanned<StorePassword>> = None;
        let mut timeout = None;
        let mut prefix = None;
        let taken = self.directives(&REDIS, store.directives, |lower, given| {
            let arg = given.arg();
            match given.name() {
                "url" => set(&mut url, lower.keep(literal::redis_url(arg))),
                "password_env" | "password_file" => {
                    if let Some(first) = &password {
                        lower.error(
                            Diagnostic::error(format!("store `{}` has two passwords", store.name))
                                .with_label(Label::primary(given.head(), "second"))
                                .with_label(Label::secondary(first.span, "first"))
                                .with_help(
                                    "the password comes from one environment variable \
                                     (`password_env`) or one file (`password_file`)",
                                ),
                        );
                        return false;
                    }
                    let read = if given.name() == "password_env" {
                        lower.keep(literal::env_name(arg)).map(StorePassword::Env)
                    } else {
                        lower.file(arg, given.usage).map(StorePassword::File)
                    };
                    set(
                        &mut password,
                        read.map(|read| Spanned::new(read, given.head())),
                    )
                }
                "timeout" => set(&mut timeout, lower.store_timeout(given)),
                "prefix" => set(&mut prefix, lower.key_prefix(given)),
                name => unread(name),
            }
        });
        if self.diagnostics.len() == before {
            self.require(&REDIS, &taken, "store", &store.name, store.head);
        }
        Some(Redis {
            url: url?,
            password,
            timeout,
            prefix,
        })
    }

    /// `timeout D`, from 1ms to 10s.
    fn store_timeout(&mut self, given: Given<'_>) -> Option<Spanned<Duration>> {
        let timeout = self.keep(literal::duration(given.arg()))?;
        if !(Duration::from_millis(1)..=MAX_TIMEOUT).contains(&timeout.value) {
            self.error(
                Diagnostic::error(format!(
                    "a store's timeout is from 1ms to 10s, not `{}`",
                    given.arg().text
                ))
                .with_label(Label::primary(timeout.span, "out of range"))
                .with_help(
                    "a request waits for its call to the store: keep it short (the default is 5ms)",
                ),
            );
            return None;
        }
        Some(timeout)
    }

    /// `prefix "TEXT"`: not empty, since it keeps this config's keys apart from others'.
    fn key_prefix(&mut self, given: Given<'_>) -> Option<Spanned<String>> {
        let prefix = self.keep(literal::text(given.arg(), "a key prefix", given.usage))?;
        if prefix.value.is_empty() || prefix.value.chars().any(char::is_control) {
            self.error(
                Diagnostic::error("invalid key prefix")
                    .with_label(Label::primary(
                        prefix.span,
                        "empty or with control characters",
                    ))
                    .with_help(
                        "the prefix keeps this config's keys apart from those of others sharing \
                         the server, such as `\"edge:gateway:\"`",
                    ),
            );
            return None;
        }
        Some(prefix)
    }
}
