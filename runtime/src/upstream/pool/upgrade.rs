//! Upgrade requests (HTTP/1.1 `Connection: upgrade`, as WebSocket handshakes use): one server,
//! one fresh connection opened for this request only, no retry (an upgrade changes state on
//! the server, and the client can reconnect). A `101` answer is returned to the client and the
//! two connections, once both are handed over (the client's by Edge's HTTP/1 engine once the
//! `101` is written, the server's by hyper's client), are joined by a tunnel that ends when
//! either side closes or nothing moves for `timeouts.tunnel`. Any other answer is forwarded
//! as usual, on a connection that is closed afterwards rather than pooled.
//!
//! The tunnel holds the request's place on its server while open, so `max_conns` and
//! least-connections count open WebSockets. It runs on the worker that took the request.
//!
//! A sticky pool's cookie is honoured as for any request: the upgrade goes to the server it
//! names while that one is usable, and an answer from another server sets it anew.

use std::time::Duration;

use http::{Request, StatusCode};
use hyper::upgrade::OnUpgrade;

use crate::http1::upgrade::Pending;
use hyper_util::rt::TokioIo;
use smallvec::SmallVec;
use tokio::time::timeout;

use super::{target, Pool};
use crate::{
    body::Outgoing,
    clock,
    upstream::backend::http1,
    upstream::backend::Slot,
    upstream::circuit::Guard,
    upstream::error::UpstreamError,
    upstream::forward,
    upstream::relay::{relay, Ending},
    Body, Cx, Response, Strategy,
};

impl<S: Strategy, G: Guard> Pool<S, G> {
    /// Forwards an upgrade request, already rewritten for the upstream, to the server whose
    /// sticky id is `stuck_to` while it is usable.
    pub(super) async fn upgrade(
        &self,
        mut req: crate::Request,
        cx: &Cx,
        stuck_to: Option<u64>,
    ) -> Response {
        // Taken before the request goes: Edge's HTTP/1 engine gives the client's connection
        // through it once the `101` has been written.
        let client = crate::http1::upgrade::on(&mut req);
        let req = req.map(Outgoing::Client);
        let mut excluded: SmallVec<[usize; 4]> = SmallVec::new();
        let target = target(&req, cx).sticking_to(stuck_to);
        let Ok(slot) = self.acquire(&target, &mut excluded, clock::now()) else {
            tracing::debug!(pool = self.spec.name, "no usable server");
            return UpstreamError::Unavailable.response();
        };
        let response = match self.ask(&slot, req).await {
            Ok(response) => response,
            Err(error) => {
                let server = slot.backend();
                tracing::warn!(pool = self.spec.name, %server, %error, "upgrade request failed");
                self.count_failure(server);
                return error.response();
            }
        };
        let (sender, mut response) = response;
        let sticky_id = slot.backend().sticky_id;
        let mut answer = if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let (mut parts, body) = response.into_parts();
            forward::from_upstream(&mut parts.headers);
            let body = Body::upstream(body, slot.lend(Some(sender)));
            Response::from_parts(parts, body)
        } else {
            let server = hyper::upgrade::on(&mut response);
            let (mut parts, _) = response.into_parts();
            forward::switched_from_upstream(&mut parts.headers);
            let (pool, idle) = (self.spec.name, self.spec.timeouts.tunnel);
            tokio::spawn(tunnel(pool, client, server, slot, idle));
            Response::from_parts(parts, Body::from_static(""))
        };
        if let Some(sticky) = &self.spec.sticky {
            super::sticky::stick(&mut answer, sticky, stuck_to, sticky_id);
        }
        answer
    }

    /// Sends the request on a fresh connection to the slot's server and waits for the answer's
    /// head; returns the connection's sender with it, as the answer's body still needs it.
    async fn ask(
        &self,
        slot: &Slot,
        req: Request<Outgoing>,
    ) -> Result<(http1::Sender, http::Response<hyper::body::Incoming>), UpstreamError> {
        let backend = slot.backend();
        let timeouts = &self.spec.timeouts;
        let started = clock::now();
        let mut sender =
            http1::connect_for_upgrade(backend, self.tls.as_deref(), timeouts.connect).await?;
        let response = timeout(timeouts.response, sender.send_request(req))
            .await
            .map_err(|_| UpstreamError::ResponseTimeout(timeouts.response))?
            .map_err(UpstreamError::Exchange)?;
        self.measured(backend, started, true);
        self.answered(backend, response.status());
        Ok((sender, response))
    }
}

/// Joins the client's and the server's upgraded connections until either side closes or the
/// tunnel is idle for `idle`; `slot` keeps the place on the server until then.
async fn tunnel(
    pool: &'static str,
    client: Pending,
    server: OnUpgrade,
    slot: Slot,
    idle: Duration,
) {
    let upstream = slot.backend();
    let (client, server) = tokio::join!(client.switched(), server);
    let (mut client, mut server) = match (client, server) {
        (Ok(client), Ok(server)) => (client, TokioIo::new(server)),
        (Err(error), _) => {
            tracing::debug!(pool, server = %upstream, %error, "upgrade not completed");
            return;
        }
        (_, Err(error)) => {
            tracing::debug!(pool, server = %upstream, %error, "upgrade not completed");
            return;
        }
    };
    match relay(&mut client, &mut server, idle, Ending::EitherSide).await {
        Ok(carried) => tracing::debug!(
            pool, server = %upstream,
            to_server = carried.to_server, to_client = carried.to_client,
            "upgraded connection closed"
        ),
        Err(error) => {
            tracing::debug!(pool, server = %upstream, %error, "upgraded connection ended");
        }
    }
}
