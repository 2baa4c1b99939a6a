//! TLS termination end to end: certificates made with rcgen and written to a temp dir, the
//! proxy started in-process on 127.0.0.1:0 in front of a cleartext backend, and real clients
//! (tokio-rustls under hyper's HTTP/1.1 and HTTP/2 clients, and raw bytes where a real client
//! cannot misbehave enough).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use edge_runtime::{
    http::{Request, StatusCode},
    CertReloader, CertSpec, ClientAuth, ListenerLimits, ListenerMode, ListenerSpec, Process,
    Server, StartError, TlsErrorKind, TlsFile, TlsSpec, UpstreamTimeouts,
};
use edge_testkit::{pki::*, *};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, HandshakeKind, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
};
use tokio_rustls::{client::TlsStream, TlsConnector};

fn tls_spec(certs: Vec<CertSpec>) -> TlsSpec {
    TlsSpec {
        certs: Box::leak(certs.into_boxed_slice()),
        client_auth: None,
        hsts: None,
    }
}

// ---- the proxy ----

fn listeners(tls: TlsSpec) -> &'static [(Listener, ListenerSpec)] {
    Box::leak(Box::new([(
        Listener::Web,
        ListenerSpec {
            name: "secure",
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Http,
            tls: Some(tls),
        },
    )]))
}

/// The proxy with one TLS listener, in-process.
struct TlsProxy {
    addr: SocketAddr,
    reloader: CertReloader,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    async fn start(tls: TlsSpec, backend: &Backend) -> TlsProxy {
        let app = pool(&[backend.addr], UpstreamTimeouts::DEFAULT);
        let process = Process::new();
        let server = Server::bind(&process, listeners(tls), Edge::new(&process, app))
            .await
            .unwrap();
        let addr = server.local_addrs().next().unwrap().1;
        let reloader = server.cert_reloader();
        let (shutdown, signal) = oneshot::channel();
        let serving = tokio::spawn(server.serve(async {
            let _ = signal.await;
        }));
        TlsProxy {
            addr,
            reloader,
            shutdown,
            serving,
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(PATIENCE, self.serving)
            .await
            .expect("the proxy drains in time")
            .unwrap();
    }
}

// ---- clients ----

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// How a test client checks the server.
enum Trust<'a> {
    /// Verifies the chain against this CA and the name against the SNI.
    Ca(&'a Pki),
    /// Accepts any certificate: for tests that look at which one was served.
    Anything,
}

/// A client configuration: TLS 1.3 and 1.2, the given ALPN protocols, and a client
/// certificate when `identity` is given.
fn client(trust: Trust<'_>, alpn: &[&[u8]], identity: Option<&Leaf>) -> Arc<ClientConfig> {
    client_with(trust, alpn, identity, rustls::DEFAULT_VERSIONS)
}

fn client_with(
    trust: Trust<'_>,
    alpn: &[&[u8]],
    identity: Option<&Leaf>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match trust {
        Trust::Ca(pki) => {
            let mut roots = RootCertStore::empty();
            roots.add(pki.ca.der().clone()).unwrap();
            builder.with_root_certificates(roots)
        }
        Trust::Anything => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider()))),
    };
    let mut config = match identity {
        Some(leaf) => {
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder
                .with_client_auth_cert(vec![leaf.der.clone()], key)
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Connects and completes the client side of the handshake.
async fn connect(
    addr: SocketAddr,
    sni: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    tokio::time::timeout(PATIENCE, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("the handshake ends in time")
}

/// The leaf certificate the server presented.
fn served(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// The certificate served to a client asking for `sni`, or `None` when the handshake failed.
async fn served_for(addr: SocketAddr, sni: &str) -> Option<CertificateDer<'static>> {
    let stream = connect(addr, sni, client(Trust::Anything, &[], None)).await;
    stream.ok().map(|stream| served(&stream))
}

type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
type H2 = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn http1(stream: TlsStream<TcpStream>) -> H1 {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

async fn http2(stream: TlsStream<TcpStream>) -> H2 {
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// A GET for `path` on host `example.com`, with extra headers.
fn request(path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path).header("host", "example.com");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::default()).unwrap()
}

/// Sends `req` on an HTTP/1.1 connection and reads the whole answer; `Err` when the
/// connection failed.
async fn send(sender: &mut H1, req: Request<Full<Bytes>>) -> Result<Got, hyper::Error> {
    let exchange = async {
        sender.ready().await?;
        let response = sender.send_request(req).await?;
        collect(response).await
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the proxy answers in time")
}

async fn collect(response: hyper::Response<hyper::body::Incoming>) -> Result<Got, hyper::Error> {
    let (parts, body) = response.into_parts();
    Ok(Got {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await?.to_bytes(),
    })
}

/// One GET over a fresh HTTP/1.1 connection that trusts `pki`, with SNI `localhost`.
async fn get_tls(addr: SocketAddr, pki: &Pki, path: &str, headers: &[(&str, &str)]) -> Got {
    let stream = connect(
        addr,
        "localhost",
        client(Trust::Ca(pki), &[b"http/1.1"], None),
    )
    .await
    .unwrap();
    send(&mut http1(stream).await, request(path, headers))
        .await
        .unwrap()
}

/// Accepts any server certificate (signatures are still checked).
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A proxy serving one certificate for `localhost` (also the default).
async fn one_cert_proxy(pki: &Pki, backend: &Backend) -> TlsProxy {
    let leaf = pki.issue(&["localhost"], "localhost");
    let spec = tls_spec(vec![pki.cert_spec("server", &leaf, &[])]);
    TlsProxy::start(spec, backend).await
}

// ---- tests ----

#[tokio::test]
async fn https_over_http1_is_answered_and_proxied_with_forwarded_proto_https() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let proxy = one_cert_proxy(&pki, &backend).await;

    let stream = connect(
        proxy.addr,
        "localhost",
        client(Trust::Ca(&pki), &[b"http/1.1"], None),
    )
    .await
    .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut sender = http1(stream).await;
    let hello = send(&mut sender, request("/hello", &[])).await.unwrap();
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(hello.text(), "hello from edge\n");
    let proxied = send(
        &mut sender,
        request("/app/x?y=1", &[("x-forwarded-proto", "http")]),
    )
    .await
    .unwrap();
    assert_eq!(proxied.text(), "a");
    let seen = backend.last();
    assert_eq!(seen.uri, "/app/x?y=1");
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("host"), Some("example.com"));

    // No ALPN at all is HTTP/1.1 too.
    let stream = connect(proxy.addr, "localhost", client(Trust::Ca(&pki), &[], None))
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    let got = send(&mut http1(stream).await, request("/hello", &[]))
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::OK);
    proxy.stop().await;
}

#[tokio::test]
async fn https_over_h2_by_alpn_is_answered_and_proxied() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let proxy = one_cert_proxy(&pki, &backend).await;

    let config = client(Trust::Ca(&pki), &[b"h2", b"http/1.1"], None);
    let stream = connect(proxy.addr, "localhost", config).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut sender = http2(stream).await;
    for path in ["/hello", "/app/h2"] {
        let req = Request::get(format!("https://example.com{path}"))
            .body(Full::default())
            .unwrap();
        let exchange = async { collect(sender.send_request(req).await?).await };
        let got = tokio::time::timeout(PATIENCE, exchange)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.status, StatusCode::OK, "{path}");
    }
    let seen = backend.last();
    assert_eq!(seen.uri, "/app/h2");
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("host"), Some("example.com"));
    proxy.stop().await;
}

