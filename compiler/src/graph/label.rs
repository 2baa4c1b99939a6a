//! How nodes read: each node's lines of text (its name first) and one-line description, the
//! model's values spelt as a config writes them ([`crate::spelling`]).

use super::Item;
use crate::model::Mode;
use crate::spelling::address;

impl Item {
    /// The node's text, one entry a line: its name (or address) first, then its details.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Item::Listener {
                name,
                bind,
                mode,
                tls,
            } => {
                let mode = match mode {
                    Mode::Http => "http",
                    Mode::Tcp { .. } => "tcp",
                };
                let tls = if *tls { " · tls" } else { "" };
                vec![name.clone(), format!("{bind} · {mode}{tls}")]
            }
            Item::Route { name, matches } => {
                let mut lines = vec![name.clone()];
                if matches.is_empty() {
                    lines.push("any".to_owned());
                }
                lines.extend(matches.iter().cloned());
                lines
            }
            Item::Policy { name, kind, .. } => vec![format!("{name} ({kind})")],
            Item::Pool {
                name,
                balance,
                tls,
                guard,
            } => {
                let tls = if *tls { " · tls" } else { "" };
                let mut lines = vec![name.clone(), format!("{balance}{tls}")];
                if !guard.is_empty() {
                    lines.push(guard.join(" · "));
                }
                lines
            }
            Item::Server {
                address,
                weight,
                max_conns,
                backup,
                ..
            } => {
                let mut details = Vec::new();
                if *weight != 1 {
                    details.push(format!("weight {weight}"));
                }
                if *max_conns != 0 {
                    details.push(format!("max_conns {max_conns}"));
                }
                if *backup {
                    details.push("backup".to_owned());
                }
                let mut lines = vec![self::address(address)];
                if !details.is_empty() {
                    lines.push(details.join(" · "));
                }
                lines
            }
            Item::Leaf { action, .. } => vec![action.clone()],
        }
    }

    /// One line saying what the node is: `route users: path /users`.
    pub fn description(&self) -> String {
        let lines = self.lines();
        match self {
            Item::Policy { route, place, .. } => {
                format!("policy {place} of route {route}: {}", lines.join(", "))
            }
            Item::Server { pool, .. } => format!("server {} of pool {pool}", lines.join(", ")),
            Item::Leaf { route, action } => format!("route {route} answers {action}"),
            _ => match lines.split_first() {
                Some((name, details)) if !details.is_empty() => {
                    format!("{} {name}: {}", self.kind().as_str(), details.join(", "))
                }
                _ => format!("{} {}", self.kind().as_str(), lines.join(", ")),
            },
        }
    }
}
