//! Bound listeners and the gateway that answers on them ([`Server`]): each HTTP listener served
//! by `accept`, each `mode tcp` one by `tcp`, until a shutdown, then a drain with a deadline.
//! `run` serves one per worker; tests and embedding programs build one with [`Server::bind`].

use std::{fmt, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch, task::JoinSet};

use crate::{
    downstream::accept::accept,
    downstream::bound::Bound,
    downstream::listener::{ListenerMode, ListenerSpec},
    downstream::tcp,
    downstream::tls::TlsListener,
    downstream::watchdog::Drain,
    process::bind::{load_tls, BindError, StartError},
    process::reload::CertReloader,
    process::{site::ShutdownSpec, Process},
    Gateway,
};

/// How long in-flight requests may take to finish after a shutdown signal, unless told.
const DRAIN_DEADLINE: Duration = ShutdownSpec::DEFAULT.drain_timeout;

/// How often a drain after a hand-over looks whether connections are left.
const LINGER_POLL: Duration = Duration::from_millis(20);

/// One worker: adopts its sockets (`[listener]`, one or more each) into the current runtime
/// and serves with `gateway` of `process` until `shutdown`.
pub(super) async fn serve_worker<G: Gateway>(
    listeners: &'static [(G::Listener, ListenerSpec)],
    sockets: Vec<Vec<std::net::TcpListener>>,
    tls: Vec<Option<Arc<TlsListener>>>,
    (gateway, process): (Arc<G>, Process),
    drain_deadline: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut bound = Vec::with_capacity(listeners.len());
    for (index, (((id, spec), share), tls)) in listeners.iter().zip(sockets).zip(tls).enumerate() {
        for socket in share {
            let adopted = socket
                .set_nonblocking(true)
                .and_then(|()| Ok((socket.local_addr()?, TcpListener::from_std(socket)?)));
            match adopted {
                Ok((addr, listener)) => bound.push(Bound {
                    id: *id,
                    index,
                    spec,
                    listener,
                    addr,
                    tls: tls.clone(),
                }),
                Err(error) => {
                    tracing::error!(listener = spec.name, %error, "cannot serve on a bound socket");
                }
            }
        }
    }
    Server {
        gateway,
        process,
        bound,
        drain_deadline,
    }
    .serve(shutdown)
    .await;
}

/// Bound listeners and the gateway that will answer on them.
pub struct Server<G: Gateway> {
    gateway: Arc<G>,
    process: Process,
    bound: Vec<Bound<G::Listener>>,
    drain_deadline: Duration,
}

impl<G: Gateway> fmt::Debug for Server<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.local_addrs()
                    .map(|(name, addr)| format!("{name} {addr}")),
            )
            .finish()
    }
}

impl<G: Gateway> Server<G> {
    /// Loads every TLS listener's certificates, then binds every listener, in order; the first
    /// failure is returned. First waits, as `run` does, until the pools of `process` (those
    /// `gateway` was built with) have resolved their names once (each for at most its connect
    /// timeout).
    pub async fn bind(
        process: &Process,
        listeners: &'static [(G::Listener, ListenerSpec)],
        gateway: G,
    ) -> Result<Server<G>, StartError> {
        process.pools().resolving().wait().await;
        let tls = load_tls(listeners)?;
        let mut bound = Vec::with_capacity(listeners.len());
        for (index, ((id, spec), tls)) in listeners.iter().zip(tls).enumerate() {
            let error = |source| BindError {
                listener: spec.name,
                addr: spec.bind,
                source,
            };
            let listener = TcpListener::bind(spec.bind).await.map_err(error)?;
            let addr = listener.local_addr().map_err(error)?;
            bound.push(Bound {
                id: *id,
                index,
                spec,
                listener,
                addr,
                tls,
            });
        }
        Ok(Server {
            gateway: Arc::new(gateway),
            process: process.clone(),
            bound,
            drain_deadline: DRAIN_DEADLINE,
        })
    }

    /// How long the drain may last before the connections left are closed (30 s by default).
    pub fn drain_deadline(mut self, deadline: Duration) -> Server<G> {
        self.drain_deadline = deadline;
        self
    }

    /// Re-reads the certificate files of this server's TLS listeners when called (what `run`
    /// does on SIGHUP).
    pub fn cert_reloader(&self) -> CertReloader {
        let listeners = self.bound.iter().filter_map(|bound| bound.tls.clone());
        CertReloader::new(listeners, self.process.pools().clone())
    }

    /// Each listener's name and the address it actually listens on.
    pub fn local_addrs(&self) -> impl Iterator<Item = (&'static str, SocketAddr)> + '_ {
        self.bound.iter().map(|b| (b.spec.name, b.addr))
    }

    /// Serves until `shutdown` completes, then stops accepting (new connections are refused),
    /// lets in-flight requests and open tunnels finish, closes idle keep-alive connections, and
    /// returns once all connections are closed or after the drain deadline (30 s unless set
    /// with [`Server::drain_deadline`]), when the tunnels left are closed.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        // How long a connection may sit idle before it is closed anyway: what a drain after a
        // hand-over waits for at most before closing idle connections.
        let keep_alive = self
            .bound
            .iter()
            .map(|bound| bound.spec.limits.keepalive_timeout)
            .max()
            .unwrap_or_default();
        let drain = Arc::new(Drain::new());
        // Every tunnel task holds a receiver; `true` closes them.
        let (closing, tunnels) = watch::channel(false);
        let mut accepting = JoinSet::new();
        for bound in self.bound {
            let gateway = Arc::clone(&self.gateway);
            match bound.spec.mode {
                ListenerMode::Http => {
                    let front = Arc::clone(self.process.front());
                    accepting.spawn(accept(bound, gateway, front, Arc::clone(&drain)))
                }
                ListenerMode::Tcp(spec) => {
                    accepting.spawn(tcp::accept(bound, spec, gateway, tunnels.clone()))
                }
            };
        }
        // From here on only tunnel tasks hold receivers.
        drop(tunnels);
        shutdown.await;
        let stopped = tokio::time::Instant::now();
        accepting.abort_all();
        while accepting.join_next().await.is_some() {}
        let drain =
            Arc::try_unwrap(drain).expect("every accept loop has ended and dropped its handle");
        let (open, tunnels) = (drain.count(), closing.receiver_count());
        tracing::info!(connections = open, tunnels, "stopped accepting; draining");
        let deadline = self.drain_deadline;
        if self.process.front().handed_over() {
            linger(&drain, keep_alive.min(deadline)).await;
        }
        let drained = async { tokio::join!(drain.shutdown(), closing.closed()) };
        let left = deadline.saturating_sub(stopped.elapsed());
        if tokio::time::timeout(left, drained).await.is_err() {
            tracing::warn!(?deadline, "drain deadline passed; closing the rest");
            closing.send_replace(true);
        }
    }
}

/// After a hand-over, lets connections end on their own for at most `limit`: each HTTP/1
/// connection after the answer to its next request (`Connection: close`), or at its keep-alive
/// timeout. Closing an idle keep-alive connection at once could cut off a request the client
/// is sending on it at that moment, which the client could not safely send again.
async fn linger(drain: &Drain, limit: Duration) {
    let ended = async {
        while drain.count() > 0 {
            tokio::time::sleep(LINGER_POLL).await;
        }
    };
    let _ = tokio::time::timeout(limit, ended).await;
}
