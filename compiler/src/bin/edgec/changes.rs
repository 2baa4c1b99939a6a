//! What an edit changed, as `edgec watch` reports it: the routes, pools and policies of two
//! checked models compared by name, each described by what it holds (a route by its match,
//! policies and action, with pools and policies named rather than numbered, so that adding
//! one elsewhere in the file changes nothing else).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use edge_compiler::model::{Action, Model, Route};

/// Each part of a model, by kind and name, as a text that changes when the part does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    routes: BTreeMap<String, String>,
    pools: BTreeMap<String, String>,
    policies: BTreeMap<String, String>,
}

impl Summary {
    pub fn of(model: &Model) -> Summary {
        let pool = |index: usize| model.pools.get(index).map_or("?", |p| p.name.as_str());
        let routes = model
            .listeners
            .iter()
            .flat_map(|listener| {
                listener.routes.iter().map(move |route| {
                    let policies: Vec<&str> = route
                        .policies
                        .iter()
                        .filter_map(|&i| model.instances.get(i))
                        .map(|instance| instance.name.as_str())
                        .collect();
                    let name = format!("{}/{}", listener.name, route.name);
                    (name, describe(route, &policies, pool))
                })
            })
            .collect();
        let pools = model
            .pools
            .iter()
            .map(|p| (p.name.clone(), format!("{p:?}")))
            .collect();
        let policies = model
            .policies
            .iter()
            .map(|p| (p.name.clone(), format!("{:?}", p.kind)))
            .collect();
        Summary {
            routes,
            pools,
            policies,
        }
    }
}

/// A route's match, policies (by name) and action (pools by name).
fn describe<'a>(route: &Route, policies: &[&str], pool: impl Fn(usize) -> &'a str) -> String {
    let mut text = format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {policies:?} ",
        route.hosts,
        route.sni,
        route.path,
        route.methods,
        route.matchers,
        route.timeout,
        route.upgrades,
    );
    if let Some(mirror) = &route.mirror {
        let _ = write!(text, "mirror {} {:?} ", pool(mirror.pool), mirror);
    }
    let _ = match &route.action {
        Action::Forward(index) => write!(text, "forward {}", pool(*index)),
        Action::Split { pools, by } => {
            let named: Vec<_> = pools.iter().map(|&(i, w)| (pool(i), w)).collect();
            write!(text, "split {named:?} {by:?}")
        }
        other => write!(text, "{other:?}"),
    };
    text
}

/// What differs between two summaries, by kind: names added, removed and changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    kinds: Vec<(&'static str, Diff)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Diff {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

impl Changes {
    pub fn between(before: &Summary, after: &Summary) -> Changes {
        let kinds = [
            ("routes", &before.routes, &after.routes),
            ("pools", &before.pools, &after.pools),
            ("policies", &before.policies, &after.policies),
        ]
        .into_iter()
        .map(|(kind, before, after)| (kind, diff(before, after)))
        .filter(|(_, diff)| *diff != Diff::default())
        .collect();
        Changes { kinds }
    }

    /// Nothing a route, pool or policy holds changed (the edit was elsewhere: a listener,
    /// a limit, a comment).
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Diff {
    Diff {
        added: after
            .keys()
            .filter(|name| !before.contains_key(*name))
            .cloned()
            .collect(),
        removed: before
            .keys()
            .filter(|name| !after.contains_key(*name))
            .cloned()
            .collect(),
        changed: after
            .iter()
            .filter(|(name, text)| before.get(*name).is_some_and(|was| was != *text))
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

/// One line per kind: `routes: added api/b; changed api/a`.
impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (kind, diff) in &self.kinds {
            let parts: Vec<String> = [
                ("added", &diff.added),
                ("removed", &diff.removed),
                ("changed", &diff.changed),
            ]
            .into_iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(what, names)| format!("{what} {}", names.join(", ")))
            .collect();
            writeln!(f, "{kind}: {}", parts.join("; "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_compiler::{analyze, SourceFile};

    fn summary(text: &str) -> Summary {
        let analysis = analyze(&SourceFile::new("watched.edge", text));
        Summary::of(analysis.model.as_ref().expect("a valid config"))
    }

    const BEFORE: &str = "listener web { bind 127.0.0.1:8080 }\n\
        pool app { server 127.0.0.1:9001 }\n\
        route health { on web\n path = /healthz\n respond 200 \"ok\\n\" }\n\
        route api { on web\n path /api\n forward app }\n";

    #[test]
    fn an_edit_is_named_by_what_it_changed() {
        let after = BEFORE
            .replace("\"ok\\n\"", "\"ok again\\n\"")
            .replace("route api", "route v2")
            + "route more { on web\n path /more\n forward app }\n";
        let changes = Changes::between(&summary(BEFORE), &summary(&after));
        assert_eq!(
            changes.to_string(),
            "routes: added web/more, web/v2; removed web/api; changed web/health\n"
        );
    }

    #[test]
    fn a_pool_added_before_another_changes_no_route() {
        let after = BEFORE.replace("pool app", "pool first { server 127.0.0.1:9002 }\npool app");
        let changes = Changes::between(&summary(BEFORE), &summary(&after));
        assert_eq!(changes.to_string(), "pools: added first\n");
        let spaced = BEFORE.replace("route api", "\n# the API\nroute api");
        assert!(Changes::between(&summary(BEFORE), &summary(&spaced)).is_empty());
    }
}
