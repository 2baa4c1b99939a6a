//! Tests of `run`, the whole-process entry point: start-up line, serving, SIGTERM, bind errors,
//! TLS start-up errors and certificate reloads on SIGHUP.
//!
//! `run` owns the process, so each case re-runs this test binary as a child that calls it (the
//! `child` test, which does nothing unless `EDGE_RUN_CHILD` is set) and watches it from outside.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, ExitCode, Stdio},
    sync::{mpsc, Arc},
    thread,
    time::Duration,
};

use edge_runtime::{
    not_found, respond, CertSpec, Cx, Gateway, ListenerLimits, ListenerMode, ListenerSpec, Request,
    Response, TlsSpec,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::{
    pki_types::{CertificateDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore,
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
        tls: None,
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

/// The child side: `EDGE_RUN_CHILD` is `serve`, `taken:PORT` to bind a port in use, or
/// `tls:CERT:KEY` to serve HTTPS with that certificate and key file.
#[test]
fn child() {
    let Ok(mode) = std::env::var("EDGE_RUN_CHILD") else {
        return;
    };
    if let Some(files) = mode.strip_prefix("tls:") {
        let (cert, key) = files.split_once(':').unwrap();
        let certs = Box::leak(Box::new([CertSpec {
            names: &[],
            cert: Box::leak(cert.to_owned().into_boxed_str()),
            key: Box::leak(key.to_owned().into_boxed_str()),
        }]));
        let listeners = Box::leak(Box::new([(
            Listener::Web,
            ListenerSpec {
                tls: Some(TlsSpec {
                    certs,
                    client_auth: None,
                    hsts: None,
                }),
                ..LISTENERS[0].1
            },
        )]));
        let code = edge_runtime::run_with_args(site(listeners), |_| Ok(Edge), NO_ARGS);
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
    }
    if mode == "drain" {
        let site = Box::leak(Box::new(edge_runtime::Site {
            admin: Some(edge_runtime::AdminSpec {
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                token_env: None,
            }),
            shutdown: edge_runtime::ShutdownSpec {
                drain_delay: Duration::from_secs(2),
                drain_timeout: Duration::from_secs(5),
            },
            ..*site(LISTENERS)
        }));
        let code = edge_runtime::run_with_args(site, |_| Ok(Edge), NO_ARGS);
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
    }
    if mode == "admin" {
        let site = Box::leak(Box::new(edge_runtime::Site {
            admin: Some(edge_runtime::AdminSpec {
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                token_env: Some("EDGE_TEST_ADMIN_TOKEN"),
            }),
            ..*site(LISTENERS)
        }));
        let code = edge_runtime::run_with_args(site, |_| Ok(Edge), NO_ARGS);
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
    }
    let listeners = match mode.strip_prefix("taken:") {
        None => LISTENERS,
        Some(port) => Box::leak(Box::new([(
            Listener::Web,
            ListenerSpec {
                name: "web",
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port.parse().unwrap()),
                limits: ListenerLimits::DEFAULT,
                mode: ListenerMode::Http,
                tls: None,
            },
        )])),
    };
    let code = edge_runtime::run_with_args(site(listeners), |_| Ok(Edge), NO_ARGS);
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// The test binary's own arguments are the harness's: the proxy gets none.
const NO_ARGS: [std::ffi::OsString; 0] = [];

/// A site of these listeners, without routes, admin listener or access log.
fn site(listeners: &'static [(Listener, ListenerSpec)]) -> &'static edge_runtime::Site<Listener> {
    Box::leak(Box::new(edge_runtime::Site {
        listeners,
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
    }))
}

fn spawn_child(mode: &str) -> Child {
    spawn_child_with(mode, &[])
}

fn spawn_child_with(mode: &str, env: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .envs(env.iter().copied())
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
    let addr = announced(&stdout, "http");
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

    signal(&child, "TERM");
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

/// A second copy of a proxy on an address the first one serves is a start-up error naming the
/// address (as nginx's `bind() failed (98: Address already in use)`), not a silent share of the
/// port through `SO_REUSEPORT`, each copy with its own config.
#[test]
fn a_second_copy_on_a_served_address_is_a_start_up_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut first = spawn_child(&format!("taken:{port}"));
    let stdout = lines(first.stdout.take().unwrap());
    assert_eq!(announced(&stdout, "http").port(), port);

    let mut second = spawn_child(&format!("taken:{port}"));
    let stderr = lines(second.stderr.take().unwrap());
    assert_eq!(wait(&mut second), Some(1));
    let errors: Vec<String> = std::iter::from_fn(|| stderr.recv_timeout(PATIENCE).ok()).collect();
    let expected = format!("edge: cannot bind listener `web` to 127.0.0.1:{port}: ");
    assert!(
        errors
            .iter()
            .any(|line| line.starts_with(&expected) && line.contains("in use")),
        "{errors:?}"
    );
    signal(&first, "TERM");
    assert_eq!(wait(&mut first), Some(0));
}

/// SIGTERM with a drain delay: `/ready` says 503 at once while requests are still served
/// (their answers closing their connections), then the listener stops accepting and the
/// process exits 0.
#[test]
fn sigterm_says_not_ready_serves_through_the_delay_then_drains() {
    let mut child = spawn_child("drain");
    let stdout = lines(child.stdout.take().unwrap());
    let mut admin = None;
    let web = loop {
        let line = stdout.recv_timeout(PATIENCE).expect("the start-up lines");
        if let Some((_, url)) = line.split_once("admin http://") {
            admin = Some(url.parse::<SocketAddr>().unwrap());
        } else if let Some((_, url)) = line.split_once("web http://") {
            break url.parse::<SocketAddr>().unwrap();
        }
    };
    let admin = admin.expect("the admin line comes first");
    let get = |addr: SocketAddr, path: &str| {
        exchange(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        )
    };
    let ready = get(admin, "/ready");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    signal(&child, "TERM");
    // Within the two-second delay: not ready, and still serving.
    let mut not_ready = String::new();
    for _ in 0..50 {
        not_ready = get(admin, "/ready");
        if not_ready.starts_with("HTTP/1.1 503") {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(not_ready.ends_with("draining\n"), "{not_ready}");
    // A kept-alive connection's answer now closes it, so its client reconnects elsewhere.
    let served = exchange(
        web,
        "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    );
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    assert!(
        served
            .to_ascii_lowercase()
            .contains("connection: close\r\n"),
        "{served}"
    );
    // Then the listener stops accepting, and the process exits.
    assert_eq!(wait(&mut child), Some(0));
    assert!(
        TcpStream::connect(web).is_err(),
        "still accepting after the exit"
    );
}

/// One request on a fresh connection to `addr`, read to its end.
fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// The admin listener with `token_env`: every request but the probes needs the bearer token
/// (or, from a browser, the token as a Basic password), a purge needs `Content-Type: text/uri-list` (which no page can send cross-site without a
/// preflight), and a connection that sends no head is closed. Without the variable set, the
/// proxy does not start.
#[test]
fn the_admin_listener_needs_its_token_and_a_purge_its_media_type() {
    let mut unset = spawn_child("admin");
    let stderr = lines(unset.stderr.take().unwrap());
    assert_eq!(wait(&mut unset), Some(1));
    let errors: Vec<String> = std::iter::from_fn(|| stderr.recv_timeout(PATIENCE).ok()).collect();
    assert!(
        errors
            .iter()
            .any(|line| line.contains("EDGE_TEST_ADMIN_TOKEN")),
        "{errors:?}"
    );

    let mut child = spawn_child_with("admin", &[("EDGE_TEST_ADMIN_TOKEN", "s3cret")]);
    let stdout = lines(child.stdout.take().unwrap());
    let admin: SocketAddr = loop {
        let line = stdout.recv_timeout(PATIENCE).expect("an admin line");
        if let Some((_, url)) = line.split_once("admin http://") {
            break url.parse().unwrap();
        }
    };
    let get = |path: &str, token: &str| {
        exchange(
            admin,
            &format!("GET {path} HTTP/1.1\r\nHost: a\r\n{token}Connection: close\r\n\r\n"),
        )
    };
    let bearer = "Authorization: Bearer s3cret\r\n";
    assert!(get("/metrics", "").starts_with("HTTP/1.1 401"));
    assert!(get("/metrics", "Authorization: Bearer s3cre7\r\n").starts_with("HTTP/1.1 401"));
    assert!(get("/status", "").starts_with("HTTP/1.1 401"));
    assert!(get("/metrics", bearer).starts_with("HTTP/1.1 200"));
    // A browser asks its user once, on the Basic challenge, and sends the token as the
    // password (any user name) with every request of the page.
    let refused = get("/", "");
    assert!(
        refused.contains("www-authenticate: Basic realm=\"edge-admin\""),
        "{refused}"
    );
    // `admin:s3cret`, `admin:s3cre7`, `s3cret` without a user name's colon.
    assert!(get("/", "Authorization: Basic YWRtaW46czNjcmV0\r\n").starts_with("HTTP/1.1 200"));
    assert!(get("/stats", "Authorization: basic YWRtaW46czNjcmV0\r\n").starts_with("HTTP/1.1 200"));
    assert!(get("/", "Authorization: Basic YWRtaW46czNjcmU3\r\n").starts_with("HTTP/1.1 401"));
    assert!(get("/", "Authorization: Basic czNjcmV0\r\n").starts_with("HTTP/1.1 401"));
    assert!(get("/healthz", "").starts_with("HTTP/1.1 200"));
    assert!(get("/ready", "").starts_with("HTTP/1.1 200"));

    let purge = |content_type: &str| {
        let body = "http://example.com/\n";
        exchange(
            admin,
            &format!(
                "POST /cache/purge HTTP/1.1\r\nHost: a\r\n{bearer}Content-Type: {content_type}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    for simple in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        assert!(purge(simple).starts_with("HTTP/1.1 415"), "{simple}");
    }
    let purged = purge("text/uri-list");
    assert!(purged.starts_with("HTTP/1.1 200"), "{purged}");

    // A connection that never sends its head is closed (within the admin's 10 s).
    let mut silent = TcpStream::connect(admin).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    silent.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let mut rest = Vec::new();
    assert!(
        silent.read_to_end(&mut rest).is_ok(),
        "still open after 20 s"
    );

    signal(&child, "TERM");
    assert_eq!(wait(&mut child), Some(0));
}

/// A CA and the leaf certificates it issues for `localhost`, as PEM.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// Issues a certificate for `localhost` and writes it and its key to `server.crt` and
    /// `server.key`, replacing what was there. Returns the paths and the certificate.
    fn issue(&self) -> (String, String, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (cert_path, key_path) = (self.path("server.crt"), self.path("server.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path, cert.der().clone())
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).to_str().unwrap().to_owned()
    }

    /// A client that trusts this CA.
    fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

/// Connects over TLS for `localhost`: the certificate served, and the answer to `GET /hello`.
fn https_hello(addr: SocketAddr, config: Arc<ClientConfig>) -> (CertificateDer<'static>, String) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut connection = ClientConnection::new(config, name).unwrap();
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut tls = rustls::Stream::new(&mut connection, &mut socket);
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    // Everything read before an unclean close is kept in `answer`.
    let _ = tls.read_to_end(&mut answer);
    let served = connection.peer_certificates().unwrap()[0].clone();
    (served, String::from_utf8_lossy(&answer).into_owned())
}

/// Waits (bounded) for the child's start-up line for `scheme` and returns the address.
fn announced(stdout: &mpsc::Receiver<String>, scheme: &str) -> SocketAddr {
    let prefix = format!("listening web {scheme}://");
    loop {
        // The test harness prints `test child ... ` first, without a line break.
        let line = stdout.recv_timeout(PATIENCE).expect("a start-up line");
        if let Some((_, url)) = line.split_once(&prefix) {
            return url.parse().unwrap();
        }
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn run_serves_https_and_reloads_certificates_on_sighup() {
    let pki = Pki::new();
    let (cert, key, old) = pki.issue();
    let mut child = spawn_child(&format!("tls:{cert}:{key}"));
    let stdout = lines(child.stdout.take().unwrap());
    let addr = announced(&stdout, "https");

    let (served, answer) = https_hello(addr, pki.client());
    assert_eq!(served, old);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello from edge\n"), "{answer}");

    let (_, _, new) = pki.issue();
    signal(&child, "HUP");
    // The reload runs after the signal arrives: poll new connections, a bounded number of times.
    let mut reloaded = false;
    for _ in 0..500 {
        if https_hello(addr, pki.client()).0 == new {
            reloaded = true;
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(reloaded, "the new certificate was never served");

    signal(&child, "TERM");
    assert_eq!(wait(&mut child), Some(0));
}

#[test]
fn run_reports_a_missing_key_file_and_exits_1() {
    let pki = Pki::new();
    let (cert, _, _) = pki.issue();
    let missing = pki.path("missing.key");
    let mut child = spawn_child(&format!("tls:{cert}:{missing}"));
    let stderr = lines(child.stderr.take().unwrap());
    assert_eq!(wait(&mut child), Some(1));
    let errors: Vec<String> = std::iter::from_fn(|| stderr.recv_timeout(PATIENCE).ok()).collect();
    let expected = format!(
        "edge: listener `web`: cannot read key file {missing}: No such file or directory (os error 2)"
    );
    assert!(errors.contains(&expected), "{errors:?}");
}
