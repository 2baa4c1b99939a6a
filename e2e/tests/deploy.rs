//! A proxy as it is deployed: built on a machine without its certificates and keys
//! (`edgec build --files-at-start`), given them at a run-time root where it runs, checked
//! with `--check` before it binds, telling its build (`--version`, `--print-config`,
//! `edge_build_info`), and run under a service manager's notification socket, through a
//! binary upgrade on SIGUSR2. One config (TLS and a JWT policy) is built once for all.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edge_e2e::{connect, edgec, stderr, ProxyProcess};
use edge_testkit::{pki::Pki, HttpClient};
use jsonwebtoken::{encode, EncodingKey, Header};
use rustls::{pki_types::ServerName, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const CONFIG: &str = r#"# TLS and a key set, none of whose files exist where it is built.
listener web {
    bind 127.0.0.1:0
    tls {
        cert "certs/site.crt"
        key "certs/site.key"
    }
}

admin {
    bind 127.0.0.1:0
}

policy auth = jwt {
    jwks "keys/jwks.json"
}

route api {
    on web
    use auth
    respond 200 "hello\n"
}
"#;

/// The HS256 key of the key set.
const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

/// The proxy, built once from `CONFIG` in a folder holding nothing else, and what `edgec`
/// said while building it.
fn built() -> &'static (PathBuf, String) {
    static BUILT: OnceLock<(PathBuf, String)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let config = dir.join("deployed.edge");
        std::fs::write(&config, CONFIG).unwrap();
        let binary = dir.join("proxy");
        let output = edgec(&[
            "build",
            "--files-at-start",
            config.to_str().unwrap(),
            "-o",
            binary.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        (binary, stderr(&output))
    })
}

fn binary() -> &'static Path {
    &built().0
}

