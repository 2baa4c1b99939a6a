//! An HTTP/1.1 connection to an upstream server, driven by the request on it: [`Connection::
//! send`] writes the request's head and body and reads the answer's head; the answer's body
//! ([`Answer`]) reads the rest from the same buffer and, once it has ended, gives the connection
//! back for the next request. No task drives a connection: an idle one is a socket and nothing
//! else (its read buffer goes back to the worker's pool), checked with
//! [`Connection::is_usable`] before it carries another request.

use std::{
    fmt,
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body::{Frame, SizeHint};
use tokio::{
    io::{AsyncRead, AsyncWriteExt, ReadBuf},
    time::Sleep,
};

use crate::{
    http1::buffers,
    http1::chunked::{self, Decoder, Step},
    http1::request::{self, BodyFraming},
    http1::response::{self, Framing, Head, HeadError, Stripped},
    stream::Stream,
};

/// Where a connection's timer is set while no answer is awaited: it is reset before each
/// wait, so this only needs to be later than any.
const IDLE_TIMER: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The most an answer's body is read at once.
const BODY_READ: usize = 64 * 1024;

/// Body bytes up to this size are copied behind the head or the chunk's size line, so that
/// they leave in one write; larger ones are written as they are.
const COPIED: usize = 16 * 1024;

/// An open HTTP/1.1 connection to a server.
#[derive(Debug)]
pub(crate) struct Connection {
    wire: Wire,
    /// The timer that bounds the wait for an answer on this connection, reset in place for
    /// each request: one timer entry per connection rather than one per request, which cost
    /// 800 instructions a request. Its deadlines only move later while it is registered, and
    /// tokio then moves the entry in its wheel only when the earlier deadline comes.
    timer: Pin<Box<Sleep>>,
}

/// The socket and what was read from it.
#[derive(Debug)]
struct Wire {
    io: Stream,
    /// Bytes read and not used yet; an empty handle, holding no memory, while idle.
    buf: BytesMut,
}

/// Why a request got no answer head.
#[derive(Debug)]
pub(crate) struct Failed<E> {
    pub(crate) error: SendError<E>,
    /// Nothing of the answer arrived and nothing of the request's body was taken, so the
    /// request can go again, as it is, on another connection.
    pub(crate) resendable: bool,
}

/// What went wrong with a request on its connection.
#[derive(Debug)]
pub(crate) enum SendError<E> {
    /// The exchange with the server broke.
    Broken(Broken),
    /// The request's own body failed: the client's fault, not the server's.
    Body(E),
}

/// How an exchange with a server broke.
#[derive(Debug)]
pub(crate) enum Broken {
    /// Writing the request failed.
    Write(io::Error),
    /// Reading the answer failed.
    Read(io::Error),
    /// The server closed the connection before the answer's head was complete.
    Closed,
    /// The answer's head was refused.
    Head(HeadError),
    /// The request's body gave more or fewer bytes than its declared length.
    BodyLength,
}

impl<E> From<Broken> for SendError<E> {
    fn from(broken: Broken) -> Self {
        SendError::Broken(broken)
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Write(error) => write!(f, "sending the request failed: {error}"),
            Broken::Read(error) => write!(f, "reading the response failed: {error}"),
            Broken::Closed => f.write_str("the server closed the connection before answering"),
            Broken::Head(error) => error.fmt(f),
            Broken::BodyLength => f.write_str("the request body does not match its length"),
        }
    }
}

impl std::error::Error for Broken {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Broken::Write(error) | Broken::Read(error) => Some(error),
            Broken::Head(error) => Some(error),
            Broken::Closed | Broken::BodyLength => None,
        }
    }
}

impl Connection {
    /// A connection over `io`; in a Tokio runtime with time enabled (its timer is made here).
    pub(crate) fn new(io: Stream) -> Connection {
        Connection {
            wire: Wire {
                io,
                buf: BytesMut::new(),
            },
            timer: Box::pin(tokio::time::sleep(IDLE_TIMER)),
        }
    }

    /// Whether an idle connection can carry a request: still open, and nothing arrived on it
    /// unasked. Looks without waiting.
    pub(crate) fn is_usable(&mut self) -> bool {
        let mut probe = [0; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut self.wire.io)
            .poll_read(&mut cx, &mut probe)
            .is_pending()
    }

    /// Sends `req` and reads its answer's head (the future, [`Wire::send`]), and the
    /// connection's timer, for the caller to bound the wait with.
    pub(crate) fn send<'a, B>(
        &'a mut self,
        req: &'a mut Request<B>,
        stripped: Stripped,
    ) -> (
        impl Future<Output = Result<Head, Failed<B::Error>>> + 'a,
        Pin<&'a mut Sleep>,
    )
    where
        B: http_body::Body<Data = Bytes> + Unpin,
    {
        (self.wire.send(req, stripped), self.timer.as_mut())
    }
}