#[tokio::test]
async fn the_framing_guard_sees_http1_inside_tls() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let proxy = one_cert_proxy(&pki, &backend).await;
    let mut stream = connect(proxy.addr, "localhost", client(Trust::Ca(&pki), &[], None))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
              Content-Length: 3\r\n\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes in time")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(raw_status(&answer), 400, "{answer}");
    assert!(backend.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn certificates_are_chosen_by_sni_exact_then_wildcard_then_default() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let (a, b) = (pki.issue(&["a.test"], "a"), pki.issue(&["b.test"], "b"));
    let wild = pki.issue(&["*.wild.test"], "wild");
    let default = pki.issue(&["default.test"], "default");
    let spec = tls_spec(vec![
        pki.cert_spec("wild", &wild, &["*.wild.test"]),
        pki.cert_spec("a", &a, &["a.test", "exact.wild.test"]),
        pki.cert_spec("b", &b, &["B.test"]),
        pki.cert_spec("default", &default, &[]),
    ]);
    let proxy = TlsProxy::start(spec, &backend).await;
    let cases = [
        ("a.test", &a),
        ("b.test", &b),
        ("x.wild.test", &wild),
        ("exact.wild.test", &a),
        ("x.y.wild.test", &default),
        ("wild.test", &default),
        ("unknown.test", &default),
    ];
    for (sni, expected) in cases {
        assert_eq!(
            served_for(proxy.addr, sni).await.as_ref(),
            Some(&expected.der),
            "{sni}"
        );
    }
    // Verified as a browser would: the served certificate is valid for the name asked for.
    let stream = connect(proxy.addr, "b.test", client(Trust::Ca(&pki), &[], None)).await;
    assert_eq!(served(&stream.unwrap()), b.der);
    proxy.stop().await;
}

