//! The Model of a checked config: its listeners, pools, policies and their instances, stores,
//! and the process settings, with the defaults the runtime has no const for applied.

use crate::files::Folder;

use edge_dsl::ast::{self, Config};
use edge_dsl::Diagnostic;

use super::{pools, tls, value};
use crate::instances;
use crate::model::{self, defaults, Model};

/// The model of a checked config.
pub(super) fn model(
    config: &Config,
    mut listeners: Vec<model::Listener>,
    pool_tls: Vec<Option<model::UpstreamTls>>,
    policies: Vec<Option<model::Policy>>,
    stores: Vec<Option<model::Store>>,
) -> Model {
    // Without errors, every policy and store passed its checks: indices stay those of the
    // config.
    let policies: Vec<model::Policy> = policies.into_iter().flatten().collect();
    let stores: Vec<model::Store> = stores.into_iter().flatten().collect();
    let instances = instances::assign(&mut listeners, &policies);
    let admin = config.admin.as_ref().map(|admin| model::Admin {
        bind: value(&admin.value.bind).unwrap_or(defaults::ADMIN_BIND),
        token_env: value(&admin.value.token_env),
    });
    let access_log = config.access_log.as_ref().map(|log| model::AccessLog {
        format: log.value.format.unwrap_or(defaults::ACCESS_LOG_FORMAT),
        // As written: a relative path is relative to the proxy's run-time root.
        path: log.value.path.as_ref().map(|path| path.value.clone()),
    });
    Model {
        listeners,
        pools: config.pools.iter().zip(pool_tls).map(pools::pool).collect(),
        policies,
        stores,
        instances,
        admin,
        access_log,
        // `request_id { }` sets nothing: request ids on, client ids not trusted.
        request_id: value(&config.request_id).filter(|r| !r.enabled || r.trust_client),
        tracing: value(&config.tracing),
        shutdown: config.shutdown.as_ref().map(|shutdown| model::Shutdown {
            drain_delay: value(&shutdown.value.drain_delay),
            drain_timeout: value(&shutdown.value.drain_timeout),
        }),
        workers: config.workers.as_ref().map_or(0, |w| w.value as usize),
        error_pages: config
            .error_pages
            .iter()
            .map(|page| model::ErrorPage {
                status: page.value.status.value,
                body: page.value.body.clone(),
                html: page.value.html,
            })
            .collect(),
        via: value(&config.via),
    }
}

/// A listener as the model holds it, its TLS files read; routes are attached later.
pub(super) fn listener(
    listener: &ast::Listener,
    folder: &Folder,
    diagnostics: &mut Vec<Diagnostic>,
) -> model::Listener {
    model::Listener {
        tls: listener
            .tls
            .as_ref()
            .and_then(|tls| tls::tls(&tls.value, folder, diagnostics)),
        name: listener.name.value.clone(),
        bind: listener.bind.value,
        mode: match listener.mode.as_ref().map(|m| m.value) {
            Some(ast::Mode::Tcp) => model::Mode::Tcp {
                idle_timeout: value(&listener.idle_timeout).unwrap_or(defaults::TCP_IDLE_TIMEOUT),
            },
            Some(ast::Mode::Http) | None => model::Mode::Http,
        },
        limits: model::Limits {
            max_header_size: value(&listener.max_header_size),
            header_timeout: value(&listener.header_timeout),
            keepalive_timeout: value(&listener.keepalive_timeout),
            body_timeout: value(&listener.body_timeout),
            send_timeout: value(&listener.send_timeout),
            ping_interval: value(&listener.ping_interval),
            max_body: value(&listener.max_body),
            max_connections: value(&listener.max_connections),
            max_streams: value(&listener.max_streams),
            underscores_in_headers: value(&listener.underscores_in_headers),
            allow_encoded_slashes: value(&listener.allow_encoded_slashes),
            allow_semicolons: value(&listener.allow_semicolons),
            case_insensitive_paths: value(&listener.case_insensitive_paths),
            accept_proxy: value(&listener.accept_proxy),
        },
        trusted_proxies: listener
            .trusted_proxies
            .as_ref()
            .map(|nets| nets.value.iter().map(|net| net.value).collect())
            .unwrap_or_default(),
        routes: Vec::new(),
    }
}
