//! TLS towards upstream servers, end to end: HTTPS backends (hyper over tokio-rustls) with
//! certificates of their own CA made with rcgen, the proxy started in-process on 127.0.0.1:0
//! in front of them, and a plain HTTP/1.1 client.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use edge_runtime::{
    http::{Request, Response, StatusCode},
    HealthCheck, HttpCheck, LoadError, Passive, Pool, PoolSpec, Process, Retry, RetryOn,
    RoundRobin, StatusRange, TlsErrorKind, TlsFile, TlsOwner, UpstreamTls,
};
use edge_testkit::{pki::*, *};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::AbortHandle};
use tokio_rustls::TlsAcceptor;

/// An HTTPS backend on 127.0.0.1:0. It answers every request with its name, and says in
/// `x-client-cert` whether the client presented a certificate.
struct TlsBackend {
    addr: SocketAddr,
    /// TCP connections accepted, handshakes that failed included.
    connections: Arc<AtomicUsize>,
    /// Paths requested, in order.
    paths: Arc<Mutex<Vec<String>>>,
    accepting: AbortHandle,
}

impl TlsBackend {
    async fn start(name: &'static str, acceptor: TlsAcceptor) -> TlsBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (counted, seen) = (Arc::clone(&connections), Arc::clone(&paths));
        let accepting = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let client_cert = stream.get_ref().1.peer_certificates().is_some();
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        seen.lock().unwrap().push(req.uri().path().to_owned());
                        let response = Response::builder()
                            .header("x-client-cert", if client_cert { "yes" } else { "no" })
                            .body(Full::new(Bytes::from_static(name.as_bytes())))
                            .unwrap();
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
        .abort_handle();
        TlsBackend {
            addr,
            connections,
            paths,
            accepting,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// A certificate for the backends: valid for `localhost` and `127.0.0.1`.
fn server_leaf(pki: &Pki) -> Leaf {
    pki.issue(&["localhost", "127.0.0.1"], "upstream")
}

/// A pool named `app` over `servers` with `tls`.
fn tls_pool(servers: &[SocketAddr], tls: UpstreamTls) -> PoolSpec {
    PoolSpec {
        tls: Some(tls),
        ..spec(servers.iter().copied().map(server).collect())
    }
}

/// The status and body of one GET of `/app` through a proxy with `spec`.
async fn through(spec: PoolSpec) -> Got {
    let proxy = Proxy::start(leak(spec)).await;
    let got = get(proxy.web, "/app", &[]).await;
    proxy.stop().await;
    got
}

#[tokio::test]
async fn a_server_of_a_private_ca_is_refused_by_default_and_reached_with_its_ca() {
    let pki = Pki::new("Upstream CA");
    let backend = TlsBackend::start("secure", pki.acceptor(&server_leaf(&pki), None)).await;
    let addrs = [backend.addr];

    // Mozilla's roots do not know this CA.
    let got = through(tls_pool(&addrs, UpstreamTls::DEFAULT)).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.text(), "502 Bad Gateway\n");

    let with_ca = UpstreamTls {
        ca: Some(pki.ca_file()),
        ..UpstreamTls::DEFAULT
    };
    // Verified against the address itself (an IP address entry of the certificate), and the
    // connection is kept alive for the next request.
    let before = backend.connections();
    let proxy = Proxy::start(leak(tls_pool(&addrs, with_ca))).await;
    let mut client = Client::connect(proxy.web).await;
    for _ in 0..3 {
        let got = client.get("/app", &[]).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.text(), "secure");
        assert_eq!(got.headers["x-client-cert"], "no");
    }
    assert_eq!(
        backend.connections() - before,
        1,
        "one connection, kept alive"
    );
    proxy.stop().await;

    // A name the certificate has, and one it has not.
    let named = |name| UpstreamTls {
        server_name: Some(name),
        ..with_ca
    };
    assert_eq!(
        through(tls_pool(&addrs, named("localhost"))).await.status,
        200
    );
    let other = through(tls_pool(&addrs, named("other.test"))).await;
    assert_eq!(other.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn a_pools_ca_bundle_is_read_again_on_reload() {
    let pki = Pki::new("Upstream CA");
    let backend = TlsBackend::start("rotated", pki.acceptor(&server_leaf(&pki), None)).await;
    let other = Pki::new("Other CA");
    let read = |path: &str| std::fs::read_to_string(path).unwrap();
    // The pool's bundle holds another CA at first: the server cannot be verified.
    let bundle = pki.write("pool-ca.crt", &read(other.ca_file()));
    let spec = tls_pool(
        &[backend.addr],
        UpstreamTls {
            ca: Some(bundle),
            ..UpstreamTls::DEFAULT
        },
    );
    let proxy = Proxy::start(leak(spec)).await;
    assert_eq!(get(proxy.web, "/app", &[]).await.status, 502);

    // The right CA written in its place, and a reload: new connections verify.
    pki.write("pool-ca.crt", &read(pki.ca_file()));
    let _ = proxy.reloader.reload();
    assert_eq!(get(proxy.web, "/app", &[]).await.text(), "rotated");

    // A broken bundle is refused, naming the pool and the file, and the last good one stays:
    // three requests at once need new connections, which still verify.
    pki.write("pool-ca.crt", "not a certificate\n");
    // (Pools of other tests in this process are reloaded too: only this one's error counts.)
    let errors = proxy.reloader.reload().unwrap_err();
    let ours: Vec<_> = errors
        .iter()
        .filter(|error| error.to_string().contains(bundle))
        .collect();
    assert_eq!(ours.len(), 1, "{errors:?}");
    assert_eq!(ours[0].owner, TlsOwner::Pool("app"));
    assert!(
        ours[0].to_string().starts_with("pool `app`: "),
        "{}",
        ours[0]
    );
    let before = backend.connections();
    let answers = futures_util::future::join_all((0..3).map(|_| get(proxy.web, "/app", &[]))).await;
    assert!(answers.iter().all(|got| got.status == StatusCode::OK));
    assert!(backend.connections() > before);
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_that_wants_a_client_certificate_answers_only_with_one() {
    let pki = Pki::new("Upstream CA");
    let clients = Pki::new("Client CA");
    let acceptor = pki.acceptor(&server_leaf(&pki), Some(&clients));
    let backend = TlsBackend::start("mtls", acceptor).await;
    let addrs = [backend.addr];
    let with_ca = UpstreamTls {
        ca: Some(pki.ca_file()),
        ..UpstreamTls::DEFAULT
    };

    let without = through(tls_pool(&addrs, with_ca)).await;
    assert_eq!(without.status, StatusCode::BAD_GATEWAY);

    // A certificate of a CA the upstream does not trust is no better.
    let stranger = pki.issue(&["edge"], "edge");
    let wrong = UpstreamTls {
        client_cert: Some(pki.client_cert("stranger", &stranger)),
        ..with_ca
    };
    assert_eq!(through(tls_pool(&addrs, wrong)).await.status, 502);

    let identity = clients.issue(&["edge"], "edge");
    let with_cert = UpstreamTls {
        client_cert: Some(clients.client_cert("edge", &identity)),
        ..with_ca
    };
    let got = through(tls_pool(&addrs, with_cert)).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "mtls");
    assert_eq!(got.headers["x-client-cert"], "yes");
}

#[tokio::test]
async fn verify_off_reaches_a_server_it_cannot_verify() {
    let pki = Pki::new("Upstream CA");
    let backend = TlsBackend::start("anyone", pki.acceptor(&server_leaf(&pki), None)).await;
    let unverified = UpstreamTls {
        verify: false,
        ..UpstreamTls::DEFAULT
    };
    let got = through(tls_pool(&[backend.addr], unverified)).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "anyone");
}

#[tokio::test]
async fn a_cleartext_server_in_a_tls_pool_is_502() {
    let plain = Backend::start("plain").await;
    let unverified = UpstreamTls {
        verify: false,
        ..UpstreamTls::DEFAULT
    };
    let got = through(tls_pool(&[plain.addr], unverified)).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert!(plain.seen().is_empty());
}

#[tokio::test]
async fn a_failed_handshake_is_a_connect_error_retried_elsewhere_and_counted() {
    let pki = Pki::new("Upstream CA");
    let other = Pki::new("Other CA");
    let bad = TlsBackend::start("bad", other.acceptor(&server_leaf(&other), None)).await;
    let good = TlsBackend::start("good", pki.acceptor(&server_leaf(&pki), None)).await;
    let spec = PoolSpec {
        retry: Retry {
            attempts: 1,
            on: RetryOn {
                connect_error: true,
                timeout: false,
                status_5xx: false,
            },
        },
        passive: Some(Passive {
            max_fails: 1,
            fail_timeout: Duration::from_secs(30),
            consecutive_5xx: 0,
        }),
        ..tls_pool(
            &[bad.addr, good.addr],
            UpstreamTls {
                ca: Some(pki.ca_file()),
                ..UpstreamTls::DEFAULT
            },
        )
    };
    let proxy = Proxy::start(leak(spec)).await;
    // Round robin starts with `bad`: its handshake fails, nothing was sent, `good` answers.
    let first = get(proxy.web, "/app", &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.text(), "good");
    assert_eq!(bad.connections(), 1);
    // Passive health took `bad` out: every request goes to `good` at once.
    for _ in 0..4 {
        assert_eq!(get(proxy.web, "/app", &[]).await.text(), "good");
    }
    assert_eq!(bad.connections(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn health_checks_go_over_tls() {
    let pki = Pki::new("Upstream CA");
    let other = Pki::new("Other CA");
    let bad = TlsBackend::start("bad", other.acceptor(&server_leaf(&other), None)).await;
    let good = TlsBackend::start("good", pki.acceptor(&server_leaf(&pki), None)).await;
    let spec = PoolSpec {
        health: Some(HealthCheck::Http(HttpCheck {
            path: "/healthz",
            expect: StatusRange { min: 200, max: 299 },
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            rise: 1,
            fall: 1,
        })),
        ..tls_pool(
            &[bad.addr, good.addr],
            UpstreamTls {
                ca: Some(pki.ca_file()),
                ..UpstreamTls::DEFAULT
            },
        )
    };
    let proxy = Proxy::start(leak(spec)).await;
    // The good server is checked over TLS; the bad one fails its handshakes and goes down.
    for _ in 0..500 {
        if good.paths().iter().any(|path| path == "/healthz") && bad.connections() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(good.paths().iter().any(|path| path == "/healthz"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..4 {
        let got = get(proxy.web, "/app", &[]).await;
        assert_eq!((got.status, got.text()), (StatusCode::OK, "good"));
    }
    proxy.stop().await;
}

#[test]
fn unusable_files_are_load_errors_naming_the_pool_and_the_file() {
    let pki = Pki::new("Upstream CA");
    let missing = pki.dir.path().join("nowhere.pem");
    let missing: &'static str = Box::leak(missing.to_str().unwrap().to_owned().into_boxed_str());
    let empty = pki.write("empty.pem", "");
    let load = |tls: UpstreamTls| {
        let spec = leak(tls_pool(&["127.0.0.1:1".parse().unwrap()], tls));
        match Pool::load(spec, RoundRobin::default(), Process::new().pools()) {
            Ok(_) => panic!("{tls:?} loaded"),
            Err(error) => error,
        }
    };

    let error = load(UpstreamTls {
        ca: Some(missing),
        ..UpstreamTls::DEFAULT
    });
    assert!(matches!(
        &error,
        LoadError::Pool { name: "app", error: TlsErrorKind::Read { file: TlsFile::ServerCa, path, .. } }
            if path.as_path() == std::path::Path::new(missing)
    ));
    assert!(
        error
            .to_string()
            .starts_with(&format!("pool `app`: cannot read CA file {missing}: ")),
        "{error}"
    );

    let error = load(UpstreamTls {
        ca: Some(empty),
        ..UpstreamTls::DEFAULT
    });
    assert_eq!(
        error.to_string(),
        format!("pool `app`: CA file {empty}: no certificate in it")
    );

    let identity = pki.issue(&["edge"], "edge");
    let stranger = pki.issue(&["edge"], "stranger");
    let cert = pki.write("edge.crt", &identity.cert_pem);
    let key = pki.write("stranger.key", &stranger.key_pem);
    let error = load(UpstreamTls {
        client_cert: Some(edge_runtime::ClientCert { cert, key }),
        ..UpstreamTls::DEFAULT
    });
    assert_eq!(
        error.to_string(),
        format!("pool `app`: key file {key} does not match certificate file {cert}")
    );
}
