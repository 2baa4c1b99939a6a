//! TLS towards upstream servers and upgraded connections as a user sees them: a proxy built by
//! `edgec build` reaches an HTTPS server of a private CA that wants a client certificate,
//! refuses one the built-in roots do not know, tunnels an upgraded connection until it falls
//! idle, and stops in one line when a TLS file is gone at start-up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_e2e::build_and_start_with;
use edge_testkit::{pki::Pki, HttpClient};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// An HTTPS server on its own threads: answers each request with `body` and closes.
fn https_server(config: Arc<ServerConfig>, body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(connection) = ServerConnection::new(config) else {
                    return;
                };
                let mut tls = StreamOwned::new(connection, tcp);
                if read_head(&mut tls).is_none() {
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    addr
}

/// A server that agrees to any upgrade (`101`), then echoes bytes until the client closes.
fn upgrade_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            std::thread::spawn(move || {
                let Some(head) = read_head(&mut tcp) else {
                    return;
                };
                let protocol = head
                    .lines()
                    .find_map(|line| line.strip_prefix("upgrade: "))
                    .unwrap_or("none")
                    .to_owned();
                let switched = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: {protocol}\r\n\r\n"
                );
                if tcp.write_all(switched.as_bytes()).is_err() {
                    return;
                }
                let mut buffer = [0u8; 4096];
                while let Ok(n @ 1..) = tcp.read(&mut buffer) {
                    if tcp.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Reads a request head byte by byte (so nothing after it is consumed), lower-cased.
fn read_head(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).to_ascii_lowercase())
}

#[test]
fn tls_pools_and_upgraded_connections_through_a_built_proxy() {
    let servers = Pki::new("Upstream CA");
    let clients = Pki::new("Client CA");
    let server_cert = servers.issue(&["localhost", "127.0.0.1"], "upstream");
    let client_cert = clients.issue(&["edge"], "edge");
    let mtls = https_server(
        servers.server_config(&server_cert, Some(&clients), &[]),
        "mtls",
    );
    let private = https_server(servers.server_config(&server_cert, None, &[]), "private");
    let upgrades = upgrade_server();
    let config = format!(
        r#"listener web {{
    bind 127.0.0.1:0
}}

pool secure {{
    server https://{mtls}
    tls {{
        ca "ca.pem"
        cert "client.crt"
        key "client.key"
    }}
}}

pool no_client_cert {{
    server https://{mtls}
    tls {{ ca "ca.pem" }}
}}

pool built_in_roots {{
    server https://{private}
}}

pool chat {{
    server {upgrades}
    timeouts {{ tunnel 500ms }}
}}

route secure {{
    on web
    path /secure
    forward secure
}}

route no_client_cert {{
    on web
    path /no-client-cert
    forward no_client_cert
}}

route built_in_roots {{
    on web
    path /roots
    forward built_in_roots
}}

route chat {{
    on web
    path /chat
    upgrade websocket echo
    forward chat
}}

route plain_chat {{
    on web
    path /plain-chat
    forward chat
}}
"#
    );
    let files = [
        ("ca.pem", servers.ca.pem()),
        ("client.crt", client_cert.cert_pem),
        ("client.key", client_cert.key_pem),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(f, c)| (*f, c.as_str())).collect();
    let (dir, mut proxy) = build_and_start_with("upstream", &config, &files, 1);
    let web = proxy.addr("web");

    let client = HttpClient::new();
    let secure = client.get(&format!("http://{web}/secure"));
    assert_eq!((secure.status, secure.body.as_str()), (200, "mtls"));
    assert_eq!(
        client.get(&format!("http://{web}/no-client-cert")).status,
        502
    );
    assert_eq!(client.get(&format!("http://{web}/roots")).status, 502);

    // Without `upgrade echo` only WebSockets are tunnelled: another protocol goes as a plain
    // request, and the server's `101` to a request that asked no upgrade is a bad gateway.
    let mut other = TcpStream::connect(web).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    other
        .write_all(
            b"GET /plain-chat HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade, close\r\nUpgrade: echo\r\n\r\n",
        )
        .unwrap();
    let mut refused = String::new();
    let _ = other.read_to_string(&mut refused);
    assert!(refused.starts_with("HTTP/1.1 502"), "{refused}");

    // An upgraded connection echoes both ways, then is closed after 500 ms of silence.
    let mut tcp = TcpStream::connect(web).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(
        b"GET /chat HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push(line.to_ascii_lowercase());
    }
    assert!(head.contains(&"upgrade: echo\r\n".to_owned()), "{head:?}");
    assert!(
        head.contains(&"connection: upgrade\r\n".to_owned()),
        "{head:?}"
    );
    for message in ["hello", "world"] {
        tcp.write_all(message.as_bytes()).unwrap();
        let mut echoed = vec![0u8; message.len()];
        reader.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, message.as_bytes());
    }
    let quiet = Instant::now();
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(proxy.terminate().and_then(|s| s.code()), Some(0));

    // The CA bundle is read again at start-up: without it the proxy stops in one line.
    let ca = dir.path().join("ca.pem");
    std::fs::remove_file(&ca).unwrap();
    let mut child = Command::new(dir.path().join("proxy"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the proxy started without its CA bundle");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let expected = format!(
        "edge: pool `secure`: cannot read CA file {}: ",
        ca.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
