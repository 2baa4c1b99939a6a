//! Live `jwt` keys as a user runs them: a proxy built by `edgec build` whose policy fetches its
//! JWK set from an HTTPS key server of a private CA (a real server on loopback, counting its
//! fetches), follows a key rotation the first time a token of the new key arrives, does not
//! let tokens with made-up `kid`s hammer the key server, keeps its keys when the server goes
//! down, and comes up (refusing tokens) when the server is not there yet. And a policy reading
//! a JWKS file reads it again on SIGHUP, keeping its keys when the new file is broken.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use edge_e2e::build_and_start_with;
use edge_testkit::{pki::Pki, HttpClient};
use http_body_util::Full;
use jsonwebtoken::{encode, EncodingKey, Header};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

const KEY_A: &[u8] = b"the first key, of at least 32 bytes";
const KEY_B: &[u8] = b"the second key, of at least 32 bytes";

/// A JWK set of HS256 keys, each a `kid` and its secret.
fn jwks(keys: &[(&str, &[u8])]) -> String {
    use base64::Engine;
    let keys: Vec<String> = keys
        .iter()
        .map(|(kid, secret)| {
            let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
            format!(r#"{{"kty":"oct","kid":"{kid}","alg":"HS256","k":"{k}"}}"#)
        })
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn token(kid: &str, secret: &[u8]) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let claims = serde_json::json!({ "sub": "alice", "exp": now.as_secs() + 600 });
    encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// What the key server serves, and what it saw.
struct Served {
    jwks: String,
    fetches: usize,
    down: bool,
}

/// An HTTPS key server on its own threads: answers every request with the current JWK set,
/// `Cache-Control: max-age=3600`, and closes.
struct KeyServer {
    addr: SocketAddr,
    served: Arc<Mutex<Served>>,
}

impl KeyServer {
    fn start(config: Arc<ServerConfig>, jwks: String) -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        KeyServer::on(listener, config, jwks)
    }

    fn on(listener: TcpListener, config: Arc<ServerConfig>, jwks: String) -> KeyServer {
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Served {
            jwks,
            fetches: 0,
            down: false,
        }));
        let shared = Arc::clone(&served);
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                if shared.lock().unwrap().down {
                    // The listener is dropped: connections are refused from now on.
                    return;
                }
                let (config, served) = (Arc::clone(&config), Arc::clone(&shared));
                std::thread::spawn(move || answer(tcp, config, &served));
            }
        });
        KeyServer { addr, served }
    }

    fn serve(&self, jwks: String) {
        self.served.lock().unwrap().jwks = jwks;
    }

    fn fetches(&self) -> usize {
        self.served.lock().unwrap().fetches
    }

    /// Stops listening.
    fn stop(&self) {
        self.served.lock().unwrap().down = true;
        // Wakes the accept loop, which then returns.
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer(tcp: TcpStream, config: Arc<ServerConfig>, served: &Mutex<Served>) {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let Ok(connection) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(connection, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let jwks = {
        let mut served = served.lock().unwrap();
        served.fetches += 1;
        served.jwks.clone()
    };
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{jwks}",
        jwks.len()
    );
    let _ = tls.write_all(answer.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// The status of `GET url` with `token` as a bearer token.
fn status(client: &HttpClient, url: &str, token: &str) -> u16 {
    let req = hyper::Request::get(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    client.send(req).status
}

fn config(keys: &str) -> String {
    format!(
        r#"listener web {{
    bind 127.0.0.1:0
}}

policy auth = jwt {{
{keys}
}}

route api {{
    on web
    use auth
    respond 200 "welcome"
}}
"#
    )
}

fn fetched_from(server: SocketAddr) -> String {
    config(&format!(
        "    jwks_url \"https://{server}/jwks.json\"\n    jwks_ca \"ca.pem\""
    ))
}

#[test]
fn fetched_keys_follow_a_rotation_and_outlive_the_key_server() {
    let pki = Pki::new("Key server CA");
    let leaf = pki.issue(&["127.0.0.1"], "keys");
    let server = KeyServer::start(
        pki.server_config(&leaf, None, &[b"http/1.1"]),
        jwks(&[("a", KEY_A)]),
    );
    let ca = pki.ca.pem();
    let (_dir, proxy) = build_and_start_with(
        "jwks_url",
        &fetched_from(server.addr),
        &[("ca.pem", &ca)],
        1,
    );
    assert_eq!(server.fetches(), 1, "the keys are fetched before serving");
    let client = HttpClient::new();
    let url = format!("http://{}/orders", proxy.addr("web"));
    assert_eq!(status(&client, &url, &token("a", KEY_A)), 200);
    assert_eq!(server.fetches(), 1, "a known key needs no fetch");

    // Rotation: the first token of the new key makes the proxy fetch again, and passes.
    server.serve(jwks(&[("b", KEY_B)]));
    assert_eq!(status(&client, &url, &token("b", KEY_B)), 200);
    assert_eq!(server.fetches(), 2, "one fetch for the rotation");
    // The retired key's kid is unknown now; the fetch it would start is within the limit.
    assert_eq!(status(&client, &url, &token("a", KEY_A)), 401);

    // Made-up kids within the limit's 30 s of that fetch: refused at once, no fetch.
    let started = Instant::now();
    for i in 0..50 {
        let bogus = token(&format!("bogus-{i}"), KEY_B);
        assert_eq!(status(&client, &url, &bogus), 401);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused without waiting for a fetch"
    );
    assert_eq!(server.fetches(), 2, "no fetch within the limit");

    // The key server goes away: the keys fetched last still verify.
    server.stop();
    for _ in 0..5 {
        assert_eq!(status(&client, &url, &token("b", KEY_B)), 200);
    }
}

#[test]
fn the_proxy_comes_up_without_its_key_server_and_fetches_once_it_is_there() {
    let pki = Pki::new("Key server CA");
    let leaf = pki.issue(&["127.0.0.1"], "keys");
    // A port nobody listens on yet.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ca = pki.ca.pem();
    let (_dir, proxy) =
        build_and_start_with("jwks_late", &fetched_from(addr), &[("ca.pem", &ca)], 1);
    let client = HttpClient::new();
    let url = format!("http://{}/orders", proxy.addr("web"));
    assert_eq!(status(&client, &url, &token("a", KEY_A)), 401);

    let server = KeyServer::on(
        TcpListener::bind(addr).unwrap(),
        pki.server_config(&leaf, None, &[b"http/1.1"]),
        jwks(&[("a", KEY_A)]),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut passed = false;
    while !passed && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        passed = status(&client, &url, &token("a", KEY_A)) == 200;
    }
    assert!(passed, "the keys were fetched once the server was there");
    assert!(server.fetches() >= 1);
}

#[test]
fn a_key_file_is_read_again_on_sighup() {
    let file = config("    jwks \"jwks.json\"");
    let (dir, proxy) = build_and_start_with(
        "jwks_file",
        &file,
        &[("jwks.json", &jwks(&[("a", KEY_A)]))],
        1,
    );
    let client = HttpClient::new();
    let url = format!("http://{}/orders", proxy.addr("web"));
    assert_eq!(status(&client, &url, &token("a", KEY_A)), 200);
    assert_eq!(status(&client, &url, &token("b", KEY_B)), 401);
    let hangup = || {
        let pid = proxy.id().to_string();
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };

    std::fs::write(dir.path().join("jwks.json"), jwks(&[("b", KEY_B)])).unwrap();
    hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut passed = false;
    while !passed && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        passed = status(&client, &url, &token("b", KEY_B)) == 200;
    }
    assert!(passed, "the new key verifies after SIGHUP");
    assert_eq!(status(&client, &url, &token("a", KEY_A)), 401);

    // A broken file keeps the keys read before.
    std::fs::write(dir.path().join("jwks.json"), "{ broken").unwrap();
    hangup();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(status(&client, &url, &token("b", KEY_B)), 200);
}
