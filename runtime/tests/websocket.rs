//! WebSocket (HTTP/1.1 upgrade) tunnelling end to end: a real WebSocket echo server and
//! client (tokio-tungstenite) on both sides of the proxy, started in-process on 127.0.0.1:0.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use edge_runtime::{
    http::{HeaderMap, StatusCode},
    ListenerLimits, ListenerMode, ListenerSpec, PoolSpec, Process, Retry, RetryOn, Server,
    ServerSpec, StickySpec, TlsSpec, UpstreamTimeouts, UpstreamTls,
};
use edge_testkit::{pki::*, *};
use futures_util::{SinkExt, StreamExt};
use rustls::{pki_types::ServerName, ClientConfig, RootCertStore};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::{
    tungstenite::{
        handshake::server::{Request as Handshake, Response as Accepted},
        Message,
    },
    WebSocketStream,
};

/// A WebSocket echo server on 127.0.0.1:0 (over TLS with an acceptor). It sends back every
/// text and binary message, closes the connection itself when it receives the text `bye`,
/// and keeps the headers of every handshake.
struct EchoServer {
    addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<HeaderMap>>>,
    /// WebSocket connections still open.
    open: Arc<AtomicUsize>,
    accepting: AbortHandle,
}

impl EchoServer {
    async fn start(tls: Option<TlsAcceptor>) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let (seen, counted) = (Arc::clone(&handshakes), Arc::clone(&open));
        let accepting = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (tls, seen, counted) = (tls.clone(), Arc::clone(&seen), Arc::clone(&counted));
                tokio::spawn(async move {
                    match tls {
                        None => serve_echo(tcp, seen, counted).await,
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(tcp).await {
                                serve_echo(stream, seen, counted).await;
                            }
                        }
                    }
                });
            }
        })
        .abort_handle();
        EchoServer {
            addr,
            handshakes,
            open,
            accepting,
        }
    }

    fn handshakes(&self) -> Vec<HeaderMap> {
        self.handshakes.lock().unwrap().clone()
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until no WebSocket connection is open.
    async fn all_closed(&self) {
        for _ in 0..500 {
            if self.open() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the echo server still has {} connections", self.open());
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn serve_echo<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
    open: Arc<AtomicUsize>,
) {
    // The callback's error type is tungstenite's.
    #[allow(clippy::result_large_err)]
    let record = |handshake: &Handshake, accepted: Accepted| {
        seen.lock().unwrap().push(handshake.headers().clone());
        Ok(accepted)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
        return;
    };
    open.fetch_add(1, Ordering::SeqCst);
    while let Some(Ok(message)) = ws.next().await {
        let sent = match message {
            Message::Text(text) if text.as_str() == "bye" => ws.close(None).await,
            Message::Text(_) | Message::Binary(_) => ws.send(message).await,
            // A close is answered by tungstenite itself; the stream then ends.
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    open.fetch_sub(1, Ordering::SeqCst);
}

/// A WebSocket client connected through the proxy at `proxy`, for `ws://example.com/app/ws`.
async fn connect(proxy: SocketAddr) -> WebSocketStream<TcpStream> {
    handshake(TcpStream::connect(proxy).await.unwrap()).await
}

/// The client's handshake for `ws://example.com/app/ws` over `stream`.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> WebSocketStream<S> {
    let handshake = tokio_tungstenite::client_async("ws://example.com/app/ws", stream);
    let (ws, response) = tokio::time::timeout(PATIENCE, handshake)
        .await
        .expect("the handshake ends in time")
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next message, within [`PATIENCE`]; `None` when the connection ended, with or without a
/// closing handshake.
async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Option<Message> {
    match tokio::time::timeout(PATIENCE, ws.next()).await {
        Ok(Some(Ok(message))) => Some(message),
        Ok(Some(Err(_)) | None) => None,
        Err(_) => panic!("no message and no end in time"),
    }
}

/// Sends `message` and expects it back.
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    message: Message,
) {
    ws.send(message.clone()).await.unwrap();
    assert_eq!(next(ws).await, Some(message));
}

#[tokio::test]
async fn text_and_binary_messages_echo_through_the_proxy() {
    let echo = EchoServer::start(None).await;
    let proxy = Proxy::start(pool(&[echo.addr], UpstreamTimeouts::DEFAULT)).await;
    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("hello")).await;
    round_trip(&mut ws, Message::binary(vec![0, 1, 2, 255])).await;
    let large: Vec<u8> = pattern(256 * 1024);
    round_trip(&mut ws, Message::binary(large)).await;
    for n in 0..20 {
        round_trip(&mut ws, Message::text(format!("message {n}"))).await;
    }

    let handshakes = echo.handshakes();
    assert_eq!(handshakes.len(), 1);
    let headers = &handshakes[0];
    assert_eq!(headers["connection"], "upgrade");
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(headers["host"], "example.com");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert!(headers.contains_key("sec-websocket-key"));

    ws.close(None).await.unwrap();
    assert_eq!(next(&mut ws).await.map(|m| m.is_close()), Some(true));
    echo.all_closed().await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_close_from_either_side_ends_the_tunnel_and_frees_the_server() {
    let echo = EchoServer::start(None).await;
    // One connection at a time: a second WebSocket only gets through once the first tunnel
    // has given its place back.
    let app = leak(PoolSpec {
        servers: Box::leak(Box::new([ServerSpec {
            max_conns: 1,
            ..server(echo.addr)
        }])),
        ..spec(Vec::new())
    });
    let proxy = Proxy::start(app).await;

    // The client closes.
    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("one")).await;
    let busy = get(proxy.web, "/app", &[]).await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    ws.close(None).await.unwrap();
    assert_eq!(next(&mut ws).await.map(|m| m.is_close()), Some(true));
    assert_eq!(next(&mut ws).await, None);
    echo.all_closed().await;

    // The server closes.
    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("two")).await;
    ws.send(Message::text("bye")).await.unwrap();
    assert_eq!(next(&mut ws).await.map(|m| m.is_close()), Some(true));
    assert_eq!(next(&mut ws).await, None);
    echo.all_closed().await;

    // The client goes away without a closing handshake.
    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("three")).await;
    drop(ws);
    echo.all_closed().await;

    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("four")).await;
    assert_eq!(echo.handshakes().len(), 4);
    proxy.stop().await;
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_after_the_tunnel_timeout() {
    let echo = EchoServer::start(None).await;
    let timeouts = UpstreamTimeouts {
        tunnel: Duration::from_millis(300),
        ..UpstreamTimeouts::DEFAULT
    };
    let proxy = Proxy::start(pool(&[echo.addr], timeouts)).await;
    let mut ws = connect(proxy.web).await;
    // Traffic keeps it open well past the timeout.
    for n in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        round_trip(&mut ws, Message::text(format!("tick {n}"))).await;
    }
    let quiet = Instant::now();
    assert_eq!(next(&mut ws).await, None);
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    echo.all_closed().await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_refused_upgrade_is_an_ordinary_answer_on_a_connection_not_kept() {
    let backend = Backend::start("a").await;
    let proxy = Proxy::before(&[&backend]).await;
    let upgrade = [("connection", "Upgrade"), ("upgrade", "websocket")];
    let mut client = Client::connect(proxy.web).await;
    for _ in 0..2 {
        let got = client.get("/app/x", &upgrade).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.text(), "a");
    }
    // Each upgrade request had a connection of its own, closed after its answer.
    assert_eq!(backend.connections(), 2);
    let seen = backend.last();
    assert_eq!(seen.header("connection"), Some("upgrade"));
    assert_eq!(seen.header("upgrade"), Some("websocket"));
    // Plain requests after them reuse one pooled connection, as before.
    client.get("/app/y", &[]).await;
    client.get("/app/y", &[]).await;
    assert_eq!(backend.connections(), 3);
    assert_eq!(backend.last().header("upgrade"), None);
    proxy.stop().await;
}

