//! The real client behind the proxies in front, as a built proxy learns it.
//!
//! - `accept_proxy`: the client a PROXY protocol header names (version 1 or 2, before plain
//!   HTTP or before a TLS handshake) is the request's client, in the forwarding headers the
//!   backend sees and in a `client_ip` rate limit, which counts each announced client apart
//!   though all arrive from one address. A connection without a header is closed unanswered.
//! - `trusted_proxies`: from a listed peer, the client is the right-most untrusted address of
//!   `X-Forwarded-For`, and its `X-Forwarded-Proto/Host` and `Forwarded` pass; from anyone
//!   else the list names the peer alone and the rest is the proxy's own.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use edge_e2e::{build_and_start_with, connect};
use edge_testkit::{pki::Pki, EchoBackends};
use rustls::{pki_types::ServerName, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

fn config(backend: SocketAddr) -> String {
    format!(
        r#"listener behind_lb {{
    bind 127.0.0.1:0
    accept_proxy on
}}

listener tls_behind_lb {{
    bind 127.0.0.1:0
    accept_proxy on
    tls {{
        cert "site.crt"
        key "site.key"
    }}
}}

pool app {{
    server {backend}
}}

policy one_each = rate_limit {{
    key client_ip
    rate 1/m
    burst 1
}}

route limited {{
    on behind_lb
    path /limited
    use one_each
    forward app
}}

route all {{
    on behind_lb
    forward app
}}

route secure {{
    on tls_behind_lb
    forward app
}}
"#
    )
}

/// A version 1 header for a TCP4 client.
fn v1(client: &str) -> Vec<u8> {
    let (ip, port) = client.split_once(':').unwrap();
    format!("PROXY TCP4 {ip} 127.0.0.1 {port} 80\r\n").into_bytes()
}

/// A version 2 header for a TCP4 client.
fn v2(client: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(client) = client else {
        panic!("IPv4 only here")
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&client.ip().octets());
    header.extend_from_slice(&[127, 0, 0, 1]);
    header.extend_from_slice(&client.port().to_be_bytes());
    header.extend_from_slice(&80u16.to_be_bytes());
    header
}

/// Sends `header` then a GET of `path` on a new connection; the whole answer.
fn get(addr: SocketAddr, header: &[u8], path: &str) -> String {
    let mut stream = connect(addr);
    stream.write_all(header).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn status(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("none")
}

#[test]
fn the_client_a_proxy_header_names_is_the_requests_client() {
    let backends = EchoBackends::start(1);
    let pki = Pki::new("Edge Tests CA");
    let site = pki.issue(&["app.test"], "app.test");
    let files = [
        ("site.crt", site.cert_pem.as_str()),
        ("site.key", site.key_pem.as_str()),
    ];
    let (_dir, proxy) = build_and_start_with("proxied", &config(backends.addrs[0]), &files, 2);
    let plain = proxy.addr("behind_lb");

    // Both versions, the backend told of the announced client, not of the balancer.
    let answer = get(plain, &v1("203.0.113.7:5555"), "/");
    assert_eq!(status(&answer), "200", "{answer}");
    assert!(
        answer.contains("header x-forwarded-for: 203.0.113.7\n"),
        "{answer}"
    );
    assert!(
        answer.contains("header x-real-ip: 203.0.113.7\n"),
        "{answer}"
    );
    let answer = get(plain, &v2("198.51.100.9:6000".parse().unwrap()), "/");
    assert!(
        answer.contains("header x-forwarded-for: 198.51.100.9\n"),
        "{answer}"
    );

    // A limit of one request per client counts each announced client on its own.
    let first = get(plain, &v1("203.0.113.7:5556"), "/limited");
    let again = get(plain, &v1("203.0.113.7:5557"), "/limited");
    let other = get(plain, &v1("203.0.113.8:5558"), "/limited");
    assert_eq!(status(&first), "200", "{first}");
    assert_eq!(status(&again), "429", "{again}");
    assert_eq!(status(&other), "200", "{other}");

    // Without a header: closed, nothing answered, nothing forwarded.
    let mut bare = connect(plain);
    bare.write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let read = bare.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    if let Err(error) = read {
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    }

    // Before a TLS handshake.
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let tls = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut tcp = connect(proxy.addr("tls_behind_lb"));
    tcp.write_all(&v2("192.0.2.77:7000".parse().unwrap()))
        .unwrap();
    let name = ServerName::try_from("app.test").unwrap();
    let connection = ClientConnection::new(Arc::new(tls), name).unwrap();
    let mut stream = StreamOwned::new(connection, tcp);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    assert!(
        answer.contains("header x-forwarded-for: 192.0.2.77\n"),
        "{answer} {read:?}"
    );
    assert!(
        answer.contains("header x-forwarded-proto: https\n"),
        "{answer}"
    );
}

fn trusting_config(backend: SocketAddr) -> String {
    format!(
        r#"listener public {{
    bind 127.0.0.1:0
}}

listener behind_proxies {{
    bind 127.0.0.1:0
    trusted_proxies 127.0.0.0/8 10.0.0.0/8
}}

pool app {{
    server {backend}
}}

policy one_each = rate_limit {{
    key client_ip
    rate 1/m
    burst 1
}}

route public {{
    on public
    forward app
}}

route limited {{
    on behind_proxies
    path /limited
    use one_each
    forward app
}}

route behind {{
    on behind_proxies
    forward app
}}
"#
    )
}

