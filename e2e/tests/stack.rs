//! The stacked chain of `examples/stack/`, as the seed draws it: a Layer 4 balancer in front of
//! two instances of an API gateway, each routing `/users`, `/orders` and `/payments` to
//! per-service Layer 7 pools of identical pods. The example's own `.edge` files are built with
//! `edgec`; the pods are echo servers on the ports the gateway's pools name, so one can be
//! killed. Requests cross all three layers while a pod is killed and a gateway is stopped; none
//! is lost. The balancer tells the gateways who each client is (PROXY protocol): two clients on
//! different addresses have a rate limit each, and the pods see each one's address.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use edge_e2e::{edgec, stderr, ProxyProcess};
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::Full;

/// Builds `examples/stack/NAME.edge` into `dir/NAME`.
fn build(dir: &Path, name: &str) -> std::path::PathBuf {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/stack")
        .join(format!("{name}.edge"));
    let binary = dir.join(name);
    let output = edgec(&[
        "build",
        config.to_str().unwrap(),
        "-o",
        binary.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    binary
}

/// A round of requests through the edge, each on its own connection, spread over the
/// services; returns the answers that were not a 200 from the right service (a request whose
/// connection was reset without an answer is sent once more first).
fn round(client: &HttpClient, count: usize) -> Vec<String> {
    let services = ["users", "orders", "payments"];
    let requests = (0..count)
        .map(|i| {
            hyper::Request::get(format!("http://127.0.0.1:9400/{}/{i}", services[i % 3]))
                .header("connection", "close")
                .body(Full::new(Bytes::new()))
                .unwrap()
        })
        .collect();
    let mut answers = client.send_all(requests, 8);
    // A connection the kernel had queued for a gateway that then stops is reset before any
    // byte comes back; the balancer cannot resend it (it already forwarded the client's
    // bytes), so the client does, once, as HTTP clients do for a reset idempotent request.
    for (i, answer) in answers.iter_mut().enumerate() {
        if answer.is_err() {
            let again =
                hyper::Request::get(format!("http://127.0.0.1:9400/{}/{i}", services[i % 3]))
                    .header("connection", "close")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
            *answer = client.send_all(vec![again], 1).remove(0);
        }
    }
    answers
        .into_iter()
        .enumerate()
        .filter_map(|(i, answer)| match answer {
            Ok(answer) if answer.status == 200 => {
                let target = answer.seen("target");
                let expected = format!("/{}/{i}", services[i % 3]);
                (target != [expected.as_str()]).then(|| format!("{i}: reached {target:?}"))
            }
            Ok(answer) => Some(format!("{i}: status {}: {}", answer.status, answer.body)),
            Err(error) => Some(format!("{i}: {error}")),
        })
        .collect()
}

/// A POST to `path` through the edge from `source` (every 127.0.0.x is this machine on
/// Linux), on a connection of its own: the status and the whole answer.
fn post_from(source: Ipv4Addr, path: &str) -> (u16, String) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], 9400)).into())
        .unwrap();
    let mut stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: api.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// Checkout attempts from two clients: the first runs out of its own (5 at once, in each of
/// the two gateways), the second still has all of its, and the pods see each one's address.
fn each_client_is_itself(first: Ipv4Addr, second: Ipv4Addr) {
    let mut refused = false;
    for attempt in 0..11 {
        let (status, answer) = post_from(first, "/payments/checkout");
        match status {
            200 => {
                let seen = format!("header x-forwarded-for: {first}\n");
                assert!(answer.contains(&seen), "{attempt}: {answer}");
            }
            429 => {
                refused = true;
                break;
            }
            _ => panic!("{attempt}: {answer}"),
        }
    }
    assert!(refused, "{first} was never limited");
    let (status, answer) = post_from(second, "/payments/checkout");
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains(&format!("header x-forwarded-for: {second}\n")),
        "{answer}"
    );
}

#[test]
fn requests_cross_the_whole_chain_and_survive_a_lost_pod_and_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = build(dir.path(), "gateway");
    let l4 = build(dir.path(), "l4");
    let pods: Vec<SocketAddr> = (9421..=9426)
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .collect();
    let mut pods = EchoBackends::start_at(&pods);
    let mut gateway_a = ProxyProcess::start(&gateway, 1);
    let bind = std::ffi::OsStr::new("127.0.0.1:9412");
    let _gateway_b = ProxyProcess::start_with(&gateway, 1, &[("EDGE_BIND_API", bind)]);
    let _edge = ProxyProcess::start(&l4, 1);
    let client = HttpClient::new();

    assert_eq!(round(&client, 90), Vec::<String>::new());
    each_client_is_itself(Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));

    // One users pod dies: its pool retries the other one and health checks take it out.
    pods.kill_one(0);
    assert_eq!(round(&client, 90), Vec::<String>::new());

    // One gateway stops (SIGTERM: it drains); the balancer sends new connections to the other.
    let stopping = std::thread::spawn(move || gateway_a.terminate());
    let lost = round(&client, 150);
    let status = stopping.join().unwrap();
    assert_eq!(lost, Vec::<String>::new());
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(round(&client, 90), Vec::<String>::new());
}
