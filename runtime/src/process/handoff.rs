//! Zero-downtime upgrades: a new process takes over the listening sockets of the running one
//! over a unix socket (`EDGE_HANDOFF=/path`), as HAProxy's `expose-fd listeners` and Envoy's hot
//! restart do, rather than binding beside it with `SO_REUSEPORT`: a socket closed by the old
//! process would reset the connections still queued on it, while a socket passed on keeps its
//! queue, whoever accepts from it.
//!
//! The new process connects to the path, receives every listening socket of the running one
//! (each listener's socket of each worker, and the admin listener's) with a description of
//! what it is for ([`wire`]), claims those its own listeners match ([`Inherited`]), warms up,
//! accepts on them, and then tells the running process to let go ([`Predecessor::release`]).
//! With the sockets comes the state an operator set at run time ([`state`]: split weights,
//! servers' states and weights),
//! which the new process puts in force where its config agrees.
//! That process stops accepting and drains; the sockets stay open in the new one. The new
//! process then answers at the same path for the next upgrade ([`serve`]).
//!
//! Every wait on the control connection is bounded; anything unexpected from the peer ends the
//! hand-off, and the new process binds its listeners afresh. The hand-off runs at start-up
//! only: nothing here is on the request path.

mod state;
mod wire;

use std::{
    fmt, io,
    net::{SocketAddr, TcpListener},
    os::{
        fd::{AsFd, OwnedFd},
        unix::fs::{FileTypeExt, MetadataExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::upstream::{backend::Steering, pools::Pools, split::Splits};
pub(crate) use state::StateLine;
pub(crate) use wire::{Label, Role};
use wire::{Message, Version};

/// The operations setting that names the hand-off socket.
const VARIABLE: &str = "EDGE_HANDOFF";

/// How long either side waits for each step of the exchange, except the release.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the running process waits for the new one to warm up and ask it to let go.
const RELEASE_LIMIT: Duration = Duration::from_secs(300);

/// The most sockets a running process may pass (listeners × workers, and the admin listener).
const MAX_SOCKETS: usize = 4096;

/// The most state lines a running process may pass.
const MAX_STATE: usize = 4096;

/// Pause after a failed `accept` on the hand-off socket before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The hand-off socket's path, when `EDGE_HANDOFF` is set (and not empty).
pub(crate) fn configured() -> Option<PathBuf> {
    std::env::var_os(VARIABLE)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Why a hand-off did not happen.
#[derive(Debug)]
pub(crate) enum HandoffError {
    /// A system call on the hand-off socket or the control connection failed.
    Io {
        doing: &'static str,
        source: io::Error,
    },
    /// The peer did not send the expected message in time.
    Timeout { waiting_for: &'static str },
    /// The peer closed the connection.
    Closed { waiting_for: &'static str },
    /// The peer sent something else than the expected message.
    Unexpected {
        waiting_for: &'static str,
        got: String,
    },
    /// A passed descriptor is not the listening TCP socket its description says.
    BadSocket { label: String, reason: String },
    /// The peer runs as another user.
    Stranger { uid: u32 },
    /// The hand-off path exists and is not a unix socket.
    NotASocket(PathBuf),
    /// The running process is stopping and offers nothing.
    Withdrawn,
}

impl fmt::Display for HandoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffError::Io { doing, source } => write!(f, "cannot {doing}: {source}"),
            HandoffError::Timeout { waiting_for } => {
                write!(f, "the peer did not send {waiting_for} in time")
            }
            HandoffError::Closed { waiting_for } => {
                write!(
                    f,
                    "the peer closed the connection instead of sending {waiting_for}"
                )
            }
            HandoffError::Unexpected { waiting_for, got } => {
                write!(f, "expected {waiting_for} from the peer, got {got}")
            }
            HandoffError::BadSocket { label, reason } => {
                write!(f, "the socket passed as `{label}` {reason}")
            }
            HandoffError::Stranger { uid } => {
                write!(f, "the peer runs as user {uid}, not as this process's user")
            }
            HandoffError::NotASocket(path) => {
                write!(f, "{} exists and is not a unix socket", path.display())
            }
            HandoffError::Withdrawn => f.write_str("this process is stopping"),
        }
    }
}

impl std::error::Error for HandoffError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandoffError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(doing: &'static str) -> impl FnOnce(io::Error) -> HandoffError {
    move |source| HandoffError::Io { doing, source }
}

/// The sockets taken over from the running process, until this process's listeners claim
/// them; those left unclaimed are closed when this is dropped.
#[derive(Debug, Default)]
pub(crate) struct Inherited {
    sockets: Vec<(Label, TcpListener)>,
    state: Vec<StateLine>,
}

impl Inherited {
    /// The run-time state the running process passed, taken once.
    pub(crate) fn take_state(&mut self) -> Vec<StateLine> {
        std::mem::take(&mut self.state)
    }

    pub(crate) fn len(&self) -> usize {
        self.sockets.len()
    }

    /// The sockets of the running process's listener that listener `name`, configured on
    /// `bind`, takes over: those of the same configured address (two listeners cannot have
    /// one, as the compiler checks) and, with port 0, of the same name. Empty when none.
    pub(crate) fn listener(&mut self, name: &str, bind: SocketAddr) -> Vec<TcpListener> {
        self.claim(|label| match &label.role {
            Role::Listener(old) => label.bind == bind && (bind.port() != 0 || old == name),
            Role::Admin => false,
        })
    }

    /// The running process's admin socket, when its admin listener was configured on `bind`.
    pub(crate) fn admin(&mut self, bind: SocketAddr) -> Option<TcpListener> {
        self.claim(|label| label.role == Role::Admin && label.bind == bind)
            .into_iter()
            .next()
    }

    fn claim(&mut self, matches: impl Fn(&Label) -> bool) -> Vec<TcpListener> {
        let (claimed, rest) = std::mem::take(&mut self.sockets)
            .into_iter()
            .partition(|(label, _)| matches(label));
        self.sockets = rest;
        claimed.into_iter().map(|(_, socket)| socket).collect()
    }
}

/// The running process whose sockets this one took, until it is told to let go. Dropped
/// without [`Predecessor::release`] (this process failed to start), it goes on serving.
#[derive(Debug)]
pub(crate) struct Predecessor {
    control: Socket,
}

impl Predecessor {
    /// Tells the running process to stop accepting (this one accepts on the sockets now) and
    /// waits, bounded, until it confirms; it then drains and exits on its own.
    pub(crate) fn release(self) -> Result<(), HandoffError> {
        wire::send(&self.control, &Message::Release, None)?;
        match wire::receive(&self.control, "the confirmation of the release")? {
            (Message::Released, fds) if fds.is_empty() => Ok(()),
            (other, _) => Err(HandoffError::Unexpected {
                waiting_for: "the confirmation of the release",
                got: other.to_string(),
            }),
        }
    }
}

/// Asks the process answering at `path` for its listening sockets and state. `Ok(None)` when
/// no process answers there (no file, or a file left by a process that is gone). A process
/// that hangs up on the greeting speaks the first version of the protocol: it is asked again
/// in it, for its sockets only.
pub(crate) fn take_over(path: &Path) -> Result<Option<(Predecessor, Inherited)>, HandoffError> {
    match exchange(path, Version::State) {
        Err(HandoffError::Closed {
            waiting_for: SOCKET_COUNT,
        }) => exchange(path, Version::Sockets),
        taken => taken,
    }
}

/// What a new process waits for once it has greeted the running one.
const SOCKET_COUNT: &str = "the number of sockets";

/// One take-over exchange in protocol `version`, up to the last socket or state line.
fn exchange(
    path: &Path,
    version: Version,
) -> Result<Option<(Predecessor, Inherited)>, HandoffError> {
    let control = control_socket()?;
    let addr = SockAddr::unix(path).map_err(io_error("use the hand-off path"))?;
    match control.connect(&addr) {
        Ok(()) => {}
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
            return Err(HandoffError::Timeout {
                waiting_for: "room in the hand-off socket's queue",
            })
        }
        Err(source) => {
            return Err(HandoffError::Io {
                doing: "connect to the hand-off socket",
                source,
            })
        }
    }
    check_peer(&control)?;
    wire::send(&control, &Message::Hello(version), None)?;
    let count = match wire::receive(&control, SOCKET_COUNT)? {
        (Message::Sockets(count), fds) if fds.is_empty() && count <= MAX_SOCKETS => count,
        (other, _) => {
            return Err(HandoffError::Unexpected {
                waiting_for: SOCKET_COUNT,
                got: other.to_string(),
            })
        }
    };
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let waiting_for = "a listening socket";
        let (label, fd) = match wire::receive(&control, waiting_for)? {
            (Message::Socket(label), fds) if fds.len() == 1 => (label, fds),
            (other, fds) => {
                return Err(HandoffError::Unexpected {
                    waiting_for,
                    got: format!("{other} with {} descriptors", fds.len()),
                })
            }
        };
        let socket = listening(&label, fd.into_iter().next())?;
        sockets.push((label, socket));
    }
    let state = match version {
        Version::Sockets => Vec::new(),
        Version::State => receive_state(&control)?,
    };
    Ok(Some((
        Predecessor { control },
        Inherited { sockets, state },
    )))
}

/// The state lines that follow the sockets; lines of a kind this version does not know are
/// skipped.
fn receive_state(control: &Socket) -> Result<Vec<StateLine>, HandoffError> {
    let waiting_for = "the number of state lines";
    let count = match wire::receive(control, waiting_for)? {
        (Message::State(count), fds) if fds.is_empty() && count <= MAX_STATE => count,
        (other, _) => {
            return Err(HandoffError::Unexpected {
                waiting_for,
                got: other.to_string(),
            })
        }
    };
    let mut state = Vec::with_capacity(count);
    for _ in 0..count {
        let text = wire::receive_line(control, "a state line")?;
        match StateLine::parse(&text) {
            Some(line) => state.push(line),
            None => tracing::debug!(line = %text, "skipping state this build does not know"),
        }
    }
    Ok(state)
}

/// A unix `SOCK_SEQPACKET` socket (close-on-exec) whose every wait is bounded.
fn control_socket() -> Result<Socket, HandoffError> {
    let socket = Socket::new(Domain::UNIX, Type::SEQPACKET, None)
        .map_err(io_error("create a unix socket"))?;
    socket
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .and_then(|()| socket.set_write_timeout(Some(CONTROL_TIMEOUT)))
        .map_err(io_error("set the control connection's timeouts"))?;
    Ok(socket)
}

/// Checks that a passed descriptor is a listening TCP socket bound where its label says.
fn listening(label: &Label, fd: Option<OwnedFd>) -> Result<TcpListener, HandoffError> {
    let bad = |reason: String| HandoffError::BadSocket {
        label: label.to_string(),
        reason,
    };
    let socket = Socket::from(fd.ok_or_else(|| bad("is missing".to_owned()))?);
    let kind = socket
        .r#type()
        .map_err(|e| bad(format!("has no type: {e}")))?;
    let listens = socket
        .is_listener()
        .map_err(|e| bad(format!("cannot be inspected: {e}")))?;
    if kind != Type::STREAM || !listens {
        return Err(bad("is not a listening stream socket".to_owned()));
    }
    let local = socket
        .local_addr()
        .map_err(|e| bad(format!("has no address: {e}")))?
        .as_socket()
        .ok_or_else(|| bad("is not an IP socket".to_owned()))?;
    let bind = label.bind;
    if local.ip() != bind.ip() || (bind.port() != 0 && local.port() != bind.port()) {
        return Err(bad(format!("is bound to {local}")));
    }
    Ok(TcpListener::from(socket))
}

/// Refuses a peer that runs as another user than this process (root excepted). The socket
/// file is only open to this user; this check also holds when the file's folder lets another
/// user put a socket of its own at the path.
fn check_peer(control: &Socket) -> Result<(), HandoffError> {
    let peer =
        rustix::net::sockopt::socket_peercred(control).map_err(|errno| HandoffError::Io {
            doing: "read the peer's credentials",
            source: errno.into(),
        })?;
    if peer.uid == rustix::process::geteuid() || peer.uid.is_root() {
        Ok(())
    } else {
        Err(HandoffError::Stranger {
            uid: peer.uid.as_raw(),
        })
    }
}

/// The sockets this process passes to its successor (a duplicate of each socket it accepts
/// on, with its label), and where to read its state when a successor asks.
#[derive(Debug, Default)]
pub(crate) struct Offer {
    sockets: Vec<(Label, OwnedFd)>,
    state: Option<(Splits, Pools)>,
}

impl Offer {
    /// An offer whose state is the weights of `splits` and the steered and reweighed servers
    /// of `pools`, as they are when a successor asks.
    pub(crate) fn with_state(splits: Splits, pools: Pools) -> Offer {
        Offer {
            sockets: Vec::new(),
            state: Some((splits, pools)),
        }
    }

    /// The state lines to pass now.
    fn state(&self) -> Vec<StateLine> {
        let Some((splits, pools)) = &self.state else {
            return Vec::new();
        };
        let rosters = pools.rosters();
        let servers = rosters.iter().flat_map(|(pool, backends)| {
            backends.iter().flat_map(move |backend| {
                let server = backend.spec.upstream.to_string();
                let steered = (backend.steering() != Steering::Ready).then(|| StateLine::Server {
                    pool: (*pool).to_owned(),
                    server: server.clone(),
                    state: backend.steering(),
                });
                let weighed = backend.live_weight().map(|live| StateLine::Weight {
                    pool: (*pool).to_owned(),
                    server: server.clone(),
                    configured: backend.spec.weight,
                    live,
                });
                steered.into_iter().chain(weighed)
            })
        });
        splits
            .changed()
            .into_iter()
            .map(StateLine::Split)
            .chain(servers)
            .filter(|line| {
                let fits = line.to_string().len() <= wire::MAX_MESSAGE;
                if !fits {
                    tracing::warn!(%line, "state too long to pass to the next process");
                }
                fits
            })
            .collect()
    }

    /// Adds a duplicate of `socket`.
    pub(crate) fn add(&mut self, label: Label, socket: &impl AsFd) -> io::Result<()> {
        let fd = socket.as_fd().try_clone_to_owned()?;
        self.sockets.push((label, fd));
        Ok(())
    }

    fn duplicate(&self) -> io::Result<Vec<(Label, OwnedFd)>> {
        self.sockets
            .iter()
            .map(|(label, fd)| Ok((label.clone(), fd.try_clone()?)))
            .collect()
    }
}

/// The offer while it stands; `None` once withdrawn or taken.
type Standing = Arc<Mutex<Option<Offer>>>;

fn lock(offer: &Standing) -> std::sync::MutexGuard<'_, Option<Offer>> {
    offer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process answering hand-offs at a path, on a thread of its own.
#[derive(Debug)]
pub(crate) struct Handoffs {
    path: PathBuf,
    /// The socket file's device and inode, to tell it from a successor's at the same path.
    file: (u64, u64),
    offer: Standing,
}

impl Handoffs {
    /// Stops offering the sockets (they close once the workers drop theirs, so new
    /// connections are refused rather than queued) and removes the socket file, unless a
    /// successor has put its own there. For a stop without a successor (SIGTERM).
    pub(crate) fn withdraw(&self) {
        lock(&self.offer).take();
        if file_of(&self.path).ok() == Some(self.file) {
            if let Err(error) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), %error, "cannot remove the hand-off socket");
            }
        }
    }
}

