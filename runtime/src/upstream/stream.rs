//! Opening TCP connections to upstream servers (the TLS over them is `upstream::tls`'s).

use std::{io, time::Duration};

use tokio::{net::TcpStream, time::timeout};

use crate::{address::Upstream, upstream::error::UpstreamError};

/// Opens a TCP connection to `upstream`, with `TCP_NODELAY`. Pools resolve names in the
/// background and connect to addresses; a name is only met here in a pool built outside a
/// tokio runtime, and is then resolved now.
pub(crate) async fn tcp(upstream: &Upstream) -> io::Result<TcpStream> {
    let stream = match *upstream {
        Upstream::Socket(addr) => TcpStream::connect(addr).await,
        Upstream::Name(name) => TcpStream::connect(name).await,
        Upstream::Srv(_) => Err(unresolved_srv()),
    }?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// [`tcp`] within `connect_timeout`, for tunnels.
pub(crate) async fn open(
    upstream: &Upstream,
    connect_timeout: Duration,
) -> Result<TcpStream, UpstreamError> {
    timeout(connect_timeout, tcp(upstream))
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(connect_timeout))?
        .map_err(UpstreamError::Connect)
}

/// The error for an SRV name met at connect time, which happens only in a pool built outside a
/// tokio runtime, where nothing resolves names in the background.
pub(crate) fn unresolved_srv() -> io::Error {
    io::Error::other("SRV names are only resolved by a pool built inside a tokio runtime")
}
