//! The client side: listeners and what happens to a connection before the gateway sees a
//! request. A connection is accepted (`accept`, or `tcp` for `mode tcp`), TLS is terminated
//! (`tls`), every phase gets a deadline (`watchdog`, told of blocked writes by `reported`),
//! HTTP/1.x is served by Edge's own engine (`http1`) and HTTP/2 by hyper, and each request is
//! admitted (`admit`: one host, a normal path, no spoofed fields) by its `connection` before
//! the generated gateway routes it. Answers the gateway may make without a pool (redirects,
//! files, route conditions) live here too.

pub(crate) mod accept;
pub(crate) mod admit;
pub(crate) mod bound;
pub(crate) mod connection;
pub(crate) mod forwarded;
pub(crate) mod front;
pub(crate) mod host;
pub(crate) mod http1;
pub(crate) mod listener;
pub(crate) mod logged;
pub(crate) mod matching;
pub(crate) mod normalize;
pub(crate) mod proxy_header;
pub(crate) mod redirect;
pub(crate) mod reported;
pub(crate) mod scrub;
pub(crate) mod static_files;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod watchdog;
