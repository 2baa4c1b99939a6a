//! Code generation for pools: each one's `PoolSpec` (servers, timeouts as overrides of
//! `UpstreamTimeouts::DEFAULT`, health, retries, TLS, protocol), its strategy's type, and for
//! a guarded pool its `CircuitSpec`.

use edge_dsl::value::{Address, Balance, HashKey, ProxyVersion, UpstreamProtocol};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{duration, number, option, socket_addr, with_defaults};
use crate::model::{Circuit, HealthCheck, Pool, Server, UpstreamTls};

/// A server with the default weight, no connection limit, not a backup: `ServerSpec::new`.
pub(super) fn is_plain_server(server: &Server) -> bool {
    server.weight == 1 && server.max_conns == 0 && !server.backup
}

pub(super) fn pool_spec(pool: &Pool) -> TokenStream {
    let name = &pool.name;
    let servers = pool.servers.iter().map(server_spec);
    let overrides: Vec<TokenStream> = [
        ("connect", pool.timeouts.connect),
        ("response", pool.timeouts.response),
        ("idle", pool.timeouts.idle),
        ("tunnel", pool.timeouts.tunnel),
    ]
    .into_iter()
    .filter_map(|(field, timeout)| {
        let field = format_ident!("{field}");
        timeout.map(|timeout| {
            let timeout = duration(timeout);
            quote! { #field: #timeout, }
        })
    })
    .collect();
    let timeouts = with_defaults(quote! { ::edge_runtime::UpstreamTimeouts }, &overrides, 4);
    let health = option(pool.health.as_ref().map(health_check));
    let passive = option(pool.passive.as_ref().map(|passive| {
        let (max_fails, consecutive_5xx) =
            (number(passive.max_fails), number(passive.consecutive_5xx));
        let fail_timeout = duration(passive.fail_timeout);
        quote! {
            ::edge_runtime::Passive {
                max_fails: #max_fails,
                fail_timeout: #fail_timeout,
                consecutive_5xx: #consecutive_5xx,
            }
        }
    }));
    let retry = match &pool.retry {
        None => quote! { ::edge_runtime::Retry::NONE },
        Some(retry) => {
            let attempts = number(retry.attempts);
            let (connect_error, timeout, status_5xx) = (
                retry.on.connect_error,
                retry.on.timeout,
                retry.on.status_5xx,
            );
            quote! {
                ::edge_runtime::Retry {
                    attempts: #attempts,
                    on: ::edge_runtime::RetryOn {
                        connect_error: #connect_error,
                        timeout: #timeout,
                        status_5xx: #status_5xx,
                    },
                }
            }
        }
    };
    let tls = option(pool.tls.as_ref().map(upstream_tls));
    let proxy_protocol = match pool.proxy_protocol {
        None => quote! { ::edge_runtime::ProxyProtocol::None },
        Some(ProxyVersion::V1) => quote! { ::edge_runtime::ProxyProtocol::V1 },
        Some(ProxyVersion::V2) => quote! { ::edge_runtime::ProxyProtocol::V2 },
    };
    let protocol = match pool.protocol {
        UpstreamProtocol::Http1 => quote! { ::edge_runtime::UpstreamProtocol::Http1 },
        UpstreamProtocol::Http2 => quote! { ::edge_runtime::UpstreamProtocol::Http2 },
    };
    let sticky = option(pool.sticky.as_ref().map(|sticky| {
        let (cookie, path, secure, http_only) = (
            &sticky.cookie,
            &sticky.path,
            sticky.secure,
            sticky.http_only,
        );
        let max_age = option(sticky.ttl.map(duration));
        quote! {
            ::edge_runtime::StickySpec {
                cookie: #cookie,
                max_age: #max_age,
                path: #path,
                secure: #secure,
                http_only: #http_only,
            }
        }
    }));
    quote! {
        ::edge_runtime::PoolSpec {
            name: #name,
            servers: &[#(#servers),*],
            timeouts: #timeouts,
            health: #health,
            passive: #passive,
            retry: #retry,
            proxy_protocol: #proxy_protocol,
            tls: #tls,
            protocol: #protocol,
            sticky: #sticky,
        }
    }
}

/// A guarded pool's `CircuitSpec`.
pub(super) fn circuit_spec(circuit: &Circuit) -> TokenStream {
    let (max_pending, max_requests) = (number(circuit.max_pending), number(circuit.max_requests));
    let outlier = option(circuit.outlier.as_ref().map(|outlier| {
        let (min_requests, success_rate, latency, max_ejection_percent) = (
            number(outlier.min_requests),
            number(outlier.success_rate),
            number(outlier.latency),
            number(outlier.max_ejection_percent),
        );
        let (interval, base_ejection_time, max_ejection_time) = (
            duration(outlier.interval),
            duration(outlier.base_ejection_time),
            duration(outlier.max_ejection_time),
        );
        quote! {
            ::edge_runtime::Outlier {
                interval: #interval,
                min_requests: #min_requests,
                success_rate: #success_rate,
                latency: #latency,
                base_ejection_time: #base_ejection_time,
                max_ejection_time: #max_ejection_time,
                max_ejection_percent: #max_ejection_percent,
            }
        }
    }));
    quote! {
        ::edge_runtime::CircuitSpec {
            max_pending: #max_pending,
            max_requests: #max_requests,
            outlier: #outlier,
        }
    }
}

/// `UpstreamTls::DEFAULT`, or a literal with what the pool's `tls` block sets.
fn upstream_tls(tls: &UpstreamTls) -> TokenStream {
    let mut overrides = Vec::new();
    if let Some(ca) = &tls.ca {
        overrides.push(quote! { ca: Some(#ca), });
    }
    if let Some(name) = &tls.server_name {
        overrides.push(quote! { server_name: Some(#name), });
    }
    if let Some(client_cert) = &tls.client_cert {
        let (cert, key) = (&client_cert.cert, &client_cert.key);
        overrides.push(quote! {
            client_cert: Some(::edge_runtime::ClientCert { cert: #cert, key: #key }),
        });
    }
    if let Some(verify) = tls.verify {
        overrides.push(quote! { verify: #verify, });
    }
    with_defaults(quote! { ::edge_runtime::UpstreamTls }, &overrides, 4)
}

fn server_spec(server: &Server) -> TokenStream {
    if let (Address::Socket(addr), true) = (&server.upstream, is_plain_server(server)) {
        let addr = socket_addr(*addr);
        return quote! { server(#addr) };
    }
    let upstream = match &server.upstream {
        Address::Socket(addr) => {
            let addr = socket_addr(*addr);
            quote! { ::edge_runtime::Upstream::Socket(#addr) }
        }
        Address::Name { host, port } => {
            let authority = format!("{host}:{port}");
            quote! { ::edge_runtime::Upstream::Name(#authority) }
        }
        Address::Srv(name) => quote! { ::edge_runtime::Upstream::Srv(#name) },
    };
    if is_plain_server(server) {
        return quote! { ::edge_runtime::ServerSpec::new(#upstream) };
    }
    let (weight, max_conns, backup) = (
        number(server.weight),
        number(server.max_conns),
        server.backup,
    );
    quote! {
        ::edge_runtime::ServerSpec {
            upstream: #upstream,
            weight: #weight,
            max_conns: #max_conns,
            backup: #backup,
        }
    }
}

fn health_check(health: &HealthCheck) -> TokenStream {
    match health {
        HealthCheck::Http(check) => {
            let path = &check.path;
            let (min, max) = (
                Literal::u16_unsuffixed(check.expect.min),
                Literal::u16_unsuffixed(check.expect.max),
            );
            let (interval, timeout) = (duration(check.interval), duration(check.timeout));
            let (rise, fall) = (number(check.rise), number(check.fall));
            quote! {
                ::edge_runtime::HealthCheck::Http(::edge_runtime::HttpCheck {
                    path: #path,
                    expect: ::edge_runtime::StatusRange { min: #min, max: #max },
                    interval: #interval,
                    timeout: #timeout,
                    rise: #rise,
                    fall: #fall,
                })
            }
        }
        HealthCheck::Tcp(check) => {
            let (interval, timeout) = (duration(check.interval), duration(check.timeout));
            let (rise, fall) = (number(check.rise), number(check.fall));
            quote! {
                ::edge_runtime::HealthCheck::Tcp(::edge_runtime::TcpCheck {
                    interval: #interval,
                    timeout: #timeout,
                    rise: #rise,
                    fall: #fall,
                })
            }
        }
    }
}

/// The strategy's type, and the expression that builds it.
pub(super) fn strategy(balance: &Balance) -> (TokenStream, TokenStream) {
    let simple = |name: &str| {
        let ty = format_ident!("{name}");
        (
            quote! { ::edge_runtime::#ty },
            quote! { ::edge_runtime::#ty::default() },
        )
    };
    match balance {
        Balance::RoundRobin => simple("RoundRobin"),
        Balance::LeastConn => simple("LeastConn"),
        Balance::Random => simple("Random"),
        Balance::Ewma => simple("Ewma"),
        Balance::Hash(key) => {
            let (key_type, key) = hash_key(key);
            (
                quote! { ::edge_runtime::Hash<#key_type> },
                quote! { ::edge_runtime::Hash::new(#key) },
            )
        }
    }
}

/// A hash key as the runtime's type and a value of it.
pub(super) fn hash_key(key: &HashKey) -> (TokenStream, TokenStream) {
    match key {
        HashKey::ClientIp => (
            quote! { ::edge_runtime::ClientIpKey },
            quote! { ::edge_runtime::ClientIpKey },
        ),
        HashKey::Path => (
            quote! { ::edge_runtime::PathKey },
            quote! { ::edge_runtime::PathKey },
        ),
        HashKey::Header(name) => (
            quote! { ::edge_runtime::HeaderKey },
            quote! { ::edge_runtime::HeaderKey::from_static(#name) },
        ),
        HashKey::Cookie(name) => (
            quote! { ::edge_runtime::CookieKey },
            quote! { ::edge_runtime::CookieKey::new(#name) },
        ),
    }
}
