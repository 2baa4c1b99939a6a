//! Edge's own HTTP/1.x server, one task per connection: each request head is parsed once
//! (`head`), the request handed to the gateway with its body read from the connection as the
//! request asks for it (`body`), and the answer written with framing of Edge's own (`write`),
//! small answers in one write. Buffers come from the worker's pool while a request is on the
//! connection and go back when it is idle, so an idle keep-alive connection holds none.
//!
//! A request with `Upgrade` carries the means to take its connection (`http1::upgrade`): once
//! its `101` is written, the connection, with what the client sent after the head, goes to
//! the tunnel. The HTTP/2 preface as a connection's first bytes hands the connection to
//! hyper's HTTP/2 server (h2c), with the bytes read put back (`http1::rewound`).

mod body;
pub(crate) mod head;
pub(crate) mod write;

use std::{
    future::{poll_fn, Future},
    io,
    mem::MaybeUninit,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body::Body as _;
use hyper::server::conn::http2 as hyper2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use self::{
    body::{BodyReader, Rest},
    head::BodyLength,
    write::{Asked, Framing},
};
use crate::{
    downstream::connection::Connection,
    downstream::logged::Logged,
    downstream::watchdog::Activity,
    http1::buffers,
    http1::chunked,
    http1::pipe::pipe,
    http1::rewound::Rewound,
    http1::upgrade::{self, Switch},
    Gateway, RequestBody,
};

/// Body bytes up to this size are copied behind the head or the chunk's size line, so that a
/// small answer leaves in one write; larger ones are written from where they are.
const COPIED: usize = 4 * 1024;

/// The most read on the stack while a connection waits for its next request; a longer head
/// is read on into a pooled buffer.
const FIRST_READ: usize = 2048;

/// How long, and how much, a client whose connection is closing with bytes unread may go on
/// sending before the connection is closed anyway (`close`).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// The error a served connection ends with.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// What one connection's engine is given.
pub(crate) struct Serving<'a, G: Gateway> {
    pub(crate) connection: Connection<G>,
    /// hyper's HTTP/2 server, for cleartext connections that start with its preface (h2c).
    pub(crate) http2: &'a hyper2::Builder<TokioExecutor>,
    pub(crate) max_head: usize,
    /// TLS connections end with `close_notify`; cleartext ones are just closed.
    pub(crate) tls: bool,
}

/// Serves `io`'s requests until the client closes it, a request ends it, or the server stops.
pub(crate) async fn serve<G, T>(mut io: T, serving: Serving<'_, G>) -> Result<(), Error>
where
    G: Gateway,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::clone(&serving.connection.activity);
    let mut buf = BytesMut::new();
    let mut first = true;
    loop {
        if buf.is_empty() {
            buffers::give(std::mem::take(&mut buf));
            match poll_fn(|cx| poll_first_bytes(cx, &mut io, &activity)).await? {
                Some(bytes) => buf = bytes,
                None => return Ok(()),
            }
        }
        if first {
            first = false;
            loop {
                match head::is_http2_preface(&buf) {
                    Some(true) => return http2(io, buf, serving).await,
                    Some(false) => break,
                    None if read_more(&mut io, &mut buf).await? == 0 => return Ok(()),
                    None => {}
                }
            }
        }
        let mut head = loop {
            match head::parse(&mut buf, serving.max_head) {
                Ok(Some(head)) => break head,
                Ok(None) => {
                    activity.head(true);
                    if read_more(&mut io, &mut buf).await? == 0 {
                        return Ok(());
                    }
                }
                Err(error) => {
                    activity.head(false);
                    tracing::debug!(?error, "request head refused");
                    return refuse(io, error.status()).await;
                }
            }
        };
        activity.head(false);
        let switch = head.upgrade.then(|| {
            let (switch, on) = upgrade::switch();
            head.request.extensions_mut().insert(on);
            switch
        });
        let mut asked = Asked {
            head: head.request.method() == Method::HEAD,
            version: head.request.version(),
            keep_alive: head.keep_alive,
        };
        let connection = &serving.connection;
        let (mut reader, body) = match head.body {
            BodyLength::None => (BodyReader::none(), RequestBody::full(Bytes::new())),
            length => {
                let exact = match length {
                    BodyLength::Length(length) => Some(length),
                    BodyLength::None | BodyLength::Chunked => None,
                };
                let (feed, pipe) = pipe(exact);
                let body =
                    RequestBody::piped(pipe, connection.body_timeout, connection.rules.underscores);
                (BodyReader::new(feed, length, head.expect_continue), body)
            }
        };
        // Boxed, one allocation per request: the request future holds the gateway's whole
        // state, several KiB, which every connection would otherwise keep room for while idle.
        let mut handling = Box::pin(connection.handle(head.request.map(|()| body)));
        let response = poll_fn(|cx| {
            if let Poll::Ready(response) = handling.as_mut().poll(cx) {
                return Poll::Ready(response);
            }
            reader.poll(cx, &mut io, &mut buf);
            Poll::Pending
        })
        .await;
        drop(handling);
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return switched(io, response, asked, switch, buf).await;
        }
        let rest = reader.settle(&mut buf);
        asked.keep_alive &= rest != Rest::Closing;
        let keep_alive = answer(&mut io, response, asked, &mut reader, &mut buf, &activity).await?;
        let kept = keep_alive
            && (rest != Rest::Discarded
                || discard(&mut io, &mut reader, &mut buf, connection.body_timeout).await);
        if !(kept && reader.finish(&mut buf)) {
            let unread = !reader.is_read() || !buf.is_empty();
            return close(io, serving.tls, unread).await;
        }
    }
}