impl Wire {
    /// Sends `req` and reads its answer's head, skipping interim (`1xx`) answers other than
    /// `101`; the answer's fields that `stripped` names are left out (`response::parse`). The
    /// body is sent whole before the answer is read, unless the server closes the connection
    /// on it after answering early.
    async fn send<B>(
        &mut self,
        req: &mut Request<B>,
        stripped: Stripped,
    ) -> Result<Head, Failed<B::Error>>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
    {
        let body = req.body();
        let framing = BodyFraming::of(req.method(), body.is_end_stream(), body.size_hint().exact());
        let mut out = buffers::take();
        request::encode(req.method(), req.uri(), req.headers(), framing, &mut out);
        // A copy, not an allocation, for every standard method.
        let method = req.method().clone();
        let sent = self.write_request(&mut out, req.body_mut(), framing).await;
        buffers::give(out);
        match sent {
            Ok(()) => self.read_head(&method, stripped).await,
            // A server may answer before it has the whole body (a refusal, often) and close
            // the connection: its answer stands, on a connection not used again.
            Err(SendError::Broken(Broken::Write(error))) => {
                match self.read_head::<B::Error>(&method, stripped).await {
                    Ok(head) => Ok(Head {
                        keep_alive: false,
                        ..head
                    }),
                    Err(_) => Err(Failed {
                        error: Broken::Write(error).into(),
                        resendable: false,
                    }),
                }
            }
            Err(error) => Err(Failed {
                error,
                resendable: false,
            }),
        }
    }

    async fn write_request<B>(
        &mut self,
        out: &mut BytesMut,
        body: &mut B,
        framing: BodyFraming,
    ) -> Result<(), SendError<B::Error>>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
    {
        let mut left = match framing {
            BodyFraming::Length(length) => Some(length),
            BodyFraming::None | BodyFraming::Chunked => None,
        };
        if framing != BodyFraming::None {
            while let Some(frame) = self.next_frame(body, out).await? {
                let frame = frame.map_err(SendError::Body)?;
                let data = match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => {
                        if let (Ok(trailers), BodyFraming::Chunked) =
                            (frame.into_trailers(), framing)
                        {
                            return self.end_chunked(out, Some(&trailers)).await;
                        }
                        continue;
                    }
                };
                if data.is_empty() {
                    continue;
                }
                if let Some(left) = &mut left {
                    *left = left
                        .checked_sub(data.len() as u64)
                        .ok_or(Broken::BodyLength)?;
                } else {
                    out.put_slice(chunked::chunk_size_line(data.len()).as_bytes());
                }
                if data.len() <= COPIED {
                    out.put_slice(&data);
                } else {
                    self.write(out).await?;
                    self.io.write_all(&data).await.map_err(Broken::Write)?;
                }
                if left.is_none() {
                    out.put_slice(chunked::CRLF);
                }
                if out.len() >= COPIED {
                    self.write(out).await?;
                }
            }
            match left {
                Some(0) => {}
                Some(_) => return Err(Broken::BodyLength.into()),
                None => return self.end_chunked(out, None).await,
            }
        }
        self.write(out).await?;
        self.io.flush().await.map_err(|e| Broken::Write(e).into())
    }

    /// The body's next frame. When it is not ready, what `out` holds is sent first, so that
    /// the server gets the head and the body so far while the client's next bytes are awaited.
    async fn next_frame<B>(
        &mut self,
        body: &mut B,
        out: &mut BytesMut,
    ) -> Result<Option<Result<Frame<Bytes>, B::Error>>, SendError<B::Error>>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
    {
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx)));
        if let Poll::Ready(frame) = polled.await {
            return Ok(frame);
        }
        if !out.is_empty() {
            self.write(out).await?;
            self.io.flush().await.map_err(Broken::Write)?;
        }
        Ok(std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await)
    }

    /// Ends a chunked body, with `trailers` if it has any, and sends what is left.
    async fn end_chunked<E>(
        &mut self,
        out: &mut BytesMut,
        trailers: Option<&HeaderMap>,
    ) -> Result<(), SendError<E>> {
        match trailers {
            Some(trailers) => chunked::encode_trailers(trailers, out),
            None => out.put_slice(chunked::LAST_CHUNK),
        }
        self.write(out).await?;
        self.io.flush().await.map_err(|e| Broken::Write(e).into())
    }

    /// Writes and empties `out`.
    async fn write<E>(&mut self, out: &mut BytesMut) -> Result<(), SendError<E>> {
        self.io.write_all(out).await.map_err(Broken::Write)?;
        out.clear();
        Ok(())
    }

    /// Reads until a final answer's head is complete.
    async fn read_head<E>(
        &mut self,
        method: &http::Method,
        stripped: Stripped,
    ) -> Result<Head, Failed<E>> {
        if self.buf.capacity() == 0 {
            self.buf = buffers::take();
        }
        let mut received = false;
        loop {
            if !self.buf.is_empty() {
                match response::parse(&mut self.buf, method, stripped) {
                    Ok(Some(head)) if head.status.is_informational() && head.status != 101 => {
                        continue
                    }
                    Ok(Some(head)) => return Ok(head),
                    Ok(None) => {}
                    Err(error) => {
                        return Err(Failed {
                            error: Broken::Head(error).into(),
                            resendable: false,
                        })
                    }
                }
            }
            match read_more(&mut self.io, &mut self.buf).await {
                Ok(0) => {
                    return Err(Failed {
                        error: Broken::Closed.into(),
                        resendable: !received,
                    })
                }
                Ok(_) => received = true,
                Err(error) => {
                    return Err(Failed {
                        resendable: !received && is_reset(&error),
                        error: Broken::Read(error).into(),
                    })
                }
            }
        }
    }

    /// Gives the read buffer back to the worker's pool, for a connection going idle.
    fn rest(&mut self) {
        buffers::give(std::mem::take(&mut self.buf));
    }
}

