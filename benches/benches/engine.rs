//! The head work of one proxied HTTP/1.1 request, Edge's engine against hyper's: the client's
//! request head parsed, given the forwarding fields and written for the server; the server's
//! answer head parsed and written for the client. Time per request, for a typical browser
//! request (ten fields, 430 bytes) and a typical answer head (eight fields).
//!
//! - `edge`: `edge_runtime::engine_bench::head_cycle`, the functions a connection runs
//!   (framing, `Host`, field and path checks included).
//! - `hyper`: hyper's HTTP/1 server and client connections over in-memory streams, the way a
//!   hyper proxy uses them: the server connection parses the requests (pipelined, so that no
//!   socket or task wake-up is counted) and writes the answers; a service adds the same
//!   forwarding fields and sends each request on the client connection, which writes its head
//!   and parses the answer. hyper's parser and writer are not public on their own, so its
//!   connection machinery is in its figure: that is what using hyper costs.

use std::{
    cell::Cell,
    convert::Infallible,
    hint::black_box,
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edge_runtime::{
    engine_bench::head_cycle,
    http::{header, HeaderValue, Request},
};
use hyper::{body::Incoming, client::conn::http1::SendRequest, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Requests per measured iteration.
const REQUESTS: usize = 256;

const REQUEST: &[u8] = b"GET /api/users/42?fields=name,email HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: application/json\r\n\
Accept-Language: en-GB,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/account\r\n\
Cookie: session=3f6c2a9b1e7d4c8f; theme=dark\r\n\
X-Requested-With: XMLHttpRequest\r\n\
Connection: keep-alive\r\n\
Cache-Control: no-cache\r\n\r\n";

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Sun, 06 Dec 2026 04:00:00 GMT\r\n\
Content-Type: application/json\r\n\
Content-Length: 0\r\n\
Last-Modified: Sat, 05 Dec 2026 12:00:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"5f3c-2a\"\r\n\
Cache-Control: private, max-age=60\r\n\r\n";

const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 51234);

fn edge(c: &mut Criterion) {
    let mut requests = BytesMut::new();
    let mut answers = BytesMut::new();
    let mut upstream = BytesMut::with_capacity(REQUESTS * 1024);
    let mut client = BytesMut::with_capacity(REQUESTS * 1024);
    let mut group = c.benchmark_group("engine_head_cycle");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.bench_function("edge", |b| {
        b.iter(|| {
            requests.clear();
            answers.clear();
            upstream.clear();
            client.clear();
            for _ in 0..REQUESTS {
                requests.extend_from_slice(REQUEST);
                answers.extend_from_slice(ANSWER);
            }
            for _ in 0..REQUESTS {
                head_cycle(
                    "web",
                    PEER,
                    &mut requests,
                    &mut answers,
                    &mut upstream,
                    &mut client,
                )
                .expect("the heads are valid");
            }
            black_box((upstream.len(), client.len()))
        })
    });
    group.bench_function("hyper", |b| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut pipelined = Vec::with_capacity(REQUESTS * REQUEST.len());
        for _ in 0..REQUESTS {
            pipelined.extend_from_slice(REQUEST);
        }
        b.iter(|| {
            let written = runtime.block_on(hyper_cycles(&pipelined));
            black_box(written)
        })
    });
    group.finish();
}

/// Runs [`REQUESTS`] requests through hyper's server and client connections; the bytes
/// written to the client and to the server.
async fn hyper_cycles(pipelined: &[u8]) -> (usize, usize) {
    let upstream = Upstream::default();
    let written_upstream = Rc::clone(&upstream.written);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .expect("an in-memory handshake");
    let sender = Rc::new(Cell::new(Some(sender)));
    let handled = Rc::new(Cell::new(0));
    let counted = Rc::clone(&handled);
    let service = service_fn(move |req: Request<Incoming>| {
        let sender = Rc::clone(&sender);
        counted.set(counted.get() + 1);
        async move {
            let mut sending: SendRequest<Incoming> = sender.take().expect("one request at a time");
            let forwarded = forward(req);
            sending.ready().await.expect("the connection is open");
            let answer = sending.send_request(forwarded).await;
            sender.set(Some(sending));
            let (mut parts, body) = answer.expect("an answer").into_parts();
            parts.headers.remove(header::SERVER);
            parts.headers.remove(header::CONNECTION);
            Ok::<_, Infallible>(hyper::Response::from_parts(parts, body))
        }
    });
    let downstream = Downstream::new(pipelined);
    let written_downstream = Rc::clone(&downstream.written);
    let serving = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(downstream), service);
    let (served, _) = tokio::join!(serving, connection);
    served.expect("hyper serves the pipelined requests");
    assert_eq!(handled.get(), REQUESTS, "every pipelined request is served");
    (written_downstream.get(), written_upstream.get())
}

/// The forwarding fields Edge sets by default, set the way a hyper proxy sets them.
fn forward(mut req: Request<Incoming>) -> Request<Incoming> {
    let client = HeaderValue::try_from(PEER.ip().to_string()).expect("an address");
    let headers = req.headers_mut();
    headers.remove(header::CONNECTION);
    let forwarded_for = match headers.get("x-forwarded-for") {
        Some(before) => {
            let mut list = before.as_bytes().to_vec();
            list.extend_from_slice(b", ");
            list.extend_from_slice(client.as_bytes());
            HeaderValue::from_bytes(&list).expect("a list of addresses")
        }
        None => client.clone(),
    };
    headers.insert("x-forwarded-for", forwarded_for);
    headers.insert("x-real-ip", client);
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
    req
}

/// The client's side: the pipelined requests to read, then the end of the stream once every
/// answer is written (hyper takes an earlier end as a request cut short); what is written is
/// counted and dropped.
struct Downstream {
    unread: BytesMut,
    /// Answer heads (bodiless) written so far.
    answered: usize,
    reader: Option<Waker>,
    written: Rc<Cell<usize>>,
}

impl Downstream {
    fn new(pipelined: &[u8]) -> Downstream {
        Downstream {
            unread: BytesMut::from(pipelined),
            answered: 0,
            reader: None,
            written: Rc::default(),
        }
    }
}

impl AsyncRead for Downstream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unread.is_empty() && self.answered < REQUESTS {
            self.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let take = self.unread.len().min(buf.remaining());
        buf.put_slice(&self.unread.split_to(take));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Downstream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.set(self.written.get() + data.len());
        self.answered += heads(data);
        if self.answered >= REQUESTS {
            if let Some(reader) = self.reader.take() {
                reader.wake();
            }
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Bodiless heads in `data`: each ends with an empty line.
fn heads(data: &[u8]) -> usize {
    data.windows(4).filter(|w| *w == b"\r\n\r\n").count()
}

/// The server's side: one answer head to read for each request head written.
#[derive(Default)]
struct Upstream {
    /// Answers owed: request heads written and not answered yet.
    owed: usize,
    /// Bytes of the answer being read.
    unread: &'static [u8],
    reader: Option<Waker>,
    written: Rc<Cell<usize>>,
}

impl AsyncRead for Upstream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unread.is_empty() {
            if self.owed == 0 {
                self.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            self.owed -= 1;
            self.unread = ANSWER;
        }
        let take = self.unread.len().min(buf.remaining());
        buf.put_slice(&self.unread[..take]);
        self.unread = &self.unread[take..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Upstream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.set(self.written.get() + data.len());
        let heads = heads(data);
        if heads > 0 {
            self.owed += heads;
            if let Some(reader) = self.reader.take() {
                reader.wake();
            }
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

criterion_group!(benches, edge);
criterion_main!(benches);
