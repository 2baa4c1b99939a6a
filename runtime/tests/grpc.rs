//! HTTP/2 towards a pool (`protocol h2`) end to end, with gRPC: a real gRPC server (tonic's
//! call handling over hyper's HTTP/2 server, which speaks nothing else) behind the proxy, and
//! tonic's client in front of it, all on 127.0.0.1. Unary, server-streaming, client-streaming
//! and bidirectional calls, statuses carried in trailers, large streams, HTTP/1.1 clients, TLS
//! with ALPN and HTTP/2 health checks.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::{Buf, BufMut, Bytes};
use edge_runtime::{
    http::{HeaderMap, StatusCode, Version},
    HealthCheck, HttpCheck, PoolSpec, StatusRange, UpstreamProtocol, UpstreamTls,
};
use edge_testkit::{pki::*, *};
use futures_util::{stream, Stream, StreamExt};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{net::TcpListener, sync::mpsc, task::AbortHandle, time::timeout};
use tokio_rustls::TlsAcceptor;
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder, Streaming},
    metadata::MetadataValue,
    transport::Channel,
    Code, Status,
};

// ---- a codec of raw bytes: messages are the bytes themselves ----

#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

// ---- the gRPC server ----

type Boxed<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type Messages = Pin<Box<dyn Stream<Item = Result<Vec<u8>, Status>> + Send>>;

/// `Unary`: answers with the request's bytes.
struct Echo;

impl tonic::server::UnaryService<Vec<u8>> for Echo {
    type Response = Vec<u8>;
    type Future = Boxed<Result<tonic::Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: tonic::Request<Vec<u8>>) -> Self::Future {
        Box::pin(async move { Ok(tonic::Response::new(request.into_inner())) })
    }
}

/// `Download`: the request is `[count, size in KiB]`; answers `count` messages of `size` KiB
/// (message `i` filled with byte `i`), then, if the request has a third byte, fails with
/// `RESOURCE_EXHAUSTED` and a metadata entry, both carried in the trailers.
struct Download;

impl tonic::server::ServerStreamingService<Vec<u8>> for Download {
    type Response = Vec<u8>;
    type ResponseStream = Messages;
    type Future = Boxed<Result<tonic::Response<Messages>, Status>>;

    fn call(&mut self, request: tonic::Request<Vec<u8>>) -> Self::Future {
        let asked = request.into_inner();
        Box::pin(async move {
            let (count, size) = (asked[0] as usize, asked[1] as usize * 1024);
            let fail = asked.len() > 2;
            let messages = stream::iter(0..count).map(move |i| Ok(vec![i as u8; size]));
            let end = stream::iter(fail.then(|| {
                let mut status = Status::resource_exhausted("quota used up");
                status
                    .metadata_mut()
                    .insert("x-quota", MetadataValue::from_static("0"));
                Err(status)
            }));
            let messages: Messages = Box::pin(messages.chain(end));
            Ok(tonic::Response::new(messages))
        })
    }
}

/// `Upload`: answers with the number of bytes received, as 8 little-endian bytes, and their sum
/// in the next 8.
struct Upload;

impl tonic::server::ClientStreamingService<Vec<u8>> for Upload {
    type Response = Vec<u8>;
    type Future = Boxed<Result<tonic::Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Vec<u8>>>) -> Self::Future {
        let mut messages = request.into_inner();
        Box::pin(async move {
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(message) = messages.message().await? {
                count += message.len() as u64;
                sum += message.iter().map(|&b| u64::from(b)).sum::<u64>();
            }
            let mut answer = count.to_le_bytes().to_vec();
            answer.extend_from_slice(&sum.to_le_bytes());
            Ok(tonic::Response::new(answer))
        })
    }
}

/// `Chat`: sends every message back as soon as it arrives.
struct Chat;

impl tonic::server::StreamingService<Vec<u8>> for Chat {
    type Response = Vec<u8>;
    type ResponseStream = Messages;
    type Future = Boxed<Result<tonic::Response<Messages>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Vec<u8>>>) -> Self::Future {
        let messages: Messages = Box::pin(request.into_inner());
        Box::pin(async move { Ok(tonic::Response::new(messages)) })
    }
}

/// What the server saw of a request.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    authority: Option<String>,
    headers: HeaderMap,
}

/// An HTTP/2-only server on 127.0.0.1:0 (over TLS with an acceptor) serving the calls above
/// under `/echo.Echo/`, and plain answers: `/plain` (200) and `/sick` (503).
struct GrpcServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    accepting: AbortHandle,
}

