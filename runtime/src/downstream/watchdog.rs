//! Every phase of a client connection has a deadline, and a connection past one is closed: the
//! first request head (from the accept, TLS handshake and HTTP/2 preface included), any later
//! head once its first byte has arrived, the idle time between requests (HTTP/1.1 keep-alive,
//! HTTP/2 without an open stream), and an answer the client leaves unread. The drain signal of
//! a stopping server reaches connections the same way.
//!
//! One timer per connection, not per request: the connection's [`Activity`] is written by the
//! request service (requests in flight), the HTTP/1 engine (heads begun) and the I/O wrapper
//! (writes blocked) as plain atomic stores, and [`watch`] reads it only when its timer fires,
//! then sleeps until the next deadline that can have passed by then. An idle connection wakes
//! once, at its deadline; a busy one once per shortest timeout. A head left incomplete pokes
//! the watchdog, since its deadline is sooner than the idle one.

use std::{
    future::{poll_fn, Future},
    pin::{pin, Pin},
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use atomic_waker::AtomicWaker;
use tokio::sync::watch;

use crate::{
    clock::{self, Nanos},
    downstream::listener::ListenerLimits,
};

/// No time stored.
const NEVER: Nanos = Nanos::MAX;

/// How long an HTTP/2 connection told to go away (GOAWAY) may take to finish its streams
/// when it is closed for being idle; it has none, so this only bounds a lost race.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// What the watchdog knows of one client connection.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Set when the server stops: the connection ends once its request in flight is answered.
    stopping: AtomicBool,
    /// Requests admitted whose answers have not been sent (HTTP/2: open streams).
    in_flight: AtomicU32,
    /// Whether a request has been answered on this connection.
    served: AtomicBool,
    /// When the connection last became idle: accepted, or its last answer sent.
    idle_since: AtomicU64,
    /// When the first byte of a head still incomplete arrived; [`NEVER`] between heads.
    head_since: AtomicU64,
    /// Since when a write has waited for the client to take bytes; [`NEVER`] when none waits.
    blocked_since: AtomicU64,
    /// Set, and the watchdog woken, when a head is left incomplete, whose deadline may come
    /// before the one the watchdog sleeps until. A lock-free waker, not a `Notify`: the
    /// watchdog polls it on every turn of its loop, several times a request.
    head_begun: AtomicBool,
    watchdog: AtomicWaker,
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No complete request head in time.
    Head,
    /// Idle past the keep-alive (or, before any request, the header) timeout.
    Idle,
    /// An answer left unread past the send timeout.
    Send,
}

impl Activity {
    /// A connection accepted now.
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            stopping: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(clock::now()),
            head_since: AtomicU64::new(NEVER),
            blocked_since: AtomicU64::new(NEVER),
            head_begun: AtomicBool::new(false),
            watchdog: AtomicWaker::new(),
        })
    }

    /// A request admitted: the connection is busy until the returned guard is dropped, when its
    /// answer has been sent (or abandoned).
    pub(crate) fn request(self: &Arc<Activity>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Bytes of a request head were read: `in_head` whether a head is begun and incomplete.
    pub(crate) fn head(&self, in_head: bool) {
        let since = self.head_since.load(Ordering::Relaxed);
        match (in_head, since == NEVER) {
            (true, true) => {
                self.head_since.store(clock::now(), Ordering::Relaxed);
                self.head_begun.store(true, Ordering::Release);
                self.watchdog.wake();
            }
            (false, false) => self.head_since.store(NEVER, Ordering::Relaxed),
            _ => {}
        }
    }

    /// Tells the connection to end after its request in flight (if any) has been answered.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// A write to the client: `blocked` whether it waits for the client to take bytes.
    pub(crate) fn write(&self, blocked: bool) {
        let since = self.blocked_since.load(Ordering::Relaxed);
        match (blocked, since == NEVER) {
            (true, true) => self.blocked_since.store(clock::now(), Ordering::Relaxed),
            (false, false) => self.blocked_since.store(NEVER, Ordering::Relaxed),
            _ => {}
        }
    }

    /// Ready once a head began since the last time it was; registers the watchdog's waker.
    fn poll_head_begun(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.watchdog.register(cx.waker());
        if self.head_begun.load(Ordering::Acquire) && self.head_begun.swap(false, Ordering::AcqRel)
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// The deadline passed at `now`, or when to look again.
    fn check(&self, now: Nanos, limits: &ListenerLimits) -> Result<Nanos, Expired> {
        let after = |since: Nanos, limit: Duration| since.saturating_add(clock::nanos(limit));
        let busy = self.in_flight.load(Ordering::Relaxed) > 0;
        let mut next = if busy {
            // Nothing tells the watchdog when a write blocks or the last answer goes out.
            after(now, limits.send_timeout.min(limits.keepalive_timeout))
        } else {
            NEVER
        };
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NEVER {
            let due = after(head, limits.header_timeout);
            if now >= due {
                return Err(Expired::Head);
            }
            next = next.min(due);
        } else if !busy {
            let limit = if self.served.load(Ordering::Relaxed) {
                limits.keepalive_timeout
            } else {
                limits.header_timeout
            };
            let due = after(self.idle_since.load(Ordering::Relaxed), limit);
            if now >= due {
                return Err(Expired::Idle);
            }
            next = next.min(due);
        }
        let blocked = self.blocked_since.load(Ordering::Relaxed);
        if blocked != NEVER {
            let due = after(blocked, limits.send_timeout);
            if now >= due {
                return Err(Expired::Send);
            }
            next = next.min(due);
        }
        Ok(next)
    }
}

/// A request in flight on its connection; dropped once its answer has been sent.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            activity.idle_since.store(clock::now(), Ordering::Relaxed);
            activity.served.store(true, Ordering::Relaxed);
        }
    }
}

