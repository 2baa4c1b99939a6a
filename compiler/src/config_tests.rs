//! Runs a config's `test` blocks at build time against the Model: each request is routed by
//! [`matching`] (the rule the generated router is compiled from: the first route of its
//! listener, in order, whose conditions hold) and compared with what the test expects. A
//! failed expectation is an error like any other. Test requests carry no headers, cookies or
//! query, so routes that ask for them do not match; a route with policies has no status known
//! at build time. Tests are not part of the Model: they are read from the AST, and the spans
//! of the routes they reach come from a side table.

use edge_dsl::ast::{Case, Config, Expect, Method, Test};
use edge_dsl::{Diagnostic, Label, Span};

use crate::matching::{self, Request};
use crate::model::{Action, Listener, Mode, Route};

/// Checks every test of `config` against the Model's `listeners`, whose routes were written
/// at `route_spans` (per listener, per route).
pub fn run(
    config: &Config,
    listeners: &[Listener],
    route_spans: &[Vec<Span>],
    out: &mut Vec<Diagnostic>,
) {
    for test in &config.tests {
        let Some(listener) = listener(listeners, test, out) else {
            continue;
        };
        for case in &test.cases {
            check_case(
                test,
                case,
                &listeners[listener].routes,
                &route_spans[listener],
                config,
                out,
            );
        }
    }
}

/// The listener a test's requests arrive on: its `on`, or the only HTTP listener.
fn listener(listeners: &[Listener], test: &Test, out: &mut Vec<Diagnostic>) -> Option<usize> {
    let http: Vec<usize> = (0..listeners.len())
        .filter(|&l| listeners[l].mode == Mode::Http)
        .collect();
    match &test.on {
        Some(on) => match listeners.iter().position(|l| l.name == on.value) {
            Some(listener) if http.contains(&listener) => Some(listener),
            Some(_) => {
                out.push(
                    Diagnostic::error(
                        "test-on-tcp-listener",
                        format!(
                            "test `{}` sends requests to a tcp listener",
                            test.name.value
                        ),
                    )
                    .with_label(Label::primary(on.span, "a `mode tcp` listener"))
                    .with_help("tests route HTTP requests; name an HTTP listener"),
                );
                None
            }
            None => {
                out.push(
                    Diagnostic::error("unknown-name", format!("no listener named `{on}`"))
                        .with_label(Label::primary(on.span, "unknown listener"))
                        .with_suggestion(
                            &on.value,
                            "a listener",
                            listeners.iter().map(|l| l.name.as_str()),
                        ),
                );
                None
            }
        },
        None if http.len() == 1 => Some(http[0]),
        None => {
            out.push(
                Diagnostic::error(
                    "test-without-listener",
                    format!(
                        "test `{}` does not say which listener it tests",
                        test.name.value
                    ),
                )
                .with_label(Label::primary(
                    test.span,
                    format!("{} HTTP listeners", http.len()),
                ))
                .with_help("add `on LISTENER` to the test"),
            );
            None
        }
    }
}

fn check_case(
    test: &Test,
    case: &Case,
    routes: &[Route],
    spans: &[Span],
    config: &Config,
    out: &mut Vec<Diagnostic>,
) {
    let request = Request {
        method: case.method.value,
        host: &case.host,
        path: &case.path,
    };
    let matched = matching::first_match(routes, &request);
    let shown = format!("{} {}{}", case.method.value.as_str(), case.host, case.path);
    let fails = match &case.expect.value {
        Expect::Route(expected) => {
            if !config.routes.iter().any(|r| r.name.value == expected.value) {
                out.push(
                    Diagnostic::error("unknown-name", format!("no route named `{expected}`"))
                        .with_label(Label::primary(expected.span, "unknown route"))
                        .with_suggestion(
                            &expected.value,
                            "a route",
                            config.routes.iter().map(|r| r.name.value.as_str()),
                        ),
                );
                return;
            }
            matched.is_none_or(|(_, route)| route.name != expected.value)
        }
        Expect::Status(status) => {
            status_of(matched.map(|(_, route)| route), case.method.value) != Some(*status)
        }
    };
    if !fails {
        return;
    }
    let outcome = match matched {
        Some((_, route)) => format!("reaches route `{}`", route.name),
        None => "matches no route (404)".to_owned(),
    };
    let mut diagnostic = Diagnostic::error(
        "test-failed",
        format!("test `{}` failed: {shown} {outcome}", test.name.value),
    )
    .with_label(Label::primary(case.expect.span, "expected here"));
    if let Some((index, _)) = matched {
        diagnostic = diagnostic.with_label(Label::secondary(spans[index], "the route it reaches"));
    }
    out.push(
        diagnostic.with_help("routes are tried in the order written; the first that matches wins"),
    );
}

/// The status a request gets without reaching a pool, when it is decided by the config.
fn status_of(route: Option<&Route>, method: Method) -> Option<u16> {
    if route.is_some_and(|r| !r.policies.is_empty()) {
        return None;
    }
    match route.map(|r| &r.action) {
        None => Some(404),
        Some(Action::Redirect { status, .. } | Action::Respond { status, .. }) => Some(*status),
        Some(Action::RedirectHttps) if matches!(method, Method::Get | Method::Head) => Some(301),
        Some(Action::RedirectHttps) => Some(308),
        Some(Action::Forward(_) | Action::Serve { .. }) => None,
    }
}
