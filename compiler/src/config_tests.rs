//! Runs a config's `test` blocks at build time against the Model: each request is explained
//! by [`crate::explain`] (routed by the rule the generated router is compiled from, then
//! through the route's policies as the proxy's would decide it) and compared with what the
//! test expects: the route it reaches, the status the config gives it (a policy's refusal, a
//! route's own answer, 404), the policies it passes through. A failed expectation is an error
//! like any other. Tests are not part of the Model: they are read from the AST, and the spans
//! of the routes they reach come from a side table.

use edge_dsl::ast::{Case, Config, Expect, Test};
use edge_dsl::{Diagnostic, Label, Span};

use crate::explain::{self, Explanation, Probe};
use crate::model::{Listener, Mode, Model};

/// Checks every test of `config` against `model`, whose routes were written at
/// `route_spans` (per listener, per route).
pub fn run(config: &Config, model: &Model, route_spans: &[Vec<Span>], out: &mut Vec<Diagnostic>) {
    for test in &config.tests {
        let Some(listener) = listener(&model.listeners, test, out) else {
            continue;
        };
        for case in &test.cases {
            check_case(
                test,
                case,
                model,
                &model.listeners[listener],
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
                out.push(Diagnostic::unknown_name(
                    on,
                    "listener",
                    listeners.iter().map(|l| l.name.as_str()),
                ));
                None
            }
        },
        None if http.len() == 1 => Some(http[0]),
        None if http.is_empty() => {
            out.push(
                Diagnostic::error(
                    "test-without-listener",
                    format!(
                        "test `{}` has no HTTP listener to send its requests to",
                        test.name.value
                    ),
                )
                .with_label(Label::primary(test.span, "the config has no HTTP listener"))
                .with_help("tests route HTTP requests: add a listener without `mode tcp`, and routes on it"),
            );
            None
        }
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
                .with_help(format!(
                    "add `on LISTENER` to the test, naming one of {}",
                    http.iter()
                        .map(|&index| format!("`{}`", listeners[index].name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            None
        }
    }
}

fn check_case(
    test: &Test,
    case: &Case,
    model: &Model,
    listener: &Listener,
    spans: &[Span],
    config: &Config,
    out: &mut Vec<Diagnostic>,
) {
    let probe = Probe {
        method: case.method.value,
        url: &case.url,
        headers: &case.headers,
        client: case.client.as_ref().map_or(explain::LOOPBACK, |c| c.value),
        earlier: case.after.as_ref().map_or(0, |after| after.value),
    };
    if let Some(via) = &case.via {
        if !known_policies(via, config, out) {
            return;
        }
    }
    let explanation = explain::explain(model, listener, &probe);
    let reached = explanation.route.map(|(_, route)| route.name.as_str());
    let failed = match &case.expect.value {
        Expect::Route(expected) => {
            if !config.routes.iter().any(|r| r.name.value == expected.value) {
                out.push(Diagnostic::unknown_name(
                    expected,
                    "route",
                    config.routes.iter().map(|r| r.name.value.as_str()),
                ));
                return;
            }
            reached != Some(expected.value.as_str())
        }
        Expect::Status(status) => explanation.end.status() != Some(*status),
    };
    let routing = matches!(case.expect.value, Expect::Route(_));
    if failed {
        fail(
            test,
            case,
            &explanation,
            spans,
            case.expect.span,
            routing,
            out,
        );
        return;
    }
    let Some(via) = &case.via else {
        return;
    };
    let passed: Vec<&str> = explanation
        .steps
        .iter()
        .map(|step| step.policy.name.as_str())
        .collect();
    let expected: Vec<&str> = via.value.iter().map(|name| name.value.as_str()).collect();
    if passed != expected {
        fail(test, case, &explanation, spans, via.span, false, out);
    }
}

/// Whether every policy `via P, Q` names exists; an error for each that does not.
fn known_policies(
    via: &edge_dsl::Spanned<Vec<edge_dsl::Ident>>,
    config: &Config,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let mut known = true;
    for name in &via.value {
        if !config.policies.iter().any(|p| p.name.value == name.value) {
            out.push(Diagnostic::unknown_name(
                name,
                "policy",
                config.policies.iter().map(|p| p.name.value.as_str()),
            ));
            known = false;
        }
    }
    known
}

/// The error of a failed expectation at `at`: what the request met instead (`routing`: the
/// expectation was a route, so how routes are tried helps).
fn fail(
    test: &Test,
    case: &Case,
    explanation: &Explanation<'_>,
    spans: &[Span],
    at: Span,
    routing: bool,
    out: &mut Vec<Diagnostic>,
) {
    let url = &case.url;
    let query = url
        .query
        .as_ref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let shown = format!(
        "{} {}{}{query}",
        case.method.value.as_str(),
        url.host,
        url.path
    );
    let mut outcome = match explanation.route {
        Some((_, route)) => format!("reaches route `{}`", route.name),
        None => "matches no route".to_owned(),
    };
    let passed: Vec<&str> = explanation
        .steps
        .iter()
        .map(|step| step.policy.name.as_str())
        .collect();
    if !passed.is_empty() {
        outcome.push_str(&format!(" via {}", passed.join(", ")));
    }
    match explanation.end.status() {
        Some(status) => outcome.push_str(&format!(" and gets {status}")),
        None => outcome.push_str(" and gets what its server answers"),
    }
    let mut diagnostic = Diagnostic::error(
        "test-failed",
        format!("test `{}` failed: {shown} {outcome}", test.name.value),
    )
    .with_label(Label::primary(at, "expected here"));
    if let Some((index, _)) = explanation.route {
        diagnostic = diagnostic.with_label(Label::secondary(spans[index], "the route it reaches"));
    }
    if let Some(step) = explanation.steps.last() {
        if let explain::Verdict::Answers { status, why } = &step.verdict {
            diagnostic = diagnostic.with_help(format!(
                "policy `{}` answers {status}: {why}",
                step.policy.name
            ));
        }
    }
    if routing || explanation.route.is_none() {
        diagnostic = diagnostic
            .with_help("routes are tried in the order written; the first that matches wins");
    }
    out.push(diagnostic);
}