#[tokio::test]
async fn upgrade_requests_are_never_retried() {
    let echo = EchoServer::start(None).await;
    let refused = closed_port().await;
    let app = leak(PoolSpec {
        retry: Retry {
            attempts: 1,
            on: RetryOn {
                connect_error: true,
                timeout: true,
                status_5xx: false,
            },
        },
        ..spec(vec![server(refused), server(echo.addr)])
    });
    let proxy = Proxy::start(app).await;
    // Round robin starts with the refusing server; a plain request would go on to the other.
    let tcp = TcpStream::connect(proxy.web).await.unwrap();
    let failed = tokio_tungstenite::client_async("ws://example.com/app/ws", tcp).await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = failed else {
        panic!("the upgrade went through: {failed:?}");
    };
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(echo.handshakes().is_empty());
    // The next one goes to the echo echo.
    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("second")).await;
    proxy.stop().await;
}

#[tokio::test]
async fn websockets_reach_a_tls_upstream() {
    let pki = Pki::new("Upstream CA");
    let leaf = pki.issue(&["127.0.0.1"], "echo");
    let echo = EchoServer::start(Some(pki.acceptor(&leaf, None))).await;
    let app = leak(PoolSpec {
        tls: Some(UpstreamTls {
            ca: Some(pki.ca_file()),
            ..UpstreamTls::DEFAULT
        }),
        ..spec(vec![server(echo.addr)])
    });
    let proxy = Proxy::start(app).await;
    let mut ws = connect(proxy.web).await;
    round_trip(&mut ws, Message::text("over tls")).await;
    round_trip(&mut ws, Message::binary(pattern(64 * 1024))).await;
    ws.send(Message::text("bye")).await.unwrap();
    assert_eq!(next(&mut ws).await.map(|m| m.is_close()), Some(true));
    assert_eq!(next(&mut ws).await, None);
    echo.all_closed().await;
    proxy.stop().await;
}

