//! Code generation for listeners: each one's `ListenerSpec`, its limits written as overrides
//! of `ListenerLimits::DEFAULT`, and its TLS certificates.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{duration, ip_addr, number, option, socket_addr, with_defaults};
use crate::model::{Listener, Mode, Tls};

/// A plain-HTTP listener without TLS whose limits are the defaults: `http_listener(name, bind)`.
pub(super) fn is_plain_http(listener: &Listener) -> bool {
    listener.mode == Mode::Http && listener.tls.is_none() && listener_limits(listener).is_empty()
}

pub(super) fn listener_spec(listener: &Listener) -> TokenStream {
    let name = &listener.name;
    let bind = socket_addr(listener.bind);
    if is_plain_http(listener) {
        return quote! { http_listener(#name, #bind) };
    }
    let limits = with_defaults(
        quote! { ::edge_runtime::ListenerLimits },
        &listener_limits(listener),
        15,
    );
    let mode = match listener.mode {
        Mode::Http => quote! { ::edge_runtime::ListenerMode::Http },
        Mode::Tcp { idle_timeout } => {
            let idle_timeout = duration(idle_timeout);
            quote! { ::edge_runtime::ListenerMode::Tcp(::edge_runtime::TcpSpec { idle_timeout: #idle_timeout }) }
        }
    };
    let tls = option(listener.tls.as_ref().map(tls_spec));
    quote! {
        ::edge_runtime::ListenerSpec {
            name: #name,
            bind: #bind,
            limits: #limits,
            mode: #mode,
            tls: #tls,
        }
    }
}

/// The fields of `ListenerLimits` a listener overrides.
fn listener_limits(listener: &Listener) -> Vec<TokenStream> {
    let mut overrides = Vec::new();
    let limits = &listener.limits;
    if let Some(size) = limits.max_header_size {
        let size = Literal::usize_unsuffixed(usize::try_from(size).unwrap_or(usize::MAX));
        overrides.push(quote! { max_header_size: #size, });
    }
    let timeouts = [
        (limits.header_timeout, quote! { header_timeout }),
        (limits.keepalive_timeout, quote! { keepalive_timeout }),
        (limits.body_timeout, quote! { body_timeout }),
        (limits.send_timeout, quote! { send_timeout }),
        (limits.ping_interval, quote! { ping_interval }),
    ];
    for (timeout, field) in timeouts {
        if let Some(timeout) = timeout {
            let timeout = duration(timeout);
            overrides.push(quote! { #field: #timeout, });
        }
    }
    if let Some(size) = limits.max_body {
        let size = Literal::u64_unsuffixed(size);
        overrides.push(quote! { max_body: #size, });
    }
    if let Some(count) = limits.max_connections {
        let count = number(count);
        overrides.push(quote! { max_connections: #count, });
    }
    if let Some(count) = limits.max_streams {
        let count = number(count);
        overrides.push(quote! { max_streams: #count, });
    }
    let switches = [
        (
            limits.underscores_in_headers,
            quote! { underscores_in_headers },
        ),
        (
            limits.allow_encoded_slashes,
            quote! { allow_encoded_slashes },
        ),
        (limits.allow_semicolons, quote! { allow_semicolons }),
        (
            limits.case_insensitive_paths,
            quote! { case_insensitive_paths },
        ),
        (limits.accept_proxy, quote! { accept_proxy }),
    ];
    for (switch, field) in switches {
        if let Some(on) = switch {
            overrides.push(quote! { #field: #on, });
        }
    }
    if !listener.trusted_proxies.is_empty() {
        let nets = listener.trusted_proxies.iter().map(|net| {
            let (addr, prefix) = (ip_addr(net.addr), Literal::u8_unsuffixed(net.prefix));
            quote! { ::edge_runtime::Cidr { addr: #addr, prefix: #prefix } }
        });
        overrides.push(quote! { trusted_proxies: &[#(#nets),*], });
    }
    overrides
}

fn tls_spec(tls: &Tls) -> TokenStream {
    let certs = tls.certs.iter().map(|certificate| {
        let names = &certificate.names;
        let (cert, key) = (&certificate.cert, &certificate.key);
        quote! {
            ::edge_runtime::CertSpec {
                names: &[#(#names),*],
                cert: #cert,
                key: #key,
            }
        }
    });
    let client_auth = option(tls.client_auth.as_ref().map(|client_auth| {
        let (ca, required) = (&client_auth.ca, client_auth.required);
        quote! { ::edge_runtime::ClientAuth { ca: #ca, required: #required } }
    }));
    let hsts = option(tls.hsts.map(duration));
    quote! {
        ::edge_runtime::TlsSpec {
            certs: &[#(#certs),*],
            client_auth: #client_auth,
            hsts: #hsts,
        }
    }
}
