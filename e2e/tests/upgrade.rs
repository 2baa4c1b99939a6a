//! A zero-downtime upgrade as an operator runs one: under a bounded load of 20,000 requests on
//! 32 keep-alive connections, a rebuilt proxy (one route added) is started with the same
//! `EDGE_HANDOFF` as the running one, takes over its listening sockets (and its admin
//! listener's), and the old one drains and exits 0. Not one request may be lost: no
//! connection error, no non-2xx answer; the new route answers on the same port afterwards.
//!
//! The load client counts a request as lost only when it truly was: a request that went out
//! and got no answer (or a broken one), a connection that could not be opened, a non-2xx
//! answer, or no answer within 10 s. A request that was never written because its keep-alive
//! connection had been closed (hyper gives it back) goes again on a fresh connection, as
//! every HTTP client does; the test also checks that this never happened, since the old
//! process only closes a connection after answering on it with `Connection: close`.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use bytes::Bytes;
use edge_e2e::{build_with, ProxyProcess};
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Requests of the load, and connections they are sent on at once.
const TOTAL: usize = 20_000;
const CONNECTIONS: usize = 32;

/// The longest a request may wait for its answer; the whole load's limit.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);
const LOAD_LIMIT: Duration = Duration::from_secs(180);

/// How often a request that was never sent goes again on a fresh connection.
const MAX_ATTEMPTS: usize = 3;

/// The config, with `extra` routes before the catch-all one.
fn config(servers: &[SocketAddr], extra: &str) -> String {
    format!(
        "admin {{
    bind 127.0.0.1:0
}}

listener web {{
    bind 127.0.0.1:0
}}

pool app {{
    server {}
    server {}
    health http {{
        path \"/healthz\"
        expect 200..299
        interval 500ms
        timeout 200ms
        rise 1
        fall 1
    }}
}}

route hello {{
    on web
    path /hello
    respond 200 \"hello from edge\\n\"
}}
{extra}
route all {{
    on web
    forward app
}}
",
        servers[0], servers[1]
    )
}

const ADDED: &str = "
route added {
    on web
    path = /added
    respond 200 \"added\\n\"
}
";

/// What the load saw.
#[derive(Default)]
struct Tally {
    /// Requests answered with a 2xx status and a complete body.
    answered: AtomicUsize,
    /// Requests done, answered or not.
    done: AtomicUsize,
    /// Connections opened, initial ones included.
    connections: AtomicUsize,
    /// Requests given back unsent by a closed keep-alive connection, and sent again.
    resent: AtomicUsize,
    /// Each lost request, with why.
    lost: Mutex<Vec<String>>,
}

impl Tally {
    fn lose(&self, why: String) {
        self.lost.lock().unwrap().push(why);
    }
}

/// Sends `TOTAL` requests to `addr` from `CONNECTIONS` tasks, each with its own keep-alive
/// connection; every other request is answered by the proxy itself, the others by a backend.
async fn load(addr: SocketAddr, tally: Arc<Tally>) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (next, tally) = (Arc::clone(&next), Arc::clone(&tally));
        tasks.spawn(async move {
            let mut connection = None;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= TOTAL {
                    return;
                }
                let path = if n % 2 == 0 {
                    "/hello".to_owned()
                } else {
                    format!("/items/{n}")
                };
                let sent = send(addr, &mut connection, &path, &tally);
                match tokio::time::timeout(REQUEST_LIMIT, sent).await {
                    Ok(Ok(())) => {
                        tally.answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(why)) => tally.lose(format!("{path}: {why}")),
                    Err(_) => tally.lose(format!("{path}: no answer within {REQUEST_LIMIT:?}")),
                }
                tally.done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends `GET path` on `connection` (opened first when there is none), and reads the whole
/// answer. `Ok` for a 2xx answer; the reason the request was lost otherwise.
async fn send(
    addr: SocketAddr,
    connection: &mut Option<SendRequest<Empty<Bytes>>>,
    path: &str,
    tally: &Tally,
) -> Result<(), String> {
    let mut request = hyper::Request::get(path)
        .header(hyper::header::HOST, "upgrade.test")
        .body(Empty::new())
        .unwrap();
    for _ in 0..MAX_ATTEMPTS {
        let mut sender = match connection.take() {
            Some(sender) => sender,
            None => {
                let opened = connect(addr).await?;
                tally.connections.fetch_add(1, Ordering::Relaxed);
                opened
            }
        };
        // Fails when the connection has closed: nothing was sent on it.
        if sender.ready().await.is_err() {
            tally.resent.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let closing = response
                    .headers()
                    .get(hyper::header::CONNECTION)
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|error| format!("{status}, then the body broke: {error}"))?;
                if !closing {
                    *connection = Some(sender);
                }
                return if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("answered {status}"))
                };
            }
            Err(mut error) => match error.take_message() {
                // Given back unsent: the connection closed before it could go out.
                Some(unsent) => {
                    request = unsent;
                    tally.resent.fetch_add(1, Ordering::Relaxed);
                }
                None => return Err(format!("sent, no answer: {}", error.into_error())),
            },
        }
    }
    Err(format!("not sent after {MAX_ATTEMPTS} connections"))
}

