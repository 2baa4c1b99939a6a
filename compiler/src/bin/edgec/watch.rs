//! `edgec watch FILE`: serves a config and keeps serving its latest good version. On every
//! save of the file (or a file it includes) the edit is checked first, and a config with
//! errors is reported and swapped for nothing; a good one is built, and the new proxy takes
//! the listening sockets from the running one through the upgrade hand-off (`EDGE_HANDOFF`),
//! which drains and exits. Each swap prints what changed and how long each step took.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::changes::{Changes, Summary};
use crate::{check, scaffold, FileChecks};

/// How often the watched files are read for a change.
const POLL: Duration = Duration::from_millis(100);

/// How long a new proxy may take to announce itself (it waits for its first health checks,
/// each bounded) before it is given up and the running one keeps serving.
const START: Duration = Duration::from_secs(60);

/// The files of a config, as last read.
struct Watched(Vec<(PathBuf, Option<Vec<u8>>)>);

impl Watched {
    fn read(paths: impl IntoIterator<Item = PathBuf>) -> Watched {
        Watched(
            paths
                .into_iter()
                .map(|path| {
                    let content = std::fs::read(&path).ok();
                    (path, content)
                })
                .collect(),
        )
    }

    /// The same files, read again.
    fn again(&self) -> Watched {
        Watched::read(self.0.iter().map(|(path, _)| path.clone()))
    }

    /// Whether any file differs from what was read.
    fn changed(&self) -> bool {
        self.0
            .iter()
            .any(|(path, content)| std::fs::read(path).ok() != *content)
    }

    /// Waits until a file changes and stays unchanged for one poll (an editor may write a
    /// file in several steps); when the change was first seen.
    fn wait_for_change(&self) -> Instant {
        while !self.changed() {
            std::thread::sleep(POLL);
        }
        let seen = Instant::now();
        let mut settled = self.again();
        loop {
            std::thread::sleep(POLL);
            if !settled.changed() {
                return seen;
            }
            settled = self.again();
        }
    }
}

/// The proxy serving, and those still draining after a hand-over.
struct Proxies {
    serving: Option<Child>,
    draining: Vec<Child>,
}

impl Proxies {
    /// Forgets the drained proxies that have exited.
    fn reap(&mut self) {
        self.draining
            .retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        if let Some(child) = &mut self.serving {
            if let Ok(Some(status)) = child.try_wait() {
                say(&format!(
                    "the proxy exited ({status}); the next good save starts one"
                ));
                self.serving = None;
            }
        }
    }
}

/// Watches `file` until interrupted.
pub fn run(file: &Path, dev: bool, files: FileChecks) -> Result<(), String> {
    let handoff = std::env::var_os("EDGE_HANDOFF").map_or_else(
        || std::env::temp_dir().join(format!("edgec-watch-{}.sock", std::process::id())),
        PathBuf::from,
    );
    let mut proxies = Proxies {
        serving: None,
        draining: Vec::new(),
    };
    let mut served: Option<Summary> = None;
    let mut watched = Watched::read([file.to_owned()]);
    say(&format!(
        "watching {}; each good save is served (Ctrl-C stops)",
        file.display()
    ));
    let mut saved = Instant::now();
    loop {
        let checking = Instant::now();
        let checked = check(file, files);
        let checking = checking.elapsed();
        match checked {
            Err(error) => {
                if !error.is_empty() {
                    say(&error);
                }
                say("not swapped: the running proxy keeps the last good config");
            }
            Ok((_, analysis)) => {
                watched = Watched::read(
                    analysis
                        .sources
                        .files()
                        .map(|source| PathBuf::from(&source.name)),
                );
                let summary = analysis.model.as_ref().map(Summary::of).unwrap_or_default();
                if let Some(before) = &served {
                    let changes = Changes::between(before, &summary);
                    if changes.is_empty() {
                        say("no route, pool or policy changed");
                    } else {
                        say(&changes.to_string());
                    }
                }
                let building = Instant::now();
                match scaffold::build(file, &analysis.sources, dev, files.files_at_start) {
                    Err(error) => say(&format!("{error}; the running proxy keeps serving")),
                    Ok(binary) => {
                        let built = building.elapsed();
                        let handing = Instant::now();
                        if start(&binary, &handoff, &mut proxies) {
                            served = Some(summary);
                            say(&format!("serving {:.1} s after the save: check {:.2} s, build {:.1} s, hand-over {:.2} s",
                                saved.elapsed().as_secs_f64(),
                                checking.as_secs_f64(),
                                built.as_secs_f64(),
                                handing.elapsed().as_secs_f64(),
                            ));
                        }
                    }
                }
            }
        }
        proxies.reap();
        saved = watched.wait_for_change();
    }
}

/// Writes each line of `text` behind `edgec: ` on standard error, in one write: the proxies
/// log to the same terminal, and a line written in pieces could be split by theirs.
fn say(text: &str) {
    let lines: String = text
        .lines()
        .map(|line| format!("edgec: {line}\n"))
        .collect();
    let _ = std::io::stderr().write_all(lines.as_bytes());
}

/// Starts `binary`, which takes the sockets of the proxy serving (if any) over `handoff`;
/// whether it announced itself. Its standard output is passed on.
fn start(binary: &Path, handoff: &Path, proxies: &mut Proxies) -> bool {
    let spawned = Command::new(binary)
        .env("EDGE_HANDOFF", handoff)
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            say(&format!("cannot start {}: {error}", binary.display()));
            return false;
        }
    };
    let (announced, announcement) = mpsc::channel();
    let stdout = child.stdout.take().expect("a piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            let _ = announced.send(());
        }
    });
    let deadline = Instant::now() + START;
    loop {
        if announcement.recv_timeout(POLL).is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            say(&format!(
                "the new proxy exited ({status}) before serving; nothing swapped"
            ));
            return false;
        }
        if Instant::now() > deadline {
            say(&format!(
                "the new proxy did not serve within {} s; stopped, nothing swapped",
                START.as_secs()
            ));
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
    }
    if let Some(old) = proxies.serving.replace(child) {
        proxies.draining.push(old);
    }
    true
}
