//! SIGUSR2: the binary upgrade as a service manager asks for it (`ExecReload=kill -USR2
//! $MAINPID`). The process starts its own binary again (the path it was started from, so a
//! new build installed there is what starts) with the same arguments and environment. The new
//! process loads and checks everything, takes the listening sockets over through
//! `EDGE_HANDOFF` and tells this one to let go (see `handoff`). When it exits before that (a
//! broken file, say), this one keeps serving and logs why. Without `EDGE_HANDOFF` there is no
//! socket to hand over on, and the signal is refused in the log.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::process::notify;

/// How to start this binary again.
pub(super) struct Upgrader {
    /// The binary's path at start-up; `None` when the system cannot tell it.
    exe: Option<PathBuf>,
    args: Vec<OsString>,
    /// Whether `EDGE_HANDOFF` is set, so a new process can take the sockets over.
    handoff: bool,
    /// Raised while a new process is starting.
    starting: Arc<AtomicBool>,
}

impl Upgrader {
    /// Reads the binary's path and arguments now, before a new build can replace the file.
    pub(super) fn new(handoff: bool) -> Upgrader {
        Upgrader {
            exe: std::env::current_exe().ok(),
            args: std::env::args_os().skip(1).collect(),
            handoff,
            starting: Arc::default(),
        }
    }

    /// Starts the new process; `released` is raised once it has taken over.
    fn start(&self, released: watch::Receiver<bool>) {
        let Some(exe) = self.exe.as_ref().filter(|_| self.handoff) else {
            tracing::error!(
                "SIGUSR2: a binary upgrade needs EDGE_HANDOFF (the socket a new process takes \
                 the listeners over from); nothing changed"
            );
            return;
        };
        if self.starting.swap(true, Ordering::AcqRel) {
            tracing::warn!("SIGUSR2: an upgrade is already under way");
            return;
        }
        notify::upgrading();
        let mut child = match Command::new(exe)
            .args(&self.args)
            .stdin(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(%error, exe = %exe.display(), "SIGUSR2: cannot start the new binary; still serving");
                self.starting.store(false, Ordering::Release);
                notify::ready();
                return;
            }
        };
        tracing::info!(pid = child.id(), exe = %exe.display(), "SIGUSR2: started the new binary");
        let starting = Arc::clone(&self.starting);
        // Waits off the event loop, on a thread the exit does not wait for: the new process
        // outlives this one when the upgrade succeeds.
        std::thread::spawn(move || {
            let status = child.wait();
            starting.store(false, Ordering::Release);
            if !*released.borrow() {
                match status {
                    Ok(status) => {
                        tracing::error!(%status, "the upgrade failed: the new process exited before taking over; still serving")
                    }
                    Err(error) => {
                        tracing::error!(%error, "the upgrade failed: cannot wait for the new process; still serving")
                    }
                }
                notify::ready();
            }
        });
    }
}

/// Upgrades on each SIGUSR2 until `stop` completes.
pub(super) async fn upgrade_on_user2(
    mut user2: tokio::signal::unix::Signal,
    upgrader: Upgrader,
    released: watch::Receiver<bool>,
    stop: impl Future<Output = ()>,
) {
    let mut stop = pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = user2.recv() => upgrader.start(released.clone()),
        }
    }
}
