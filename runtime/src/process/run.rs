//! `run`: the generated proxy as the whole OS process. Reads its command line (`args`), loads
//! everything it will read before binding (`startup`; `--check` stops there), binds (`bind`),
//! takes over from a predecessor and offers its sockets to a successor (`handoff`), announces
//! its listeners (and tells a service manager, `notify`), then serves one worker per core
//! (`server`) and answers signals (`signals`, `upgrade`) until it drains.

use std::{
    io::{self, IsTerminal, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    downstream::front::Front,
    downstream::listener::{ListenerMode, ListenerSpec},
    downstream::tls::TlsListener,
    process::args::{Action, Args, USAGE},
    process::bind::{adopt, bind_admin, bind_per_worker},
    process::handoff::{self, Handoffs, Inherited, Label, Offer, Predecessor, Role, StateLine},
    process::reload::CertReloader,
    process::server::serve_worker,
    process::signals::{reload_on_hangup, reopen_on_user1, wait, Signals, Stop, StopSignals},
    process::startup::{load, Loaded},
    process::steer::{self, WeightAdoption},
    process::upgrade::{upgrade_on_user2, Upgrader},
    process::{admin, notify, site::Site, Process},
    root,
    upstream::pools::Pools,
    upstream::split::{Adoption, Splits},
    worker, Gateway, LoadError,
};

fn reloader(tls: &[Option<Arc<TlsListener>>], process: &Process) -> CertReloader {
    CertReloader::new(tls.iter().flatten().cloned(), process.pools().clone())
}

/// Runs a gateway as the whole process, as its command line asks (`--help` lists the flags):
/// serving by default; `--check` loads everything and binds nothing; `--version` and
/// `--print-config` tell the build. Relative file paths start from the run-time root
/// (`--root`, `EDGE_ROOT`, else the config's folder where it was built).
///
/// To serve, it loads every TLS listener's certificates and every file the gateway's policies
/// and pools name (calling `make()` once with the [`Process`] it builds), binds every listener
/// once per worker (one worker per core, or `EDGE_WORKERS`) on `SO_REUSEPORT` sockets, waits
/// until the pools' names have been resolved (each for up to its connect timeout) and each
/// active health check has run once (each for up to its interval and timeout) and each `jwt`
/// policy's keys at a URL have been fetched once (each for up to 10 s), prints
/// `listening NAME http://ADDR` per listener (`https://ADDR` for a TLS one, `tcp://ADDR` for a
/// `mode tcp` one) on stdout, tells a service manager it is ready (`NOTIFY_SOCKET`), and serves
/// with one single-threaded runtime per worker until SIGTERM or SIGINT; then, after the site's
/// drain delay on SIGTERM (`/ready` answering 503 meanwhile), every worker stops accepting and
/// drains for up to its drain timeout (open tunnels are closed then), the admin listener
/// answering until the end, and the process exits 0 ([`crate::ShutdownSpec`]). SIGHUP re-reads
/// the TLS files ([`CertReloader::reload`]) and the `jwt` key files ([`crate::KeySets::reload`]); SIGUSR2 starts the binary again to take over (see
/// `upgrade`). A file that cannot be used, a listener that cannot be bound, or a policy that
/// cannot be built, is reported on stderr in one `edge: ...` line before anything is bound
/// where it can be, and exits 1.
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
    run_with_args(site, make, std::env::args_os().skip(1))
}

