//! Run-time state a running process passes to its successor with its sockets: what an operator
//! set through the admin API and would not expect an upgrade to undo. One line each:
//!
//! ```text
//! split ROUTE POOL:CONFIGURED:LIVE POOL:CONFIGURED:LIVE ...
//! server POOL ADDRESS drain|maintenance
//! weight POOL ADDRESS CONFIGURED LIVE
//! ```
//!
//! A split line carries each pool's weight in the predecessor's config as well as its live
//! one, so that the successor keeps the live weights only when its own config did not change
//! the split ([`crate::upstream::split::Splits::adopt`]). A server line carries a server an
//! operator drained or put in maintenance; the successor steers the same server of the same
//! pool alike, if its config still has it. A weight line carries a server an operator gave
//! another weight, with the weight the predecessor's config gave it, so that the successor
//! keeps the operator's only when its config gives the server the same weight
//! (`process::steer::adopt_weight`). Weights have a kind of their own rather than more words
//! on a server line: a process of an earlier build skips a kind it does not know, but would
//! refuse a server line it cannot read, state and all.

use std::fmt;

use crate::upstream::{
    backend::{Steering, MAX_WEIGHT},
    split::ChangedSplit,
};

/// One line of carried state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateLine {
    Split(ChangedSplit),
    /// A server of a pool, by its address as `/status` shows it, steered out of `Ready`.
    Server {
        pool: String,
        server: String,
        state: Steering,
    },
    /// A server of a pool, by its address as `/status` shows it, given a weight (`live`)
    /// other than its config's (`configured`).
    Weight {
        pool: String,
        server: String,
        configured: u32,
        live: u32,
    },
}

impl fmt::Display for StateLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLine::Split(split) => {
                write!(f, "split {}", split.route)?;
                for (pool, configured, live) in &split.pools {
                    write!(f, " {pool}:{configured}:{live}")?;
                }
                Ok(())
            }
            StateLine::Server {
                pool,
                server,
                state,
            } => write!(f, "server {pool} {server} {}", state.name()),
            StateLine::Weight {
                pool,
                server,
                configured,
                live,
            } => write!(f, "weight {pool} {server} {configured} {live}"),
        }
    }
}

impl StateLine {
    /// Parses a line as [`fmt::Display`] writes it; `None` for a line of another kind (from
    /// a later version) or a malformed one.
    pub(crate) fn parse(text: &str) -> Option<StateLine> {
        let mut words = text.split(' ');
        match words.next()? {
            "split" => {
                let route = words.next().filter(|route| !route.is_empty())?;
                let pools = words
                    .map(|word| {
                        let mut parts = word.split(':');
                        let pool = parts.next().filter(|pool| !pool.is_empty())?;
                        let configured = parts.next()?.parse().ok()?;
                        let live = parts.next()?.parse().ok()?;
                        parts
                            .next()
                            .is_none()
                            .then(|| (pool.to_owned(), configured, live))
                    })
                    .collect::<Option<Vec<_>>>()?;
                (!pools.is_empty()).then(|| {
                    StateLine::Split(ChangedSplit {
                        route: route.to_owned(),
                        pools,
                    })
                })
            }
            "server" => {
                let pool = words.next().filter(|pool| !pool.is_empty())?;
                let server = words.next().filter(|server| !server.is_empty())?;
                let state = Steering::parse(words.next()?)?;
                (words.next().is_none() && state != Steering::Ready).then(|| StateLine::Server {
                    pool: pool.to_owned(),
                    server: server.to_owned(),
                    state,
                })
            }
            "weight" => {
                let pool = words.next().filter(|pool| !pool.is_empty())?;
                let server = words.next().filter(|server| !server.is_empty())?;
                let configured = words.next()?.parse().ok()?;
                let live = words
                    .next()?
                    .parse()
                    .ok()
                    .filter(|live| (1..=MAX_WEIGHT).contains(live))?;
                words.next().is_none().then(|| StateLine::Weight {
                    pool: pool.to_owned(),
                    server: server.to_owned(),
                    configured,
                    live,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_line_reads_back_as_written() {
        let line = StateLine::Split(ChangedSplit {
            route: "canary".to_owned(),
            pools: vec![("app".to_owned(), 95, 50), ("app_v2".to_owned(), 5, 50)],
        });
        let text = line.to_string();
        assert_eq!(text, "split canary app:95:50 app_v2:5:50");
        assert_eq!(StateLine::parse(&text), Some(line));
    }

    #[test]
    fn a_server_line_reads_back_as_written() {
        let line = StateLine::Server {
            pool: "app".to_owned(),
            server: "[::1]:8080".to_owned(),
            state: Steering::Maintenance,
        };
        let text = line.to_string();
        assert_eq!(text, "server app [::1]:8080 maintenance");
        assert_eq!(StateLine::parse(&text), Some(line));
    }

    #[test]
    fn a_weight_line_reads_back_as_written() {
        let line = StateLine::Weight {
            pool: "app".to_owned(),
            server: "10.0.0.1:8080".to_owned(),
            configured: 1,
            live: 3,
        };
        let text = line.to_string();
        assert_eq!(text, "weight app 10.0.0.1:8080 1 3");
        assert_eq!(StateLine::parse(&text), Some(line));
        // An SRV record's weight may be 0.
        assert!(StateLine::parse("weight app 10.0.0.1:8080 0 1000000").is_some());
    }

    #[test]
    fn other_kinds_and_malformed_lines_are_not_read() {
        for text in [
            "",
            "drain web 30",
            "split",
            "split canary",
            "split  app:1:1",
            "split canary app:95",
            "split canary app:95:50:1",
            "split canary app:-1:50",
            "split canary :1:1",
            "split canary app:1:x",
            "server app",
            "server app 127.0.0.1:80",
            "server app 127.0.0.1:80 off",
            "server app 127.0.0.1:80 ready",
            "server app 127.0.0.1:80 drain extra",
            "weight app 127.0.0.1:80",
            "weight app 127.0.0.1:80 1",
            "weight app 127.0.0.1:80 1 0",
            "weight app 127.0.0.1:80 1 1000001",
            "weight app 127.0.0.1:80 -1 3",
            "weight app 127.0.0.1:80 1 2.5",
            "weight app 127.0.0.1:80 1 3 extra",
            "weight  127.0.0.1:80 1 3",
        ] {
            assert_eq!(StateLine::parse(text), None, "{text:?}");
        }
    }
}
