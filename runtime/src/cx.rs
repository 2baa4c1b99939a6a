//! The per-request context handed to the gateway next to the request.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex,
    },
};

use http::HeaderValue;

mod recording;

pub(crate) use recording::{span_id, Outcome, Recording, RequestFacts, Step, What};

use crate::{address::Upstream, host_name::HostName, http1::fields::decimal};

/// No route has been reported yet.
const NO_ROUTE: u32 = u32::MAX;

/// What the runtime knows about a request beyond the request itself.
#[derive(Debug)]
pub struct Cx {
    listener: &'static str,
    client: SocketAddr,
    /// The client's IP rendered once per connection, for `X-Forwarded-For` and `X-Real-IP`.
    client_ip: HeaderValue,
    host: HostName,
    tls: bool,
    /// The address of the trusted proxy the request came through (`trusted_proxies`), whose
    /// forwarding fields are kept; `None` when the peer is the client or untrusted.
    trusted_hop: Option<HeaderValue>,
    /// The route the gateway took, for metrics and the access log.
    route: AtomicU32,
    /// The last server tried, and its answer's status if it gave one.
    upstream: Mutex<Option<(Upstream, Option<u16>)>>,
    /// The target the access log shows instead of the one received, when a policy took a
    /// secret out of it (an API key in the query).
    logged_target: Mutex<Option<Box<str>>>,
    /// The request's spans, when tracing export records it.
    trace: Option<Box<Recording>>,
}

impl Cx {
    pub(crate) fn new(
        listener: &'static str,
        client: SocketAddr,
        client_ip: HeaderValue,
        host: HostName,
        tls: bool,
    ) -> Cx {
        Cx {
            listener,
            client,
            client_ip,
            host,
            tls,
            trusted_hop: None,
            route: AtomicU32::new(NO_ROUTE),
            upstream: Mutex::new(None),
            logged_target: Mutex::new(None),
            trace: None,
        }
    }

    /// The context of a request that came through the trusted proxy at `hop`.
    pub(crate) fn behind(self, hop: HeaderValue) -> Cx {
        Cx {
            trusted_hop: Some(hop),
            ..self
        }
    }

    /// The context of a copy of this request (a mirror's): the same client, host and
    /// listener, no route, no server seen, no spans recorded.
    pub(crate) fn for_copy(&self) -> Cx {
        Cx {
            listener: self.listener,
            client: self.client,
            client_ip: self.client_ip.clone(),
            host: self.host.clone(),
            tls: self.tls,
            trusted_hop: self.trusted_hop.clone(),
            route: AtomicU32::new(NO_ROUTE),
            upstream: Mutex::new(None),
            logged_target: Mutex::new(None),
            trace: None,
        }
    }

    /// Records the request's spans in `recording`.
    pub(crate) fn record(&mut self, recording: Option<Box<Recording>>) {
        self.trace = recording;
    }

    /// The request's spans, when they are recorded.
    pub(crate) fn trace(&self) -> Option<&Recording> {
        self.trace.as_deref()
    }

    /// Takes the request's recording, to finish once the answer has been sent.
    pub(crate) fn take_trace(&mut self) -> Option<Box<Recording>> {
        self.trace.take()
    }

    /// The trusted proxy the request came through, rendered for `X-Forwarded-For`.
    pub(crate) fn trusted_hop(&self) -> Option<&HeaderValue> {
        self.trusted_hop.as_ref()
    }

    /// Reports which route answers this request: its position in the generated `ROUTES`, which
    /// generated code passes as its `Route` variant's discriminant (`route as u32`).
    pub fn matched(&self, route: u32) {
        self.route.store(route, Ordering::Relaxed);
    }

    /// The route reported with [`Cx::matched`].
    pub(crate) fn route(&self) -> Option<usize> {
        let route = self.route.load(Ordering::Relaxed);
        (route != NO_ROUTE).then_some(route as usize)
    }

    pub(crate) fn upstream_seen(&self, server: Upstream, status: Option<u16>) {
        *self.upstream.lock().unwrap_or_else(|p| p.into_inner()) = Some((server, status));
    }

    pub(crate) fn upstream(&self) -> Option<(Upstream, Option<u16>)> {
        *self.upstream.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has the access log show `target` (a path and query without a secret) for this request.
    pub(crate) fn log_target(&self, target: &str) {
        *self.logged_target.lock().unwrap_or_else(|p| p.into_inner()) = Some(target.into());
    }

    /// The target set with [`Cx::log_target`], if any.
    pub(crate) fn logged_target(&self) -> Option<Box<str>> {
        self.logged_target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The context of a request from `client` to `host` (`host[:port]`, checked and lower-cased
    /// as a `Host` header is) on the listener named `listener`, as the runtime builds it for
    /// each request it admits: for calling a [`Gateway`](crate::Gateway) or a
    /// [`Policy`](crate::Policy) without a connection (tests, and the policy benches in
    /// `benches/benches/policies.rs`). `None` when `host` is not a valid host.
    pub fn outside_connection(
        listener: &'static str,
        client: SocketAddr,
        host: &str,
        tls: bool,
    ) -> Option<Cx> {
        let host = HostName::parse(host)?;
        Some(Cx::new(listener, client, peer_ip(client), host, tls))
    }

    /// The requested host: lower-cased, without port, `""` when the request named none.
    pub fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The peer address of the client connection.
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// Whether the request arrived over TLS (its scheme is `https`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The name of the listener the request arrived on.
    pub fn listener(&self) -> &'static str {
        self.listener
    }

    pub(crate) fn client_ip(&self) -> &HeaderValue {
        &self.client_ip
    }
}

/// The client IP as a header value, rendered once per connection: an IPv4 address (IPv4-mapped
/// IPv6 ones included) by hand, since formatting machinery costs more than the rest of
/// accepting a connection's own work (1,700 instructions against 100).
pub(crate) fn peer_ip(peer: SocketAddr) -> HeaderValue {
    let rendered = match peer.ip().to_canonical() {
        IpAddr::V4(ip) => {
            let mut text = [0; 15];
            let mut len = 0;
            for (index, octet) in ip.octets().into_iter().enumerate() {
                if index > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                let digits = decimal(u64::from(octet));
                let digits = digits.as_bytes();
                text[len..len + digits.len()].copy_from_slice(digits);
                len += digits.len();
            }
            HeaderValue::from_bytes(&text[..len])
        }
        ip @ IpAddr::V6(_) => HeaderValue::from_str(&ip.to_string()),
    };
    rendered.expect("an IP address is a valid header value")
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn an_ipv4_client_reads_as_std_writes_it(bits: u32, port: u16, mapped: bool) {
            let ip = Ipv4Addr::from(bits);
            let seen = if mapped { IpAddr::V6(ip.to_ipv6_mapped()) } else { IpAddr::V4(ip) };
            let value = peer_ip(SocketAddr::new(seen, port));
            prop_assert_eq!(value.to_str().unwrap(), ip.to_string());
        }
    }

    #[test]
    fn an_ipv6_client_reads_in_its_short_form() {
        let peer = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 80);
        assert_eq!(peer_ip(peer), "::1");
    }
}
