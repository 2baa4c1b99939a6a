//! Clients in the test's own runtime: an HTTP/1.1 connection, one-shot GETs over HTTP/1.1 and
//! HTTP/2, an HTTP/2 client that sends requests exactly as given, and raw bytes over TCP.
//! Every exchange ends within [`PATIENCE`].

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use edge_runtime::http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::PATIENCE;

/// A response as the client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// An HTTP/1.1 client connection.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Client { sender }
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Got {
        let exchange = async {
            self.sender.ready().await.unwrap();
            let response = self.sender.send_request(req).await.unwrap();
            let (parts, body) = response.into_parts();
            Got {
                status: parts.status,
                headers: parts.headers,
                body: body.collect().await.unwrap().to_bytes(),
            }
        };
        tokio::time::timeout(PATIENCE, exchange)
            .await
            .expect("the proxy answers in time")
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Got {
        let mut builder = Request::get(path).header("host", "example.com");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Full::default()).unwrap()).await
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Got {
    Client::connect(addr).await.get(path, headers).await
}

/// Sends `request` over HTTP/2 with prior knowledge.
pub async fn get_h2(addr: SocketAddr, uri: &str) -> Got {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let req = Request::get(uri).body(Full::<Bytes>::default()).unwrap();
    let exchange = async {
        let response = sender.send_request(req).await.unwrap();
        let (parts, body) = response.into_parts();
        Got {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the proxy answers in time")
}

/// Sends `req` over HTTP/2 with prior knowledge exactly as given (`:authority` from its URI,
/// every field including `host` as is), with `body` as its data; the h2 crate's client, which
/// checks nothing of what it is asked to send.
pub async fn h2_send(addr: SocketAddr, req: Request<()>, body: &'static [u8]) -> Got {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = h2::client::handshake(stream).await.unwrap();
        tokio::spawn(connection);
        let mut sender = sender.ready().await.unwrap();
        let (response, mut stream) = sender.send_request(req, body.is_empty()).unwrap();
        if !body.is_empty() {
            stream.send_data(Bytes::from_static(body), true).unwrap();
        }
        let (parts, mut received) = response.await.unwrap().into_parts();
        let mut body = Vec::new();
        while let Some(chunk) = received.data().await {
            let chunk = chunk.unwrap();
            let _ = received.flow_control().release_capacity(chunk.len());
            body.extend_from_slice(&chunk);
        }
        Got {
            status: parts.status,
            headers: parts.headers,
            body: Bytes::from(body),
        }
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the proxy answers in time")
}

/// Writes `request` as raw bytes and reads until the proxy closes the connection.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection in time")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes each part of `request` in turn, waiting `pause` after each, then reads until the
/// proxy closes the connection; what the proxy said, even if it closed before all was written.
pub async fn raw_slowly(addr: SocketAddr, request: &[&[u8]], pause: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for part in request {
        if stream.write_all(part).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code on the first line of a raw HTTP/1 answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}