#[tokio::test]
async fn without_a_default_an_unknown_name_fails_the_handshake() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let a = pki.issue(&["a.test"], "a");
    let proxy = TlsProxy::start(
        tls_spec(vec![pki.cert_spec("a", &a, &["a.test"])]),
        &backend,
    )
    .await;
    assert_eq!(served_for(proxy.addr, "a.test").await, Some(a.der.clone()));
    assert_eq!(served_for(proxy.addr, "other.test").await, None);
    proxy.stop().await;
}

#[tokio::test]
async fn reload_serves_new_certificates_to_new_connections_while_old_ones_finish() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let old = pki.issue(&["localhost"], "old");
    let spec = tls_spec(vec![pki.cert_spec("server", &old, &[])]);
    let proxy = TlsProxy::start(spec, &backend).await;

    let stream = connect(proxy.addr, "localhost", client(Trust::Ca(&pki), &[], None))
        .await
        .unwrap();
    assert_eq!(served(&stream), old.der);
    let mut sender = http1(stream).await;
    sender.ready().await.unwrap();
    let download =
        tokio::time::timeout(PATIENCE, sender.send_request(request("/app/download", &[])))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(download.status(), StatusCode::OK);

    // The body is still on its way when the certificate changes.
    let new = pki.issue(&["localhost"], "new");
    pki.cert_spec("server", &new, &[]);
    proxy.reloader.reload().unwrap();
    let fresh = connect(proxy.addr, "localhost", client(Trust::Ca(&pki), &[], None))
        .await
        .unwrap();
    assert_eq!(served(&fresh), new.der);
    let got = send(&mut http1(fresh).await, request("/hello", &[]))
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::OK);

    let body = tokio::time::timeout(PATIENCE, download.into_body().collect())
        .await
        .expect("the download ends in time")
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), FIVE_MB);
    assert_eq!(&body[..], &pattern(FIVE_MB)[..]);
    proxy.stop().await;
}

#[tokio::test]
async fn a_bad_new_file_keeps_the_old_certificate() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let old = pki.issue(&["localhost"], "old");
    let other = pki.issue(&["other.test"], "other");
    let spec = tls_spec(vec![
        pki.cert_spec("server", &old, &[]),
        pki.cert_spec("other", &other, &["other.test"]),
    ]);
    let proxy = TlsProxy::start(spec, &backend).await;

    // A key that belongs to another certificate.
    let new = pki.issue(&["localhost"], "new");
    let cert = pki.write("server.crt", &new.cert_pem);
    let key = pki.write("server.key", &pki.issue(&["x"], "x").key_pem);
    // And a file that is no PEM at all; the listener's other certificate reloads fine.
    let other_cert = pki.write("other.crt", "not a certificate\n");
    let errors = proxy.reloader.reload().unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(matches!(
        &errors[0].kind,
        TlsErrorKind::KeyMismatch { cert: c, key: k } if c.as_path() == std::path::Path::new(cert) && k.as_path() == std::path::Path::new(key)
    ));
    assert!(matches!(
        &errors[1].kind,
        TlsErrorKind::Empty { file: TlsFile::Certificate, path } if path.as_path() == std::path::Path::new(other_cert)
    ));
    let message = errors[0].to_string();
    assert!(message.contains(key) && message.contains(cert), "{message}");
    assert_eq!(
        served_for(proxy.addr, "localhost").await,
        Some(old.der.clone())
    );
    assert_eq!(served_for(proxy.addr, "other.test").await, Some(other.der));

    // Fixed files are picked up by the next reload.
    pki.cert_spec("server", &new, &[]);
    assert_eq!(
        proxy.reloader.reload().unwrap_err().len(),
        1,
        "other.crt is still bad"
    );
    assert_eq!(served_for(proxy.addr, "localhost").await, Some(new.der));
    proxy.stop().await;
}

