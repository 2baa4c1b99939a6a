//! Bodies: the response body (a fixed text, or an upstream body streamed through, possibly
//! compressed or copied for the cache on the way), the request
//! body as the gateway sees it (the client's, possibly capped, or one read in full by a
//! policy), and the request body sent upstream (that one, or empty when a request is sent
//! again).

use std::{
    fmt, io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

use crate::{
    clock::{self, Nanos},
    http1::client::Answer,
    http1::pipe::Pipe,
};

mod copy;
mod lease;

use copy::BodyCopy;
pub(crate) use copy::Copied;
pub(crate) use lease::{Lease, Lessor};

/// A response body. Opaque on purpose: generated code builds one through [`crate::respond`]
/// or gets one from [`crate::Pool::forward`].
#[derive(Debug)]
pub struct Body {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// A body known in full; `None` once sent (or when empty).
    Full(Option<Bytes>),
    /// An upstream response body read by hyper (HTTP/2, and answers to upgrade requests).
    /// The lease ends with the stream; if the body is dropped before that, the connection
    /// is dropped with it.
    Upstream {
        body: Incoming,
        connection: Option<Lease>,
    },
    /// An upstream HTTP/1.1 answer's body, read from its connection, which goes back to its
    /// server through the lease once the body has ended; dropped early, both are dropped.
    Answer { body: Answer, lease: Lease },
    /// Another body as a policy transforms it while it streams: compressed (`compress`),
    /// copied for the cache (`cache`). Behind a trait object, so bodies know no policy: one
    /// indirect call per frame, on answers whose every frame is encoded or copied anyway
    /// (the box itself was there before, to keep `Body` small).
    Wrapped(Pin<Box<dyn Transformed>>),
    /// Bytes of a file, read as they are sent (`serve dir`).
    File {
        file: tokio::fs::File,
        remaining: u64,
    },
}

/// A body a policy made of another, as it streams.
pub(crate) trait Transformed:
    http_body::Body<Data = Bytes, Error = io::Error> + Send + Sync + fmt::Debug
{
}

impl<B> Transformed for B where
    B: http_body::Body<Data = Bytes, Error = io::Error> + Send + Sync + fmt::Debug
{
}

/// How much of a file is read at a time.
const FILE_CHUNK: u64 = 64 * 1024;

impl Default for Body {
    /// An empty body.
    fn default() -> Body {
        Body {
            kind: Kind::Full(None),
        }
    }
}

impl Body {
    pub(crate) fn from_static(text: &'static str) -> Body {
        let bytes = (!text.is_empty()).then(|| Bytes::from_static(text.as_bytes()));
        Body {
            kind: Kind::Full(bytes),
        }
    }

    /// A body known in full, e.g. a reason text made for one request.
    pub(crate) fn from_bytes(bytes: Bytes) -> Body {
        Body {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The next `count` bytes of `file`.
    pub(crate) fn file(file: tokio::fs::File, count: u64) -> Body {
        Body {
            kind: Kind::File {
                file,
                remaining: count,
            },
        }
    }

    /// `body`, a transformation of another body made by a policy.
    pub(crate) fn wrap(body: impl Transformed + 'static) -> Body {
        Body {
            kind: Kind::Wrapped(Box::pin(body)),
        }
    }

    /// Streams `body`; `connection` is released once `body` has ended.
    pub(crate) fn upstream(body: Incoming, connection: Lease) -> Body {
        use http_body::Body as _;
        // Dropped at once for an answer that has ended already.
        let connection = (!body.is_end_stream()).then_some(connection);
        Body {
            kind: Kind::Upstream { body, connection },
        }
    }

    /// Streams an HTTP/1.1 answer's `body`; its connection goes back through `lease` at the
    /// end.
    pub(crate) fn answer(body: Answer, lease: Lease) -> Body {
        let mut answer = Body {
            kind: Kind::Answer { body, lease },
        };
        if answer.is_answer_end() {
            answer.end_answer();
        }
        answer
    }

    fn is_answer_end(&self) -> bool {
        matches!(&self.kind, Kind::Answer { body, .. } if body.is_end_stream())
    }

    /// An HTTP/1.1 answer has ended: its connection goes back to its server if it can carry
    /// another request.
    fn end_answer(&mut self) {
        if let Kind::Answer { body, lease } = std::mem::take(&mut self.kind) {
            lease.give_back(body.into_reusable());
        }
    }
}

impl Default for Kind {
    fn default() -> Kind {
        Kind::Full(None)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream { body, connection } => {
                let frame = std::task::ready!(Pin::new(&mut *body).poll_frame(cx));
                // hyper stops polling once `is_end_stream` is true, so the lease ends on the
                // last frame as well as on `None` or an error.
                if !matches!(frame, Some(Ok(_))) || body.is_end_stream() {
                    *connection = None;
                }
                Poll::Ready(frame.map(|frame| frame.map_err(io::Error::other)))
            }
            Kind::Answer { body, .. } => {
                let frame = std::task::ready!(body.poll_frame(cx));
                match &frame {
                    Some(Ok(_)) if !body.is_end_stream() => {}
                    Some(Ok(_)) | None => this.end_answer(),
                    // The connection is closed with the body: what is left of it is unknown.
                    Some(Err(_)) => this.kind = Kind::Full(None),
                }
                Poll::Ready(frame)
            }
            Kind::Wrapped(body) => body.as_mut().poll_frame(cx),
            Kind::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let mut chunk = vec![0; (*remaining).min(FILE_CHUNK) as usize];
                let mut read = tokio::io::ReadBuf::new(&mut chunk);
                let polled = tokio::io::AsyncRead::poll_read(Pin::new(file), cx, &mut read);
                match std::task::ready!(polled) {
                    Ok(()) if !read.filled().is_empty() => {
                        let count = read.filled().len();
                        chunk.truncate(count);
                        *remaining -= count as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
                    }
                    outcome => {
                        // The file shrank or failed: the client sees a short answer.
                        if let Err(error) = outcome {
                            tracing::warn!(%error, "reading a served file failed");
                        }
                        *remaining = 0;
                        Poll::Ready(None)
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Upstream { body, .. } => body.is_end_stream(),
            Kind::Answer { body, .. } => body.is_end_stream(),
            Kind::Wrapped(body) => body.is_end_stream(),
            Kind::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream { body, .. } => body.size_hint(),
            Kind::Answer { body, .. } => body.size_hint(),
            Kind::Wrapped(body) => body.size_hint(),
            Kind::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// A request body as the gateway and its policies see it: the client's body, streamed, or a
/// body a policy has read in full (and put back). It may carry a size cap: past the cap, the
/// stream ends in [`BodyError::TooLarge`], and forwarding such a request answers 413. A client
/// that sends no byte of its body for the listener's body timeout ends it in
/// [`BodyError::TimedOut`] (nginx's `client_body_timeout`).
#[derive(Debug)]
pub struct RequestBody {
    kind: RequestKind,
    /// Bytes still allowed through; `u64::MAX` when uncapped.
    allowed: u64,
    /// Where the bytes read are counted, for the access log.
    counted: Option<Arc<AtomicU64>>,
    /// How far the body has been sent upstream, when an exchange watches it.
    sending: Option<Arc<Sending>>,
    /// The copy a mirror takes as the body streams.
    copy: Option<Box<BodyCopy>>,
}

/// What a mirror can have of a request's body, as [`RequestBody::copy`] tells.
#[derive(Debug)]
pub(crate) enum CopyOf {
    /// The body is known already: no body, or one a policy read in full.
    Now(Bytes),
    /// The body is on its way: the copy follows once it has ended.
    Later(tokio::sync::oneshot::Receiver<Copied>),
    /// The body is declared longer than the copy may be.
    TooLarge,
}

#[derive(Debug)]
enum RequestKind {
    Client(ClientBody),
    /// `None` once sent (or when empty).
    Full(Option<Bytes>),
}

/// The client's body stream and its idle timer.
#[derive(Debug)]
struct ClientBody {
    body: Source,
    /// Whether trailer names with `_` pass (`scrub::trailer_allowed`).
    underscores: bool,
    /// Longest wait for the next bytes.
    timeout: Duration,
    /// Armed when a read finds nothing to read, and only then: a body that arrives with its
    /// head never allocates one.
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

/// Where a client's body comes from.
#[derive(Debug)]
enum Source {
    /// Read by hyper: HTTP/2 streams, and requests hyper serves after a hand-over.
    Hyper(Incoming),
    /// Read by Edge's HTTP/1 engine from the connection, as the request asks for it.
    Pipe(Pipe),
}

impl Source {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        use http_body::Body as _;
        match self {
            Source::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(io::Error::other))),
            Source::Pipe(pipe) => pipe.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        use http_body::Body as _;
        match self {
            Source::Hyper(body) => body.is_end_stream(),
            Source::Pipe(pipe) => pipe.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        use http_body::Body as _;
        match self {
            Source::Hyper(body) => body.size_hint(),
            Source::Pipe(pipe) => pipe.size_hint(),
        }
    }
}

impl ClientBody {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        use std::future::Future as _;
        if let Poll::Ready(frame) = self.body.poll_frame(cx) {
            self.armed = false;
            let frame = match frame {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => return Poll::Ready(Some(Err(BodyError::Client(error)))),
                None => return Poll::Ready(None),
            };
            // A client's trailers cannot pass for fields the proxy sets.
            let frame = match frame.into_trailers() {
                Ok(mut trailers) => {
                    crate::fields::scrub_trailers(&mut trailers, self.underscores);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            };
            return Poll::Ready(Some(Ok(frame)));
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let idle = match &mut self.idle {
            Some(idle) if self.armed => idle,
            Some(idle) => {
                idle.as_mut().reset(deadline);
                idle
            }
            None => self
                .idle
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TimedOut))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The client's stream failed (reset, malformed framing, connection lost).
    Client(io::Error),
    /// The body is longer than the cap set with [`RequestBody::limit`].
    TooLarge,
    /// The client sent nothing of its body for the listener's body timeout.
    TimedOut,
}

/// What went wrong with a client's body, as the answer tells it: `413`, `400` or `408`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    TooLarge,
    Broken,
    TimedOut,
}

impl BodyError {
    pub(crate) fn fault(&self) -> BodyFault {
        match self {
            BodyError::Client(_) => BodyFault::Broken,
            BodyError::TooLarge => BodyFault::TooLarge,
            BodyError::TimedOut => BodyFault::TimedOut,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Client(e) => write!(f, "reading the request body failed: {e}"),
            BodyError::TooLarge => f.write_str("the request body is larger than allowed"),
            BodyError::TimedOut => f.write_str("the client stopped sending its request body"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Client(e) => Some(e),
            BodyError::TooLarge | BodyError::TimedOut => None,
        }
    }
}

/// How far a request body has been sent upstream: shared by the body, which the upstream
/// connection polls, and the exchange waiting for the answer, whose response timeout only
/// runs once the body has been sent (a client trickling its body is not a slow server).
#[derive(Debug, Default)]
pub(crate) struct Sending {
    /// Frames handed on, times four; plus [`Sending::WAITING`] while the body waits for the
    /// client's next bytes, plus [`Sending::ENDED`] once it has ended.
    state: AtomicU64,
    /// When the body ended ([`clock::now`]).
    ended_at: AtomicU64,
}

/// Where a body being sent stands, as [`Sending::progress`] tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Waiting for the client's next bytes: the client's time, bounded by its body timeout.
    Client,
    /// Frames handed on so far, while the upstream side has the next move: a count that does
    /// not change means the server is not reading.
    Moving(u64),
    /// Ended at this time ([`clock::now`]).
    Ended(Nanos),
}

impl Sending {
    const ENDED: u64 = 1;
    const WAITING: u64 = 2;
    const FRAME: u64 = 4;

    pub(crate) fn progress(&self) -> Progress {
        let state = self.state.load(Ordering::Acquire);
        if state & Sending::ENDED != 0 {
            Progress::Ended(self.ended_at.load(Ordering::Relaxed))
        } else if state & Sending::WAITING != 0 {
            Progress::Client
        } else {
            Progress::Moving(state / Sending::FRAME)
        }
    }

    fn waiting(&self, waiting: bool) {
        if waiting {
            self.state.fetch_or(Sending::WAITING, Ordering::Relaxed);
        } else {
            self.state.fetch_and(!Sending::WAITING, Ordering::Relaxed);
        }
    }

    fn frame(&self) {
        self.state.fetch_add(Sending::FRAME, Ordering::Relaxed);
    }

    fn end(&self) {
        if self.state.load(Ordering::Relaxed) & Sending::ENDED == 0 {
            self.ended_at.store(clock::now(), Ordering::Relaxed);
            self.state.fetch_or(Sending::ENDED, Ordering::Release);
        }
    }
}

impl RequestBody {
    /// The client's body as hyper reads it; a wait of more than `timeout` for its next bytes
    /// ends it in [`BodyError::TimedOut`]. Its trailers lose the fields a client may not send
    /// there (names with `_` among them unless `underscores`).
    pub(crate) fn client(body: Incoming, timeout: Duration, underscores: bool) -> RequestBody {
        RequestBody::from_client(Source::Hyper(body), timeout, underscores)
    }

    /// The client's body as Edge's HTTP/1 engine reads it; see [`RequestBody::client`].
    pub(crate) fn piped(body: Pipe, timeout: Duration, underscores: bool) -> RequestBody {
        RequestBody::from_client(Source::Pipe(body), timeout, underscores)
    }

    fn from_client(body: Source, timeout: Duration, underscores: bool) -> RequestBody {
        RequestBody {
            kind: RequestKind::Client(ClientBody {
                body,
                underscores,
                timeout,
                idle: None,
                armed: false,
            }),
            allowed: u64::MAX,
            counted: None,
            sending: None,
            copy: None,
        }
    }

    /// A body known in full.
    pub fn full(bytes: Bytes) -> RequestBody {
        RequestBody {
            kind: RequestKind::Full((!bytes.is_empty()).then_some(bytes)),
            allowed: u64::MAX,
            counted: None,
            sending: None,
            copy: None,
        }
    }

    /// A copy of the body, of at most `max` bytes, for a mirror: at once when the body is
    /// known, else taken as the body streams (its reader never waits for the copy).
    pub(crate) fn copy(&mut self, max: u64) -> CopyOf {
        use http_body::Body as _;
        match &self.kind {
            RequestKind::Full(bytes) => match bytes {
                Some(bytes) if bytes.len() as u64 > max => CopyOf::TooLarge,
                Some(bytes) => CopyOf::Now(bytes.clone()),
                None => CopyOf::Now(Bytes::new()),
            },
            RequestKind::Client(_) if self.is_end_stream() => CopyOf::Now(Bytes::new()),
            RequestKind::Client(_) if self.size_hint().lower() > max => CopyOf::TooLarge,
            RequestKind::Client(_) => {
                let (copy, copied) = BodyCopy::new(max);
                self.copy = Some(Box::new(copy));
                CopyOf::Later(copied)
            }
        }
    }

    /// The body has ended: says so to whoever watches.
    fn ended(&mut self) {
        if let Some(sending) = &self.sending {
            sending.end();
        }
        if let Some(copy) = &mut self.copy {
            copy.end();
        }
    }

    /// Reports how far this body has been sent to the returned [`Sending`]; `None` (and no
    /// allocation) for a body that has already ended.
    pub(crate) fn watch_sending(&mut self) -> Option<Arc<Sending>> {
        use http_body::Body as _;
        if self.is_end_stream() {
            return None;
        }
        let sending = Arc::new(Sending::default());
        self.sending = Some(Arc::clone(&sending));
        Some(sending)
    }

    /// Adds the length of every data frame read from now on to `counter`.
    pub(crate) fn count_into(&mut self, counter: Arc<AtomicU64>) {
        self.counted = Some(counter);
    }

    /// Caps the body at `max` bytes (a lower cap set earlier stays). Fails at once when the
    /// declared length (`Content-Length`) is already over the cap; otherwise a stream that
    /// goes past it ends in [`BodyError::TooLarge`].
    pub fn limit(&mut self, max: u64) -> Result<(), BodyError> {
        use http_body::Body as _;
        self.allowed = self.allowed.min(max);
        if self.size_hint().lower() > self.allowed {
            return Err(BodyError::TooLarge);
        }
        Ok(())
    }

    /// Reads the whole body, at most `max` bytes (and within any cap already set), and keeps
    /// the bytes read as the body, so the request can still be forwarded. Trailers are dropped.
    pub async fn read_to_end(&mut self, max: u64) -> Result<Bytes, BodyError> {
        use http_body_util::BodyExt;
        self.limit(max)?;
        let mut collected = bytes::BytesMut::new();
        while let Some(frame) = self.frame().await {
            if let Ok(data) = frame?.into_data() {
                collected.extend_from_slice(&data);
            }
        }
        let bytes = collected.freeze();
        self.kind = RequestKind::Full((!bytes.is_empty()).then(|| bytes.clone()));
        // Within the cap, and counted once already, as it was read.
        self.allowed = u64::MAX;
        self.counted = None;
        Ok(bytes)
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let frame = match &mut this.kind {
            RequestKind::Client(body) => match body.poll_frame(cx) {
                Poll::Pending => {
                    if let Some(sending) = &this.sending {
                        sending.waiting(true);
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame))) => frame,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.ended();
                    return Poll::Ready(None);
                }
            },
            RequestKind::Full(bytes) => match bytes.take() {
                Some(bytes) => Frame::data(bytes),
                None => {
                    this.ended();
                    return Poll::Ready(None);
                }
            },
        };
        if let Some(sending) = &this.sending {
            sending.waiting(false);
            sending.frame();
            if this.is_end_stream() {
                sending.end();
            }
        }
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if let Some(counted) = &this.counted {
                counted.fetch_add(len, Ordering::Relaxed);
            }
            if len > this.allowed {
                this.allowed = 0;
                return Poll::Ready(Some(Err(BodyError::TooLarge)));
            }
            if this.allowed != u64::MAX {
                this.allowed -= len;
            }
            if this.copy.is_some() {
                let end = this.is_end_stream();
                if let Some(copy) = &mut this.copy {
                    copy.data(data);
                    if end {
                        copy.end();
                    }
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            RequestKind::Client(client) => client.body.is_end_stream(),
            RequestKind::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            RequestKind::Client(client) => client.body.size_hint(),
            RequestKind::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// The body of a request sent upstream: the gateway's request body, or nothing for a retried
/// request (only requests whose body was empty are ever sent twice).
#[derive(Debug)]
pub(crate) enum Outgoing {
    Client(RequestBody),
    Empty,
}

impl Outgoing {
    /// See [`RequestBody::watch_sending`].
    pub(crate) fn watch_sending(&mut self) -> Option<Arc<Sending>> {
        match self {
            Outgoing::Client(body) => body.watch_sending(),
            Outgoing::Empty => None,
        }
    }
}

impl http_body::Body for Outgoing {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Outgoing::Client(body) => Pin::new(body).poll_frame(cx),
            Outgoing::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Client(body) => body.is_end_stream(),
            Outgoing::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outgoing::Client(body) => body.size_hint(),
            Outgoing::Empty => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn static_body_yields_its_text_once() {
        let body = Body::from_static("hello\n");
        assert_eq!(body.size_hint().exact(), Some(6));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, "hello\n");
    }

    #[test]
    fn empty_static_body_is_ended() {
        let body = Body::from_static("");
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[tokio::test]
    async fn an_empty_outgoing_body_is_ended() {
        let body = Outgoing::Empty;
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_full_body_over_its_cap_is_refused_at_once() {
        let mut body = RequestBody::full(Bytes::from_static(b"0123456789"));
        assert!(matches!(body.limit(9), Err(BodyError::TooLarge)));
        let mut body = RequestBody::full(Bytes::from_static(b"0123456789"));
        assert_eq!(body.read_to_end(10).await.unwrap(), "0123456789");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "0123456789");
    }
}
