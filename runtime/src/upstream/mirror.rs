//! A route's mirror (`mirror shadow 10%`): a copy of a share of the route's requests sent to
//! another pool, as Envoy's `request_mirror_policies` and nginx's `mirror` do, to try a new
//! deployment on real traffic. The copy never holds the request up: it is sent by a task of its
//! own once the request's body has streamed to its server (the body's bytes are kept as they
//! pass, up to `max_body`), and its answer is read to the end and dropped. At most
//! `max_in_flight` copies are on their way at once; past that, a request is not mirrored.
//! Upgrade requests (WebSockets) are never mirrored.
//!
//! Each copy's fate is counted, for `GET /metrics`: the answer's status class, a timeout (the
//! copy is bounded by the shadow pool's connect and response timeouts together, its answer's
//! body included), or why it was not sent (too many on their way, a body too large, a body that
//! never ended).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::UPGRADE;
use http_body_util::BodyExt;

use crate::body::{Copied, CopyOf};
use crate::registry::Started;
use crate::{Cx, Guard, Pool, Request, RequestBody, Strategy, Unguarded};

/// A mirror as the `.edge` file writes it.
#[derive(Debug)]
pub struct MirrorSpec {
    /// The route's name.
    pub route: &'static str,
    /// The shadow pool's name.
    pub pool: &'static str,
    /// The share of requests copied, in hundredths of a percent (1 to 10,000).
    pub share: u32,
    /// The largest body copied.
    pub max_body: u64,
    /// The most copies on their way at once.
    pub max_in_flight: u32,
}

/// What became of a request a mirror saw, as metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered by the shadow pool, by status class (1xx to 5xx).
    Answered(u8),
    /// Not answered, or its answer not read, in time.
    TimedOut,
    /// Not sent: `max_in_flight` copies were on their way.
    Busy,
    /// Not sent: the body is longer than `max_body`.
    TooLarge,
    /// Not sent: the body never ended (the client went away, or the server answered without
    /// reading it).
    Incomplete,
}

impl Outcome {
    /// Every outcome, in the order of [`Tally`]'s counters.
    pub(crate) const ALL: [Outcome; 9] = [
        Outcome::Answered(1),
        Outcome::Answered(2),
        Outcome::Answered(3),
        Outcome::Answered(4),
        Outcome::Answered(5),
        Outcome::TimedOut,
        Outcome::Busy,
        Outcome::TooLarge,
        Outcome::Incomplete,
    ];

    fn index(self) -> usize {
        match self {
            Outcome::Answered(class) => usize::from(class.clamp(1, 5)) - 1,
            Outcome::TimedOut => 5,
            Outcome::Busy => 6,
            Outcome::TooLarge => 7,
            Outcome::Incomplete => 8,
        }
    }

    /// The `result` label of `edge_mirror_requests_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Answered(1) => "1xx",
            Outcome::Answered(2) => "2xx",
            Outcome::Answered(3) => "3xx",
            Outcome::Answered(4) => "4xx",
            Outcome::Answered(_) => "5xx",
            Outcome::TimedOut => "timeout",
            Outcome::Busy => "busy",
            Outcome::TooLarge => "too_large",
            Outcome::Incomplete => "incomplete",
        }
    }
}

/// A mirror's counts and the copies it has on their way, shared by every worker.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) spec: &'static MirrorSpec,
    in_flight: AtomicU32,
    counts: [AtomicU64; Outcome::ALL.len()],
}

impl Tally {
    fn count(&self, outcome: Outcome) {
        self.counts[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Each outcome with its count.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (Outcome, u64)> + '_ {
        Outcome::ALL.into_iter().map(|outcome| {
            (
                outcome,
                self.counts[outcome.index()].load(Ordering::Relaxed),
            )
        })
    }

    /// Takes a place for a copy, if fewer than `max_in_flight` are on their way.
    fn place(self: &Arc<Tally>) -> Option<Place> {
        let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
        if before >= self.spec.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.count(Outcome::Busy);
            return None;
        }
        Some(Place(Arc::clone(self)))
    }
}

/// A copy's place among those on their way; given back when dropped.
struct Place(Arc<Tally>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The mirrors of a process, for metrics.
#[derive(Clone)]
pub struct Mirrors(Arc<Started<Tally>>);

impl std::fmt::Debug for Mirrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.all().iter().map(|tally| tally.spec.route))
            .finish()
    }
}

impl Mirrors {
    pub(crate) fn new() -> Mirrors {
        Mirrors(Arc::new(Started::new()))
    }

    /// Every mirror's counts.
    pub(crate) fn all(&self) -> Vec<Arc<Tally>> {
        self.0.live().into_iter().map(|(_, tally)| tally).collect()
    }
}

/// A route's mirror to a pool balanced by `S` (and guarded by `G`).
#[derive(Debug)]
pub struct Mirror<S: Strategy, G: Guard = Unguarded> {
    pool: Arc<Pool<S, G>>,
    tally: Arc<Tally>,
}