/// A run-time root holding every file the config names, certified by `pki`.
fn root(pki: &Pki) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let leaf = pki.issue(&["localhost"], "localhost");
    std::fs::create_dir_all(root.path().join("certs")).unwrap();
    std::fs::create_dir_all(root.path().join("keys")).unwrap();
    std::fs::write(root.path().join("certs/site.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(root.path().join("certs/site.key"), &leaf.key_pem).unwrap();
    std::fs::write(root.path().join("keys/jwks.json"), jwks()).unwrap();
    root
}

fn jwks() -> String {
    use base64::Engine;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{k}"}}]}}"#)
}

fn token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let claims = serde_json::json!({ "sub": "alice", "exp": exp });
    encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

/// Runs the proxy with `args` and `env` to its exit.
fn run(args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("EDGE_ROOT")
        .envs(env.iter().copied())
        .output()
        .expect("the proxy runs")
}

/// `GET /` over TLS (trusting `pki`), with a bearer token when given: the answer's head and
/// body.
fn get(pki: &Pki, addr: SocketAddr, token: Option<&str>) -> String {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let tls = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = ClientConnection::new(Arc::new(tls), name).unwrap();
    let mut stream = StreamOwned::new(connection, connect(addr));
    let authorization = token.map_or_else(String::new, |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: localhost\r\n{authorization}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn status(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

#[test]
fn files_absent_at_build_time_are_checked_where_the_proxy_runs() {
    let said = &built().1;
    for file in ["certs/site.crt", "certs/site.key", "keys/jwks.json"] {
        assert!(
            said.contains(&format!("`{file}` is not here")),
            "edgec notes each deferred file:\n{said}"
        );
    }
    let pki = Pki::new("Deploy CA");
    let root = root(&pki);
    let root_env = [("EDGE_ROOT", root.path().as_os_str())];

    // Nothing at the built-in root (the build folder): refused, naming the file.
    let refused = run(&["--check"], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.starts_with("edge: listener `web`: cannot read certificate file ")
            && message.contains("certs/site.crt"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    // Everything at the root, given by flag or variable.
    let root_flag = root.path().to_str().unwrap();
    let checked = run(&["--check", "--root", root_flag], &[]);
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("every file loads"));
    assert!(run(&["--check"], &root_env).status.success());

    // A broken key set, then a missing one: refused with the policy and the file named.
    let jwks = root.path().join("keys/jwks.json");
    std::fs::write(&jwks, "{\"keys\": [").unwrap();
    let broken = run(&["--check"], &root_env);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stderr(&broken).starts_with("edge: policy `auth`: "),
        "{}",
        stderr(&broken)
    );
    std::fs::remove_file(&jwks).unwrap();
    let missing = run(&[], &root_env);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "a start without it fails too"
    );
    let message = stderr(&missing);
    assert!(
        message.contains("policy `auth`: cannot read JWKS file")
            && message.contains("keys/jwks.json"),
        "{message}"
    );

    // With every file in place it starts and serves.
    std::fs::write(&jwks, self::jwks()).unwrap();
    let proxy = ProxyProcess::start_with(binary(), 1, &root_env);
    let addr = proxy.addr("web");
    assert_eq!(status(&get(&pki, addr, None)), "401");
    let answer = get(&pki, addr, Some(&token()));
    assert_eq!(status(&answer), "200", "{answer}");
    assert!(answer.ends_with("hello\n"), "{answer}");
}

#[test]
fn the_binary_tells_its_version_config_and_build() {
    let version = run(&["--version"], &[]);
    assert!(version.status.success());
    let line = String::from_utf8(version.stdout).unwrap();
    let digest = sha256_hex(CONFIG);
    assert!(
        line.starts_with(&format!(
            "edge {} (deployed.edge sha256:{digest}, built ",
            env!("CARGO_PKG_VERSION")
        )),
        "{line}"
    );

    let printed = run(&["--print-config"], &[]);
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), CONFIG);

    let help = run(&["--help"], &[]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--check"));
    let wrong = run(&["--chek"], &[]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).starts_with("edge: unknown argument `--chek`"));

    let pki = Pki::new("Deploy CA");
    let root = root(&pki);
    let proxy = ProxyProcess::start_with(binary(), 1, &[("EDGE_ROOT", root.path().as_os_str())]);
    let admin = proxy.admin.expect("an admin listener");
    let metrics = HttpClient::new()
        .get(&format!("http://{admin}/metrics"))
        .body;
    let series = format!(
        "edge_build_info{{version=\"{}\",config=\"deployed.edge\",config_sha256=\"{digest}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.contains(&series), "{metrics}");
}

/// A notification socket as systemd's: the datagrams a proxy sends to it, one string each.
struct Manager {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Manager {
    fn new() -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Manager {
            socket,
            _dir: dir,
            path,
        }
    }

    /// The next notification; fails the test after 30 s without one.
    fn next(&self) -> String {
        let mut buf = [0; 1024];
        let n = self
            .socket
            .recv(&mut buf)
            .expect("a notification within 30 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// The value of `KEY=` in a notification.
fn field<'a>(notification: &'a str, key: &str) -> Option<&'a str> {
    notification
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// Kills a process the test did not start itself (the upgraded proxy) when dropped.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_service_manager_hears_ready_and_a_binary_upgrade_on_sigusr2() {
    let pki = Pki::new("Deploy CA");
    let root = root(&pki);
    let manager = Manager::new();
    let handoff = tempfile::tempdir().unwrap();
    let handoff_path = handoff.path().join("handoff.sock");
    let env = [
        ("EDGE_ROOT", root.path().as_os_str()),
        ("NOTIFY_SOCKET", manager.path.as_os_str()),
        ("EDGE_HANDOFF", handoff_path.as_os_str()),
    ];
    let mut old = ProxyProcess::start_with(binary(), 1, &env);
    let addr = old.addr("web");
    let ready = manager.next();
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready}");
    assert_eq!(
        field(&ready, "MAINPID"),
        Some(old.id().to_string().as_str())
    );

    // A new binary that cannot start (its key set broke): the old one keeps serving.
    let key_set = root.path().join("keys/jwks.json");
    std::fs::write(&key_set, "not json").unwrap();
    signal(old.id(), "USR2");
    assert_eq!(field(&manager.next(), "RELOADING"), Some("1"));
    let still = manager.next();
    assert_eq!(field(&still, "READY"), Some("1"), "{still}");
    assert_eq!(
        field(&still, "MAINPID"),
        Some(old.id().to_string().as_str())
    );
    assert_eq!(status(&get(&pki, addr, Some(&token()))), "200");

    // Fixed: the new process takes over, becomes the main process, and the old one exits.
    std::fs::write(&key_set, jwks()).unwrap();
    signal(old.id(), "USR2");
    assert_eq!(field(&manager.next(), "RELOADING"), Some("1"));
    let taken = manager.next();
    assert_eq!(field(&taken, "READY"), Some("1"), "{taken}");
    let new_pid: u32 = field(&taken, "MAINPID").unwrap().parse().unwrap();
    let _reap = Reap(new_pid);
    assert_ne!(new_pid, old.id());
    let exit = old
        .wait(Duration::from_secs(20))
        .expect("the old process exits");
    assert!(exit.success(), "{exit:?}");
    assert_eq!(status(&get(&pki, addr, Some(&token()))), "200");

    // SIGTERM to the new main process: it says it is stopping.
    signal(new_pid, "TERM");
    assert_eq!(field(&manager.next(), "STOPPING"), Some("1"));
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
