//! Bodies: the response body (a fixed text, or an upstream body streamed through), and the
//! request body sent upstream (the client's, or empty when a request is sent again).

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

use crate::backend::Pooled;

/// A response body. Opaque on purpose: generated code builds one through [`crate::respond`]
/// or gets one from [`crate::Pool::forward`].
#[derive(Debug)]
pub struct Body {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// A body known in full; `None` once sent (or when empty).
    Full(Option<Bytes>),
    /// An upstream response body. Its connection goes back to the pool at end of stream;
    /// if the body is dropped before that, the connection is dropped with it.
    Upstream {
        body: Incoming,
        connection: Option<Pooled>,
    },
}

impl Body {
    pub(crate) fn from_static(text: &'static str) -> Body {
        let bytes = (!text.is_empty()).then(|| Bytes::from_static(text.as_bytes()));
        Body {
            kind: Kind::Full(bytes),
        }
    }

    /// Streams `body`; `connection` is released once `body` has ended.
    pub(crate) fn upstream(body: Incoming, connection: Pooled) -> Body {
        use http_body::Body as _;
        let connection = if body.is_end_stream() {
            connection.release();
            None
        } else {
            Some(connection)
        };
        Body {
            kind: Kind::Upstream { body, connection },
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream { body, connection } => {
                let frame = std::task::ready!(Pin::new(&mut *body).poll_frame(cx));
                match &frame {
                    // hyper stops polling once `is_end_stream` is true, so release on the
                    // last frame as well as on `None`.
                    Some(Ok(_)) if !body.is_end_stream() => {}
                    Some(Ok(_)) | None => {
                        if let Some(connection) = connection.take() {
                            connection.release();
                        }
                    }
                    Some(Err(_)) => *connection = None,
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Upstream { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream { body, .. } => body.size_hint(),
        }
    }
}

/// The body of a request sent upstream: the client's body, or nothing for a retried request
/// (only requests whose body was empty are ever sent twice).
#[derive(Debug)]
pub(crate) enum Outgoing {
    Client(Incoming),
    Empty,
}

impl http_body::Body for Outgoing {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Outgoing::Client(body) => Pin::new(body).poll_frame(cx),
            Outgoing::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Client(body) => body.is_end_stream(),
            Outgoing::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outgoing::Client(body) => body.size_hint(),
            Outgoing::Empty => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn static_body_yields_its_text_once() {
        let body = Body::from_static("hello\n");
        assert_eq!(body.size_hint().exact(), Some(6));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, "hello\n");
    }

    #[test]
    fn empty_static_body_is_ended() {
        let body = Body::from_static("");
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[tokio::test]
    async fn an_empty_outgoing_body_is_ended() {
        let body = Outgoing::Empty;
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }
}
