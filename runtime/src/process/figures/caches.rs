//! Each cache policy's figures for the admin page: its hit ratio overall and over the last
//! interval, and what each interval added to its lookups and hits (fresh or stale answers
//! served from it, revalidated ones included).

use std::collections::VecDeque;

use serde::Serialize;

use super::{Pairs, Series, KEPT};
use crate::policy::CacheFigures;

/// One cache's counters as last read, and its samples (lookups, hits), oldest first.
struct Cache {
    name: &'static str,
    totals: [u64; 2],
    samples: VecDeque<[u32; 2]>,
}

/// Every cache policy's figures.
#[derive(Default)]
pub(super) struct Caches(Vec<Cache>);

impl Caches {
    /// Adds a sample per cache of `figures` (the caches the process has now).
    pub(super) fn sample(&mut self, figures: &[CacheFigures]) {
        let mut kept: Vec<Cache> = Vec::with_capacity(figures.len());
        for figures in figures {
            let totals = figures.lookups_and_hits();
            let mut cache = match self.0.iter().position(|c| c.name == figures.name) {
                Some(at) => self.0.swap_remove(at),
                None => Cache {
                    name: figures.name,
                    totals: [0, 0],
                    samples: VecDeque::with_capacity(KEPT),
                },
            };
            if cache.samples.len() == KEPT {
                cache.samples.pop_front();
            }
            let added = |i: usize| {
                u32::try_from(totals[i].saturating_sub(cache.totals[i])).unwrap_or(u32::MAX)
            };
            cache.samples.push_back([added(0), added(1)]);
            cache.totals = totals;
            kept.push(cache);
        }
        self.0 = kept;
    }

    /// Every cache's figures, for JSON.
    pub(super) fn json<'a>(&'a self, figures: &'a [CacheFigures]) -> impl Serialize + 'a {
        let ratio = |[lookups, hits]: [u64; 2]| (lookups > 0).then(|| hits as f64 / lookups as f64);
        Series(move || {
            figures.iter().map(move |figures| {
                let kept = self.0.iter().find(|c| c.name == figures.name);
                let last = kept.and_then(|kept| kept.samples.back()).copied();
                let series = move |at: usize| {
                    Series(move || {
                        kept.into_iter()
                            .flat_map(move |kept| kept.samples.iter().map(move |s| s[at]))
                    })
                };
                CacheJson {
                    policy: figures.name,
                    results: Pairs(move || figures.results.iter().copied()),
                    entries: figures.entries,
                    bytes: figures.bytes,
                    hit_ratio: ratio(figures.lookups_and_hits()),
                    recent_hit_ratio: last.and_then(|[l, h]| ratio([l.into(), h.into()])),
                    history: CacheHistory {
                        lookups: series(0),
                        hits: series(1),
                    },
                }
            })
        })
    }
}

#[derive(Serialize)]
struct CacheJson<R, H> {
    policy: &'static str,
    results: R,
    entries: u64,
    bytes: u64,
    hit_ratio: Option<f64>,
    recent_hit_ratio: Option<f64>,
    history: CacheHistory<H>,
}

#[derive(Serialize)]
struct CacheHistory<H> {
    lookups: H,
    hits: H,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(hit: u64, miss: u64, stale: u64, bypass: u64) -> CacheFigures {
        CacheFigures {
            name: "pages",
            results: [
                ("hit", hit),
                ("miss", miss),
                ("stale", stale),
                ("revalidated", 0),
                ("bypass", bypass),
            ],
            entries: 3,
            bytes: 300,
        }
    }

    #[test]
    fn the_hit_ratio_counts_stale_answers_and_leaves_bypasses_out() {
        let json = |caches: &Caches, figures: &[CacheFigures]| {
            serde_json::to_value(caches.json(figures)).unwrap()
        };
        let mut caches = Caches::default();
        assert_eq!(
            json(&caches, &[figures(0, 0, 0, 5)])[0]["hit_ratio"],
            serde_json::Value::Null
        );
        caches.sample(&[figures(1, 3, 0, 5)]);
        caches.sample(&[figures(7, 4, 2, 9)]);
        let json = &json(&caches, &[figures(7, 4, 2, 9)])[0];
        assert_eq!(json["hit_ratio"], 9.0 / 13.0);
        assert_eq!(json["recent_hit_ratio"], 8.0 / 9.0);
        assert_eq!(json["history"]["lookups"], serde_json::json!([4, 9]));
        assert_eq!(json["history"]["hits"], serde_json::json!([1, 8]));
        assert_eq!(json["results"]["bypass"], 9);
    }
}
