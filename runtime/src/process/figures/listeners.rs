//! Each listener's figures for the admin page: connections open now, and what each interval
//! added to its accepted connections and its requests (its routes' and those no route took).

use std::collections::VecDeque;

use serde::Serialize;

use super::{Series, KEPT};
use crate::observe::{metrics::sum, Observer};

/// One listener's counters as last read, and its samples (connections, requests), oldest
/// first.
#[derive(Default)]
struct Listener {
    accepted: u64,
    requests: u64,
    samples: VecDeque<[u32; 2]>,
}

/// Every listener's figures, in the observer's order.
#[derive(Default)]
pub(super) struct Listeners(Vec<Listener>);

/// A listener's connections accepted, open now and requests answered, read from `observer`.
fn read(observer: &Observer, listener: usize) -> [u64; 3] {
    let rows = || observer.metrics.listener_rows(listener);
    let accepted = sum(rows(), |r| &r.accepted);
    let open = accepted.saturating_sub(sum(rows(), |r| &r.closed));
    let name = observer.listeners[listener];
    let routed: u64 = (0..observer.routes.len())
        .filter(|&route| observer.routes[route].listener == name)
        .map(|route| {
            let rows = observer.metrics.route_rows(route);
            (0..5)
                .map(|class| sum(rows.clone(), |r| &r.classes[class]))
                .sum::<u64>()
        })
        .sum();
    let unrouted: u64 = (0..5)
        .map(|class| {
            sum(observer.metrics.unrouted_rows(listener), |r| {
                &r.classes[class]
            })
        })
        .sum();
    [accepted, open, routed + unrouted]
}

impl Listeners {
    /// Adds a sample per listener.
    pub(super) fn sample(&mut self, observer: &Observer) {
        if self.0.len() != observer.listeners.len() {
            // Counters start at zero with the process: the first sample holds everything since.
            self.0 = (0..observer.listeners.len())
                .map(|_| Listener::default())
                .collect();
        }
        for (index, listener) in self.0.iter_mut().enumerate() {
            let [accepted, _, requests] = read(observer, index);
            if listener.samples.len() == KEPT {
                listener.samples.pop_front();
            }
            let added = |now: u64, before: u64| {
                u32::try_from(now.saturating_sub(before)).unwrap_or(u32::MAX)
            };
            listener.samples.push_back([
                added(accepted, listener.accepted),
                added(requests, listener.requests),
            ]);
            listener.accepted = accepted;
            listener.requests = requests;
        }
    }

    /// Every listener's figures, for JSON; rates over the last interval of `seconds`.
    pub(super) fn json<'a>(&'a self, observer: &'a Observer, seconds: f64) -> impl Serialize + 'a {
        Series(move || {
            observer
                .listeners
                .iter()
                .enumerate()
                .map(move |(index, name)| {
                    let [accepted, open, requests] = read(observer, index);
                    let kept = self.0.get(index);
                    let last = kept.and_then(|kept| kept.samples.back()).copied();
                    let series = move |at: usize| {
                        Series(move || {
                            kept.into_iter()
                                .flat_map(move |kept| kept.samples.iter().map(move |s| s[at]))
                        })
                    };
                    ListenerFigures {
                        listener: name,
                        connections_open: open,
                        connections: accepted,
                        requests,
                        connection_rate: last.map_or(0.0, |s| f64::from(s[0]) / seconds),
                        request_rate: last.map_or(0.0, |s| f64::from(s[1]) / seconds),
                        history: ListenerHistory {
                            connections: series(0),
                            requests: series(1),
                        },
                    }
                })
        })
    }
}

#[derive(Serialize)]
struct ListenerFigures<H> {
    listener: &'static str,
    connections_open: u64,
    connections: u64,
    requests: u64,
    connection_rate: f64,
    request_rate: f64,
    history: ListenerHistory<H>,
}

#[derive(Serialize)]
struct ListenerHistory<H> {
    connections: H,
    requests: H,
}
