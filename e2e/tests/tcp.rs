//! Layer 4 as a user sees it: a proxy built by `edgec build` with a `mode tcp` listener
//! tunnels a 10 MB echo round trip intact, respects half-close, and spreads connections.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};

use edge_e2e::{build_and_start, connect};

/// A TCP echo server on its own thread: echoes until the client's EOF, then writes `bye N`
/// (N its id) and closes.
fn echo_server(id: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buffer[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = stream.write_all(format!("bye {id}").as_bytes());
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn a_tcp_listener_tunnels_bytes_with_half_close() {
    let servers = [echo_server(1), echo_server(2)];
    let config = format!(
        "listener tcp_in {{\n    bind 127.0.0.1:0\n    mode tcp\n}}\n
pool echo {{\n    server {}\n    server {}\n}}\n
route tunnel {{\n    on tcp_in\n    forward echo\n}}\n",
        servers[0], servers[1]
    );
    let (_dir, proxy) = build_and_start("tcp", &config, 1);
    let addr = proxy.addr("tcp_in");

    // 10 MB out while reading the echo back concurrently, then half-close: the server sees
    // EOF, answers `bye N` and closes; everything arrives intact.
    let payload: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut stream = connect(addr);
    let mut reader = stream.try_clone().unwrap();
    let expected_len = payload.len();
    let receiving = std::thread::spawn(move || {
        let mut received = Vec::with_capacity(expected_len + 16);
        reader.read_to_end(&mut received).unwrap();
        received
    });
    stream.write_all(&payload).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let received = receiving.join().unwrap();
    let (echoed, trailer) = received.split_at(payload.len().min(received.len()));
    assert!(
        echoed == payload.as_slice(),
        "the echo differs ({} bytes back)",
        received.len()
    );
    let first = String::from_utf8_lossy(trailer).into_owned();
    assert!(
        first == "bye 1" || first == "bye 2",
        "after half-close: {first:?}"
    );

    // Connections go round robin over the two servers.
    let mut seen = vec![first];
    for _ in 0..3 {
        let mut stream = connect(addr);
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        seen.push(answer);
    }
    assert_eq!(seen.iter().filter(|s| *s == "bye 1").count(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|s| *s == "bye 2").count(), 2, "{seen:?}");
}
