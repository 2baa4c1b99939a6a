//! The hand-off protocol on the wire: short text messages over a unix `SOCK_SEQPACKET`
//! connection (one message per packet, so boundaries need no framing), a listening socket
//! travelling with its description as `SCM_RIGHTS`.
//!
//! ```text
//! new → running   edge-handoff 2
//! running → new   sockets 3
//! running → new   listener 127.0.0.1:8080 web      + one descriptor
//! running → new   listener 127.0.0.1:8080 web      + one descriptor
//! running → new   admin 127.0.0.1:9900             + one descriptor
//! running → new   state 1
//! running → new   split canary app:95:50 app_v2:5:50
//!                 (the new process warms up and starts accepting)
//! new → running   release
//! running → new   released
//! ```
//!
//! The address in a description is the listener's configured one (port 0 included), which is
//! what the new process matches its own listeners against; a socket's actual address is read
//! from the socket itself.
//!
//! Version 2 adds the `state` lines (see [`super::state`]): run-time state the operator set,
//! such as split weights. A process of version 1 hangs up on the version 2 greeting; the new
//! process then asks again with `edge-handoff 1`, and gets the sockets without state. A state
//! line of a kind the new process does not know is skipped, so later kinds need no new version.

use std::{
    fmt, io,
    mem::MaybeUninit,
    net::SocketAddr,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

use super::HandoffError;

/// The protocol's greeting, followed by its version; a peer speaking another is refused.
const HELLO: &str = "edge-handoff";

/// The versions of the protocol: the first passed sockets only, the second state as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Sockets = 1,
    State = 2,
}

/// The longest message either side sends (listener names are short identifiers).
pub(crate) const MAX_MESSAGE: usize = 1024;

/// Descriptors received with one message: one is expected, room for more so that a peer
/// sending several is caught (the extra ones are closed) rather than cut off by the kernel.
const MAX_FDS: usize = 4;

/// What a listening socket is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// A listener of the config, by name.
    Listener(String),
    /// The admin listener.
    Admin,
}

/// A listening socket as the two processes describe it to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    pub(crate) role: Role,
    /// The configured address (port 0 stays 0).
    pub(crate) bind: SocketAddr,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            Role::Listener(name) => write!(f, "listener {} {name}", self.bind),
            Role::Admin => write!(f, "admin {}", self.bind),
        }
    }
}

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// New → running: asks for the listening sockets (and with version 2, the state).
    Hello(Version),
    /// Running → new: this many `Socket` messages follow.
    Sockets(usize),
    /// Running → new: one listening socket, passed with the message.
    Socket(Label),
    /// Running → new (version 2): this many state lines follow.
    State(usize),
    /// New → running: the new process accepts on the sockets; stop accepting and drain.
    Release,
    /// Running → new: stopped accepting.
    Released,
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Hello(version) => write!(f, "{HELLO} {}", *version as u8),
            Message::Sockets(count) => write!(f, "sockets {count}"),
            Message::State(count) => write!(f, "state {count}"),
            Message::Socket(label) => label.fmt(f),
            Message::Release => f.write_str("release"),
            Message::Released => f.write_str("released"),
        }
    }
}

impl Message {
    /// Parses a message as [`fmt::Display`] writes it; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Message> {
        match text {
            "edge-handoff 1" => return Some(Message::Hello(Version::Sockets)),
            "edge-handoff 2" => return Some(Message::Hello(Version::State)),
            "release" => return Some(Message::Release),
            "released" => return Some(Message::Released),
            _ => {}
        }
        let label = |role, bind: &str| {
            let bind = bind.parse().ok()?;
            Some(Message::Socket(Label { role, bind }))
        };
        match text.split_once(' ')? {
            ("sockets", count) => count.parse().ok().map(Message::Sockets),
            ("state", count) => count.parse().ok().map(Message::State),
            ("listener", rest) => {
                let (bind, name) = rest.split_once(' ')?;
                if name.is_empty() {
                    return None;
                }
                label(Role::Listener(name.to_owned()), bind)
            }
            ("admin", bind) => label(Role::Admin, bind),
            _ => None,
        }
    }
}

/// Sends `message` (a [`Message`] or a state line) on `socket`, with `fd` passed along when
/// given.
pub(crate) fn send(
    socket: impl AsFd,
    message: &impl fmt::Display,
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), HandoffError> {
    let text = message.to_string();
    let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(HandoffError::Io {
            doing: "pass a socket",
            source: io::Error::other("no room for the descriptor"),
        });
    }
    let iov = [io::IoSlice::new(text.as_bytes())];
    sendmsg(socket, &iov, &mut control, SendFlags::NOSIGNAL).map_err(|errno| HandoffError::Io {
        doing: "send on the control connection",
        source: errno.into(),
    })?;
    Ok(())
}

/// Receives one message on `socket` (`waiting_for` names it in errors) and the descriptors
/// passed with it. A peer that closed the connection, a timeout (the socket's receive
/// timeout), a message too long or not of the protocol are errors.
pub(crate) fn receive(
    socket: impl AsFd,
    waiting_for: &'static str,
) -> Result<(Message, Vec<OwnedFd>), HandoffError> {
    let (text, fds) = receive_text(socket, waiting_for)?;
    let message = Message::parse(&text).ok_or_else(|| HandoffError::Unexpected {
        waiting_for,
        got: format!("{text:?}"),
    })?;
    Ok((message, fds))
}

