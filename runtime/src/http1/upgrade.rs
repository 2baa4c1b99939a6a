//! Upgrades of client connections served by Edge's HTTP/1 engine: the request that asks to
//! switch protocols carries an [`OnSwitch`] in its extensions, and once its `101` answer has
//! been written the engine sends the connection through it (with what the client sent after
//! the request's head) to the tunnel the pool opened, then lets go of it.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::oneshot,
};

use crate::http1::rewound::Rewound;

/// A client connection of any kind (cleartext or TLS). A trait object, made once per tunnel,
/// so that tunnels need no type parameter per listener kind.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The client's connection once switched, read from what followed the request's head first.
pub(crate) type Switched = Rewound<Box<dyn Io>>;

/// The pair that carries a connection from the engine to a tunnel.
pub(crate) fn switch() -> (Switch, OnSwitch) {
    let (sender, receiver) = oneshot::channel();
    (
        Switch(sender),
        OnSwitch(Arc::new(Mutex::new(Some(receiver)))),
    )
}

/// The engine's end.
pub(crate) struct Switch(oneshot::Sender<Switched>);

impl Switch {
    /// Hands the connection over; dropped, if the tunnel is gone already.
    pub(crate) fn send(self, switched: Switched) {
        let _ = self.0.send(switched);
    }
}

/// The request's end, in its extensions (which want `Clone`: the receiver is taken once).
#[derive(Clone)]
pub(crate) struct OnSwitch(Arc<Mutex<Option<oneshot::Receiver<Switched>>>>);

impl fmt::Debug for OnSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnSwitch")
    }
}

/// A request that cannot switch: not served by the engine, or switched already.
#[derive(Debug)]
pub(crate) struct NotSwitched;

impl fmt::Display for NotSwitched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client's connection was not handed over")
    }
}

impl std::error::Error for NotSwitched {}

/// Takes out of `req` what will carry its client's connection once its `101` is written.
pub(crate) fn on<B>(req: &mut http::Request<B>) -> Pending {
    Pending(
        req.extensions_mut()
            .remove::<OnSwitch>()
            .and_then(|on| on.0.lock().unwrap_or_else(PoisonError::into_inner).take()),
    )
}

/// A client connection to come, once its request's `101` has been written.
pub(crate) struct Pending(Option<oneshot::Receiver<Switched>>);

impl Pending {
    pub(crate) async fn switched(self) -> Result<Switched, NotSwitched> {
        match self.0 {
            Some(receiver) => receiver.await.map_err(|_| NotSwitched),
            None => Err(NotSwitched),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_connection_reaches_the_request_with_what_followed_its_head() {
        let (switch, on) = switch();
        let mut req = http::Request::new(());
        req.extensions_mut().insert(on);
        let (ours, theirs) = tokio::io::duplex(64);
        drop(theirs);
        switch.send(Rewound::new(Bytes::from_static(b"early"), Box::new(ours)));
        let mut switched = self::on(&mut req).switched().await.unwrap();
        let mut read = String::new();
        switched.read_to_string(&mut read).await.unwrap();
        assert_eq!(read, "early");
    }

    #[tokio::test]
    async fn a_request_without_a_switch_cannot_switch() {
        let mut req = http::Request::new(());
        assert!(on(&mut req).switched().await.is_err());
        let (switch, on) = switch();
        req.extensions_mut().insert(on);
        drop(switch);
        assert!(self::on(&mut req).switched().await.is_err());
    }
}
