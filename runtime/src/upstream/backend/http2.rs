//! HTTP/2 connections to one server, for pools with `protocol h2`: one connection per worker,
//! shared by every request that worker sends to the server, as Envoy and nginx's `grpc_pass`
//! do. It is opened when a request first needs it and again once the server has closed it
//! (GOAWAY, an error) or it has been unused for the pool's idle timeout.
//!
//! Requests that find the connection being opened wait for it rather than each opening their
//! own, so a burst of gRPC calls on a cold pool makes one connection, not one per call.

use std::{
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::{
    body::Outgoing,
    upstream::backend::http1::{self, drive},
    upstream::backend::Backend,
    upstream::error::UpstreamError,
    upstream::tls::Connector,
    worker,
};

/// The sending half of an HTTP/2 connection: cloned for each request.
pub(crate) type Multiplexed = SendRequest<Outgoing>;

/// One server's HTTP/2 connections, one slot per worker.
#[derive(Debug)]
pub(crate) struct SharedConns {
    slots: Box<[Mutex<Slot>]>,
}

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Empty,
    /// A request is opening the connection; the others wait for what it gets.
    Opening(watch::Receiver<Option<Multiplexed>>),
    Open {
        sender: Multiplexed,
        used: Instant,
    },
}

/// What a request found in its worker's slot.
enum Found {
    Open(Multiplexed),
    Opening(watch::Receiver<Option<Multiplexed>>),
    /// Nobody is opening one: this request does, and tells the others through the sender.
    Nothing(watch::Sender<Option<Multiplexed>>),
}

impl SharedConns {
    pub(crate) fn new() -> SharedConns {
        SharedConns {
            slots: (0..worker::count())
                .map(|_| Mutex::new(Slot::Empty))
                .collect(),
        }
    }

    /// The current worker's slot. It is only held to read or replace it, so a poisoned lock
    /// still holds sound data.
    fn current(&self) -> MutexGuard<'_, Slot> {
        lock(&self.slots[worker::current() % self.slots.len()])
    }

    /// The current worker's open connection to `backend`, opened now if there is none (or the
    /// one there was has closed, or has been unused for `max_idle`).
    pub(crate) async fn get(
        &self,
        backend: &Backend,
        tls: Option<&Connector>,
        connect_timeout: Duration,
        max_idle: Duration,
    ) -> Result<Multiplexed, UpstreamError> {
        let found = self.find(max_idle);
        let announce = match found {
            Found::Open(sender) => return Ok(sender),
            Found::Opening(mut opening) => {
                // A sender dropped without a connection (the opener failed or went away):
                // this request tries itself, without waiting for anyone else.
                if let Ok(Ok(())) = tokio::time::timeout(connect_timeout, opening.changed()).await {
                    if let Some(sender) = opening.borrow().clone() {
                        return Ok(sender);
                    }
                }
                None
            }
            Found::Nothing(announce) => Some(announce),
        };
        let sender = connect(backend, tls, connect_timeout).await;
        if let Ok(sender) = &sender {
            *self.current() = Slot::Open {
                sender: sender.clone(),
                used: Instant::now(),
            };
            if let Some(announce) = announce {
                announce.send_replace(Some(sender.clone()));
            }
        } else if announce.is_some() {
            let mut slot = self.current();
            if matches!(*slot, Slot::Opening(_)) {
                *slot = Slot::Empty;
            }
        }
        sender
    }

    fn find(&self, max_idle: Duration) -> Found {
        let mut slot = self.current();
        let now = Instant::now();
        match &mut *slot {
            Slot::Open { sender, used }
                if !sender.is_closed() && now.duration_since(*used) < max_idle =>
            {
                *used = now;
                return Found::Open(sender.clone());
            }
            Slot::Opening(opening) if opening.has_changed().is_ok() => {
                return Found::Opening(opening.clone());
            }
            _ => {}
        }
        let (announce, opening) = watch::channel(None);
        *slot = Slot::Opening(opening);
        Found::Nothing(announce)
    }

    /// Forgets connections that are closed or unused for `max_idle`. Requests still in flight
    /// on a forgotten connection finish; the connection closes after them.
    pub(crate) fn drop_stale(&self, max_idle: Duration) {
        let now = Instant::now();
        for slot in &self.slots {
            let mut slot = lock(slot);
            if let Slot::Open { sender, used } = &*slot {
                if sender.is_closed() || now.duration_since(*used) >= max_idle {
                    *slot = Slot::Empty;
                }
            }
        }
    }
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens an HTTP/2 connection to `backend` (TCP, then TLS with `tls`, then the HTTP/2
/// preface and settings) and spawns the task that drives it. The window grows with the
/// measured bandwidth-delay product (hyper's adaptive window), so one large stream is not held
/// to the default 64 KiB in flight.
pub(crate) async fn connect(
    backend: &Backend,
    tls: Option<&Connector>,
    connect_timeout: Duration,
) -> Result<Multiplexed, UpstreamError> {
    let stream = http1::stream(backend, tls, connect_timeout).await?;
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .adaptive_window(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Handshake)?;
    tokio::spawn(drive(connection));
    Ok(sender)
}
