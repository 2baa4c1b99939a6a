//! The HTTP/1 engine's head work on one proxied request, callable from outside the crate for
//! the criterion bench that times it against hyper's (`benches/benches/engine.rs`). Built only
//! with the `engine-bench` feature: nothing here is part of the runtime's contract.

use std::net::SocketAddr;

use bytes::BytesMut;
use http::{Response, Version};

use crate::{
    cx::Cx,
    downstream::admit::{admit, Rules},
    downstream::http1::{head, write},
    http1::{buffers, request, response},
    upstream::forward,
};

/// What went wrong in a cycle: a head that does not parse or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// Runs the head work of one proxied request, as the engine does it on a connection: the
/// client's request head at the front of `request` is parsed, admitted (framing, `Host`,
/// field and path checks), given the forwarding fields and written for the server into
/// `upstream`; the server's answer head at the front of `answer` is parsed (hop-by-hop and
/// revealing fields left out) and written for the client into `client`. The parsed heads are
/// taken off `request` and `answer`; what `upstream` and `client` held is kept.
pub fn head_cycle(
    listener: &'static str,
    peer: SocketAddr,
    request: &mut BytesMut,
    answer: &mut BytesMut,
    upstream: &mut BytesMut,
    client: &mut BytesMut,
) -> Result<(), Refused> {
    let head = head::parse(request, 64 * 1024)
        .map_err(|_| Refused)?
        .ok_or(Refused)?;
    let asked = write::Asked {
        head: false,
        version: head.request.version(),
        keep_alive: head.keep_alive,
    };
    let (mut req, host) = admit(head.request, Rules::STRICT).map_err(|_| Refused)?;
    let cx = Cx::new(listener, peer, crate::cx::peer_ip(peer), host, false);
    forward::to_upstream(&mut req, &cx, None, None);
    let framing = request::BodyFraming::of(req.method(), true, Some(0));
    request::encode(req.method(), req.uri(), req.headers(), framing, upstream);
    buffers::give_header_map(std::mem::take(req.headers_mut()));
    let head = response::parse(answer, req.method(), forward::stripped_from_answers)
        .map_err(|_| Refused)?
        .ok_or(Refused)?;
    let mut response = Response::new(());
    *response.status_mut() = head.status;
    *response.version_mut() = Version::HTTP_11;
    *response.headers_mut() = head.headers;
    let (parts, ()) = response.into_parts();
    write::head(&parts, true, Some(0), asked, false, client);
    buffers::give_header_map(parts.headers);
    Ok(())
}
