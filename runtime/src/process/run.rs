//! Listeners and the process around them: load TLS certificates, bind, serve (HTTP listeners
//! in `accept`, `mode tcp` listeners in `tcp`), reload certificates on SIGHUP, and drain on
//! SIGTERM/SIGINT.

use std::{
    fmt,
    future::Future,
    io::{self, IsTerminal, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::pin,
    process::ExitCode,
    sync::{Arc, OnceLock},
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch, task::JoinSet};

use crate::{
    downstream::accept::accept,
    downstream::bound::Bound,
    downstream::listener::{ListenerMode, ListenerSpec},
    downstream::tcp,
    downstream::tls::TlsListener,
    downstream::watchdog::Drain,
    observe::{self, Observer},
    process::handoff::{self, Handoffs, Inherited, Label, Offer, Predecessor, Role},
    process::reload::CertReloader,
    process::{admin, site::Site, Process},
    tls::TlsError,
    worker, Gateway, LoadError,
};

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// How often a drain after a hand-over looks whether connections are left.
const LINGER_POLL: Duration = Duration::from_millis(20);

/// Pending connections the kernel queues per listening socket.
const LISTEN_BACKLOG: i32 = 1024;

/// A listener that could not be bound.
#[derive(Debug)]
pub struct BindError {
    pub listener: &'static str,
    pub addr: SocketAddr,
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot bind listener `{}` to {}: {}",
            self.listener, self.addr, self.source
        )
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why listeners could not be started.
#[derive(Debug)]
pub enum StartError {
    /// A TLS listener's certificate, key or CA file cannot be used.
    Tls(TlsError),
    Bind(BindError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Tls(error) => error.fmt(f),
            StartError::Bind(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Tls(error) => error.source(),
            StartError::Bind(error) => error.source(),
        }
    }
}

impl From<TlsError> for StartError {
    fn from(error: TlsError) -> StartError {
        StartError::Tls(error)
    }
}

impl From<BindError> for StartError {
    fn from(error: BindError) -> StartError {
        StartError::Bind(error)
    }
}

/// Each listener's TLS state (`None` for cleartext and tcp listeners), in listener order.
fn load_tls(
    listeners: &'static [(impl Copy, ListenerSpec)],
) -> Result<Vec<Option<Arc<TlsListener>>>, TlsError> {
    listeners
        .iter()
        .map(|(_, spec)| TlsListener::load(spec))
        .collect()
}

fn reloader(tls: &[Option<Arc<TlsListener>>], process: &Process) -> CertReloader {
    CertReloader::new(tls.iter().flatten().cloned(), process.pools().clone())
}

/// Runs a gateway as the whole process. It loads every TLS listener's certificates, binds
/// every listener once per worker (one worker per core, or `EDGE_WORKERS`) on `SO_REUSEPORT`
/// sockets, calls `make()` once with the [`Process`] it builds (which builds the pools and
/// policies into it), waits until the pools' names have
/// been resolved (each for up to its connect timeout) and each active health check has run
/// once (each for up to its interval and timeout), prints `listening NAME http://ADDR` per
/// listener (`https://ADDR` for a TLS one, `tcp://ADDR` for a `mode tcp` one) on stdout, and
/// serves with one single-threaded runtime per worker until SIGTERM or SIGINT; then every
/// worker drains for up to 30 s (open tunnels are closed then) and the process exits 0. SIGHUP
/// re-reads the TLS files ([`CertReloader::reload`]). A certificate or key that cannot be
/// used, or a listener that cannot be bound, or a policy that cannot be built, is reported on
/// stderr in one `edge: ...` line and exits 1.
///
/// With `EDGE_HANDOFF=PATH`, it first asks the process answering at that unix socket for its
/// listening sockets and takes over those of its own listeners (same address; with port 0,
/// same name), binding only the rest; once it accepts on them, it tells that process to let go
/// (it stops accepting, drains and exits 0) and then answers at `PATH` itself, for the next
/// upgrade. A process that hands over drains like on SIGTERM, except that its HTTP/1
/// connections end after their next answer (`Connection: close`) or at their keep-alive
/// timeout rather than at once. See the `handoff` module.
///
/// One runtime per core rather than one work-stealing runtime: measured faster on the request
/// path (docs/benchmarks.md), since a client connection, its upstream connection and their
/// wake-ups stay on one thread.
pub fn run<G: Gateway>(
    site: &'static Site<G::Listener>,
    make: impl FnOnce(&Process) -> Result<G, LoadError>,
) -> ExitCode {
    init_logging();
    let listeners = match bind_overrides(site.listeners) {
        Ok(listeners) => listeners,
        Err(error) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match load_tls(listeners) {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
    };
    let workers = worker::configured(site.workers);
    let setup = observe::Setup {
        routes: site.routes,
        listeners: site.listeners.iter().map(|(_, spec)| spec.name).collect(),
        access_log: site.access_log,
        request_id: site.request_id,
        error_pages: site.error_pages,
        via: site.via,
        workers,
    };
    let process = match Observer::new(setup) {
        Ok(observer) => Process::observed(observer),
        Err(error) => {
            eprintln!("edge: cannot open the access log: {error}");
            return ExitCode::FAILURE;
        }
    };
    let admin_token = match site
        .admin
        .and_then(|admin| admin.token_env)
        .map(admin_token)
    {
        Some(Err(error)) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
        token => token.and_then(Result::ok),
    };
    let handoff_path = handoff::configured();
    let (predecessor, mut inherited) = take_over(handoff_path.as_deref());
    let admin = site.admin.map(|admin| match inherited.admin(admin.bind) {
        Some(socket) => Ok(socket),
        None => bind_admin(admin.bind),
    });
    let admin = match admin.transpose() {
        Ok(admin) => admin,
        Err(error) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
    };
    let sockets = match bind_per_worker(listeners, workers, &mut inherited) {
        Ok(sockets) => sockets,
        Err(error) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
    };
    if inherited.len() > 0 {
        tracing::info!(
            sockets = inherited.len(),
            "closing the sockets taken over for listeners this build does not have"
        );
    }
    drop(inherited);
    let offer = handoff_path.as_ref().and_then(|_| {
        let admin = site.admin.map(|spec| spec.bind).zip(admin.as_ref());
        offer(listeners, &sockets, admin)
            .inspect_err(|error| {
                tracing::warn!(%error, "cannot offer the listening sockets to a next process");
            })
            .ok()
    });
    let announcement = Announcement::of(admin.as_ref(), listeners, &sockets[0]);
    let runtimes = match (0..workers)
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<io::Result<Vec<_>>>()
    {
        Ok(runtimes) => runtimes,
        Err(error) => {
            eprintln!("edge: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    worker::set_count(workers);
    let (gateway, signals) = {
        // Pools start their background tasks, and signals register, on worker 0's runtime.
        let _entered = runtimes[0].enter();
        (make(&process).map(Arc::new), Signals::install())
    };
    let gateway = match gateway {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Pools with servers given by name resolve them once, and health checks run once (their
    // checkers start with the addresses), before anything is served.
    runtimes[0].block_on(process.pools().started());
    // Installed before the start-up lines, so a signal sent right after them is not lost.
    let signals = match signals {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("edge: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let hand_over = HandOver {
        predecessor,
        path: handoff_path,
        offer,
        stop: stop.clone(),
        process: process.clone(),
    };
    // Set once this process answers hand-offs, for SIGTERM to withdraw the offer.
    let handoffs = OnceLock::<Handoffs>::new();
    let reloader = reloader(&tls, &process);
    let mut work = runtimes.into_iter().zip(sockets).enumerate();
    let (_, first) = work.next().expect("at least one worker");
    std::thread::scope(|scope| {
        for (index, (runtime, sockets)) in work {
            let (gateway, stopped, tls) = (Arc::clone(&gateway), stopped.clone(), tls.clone());
            let process = process.clone();
            scope.spawn(move || {
                worker::enter(index);
                let serving =
                    serve_worker(listeners, sockets, tls, (gateway, process), wait(stopped));
                runtime.block_on(serving);
            });
        }
        let (runtime, sockets) = first;
        worker::enter(0);
        runtime.block_on(async {
            let Signals {
                stop: stop_signals,
                hangup,
                user1,
            } = signals;
            let signalled = async {
                tokio::select! {
                    () = stop_signals.recv() => {
                        if let Some(handoffs) = handoffs.get() {
                            handoffs.withdraw();
                        }
                        stop.send_replace(true);
                    }
                    // Stopped by a hand-off.
                    () = wait(stopped.clone()) => {}
                }
            };
            let serving = serve_worker(
                listeners,
                sockets,
                tls,
                (gateway, process.clone()),
                wait(stopped.clone()),
            );
            let starting = async {
                // Lets the accept loops that `serving` spawns start before the predecessor
                // stops accepting; connections arriving in between wait in the sockets' queues.
                tokio::task::yield_now().await;
                match tokio::task::spawn_blocking(move || hand_over.complete()).await {
                    Ok(Some(answering)) => {
                        if *stopped.borrow() {
                            answering.withdraw();
                        }
                        let _ = handoffs.set(answering);
                    }
                    Ok(None) => {}
                    Err(error) => tracing::error!(%error, "the hand-off task failed"),
                }
                if let Err(error) = announcement.and_then(|announcement| announcement.print()) {
                    tracing::warn!(%error, "cannot write the start-up lines to stdout");
                }
            };
            let reloading = reload_on_hangup(hangup, reloader, wait(stopped.clone()));
            let reopening = reopen_on_user1(user1, &process, wait(stopped.clone()));
            let admin_stop = wait(stopped.clone());
            let process = &process;
            let admin = async move {
                match admin.map(adopt) {
                    Some(Ok(admin)) => admin::serve(admin, admin_token, process, admin_stop).await,
                    Some(Err(error)) => {
                        tracing::error!(%error, "cannot serve the admin listener");
                    }
                    None => {}
                }
            };
            tokio::join!(signalled, serving, starting, reloading, reopening, admin);
        });
    });
    ExitCode::SUCCESS
}

/// The listeners with the addresses `EDGE_BIND_<NAME>` gives (an operations setting: the same
/// binary run twice, or placed by an orchestrator, listens elsewhere than its config says).
/// `NAME` is the listener's name in upper case. Without any such variable, `listeners` itself.
fn bind_overrides<L: Copy>(
    listeners: &'static [(L, ListenerSpec)],
) -> Result<&'static [(L, ListenerSpec)], String> {
    let variable = |spec: &ListenerSpec| format!("EDGE_BIND_{}", spec.name.to_ascii_uppercase());
    if !listeners
        .iter()
        .any(|(_, spec)| std::env::var_os(variable(spec)).is_some())
    {
        return Ok(listeners);
    }
    let mut moved = Vec::with_capacity(listeners.len());
    for &(id, spec) in listeners {
        let name = variable(&spec);
        let bind = match std::env::var(&name) {
            Ok(value) => value
                .parse()
                .map_err(|_| format!("{name}={value} is not an address such as 127.0.0.1:8080"))?,
            Err(_) => spec.bind,
        };
        moved.push((id, ListenerSpec { bind, ..spec }));
    }
    // Once per process, before anything is served.
    Ok(Vec::leak(moved))
}

/// Asks the process answering at `path` (when set) for its listening sockets. Nothing is
/// taken when no process answers there, or when the exchange fails (logged): then every
/// listener is bound afresh.
fn take_over(path: Option<&Path>) -> (Option<Predecessor>, Inherited) {
    let Some(path) = path else {
        return (None, Inherited::default());
    };
    match handoff::take_over(path) {
        Ok(Some((predecessor, inherited))) => {
            tracing::info!(
                sockets = inherited.len(),
                "taking over the listening sockets of the running process"
            );
            (Some(predecessor), inherited)
        }
        Ok(None) => (None, Inherited::default()),
        Err(error) => {
            tracing::warn!(
                %error,
                path = %path.display(),
                "cannot take over the running process's sockets; binding afresh"
            );
            (None, Inherited::default())
        }
    }
}

/// A duplicate of every socket this process accepts on, for a next process.
fn offer(
    listeners: &'static [(impl Copy, ListenerSpec)],
    sockets: &[Vec<Vec<std::net::TcpListener>>],
    admin: Option<(SocketAddr, &std::net::TcpListener)>,
) -> io::Result<Offer> {
    let mut offer = Offer::default();
    for worker in sockets {
        for ((_, spec), share) in listeners.iter().zip(worker) {
            let role = Role::Listener(spec.name.to_owned());
            for socket in share {
                let (role, bind) = (role.clone(), spec.bind);
                offer.add(Label { role, bind }, socket)?;
            }
        }
    }
    if let Some((bind, socket)) = admin {
        offer.add(
            Label {
                role: Role::Admin,
                bind,
            },
            socket,
        )?;
    }
    Ok(offer)
}

/// The hand-off steps left once this process serves: letting the predecessor go, then
/// answering for the next upgrade.
struct HandOver {
    predecessor: Option<Predecessor>,
    path: Option<PathBuf>,
    offer: Option<Offer>,
    stop: watch::Sender<bool>,
    process: Process,
}

impl HandOver {
    /// Blocks (bounded) on the control connections: run off the event loop.
    fn complete(self) -> Option<Handoffs> {
        if let Some(predecessor) = self.predecessor {
            match predecessor.release() {
                Ok(()) => tracing::info!("the previous process let go of its sockets"),
                Err(error) => tracing::warn!(
                    %error,
                    "the previous process did not confirm that it let go; if it still runs, \
                     stop it with SIGTERM"
                ),
            }
        }
        let (path, offer, stop) = (self.path?, self.offer?, self.stop);
        let front = Arc::clone(self.process.front());
        let on_release = move || {
            front.close_after_each_answer();
            stop.send_replace(true);
        };
        match handoff::serve(&path, offer, on_release) {
            Ok(handoffs) => Some(handoffs),
            Err(error) => {
                tracing::warn!(
                    %error,
                    path = %path.display(),
                    "cannot answer hand-offs; a next process will bind afresh"
                );
                None
            }
        }
    }
}

/// Completes once the stop flag is raised.
async fn wait(mut stopped: tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once everything stops.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Reloads certificates on each SIGHUP until `stop` completes.
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    reloader: CertReloader,
    stop: impl Future<Output = ()>,
) {
    let mut stop = pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading certificates");
                let reloader = reloader.clone();
                // Reading files blocks: off the event loop. Failures are logged by `reload`.
                let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
            }
        }
    }
}

/// Reopens the access log on each SIGUSR1 (after logrotate moved it) until `stop` completes.
async fn reopen_on_user1(
    mut user1: tokio::signal::unix::Signal,
    process: &Process,
    stop: impl Future<Output = ()>,
) {
    let mut stop = pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = user1.recv() => {
                if let Some(log) = &process.observer().access_log {
                    tracing::info!("SIGUSR1: reopening the access log");
                    log.reopen();
                }
            }
        }
    }
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

/// Binds the admin listener (one socket, served by worker 0).
fn bind_admin(addr: SocketAddr) -> Result<std::net::TcpListener, BindError> {
    let error = |source| BindError {
        listener: "admin",
        addr,
        source,
    };
    let socket = std::net::TcpListener::bind(addr).map_err(error)?;
    socket.set_nonblocking(true).map_err(error)?;
    Ok(socket)
}

fn adopt(socket: std::net::TcpListener) -> io::Result<TcpListener> {
    TcpListener::from_std(socket)
}

/// One worker: adopts its sockets (`[listener]`, one or more each) into the current runtime
/// and serves with `gateway` of `process` until `shutdown`.
async fn serve_worker<G: Gateway>(
    listeners: &'static [(G::Listener, ListenerSpec)],
    sockets: Vec<Vec<std::net::TcpListener>>,
    tls: Vec<Option<Arc<TlsListener>>>,
    (gateway, process): (Arc<G>, Process),
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
        drain_deadline: DRAIN_DEADLINE,
    }
    .serve(shutdown)
    .await;
}

/// Gives each worker its sockets of each listener, as `[worker][listener][socket]`. The
/// sockets a listener takes over from a running process are dealt out in turn, so that every
/// one is accepted from (a worker may get several); a worker left without one, and every
/// worker of a listener that took none over, binds a socket of its own with `SO_REUSEPORT`, so
/// the kernel spreads incoming connections over them. Port 0 is resolved by the first socket
/// (or the one taken over); the others bind the port it got.
fn bind_per_worker(
    listeners: &'static [(impl Copy, ListenerSpec)],
    workers: usize,
    inherited: &mut Inherited,
) -> Result<Vec<Vec<Vec<std::net::TcpListener>>>, BindError> {
    let mut sockets: Vec<Vec<Vec<std::net::TcpListener>>> = (0..workers)
        .map(|_| Vec::with_capacity(listeners.len()))
        .collect();
    for (_, spec) in listeners {
        let error = |source| BindError {
            listener: spec.name,
            addr: spec.bind,
            source,
        };
        let taken = inherited.listener(spec.name, spec.bind);
        let mut addr = match taken.first() {
            Some(socket) => socket.local_addr().map_err(error)?,
            None => {
                not_served_by_another(spec.bind).map_err(error)?;
                spec.bind
            }
        };
        for (worker_sockets, mut share) in sockets.iter_mut().zip(deal(taken, workers)) {
            if share.is_empty() {
                let socket = reuseport_listener(addr).map_err(error)?;
                addr = socket.local_addr().map_err(error)?;
                share.push(socket);
            }
            worker_sockets.push(share);
        }
    }
    Ok(sockets)
}

/// Deals `items` into `hands` hands in turn: hand `i` gets items `i`, `i + hands`, ...
fn deal<T>(items: Vec<T>, hands: usize) -> Vec<Vec<T>> {
    let mut dealt: Vec<Vec<T>> = (0..hands).map(|_| Vec::new()).collect();
    for (index, item) in items.into_iter().enumerate() {
        dealt[index % hands].push(item);
    }
    dealt
}

/// Fails with `AddrInUse` when another process already listens at `addr` (port 0 aside): the
/// worker sockets share their port with `SO_REUSEPORT`, which would as gladly share it with a
/// second copy of the proxy. A socket without that option cannot be bound where any socket
/// listens, so one is bound and closed first. Outside a hand-off, where the sockets are taken
/// over rather than bound.
fn not_served_by_another(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind(addr).map(drop)
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A subscriber set earlier (by an embedding program) wins.
    let _ = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

/// What the start-up lines say: the admin listener's address, and each listener's.
struct Announcement {
    admin: Option<SocketAddr>,
    listeners: Vec<(&'static ListenerSpec, SocketAddr)>,
}

impl Announcement {
    /// The addresses of `admin` and of worker 0's first socket of each listener.
    fn of(
        admin: Option<&std::net::TcpListener>,
        listeners: &'static [(impl Copy, ListenerSpec)],
        sockets: &[Vec<std::net::TcpListener>],
    ) -> io::Result<Announcement> {
        let no_socket = || io::Error::other("a listener without a socket");
        Ok(Announcement {
            admin: admin.map(std::net::TcpListener::local_addr).transpose()?,
            listeners: listeners
                .iter()
                .zip(sockets)
                .map(|((_, spec), share)| {
                    Ok((spec, share.first().ok_or_else(no_socket)?.local_addr()?))
                })
                .collect::<io::Result<_>>()?,
        })
    }

    fn print(&self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if let Some(admin) = self.admin {
            writeln!(out, "admin http://{admin}")?;
        }
        for (spec, addr) in &self.listeners {
            let scheme = match (spec.mode, spec.tls) {
                (ListenerMode::Http, None) => "http",
                (ListenerMode::Http, Some(_)) => "https",
                (ListenerMode::Tcp(_), _) => "tcp",
            };
            writeln!(out, "listening {} {scheme}://{addr}", spec.name)?;
        }
        out.flush()
    }
}

/// The signals `run` handles, registered up front.
struct Signals {
    stop: StopSignals,
    /// Reloads certificates.
    hangup: tokio::signal::unix::Signal,
    /// Reopens the access log.
    user1: tokio::signal::unix::Signal,
}

/// SIGTERM and SIGINT.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            stop: StopSignals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            },
            hangup: signal(SignalKind::hangup())?,
            user1: signal(SignalKind::user_defined1())?,
        })
    }
}

impl StopSignals {
    async fn recv(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("SIGTERM: draining"),
            _ = self.interrupt.recv() => tracing::info!("SIGINT: draining"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::deal;

    #[test]
    fn dealing_gives_every_item_to_one_hand_in_turn() {
        assert_eq!(deal(vec![1, 2, 3], 3), [vec![1], vec![2], vec![3]]);
        assert_eq!(deal(vec![1, 2, 3, 4, 5], 2), [vec![1, 3, 5], vec![2, 4]]);
        assert_eq!(deal(vec![1, 2], 3), [vec![1], vec![2], vec![]]);
        assert_eq!(deal(Vec::<u8>::new(), 2), [Vec::<u8>::new(), Vec::new()]);
    }
}
