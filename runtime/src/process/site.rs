//! The process as the config describes it beyond its gateway, and the config it was built from.

use std::time::Duration;

use crate::{
    observe::{AccessLogSpec, BuildInfo, ErrorPage, RequestIdSpec, RouteInfo, TracingSpec},
    process::admin::AdminSpec,
    ListenerSpec,
};

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
    /// Spans exported over OTLP; `None`: none.
    pub tracing: Option<TracingSpec>,
    pub shutdown: ShutdownSpec,
    /// Workers to run (one single-threaded runtime each); 0: one per core. `EDGE_WORKERS`
    /// overrides it.
    pub workers: usize,
    /// Bodies for the proxy's own error answers, by status (answers from servers are kept).
    pub error_pages: &'static [ErrorPage],
    /// `Via` added to requests sent upstream and to answers: `1.1 NAME`; `None`: no `Via`.
    pub via: Option<&'static str>,
    /// The config the proxy was built from.
    pub build: BuildInfo,
}

/// How the process stops on SIGTERM: `/ready` answers 503 for `drain_delay` while everything
/// is still served (so that load balancers and Kubernetes stop sending new clients), then the
/// listeners stop accepting and connections have `drain_timeout` to finish; the admin
/// listener answers until the end. SIGINT, or a second signal during the delay, skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownSpec {
    pub drain_delay: Duration,
    pub drain_timeout: Duration,
}

impl ShutdownSpec {
    /// No delay (nothing to tell when nothing watches `/ready`), 30 s to drain.
    pub const DEFAULT: ShutdownSpec = ShutdownSpec {
        drain_delay: Duration::ZERO,
        drain_timeout: Duration::from_secs(30),
    };
}