impl<S: Strategy, G: Guard> Mirror<S, G> {
    /// The mirror of `spec` to `pool` (the pool `spec` names, shared with the routes that
    /// forward to it), counted in `mirrors`.
    pub fn new(
        spec: &'static MirrorSpec,
        pool: Arc<Pool<S, G>>,
        mirrors: &Mirrors,
    ) -> Mirror<S, G> {
        let tally = Arc::new(Tally {
            spec,
            in_flight: AtomicU32::new(0),
            counts: Default::default(),
        });
        mirrors.0.register(spec.route, Arc::downgrade(&tally));
        Mirror { pool, tally }
    }

    /// The copies on their way now.
    pub fn in_flight(&self) -> u32 {
        self.tally.in_flight.load(Ordering::Relaxed)
    }

    /// Sends a copy of `req`, as it is now, to the mirror's pool when the request falls in
    /// the mirror's share: at once when its body is known, else once its body has streamed.
    /// Returns `req` at once, to go on as it was (its body keeps a copy as it streams).
    #[inline]
    pub fn copy(&self, mut req: Request, cx: &Cx) -> Request {
        self.send_copy(&mut req, cx);
        req
    }

    fn send_copy(&self, req: &mut Request, cx: &Cx) {
        let spec = self.tally.spec;
        if spec.share < 10_000 && crate::rand::next() % 10_000 >= u64::from(spec.share) {
            return;
        }
        if req.headers().contains_key(UPGRADE) {
            return;
        }
        let Some(place) = self.tally.place() else {
            return;
        };
        let body = match req.body_mut().copy(spec.max_body) {
            CopyOf::TooLarge => {
                self.tally.count(Outcome::TooLarge);
                return;
            }
            body => body,
        };
        let mut head = http::Request::new(());
        *head.method_mut() = req.method().clone();
        *head.uri_mut() = req.uri().clone();
        *head.version_mut() = req.version();
        *head.headers_mut() = req.headers().clone();
        let sent = send(
            Arc::clone(&self.pool),
            head,
            body,
            cx.for_copy(),
            Arc::clone(&self.tally),
        );
        tokio::spawn(async move {
            sent.await;
            drop(place);
        });
    }
}

/// Sends the copy once its body is there, reads the answer to its end, and counts what
/// became of it.
async fn send<S: Strategy, G: Guard>(
    pool: Arc<Pool<S, G>>,
    head: http::Request<()>,
    body: CopyOf,
    cx: Cx,
    tally: Arc<Tally>,
) {
    let body: Bytes = match body {
        CopyOf::Now(bytes) => bytes,
        CopyOf::Later(copied) => match copied.await {
            Ok(Copied::Whole(bytes)) => bytes,
            Ok(Copied::TooLarge) => return tally.count(Outcome::TooLarge),
            Err(_) => return tally.count(Outcome::Incomplete),
        },
        CopyOf::TooLarge => return tally.count(Outcome::TooLarge),
    };
    let timeouts = pool.spec().timeouts;
    let limit = timeouts.connect + timeouts.response;
    let req = head.map(|()| RequestBody::full(body));
    // Boxed here, in the copy's task: the exchange's future is large, and spawning it whole
    // would copy it on the client's path.
    let exchange = Box::pin(async {
        let answer = pool.forward(req, &cx).await;
        let class = (answer.status().as_u16() / 100) as u8;
        let mut body = answer.into_body();
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
        class
    });
    match tokio::time::timeout(limit, exchange).await {
        Ok(class) => tally.count(Outcome::Answered(class)),
        Err(_) => tally.count(Outcome::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: MirrorSpec = MirrorSpec {
        route: "app",
        pool: "shadow",
        share: 10_000,
        max_body: 1024,
        max_in_flight: 2,
    };

    #[test]
    fn places_are_bounded_and_given_back() {
        let tally = Arc::new(Tally {
            spec: &SPEC,
            in_flight: AtomicU32::new(0),
            counts: Default::default(),
        });
        let first = tally.place().expect("a place");
        let second = tally.place().expect("a place");
        assert!(tally.place().is_none(), "two on their way at most");
        drop(first);
        let third = tally.place().expect("a place given back");
        drop((second, third));
        assert_eq!(tally.in_flight.load(Ordering::Relaxed), 0);
        let busy = tally
            .counts()
            .find(|(outcome, _)| *outcome == Outcome::Busy);
        assert_eq!(busy, Some((Outcome::Busy, 1)));
    }

    #[test]
    fn every_outcome_has_its_own_counter_and_label() {
        let labels: std::collections::HashSet<_> =
            Outcome::ALL.iter().map(|outcome| outcome.label()).collect();
        assert_eq!(labels.len(), Outcome::ALL.len());
        for (index, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), index);
        }
    }
}
