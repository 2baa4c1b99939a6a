//! A listener bound to its address, with its TLS state, and what every worker's accept loop
//! shares: the share of the connection cap it holds, the pause after a failed accept.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::{
    downstream::{
        listener::{ListenerLimits, ListenerSpec},
        tls::TlsListener,
    },
    worker,
};

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// This worker's share of a listener's connection cap, as permits: each connection holds one
/// while it is open; past the share, new connections wait in the kernel's queue. Each worker
/// takes an equal share (as nginx's `worker_connections`), since the kernel spreads
/// connections evenly over the workers.
pub(crate) fn connection_room(limits: &ListenerLimits) -> Arc<tokio::sync::Semaphore> {
    let share = (limits.max_connections as usize).div_ceil(worker::count());
    Arc::new(tokio::sync::Semaphore::new(share.max(1)))
}

/// A listener bound to its address, with its TLS state.
pub(crate) struct Bound<L> {
    pub(crate) id: L,
    /// The listener's position among the listeners, for metrics.
    pub(crate) index: usize,
    pub(crate) spec: &'static ListenerSpec,
    pub(crate) listener: TcpListener,
    pub(crate) addr: SocketAddr,
    /// The listener's TLS state, shared by the workers; `None` for cleartext.
    pub(crate) tls: Option<Arc<TlsListener>>,
}
