//! The small `const fn`s a generated module spells repeated values with: socket addresses
//! (`ipv4([127, 0, 0, 1], 8080)`), servers and listeners with every default, and routes as
//! metrics and logs name them. Each is written only when the module uses it.

use std::net::SocketAddr;

use edge_dsl::value::Address;
use proc_macro2::TokenStream;
use quote::quote;

use super::listener::is_plain_http;
use super::pool::is_plain_server;
use crate::model::{Mode, Model};

/// The helpers `model`'s module uses.
pub(super) fn helpers(model: &Model) -> TokenStream {
    let servers = model.pools.iter().flat_map(|pool| &pool.servers);
    let addrs: Vec<SocketAddr> = model
        .listeners
        .iter()
        .map(|listener| listener.bind)
        .chain(model.admin.as_ref().map(|admin| admin.bind))
        .chain(servers.filter_map(|server| match server.upstream {
            Address::Socket(addr) => Some(addr),
            _ => None,
        }))
        .collect();
    let ipv4 = addrs.iter().any(SocketAddr::is_ipv4).then(|| {
        quote! {
            /// The socket address `a.b.c.d:port`.
            const fn ipv4([a, b, c, d]: [u8; 4], port: u16) -> ::std::net::SocketAddr {
                ::std::net::SocketAddr::new(::std::net::IpAddr::V4(::std::net::Ipv4Addr::new(a, b, c, d)), port)
            }
        }
    });
    let ipv6 = addrs.iter().any(SocketAddr::is_ipv6).then(|| {
        quote! {
            /// The socket address `[a:b:c:d:e:f:g:h]:port`.
            const fn ipv6([a, b, c, d, e, f, g, h]: [u16; 8], port: u16) -> ::std::net::SocketAddr {
                ::std::net::SocketAddr::new(::std::net::IpAddr::V6(::std::net::Ipv6Addr::new(a, b, c, d, e, f, g, h)), port)
            }
        }
    });
    let plain_socket_server = model
        .pools
        .iter()
        .flat_map(|pool| &pool.servers)
        .any(|server| matches!(server.upstream, Address::Socket(_)) && is_plain_server(server));
    let server = plain_socket_server.then(|| {
        quote! {
            /// The server at `addr`, with the default weight.
            const fn server(addr: ::std::net::SocketAddr) -> ::edge_runtime::ServerSpec {
                ::edge_runtime::ServerSpec::new(::edge_runtime::Upstream::Socket(addr))
            }
        }
    });
    let http_listener = model.listeners.iter().any(is_plain_http).then(|| {
        quote! {
            /// A plain-HTTP listener with the default limits.
            const fn http_listener(name: &'static str, bind: ::std::net::SocketAddr) -> ::edge_runtime::ListenerSpec {
                ::edge_runtime::ListenerSpec {
                    name,
                    bind,
                    limits: ::edge_runtime::ListenerLimits::DEFAULT,
                    mode: ::edge_runtime::ListenerMode::Http,
                    tls: None,
                }
            }
        }
    });
    let routes = model
        .listeners
        .iter()
        .any(|listener| listener.mode == Mode::Http && !listener.routes.is_empty());
    let route_info = routes.then(|| {
        quote! {
            /// A route as metrics and logs name it.
            const fn route_info(name: &'static str, listener: &'static str) -> ::edge_runtime::RouteInfo {
                ::edge_runtime::RouteInfo { name, listener }
            }
        }
    });
    quote! { #ipv4 #ipv6 #server #http_listener #route_info }
}