impl GrpcServer {
    async fn start(tls: Option<TlsAcceptor>) -> GrpcServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, counted) = (Arc::clone(&seen), Arc::clone(&connections));
        let accepting = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (tls, log) = (tls.clone(), Arc::clone(&log));
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, Arc::clone(&log)));
                    let http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    let _ = match tls {
                        None => http2.serve_connection(TokioIo::new(tcp), service).await,
                        Some(tls) => match tls.accept(tcp).await {
                            Ok(stream) => {
                                http2.serve_connection(TokioIo::new(stream), service).await
                            }
                            Err(_) => return,
                        },
                    };
                });
            }
        })
        .abort_handle();
        GrpcServer {
            addr,
            seen,
            connections,
            accepting,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn answer(
    req: Request<Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<tonic::body::Body>, Infallible> {
    log.lock().unwrap().push(Seen {
        version: req.version(),
        authority: req.uri().authority().map(ToString::to_string),
        headers: req.headers().clone(),
    });
    let mut grpc = tonic::server::Grpc::new(Raw);
    let path = req.uri().path().to_owned();
    Ok(match path.as_str() {
        "/echo.Echo/Unary" => grpc.unary(Echo, req).await,
        "/echo.Echo/Download" => grpc.server_streaming(Download, req).await,
        "/echo.Echo/Upload" => grpc.client_streaming(Upload, req).await,
        "/echo.Echo/Chat" => grpc.streaming(Chat, req).await,
        "/plain" => plain(StatusCode::OK, "plain over HTTP/2\n"),
        "/sick" => plain(StatusCode::SERVICE_UNAVAILABLE, "sick\n"),
        _ => Status::unimplemented("no such method").into_http(),
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<tonic::body::Body> {
    let mut response = Response::new(tonic::body::Body::new(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = status;
    response
}

// ---- the client side ----

/// A pool named `app` speaking HTTP/2 to `servers`.
fn h2_pool(servers: &[SocketAddr]) -> PoolSpec {
    PoolSpec {
        protocol: UpstreamProtocol::Http2,
        sticky: None,
        ..spec(servers.iter().copied().map(server).collect())
    }
}

/// A gRPC client of the proxy at `addr` (cleartext HTTP/2, prior knowledge).
async fn client(addr: SocketAddr) -> tonic::client::Grpc<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

async fn unary(
    grpc: &mut tonic::client::Grpc<Channel>,
    method: &'static str,
    message: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(method);
    let response = timeout(
        PATIENCE,
        grpc.unary(tonic::Request::new(message), path, Raw),
    )
    .await
    .expect("the call ends in time")?;
    Ok(response.into_inner())
}

/// The messages of a `Download` of `count` messages of `kib` KiB, and how the call ended.
async fn download(
    grpc: &mut tonic::client::Grpc<Channel>,
    request: Vec<u8>,
) -> (Vec<Vec<u8>>, Result<(), Status>) {
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Download");
    let call = async {
        let mut messages = Vec::new();
        let mut stream = match grpc
            .server_streaming(tonic::Request::new(request), path, Raw)
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) => return (messages, Err(status)),
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => return (messages, Ok(())),
                Err(status) => return (messages, Err(status)),
            }
        }
    };
    timeout(PATIENCE, call)
        .await
        .expect("the call ends in time")
}

#[tokio::test]
async fn grpc_calls_go_through_an_http2_pool_with_their_trailers() {
    let server = GrpcServer::start(None).await;
    let proxy = Proxy::start(leak(h2_pool(&[server.addr]))).await;
    let mut grpc = client(proxy.web).await;

    assert_eq!(
        unary(&mut grpc, "/echo.Echo/Unary", b"hello".to_vec())
            .await
            .unwrap(),
        b"hello"
    );
    let seen = server.seen().pop().unwrap();
    assert_eq!(seen.version, Version::HTTP_2);
    assert_eq!(seen.headers["te"], "trailers");
    assert_eq!(seen.headers["content-type"], "application/grpc");
    assert_eq!(seen.authority, Some(proxy.web.to_string()));
    assert!(seen.headers.get("host").is_none());
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");

    // A status in the trailers after some messages arrives whole: code, message, metadata.
    let (messages, ended) = download(&mut grpc, vec![3, 1, 1]).await;
    assert_eq!(messages.len(), 3);
    assert!(messages
        .iter()
        .enumerate()
        .all(|(i, m)| m == &vec![i as u8; 1024]));
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "quota used up");
    assert_eq!(status.metadata().get("x-quota").unwrap(), "0");

    // An unknown method: the server's own status, not a proxy error.
    let status = unary(&mut grpc, "/echo.Echo/Nothing", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);

    // Bidirectional, in lock step: each message is answered before the next is sent, which
    // only works if neither direction is buffered by the proxy.
    grpc.ready().await.unwrap();
    let (outgoing, receiver) = mpsc::channel::<Vec<u8>>(1);
    let requests = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|message| (message, receiver))
    });
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Chat");
    let mut answers = timeout(
        PATIENCE,
        grpc.streaming(tonic::Request::new(requests), path, Raw),
    )
    .await
    .unwrap()
    .unwrap()
    .into_inner();
    for i in 0..50u8 {
        outgoing.send(vec![i; 100]).await.unwrap();
        let answer = timeout(PATIENCE, answers.message()).await.unwrap().unwrap();
        assert_eq!(answer, Some(vec![i; 100]));
    }
    drop(outgoing);
    assert_eq!(
        timeout(PATIENCE, answers.message()).await.unwrap().unwrap(),
        None
    );

    // Twenty calls at once on a warm pool, and every call so far: one connection upstream.
    let calls = (0..20u8).map(|i| {
        let mut grpc = grpc.clone();
        async move { unary(&mut grpc, "/echo.Echo/Unary", vec![i]).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.unwrap(), vec![i as u8]);
    }
    assert_eq!(server.connections(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn calls_at_once_on_a_cold_pool_share_one_new_connection() {
    let server = GrpcServer::start(None).await;
    let proxy = Proxy::start(leak(h2_pool(&[server.addr]))).await;
    let grpc = client(proxy.web).await;
    let calls = (0..16u8).map(|i| {
        let mut grpc = grpc.clone();
        async move { unary(&mut grpc, "/echo.Echo/Unary", vec![i]).await }
    });
    for answer in futures_util::future::join_all(calls).await {
        answer.unwrap();
    }
    assert_eq!(server.connections(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn large_streams_flow_both_ways() {
    let server = GrpcServer::start(None).await;
    let proxy = Proxy::start(leak(h2_pool(&[server.addr]))).await;
    let mut grpc = client(proxy.web).await;

    // 8 MiB down, in 128 messages of 64 KiB: far past every default window.
    let (messages, ended) = download(&mut grpc, vec![128, 64]).await;
    ended.unwrap();
    assert_eq!(messages.len(), 128);
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(message.len(), 64 * 1024);
        assert!(message.iter().all(|&b| b == i as u8), "message {i}");
    }

    // 8 MiB up.
    grpc.ready().await.unwrap();
    let chunks: Vec<Vec<u8>> = (0..128u32)
        .map(|i| vec![(i % 251) as u8; 64 * 1024])
        .collect();
    let sum: u64 = chunks
        .iter()
        .map(|c| u64::from(c[0]) * c.len() as u64)
        .sum();
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Upload");
    let answer = timeout(
        PATIENCE,
        grpc.client_streaming(tonic::Request::new(stream::iter(chunks)), path, Raw),
    )
    .await
    .unwrap()
    .unwrap()
    .into_inner();
    assert_eq!(answer[..8], (8u64 * 1024 * 1024).to_le_bytes());
    assert_eq!(answer[8..], sum.to_le_bytes());
    proxy.stop().await;
}

#[tokio::test]
async fn http1_clients_reach_an_http2_only_server() {
    let server = GrpcServer::start(None).await;
    let proxy = Proxy::start(leak(h2_pool(&[server.addr]))).await;
    let got = get(proxy.web, "/plain", &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "plain over HTTP/2\n");
    let seen = server.seen().pop().unwrap();
    assert_eq!(seen.version, Version::HTTP_2);
    assert_eq!(seen.authority.as_deref(), Some("example.com"));
    // The client did not say it takes trailers, so the server is not told it may send them.
    assert!(seen.headers.get("te").is_none());
    proxy.stop().await;
}

#[tokio::test]
async fn http2_over_tls_is_chosen_by_alpn() {
    let pki = Pki::new("gRPC CA");
    let leaf = pki.issue(&["localhost", "127.0.0.1"], "grpc");
    let server = GrpcServer::start(Some(pki.acceptor_for(&leaf, None, b"h2"))).await;
    let spec = PoolSpec {
        tls: Some(UpstreamTls {
            ca: Some(pki.ca_file()),
            ..UpstreamTls::DEFAULT
        }),
        ..h2_pool(&[server.addr])
    };
    let proxy = Proxy::start(leak(spec)).await;
    let mut grpc = client(proxy.web).await;
    assert_eq!(
        unary(&mut grpc, "/echo.Echo/Unary", b"over tls".to_vec())
            .await
            .unwrap(),
        b"over tls"
    );
    let seen = server.seen().pop().unwrap();
    assert_eq!(seen.version, Version::HTTP_2);
    proxy.stop().await;
}

#[tokio::test]
async fn health_checks_speak_http2_to_http2_pools() {
    let server = GrpcServer::start(None).await;
    let check = |path| {
        Some(HealthCheck::Http(HttpCheck {
            path,
            expect: StatusRange { min: 200, max: 399 },
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
        }))
    };
    // An HTTP/1.1 check of this server would fail and take it down: it passes.
    let healthy = PoolSpec {
        health: check("/plain"),
        ..h2_pool(&[server.addr])
    };
    let proxy = Proxy::start(leak(healthy)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(get(proxy.web, "/plain", &[]).await.status, StatusCode::OK);
    proxy.stop().await;

    // And a check the server answers with 503 takes it down.
    let sick = PoolSpec {
        health: check("/sick"),
        ..h2_pool(&[server.addr])
    };
    let proxy = Proxy::start(leak(sick)).await;
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = get(proxy.web, "/plain", &[]).await.status;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(server.seen().iter().any(
        |seen| seen.version == Version::HTTP_2 && seen.headers.get("x-forwarded-for").is_none()
    ));
    proxy.stop().await;
}
