//! A request body passed from its connection to the request, one frame at a time. The
//! connection's task reads and decodes the body only when the request asks for more (through
//! [`Feed::poll_wanted`]), so a body is read no faster than it is used and needs no task of its
//! own; the request may be polled on another task (an HTTP/2 upstream connection's), hence the
//! lock and the wakers on both sides.

use std::{
    io,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

/// A new pipe for a body of `length` bytes if known (else chunked).
pub(crate) fn pipe(length: Option<u64>) -> (Feed, Pipe) {
    let shared = Arc::new(Mutex::new(State {
        frame: None,
        end: None,
        wanted: false,
        dropped: false,
        remaining: length,
        request: None,
        connection: None,
    }));
    (
        Feed {
            shared: Arc::clone(&shared),
        },
        Pipe { shared },
    )
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct Feed {
    shared: Arc<Mutex<State>>,
}

/// The request's end: its body.
#[derive(Debug)]
pub(crate) struct Pipe {
    shared: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// A frame passed on and not taken yet.
    frame: Option<Frame<Bytes>>,
    /// Set once the body has ended, well or not.
    end: Option<End>,
    /// The request asked for a frame and has none.
    wanted: bool,
    /// The request's end is gone: nobody wants the rest.
    dropped: bool,
    /// Bytes not passed on yet, for a body of known length.
    remaining: Option<u64>,
    request: Option<Waker>,
    connection: Option<Waker>,
}

/// How a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Complete,
    /// The client closed the connection before the end of the body.
    Cut,
    /// The body's chunked coding was malformed.
    Malformed,
}

/// What the request's end asks of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The next frame.
    Frame,
    /// Nothing more: the request dropped its body.
    Nothing,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Only plain fields are written under the lock, so a poisoned one holds sound data.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Feed {
    /// Ready when the request wants a frame, or has dropped its body.
    pub(crate) fn poll_wanted(&self, cx: &mut Context<'_>) -> Poll<Wanted> {
        let mut state = lock(&self.shared);
        if state.dropped {
            return Poll::Ready(Wanted::Nothing);
        }
        if state.wanted && state.frame.is_none() && state.end.is_none() {
            return Poll::Ready(Wanted::Frame);
        }
        if !state
            .connection
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            state.connection = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Whether the request has let go of its body.
    pub(crate) fn is_dropped(&self) -> bool {
        lock(&self.shared).dropped
    }

    /// Passes `data` on.
    pub(crate) fn data(&self, data: Bytes) {
        let mut state = lock(&self.shared);
        if let Some(remaining) = &mut state.remaining {
            *remaining = remaining.saturating_sub(data.len() as u64);
        }
        state.frame = Some(Frame::data(data));
        state.wanted = false;
        wake(&mut state.request);
    }

    /// Ends the body, with `trailers` if it has any.
    pub(crate) fn end(&self, trailers: Option<HeaderMap>) {
        let mut state = lock(&self.shared);
        if let Some(trailers) = trailers {
            state.frame = Some(Frame::trailers(trailers));
        }
        state.end = Some(End::Complete);
        wake(&mut state.request);
    }

    /// Ends the body in an error.
    pub(crate) fn fail(&self, why: End) {
        let mut state = lock(&self.shared);
        state.end = Some(why);
        wake(&mut state.request);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        if state.end.is_none() {
            state.end = Some(End::Cut);
            wake(&mut state.request);
        }
    }
}

impl Pipe {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let mut state = lock(&self.shared);
        if let Some(frame) = state.frame.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        match state.end {
            Some(End::Complete) => return Poll::Ready(None),
            Some(End::Cut) => return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into()))),
            Some(End::Malformed) => {
                let error = io::Error::new(io::ErrorKind::InvalidData, "malformed chunked body");
                return Poll::Ready(Some(Err(error)));
            }
            None => {}
        }
        state.wanted = true;
        if !state
            .request
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            state.request = Some(cx.waker().clone());
        }
        wake(&mut state.connection);
        Poll::Pending
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        let state = lock(&self.shared);
        state.frame.is_none() && state.end == Some(End::Complete)
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        let state = lock(&self.shared);
        let pending = match &state.frame {
            Some(frame) => frame.data_ref().map_or(0, |data| data.len() as u64),
            None => 0,
        };
        match state.remaining {
            Some(remaining) => SizeHint::with_exact(remaining + pending),
            None => SizeHint::default(),
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.dropped = true;
        wake(&mut state.connection);
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(waker) = waker.take() {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_wanted(feed: &Feed) -> Poll<Wanted> {
        feed.poll_wanted(&mut Context::from_waker(Waker::noop()))
    }

    fn poll_frame(pipe: &mut Pipe) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        pipe.poll_frame(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn frames_pass_only_when_asked_for() {
        let (feed, mut pipe) = pipe(Some(5));
        assert_eq!(poll_wanted(&feed), Poll::Pending);
        assert!(poll_frame(&mut pipe).is_pending());
        assert_eq!(poll_wanted(&feed), Poll::Ready(Wanted::Frame));
        feed.data(Bytes::from_static(b"hel"));
        assert_eq!(poll_wanted(&feed), Poll::Pending);
        assert_eq!(pipe.size_hint().exact(), Some(5));
        let Poll::Ready(Some(Ok(frame))) = poll_frame(&mut pipe) else {
            panic!("a frame was passed on")
        };
        assert_eq!(frame.into_data().unwrap(), "hel");
        assert_eq!(pipe.size_hint().exact(), Some(2));
        assert!(poll_frame(&mut pipe).is_pending());
        feed.data(Bytes::from_static(b"lo"));
        feed.end(None);
        assert!(matches!(poll_frame(&mut pipe), Poll::Ready(Some(Ok(_)))));
        assert!(pipe.is_end_stream());
        assert!(matches!(poll_frame(&mut pipe), Poll::Ready(None)));
    }

    #[test]
    fn a_connection_gone_cuts_the_body() {
        let (feed, mut pipe) = pipe(None);
        drop(feed);
        assert!(matches!(poll_frame(&mut pipe), Poll::Ready(Some(Err(_)))));
        assert!(!pipe.is_end_stream());
    }

    #[test]
    fn a_dropped_body_is_wanted_no_more() {
        let (feed, pipe) = pipe(None);
        drop(pipe);
        assert_eq!(poll_wanted(&feed), Poll::Ready(Wanted::Nothing));
    }
}
