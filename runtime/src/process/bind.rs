//! Sockets before serving: each TLS listener's certificates loaded, listeners bound (one
//! `SO_REUSEPORT` socket per worker, or the sockets taken over from a predecessor), the
//! addresses `EDGE_BIND_<NAME>` moves them to, and the admin listener; what fails to start is a
//! [`StartError`].

use std::{fmt, io, net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;

use crate::{
    downstream::listener::ListenerSpec, downstream::tls::TlsListener, process::handoff::Inherited,
    tls::TlsError,
};

/// Pending connections the kernel queues per listening socket.
const LISTEN_BACKLOG: i32 = 1024;

/// A listener that could not be bound.
#[derive(Debug)]
pub struct BindError {
    pub listener: &'static str,
    pub addr: SocketAddr,
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot bind listener `{}` to {}: {}",
            self.listener, self.addr, self.source
        )
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why listeners could not be started.
#[derive(Debug)]
pub enum StartError {
    /// A TLS listener's certificate, key or CA file cannot be used.
    Tls(TlsError),
    Bind(BindError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Tls(error) => error.fmt(f),
            StartError::Bind(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Tls(error) => error.source(),
            StartError::Bind(error) => error.source(),
        }
    }
}

impl From<TlsError> for StartError {
    fn from(error: TlsError) -> StartError {
        StartError::Tls(error)
    }
}

impl From<BindError> for StartError {
    fn from(error: BindError) -> StartError {
        StartError::Bind(error)
    }
}

/// Each listener's TLS state (`None` for cleartext and tcp listeners), in listener order.
pub(super) fn load_tls(
    listeners: &'static [(impl Copy, ListenerSpec)],
) -> Result<Vec<Option<Arc<TlsListener>>>, TlsError> {
    listeners
        .iter()
        .map(|(_, spec)| TlsListener::load(spec))
        .collect()
}

/// The listeners with the addresses `EDGE_BIND_<NAME>` gives (an operations setting: the same
/// binary run twice, or placed by an orchestrator, listens elsewhere than its config says).
/// `NAME` is the listener's name in upper case. Without any such variable, `listeners` itself.
pub(super) fn bind_overrides<L: Copy>(
    listeners: &'static [(L, ListenerSpec)],
) -> Result<&'static [(L, ListenerSpec)], String> {
    let variable = |spec: &ListenerSpec| format!("EDGE_BIND_{}", spec.name.to_ascii_uppercase());
    if !listeners
        .iter()
        .any(|(_, spec)| std::env::var_os(variable(spec)).is_some())
    {
        return Ok(listeners);
    }
    let mut moved = Vec::with_capacity(listeners.len());
    for &(id, spec) in listeners {
        let name = variable(&spec);
        let bind = match std::env::var(&name) {
            Ok(value) => value
                .parse()
                .map_err(|_| format!("{name}={value} is not an address such as 127.0.0.1:8080"))?,
            Err(_) => spec.bind,
        };
        moved.push((id, ListenerSpec { bind, ..spec }));
    }
    // Once per process, before anything is served.
    Ok(Vec::leak(moved))
}

/// Binds the admin listener (one socket, served by worker 0).
pub(super) fn bind_admin(addr: SocketAddr) -> Result<std::net::TcpListener, BindError> {
    let error = |source| BindError {
        listener: "admin",
        addr,
        source,
    };
    let socket = std::net::TcpListener::bind(addr).map_err(error)?;
    socket.set_nonblocking(true).map_err(error)?;
    Ok(socket)
}

pub(super) fn adopt(socket: std::net::TcpListener) -> io::Result<TcpListener> {
    TcpListener::from_std(socket)
}

/// Gives each worker its sockets of each listener, as `[worker][listener][socket]`. The
/// sockets a listener takes over from a running process are dealt out in turn, so that every
/// one is accepted from (a worker may get several); a worker left without one, and every
/// worker of a listener that took none over, binds a socket of its own with `SO_REUSEPORT`, so
/// the kernel spreads incoming connections over them. Port 0 is resolved by the first socket
/// (or the one taken over); the others bind the port it got.
pub(super) fn bind_per_worker(
    listeners: &'static [(impl Copy, ListenerSpec)],
    workers: usize,
    inherited: &mut Inherited,
) -> Result<Vec<Vec<Vec<std::net::TcpListener>>>, BindError> {
    let mut sockets: Vec<Vec<Vec<std::net::TcpListener>>> = (0..workers)
        .map(|_| Vec::with_capacity(listeners.len()))
        .collect();
    for (_, spec) in listeners {
        let error = |source| BindError {
            listener: spec.name,
            addr: spec.bind,
            source,
        };
        let taken = inherited.listener(spec.name, spec.bind);
        let mut addr = match taken.first() {
            Some(socket) => socket.local_addr().map_err(error)?,
            None => {
                not_served_by_another(spec.bind).map_err(error)?;
                spec.bind
            }
        };
        for (worker_sockets, mut share) in sockets.iter_mut().zip(deal(taken, workers)) {
            if share.is_empty() {
                let socket = reuseport_listener(addr).map_err(error)?;
                addr = socket.local_addr().map_err(error)?;
                share.push(socket);
            }
            worker_sockets.push(share);
        }
    }
    Ok(sockets)
}

/// Deals `items` into `hands` hands in turn: hand `i` gets items `i`, `i + hands`, ...
fn deal<T>(items: Vec<T>, hands: usize) -> Vec<Vec<T>> {
    let mut dealt: Vec<Vec<T>> = (0..hands).map(|_| Vec::new()).collect();
    for (index, item) in items.into_iter().enumerate() {
        dealt[index % hands].push(item);
    }
    dealt
}

/// Fails with `AddrInUse` when another process already listens at `addr` (port 0 aside): the
/// worker sockets share their port with `SO_REUSEPORT`, which would as gladly share it with a
/// second copy of the proxy. A socket without that option cannot be bound where any socket
/// listens, so one is bound and closed first. Outside a hand-off, where the sockets are taken
/// over rather than bound.
fn not_served_by_another(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind(addr).map(drop)
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::deal;

    #[test]
    fn dealing_gives_every_item_to_one_hand_in_turn() {
        assert_eq!(deal(vec![1, 2, 3], 3), [vec![1], vec![2], vec![3]]);
        assert_eq!(deal(vec![1, 2, 3, 4, 5], 2), [vec![1, 3, 5], vec![2, 4]]);
        assert_eq!(deal(vec![1, 2], 3), [vec![1], vec![2], vec![]]);
        assert_eq!(deal(Vec::<u8>::new(), 2), [Vec::<u8>::new(), Vec::new()]);
    }
}