/// Waits for the first bytes of a connection's next request without holding a buffer: they
/// are read on the stack, and copied (a typical head: a few hundred bytes) into a buffer taken
/// from the worker's pool once they are there. `None` when the client closed the connection or
/// the server is stopping.
fn poll_first_bytes<T: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    io: &mut T,
    activity: &Activity,
) -> Poll<io::Result<Option<BytesMut>>> {
    if activity.is_stopping() {
        return Poll::Ready(Ok(None));
    }
    let mut first = [const { MaybeUninit::<u8>::uninit() }; FIRST_READ];
    let mut first = ReadBuf::uninit(&mut first);
    std::task::ready!(Pin::new(io).poll_read(cx, &mut first))?;
    if first.filled().is_empty() {
        return Poll::Ready(Ok(None));
    }
    let mut buf = buffers::take();
    buf.extend_from_slice(first.filled());
    Poll::Ready(Ok(Some(buf)))
}

/// Reads what has arrived into `buf`, making room first; `Ok(0)` at the end of the stream.
async fn read_more<T: AsyncRead + Unpin>(io: &mut T, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < buffers::SIZE / 4 {
        buf.reserve(buffers::SIZE);
    }
    poll_fn(|cx| tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf)).await
}

/// Reads and drops the rest of a body its request let go of, for at most `timeout`: whether
/// the connection can carry another request.
async fn discard<T: AsyncRead + Unpin>(
    io: &mut T,
    reader: &mut BodyReader,
    buf: &mut BytesMut,
    timeout: Duration,
) -> bool {
    let discarding = async {
        while !reader.finish(buf) {
            if reader.is_broken() || matches!(read_more(io, buf).await, Ok(0) | Err(_)) {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(timeout, discarding)
        .await
        .unwrap_or(false)
}

/// Writes `response` for a request that `asked` it, feeding the request's body meanwhile if
/// the answer streams while it is read. Whether the connection can carry another request.
async fn answer<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    response: http::Response<Logged>,
    asked: Asked,
    reader: &mut BodyReader,
    buf: &mut BytesMut,
    activity: &Activity,
) -> io::Result<bool> {
    let (parts, mut body) = response.into_parts();
    let mut out = buffers::take();
    let ended = body.is_end_stream();
    let exact = body.size_hint().exact();
    let stopping = activity.is_stopping();
    let (framing, keep_alive) = write::head(&parts, ended, exact, asked, stopping, &mut out);
    buffers::give_header_map(parts.headers);
    let sent = match framing {
        Framing::None => Ok(true),
        framing => send_body(io, &mut out, &mut body, framing, reader, buf).await,
    };
    let sent = match sent {
        Ok(complete) => {
            let flushed = write_out(io, &mut out).await;
            flushed.map(|()| complete)
        }
        Err(error) => Err(error),
    };
    buffers::give(out);
    // The answer is out: the access log and the in-flight count learn it as the body goes.
    drop(body);
    Ok(sent? && keep_alive)
}

/// Writes `body` behind the head in `out` as `framing` says; what is left in `out` is for the
/// caller to write. Whether the body was sent whole: a body that fails or does not match its
/// length is cut short, and the connection cannot go on.
async fn send_body<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    out: &mut BytesMut,
    body: &mut Logged,
    framing: Framing,
    reader: &mut BodyReader,
    buf: &mut BytesMut,
) -> io::Result<bool> {
    let mut left = match framing {
        Framing::Length(length) => Some(length),
        Framing::None | Framing::Chunked | Framing::UntilClose => None,
    };
    let mut poll_next = |cx: &mut Context<'_>, io: &mut T| {
        reader.poll(cx, io, buf);
        Pin::new(&mut *body).poll_frame(cx)
    };
    loop {
        let frame = match poll_fn(|cx| Poll::Ready(poll_next(cx, io))).await {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                // Nothing more yet: what is ready goes out while the rest is awaited.
                write_out(io, out).await?;
                poll_fn(|cx| poll_next(cx, io)).await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(error)) => {
                tracing::debug!(%error, "an answer's body failed; the answer is cut short");
                return Ok(false);
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let (Ok(trailers), Framing::Chunked) = (frame.into_trailers(), framing) {
                        chunked::encode_trailers(&trailers, out);
                        return Ok(true);
                    }
                    continue;
                }
            },
        };
        if data.is_empty() {
            continue;
        }
        if let Some(left) = &mut left {
            let Some(rest) = left.checked_sub(data.len() as u64) else {
                tracing::debug!("an answer's body is longer than its length; cut short");
                return Ok(false);
            };
            *left = rest;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(chunked::chunk_size_line(data.len()).as_bytes());
        }
        put(io, out, data).await?;
        if framing == Framing::Chunked {
            out.extend_from_slice(chunked::CRLF);
        }
    }
    match (framing, left) {
        (Framing::Chunked, _) => {
            out.extend_from_slice(chunked::LAST_CHUNK);
            Ok(true)
        }
        (_, Some(0) | None) => Ok(true),
        (_, Some(_)) => {
            tracing::debug!("an answer's body is shorter than its length; cut short");
            Ok(false)
        }
    }
}

