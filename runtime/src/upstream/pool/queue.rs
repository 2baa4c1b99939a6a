//! The wait of a guarded pool's request for a place (`max_pending`): a request that finds every
//! usable server at its `max_conns` may wait, as Envoy's pending requests wait for a
//! connection and HAProxy's queue for a server slot, for at most the pool's connect timeout
//! (HAProxy's `timeout queue` defaults to `timeout connect`). At most `max_pending` wait at
//! once; the next ones get `503` at once. Each attempt that ends on any server of the pool
//! wakes one waiting request, which then picks again. Only the first attempt of a request
//! waits: a retry that finds no place gives the client the failure it had.

use smallvec::SmallVec;
use tokio::time::Instant;

use super::{NoPlace, Pool};
use crate::{
    clock,
    upstream::backend::Slot,
    upstream::balance::Target,
    upstream::circuit::{Circuit, Guard},
    upstream::counts::Refusal,
    Strategy,
};

impl<S: Strategy, G: Guard> Pool<S, G> {
    /// A place for a request whose first pick found none (`no_place`), after a wait if the
    /// pool's queue allows one; `None` when the request is to get `503` (counted as a refusal
    /// when the circuit is why).
    pub(super) async fn queue(
        &self,
        circuit: &Circuit,
        no_place: NoPlace,
        target: &Target<'_>,
        excluded: &mut SmallVec<[usize; 4]>,
    ) -> Option<Slot> {
        let refused = |why: Refusal| {
            tracing::debug!(pool = self.spec.name, why = why.name(), "request refused");
            circuit.refused(why);
            None
        };
        if no_place == NoPlace::Pool {
            return refused(Refusal::MaxRequests);
        }
        let max_pending = circuit.spec().max_pending;
        if max_pending == 0 || !self.any_full(clock::now()) {
            return None;
        }
        let gauge = circuit.gauge()?;
        let Some(waiting) = gauge.enqueue(max_pending) else {
            return refused(Refusal::MaxPending);
        };
        let deadline = Instant::now() + self.spec.timeouts.connect;
        loop {
            let room = waiting.room();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            // Servers found full before are worth another look now.
            excluded.clear();
            match self.acquire(target, excluded, clock::now()) {
                Ok(slot) => return Some(slot),
                Err(NoPlace::Pool) => return refused(Refusal::MaxRequests),
                Err(NoPlace::Servers) => {}
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return refused(Refusal::QueueTimeout);
            }
        }
    }
}
