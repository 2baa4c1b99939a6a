//! The server side: pools of servers and everything between a routed request and a server's
//! answer. A pool (`pool`) picks a server with its strategy (`balance`) among those health
//! checks (`health`, `passive`) leave usable, rewrites the request for it (`forward`), sends
//! it on a connection of that server (`backend`: HTTP/1.1 keep-alive or one shared HTTP/2
//! connection, over TCP or `tls`), and on a retryable failure (`retry`, under a `budget`)
//! tries another. Tunnels relay bytes (`relay`), with the PROXY protocol when asked. A pool may
//! be guarded (`circuit`): caps on requests in flight and waiting (`counts`) and the ejection
//! of servers that stand out from the others (`outlier`).

pub(crate) mod backend;
pub(crate) mod balance;
pub(crate) mod budget;
pub(crate) mod circuit;
pub(crate) mod counts;
pub(crate) mod error;
pub(crate) mod forward;
pub(crate) mod health;
pub(crate) mod mirror;
pub(crate) mod outlier;
pub(crate) mod passive;
pub(crate) mod pool;
pub(crate) mod pools;
pub(crate) mod proxy_protocol;
pub(crate) mod relay;
pub(crate) mod retry;
pub(crate) mod spec;
pub(crate) mod split;
pub(crate) mod stream;
pub(crate) mod tls;
