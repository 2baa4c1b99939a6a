//! Run-time state a running process passes to its successor with its sockets: what an operator
//! set through the admin API and would not expect an upgrade to undo. One line each:
//!
//! ```text
//! split ROUTE POOL:CONFIGURED:LIVE POOL:CONFIGURED:LIVE ...
//! ```
//!
//! A split line carries each pool's weight in the predecessor's config as well as its live
//! one, so that the successor keeps the live weights only when its own config did not change
//! the split ([`crate::upstream::split::Splits::adopt`]).

use std::fmt;

use crate::upstream::split::ChangedSplit;

/// One line of carried state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateLine {
    Split(ChangedSplit),
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
        ] {
            assert_eq!(StateLine::parse(text), None, "{text:?}");
        }
    }
}
