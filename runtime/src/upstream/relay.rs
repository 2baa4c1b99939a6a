//! Copying a tunnel's bytes both ways between client and server, with an idle timeout: a
//! `mode tcp` connection until both directions are done (half-close), an upgraded HTTP
//! connection (a WebSocket) until either side closes.
//!
//! The copying is tokio's `copy_bidirectional_with_sizes`: when one side ends its stream (FIN),
//! the write half of the other side is shut down and the other direction goes on. Its two
//! buffers are the only allocations a tunnel makes here. The idle timeout runs beside it: both
//! streams are wrapped so that every read or write that moves bytes stamps a shared time, and
//! a timer closes the tunnel once no byte has moved, either way, for the timeout. The same
//! wrappers say when a side's end has been passed on (the other side's write half shut down),
//! which ends a tunnel that stops at the first close.

use std::{
    fmt, io,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
};

use crate::clock::{self, Nanos};

/// Bytes buffered per direction (HAProxy's default buffer size).
const BUFFER: usize = 16 * 1024;

/// Bytes a finished tunnel carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carried {
    pub(crate) to_server: u64,
    pub(crate) to_client: u64,
}

/// When a tunnel is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// When both directions have ended: a side that has finished sending may still receive
    /// (TCP half-close), as `mode tcp` tunnels allow.
    BothDirections,
    /// As soon as one side has closed and that has been passed on to the other: for upgraded
    /// connections, whose protocols (WebSocket) have no half-close (nginx does the same).
    EitherSide,
}

/// Why a tunnel ended before both directions were done.
#[derive(Debug)]
pub(crate) enum RelayError {
    /// No byte moved either way for this long.
    Idle(Duration),
    /// Reading, writing or shutting down one of the streams failed (e.g. a reset).
    Io(io::Error),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::Idle(after) => write!(f, "idle for {after:?}"),
            RelayError::Io(error) => write!(f, "{error}"),
        }
    }
}

/// What the two wrapped streams of a tunnel tell each other.
struct Shared {
    /// When bytes last moved, either way.
    last: AtomicU64,
    /// Signalled when a side's end has been passed on to the other side.
    closed: Notify,
}

/// Copies bytes between `client` and `server` until the tunnel is over (see [`Ending`]), an
/// error occurs, or nothing moves for `idle_timeout`. The caller closes both streams
/// afterwards.
pub(crate) async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    idle_timeout: Duration,
    ending: Ending,
) -> Result<Carried, RelayError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = Shared {
        last: AtomicU64::new(clock::now()),
        closed: Notify::new(),
    };
    let mut client = Stamped::new(client, &shared);
    let mut server = Stamped::new(server, &shared);
    let ended = {
        let copying =
            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUFFER, BUFFER);
        let one_side_closed = async {
            match ending {
                Ending::EitherSide => shared.closed.notified().await,
                Ending::BothDirections => std::future::pending().await,
            }
        };
        tokio::select! {
            copied = copying => copied.map(drop).map_err(RelayError::Io),
            () = one_side_closed => Ok(()),
            () = quiet_for(&shared.last, idle_timeout) => Err(RelayError::Idle(idle_timeout)),
        }
    };
    ended.map(|()| Carried {
        to_server: client.read,
        to_client: server.read,
    })
}

/// Completes once `idle_timeout` has passed since the time in `last`, which may move on
/// meanwhile.
async fn quiet_for(last: &AtomicU64, idle_timeout: Duration) {
    let limit = clock::nanos(idle_timeout);
    loop {
        let quiet: Nanos = clock::now().saturating_sub(last.load(Ordering::Relaxed));
        if quiet >= limit {
            return;
        }
        tokio::time::sleep(Duration::from_nanos(limit - quiet)).await;
    }
}

/// A stream that stamps the shared time whenever bytes move through it, counts the bytes read
/// from it, and signals once its write half has been shut down.
struct Stamped<'a, T> {
    stream: &'a mut T,
    shared: &'a Shared,
    read: u64,
}

impl<'a, T> Stamped<'a, T> {
    fn new(stream: &'a mut T, shared: &'a Shared) -> Self {
        Stamped {
            stream,
            shared,
            read: 0,
        }
    }

    fn moved(&self) {
        self.shared.last.store(clock::now(), Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stamped<'_, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut *this.stream).poll_read(cx, buf);
        let after = buf.filled().len();
        if after > before {
            this.read += (after - before) as u64;
            this.moved();
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stamped<'_, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut *this.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.moved();
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shut = Pin::new(&mut *this.stream).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = shut {
            this.shared.closed.notify_one();
        }
        shut
    }
}
