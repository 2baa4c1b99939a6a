//! The process as the config describes it beyond its gateway.

use crate::{
    observe::{AccessLogSpec, ErrorPage, RequestIdSpec, RouteInfo},
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
    /// Workers to run (one single-threaded runtime each); 0: one per core. `EDGE_WORKERS`
    /// overrides it.
    pub workers: usize,
    /// Bodies for the proxy's own error answers, by status (answers from servers are kept).
    pub error_pages: &'static [ErrorPage],
    /// `Via` added to requests sent upstream and to answers: `1.1 NAME`; `None`: no `Via`.
    pub via: Option<&'static str>,
}
