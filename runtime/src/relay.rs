//! Copying a tunnel's bytes both ways between client and server until both directions are
//! done, with half-close and an idle timeout.
//!
//! The copying is tokio's `copy_bidirectional_with_sizes`: when one side ends its stream (FIN),
//! the write half of the other side is shut down and the other direction goes on. Its two
//! buffers are the only allocations a tunnel makes here. The idle timeout runs beside it: both
//! streams are wrapped so that every read or write that moves bytes stamps a shared time, and
//! a timer closes the tunnel once no byte has moved, either way, for the timeout.

use std::{
    fmt, io,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
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

/// Copies bytes between `client` and `server` until both directions have ended, an error
/// occurs, or nothing moves for `idle_timeout`. The caller closes both streams afterwards.
pub(crate) async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    idle_timeout: Duration,
) -> Result<Carried, RelayError> {
    let last = AtomicU64::new(clock::now());
    let mut client = Stamped {
        stream: client,
        last: &last,
    };
    let mut server = Stamped {
        stream: server,
        last: &last,
    };
    let copying =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUFFER, BUFFER);
    tokio::select! {
        copied = copying => copied
            .map(|(to_server, to_client)| Carried { to_server, to_client })
            .map_err(RelayError::Io),
        () = quiet_for(&last, idle_timeout) => Err(RelayError::Idle(idle_timeout)),
    }
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

/// A stream that stamps `last` with the time whenever bytes move through it.
struct Stamped<'a> {
    stream: &'a mut TcpStream,
    last: &'a AtomicU64,
}

impl Stamped<'_> {
    fn moved(&self) {
        self.last.store(clock::now(), Ordering::Relaxed);
    }
}

impl AsyncRead for Stamped<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut *this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.moved();
        }
        read
    }
}

impl AsyncWrite for Stamped<'_> {
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
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}