/// Answers at `path`, replacing the socket file a predecessor or a stopped process left there
/// (a file that is not a socket is left alone: error), for as long as the process runs. A
/// new process that asks gets the sockets of `offer`; once it asks this one to let go,
/// `on_release` is called (it stops accepting and drains) and the hand-off thread ends. A
/// failed exchange is logged and the offer stands.
pub(crate) fn serve(
    path: &Path,
    offer: Offer,
    on_release: impl FnOnce() + Send + 'static,
) -> Result<Handoffs, HandoffError> {
    let listener = listen_at(path)?;
    let file = file_of(path).map_err(io_error("inspect the hand-off socket"))?;
    let offer = Arc::new(Mutex::new(Some(offer)));
    let standing = Arc::clone(&offer);
    std::thread::Builder::new()
        .name("edge-handoff".to_owned())
        .spawn(move || answer_all(&listener, &standing, on_release))
        .map_err(io_error("start the hand-off thread"))?;
    Ok(Handoffs {
        path: path.to_owned(),
        file,
        offer,
    })
}

/// Binds a listening unix socket at `path`: at a temporary name beside it, restricted to this
/// user, then renamed into place, so the path always leads to a socket (the predecessor's,
/// then this one's) and never to one open to others.
fn listen_at(path: &Path) -> Result<Socket, HandoffError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(HandoffError::NotASocket(path.to_owned()))
        }
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(HandoffError::Io {
                doing: "inspect the hand-off path",
                source,
            })
        }
    }
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}", std::process::id()));
    let temporary = path.with_file_name(name);
    // Left by a process of this id that died before renaming it.
    let _ = std::fs::remove_file(&temporary);
    let socket = Socket::new(Domain::UNIX, Type::SEQPACKET, None)
        .map_err(io_error("create a unix socket"))?;
    let bound = SockAddr::unix(&temporary)
        .and_then(|addr| socket.bind(&addr))
        .and_then(|()| std::fs::set_permissions(&temporary, PermissionsExt::from_mode(0o600)))
        .and_then(|()| socket.listen(4))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(source) = bound {
        let _ = std::fs::remove_file(&temporary);
        return Err(HandoffError::Io {
            doing: "bind the hand-off socket",
            source,
        });
    }
    Ok(socket)
}

