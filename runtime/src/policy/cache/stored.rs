//! An answer's body copied into the cache as it streams to the client: stored when it ends,
//! abandoned when it grows past the object limit or breaks.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::store::Filler;
use crate::Body;

/// An answer and the copy being made of it; `filler` is `None` once the copy is stored or
/// abandoned (too large, or the stream failed).
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) inner: Body,
    pub(super) filler: Option<Filler>,
}

impl http_body::Body for Stored {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(filler)) = (frame.data_ref(), &mut this.filler) {
                    if !filler.push(data) {
                        if let Some(filler) = this.filler.take() {
                            filler.give_up();
                        }
                    }
                }
                // hyper stops polling once `is_end_stream` is true: the last frame ends it.
                if this.inner.is_end_stream() {
                    if let Some(filler) = this.filler.take() {
                        filler.finish();
                    }
                }
            }
            None => {
                if let Some(filler) = this.filler.take() {
                    filler.finish();
                }
            }
            // A broken answer is not stored; dropping the filler tells whoever waits for it.
            Some(Err(_)) => this.filler = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