/// Connections that stop gracefully when the server drains (as hyper-util's
/// `GracefulShutdown` does, joined with the deadlines in [`watch`]).
#[derive(Debug)]
pub(crate) struct Drain(watch::Sender<bool>);

impl Drain {
    pub(crate) fn new() -> Drain {
        Drain(watch::channel(false).0)
    }

    /// What a new connection listens to.
    pub(crate) fn signal(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Connections not yet closed.
    pub(crate) fn count(&self) -> usize {
        self.0.receiver_count()
    }

    /// Tells every connection to stop after its requests in flight; completes once all have
    /// closed.
    pub(crate) async fn shutdown(self) {
        self.0.send_replace(true);
        self.0.closed().await;
    }
}

/// Drives `conn` until it ends, closing it when it passes a deadline of `limits`, and stopping
/// it gracefully (after its requests in flight; HTTP/2 with GOAWAY) when `drain` says so: the
/// activity is told to stop, which Edge's HTTP/1 engine reads, and `stop` is called on `conn`,
/// which hyper's HTTP/2 server needs.
///
/// `conn` comes pinned by the caller: taken by value, it would be held twice by this future
/// (the argument, then the pinned local), and a connection's task would carry both.
pub(crate) async fn watch<C, E>(
    mut conn: Pin<&mut C>,
    stop: impl Fn(Pin<&mut C>),
    activity: &Activity,
    limits: &ListenerLimits,
    mut drain: watch::Receiver<bool>,
) -> Result<(), Closed<E>>
where
    C: Future<Output = Result<(), E>>,
{
    let stop = |conn: Pin<&mut C>| {
        activity.stop();
        stop(conn);
    };
    let mut draining = *drain.borrow_and_update();
    if draining {
        stop(conn.as_mut());
    }
    let now = clock::now();
    let mut timer = pin!(tokio::time::sleep_until(until(
        activity.check(now, limits).unwrap_or(now)
    )));
    // Made once and polled again on every wake-up, rather than made anew in each turn of the
    // loop, which comes several times a request. The drain signal only ever turns true.
    let mut drained = pin!(drain.changed());
    // Set once the connection was told to go away for being idle.
    let mut expired: Option<Expired> = None;
    loop {
        tokio::select! {
            biased;
            ended = conn.as_mut() => return ended.map_err(Closed::Error),
            _ = drained.as_mut(), if !draining => {
                draining = true;
                stop(conn.as_mut());
            }
            () = poll_fn(|cx| activity.poll_head_begun(cx)), if expired.is_none() => {
                look_again(activity, limits, timer.as_mut());
            }
            () = timer.as_mut() => {
                if let Some(why) = expired {
                    return Err(Closed::Expired(why));
                }
                match activity.check(clock::now(), limits) {
                    Ok(next) => timer.as_mut().reset(until(next)),
                    Err(why @ Expired::Idle) => {
                        // An idle HTTP/1.1 connection closes at once; an HTTP/2 one says
                        // GOAWAY first, so a request racing with it is not lost unseen.
                        expired = Some(why);
                        stop(conn.as_mut());
                        timer.as_mut().reset(tokio::time::Instant::now() + GOAWAY_GRACE);
                    }
                    Err(why) => return Err(Closed::Expired(why)),
                }
            }
        }
    }
}

/// Re-arms `timer` after a head began, whose deadline may be sooner than the one it waits for.
fn look_again(
    activity: &Activity,
    limits: &ListenerLimits,
    timer: std::pin::Pin<&mut tokio::time::Sleep>,
) {
    let now = clock::now();
    let next = activity.check(now, limits).unwrap_or(now);
    let next = until(next);
    if next < timer.deadline() {
        timer.reset(next);
    }
}

/// The tokio instant of a [`clock`] time.
fn until(at: Nanos) -> tokio::time::Instant {
    let wait = Duration::from_nanos(at.saturating_sub(clock::now()));
    // Far deadlines are capped: a timer does not need to be set for centuries.
    tokio::time::Instant::now() + wait.min(Duration::from_secs(24 * 3600))
}

/// Why a connection ended other than by itself.
#[derive(Debug)]
pub(crate) enum Closed<E> {
    /// The connection's own error.
    Error(E),
    Expired(Expired),
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> Closed<E> {
    /// The same, with the error boxed: HTTP/1 and HTTP/2 connections report differently.
    pub(crate) fn boxed(self) -> Closed<Box<dyn std::error::Error + Send + Sync>> {
        match self {
            Closed::Error(error) => Closed::Error(error.into()),
            Closed::Expired(why) => Closed::Expired(why),
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for Closed<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Error(error) => error.fmt(f),
            Closed::Expired(Expired::Head) => f.write_str("no complete request head in time"),
            Closed::Expired(Expired::Idle) => f.write_str("idle past its timeout"),
            Closed::Expired(Expired::Send) => f.write_str("the client left its answer unread"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ListenerLimits = ListenerLimits {
        header_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(75),
        send_timeout: Duration::from_secs(60),
        ..ListenerLimits::DEFAULT
    };

    fn secs(n: u64) -> Nanos {
        clock::nanos(Duration::from_secs(n))
    }

    fn at(start: Nanos) -> Activity {
        Activity {
            stopping: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(start),
            head_since: AtomicU64::new(NEVER),
            blocked_since: AtomicU64::new(NEVER),
            head_begun: AtomicBool::new(false),
            watchdog: AtomicWaker::new(),
        }
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_then_keep_alive() {
        let activity = at(secs(100));
        assert_eq!(activity.check(secs(101), &LIMITS), Ok(secs(110)));
        assert_eq!(activity.check(secs(110), &LIMITS), Err(Expired::Idle));
        activity.served.store(true, Ordering::Relaxed);
        assert_eq!(activity.check(secs(110), &LIMITS), Ok(secs(175)));
        assert_eq!(activity.check(secs(175), &LIMITS), Err(Expired::Idle));
    }

    #[test]
    fn a_begun_head_has_the_header_timeout_from_its_first_byte() {
        let activity = at(secs(100));
        activity.served.store(true, Ordering::Relaxed);
        activity.head_since.store(secs(150), Ordering::Relaxed);
        assert_eq!(activity.check(secs(151), &LIMITS), Ok(secs(160)));
        assert_eq!(activity.check(secs(160), &LIMITS), Err(Expired::Head));
    }

    #[test]
    fn a_busy_connection_is_looked_at_again_and_blocked_writes_expire() {
        let activity = Arc::new(at(secs(100)));
        let request = activity.request();
        assert_eq!(activity.check(secs(500), &LIMITS), Ok(secs(560)));
        activity.blocked_since.store(secs(520), Ordering::Relaxed);
        assert_eq!(activity.check(secs(530), &LIMITS), Ok(secs(580)));
        assert_eq!(activity.check(secs(580), &LIMITS), Err(Expired::Send));
        activity.write(false);
        drop(request);
        assert!(activity.served.load(Ordering::Relaxed));
        assert_ne!(activity.idle_since.load(Ordering::Relaxed), secs(100));
    }
}
