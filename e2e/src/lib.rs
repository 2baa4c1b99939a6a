//! What the end-to-end tests share: `edgec` (built once per test run), configs built into
//! proxy binaries in fresh folders, and those proxies run as child processes that report
//! where they listen. Backends, clients and a real Redis come from `edge-testkit`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Runs `edgec` with the given arguments, as [`edgec_command`] sets it up.
pub fn edgec(args: &[&str]) -> Output {
    edgec_command(args).output().expect("edgec runs")
}

/// `edgec` with the given arguments and the shared test cache for built proxies. The proxies
/// are built without the whole-program optimisation of the generated crate's release profile:
/// it changes their speed, not their behaviour, and would make each of the tests' many builds
/// four times longer.
pub fn edgec_command(args: &[&str]) -> Command {
    let mut command = Command::new(edgec_binary());
    command
        .args(args)
        .env("EDGE_CACHE_DIR", cache_dir())
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "4");
    command
}

/// The `edgec` binary, built on first use by the cargo that runs the tests, with the profile
/// and into the target folder of the running test binary (`TARGET/PROFILE/deps/TEST`), so it
/// is always the workspace's current `edgec` (cargo only provides a binary's path to the tests
/// of its own package).
pub fn edgec_binary() -> &'static Path {
    static EDGEC: OnceLock<PathBuf> = OnceLock::new();
    EDGEC.get_or_init(build_edgec)
}

fn build_edgec() -> PathBuf {
    let (target_dir, profile_dir) = target_folders();
    let profile = match profile_dir.file_name().and_then(OsStr::to_str) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("no profile folder in {}", profile_dir.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", "edge-compiler", "--bin", "edgec"])
        .arg("--manifest-path")
        .arg(workspace)
        .arg("--profile")
        .arg(profile)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building edgec: {}",
        stderr(&output)
    );
    profile_dir.join(format!("edgec{}", std::env::consts::EXE_SUFFIX))
}

/// The target folder and the profile folder in it of the running test binary, which cargo
/// puts in `TARGET/PROFILE/deps/`.
fn target_folders() -> (&'static Path, &'static Path) {
    static TEST: OnceLock<PathBuf> = OnceLock::new();
    let test = TEST.get_or_init(|| std::env::current_exe().expect("the test binary's path"));
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in TARGET/PROFILE/deps");
    let target_dir = profile_dir.parent().expect("a target folder");
    (target_dir, profile_dir)
}

/// Builds `config` (saved as `NAME.edge` in a fresh folder) with `edgec build` and starts the
/// proxy, waiting for its `listeners` start-up lines. The folder lives as long as the proxy.
pub fn build_and_start(
    name: &str,
    config: &str,
    listeners: usize,
) -> (tempfile::TempDir, ProxyProcess) {
    build_and_start_with(name, config, &[], listeners)
}

/// [`build_and_start`] with `files` (name, content) written beside the config first, for the
/// key sets, schemas and password files a config names.
pub fn build_and_start_with(
    name: &str,
    config: &str,
    files: &[(&str, &str)],
    listeners: usize,
) -> (tempfile::TempDir, ProxyProcess) {
    let (dir, binary) = build_with(name, config, files);
    let proxy = ProxyProcess::start(&binary, listeners);
    (dir, proxy)
}

/// Builds `config` (saved as `NAME.edge` in a fresh folder, with `files` beside it) with
/// `edgec build`; the binary is `proxy` in that folder, which lives as long as the `TempDir`.
pub fn build_with(
    name: &str,
    config: &str,
    files: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (file, content) in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let file = dir.path().join(format!("{name}.edge"));
    std::fs::write(&file, config).unwrap();
    let binary = dir.path().join("proxy");
    let output = edgec(&[
        "build",
        file.to_str().unwrap(),
        "-o",
        binary.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}\n{config}", stderr(&output));
    (dir, binary)
}

/// A connection to `addr` whose reads give up after 30 s, for raw-socket tests.
pub fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// `EDGE_CACHE_DIR` when set (CI shares it with the smoke test), else `edge-cache` in the
/// target folder's `tmp` (where cargo points integration tests for scratch files).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("EDGE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_folders().0.join("tmp").join("edge-cache"))
}

/// Where a test keeps a file for people to look at after the run (a screenshot):
/// `e2e-artifacts/NAME` in the target folder, the folder created.
pub fn artifact(name: &str) -> PathBuf {
    let dir = target_folders().0.join("e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("the artifacts folder");
    dir.join(name)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A proxy binary running as a child process; stopped with SIGTERM when dropped.
pub struct ProxyProcess {
    child: Child,
    /// Listener name → bound address, from the lines the proxy prints at start-up.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The admin listener's address, when the config has one.
    pub admin: Option<SocketAddr>,
}

impl ProxyProcess {
    pub fn start(binary: &Path, listeners: usize) -> ProxyProcess {
        ProxyProcess::start_with(binary, listeners, &[])
    }

    /// [`ProxyProcess::start`] with these environment variables set.
    pub fn start_with(binary: &Path, listeners: usize, env: &[(&str, &OsStr)]) -> ProxyProcess {
        let mut child = Command::new(binary)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the proxy starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut found = Vec::new();
        let mut admin = None;
        while found.len() < listeners {
            let line = lines
                .next()
                .expect("the proxy prints its listeners")
                .unwrap();
            if let Some(url) = line.strip_prefix("admin ") {
                admin = Some(url.split_once("://").unwrap().1.parse().unwrap());
            }
            if let Some(rest) = line.strip_prefix("listening ") {
                let (name, url) = rest.split_once(' ').unwrap();
                let addr = url.split_once("://").unwrap().1.parse().unwrap();
                found.push((name.to_owned(), addr));
            }
        }
        ProxyProcess {
            child,
            listeners: found,
            admin,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(name, _)| name == listener)
            .map(|(_, addr)| *addr)
            .unwrap()
    }

    /// Sends SIGTERM and waits (at most 10 s) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().ok()?;
        self.wait(Duration::from_secs(10))
    }

    /// Waits at most `limit` for the proxy to exit on its own; its exit status.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().ok()? {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hand-off socket for binary upgrades, in a folder of its own: a proxy started with it
/// (one worker) takes the listening sockets and the live state of the one running.
pub struct Handoff {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Handoff {
    pub fn new() -> Handoff {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.sock");
        Handoff { _dir: dir, path }
    }

    /// Starts `binary` on this hand-off socket, as [`ProxyProcess::start`] does.
    pub fn start(&self, binary: &Path, listeners: usize) -> ProxyProcess {
        let env = [
            ("EDGE_HANDOFF", self.path.as_os_str()),
            ("EDGE_WORKERS", OsStr::new("1")),
        ];
        ProxyProcess::start_with(binary, listeners, &env)
    }

    /// Starts `binary` to take over from `old`, and waits (at most 40 s) for `old` to hand
    /// over, drain and exit cleanly.
    pub fn take_over(
        &self,
        old: &mut ProxyProcess,
        binary: &Path,
        listeners: usize,
    ) -> ProxyProcess {
        let new = self.start(binary, listeners);
        let status = old
            .wait(Duration::from_secs(40))
            .expect("the old process exits after the hand-off");
        assert!(status.success(), "{status}");
        new
    }
}

impl Default for Handoff {
    fn default() -> Handoff {
        Handoff::new()
    }
}
