//! A copy of a request body taken as the body streams to its server, for a mirror: each data
//! frame's bytes are kept (a reference-counted handle, not a copy of the bytes) up to a size,
//! and the whole is handed over once the body has ended. A body that grows past the size is
//! given up at once; one that never ends (the client went away, the server answered without
//! reading it) is given up when it is dropped. The body's reader never waits for the copy.

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

/// What a mirror gets of a request's body.
#[derive(Debug)]
pub(crate) enum Copied {
    /// The whole body.
    Whole(Bytes),
    /// The body is longer than the copy may be.
    TooLarge,
}

/// The copy being taken, held by the request body.
#[derive(Debug)]
pub(crate) struct BodyCopy {
    chunks: Vec<Bytes>,
    /// Bytes the copy may still take.
    room: u64,
    /// Where the copy goes; `None` once handed over or given up.
    to: Option<oneshot::Sender<Copied>>,
}

impl BodyCopy {
    /// A copy of at most `max` bytes, handed to the returned receiver; a receiver whose
    /// sender is gone without a word had a body that never ended.
    pub(crate) fn new(max: u64) -> (BodyCopy, oneshot::Receiver<Copied>) {
        let (to, copied) = oneshot::channel();
        let copy = BodyCopy {
            chunks: Vec::new(),
            room: max,
            to: Some(to),
        };
        (copy, copied)
    }

    /// Keeps a data frame's bytes, or gives the copy up if they do not fit.
    pub(crate) fn data(&mut self, data: &Bytes) {
        if self.to.is_none() {
            return;
        }
        let len = data.len() as u64;
        if len > self.room {
            self.chunks = Vec::new();
            if let Some(to) = self.to.take() {
                let _ = to.send(Copied::TooLarge);
            }
            return;
        }
        self.room -= len;
        self.chunks.push(data.clone());
    }

    /// The body has ended: hands the copy over.
    pub(crate) fn end(&mut self) {
        let Some(to) = self.to.take() else {
            return;
        };
        let whole = match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            chunks => {
                let mut whole = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                for chunk in chunks {
                    whole.extend_from_slice(chunk);
                }
                whole.freeze()
            }
        };
        self.chunks = Vec::new();
        let _ = to.send(Copied::Whole(whole));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frames_are_handed_over_whole_once_the_body_ends() {
        let (mut copy, mut copied) = BodyCopy::new(10);
        copy.data(&Bytes::from_static(b"hello "));
        assert!(copied.try_recv().is_err(), "nothing before the end");
        copy.data(&Bytes::from_static(b"you"));
        copy.end();
        match copied.try_recv() {
            Ok(Copied::Whole(whole)) => assert_eq!(whole, "hello you"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_past_the_size_is_given_up_at_once_and_one_never_ended_when_dropped() {
        let (mut copy, mut copied) = BodyCopy::new(4);
        copy.data(&Bytes::from_static(b"abc"));
        copy.data(&Bytes::from_static(b"de"));
        assert!(matches!(copied.try_recv(), Ok(Copied::TooLarge)));
        copy.data(&Bytes::from_static(b"f"));
        copy.end();

        let (mut copy, mut copied) = BodyCopy::new(4);
        copy.data(&Bytes::from_static(b"abc"));
        drop(copy);
        assert!(matches!(
            copied.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }
}