/// [`run`] with the given arguments (those after the program's name) rather than the
/// process's: for a program that embeds the proxy and has a command line of its own.
pub fn run_with_args<G: Gateway>(
    site: &'static Site<G::Listener>,
    make: impl FnOnce(&Process) -> Result<G, LoadError>,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> ExitCode {
    let args = match Args::parse(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("edge: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let said = match args.action {
        Action::Version => writeln!(io::stdout(), "{}", site.build.version_line()),
        Action::PrintConfig => write!(io::stdout(), "{}", site.build.config_text),
        Action::Help => write!(io::stdout(), "{USAGE}"),
        Action::Serve | Action::Check => return start(site, make, args),
    };
    match said {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("edge: cannot write to stdout: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Loads, then with `--check` reports and exits; else binds and serves.
fn start<G: Gateway>(
    site: &'static Site<G::Listener>,
    make: impl FnOnce(&Process) -> Result<G, LoadError>,
    args: Args,
) -> ExitCode {
    root::set(root::choose(args.root, site.build.root));
    init_logging();
    let loaded = match load(site, make) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("edge: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.action == Action::Check {
        println!(
            "edge: {} ({}): every file loads; nothing was bound",
            site.build.config_name,
            &site.build.config_sha256[..12.min(site.build.config_sha256.len())]
        );
        return ExitCode::SUCCESS;
    }
    serve(site, loaded)
}

/// Binds, hands over, announces and serves until the process drains.
fn serve<G: Gateway>(site: &'static Site<G::Listener>, loaded: Loaded<G, G::Listener>) -> ExitCode {
    let Loaded {
        listeners,
        tls,
        workers,
        process,
        admin_token,
        runtimes,
        gateway,
    } = loaded;
    let handoff_path = handoff::configured();
    let (predecessor, mut inherited) = take_over(handoff_path.as_deref());
    let state = inherited.take_state();
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
        offer(
            listeners,
            &sockets,
            admin,
            (process.splits(), process.pools()),
        )
        .inspect_err(|error| {
            tracing::warn!(%error, "cannot offer the listening sockets to a next process");
        })
        .ok()
    });
    let announcement = Announcement::of(admin.as_ref(), listeners, &sockets[0]);
    let upgrader = Upgrader::new(handoff_path.is_some());
    let signals = {
        // Signals register on worker 0's runtime.
        let _entered = runtimes[0].enter();
        Signals::install()
    };
    // Pools with servers given by name resolve them once, health checks run once (their
    // checkers start with the addresses), and `jwt` keys at a URL are fetched once, before
    // anything is served.
    runtimes[0].block_on(async {
        process.pools().started().await;
        process.key_sets().started().await;
    });
    // After the pools' first resolution, so that servers given by name have their addresses.
    adopt_state(state, process.splits(), process.pools());
    // Installed before the start-up lines, so a signal sent right after them is not lost.
    let signals = match signals {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("edge: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = site.shutdown;
    // Raised on SIGTERM or SIGINT (not on a hand-over): the admin listener then answers until
    // every worker has drained.
    let signalled = AtomicBool::new(false);
    let finishing = Finishing::new(workers);
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
            let (process, finishing) = (process.clone(), &finishing);
            scope.spawn(move || {
                worker::enter(index);
                let drain = shutdown.drain_timeout;
                let serving = serve_worker(
                    listeners,
                    sockets,
                    tls,
                    (gateway, process),
                    drain,
                    wait(stopped),
                );
                runtime.block_on(serving);
                finishing.one_done();
            });
        }
        let (runtime, sockets) = first;
        worker::enter(0);
        runtime.block_on(async {
            let Signals {
                stop: mut stop_signals,
                hangup,
                user1,
                user2,
            } = signals;
            let front = Arc::clone(process.front());
            let (signalled, finishing) = (&signalled, &finishing);
            let stopping = async {
                tokio::select! {
                    signal = stop_signals.recv() => {
                        if let Some(handoffs) = handoffs.get() {
                            handoffs.withdraw();
                        }
                        signalled.store(true, Ordering::Release);
                        notify::stopping();
                        delay_drain(signal, &mut stop_signals, shutdown.drain_delay, &front).await;
                        stop.send_replace(true);
                    }
                    // Stopped by a hand-off.
                    () = wait(stopped.clone()) => {}
                }
            };
            let serving = async {
                let drain = shutdown.drain_timeout;
                let gateway = (gateway, process.clone());
                serve_worker(
                    listeners,
                    sockets,
                    tls,
                    gateway,
                    drain,
                    wait(stopped.clone()),
                )
                .await;
                finishing.one_done();
            };
            let starting = async {
                // Lets the accept loops that `serving` spawns start before the predecessor
                // stops accepting; connections arriving in between wait in the sockets' queues.
                tokio::task::yield_now().await;
                // Ready (and the service's main process) before the predecessor is told to
                // let go: a service manager that saw it exit first would stop the service.
                notify::ready();
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
                if cfg!(debug_assertions) {
                    tracing::warn!(
                        "built for development (edgec --dev): slower, not for production"
                    );
                }
                if let Err(error) = announcement.and_then(|announcement| announcement.print()) {
                    tracing::warn!(%error, "cannot write the start-up lines to stdout");
                }
            };
            let key_sets = process.key_sets().clone();
            let reloading = reload_on_hangup(hangup, reloader, key_sets, wait(stopped.clone()));
            let reopening = reopen_on_user1(user1, &process, wait(stopped.clone()));
            let upgrading =
                upgrade_on_user2(user2, upgrader, stopped.clone(), wait(stopped.clone()));
            let admin_stop = {
                let (stopped, drained) = (stopped.clone(), finishing.drained());
                async move {
                    wait(stopped).await;
                    // After a hand-over the successor answers on the same socket: stop now.
                    if signalled.load(Ordering::Acquire) {
                        wait(drained).await;
                    }
                }
            };
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
            tokio::join!(stopping, serving, starting, reloading, reopening, upgrading, admin);
        });
    });
    // The spans of the last requests, sent before the process goes.
    if let Some(tracer) = &process.front().observer.tracer {
        tracer.flush(FLUSH_SPANS_WITHIN);
    }
    ExitCode::SUCCESS
}

/// How long a stopping process waits for its last spans to be exported.
const FLUSH_SPANS_WITHIN: Duration = Duration::from_secs(5);

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

/// Puts in force the state the running process passed, where this config agrees, and says
/// what became of each.
fn adopt_state(state: Vec<StateLine>, splits: &Splits, pools: &Pools) {
    for line in state {
        match line {
            StateLine::Server {
                pool,
                server,
                state,
            } => {
                let steered = pools
                    .rosters()
                    .into_iter()
                    .filter(|(name, _)| *name == pool)
                    .flat_map(|(_, backends)| backends)
                    .filter(|backend| backend.spec.upstream.to_string() == server)
                    .map(|backend| backend.steer(state, "the previous process".to_owned()))
                    .count();
                let state = state.name();
                if steered > 0 {
                    tracing::info!(
                        pool,
                        server,
                        state,
                        "keeping the server state set while the previous process ran"
                    );
                } else {
                    tracing::info!(pool, server, state, "the config no longer has this server: dropping the state set while the previous process ran");
                }
            }
            StateLine::Weight {
                pool,
                server,
                configured,
                live,
            } => match steer::adopt_weight(pools, (&pool, &server), configured, live) {
                WeightAdoption::Kept => {
                    tracing::info!(
                        pool,
                        server,
                        weight = live,
                        "keeping the server weight set while the previous process ran"
                    )
                }
                WeightAdoption::ConfigChanged { configured } => {
                    tracing::info!(pool, server, weight = configured, dropped = live, "the config changed this server's weight: it replaces the one set while the previous process ran")
                }
                WeightAdoption::NoSuchServer => {
                    tracing::info!(pool, server, dropped = live, "the config no longer has this server: dropping the weight set while the previous process ran")
                }
            },
            StateLine::Split(changed) => {
                let route = changed.route.as_str();
                let weights = || {
                    let pools = changed.pools.iter();
                    pools
                        .map(|(pool, _, live)| format!("{pool} {live}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                match splits.adopt(&changed) {
                    Adoption::Kept => {
                        tracing::info!(route, weights = %weights(), "keeping the split weights set while the previous process ran")
                    }
                    Adoption::ConfigChanged => {
                        tracing::info!(route, dropped = %weights(), "the config changed this route's split: its weights replace those set while the previous process ran")
                    }
                    Adoption::NoSuchSplit => {
                        tracing::info!(route, dropped = %weights(), "the config no longer splits this route: dropping the weights set while the previous process ran")
                    }
                    Adoption::Refused(error) => {
                        tracing::warn!(route, %error, "refusing the split weights the previous process passed")
                    }
                }
            }
        }
    }
}

/// A duplicate of every socket this process accepts on, for a next process.
fn offer(
    listeners: &'static [(impl Copy, ListenerSpec)],
    sockets: &[Vec<Vec<std::net::TcpListener>>],
    admin: Option<(SocketAddr, &std::net::TcpListener)>,
    (splits, pools): (&Splits, &Pools),
) -> io::Result<Offer> {
    let mut offer = Offer::with_state(splits.clone(), pools.clone());
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
            front.hand_over();
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

/// On SIGTERM, with a drain delay: `/ready` answers 503 (and HTTP/1 answers close their
/// connections) while everything is still served, for `delay` or until a second signal, so
/// that load balancers stop sending clients before the listeners stop accepting. SIGINT starts
/// the drain at once.
async fn delay_drain(first: Stop, signals: &mut StopSignals, delay: Duration, front: &Front) {
    front.begin_draining();
    if first == Stop::Interrupt || delay.is_zero() {
        tracing::info!(signal = ?first, "draining");
        return;
    }
    tracing::info!(?delay, "SIGTERM: not ready; serving until the drain starts");
    tokio::select! {
        () = tokio::time::sleep(delay) => tracing::info!("draining"),
        second = signals.recv() => tracing::info!(signal = ?second, "draining now"),
    }
}

/// Counts the workers still serving; the last to finish its drain raises [`Finishing::drained`].
struct Finishing {
    left: AtomicUsize,
    done: watch::Sender<bool>,
}

impl Finishing {
    fn new(workers: usize) -> Finishing {
        Finishing {
            left: AtomicUsize::new(workers),
            done: watch::Sender::new(false),
        }
    }

    fn one_done(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.send_replace(true);
        }
    }

    /// Raised once every worker has drained.
    fn drained(&self) -> watch::Receiver<bool> {
        self.done.subscribe()
    }
}
