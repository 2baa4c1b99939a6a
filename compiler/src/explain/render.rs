//! An explanation for people (`edgec explain`) and for tools (`edgec explain --json`).

use serde_json::{json, Value};

use super::{End, Explanation, Probe, Verdict};
use crate::spelling;

/// One line per step: the listener, the route, each policy, the end.
pub fn to_text(explanation: &Explanation<'_>, probe: &Probe<'_>) -> String {
    let listener = explanation.listener;
    let mut lines = vec![format!(
        "{} {}{} from {}",
        probe.method.as_str(),
        probe.url.host,
        target(probe),
        probe.client
    )];
    lines.push(format!("  listener  {} ({})", listener.name, listener.bind));
    match explanation.route {
        Some((index, route)) => lines.push(format!(
            "  route     {} (route {} of {} tried; it matches {})",
            route.name,
            index + 1,
            listener.routes.len(),
            match spelling::matches(route).join(", ") {
                conditions if conditions.is_empty() => "every request".to_owned(),
                conditions => conditions,
            }
        )),
        None => lines.push(format!(
            "  route     none of the {} routes matches",
            listener.routes.len()
        )),
    }
    for step in &explanation.steps {
        let verdict = match &step.verdict {
            Verdict::Passes(what) => format!("passes: {what}"),
            Verdict::Checked(what) => format!("passes if valid: {what}"),
            Verdict::Answers { status, why } => format!("answers {status}: {why}"),
        };
        lines.push(format!(
            "  policy    {} ({}) {verdict}",
            step.policy.name,
            spelling::policy_kind(&step.policy.kind)
        ));
    }
    if let Some((pool, share)) = explanation.mirror {
        lines.push(format!(
            "  mirror    {} of requests copied to pool {} (never waited for)",
            percent(share),
            pool.name
        ));
    }
    lines.push(match &explanation.end {
        End::NoRoute => "  answer    404, no route".to_owned(),
        End::Answered(status) => format!("  answer    {status}, by the policy above"),
        End::Respond(status) => format!("  answer    {status}, by the route"),
        End::Redirect { status, location } => format!("  answer    {status} to {location}"),
        End::Forward(pool) => format!(
            "  forward   pool {} ({}, {} server{})",
            pool.name,
            spelling::balance(&pool.balance),
            pool.servers.len(),
            if pool.servers.len() == 1 { "" } else { "s" }
        ),
        End::Split { pools, by } => {
            let total: u32 = pools.iter().map(|(_, weight)| weight).sum();
            let shares: Vec<String> = pools
                .iter()
                .map(|(pool, weight)| {
                    format!(
                        "pool {} {:.0} %",
                        pool.name,
                        f64::from(*weight) * 100.0 / f64::from(total)
                    )
                })
                .collect();
            let by = by.map_or(String::new(), |key| {
                format!(" (by {}: one pool per key)", spelling::hash_key(key))
            });
            format!("  split     {}{by}", shares.join(", "))
        }
        End::Serve(root) => format!("  serve     files from {root}"),
    });
    lines.join("\n") + "\n"
}

/// The same as one JSON object.
pub fn to_json(explanation: &Explanation<'_>, probe: &Probe<'_>) -> Value {
    let steps: Vec<Value> = explanation
        .steps
        .iter()
        .map(|step| {
            let (verdict, status, text) = match &step.verdict {
                Verdict::Passes(what) => ("passes", None, what),
                Verdict::Checked(what) => ("checked", None, what),
                Verdict::Answers { status, why } => ("answers", Some(*status), why),
            };
            json!({
                "policy": step.policy.name,
                "kind": spelling::policy_kind(&step.policy.kind),
                "verdict": verdict,
                "status": status,
                "detail": text,
            })
        })
        .collect();
    let end = match &explanation.end {
        End::NoRoute => json!({ "kind": "no_route" }),
        End::Answered(_) => json!({ "kind": "policy" }),
        End::Respond(_) => json!({ "kind": "respond" }),
        End::Redirect { location, .. } => json!({ "kind": "redirect", "location": location }),
        End::Forward(pool) => json!({
            "kind": "forward",
            "pool": pool.name,
            "balance": spelling::balance(&pool.balance),
            "servers": pool.servers.iter().map(|s| spelling::address(&s.upstream)).collect::<Vec<_>>(),
        }),
        End::Split { pools, by } => json!({
            "kind": "split",
            "pools": pools.iter().map(|(pool, weight)| json!({ "pool": pool.name, "weight": weight })).collect::<Vec<_>>(),
            "by": by.map(spelling::hash_key),
        }),
        End::Serve(root) => json!({ "kind": "serve", "root": root }),
    };
    json!({
        "request": {
            "method": probe.method.as_str(),
            "host": probe.url.host,
            "path": probe.url.path,
            "query": probe.url.query,
            "client": probe.client.to_string(),
        },
        "listener": explanation.listener.name,
        "route": explanation.route.map(|(_, route)| route.name.as_str()),
        "policies": steps,
        "mirror": explanation.mirror.map(|(pool, share)| json!({ "pool": pool.name, "share": percent(share) })),
        "end": end,
        "status": explanation.end.status(),
    })
}

/// A share in hundredths of a percent, as the language writes it: `10 %`, `0.5 %`.
fn percent(hundredths: u32) -> String {
    let (whole, fraction) = (hundredths / 100, hundredths % 100);
    match fraction {
        0 => format!("{whole} %"),
        f if f % 10 == 0 => format!("{whole}.{} %", f / 10),
        f => format!("{whole}.{f:02} %"),
    }
}

fn target(probe: &Probe<'_>) -> String {
    match &probe.url.query {
        Some(query) => format!("{}?{query}", probe.url.path),
        None => probe.url.path.clone(),
    }
}
