//! The signals `run` answers: SIGTERM and SIGINT drain, SIGHUP reloads certificates and `jwt`
//! key files, SIGUSR1
//! reopens the access log, SIGUSR2 upgrades the binary (see `upgrade`).

use std::{
    future::Future,
    io::{self},
    pin::pin,
};

use crate::{policy::KeySets, process::reload::CertReloader, process::Process};

/// Completes once the stop flag is raised.
pub(super) async fn wait(mut stopped: tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once everything stops.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Reloads certificates and `jwt` key files on each SIGHUP until `stop` completes.
pub(super) async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    reloader: CertReloader,
    key_sets: KeySets,
    stop: impl Future<Output = ()>,
) {
    let mut stop = pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading certificates and key files");
                let (reloader, key_sets) = (reloader.clone(), key_sets.clone());
                // Reading files blocks: off the event loop. Failures are logged by `reload`.
                let _ = tokio::task::spawn_blocking(move || {
                    let _ = reloader.reload();
                    key_sets.reload();
                })
                .await;
            }
        }
    }
}

/// The signals `run` handles, registered up front.
pub(super) struct Signals {
    pub(super) stop: StopSignals,
    /// Reloads certificates and key files.
    pub(super) hangup: tokio::signal::unix::Signal,
    /// Reopens the access log.
    pub(super) user1: tokio::signal::unix::Signal,
    /// Starts the binary again, for it to take over.
    pub(super) user2: tokio::signal::unix::Signal,
}

/// SIGTERM and SIGINT.
pub(super) struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn install() -> io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            stop: StopSignals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            },
            hangup: signal(SignalKind::hangup())?,
            user1: signal(SignalKind::user_defined1())?,
            user2: signal(SignalKind::user_defined2())?,
        })
    }
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// SIGTERM: an orchestrator or a service manager, which load balancers may still send
    /// clients to for a while.
    Terminate,
    /// SIGINT: a person at a terminal.
    Interrupt,
}

impl StopSignals {
    /// The next SIGTERM or SIGINT.
    pub(super) async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.terminate.recv() => Stop::Terminate,
            _ = self.interrupt.recv() => Stop::Interrupt,
        }
    }
}

/// Reopens the access log on each SIGUSR1 (after logrotate moved it) until `stop` completes.
pub(super) async fn reopen_on_user1(
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
