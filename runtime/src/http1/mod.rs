//! HTTP/1.1 on the wire, Edge's own: heads parsed with `httparse` straight from a connection's
//! read buffer, bodies framed and re-framed here (never a peer's framing bytes copied through),
//! and the upstream side's connections, which need no task of their own: a request future
//! writes its head and reads the answer's, and the answer's body reads the rest and hands the
//! connection back when it ends. The client side's server (`downstream::http1`) shares the
//! buffers, the chunked coding and the pipe its request bodies pass through.

pub(crate) mod buffers;
pub(crate) mod chunked;
pub(crate) mod client;
pub(crate) mod fields;
pub(crate) mod pipe;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod rewound;
pub(crate) mod upgrade;