#[tokio::test]
async fn start_up_errors_name_the_file_and_the_reason() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let app = pool(&[backend.addr], UpstreamTimeouts::DEFAULT);
    let leaf = pki.issue(&["localhost"], "localhost");
    let spec = pki.cert_spec("server", &leaf, &[]);
    let empty = pki.write("empty.key", "");
    let missing: &'static str = Box::leak(
        pki.dir
            .path()
            .join("nowhere.key")
            .to_str()
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );
    for (key, expected) in [
        (missing, "cannot read key file"),
        (empty, "no private key in it"),
    ] {
        let tls = tls_spec(vec![CertSpec { key, ..spec }]);
        let process = Process::new();
        let Err(StartError::Tls(error)) =
            Server::bind(&process, listeners(tls), Edge::new(&process, app)).await
        else {
            panic!("{key} was accepted");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("listener `secure`: ") && message.contains(expected),
            "{message}"
        );
        assert!(message.contains(key), "{message}");
    }

    let stranger = pki.issue(&["localhost"], "stranger");
    let key = pki.write("stranger.key", &stranger.key_pem);
    let cert = pki.write("server.crt", &leaf.cert_pem);
    let tls = tls_spec(vec![CertSpec {
        names: &[],
        cert,
        key,
    }]);
    let process = Process::new();
    let error = Server::bind(&process, listeners(tls), Edge::new(&process, app))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!("listener `secure`: key file {key} does not match certificate file {cert}")
    );
}

#[tokio::test]
async fn mtls_required_refuses_clients_without_a_valid_certificate() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let server = pki.issue(&["localhost"], "localhost");
    let mut spec = tls_spec(vec![pki.cert_spec("server", &server, &[])]);
    spec.client_auth = Some(ClientAuth {
        ca: pki.ca_file(),
        required: true,
    });
    let proxy = TlsProxy::start(spec, &backend).await;

    // No certificate: with TLS 1.3 the client may think it is done before the server refuses,
    // so the refusal shows either in the handshake or on the first request.
    assert!(refused(proxy.addr, client(Trust::Ca(&pki), &[], None)).await);
    // A certificate from another CA.
    let stranger = Pki::new("Other CA").issue(&["client"], "stranger");
    assert!(refused(proxy.addr, client(Trust::Ca(&pki), &[], Some(&stranger))).await);

    let identity = pki.issue(&["client"], "client one");
    let stream = connect(
        proxy.addr,
        "localhost",
        client(Trust::Ca(&pki), &[], Some(&identity)),
    )
    .await
    .unwrap();
    let mut sender = http1(stream).await;
    let got = send(
        &mut sender,
        request("/app", &[("x-client-cert-subject", "CN=admin")]),
    )
    .await
    .unwrap();
    assert_eq!(got.status, StatusCode::OK);
    let seen = backend.last();
    let subjects: Vec<&str> = seen
        .headers
        .get_all("x-client-cert-subject")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(subjects, ["CN=client one,O=Edge Tests"]);
    assert_eq!(backend.count(), 1);
    proxy.stop().await;
}

/// Whether the proxy refused this client: a failed handshake or a failed first request.
async fn refused(addr: SocketAddr, config: Arc<ClientConfig>) -> bool {
    let Ok(stream) = connect(addr, "localhost", config).await else {
        return true;
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return true;
    };
    tokio::spawn(connection);
    send(&mut sender, request("/app", &[])).await.is_err()
}

#[tokio::test]
async fn mtls_optional_accepts_clients_without_a_certificate_and_strips_the_header() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let server = pki.issue(&["localhost"], "localhost");
    let mut spec = tls_spec(vec![pki.cert_spec("server", &server, &[])]);
    spec.client_auth = Some(ClientAuth {
        ca: pki.ca_file(),
        required: false,
    });
    let proxy = TlsProxy::start(spec, &backend).await;

    let got = get_tls(
        proxy.addr,
        &pki,
        "/app",
        &[("x-client-cert-subject", "CN=admin")],
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(backend.last().header("x-client-cert-subject"), None);

    let identity = pki.issue(&["client"], "client two");
    let stream = connect(
        proxy.addr,
        "localhost",
        client(Trust::Ca(&pki), &[], Some(&identity)),
    )
    .await
    .unwrap();
    send(&mut http1(stream).await, request("/app", &[]))
        .await
        .unwrap();
    assert_eq!(
        backend.last().header("x-client-cert-subject"),
        Some("CN=client two,O=Edge Tests")
    );
    proxy.stop().await;
}

