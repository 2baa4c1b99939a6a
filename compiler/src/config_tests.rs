//! Runs a config's `test` blocks at build time: each request is routed as the generated router
//! routes it (the first route of its listener, in order, whose host, method and path match)
//! and compared with what the test expects. A failed expectation is an error like any other.
//! Test requests carry no headers, cookies or query, so routes that ask for them do not
//! match; a route with policies has no status known at build time.

use edge_dsl::ast::{
    Action, Case, Config, Expect, HostPattern, Method, Mode, PathMatch, Route, Test,
};
use edge_dsl::{Diagnostic, Label};

use crate::matching::under_prefix;

/// Checks every test of `config`, whose names are known to resolve.
pub fn run(config: &Config, out: &mut Vec<Diagnostic>) {
    for test in &config.tests {
        let Some(listener) = listener(config, test, out) else {
            continue;
        };
        let routes: Vec<&Route> = config
            .routes
            .iter()
            .filter(|route| route.on.value == listener)
            .collect();
        for case in &test.cases {
            check_case(test, case, &routes, config, out);
        }
    }
}

/// The listener a test's requests arrive on: its `on`, or the only HTTP listener.
fn listener<'a>(config: &'a Config, test: &Test, out: &mut Vec<Diagnostic>) -> Option<&'a str> {
    let http: Vec<&str> = config
        .listeners
        .iter()
        .filter(|l| l.mode.as_ref().is_none_or(|m| m.value == Mode::Http))
        .map(|l| l.name.value.as_str())
        .collect();
    match &test.on {
        Some(on) => match config.listeners.iter().find(|l| l.name.value == on.value) {
            Some(listener) if http.contains(&listener.name.value.as_str()) => {
                Some(&listener.name.value)
            }
            Some(_) => {
                out.push(
                    Diagnostic::error(format!(
                        "test `{}` sends requests to a tcp listener",
                        test.name.value
                    ))
                    .with_label(Label::primary(on.span, "a `mode tcp` listener"))
                    .with_help("tests route HTTP requests; name an HTTP listener"),
                );
                None
            }
            None => {
                out.push(
                    Diagnostic::error(format!("no listener named `{on}`"))
                        .with_label(Label::primary(on.span, "unknown listener"))
                        .with_suggestion(
                            &on.value,
                            "a listener",
                            config.listeners.iter().map(|l| l.name.value.as_str()),
                        ),
                );
                None
            }
        },
        None if http.len() == 1 => Some(http[0]),
        None => {
            out.push(
                Diagnostic::error(format!(
                    "test `{}` does not say which listener it tests",
                    test.name.value
                ))
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
    routes: &[&Route],
    config: &Config,
    out: &mut Vec<Diagnostic>,
) {
    let matched = routes.iter().find(|route| matches(route, case)).copied();
    let request = format!("{} {}{}", case.method.value.as_str(), case.host, case.path);
    let fails = match &case.expect.value {
        Expect::Route(expected) => {
            if !config.routes.iter().any(|r| r.name.value == expected.value) {
                out.push(
                    Diagnostic::error(format!("no route named `{expected}`"))
                        .with_label(Label::primary(expected.span, "unknown route"))
                        .with_suggestion(
                            &expected.value,
                            "a route",
                            config.routes.iter().map(|r| r.name.value.as_str()),
                        ),
                );
                return;
            }
            matched.is_none_or(|route| route.name.value != expected.value)
        }
        Expect::Status(status) => status_of(matched, &case.method.value) != Some(*status),
    };
    if !fails {
        return;
    }
    let outcome = match matched {
        Some(route) => format!("reaches route `{}`", route.name),
        None => "matches no route (404)".to_owned(),
    };
    let mut diagnostic = Diagnostic::error(format!(
        "test `{}` failed: {request} {outcome}",
        test.name.value
    ))
    .with_label(Label::primary(case.expect.span, "expected here"));
    if let Some(route) = matched {
        diagnostic = diagnostic.with_label(Label::secondary(route.span, "the route it reaches"));
    }
    out.push(
        diagnostic.with_help("routes are tried in the order written; the first that matches wins"),
    );
}

/// The status a request gets without reaching a pool, when it is decided by the config.
fn status_of(route: Option<&Route>, method: &Method) -> Option<u16> {
    if route.is_some_and(|r| !r.uses.is_empty()) {
        return None;
    }
    match route.map(|r| &r.action.value) {
        None => Some(404),
        Some(Action::Redirect { status, .. }) => Some(status.value),
        Some(Action::Respond { status, .. }) => Some(status.value),
        Some(Action::RedirectHttps) if matches!(method, Method::Get | Method::Head) => Some(301),
        Some(Action::RedirectHttps) => Some(308),
        Some(Action::Forward(_) | Action::Serve(_)) => None,
    }
}

/// Whether `route` matches the request of `case`: the rule the generated router applies.
fn matches(route: &Route, case: &Case) -> bool {
    let host = route.hosts.is_empty()
        || route.hosts.iter().any(|pattern| match &pattern.value {
            HostPattern::Exact(exact) => *exact == case.host,
            HostPattern::Suffix(suffix) => case.host.ends_with(suffix.as_str()),
        });
    let method =
        route.methods.is_empty() || route.methods.iter().any(|m| m.value == case.method.value);
    let path = match route.path.as_ref().map(|p| &p.value) {
        None => true,
        Some(PathMatch::Exact(exact)) => *exact == case.path,
        Some(PathMatch::Prefix(prefix)) => under_prefix(&case.path, prefix),
    };
    host && method && path && route.matchers.is_empty()
}