/// A GET of `path` with `fields` (each `Name: value`); the whole answer.
fn get_with(addr: SocketAddr, path: &str, fields: &[&str]) -> String {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n");
    for field in fields {
        request.push_str(field);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn only_trusted_proxies_name_the_client() {
    let backends = EchoBackends::start(1);
    let (_dir, proxy) =
        build_and_start_with("trusting", &trusting_config(backends.addrs[0]), &[], 2);
    let spoofing = [
        "X-Forwarded-For: 198.51.100.4, 203.0.113.9, 10.1.2.3",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: shop.example",
        "Forwarded: for=203.0.113.9;proto=https",
    ];

    // From an untrusted peer: none of it is believed.
    let answer = get_with(proxy.addr("public"), "/", &spoofing);
    assert!(
        answer.contains("header x-forwarded-for: 127.0.0.1\n"),
        "{answer}"
    );
    assert!(answer.contains("header x-real-ip: 127.0.0.1\n"), "{answer}");
    assert!(
        answer.contains("header x-forwarded-proto: http\n"),
        "{answer}"
    );
    assert!(
        answer.contains("header x-forwarded-host: app.test\n"),
        "{answer}"
    );
    assert!(!answer.contains("header forwarded:"), "{answer}");

    // From a trusted one (this test's 127.0.0.1): the client is the right-most address no
    // trusted proxy has, the chain goes on, and the rest passes as sent.
    let behind = proxy.addr("behind_proxies");
    let answer = get_with(behind, "/", &spoofing);
    assert!(
        answer.contains("header x-forwarded-for: 198.51.100.4, 203.0.113.9, 10.1.2.3, 127.0.0.1\n"),
        "{answer}"
    );
    assert!(
        answer.contains("header x-real-ip: 203.0.113.9\n"),
        "{answer}"
    );
    assert!(
        answer.contains("header x-forwarded-proto: https\n"),
        "{answer}"
    );
    assert!(
        answer.contains("header x-forwarded-host: shop.example\n"),
        "{answer}"
    );
    assert!(
        answer.contains("header forwarded: for=203.0.113.9;proto=https\n"),
        "{answer}"
    );

    // A client limit counts the clients the trusted proxies name, each on its own.
    let first = get_with(behind, "/limited", &["X-Forwarded-For: 203.0.113.20"]);
    let again = get_with(behind, "/limited", &["X-Forwarded-For: 203.0.113.20"]);
    let other = get_with(behind, "/limited", &["X-Forwarded-For: 203.0.113.21"]);
    assert_eq!(status(&first), "200", "{first}");
    assert_eq!(status(&again), "429", "{again}");
    assert_eq!(status(&other), "200", "{other}");
}
