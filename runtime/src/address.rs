//! Where a server is: an address, a name to resolve, or an SRV name. Pools are built from it,
//! and the access log shows which one answered a request.

use std::{fmt, net::SocketAddr};

/// Where one server is.
///
/// Names are live data: a pool resolves them in the background on worker 0's runtime (once
/// before serving, then again whenever the answer's TTL runs out, clamped to 1 s .. 5 min) and
/// swaps its server set without a rebuild; addresses that stay keep their state (health,
/// counters, idle connections). A pool built outside a tokio runtime cannot resolve in the
/// background: there a `Name` is resolved at each connect, and a `Srv` never connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// A fixed address.
    Socket(SocketAddr),
    /// `host:port`: every A/AAAA address of `host` is a server on `port`, with this entry's
    /// weight, `max_conns` and backup flag (at most 64 addresses).
    Name(&'static str),
    /// An SRV name such as `_http._tcp.users.internal`: each record's target and port is a
    /// server whose weight is the record's weight (0 counts as 1); the records with the lowest
    /// priority value are primaries, the others backups (all are backups if this entry is).
    /// `max_conns` is this entry's. At most 64 addresses.
    Srv(&'static str),
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Socket(addr) => addr.fmt(f),
            Upstream::Name(name) | Upstream::Srv(name) => name.fmt(f),
        }
    }
}
