//! Tests of `run`, the whole-process entry point: start-up line, serving, SIGTERM, bind errors.
//!
//! `run` owns the process, so each case re-runs this test binary as a child that calls it (the
//! `child` test, which does nothing unless `EDGE_RUN_CHILD` is set) and watches it from outside.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, ExitCode, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use edge_runtime::{
    not_found, respond, Cx, Gateway, ListenerLimits, ListenerMode, ListenerSpec, Request, Response,
};

const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    Web,
}

static LISTENERS: &[(Listener, ListenerSpec)] = &[(
    Listener::Web,
    ListenerSpec {
        name: "web",
        bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0),
        limits: ListenerLimits::DEFAULT,
        mode: ListenerMode::Http,
    },
)];

struct Edge;

impl Gateway for Edge {
    type Listener = Listener;

    async fn handle(&self, listener: Listener, req: Request, _cx: &Cx) -> Response {
        match (listener, req.uri().path()) {
            (Listener::Web, "/hello") => respond(200, "hello from edge\n"),
            _ => not_found(),
        }
    }
}

/// The child side: `EDGE_RUN_CHILD` is `serve`, or `taken:PORT` to bind a port in use.
#[test]
fn child() {
    let Ok(mode) = std::env::var("EDGE_RUN_CHILD") else {
        return;
    };
    let listeners = match mode.strip_prefix("taken:") {
        None => LISTENERS,
        Some(port) => Box::leak(Box::new([(
            Listener::Web,
            ListenerSpec {
                name: "web",
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port.parse().unwrap()),
                limits: ListenerLimits::DEFAULT,
                mode: ListenerMode::Http,
            },
        )])),
    };
    let code = edge_runtime::run(listeners, || Edge);
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

fn spawn_child(mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("EDGE_RUN_CHILD", mode)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
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

/// Waits (bounded) for the child to exit and returns its exit code.
fn wait(child: &mut Child) -> Option<i32> {
    for _ in 0..(PATIENCE.as_millis() / 20) {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    panic!("the child did not exit in time");
}

#[test]
fn run_announces_serves_and_exits_0_on_sigterm() {
    let mut child = spawn_child("serve");
    let stdout = lines(child.stdout.take().unwrap());
    let addr = loop {
        let line = stdout.recv_timeout(PATIENCE).expect("a start-up line");
        // The test harness prints `test child ... ` first, without a line break.
        if let Some((_, url)) = line.split_once("listening web http://") {
            break url.parse::<SocketAddr>().unwrap();
        }
    };
    assert_ne!(addr.port(), 0);

    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello from edge\n"), "{answer}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(wait(&mut child), Some(0));
}

#[test]
fn run_reports_a_taken_port_and_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut child = spawn_child(&format!("taken:{port}"));
    let stderr = lines(child.stderr.take().unwrap());
    assert_eq!(wait(&mut child), Some(1));
    // Ends when the child's stderr closes, which it has by now.
    let errors: Vec<String> = std::iter::from_fn(|| stderr.recv_timeout(PATIENCE).ok()).collect();
    let expected = format!("edge: cannot bind listener `web` to 127.0.0.1:{port}: ");
    assert!(
        errors.iter().any(|line| line.starts_with(&expected)),
        "{errors:?}"
    );
}
