//! An upstream connection lent to one answer: it goes back to its server when the answer's
//! body has ended, and the request stops counting as in flight on that server when the body
//! is dropped. The server is behind a trait, so bodies know nothing of pools: two indirect
//! calls per answer, through a pointer the answer holds anyway.

use std::{fmt, sync::Arc};

use hyper::client::conn::http1::SendRequest;

use super::Outgoing;

/// Where a lent connection goes back: its server.
pub(crate) trait Lessor: Send + Sync + fmt::Debug {
    /// Takes back a kept-alive HTTP/1.1 connection whose answer has ended.
    fn take_back(&self, sender: SendRequest<Outgoing>);

    /// An answer given on one of its connections has ended or been dropped.
    fn finished(&self);
}

/// How the connection an answer came on is held until the answer ends.
#[derive(Debug)]
pub(crate) enum Held {
    /// An HTTP/1.1 connection, back to its server's idle list at the end.
    Kept(SendRequest<Outgoing>),
    /// An HTTP/1.1 connection closed at the end (opened for this request only).
    SingleUse(SendRequest<Outgoing>),
    /// A stream of an HTTP/2 connection, which stays with its server meanwhile.
    Stream,
}

/// A connection lent to one answer, and the request's place in its server's count.
#[derive(Debug)]
pub(crate) struct Lease {
    server: Arc<dyn Lessor>,
    connection: Held,
}

impl Lease {
    pub(crate) fn new(server: Arc<dyn Lessor>, connection: Held) -> Lease {
        Lease { server, connection }
    }

    /// The answer has ended: a kept-alive connection goes back to its server, a single-use
    /// one is closed.
    pub(crate) fn release(mut self) {
        match std::mem::replace(&mut self.connection, Held::Stream) {
            Held::Kept(sender) => self.server.take_back(sender),
            // Dropping the last sender closes the connection.
            Held::SingleUse(sender) => drop(sender),
            Held::Stream => {}
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.server.finished();
    }
}
