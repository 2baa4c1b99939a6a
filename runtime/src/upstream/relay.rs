//! Copying a tunnel's bytes both ways between client and server, with an idle timeout: a
//! `mode tcp` connection until both directions are done (half-close), an upgraded HTTP
//! connection (a WebSocket) until either side closes.
//!
//! Each direction reads into a buffer lent by the worker's pool (`http1::buffers`: no
//! allocation, and no zeroing, per tunnel) only while bytes are on their way, so an idle tunnel
//! holds none, and writes what it read before reading again, so a slow reader holds back its
//! writer. When one side ends its stream (FIN), the other side's
//! write half is shut down and the other direction goes on; the direction that ends last is
//! not shut down, since the caller's close of both streams says the same. One timer, reset in
//! place, closes the tunnel once no byte has moved, either way, for the idle timeout.

use std::{
    fmt,
    future::{poll_fn, Future},
    io,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use bytes::BytesMut;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::{sleep, Instant},
};
use tokio_util::io::poll_read_buf;

use crate::http1::buffers;

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
    let mut to_server = Direction::new();
    let mut to_client = Direction::new();
    let mut last = Instant::now();
    let idle = sleep(idle_timeout);
    tokio::pin!(idle);
    poll_fn(|cx| {
        // A direction that ends after the other needs no shutdown of its own (see the top).
        let last_to_end = |other: &Direction| ending == Ending::BothDirections && other.is_done();
        let pass_on = !last_to_end(&to_client);
        let up = to_server.poll(cx, client, server, pass_on)?;
        let pass_on = !last_to_end(&to_server);
        let down = to_client.poll(cx, server, client, pass_on)?;
        if to_server.moved | to_client.moved {
            (to_server.moved, to_client.moved) = (false, false);
            last = Instant::now();
        }
        let over = match ending {
            Ending::BothDirections => up && down,
            Ending::EitherSide => up || down,
        };
        if over {
            return Poll::Ready(Ok(()));
        }
        while idle.as_mut().poll(cx).is_ready() {
            let quiet = last.elapsed();
            if quiet >= idle_timeout {
                return Poll::Ready(Err(RelayError::Idle(idle_timeout)));
            }
            idle.as_mut().reset(last + idle_timeout);
        }
        Poll::Pending
    })
    .await
    .map(|()| Carried {
        to_server: to_server.read,
        to_client: to_client.read,
    })
}

/// One direction of a tunnel: what was read from one side and not yet written to the other.
struct Direction {
    /// Lent by the worker's pool while bytes are on their way; given back whenever the reader
    /// has nothing to read and nothing is left to write.
    buf: Option<BytesMut>,
    /// How much of `buf` has been written.
    written: usize,
    /// Bytes read so far.
    read: u64,
    /// Whether bytes moved since the tunnel last looked.
    moved: bool,
    /// Whether bytes were written since the writer was last flushed.
    unflushed: bool,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Copying,
    /// The reader ended: the writer is flushed, then shut down if the end is passed on.
    Ending,
    Done,
}

impl Direction {
    fn new() -> Direction {
        Direction {
            buf: None,
            written: 0,
            read: 0,
            moved: false,
            unflushed: false,
            phase: Phase::Copying,
        }
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Copies from `from` to `to` until `from` ends, then flushes `to` and, if `pass_on`,
    /// shuts its write half down: whether it is done (again on every later call). An error
    /// ends the tunnel.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        from: &mut R,
        to: &mut W,
        pass_on: bool,
    ) -> Result<bool, RelayError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        match self.copy(cx, from, to, pass_on) {
            Poll::Ready(Ok(())) => Ok(true),
            Poll::Pending => Ok(false),
            Poll::Ready(Err(error)) => {
                self.phase = Phase::Done;
                Err(RelayError::Io(error))
            }
        }
    }

    fn copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        from: &mut R,
        to: &mut W,
        pass_on: bool,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        while self.phase == Phase::Copying {
            let buf = self.buf.get_or_insert_with(buffers::take);
            if self.written < buf.len() {
                let n = ready!(Pin::new(&mut *to).poll_write(cx, &buf[self.written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
                (self.moved, self.unflushed) = (true, true);
                continue;
            }
            buf.clear();
            self.written = 0;
            match poll_read_buf(Pin::new(&mut *from), cx, buf) {
                Poll::Ready(Ok(0)) => self.phase = Phase::Ending,
                Poll::Ready(Ok(n)) => {
                    self.read += n as u64;
                    self.moved = true;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    // Nothing to hold while the reader is quiet: an idle tunnel keeps no
                    // buffer (taken again when it wakes).
                    if let Some(buf) = self.buf.take() {
                        buffers::give(buf);
                    }
                    if self.unflushed {
                        ready!(Pin::new(&mut *to).poll_flush(cx))?;
                        self.unflushed = false;
                    }
                    return Poll::Pending;
                }
            }
        }
        if self.phase == Phase::Ending {
            if let Some(buf) = self.buf.take() {
                buffers::give(buf);
            }
            if pass_on {
                ready!(Pin::new(&mut *to).poll_shutdown(cx))?;
            } else if self.unflushed {
                ready!(Pin::new(&mut *to).poll_flush(cx))?;
            }
            self.unflushed = false;
            self.phase = Phase::Done;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Direction {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            buffers::give(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_half_closed_client_still_gets_the_servers_answer() {
        let (mut client, mut client_side) = duplex(8192);
        let (mut server_side, mut server) = duplex(8192);
        // As callers do: both streams closed once the relay is over.
        let relayed = async move {
            let relayed = relay(
                &mut client_side,
                &mut server_side,
                Duration::from_secs(5),
                Ending::BothDirections,
            )
            .await;
            drop((client_side, server_side));
            relayed
        };
        let peers = async {
            client.write_all(&[b'q'; 1000]).await.unwrap();
            client.shutdown().await.unwrap();
            let mut asked = Vec::new();
            server.read_to_end(&mut asked).await.unwrap();
            assert_eq!(asked, [b'q'; 1000]);
            server.write_all(&[b'a'; 3000]).await.unwrap();
            drop(server);
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            assert_eq!(answer, [b'a'; 3000]);
        };
        let (carried, ()) = tokio::join!(relayed, peers);
        let carried = carried.unwrap();
        assert_eq!((carried.to_server, carried.to_client), (1000, 3000));
    }

    #[tokio::test]
    async fn an_upgraded_connection_ends_when_either_side_closes() {
        let (mut client, mut client_side) = duplex(8192);
        let (mut server_side, server) = duplex(8192);
        drop(server);
        let carried = relay(
            &mut client_side,
            &mut server_side,
            Duration::from_secs(5),
            Ending::EitherSide,
        )
        .await
        .unwrap();
        assert_eq!((carried.to_server, carried.to_client), (0, 0));
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the client is told the server closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_tunnel_quiet_for_its_idle_timeout_ends_and_not_before() {
        let (mut client, mut client_side) = duplex(8192);
        let (mut server_side, mut server) = duplex(8192);
        let idle = Duration::from_secs(10);
        let started = Instant::now();
        let relayed = relay(
            &mut client_side,
            &mut server_side,
            idle,
            Ending::BothDirections,
        );
        let traffic = async {
            tokio::time::sleep(Duration::from_secs(8)).await;
            client.write_all(b"ping").await.unwrap();
            let mut ping = [0; 4];
            server.read_exact(&mut ping).await.unwrap();
        };
        let (ended, ()) = tokio::join!(relayed, traffic);
        assert!(matches!(ended, Err(RelayError::Idle(after)) if after == idle));
        assert_eq!(started.elapsed(), Duration::from_secs(18));
    }
}