#[tokio::test]
async fn client_sent_subject_headers_are_stripped_on_every_listener() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let proxy = one_cert_proxy(&pki, &backend).await;
    get_tls(
        proxy.addr,
        &pki,
        "/app",
        &[("x-client-cert-subject", "CN=admin")],
    )
    .await;
    assert_eq!(backend.last().header("x-client-cert-subject"), None);
    proxy.stop().await;

    let cleartext = Proxy::before(&[&backend]).await;
    get(
        cleartext.web,
        "/app",
        &[("x-client-cert-subject", "CN=admin")],
    )
    .await;
    assert_eq!(backend.last().header("x-client-cert-subject"), None);
    assert_eq!(backend.last().header("x-forwarded-proto"), Some("http"));
    cleartext.stop().await;
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_served_and_tls_1_1_is_refused() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let proxy = one_cert_proxy(&pki, &backend).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client_with(Trust::Ca(&pki), &[], None, &[version]);
        let stream = connect(proxy.addr, "localhost", config).await.unwrap();
        assert_eq!(stream.get_ref().1.protocol_version(), Some(version.version));
    }

    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(&tls_1_1_client_hello()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes in time")
        .ok();
    // One fatal alert record (type 21, level 2; rustls says `handshake_failure`), no ServerHello.
    assert_eq!(answer.first(), Some(&21), "{answer:?}");
    assert_eq!(answer.get(5), Some(&2), "{answer:?}");
    assert_eq!(answer.len(), 7, "{answer:?}");
    proxy.stop().await;
}

/// A ClientHello that offers TLS 1.1 at most (no `supported_versions` extension).
fn tls_1_1_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02]; // client_version: TLS 1.1
    hello.extend([7; 32]); // random
    hello.push(0); // no session id
    hello.extend([0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // two cipher suites of TLS 1.1
    hello.extend([0x01, 0x00]); // compression: null only
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8]; // ClientHello
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8]; // handshake record
    record.extend(handshake);
    record
}

#[tokio::test]
async fn sessions_resume_with_tls_1_3_and_1_2() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let proxy = one_cert_proxy(&pki, &backend).await;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = client_with(Trust::Ca(&pki), &[], None, &[version]);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let stream = connect(proxy.addr, "localhost", Arc::clone(&config))
                .await
                .unwrap();
            kinds.push(stream.get_ref().1.handshake_kind());
            // A request, so that TLS 1.3 session tickets (sent after the handshake) arrive.
            let got = send(&mut http1(stream).await, request("/hello", &[]))
                .await
                .unwrap();
            assert_eq!(got.status, StatusCode::OK);
        }
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "{version:?}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn hsts_is_added_on_tls_listeners_unless_the_upstream_set_one() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let leaf = pki.issue(&["localhost"], "localhost");
    let mut spec = tls_spec(vec![pki.cert_spec("server", &leaf, &[])]);
    spec.hsts = Some(Duration::from_secs(31_536_000));
    let proxy = TlsProxy::start(spec, &backend).await;
    for (path, expected) in [
        ("/hello", "max-age=31536000"),
        ("/app/x", "max-age=31536000"),
        ("/nothing", "max-age=31536000"),
        ("/app/hsts", "max-age=60"),
    ] {
        let got = get_tls(proxy.addr, &pki, path, &[]).await;
        let values: Vec<_> = got
            .headers
            .get_all("strict-transport-security")
            .iter()
            .collect();
        assert_eq!(values, [expected], "{path}");
    }
    proxy.stop().await;

    let cleartext = Proxy::before(&[&backend]).await;
    let got = get(cleartext.web, "/hello", &[]).await;
    assert!(got.headers.get("strict-transport-security").is_none());
    cleartext.stop().await;
}

#[tokio::test]
async fn tls_needs_an_http_listener_and_a_certificate() {
    let pki = Pki::new("Test CA");
    let backend = Backend::start("a").await;
    let app = pool(&[backend.addr], UpstreamTimeouts::DEFAULT);
    let leaf = pki.issue(&["localhost"], "localhost");
    let with_cert = tls_spec(vec![pki.cert_spec("server", &leaf, &[])]);
    let tcp: &'static [(Listener, ListenerSpec)] = Box::leak(Box::new([(
        Listener::Web,
        ListenerSpec {
            mode: ListenerMode::Tcp(edge_runtime::TcpSpec {
                idle_timeout: Duration::from_secs(60),
            }),
            ..listeners(with_cert)[0].1
        },
    )]));
    let no_cert = listeners(tls_spec(vec![]));
    for (listeners, expected) in [
        (
            tcp,
            "listener `secure`: tls is only supported on HTTP listeners",
        ),
        (no_cert, "listener `secure`: tls has no certificate"),
    ] {
        let process = Process::new();
        let error = Server::bind(&process, listeners, Edge::new(&process, app))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), expected);
    }
}