fn file_of(path: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Answers new processes one at a time until one takes the sockets and releases this one.
fn answer_all(listener: &Socket, offer: &Standing, on_release: impl FnOnce()) {
    loop {
        let control = match listener.accept() {
            Ok((control, _)) => control,
            Err(error) => {
                tracing::warn!(%error, "cannot accept on the hand-off socket");
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        match answer(&control, offer) {
            Ok(()) => {
                tracing::info!("a new process took over the listening sockets: draining");
                on_release();
                lock(offer).take();
                if let Err(error) = wire::send(&control, &Message::Released, None) {
                    tracing::warn!(%error, "cannot confirm the release to the new process");
                }
                return;
            }
            Err(HandoffError::Closed { waiting_for }) if waiting_for == RELEASE => {
                tracing::warn!(
                    "the new process went away before taking over (see its log); still serving"
                );
            }
            Err(error) => {
                tracing::warn!(%error, "hand-off to a new process failed; still serving");
            }
        }
    }
}

/// What the running process waits for once the sockets are passed.
const RELEASE: &str = "the release";

/// One exchange with a new process, up to its release.
fn answer(control: &Socket, offer: &Standing) -> Result<(), HandoffError> {
    control
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .and_then(|()| control.set_write_timeout(Some(CONTROL_TIMEOUT)))
        .map_err(io_error("set the control connection's timeouts"))?;
    check_peer(control)?;
    let waiting_for = "the hand-off greeting";
    let version = match wire::receive(control, waiting_for)? {
        (Message::Hello(version), fds) if fds.is_empty() => version,
        (other, _) => {
            return Err(HandoffError::Unexpected {
                waiting_for,
                got: other.to_string(),
            })
        }
    };
    let (sockets, state) = match &*lock(offer) {
        Some(offer) => (
            offer
                .duplicate()
                .map_err(io_error("duplicate the listening sockets"))?,
            offer.state(),
        ),
        None => return Err(HandoffError::Withdrawn),
    };
    wire::send(control, &Message::Sockets(sockets.len()), None)?;
    for (label, fd) in &sockets {
        wire::send(control, &Message::Socket(label.clone()), Some(fd.as_fd()))?;
    }
    drop(sockets);
    if version == Version::State {
        wire::send(control, &Message::State(state.len()), None)?;
        for line in &state {
            wire::send(control, line, None)?;
        }
    }
    control
        .set_read_timeout(Some(RELEASE_LIMIT))
        .map_err(io_error("set the control connection's timeouts"))?;
    match wire::receive(control, RELEASE)? {
        (Message::Release, fds) if fds.is_empty() => Ok(()),
        (other, _) => Err(HandoffError::Unexpected {
            waiting_for: RELEASE,
            got: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(role: Role, bind: &str) -> Label {
        Label {
            role,
            bind: bind.parse().unwrap(),
        }
    }

    fn web(bind: &str) -> Label {
        label(Role::Listener("web".to_owned()), bind)
    }

    fn socket() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").unwrap()
    }

    #[test]
    fn listeners_claim_sockets_by_address_and_with_port_0_by_name() {
        let mut inherited = Inherited {
            state: Vec::new(),
            sockets: vec![
                (web("127.0.0.1:0"), socket()),
                (web("127.0.0.1:0"), socket()),
                (
                    label(Role::Listener("api".to_owned()), "127.0.0.1:8080"),
                    socket(),
                ),
                (
                    label(Role::Listener("old".to_owned()), "127.0.0.1:0"),
                    socket(),
                ),
                (label(Role::Admin, "127.0.0.1:9900"), socket()),
            ],
        };
        // A renamed listener keeps its port; with port 0 only the name tells listeners apart.
        assert_eq!(
            inherited
                .listener("renamed", "127.0.0.1:8080".parse().unwrap())
                .len(),
            1
        );
        assert_eq!(
            inherited
                .listener("other", "127.0.0.1:0".parse().unwrap())
                .len(),
            0
        );
        assert_eq!(
            inherited
                .listener("web", "127.0.0.1:0".parse().unwrap())
                .len(),
            2
        );
        assert_eq!(
            inherited
                .listener("web", "127.0.0.1:0".parse().unwrap())
                .len(),
            0
        );
        assert!(inherited.admin("127.0.0.1:9901".parse().unwrap()).is_none());
        assert!(inherited.admin("127.0.0.1:9900".parse().unwrap()).is_some());
        assert_eq!(
            inherited.len(),
            1,
            "the listener `old` is left to be closed"
        );
    }

    #[test]
    fn a_passed_socket_must_listen_where_its_label_says() {
        let listener = socket();
        let addr = listener.local_addr().unwrap();
        let fd = |socket: &dyn AsFd| Some(socket.as_fd().try_clone_to_owned().unwrap());
        assert!(listening(&web("127.0.0.1:0"), fd(&listener)).is_ok());
        assert!(listening(&web(&addr.to_string()), fd(&listener)).is_ok());
        let elsewhere = format!("127.0.0.1:{}", addr.port().wrapping_add(1));
        assert!(matches!(
            listening(&web(&elsewhere), fd(&listener)),
            Err(HandoffError::BadSocket { .. })
        ));
        let connected = std::net::TcpStream::connect(addr).unwrap();
        assert!(matches!(
            listening(&web("127.0.0.1:0"), fd(&connected)),
            Err(HandoffError::BadSocket { .. })
        ));
        let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(listening(&web("127.0.0.1:0"), fd(&unix)).is_err());
        assert!(listening(&web("127.0.0.1:0"), None).is_err());
    }

    #[test]
    fn a_new_process_takes_the_sockets_and_releases_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        assert!(take_over(&path).unwrap().is_none(), "nobody answers yet");

        let listener = socket();
        let mut offer = Offer::default();
        offer.add(web("127.0.0.1:0"), &listener).unwrap();
        offer
            .add(label(Role::Admin, "127.0.0.1:0"), &listener)
            .unwrap();
        let (released, on_release) = std::sync::mpsc::channel();
        let handoffs = serve(&path, offer, move || released.send(()).unwrap()).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);

        let (predecessor, mut inherited) = take_over(&path).unwrap().unwrap();
        assert_eq!(inherited.len(), 2);
        let taken = inherited.listener("web", "127.0.0.1:0".parse().unwrap());
        assert_eq!(
            taken[0].local_addr().unwrap(),
            listener.local_addr().unwrap()
        );
        assert!(on_release.try_recv().is_err(), "not released before asked");
        predecessor.release().unwrap();
        on_release.recv_timeout(CONTROL_TIMEOUT).unwrap();

        // The offer is gone with the release; the file is the successor's to replace.
        handoffs.withdraw();
        assert!(!path.exists());
    }

    #[test]
    fn split_weights_changed_at_run_time_travel_with_the_sockets() {
        use crate::upstream::split::{AnyRequest, ChangedSplit, Split, SplitSpec};
        static CANARY: SplitSpec = SplitSpec {
            route: "canary",
            pools: &[("app", 95), ("app_v2", 5)],
        };
        static UNTOUCHED: SplitSpec = SplitSpec {
            route: "untouched",
            pools: &[("app", 50), ("app_v2", 50)],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        let splits = Splits::new();
        let _canary = Split::new(&CANARY, AnyRequest, &splits);
        let _untouched = Split::new(&UNTOUCHED, AnyRequest, &splits);
        let listener = socket();
        let mut offer = Offer::with_state(splits.clone(), crate::Process::new().pools().clone());
        offer.add(web("127.0.0.1:0"), &listener).unwrap();
        let handoffs = serve(&path, offer, || {}).unwrap();
        // Changed after the offer was made: the state is read when a successor asks.
        let change = [("app".to_owned(), 0), ("app_v2".to_owned(), 100)];
        splits.route("canary").unwrap().set(&change).unwrap();

        let (predecessor, mut inherited) = take_over(&path).unwrap().unwrap();
        assert_eq!(inherited.len(), 1);
        let changed = ChangedSplit {
            route: "canary".to_owned(),
            pools: vec![("app".to_owned(), 95, 0), ("app_v2".to_owned(), 5, 100)],
        };
        assert_eq!(inherited.take_state(), vec![StateLine::Split(changed)]);
        assert!(inherited.take_state().is_empty(), "taken once");
        predecessor.release().unwrap();
        handoffs.withdraw();
    }

    #[test]
    fn a_predecessor_of_the_first_version_is_asked_again_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        let peer = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        peer.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        peer.listen(2).unwrap();
        let listener = socket();
        let bind = listener.local_addr().unwrap();
        let answering = std::thread::spawn(move || {
            let mut greetings = Vec::new();
            loop {
                let (control, _) = peer.accept().unwrap();
                let (hello, _) = wire::receive(&control, "hello").unwrap();
                greetings.push(hello.to_string());
                // A process of version 1 knows only its own greeting, and hangs up on others.
                if hello != Message::Hello(Version::Sockets) {
                    continue;
                }
                wire::send(&control, &Message::Sockets(1), None).unwrap();
                let label = Message::Socket(web(&bind.to_string()));
                wire::send(&control, &label, Some(listener.as_fd())).unwrap();
                return greetings;
            }
        });
        let (_predecessor, mut inherited) = take_over(&path).unwrap().unwrap();
        assert_eq!(inherited.len(), 1);
        assert!(inherited.take_state().is_empty());
        assert_eq!(
            answering.join().unwrap(),
            ["edge-handoff 2", "edge-handoff 1"]
        );
    }

    #[test]
    fn a_new_process_that_goes_away_leaves_the_offer_standing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        let listener = socket();
        let mut offer = Offer::default();
        offer.add(web("127.0.0.1:0"), &listener).unwrap();
        let handoffs = serve(&path, offer, || panic!("never released")).unwrap();
        let (first, _) = take_over(&path).unwrap().unwrap();
        drop(first);
        let (second, inherited) = take_over(&path).unwrap().unwrap();
        assert_eq!(inherited.len(), 1);
        drop(second);

        handoffs.withdraw();
        assert!(!path.exists(), "withdrawn: the socket file is removed");
        assert!(take_over(&path).unwrap().is_none());
    }

    #[test]
    fn a_garbled_answer_is_an_error_and_a_regular_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        let peer = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        peer.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        peer.listen(1).unwrap();
        let answering = std::thread::spawn(move || {
            let (control, _) = peer.accept().unwrap();
            let _ = wire::receive(&control, "hello");
            control.send(b"HTTP/1.1 200 OK").unwrap();
        });
        assert!(matches!(
            take_over(&path),
            Err(HandoffError::Unexpected { .. })
        ));
        answering.join().unwrap();

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "keep me").unwrap();
        assert!(matches!(
            serve(&file, Offer::default(), || {}),
            Err(HandoffError::NotASocket(_))
        ));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }
}
