//! What a start reads before it binds anything: the listeners' addresses and certificates,
//! the access log, the admin token, and the gateway with every file its policies and pools
//! name. A file that is missing or broken stops the start here, with one reason naming it,
//! before a socket is touched; `--check` runs exactly this and exits.

use std::sync::Arc;

use crate::{
    downstream::listener::ListenerSpec,
    downstream::tls::TlsListener,
    observe::{self, Observer},
    process::bind::{bind_overrides, load_tls},
    process::{site::Site, Process},
    worker, Gateway, LoadError,
};

/// Everything loaded, ready to bind and serve.
pub(super) struct Loaded<G, L: 'static> {
    /// The listeners, at the addresses `EDGE_BIND_<NAME>` may have moved them to.
    pub(super) listeners: &'static [(L, ListenerSpec)],
    /// Each listener's TLS state, in listener order.
    pub(super) tls: Vec<Option<Arc<TlsListener>>>,
    pub(super) workers: usize,
    pub(super) process: Process,
    pub(super) admin_token: Option<Arc<str>>,
    /// One single-threaded runtime per worker; pools started their tasks on the first.
    pub(super) runtimes: Vec<tokio::runtime::Runtime>,
    pub(super) gateway: Arc<G>,
}

/// Loads everything `site` and `make` read; the error is the one line to print.
pub(super) fn load<G: Gateway>(
    site: &'static Site<G::Listener>,
    make: impl FnOnce(&Process) -> Result<G, LoadError>,
) -> Result<Loaded<G, G::Listener>, String> {
    let listeners = bind_overrides(site.listeners)?;
    let tls = load_tls(listeners).map_err(|error| error.to_string())?;
    let workers = worker::configured(site.workers);
    let setup = observe::Setup {
        routes: site.routes,
        listeners: site.listeners.iter().map(|(_, spec)| spec.name).collect(),
        access_log: site.access_log,
        request_id: site.request_id,
        tracing: site.tracing,
        error_pages: site.error_pages,
        via: site.via,
        build: site.build,
        workers,
    };
    let observer =
        Observer::new(setup).map_err(|error| format!("cannot open the access log: {error}"))?;
    let process = Process::observed(observer);
    let admin_token = site
        .admin
        .and_then(|admin| admin.token_env)
        .map(admin_token)
        .transpose()?;
    let runtimes = (0..workers)
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    worker::set_count(workers);
    let gateway = {
        // Pools start their background tasks on worker 0's runtime.
        let _entered = runtimes[0].enter();
        make(&process).map_err(|error| error.to_string())?
    };
    Ok(Loaded {
        listeners,
        tls,
        workers,
        process,
        admin_token,
        runtimes,
        gateway: Arc::new(gateway),
    })
}

/// The admin token from the environment variable `name`; unset or empty stops the start.
fn admin_token(name: &'static str) -> Result<Arc<str>, String> {
    match std::env::var(name) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().into()),
        _ => Err(format!(
            "the admin listener's token variable {name} is not set (admin {{ token_env }})"
        )),
    }
}
