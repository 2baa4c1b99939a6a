//! Tells a service manager how the process is doing, as systemd's `Type=notify` expects: one
//! datagram of `KEY=VALUE` lines to the socket `NOTIFY_SOCKET` names (a path, or an abstract
//! name written `@name`). `READY=1` carries `MAINPID`, so that after a binary upgrade the
//! process that took over becomes the service's main process. Without `NOTIFY_SOCKET` nothing
//! is sent; a send that fails is logged and changes nothing else.

use std::io;
use std::os::unix::net::UnixDatagram;

/// The variable naming the service manager's socket.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Serving: `READY=1` with this process's id.
pub(super) fn ready() {
    send(&format!(
        "READY=1\nMAINPID={}\nSTATUS=serving\n",
        std::process::id()
    ));
}

/// A binary upgrade started: the new process says `READY=1` once it serves.
pub(super) fn upgrading() {
    send("RELOADING=1\nSTATUS=upgrading\n");
}

/// Draining before the exit.
pub(super) fn stopping() {
    send("STOPPING=1\nSTATUS=draining\n");
}

fn send(state: &str) {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    if let Err(error) = send_to(&path, state.as_bytes()) {
        tracing::warn!(%error, socket = %path.to_string_lossy(), "cannot notify the service manager");
    }
}

fn send_to(path: &std::ffi::OsStr, state: &[u8]) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let sent = match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state, &addr)?
        }
        None => socket.send_to(state, path)?,
    };
    if sent == state.len() {
        Ok(())
    } else {
        Err(io::Error::other("the notification was cut short"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_to_a_path_or_an_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send_to(path.as_os_str(), b"READY=1\n").unwrap();
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("edge-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(std::ffi::OsStr::new(&format!("@{name}")), b"STOPPING=1\n").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }
}
