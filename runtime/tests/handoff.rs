//! Upgrades by hand-off, with `run` in child processes (this test binary again, as in
//! `run.rs`): a new process takes over the running one's sockets with another worker count and
//! answers on the same port with its own routes; the old one answers the next request of a
//! keep-alive connection with `Connection: close` and exits 0. A peer that answers garbage, or
//! a socket file left by a process that is gone, leaves the new process binding afresh.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, ExitCode, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use edge_runtime::{
    not_found, respond, Cx, Gateway, ListenerLimits, ListenerMode, ListenerSpec, Request, Response,
};
use socket2::{Domain, SockAddr, Socket, Type};

const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    Web,
}

static LISTENERS: &[(Listener, ListenerSpec)] = &[(
    Listener::Web,
    ListenerSpec {
        name: "web",
        bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        limits: ListenerLimits::DEFAULT,
        mode: ListenerMode::Http,
        tls: None,
    },
)];

/// The test binary's own arguments are the harness's: the proxy gets none.
const NO_ARGS: [std::ffi::OsString; 0] = [];

static SITE: edge_runtime::Site<Listener> = edge_runtime::Site {
    listeners: LISTENERS,
    routes: &[],
    admin: None,
    access_log: None,
    request_id: edge_runtime::RequestIdSpec::DEFAULT,
    tracing: None,
    shutdown: edge_runtime::ShutdownSpec::DEFAULT,
    workers: 0,
    error_pages: &[],
    via: None,
    build: edge_testkit::TEST_BUILD,
};

/// The old build answers `/version` with `old`; the new one with `new`, and has `/added`.
struct Edge {
    new: bool,
}

impl Gateway for Edge {
    type Listener = Listener;

    async fn handle(&self, _listener: Listener, req: Request, _cx: &Cx) -> Response {
        match (req.uri().path(), self.new) {
            ("/version", false) => respond(200, "old\n"),
            ("/version", true) => respond(200, "new\n"),
            ("/added", true) => respond(200, "added\n"),
            _ => not_found(),
        }
    }
}

/// The child side: `EDGE_RUN_CHILD` is `old` or `new`.
#[test]
fn child() {
    let Ok(build) = std::env::var("EDGE_RUN_CHILD") else {
        return;
    };
    let new = build == "new";
    let code = edge_runtime::run_with_args(&SITE, |_| Ok(Edge { new }), NO_ARGS);
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// A child of `build` with `workers` workers and the hand-off socket at `handoff`, its stdout
/// and stderr as channels of lines.
struct Proxy {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Proxy {
    fn start(build: &str, workers: usize, handoff: &Path) -> Proxy {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env("EDGE_RUN_CHILD", build)
            .env("EDGE_WORKERS", workers.to_string())
            .env("EDGE_HANDOFF", handoff)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Proxy {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits (bounded) for the start-up line and returns the address.
    fn announced(&self) -> SocketAddr {
        loop {
            // The test harness prints `test child ... ` first, without a line break.
            let line = self.stdout.recv_timeout(PATIENCE).expect("a start-up line");
            if let Some((_, url)) = line.split_once("listening web http://") {
                return url.parse().unwrap();
            }
        }
    }

    /// Waits (bounded) for the child to exit and returns its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..(PATIENCE.as_millis() / 20) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("the child did not exit in time");
    }

    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.exit_code()
    }

    /// Every line the child wrote to stderr until now (it has exited).
    fn log(&self) -> Vec<String> {
        std::iter::from_fn(|| self.stderr.recv_timeout(PATIENCE).ok()).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of `stream`, read on a thread so that waits can be bounded.
fn lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

/// An answer: its head (lower-cased) and body.
struct Answer {
    head: String,
    body: String,
}

/// Sends `GET path` on `stream` (kept alive) and reads the answer.
fn get(stream: &mut TcpStream, path: &str) -> Answer {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the answer's head ends");
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).unwrap().to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .expect("a content length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    Answer {
        head,
        body: String::from_utf8(body).unwrap(),
    }
}

/// A unix `SOCK_SEQPACKET` socket listening at `path`, as a hand-off socket is.
fn unix_listener(path: &Path) -> Socket {
    let _ = std::fs::remove_file(path);
    let socket = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    socket.bind(&SockAddr::unix(path).unwrap()).unwrap();
    socket.listen(1).unwrap();
    socket
}

#[test]
fn a_new_process_takes_over_and_the_old_one_drains_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let handoff = dir.path().join("edge.sock");
    let mut old = Proxy::start("old", 3, &handoff);
    let addr = old.announced();
    let mut kept = TcpStream::connect(addr).unwrap();
    let answer = get(&mut kept, "/version");
    assert_eq!(answer.body, "old\n");
    assert!(
        !answer.head.contains("connection: close"),
        "{}",
        answer.head
    );

    // Three sockets (one per worker of the old process) go to two workers.
    let mut new = Proxy::start("new", 2, &handoff);
    assert_eq!(
        new.announced(),
        addr,
        "the new process listens on the same port"
    );

    // The old process is draining, but answers the next request on a connection it kept.
    let answer = get(&mut kept, "/version");
    assert_eq!(answer.body, "old\n");
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    assert_eq!(
        kept.read(&mut [0u8; 1]).unwrap(),
        0,
        "closed after the answer"
    );
    assert_eq!(old.exit_code(), Some(0));
    let log = old.log().join("\n");
    assert!(log.contains("a new process took over"), "{log}");

    for _ in 0..20 {
        let mut fresh = TcpStream::connect(addr).unwrap();
        assert_eq!(get(&mut fresh, "/added").body, "added\n");
        assert_eq!(get(&mut fresh, "/version").body, "new\n");
    }

    // The new process answers for the next upgrade, and removes its socket when stopped.
    assert!(handoff.exists());
    assert_eq!(new.terminate(), Some(0));
    assert!(!handoff.exists());
    let log = new.log().join("\n");
    assert!(log.contains("taking over the listening sockets"), "{log}");
    assert!(log.contains("the previous process let go"), "{log}");
}

#[test]
fn a_peer_answering_garbage_or_none_leaves_the_new_process_binding_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let handoff = dir.path().join("edge.sock");
    let peer = unix_listener(&handoff);
    let answering = thread::spawn(move || {
        let (control, _) = peer.accept().unwrap();
        control.send(b"HTTP/1.1 400 Bad Request").unwrap();
        // Closed once the new process has read it, which it does before going on.
        let _ = control.recv(&mut [std::mem::MaybeUninit::uninit(); 64]);
    });
    let mut new = Proxy::start("new", 1, &handoff);
    let addr = new.announced();
    answering.join().unwrap();
    assert_eq!(
        get(&mut TcpStream::connect(addr).unwrap(), "/added").body,
        "added\n"
    );
    assert_eq!(new.terminate(), Some(0));
    let log = new.log().join("\n");
    assert!(log.contains("binding afresh"), "{log}");

    // A socket file whose process is gone.
    drop(unix_listener(&handoff));
    assert!(handoff.exists());
    let mut again = Proxy::start("new", 1, &handoff);
    let addr = again.announced();
    assert_eq!(
        get(&mut TcpStream::connect(addr).unwrap(), "/added").body,
        "added\n"
    );
    assert_eq!(again.terminate(), Some(0));
    let log = again.log().join("\n");
    assert!(!log.contains("binding afresh"), "{log}");
}
