//! Observability both sides record into while serving: request metrics (per-worker rows),
//! the access log, request ids, the proxy's own error pages and `Via`. The admin listener that
//! shows them is the process's (`process::admin`).
//!
//! One [`Observer`] per process (`crate::Process`), set up by `run` from the generated `Site`
//! before anything is served; a process built without a site (tests, benches) gets a quiet one
//! (no routes known, no access log, request ids on).

pub(crate) mod access_log;
mod build_info;
pub(crate) mod metrics;
mod request_id;
pub(crate) mod trace;

use std::{io, sync::Arc, time::Duration};

pub use access_log::{AccessLogSpec, LogFormat};
pub use build_info::BuildInfo;
pub use request_id::RequestIdSpec;
pub use trace::TracingSpec;

pub(crate) use request_id::{apply as apply_request_id, TRACEPARENT, X_REQUEST_ID};

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

/// The process's observability state.
pub(crate) struct Observer {
    pub(crate) routes: &'static [RouteInfo],
    pub(crate) listeners: Vec<&'static str>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) access_log: Option<Arc<access_log::AccessLog>>,
    pub(crate) request_id: RequestIdSpec,
    /// Tracing export, when the config asks for it.
    pub(crate) tracer: Option<Arc<trace::Tracer>>,
    pub(crate) error_pages: &'static [ErrorPage],
    /// `1.1 NAME`, rendered once.
    pub(crate) via: Option<http::HeaderValue>,
    /// The config the process was built from; `None` without a site.
    pub(crate) build: Option<BuildInfo>,
}

/// What the observer is set up from: the parts of the generated `Site` it records against.
pub(crate) struct Setup {
    pub(crate) routes: &'static [RouteInfo],
    /// The listeners' names, in order.
    pub(crate) listeners: Vec<&'static str>,
    pub(crate) access_log: Option<AccessLogSpec>,
    pub(crate) request_id: RequestIdSpec,
    pub(crate) tracing: Option<TracingSpec>,
    pub(crate) error_pages: &'static [ErrorPage],
    pub(crate) via: Option<&'static str>,
    pub(crate) build: BuildInfo,
    pub(crate) workers: usize,
}

impl Observer {
    /// The observer of a process serving `setup`; opens the access log and starts the span
    /// exporter.
    pub(crate) fn new(setup: Setup) -> io::Result<Observer> {
        let access_log = setup
            .access_log
            .map(access_log::AccessLog::start)
            .transpose()?
            .map(Arc::new);
        let tracer = setup
            .tracing
            .map(trace::Tracer::start)
            .transpose()?
            .map(Arc::new);
        Ok(Observer {
            routes: setup.routes,
            metrics: metrics::Metrics::new(
                setup.workers,
                setup.routes.len(),
                setup.listeners.len(),
            ),
            listeners: setup.listeners,
            access_log,
            request_id: setup.request_id,
            tracer,
            error_pages: setup.error_pages,
            via: setup
                .via
                .and_then(|name| http::HeaderValue::try_from(format!("1.1 {name}")).ok()),
            build: Some(setup.build),
        })
    }

    /// The observer of a process without a site: no routes known, no access log.
    pub(crate) fn quiet() -> Observer {
        Observer {
            routes: &[],
            listeners: Vec::new(),
            metrics: metrics::Metrics::new(1, 0, 0),
            access_log: None,
            request_id: RequestIdSpec::DEFAULT,
            tracer: None,
            error_pages: &[],
            via: None,
            build: None,
        }
    }

    /// [`Observer::quiet`], knowing `routes` (on one listener, `web`).
    #[cfg(test)]
    pub(crate) fn quiet_with_routes(routes: &'static [RouteInfo]) -> Observer {
        Observer {
            routes,
            listeners: vec!["web"],
            metrics: metrics::Metrics::new(1, routes.len(), 1),
            ..Observer::quiet()
        }
    }

    /// Records one answered request in the metrics.
    pub(crate) fn request(
        &self,
        listener: usize,
        route: Option<usize>,
        status: u16,
        elapsed: Duration,
    ) {
        self.metrics
            .request(crate::worker::current(), listener, route, status, elapsed);
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
    /// Counts a connection accepted on `listener`.
    pub(crate) fn accepted(&self, listener: usize) {
        if let Some(row) = self.metrics.listener(crate::worker::current(), listener) {
            row.accepted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counts a connection of `listener` closed.
    pub(crate) fn closed(&self, listener: usize) {
        if let Some(row) = self.metrics.listener(crate::worker::current(), listener) {
            row.closed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub(crate) fn tls_failure(&self, listener: usize) {
        if let Some(row) = self.metrics.listener(crate::worker::current(), listener) {
            row.tls_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