/// Appends `data` to `out` when it is small; otherwise writes both, `data` from where it is.
async fn put<T: AsyncWrite + Unpin>(io: &mut T, out: &mut BytesMut, data: Bytes) -> io::Result<()> {
    if data.len() <= COPIED {
        out.extend_from_slice(&data);
        if out.len() >= 4 * COPIED {
            write_out(io, out).await?;
        }
        return Ok(());
    }
    let mut data = data;
    while !out.is_empty() || !data.is_empty() {
        let slices = [io::IoSlice::new(out), io::IoSlice::new(&data)];
        let written = io.write_vectored(&slices).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_out = written.min(out.len());
        bytes::Buf::advance(out, from_out);
        bytes::Buf::advance(&mut data, written - from_out);
    }
    out.clear();
    Ok(())
}

/// Writes and flushes what `out` holds, and empties it.
async fn write_out<T: AsyncWrite + Unpin>(io: &mut T, out: &mut BytesMut) -> io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    io.flush().await
}

/// Answers a head that could not be parsed with `status` and closes the connection, reading
/// (and dropping) what the client still sends for a moment, so that its unread bytes do not
/// reset the connection before it has read the refusal.
async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(mut io: T, status: u16) -> Result<(), Error> {
    let mut out = buffers::take();
    write::refusal(status, &mut out);
    let written = write_out(&mut io, &mut out).await;
    buffers::give(out);
    written?;
    close(io, true, true).await
}

/// Closes a connection after its last answer: with `close_notify` first (`tls`), and, when
/// the client may have sent bytes nobody read (`unread`: a body not taken, a pipelined
/// request), half-closed first while what it sends is read and dropped for a moment, so that
/// closing does not reset the connection before the client has read the answer (nginx's
/// lingering close). A cleartext connection read to its end is just dropped: no shutdown, no
/// extra read.
async fn close<T: AsyncRead + AsyncWrite + Unpin>(
    mut io: T,
    tls: bool,
    unread: bool,
) -> Result<(), Error> {
    if tls || unread {
        io.shutdown().await?;
    }
    if unread {
        // A pooled buffer, not one on the stack: the task would keep room for it all along.
        let mut sink = buffers::take();
        let mut drained = 0;
        let _ = tokio::time::timeout(LINGER, async {
            while drained < LINGER_BYTES {
                sink.clear();
                match read_more(&mut io, &mut sink).await {
                    Ok(read @ 1..) => drained += read,
                    _ => break,
                }
            }
        })
        .await;
        buffers::give(sink);
    }
    Ok(())
}

/// Writes a `101` and hands the connection, with what the client sent after its request's
/// head, to the tunnel waiting for it; without one (a `101` nobody asked for), closes it.
async fn switched<T>(
    mut io: T,
    response: http::Response<Logged>,
    asked: Asked,
    switch: Option<Switch>,
    buf: BytesMut,
) -> Result<(), Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (parts, body) = response.into_parts();
    let mut out = buffers::take();
    // The connection is the tunnel's from now on: nothing may say it closes.
    let asked = Asked {
        keep_alive: true,
        ..asked
    };
    write::head(&parts, true, Some(0), asked, false, &mut out);
    let written = write_out(&mut io, &mut out).await;
    buffers::give(out);
    drop(body);
    written?;
    if let Some(switch) = switch {
        switch.send(Rewound::new(buf.freeze(), Box::new(io)));
    }
    Ok(())
}

/// Hands a connection that opened with the HTTP/2 preface, with what was read of it put
/// back, to hyper's HTTP/2 server.
async fn http2<G, T>(io: T, buf: BytesMut, serving: Serving<'_, G>) -> Result<(), Error>
where
    G: Gateway,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::clone(&serving.connection.activity);
    let io = TokioIo::new(Rewound::new(buf.freeze(), io));
    // Boxed, once per h2c connection: inline, hyper's HTTP/2 connection would make every
    // HTTP/1 connection's task several KiB larger.
    let mut conn = Box::pin(
        serving
            .http2
            .serve_connection(io, serving.connection.service()),
    );
    until_stopped(&activity, conn.as_mut(), |conn| conn.graceful_shutdown()).await?;
    Ok(())
}

/// Drives a hyper connection to its end, telling it to stop gracefully once the server stops.
async fn until_stopped<C, E>(
    activity: &Activity,
    mut conn: Pin<&mut C>,
    stop: impl Fn(Pin<&mut C>),
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut told = false;
    poll_fn(|cx| {
        if !told && activity.is_stopping() {
            told = true;
            stop(conn.as_mut());
        }
        conn.as_mut().poll(cx)
    })
    .await
}
