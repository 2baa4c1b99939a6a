//! An upstream connection lent to one answer: it goes back to its server when the answer's
//! body has ended, and the request stops counting as in flight on that server when the body
//! is dropped. The server is behind a trait, so bodies know nothing of pools: two indirect
//! calls per answer, through a pointer the answer holds anyway.

use std::{fmt, sync::Arc};

use hyper::client::conn::http1::SendRequest;

use super::Outgoing;
use crate::http1::client::Connection;

/// Where a lent connection goes back: its server.
pub(crate) trait Lessor: Send + Sync + fmt::Debug {
    /// Takes back a kept-alive HTTP/1.1 connection whose answer has ended.
    fn take_back(&self, connection: Connection);

    /// An answer given on one of its connections has ended or been dropped.
    fn finished(&self);
}

/// A connection lent to one answer, and the request's place in its server's count. Dropped
/// when the answer ends. An HTTP/1.1 answer's body holds its connection itself and gives it
/// back ([`Lease::give_back`]); an HTTP/2 answer's stream needs nothing held.
#[derive(Debug)]
pub(crate) struct Lease {
    server: Arc<dyn Lessor>,
    /// A connection opened for one upgrade request that was answered without switching: held
    /// only to be closed with the lease.
    _single_use: Option<SendRequest<Outgoing>>,
}

impl Lease {
    pub(crate) fn new(server: Arc<dyn Lessor>, single_use: Option<SendRequest<Outgoing>>) -> Lease {
        Lease {
            server,
            _single_use: single_use,
        }
    }

    /// The answer has ended on `connection`, which goes back to its server if it can carry
    /// another request.
    pub(crate) fn give_back(self, connection: Option<Connection>) {
        if let Some(connection) = connection {
            self.server.take_back(connection);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.server.finished();
    }
}