#[tokio::test]
async fn websockets_pass_a_tls_listener() {
    let pki = Pki::new("Listener CA");
    let leaf = pki.issue(&["localhost"], "localhost");
    let echo = EchoServer::start(None).await;
    let listeners: &'static [(Listener, ListenerSpec)] = Box::leak(Box::new([(
        Listener::Web,
        ListenerSpec {
            name: "secure",
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            limits: ListenerLimits::DEFAULT,
            mode: ListenerMode::Http,
            tls: Some(TlsSpec {
                certs: Box::leak(Box::new([pki.cert_spec("server", &leaf, &[])])),
                client_auth: None,
                hsts: None,
            }),
        },
    )]));
    let app = pool(&[echo.addr], UpstreamTimeouts::DEFAULT);
    let process = Process::new();
    let server = Server::bind(&process, listeners, Edge::new(&process, app))
        .await
        .unwrap();
    let addr = server.local_addrs().next().unwrap().1;
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = signal.await;
    }));

    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let mut ws = handshake(tls).await;
    round_trip(&mut ws, Message::text("inside tls")).await;
    round_trip(&mut ws, Message::binary(pattern(64 * 1024))).await;
    ws.close(None).await.unwrap();
    assert_eq!(next(&mut ws).await.map(|m| m.is_close()), Some(true));
    echo.all_closed().await;

    let _ = shutdown.send(());
    tokio::time::timeout(PATIENCE, serving)
        .await
        .expect("the proxy drains in time")
        .unwrap();
}

/// A sticky pool's cookie takes a WebSocket to the server it names, as it does any request,
/// and stops at the proxy: the handshake that server gets carries the client's other cookies
/// only. A handshake without the cookie gets it on its `101`, naming the server that took it.
#[tokio::test]
async fn a_sticky_cookie_takes_a_websocket_to_its_server_and_stops_there() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let servers = [EchoServer::start(None).await, EchoServer::start(None).await];
    let app = leak(PoolSpec {
        sticky: Some(StickySpec {
            cookie: "srv",
            max_age: None,
            path: "/",
            secure: false,
            http_only: false,
        }),
        ..spec(servers.iter().map(|s| server(s.addr)).collect())
    });
    let proxy = Proxy::start(app).await;
    let open = |cookie: Option<String>| async move {
        let mut request = "ws://example.com/app/ws".into_client_request().unwrap();
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
        }
        let stream = TcpStream::connect(proxy.web).await.unwrap();
        let (mut ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        round_trip(&mut ws, Message::text("hello")).await;
        ws.close(None).await.unwrap();
        response
            .headers()
            .get("set-cookie")
            .map(|set| set.to_str().unwrap().split(';').next().unwrap().to_owned())
    };

    let cookie = open(None).await.expect("the 101 sets the sticky cookie");
    let stuck = servers
        .iter()
        .position(|s| s.handshakes().len() == 1)
        .unwrap();
    for _ in 0..4 {
        let set = open(Some(format!("theme=dark; {cookie}"))).await;
        assert_eq!(set, None, "the same server sets no new cookie");
    }
    let handshakes = servers[stuck].handshakes();
    assert_eq!(
        handshakes.len(),
        5,
        "every WebSocket went to the cookie's server"
    );
    assert!(handshakes[0].get("cookie").is_none());
    for headers in &handshakes[1..] {
        assert_eq!(headers["cookie"], "theme=dark");
    }
    assert!(servers[1 - stuck].handshakes().is_empty());
    proxy.stop().await;
}