/// Opens an HTTP/1.1 connection; its driver runs on a task of its own.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|error| format!("cannot connect: {error}"))?;
    stream
        .set_nodelay(true)
        .map_err(|error| error.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("handshake failed: {error}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Waits (bounded) until `tally` has `count` requests done.
fn wait_for(tally: &Tally, count: usize) {
    let deadline = Instant::now() + LOAD_LIMIT;
    while tally.done.load(Ordering::Relaxed) < count {
        assert!(Instant::now() < deadline, "the load does not progress");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn replacing_the_binary_under_load_loses_no_request() {
    let backends = EchoBackends::start(2);
    let (_old_dir, old_binary) = build_with("upgrade_old", &config(&backends.addrs, ""), &[]);
    let (_new_dir, new_binary) = build_with("upgrade_new", &config(&backends.addrs, ADDED), &[]);
    let handoff_dir = tempfile::tempdir().unwrap();
    let handoff = handoff_dir.path().join("edge.sock");
    let env = |workers| {
        [
            ("EDGE_HANDOFF", handoff.as_os_str()),
            ("EDGE_WORKERS", std::ffi::OsStr::new(workers)),
        ]
    };
    let mut old = ProxyProcess::start_with(&old_binary, 1, &env("2"));
    let addr = old.addr("web");

    let tally = Arc::new(Tally::default());
    let loading = {
        let tally = Arc::clone(&tally);
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                tokio::time::timeout(LOAD_LIMIT, load(addr, tally))
                    .await
                    .expect("the load ends in time");
            });
        })
    };

    wait_for(&tally, TOTAL / 3);
    let started = tally.done.load(Ordering::Relaxed);
    // Three workers take over the two sockets of the old process's two workers, and bind one.
    let mut new = ProxyProcess::start_with(&new_binary, 1, &env("3"));
    let taken_over = tally.done.load(Ordering::Relaxed);
    assert_eq!(
        new.addr("web"),
        addr,
        "the new process serves the same port"
    );
    assert_eq!(new.admin, old.admin, "and the same admin port");
    let status = old
        .wait(Duration::from_secs(40))
        .expect("the old process exits after the hand-off");
    assert!(status.success(), "{status}");
    let old_gone = tally.done.load(Ordering::Relaxed);
    loading.join().unwrap();

    let lost = tally.lost.lock().unwrap();
    let answered = tally.answered.load(Ordering::Relaxed);
    let connections = tally.connections.load(Ordering::Relaxed);
    let resent = tally.resent.load(Ordering::Relaxed);
    eprintln!(
        "{TOTAL} requests on {CONNECTIONS} connections: {answered} answered 2xx, {} lost; new \
         process started after {started}, serving after {taken_over}, old one gone after \
         {old_gone}; {connections} connections opened, {resent} requests resent unsent",
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "lost requests: {:?}",
        &lost[..lost.len().min(20)]
    );
    assert_eq!(answered, TOTAL);
    assert!(
        taken_over < TOTAL,
        "the load was over before the new process took over; nothing was tested"
    );
    assert!(
        connections > CONNECTIONS,
        "every connection to the old process ended and was opened again"
    );
    // The old process ends each connection with the answer to its next request, never while a
    // client may be sending one: a client that had already written its request would have
    // lost it (hyper's client gives an unsent request back; not every client can tell).
    assert_eq!(
        resent, 0,
        "the old process closed connections under their clients"
    );

    let client = HttpClient::new();
    let added = client.get(&format!("http://{addr}/added"));
    assert_eq!((added.status, added.body.as_str()), (200, "added\n"));
    let hello = client.get(&format!("http://{addr}/hello"));
    assert_eq!(hello.status, 200);
    let status = new
        .terminate()
        .expect("the new process exits after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!handoff.exists(), "the stopped process removed its socket");
}
