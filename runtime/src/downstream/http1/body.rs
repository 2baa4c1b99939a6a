//! A request body read from its connection: decoded from the connection's buffer (reading
//! more when it runs dry) only when the request asks for the next frame, and passed to it
//! through a pipe. The go-ahead a client waits for (`Expect: 100-continue`) is sent when the
//! request first asks for its body, as hyper does.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    downstream::http1::head::BodyLength,
    downstream::http1::write::CONTINUE,
    http1::buffers,
    http1::chunked::{Decoder, Step},
    http1::pipe::{End, Feed, Wanted},
};

/// The most of a body let go of by its request that is still read (and dropped) to keep the
/// connection; nginx reads any amount, HAProxy a buffer's worth.
pub(crate) const DISCARDED: u64 = 64 * 1024;

/// The connection's side of one request body.
#[derive(Debug)]
pub(crate) struct BodyReader {
    /// `None` once the body has ended (or for a request without one).
    feed: Option<Feed>,
    remaining: Remaining,
    /// Bytes of the go-ahead written so far, while one is owed.
    go_ahead: Option<usize>,
    /// The body was not read to its end: cut, malformed, or given up by the request.
    broken: bool,
}

/// What is left of the body on the wire.
#[derive(Debug)]
enum Remaining {
    Length(u64),
    Chunked(Box<Decoder>),
    Done,
}

impl BodyReader {
    /// A request without a body.
    pub(crate) fn none() -> BodyReader {
        BodyReader {
            feed: None,
            remaining: Remaining::Done,
            go_ahead: None,
            broken: false,
        }
    }

    /// A body of `length` passed to the request through `feed`; `expect_continue` when the
    /// client waits for a go-ahead.
    pub(crate) fn new(feed: Feed, length: BodyLength, expect_continue: bool) -> BodyReader {
        let remaining = match length {
            BodyLength::None => Remaining::Done,
            BodyLength::Length(length) => Remaining::Length(length),
            BodyLength::Chunked => Remaining::Chunked(Box::new(Decoder::new())),
        };
        BodyReader {
            feed: Some(feed),
            remaining,
            go_ahead: expect_continue.then_some(0),
            broken: false,
        }
    }

