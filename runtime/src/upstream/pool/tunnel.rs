//! Tunnels: a `mode tcp` client connection relayed to one server of the pool.
//!
//! The server is picked as for a request, with only the client's IP to hash. Connect errors
//! and timeouts count for passive health and go to another server as the pool's `retry` allows
//! (always safe: nothing was sent yet), within the retry budget. Once connected, the PROXY
//! protocol header goes first if the pool sends one, then bytes are copied both ways
//! (`relay`). The tunnel holds its place on the server, so `max_conns` and least-connections
//! count open tunnels.

use smallvec::SmallVec;
use tokio::{io::AsyncWriteExt, net::TcpStream};

use super::Pool;
use crate::{
    clock,
    upstream::backend::Slot,
    upstream::balance::Target,
    upstream::circuit::Guard,
    upstream::proxy_protocol::Header,
    upstream::relay::{relay, Ending},
    ProxyProtocol, Strategy, TcpConnection,
};

impl<S: Strategy, G: Guard> Pool<S, G> {
    /// Tunnels a `mode tcp` connection to a server the strategy picks (strategies hashing a
    /// header, cookie or path go round robin: a tunnel has none). Connect errors and timeouts
    /// go to other servers as the pool's `retry` allows; with no usable server, or none left to
    /// try, the client connection is closed. Then the PROXY protocol header goes first if the
    /// pool has one, and bytes are copied both ways with half-close until both directions are
    /// done, or until the listener's idle timeout passes without a byte moving.
    pub async fn tunnel(&self, conn: TcpConnection) {
        let Some((mut server, slot)) = self.open_tunnel(&conn).await else {
            return;
        };
        let pool = self.spec.name;
        let upstream = slot.backend().spec.upstream;
        let (peer, idle_timeout) = (conn.peer(), conn.idle_timeout());
        let header = match self.spec.proxy_protocol {
            ProxyProtocol::None => None,
            version => Header::new(version, peer, conn.local()),
        };
        if let Some(header) = header {
            if let Err(error) = server.write_all(header.as_bytes()).await {
                tracing::debug!(pool, server = %upstream, %peer, %error, "cannot send the PROXY header");
                return;
            }
        }
        if !conn.preread.is_empty() {
            if let Err(error) = server.write_all(&conn.preread).await {
                tracing::debug!(pool, server = %upstream, %peer, %error, "cannot send the client's first bytes");
                return;
            }
        }
        let mut client = conn.stream;
        match relay(
            &mut client,
            &mut server,
            idle_timeout,
            Ending::BothDirections,
        )
        .await
        {
            Ok(carried) => tracing::debug!(
                pool, server = %upstream, %peer,
                to_server = carried.to_server, to_client = carried.to_client,
                "tunnel closed"
            ),
            Err(error) => {
                tracing::debug!(pool, server = %upstream, %peer, %error, "tunnel ended");
            }
        }
    }

    /// Connects to a usable server, trying others after connect failures as `retry` allows.
    async fn open_tunnel(&self, conn: &TcpConnection) -> Option<(TcpStream, Slot)> {
        let retry = &self.spec.retry;
        let target = Target::tunnel(conn.peer().ip());
        let now = clock::now();
        if retry.attempts > 0 {
            self.budget.request(now);
        }
        // Servers tried by this tunnel, or found full when taking a place.
        let mut excluded: SmallVec<[usize; 4]> = SmallVec::new();
        let Ok(mut slot) = self.acquire(&target, &mut excluded, now) else {
            tracing::warn!(pool = self.spec.name, peer = %conn.peer(), "no usable server: client connection closed");
            return None;
        };
        let mut retries = 0;
        loop {
            excluded.push(slot.backend().id());
            let backend = slot.backend();
            let started = clock::now();
            let error = match crate::upstream::stream::open(
                &backend.spec.upstream,
                self.spec.timeouts.connect,
            )
            .await
            {
                Ok(server) => {
                    self.measured(backend, started, true);
                    return Some((server, slot));
                }
                Err(error) => error,
            };
            tracing::warn!(pool = self.spec.name, server = %backend, %error, "cannot open a tunnel");
            self.count_failure(backend);
            if retries >= retry.attempts || !retry.on.covers(&error) {
                return None;
            }
            let now = clock::now();
            let Ok(next) = self.acquire(&target, &mut excluded, now) else {
                tracing::debug!(pool = self.spec.name, "no other server to try");
                return None;
            };
            if !self.budget.try_retry(now) {
                tracing::debug!(pool = self.spec.name, "retry budget spent");
                return None;
            }
            retries += 1;
            slot = next;
        }
    }
}
