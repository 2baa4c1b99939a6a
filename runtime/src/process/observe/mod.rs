//! Observability: request metrics, the access log, request ids, and the admin listener that
//! shows them (`/metrics`, `/healthz`, `/ready`, `/status`).
//!
//! One [`Observer`] per process, set up by `run` from the generated [`Site`] before anything is
//! served; code that serves without `run` (tests, benches) gets a default one (no routes known,
//! no access log, request ids on).

mod access_log;
mod admin;
mod logged;
mod metrics;
mod request_id;
mod roster;

use std::{io, net::SocketAddr, sync::OnceLock, time::Duration};

pub use access_log::{AccessLogSpec, LogFormat};
pub use request_id::RequestIdSpec;

pub(crate) use admin::serve as serve_admin;
pub(crate) use logged::{Logged, Pending};
pub(crate) use request_id::{apply as apply_request_id, X_REQUEST_ID};
pub(crate) use roster::{register as register_pool, Roster};

use crate::ListenerSpec;

/// Everything a config says about the process beyond its gateway: listeners, the routes (for
/// metrics and logs), the admin listener, the access log, request ids and the worker count.
#[derive(Debug)]
pub struct Site<L: 'static> {
    pub listeners: &'static [(L, ListenerSpec)],
    /// Every route; its position is the id the gateway reports with [`crate::Cx::matched`].
    pub routes: &'static [RouteInfo],
    pub admin: Option<AdminSpec>,
    pub access_log: Option<AccessLogSpec>,
    pub request_id: RequestIdSpec,
    /// Workers to run (one single-threaded runtime each); 0: one per core. `EDGE_WORKERS`
    /// overrides it.
    pub workers: usize,
    /// Bodies for the proxy's own error answers, by status (answers from servers are kept).
    pub error_pages: &'static [ErrorPage],
    /// `Via` added to requests sent upstream and to answers: `1.1 NAME`; `None`: no `Via`.
    pub via: Option<&'static str>,
}

/// The body of the proxy's own answers with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPage {
    pub status: u16,
    pub body: &'static str,
    /// `text/html` rather than `text/plain`.
    pub html: bool,
}

/// A route as metrics and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    pub name: &'static str,
    pub listener: &'static str,
}

/// The admin listener: metrics, health and status, on its own address (loopback by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSpec {
    pub bind: SocketAddr,
    /// The environment variable holding the bearer token every admin request but `/healthz`
    /// and `/ready` must carry; `None`: no token (keep the listener on loopback).
    pub token_env: Option<&'static str>,
}

/// The process's observability state.
pub(crate) struct Observer {
    pub(crate) routes: &'static [RouteInfo],
    pub(crate) listeners: Vec<&'static str>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) access_log: Option<access_log::AccessLog>,
    pub(crate) request_id: RequestIdSpec,
    pub(crate) error_pages: &'static [ErrorPage],
    /// `1.1 NAME`, rendered once.
    pub(crate) via: Option<http::HeaderValue>,
}

static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Sets up the process's observer for `site` with `workers` workers; opens the access log.
pub(crate) fn init<L>(site: &'static Site<L>, workers: usize) -> io::Result<()> {
    let access_log = site
        .access_log
        .map(access_log::AccessLog::start)
        .transpose()?;
    let observer = Observer {
        routes: site.routes,
        listeners: site.listeners.iter().map(|(_, spec)| spec.name).collect(),
        metrics: metrics::Metrics::new(workers, site.routes.len(), site.listeners.len()),
        access_log,
        request_id: site.request_id,
        error_pages: site.error_pages,
        via: site
            .via
            .and_then(|name| http::HeaderValue::try_from(format!("1.1 {name}")).ok()),
    };
    // `run` calls this once; a second call (two `run`s in one process) keeps the first.
    let _ = OBSERVER.set(observer);
    Ok(())
}

/// The process's observer.
pub(crate) fn get() -> &'static Observer {
    OBSERVER.get_or_init(|| Observer {
        routes: &[],
        listeners: Vec::new(),
        metrics: metrics::Metrics::new(1, 0, 0),
        access_log: None,
        request_id: RequestIdSpec::DEFAULT,
        error_pages: &[],
        via: None,
    })
}

impl Observer {
    /// Records one answered request in the metrics.
    pub(crate) fn request(
        &self,
        listener: usize,
        route: Option<usize>,
        status: u16,
        elapsed: Duration,
    ) {
        self.metrics.request(
            crate::process::worker::current(),
            listener,
            route,
            status,
            elapsed,
        );
    }

    /// Gives the proxy's own answers their configured page, and every answer the `Via`.
    pub(crate) fn finish(&self, response: &mut crate::Response) {
        if let Some(via) = &self.via {
            response
                .headers_mut()
                .append(http::header::VIA, via.clone());
        }
        if self.error_pages.is_empty()
            || response
                .extensions()
                .get::<crate::respond::OwnAnswer>()
                .is_none()
        {
            return;
        }
        let status = response.status().as_u16();
        if let Some(page) = self.error_pages.iter().find(|page| page.status == status) {
            *response.body_mut() = crate::Body::from_static(page.body);
            let content_type = if page.html {
                "text/html; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            let headers = response.headers_mut();
            headers.remove(http::header::CONTENT_LENGTH);
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(content_type),
            );
        }
    }

    pub(crate) fn route_name(&self, route: Option<usize>) -> Option<&'static str> {
        route
            .and_then(|route| self.routes.get(route))
            .map(|r| r.name)
    }

    /// Counts a connection accepted on `listener`, until the returned guard is dropped.
    pub(crate) fn connection(&'static self, listener: usize) -> ConnectionGuard {
        let row = self
            .metrics
            .listener(crate::process::worker::current(), listener);
        if let Some(row) = row {
            row.accepted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        ConnectionGuard { row }
    }

    pub(crate) fn tls_failure(&self, listener: usize) {
        if let Some(row) = self
            .metrics
            .listener(crate::process::worker::current(), listener)
        {
            row.tls_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// An open connection, counted as closed when dropped.
pub(crate) struct ConnectionGuard {
    row: Option<&'static metrics::ListenerRow>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Some(row) = self.row {
            row.closed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