    /// Passes on the frames the request asks for, as far as the connection's bytes allow;
    /// never waits.
    pub(crate) fn poll<T>(&mut self, cx: &mut Context<'_>, io: &mut T, buf: &mut BytesMut)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        while let Some(feed) = &self.feed {
            match feed.poll_wanted(cx) {
                Poll::Pending => return,
                Poll::Ready(Wanted::Nothing) => {
                    self.feed = None;
                    return;
                }
                Poll::Ready(Wanted::Frame) => {}
            }
            match self.poll_go_ahead(cx, io) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return self.fail(End::Cut),
                Poll::Pending => return,
            }
            if !buf.is_empty() && self.pass_on(buf) {
                continue;
            }
            if self.feed.is_none() {
                return;
            }
            if buf.capacity() - buf.len() < buffers::SIZE / 4 {
                buf.reserve(buffers::SIZE);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf) {
                Poll::Pending => return,
                Poll::Ready(Ok(0) | Err(_)) => return self.fail(End::Cut),
                Poll::Ready(Ok(_)) => {}
            }
        }
    }

    /// Writes what is owed of the go-ahead: `true` once it is all out.
    fn poll_go_ahead<T: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut T,
    ) -> Poll<bool> {
        let Some(written) = &mut self.go_ahead else {
            return Poll::Ready(true);
        };
        while *written < CONTINUE.len() {
            match Pin::new(&mut *io).poll_write(cx, &CONTINUE[*written..]) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(false),
                Poll::Ready(Ok(count)) => *written += count,
                Poll::Pending => return Poll::Pending,
            }
        }
        match Pin::new(&mut *io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.go_ahead = None;
                Poll::Ready(true)
            }
            Poll::Ready(Err(_)) => Poll::Ready(false),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Passes on the next frame found in `buf`: `false` when more bytes are needed (or the
    /// body failed).
    fn pass_on(&mut self, buf: &mut BytesMut) -> bool {
        let Some(feed) = &self.feed else {
            return false;
        };
        match &mut self.remaining {
            Remaining::Length(left) => {
                let take = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= take as u64;
                feed.data(buf.split_to(take).freeze());
                if *left == 0 {
                    feed.end(None);
                    self.remaining = Remaining::Done;
                    self.feed = None;
                }
                true
            }
            Remaining::Chunked(decoder) => match decoder.decode(buf) {
                Ok(Step::Data(data)) => {
                    feed.data(data);
                    true
                }
                Ok(Step::End(trailers)) => {
                    feed.end(trailers);
                    self.remaining = Remaining::Done;
                    self.feed = None;
                    true
                }
                Ok(Step::More) => false,
                Err(_) => {
                    self.fail(End::Malformed);
                    false
                }
            },
            Remaining::Done => false,
        }
    }

    fn fail(&mut self, why: End) {
        if let Some(feed) = self.feed.take() {
            feed.fail(why);
        }
        self.broken = true;
    }

    /// Whether the whole body has been read from the connection.
    pub(crate) fn is_read(&self) -> bool {
        matches!(self.remaining, Remaining::Done) && !self.broken
    }

    /// Whether the body turned out cut or malformed.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Once the request is answered, before its answer is written: what becomes of a body it
    /// let go of before its end. What the buffer holds of it is skipped at once.
    pub(crate) fn settle(&mut self, buf: &mut BytesMut) -> Rest {
        if self.feed.as_ref().is_some_and(|feed| !feed.is_dropped()) {
            return Rest::Kept;
        }
        self.feed = None;
        if self.skip(buf) {
            return Rest::Kept;
        }
        match self.remaining {
            _ if self.broken || self.go_ahead.is_some() => Rest::Closing,
            Remaining::Length(left) if left <= DISCARDED => Rest::Discarded,
            _ => Rest::Closing,
        }
    }

    /// Once the answer has been sent: skips what is left of the body if the buffer holds it
    /// all. Whether the connection can carry another request (a body not read to its end
    /// leaves the connection in the middle of it).
    pub(crate) fn finish(&mut self, buf: &mut BytesMut) -> bool {
        self.feed = None;
        self.skip(buf)
    }

    /// Skips what `buf` holds of the body: whether it is now read to its end.
    fn skip(&mut self, buf: &mut BytesMut) -> bool {
        if self.broken {
            return false;
        }
        match &mut self.remaining {
            Remaining::Done => true,
            Remaining::Length(left) => {
                let take = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                buf.advance(take);
                *left -= take as u64;
                if *left > 0 {
                    return false;
                }
                self.remaining = Remaining::Done;
                true
            }
            Remaining::Chunked(decoder) => loop {
                match decoder.decode(buf) {
                    Ok(Step::Data(_)) => {}
                    Ok(Step::End(_)) => {
                        self.remaining = Remaining::Done;
                        return true;
                    }
                    Ok(Step::More) => return false,
                    Err(_) => {
                        self.broken = true;
                        return false;
                    }
                }
            },
        }
    }
}

/// What becomes of a request's body that the request let go of before its end (an early
/// refusal), decided before the answer is written, as nginx does: a small rest is read and
/// dropped so that the connection carries the next request; anything else closes it, and the
/// answer says so, so that no client sends its next request on a connection about to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rest {
    /// Read to its end, or still being read for the answer: nothing to decide.
    Kept,
    /// At most [`DISCARDED`] bytes still to come: read and dropped once the answer is out.
    Discarded,
    /// More to come, of unknown length, or never to come (the client waits for a go-ahead
    /// that was not sent): the connection closes after the answer.
    Closing,
}