/// Receives one message's text, without descriptors (a state line, which its reader parses).
pub(crate) fn receive_line(
    socket: impl AsFd,
    waiting_for: &'static str,
) -> Result<String, HandoffError> {
    match receive_text(socket, waiting_for)? {
        (text, fds) if fds.is_empty() => Ok(text),
        (text, fds) => Err(HandoffError::Unexpected {
            waiting_for,
            got: format!("{text:?} with {} descriptors", fds.len()),
        }),
    }
}

/// Receives one message's text and the descriptors passed with it.
fn receive_text(
    socket: impl AsFd,
    waiting_for: &'static str,
) -> Result<(String, Vec<OwnedFd>), HandoffError> {
    let mut buffer = [0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [io::IoSliceMut::new(&mut buffer)];
    let received =
        recvmsg(socket, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC).map_err(|errno| {
            let source = io::Error::from(errno);
            match source.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    HandoffError::Timeout { waiting_for }
                }
                _ => HandoffError::Io {
                    doing: "receive on the control connection",
                    source,
                },
            }
        })?;
    // Descriptors are taken (owned, so closed if unused) before anything else is checked.
    let fds: Vec<OwnedFd> = control
        .drain()
        .filter_map(|message| match message {
            RecvAncillaryMessage::ScmRights(fds) => Some(fds),
            _ => None,
        })
        .flatten()
        .collect();
    let unexpected = |got: String| HandoffError::Unexpected { waiting_for, got };
    if received.bytes == 0 {
        return Err(HandoffError::Closed { waiting_for });
    }
    if received
        .flags
        .intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC)
    {
        return Err(unexpected(
            "a message longer than the protocol allows".to_owned(),
        ));
    }
    let bytes = buffer.get(..received.bytes).unwrap_or(&buffer);
    let text =
        std::str::from_utf8(bytes).map_err(|_| unexpected("bytes that are not text".to_owned()))?;
    Ok((text.to_owned(), fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(role: Role, bind: &str) -> Message {
        Message::Socket(Label {
            role,
            bind: bind.parse().unwrap(),
        })
    }

    #[test]
    fn every_message_reads_back_as_written() {
        let messages = [
            Message::Hello(Version::Sockets),
            Message::Hello(Version::State),
            Message::Sockets(0),
            Message::Sockets(12),
            label(Role::Listener("web".to_owned()), "127.0.0.1:0"),
            label(Role::Listener("two words".to_owned()), "[::1]:8443"),
            label(Role::Admin, "0.0.0.0:9900"),
            Message::State(0),
            Message::State(3),
            Message::Release,
            Message::Released,
        ];
        for message in messages {
            let text = message.to_string();
            assert_eq!(Message::parse(&text), Some(message), "{text}");
        }
        assert_eq!(
            label(Role::Listener("web".to_owned()), "127.0.0.1:8080").to_string(),
            "listener 127.0.0.1:8080 web"
        );
        assert_eq!(
            Message::Hello(Version::Sockets).to_string(),
            "edge-handoff 1"
        );
        assert_eq!(Message::Hello(Version::State).to_string(), "edge-handoff 2");
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "edge-handoff 3",
            "edge-handoff",
            "state",
            "state -1",
            "sockets",
            "sockets -1",
            "sockets many",
            "listener 127.0.0.1:80",
            "listener 127.0.0.1:80 ",
            "listener localhost:80 web",
            "admin",
            "admin 127.0.0.1",
            "release now",
            "released ",
            "GET / HTTP/1.1",
        ] {
            assert_eq!(Message::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_socket_travels_with_its_message() {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let message = label(Role::Listener("web".to_owned()), "127.0.0.1:0");
        send(&a, &message, Some(listener.as_fd())).unwrap();
        let (received, fds) = receive(&b, "a socket").unwrap();
        assert_eq!(received, message);
        assert_eq!(fds.len(), 1);
        let passed = std::net::TcpListener::from(fds.into_iter().next().unwrap());
        assert_eq!(passed.local_addr().unwrap(), listener.local_addr().unwrap());

        send(&a, &Message::Release, None).unwrap();
        let (received, fds) = receive(&b, "release").unwrap();
        assert_eq!((received, fds.len()), (Message::Release, 0));
    }

    #[test]
    fn garbage_and_silence_are_errors() {
        use std::io::Write;
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        assert!(matches!(
            receive(&b, "hello"),
            Err(HandoffError::Timeout {
                waiting_for: "hello"
            })
        ));
        a.write_all(b"HELO").unwrap();
        assert!(matches!(
            receive(&b, "hello"),
            Err(HandoffError::Unexpected { .. })
        ));
        a.write_all(&[0xff, 0xfe]).unwrap();
        assert!(matches!(
            receive(&b, "hello"),
            Err(HandoffError::Unexpected { .. })
        ));
        drop(a);
        assert!(matches!(
            receive(&b, "hello"),
            Err(HandoffError::Closed { .. })
        ));
    }
}