/// Whether a read failed because the server reset the connection (as a server does to a
/// kept-alive connection it closed while the request was on its way).
fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Reads what has arrived into `buf`, making room first; `Ok(0)` at the end of the stream.
async fn read_more(io: &mut Stream, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < buffers::SIZE / 4 {
        buf.reserve(buffers::SIZE);
    }
    std::future::poll_fn(|cx| tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf)).await
}

/// An answer's body, read from its connection.
#[derive(Debug)]
pub(crate) struct Answer {
    conn: Connection,
    remaining: Remaining,
    keep_alive: bool,
}

/// What is left of an answer's body.
#[derive(Debug)]
enum Remaining {
    Length(u64),
    Chunked(Box<Decoder>),
    UntilClose,
    Done,
}

impl Answer {
    /// The body after `head`, read from `conn`.
    pub(crate) fn new(conn: Connection, head: &Head) -> Answer {
        let remaining = match head.framing {
            Framing::Empty | Framing::Length(0) => Remaining::Done,
            Framing::Length(length) => Remaining::Length(length),
            Framing::Chunked => Remaining::Chunked(Box::new(Decoder::new())),
            Framing::UntilClose => Remaining::UntilClose,
        };
        Answer {
            conn,
            remaining,
            keep_alive: head.keep_alive,
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        matches!(self.remaining, Remaining::Done)
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Remaining::Length(length) => SizeHint::with_exact(length),
            Remaining::Done => SizeHint::with_exact(0),
            Remaining::Chunked(_) | Remaining::UntilClose => SizeHint::default(),
        }
    }

    /// Once the body has ended: its connection, if it can carry another request (the server
    /// keeps it open and sent nothing beyond the answer).
    pub(crate) fn into_reusable(mut self) -> Option<Connection> {
        if !self.is_end_stream() || !self.keep_alive || !self.conn.wire.buf.is_empty() {
            return None;
        }
        self.conn.wire.rest();
        Some(self.conn)
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            let buf = &mut self.conn.wire.buf;
            match &mut self.remaining {
                Remaining::Done => return Poll::Ready(None),
                Remaining::Length(left) if !buf.is_empty() => {
                    let take = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    if *left == 0 {
                        self.remaining = Remaining::Done;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(buf.split_to(take).freeze()))));
                }
                Remaining::UntilClose if !buf.is_empty() => {
                    return Poll::Ready(Some(Ok(Frame::data(buf.split().freeze()))));
                }
                Remaining::Chunked(decoder) if !buf.is_empty() => match decoder.decode(buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::End(trailers)) => {
                        self.remaining = Remaining::Done;
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Ok(Step::More) => {}
                    Err(error) => {
                        self.remaining = Remaining::Done;
                        self.keep_alive = false;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            error,
                        ))));
                    }
                },
                Remaining::Length(_) | Remaining::UntilClose | Remaining::Chunked(_) => {}
            }
            // Room for what the body still holds, up to a large read: a big answer comes in a
            // few reads and leaves in as many writes.
            let room = match self.remaining {
                Remaining::Length(left) => {
                    usize::try_from(left).map_or(BODY_READ, |left| left.min(BODY_READ))
                }
                Remaining::Chunked(_) | Remaining::UntilClose | Remaining::Done => BODY_READ,
            };
            if buf.capacity() - buf.len() < room.min(buffers::SIZE) {
                buf.reserve(room);
            }
            let read = tokio_util::io::poll_read_buf(Pin::new(&mut self.conn.wire.io), cx, buf);
            match std::task::ready!(read) {
                Ok(0) if matches!(self.remaining, Remaining::UntilClose) => {
                    self.remaining = Remaining::Done;
                    self.keep_alive = false;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection before the end of the body",
                    ))));
                }
                Ok(_) => {}
                Err(error) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}
