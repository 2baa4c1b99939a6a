//! Edge's runtime: the typed building blocks that generated gateway code wires together.
//!
//! Generated code implements [`Gateway`] and calls [`run`]; everything it may touch is listed in
//! `docs/runtime-contract.md`. Nothing here reads or looks up configuration: listeners and pools
//! arrive as `static` specs, strategies as type parameters.
// One function may use it, saying why: `http1::fields::parsed_value`.
#![deny(unsafe_code)]

mod address;
mod body;
mod cidr;
mod clock;
mod cookies;
mod cx;
mod deadline;
mod downstream;
#[cfg(feature = "engine-bench")]
pub mod engine_bench;
mod fields;
mod fixed_hash;
mod host_name;
mod http1;
mod load;
mod observe;
mod policy;
mod process;
mod rand;
mod registry;
mod respond;
mod root;
mod store;
mod stream;
mod tls;
mod upstream;
mod worker;

pub use http;

pub use address::Upstream;
pub use body::{Body, BodyError, RequestBody};
pub use cidr::Cidr;
pub use cx::Cx;
pub use deadline::Deadline;
pub use downstream::{
    listener::{
        CertSpec, ClientAuth, ListenerLimits, ListenerMode, ListenerSpec, TcpSpec, TlsSpec,
    },
    matching::{cookie_is, header_is, query_is},
    redirect::{redirect_https, redirect_to},
    static_files::{StaticDir, StaticSpec},
    tcp::TcpConnection,
};
pub use load::LoadError;
pub use observe::{
    AccessLogSpec, BuildInfo, ErrorPage, LogFormat, RequestIdSpec, RouteInfo, TracingSpec,
};
pub use policy::{
    Access, AccessRule, AccessSpec, AnswerCache, AnswerKey, ApiKey, ApiKeySpec, BasicAuth,
    BasicAuthSpec, Cache, CacheKey, CacheSpec, CacheTicket, Caller, Coding, Compress, CompressSpec,
    Cors, CorsSpec, ExtAuth, ExtAuthSpec, ForwardClaim, HeaderEdits, Headers, HeadersSpec, Jwt,
    JwtAlgorithm, JwtKeys, JwtSpec, KeySets, KeySource, LimitAlgorithm, LimitKey, OnStoreError,
    Policy, Rate, RateLimit, RateLimitSpec, Rewrite, RewriteRule, RewriteSpec, SecurityHeaders,
    SecurityHeadersSpec, Traced, Validate, ValidateSpec,
};
pub use process::site::{ShutdownSpec, Site};
pub use process::Process;
pub use process::{
    admin::AdminSpec,
    bind::{BindError, StartError},
    reload::CertReloader,
    run::{run, run_with_args},
    server::Server,
};
pub use respond::{not_found, respond};
pub use store::{StorePassword, StoreServers, StoreSpec, Stores};
pub use tls::{TlsError, TlsErrorKind, TlsFile, TlsOwner};
pub use upstream::{
    balance::{
        ClientIpKey, CookieKey, Ewma, Hash, HashKey, HeaderKey, LeastConn, PathKey, Random,
        RoundRobin, Strategy,
    },
    circuit::{Circuit, Guard, Unguarded},
    mirror::{Mirror, MirrorSpec, Mirrors},
    pool::Pool,
    pools::Pools,
    proxy_protocol::ProxyProtocol,
    spec::{
        CircuitSpec, ClientCert, HealthCheck, HttpCheck, Outlier, Passive, PoolSpec, Retry,
        RetryOn, ServerSpec, StatusRange, StickySpec, TcpCheck, UpstreamProtocol, UpstreamTimeouts,
        UpstreamTls,
    },
    split::{AnyRequest, Split, SplitSpec, Splits},
};

use std::future::Future;

/// A request as the gateway receives it: the body streams from the client.
pub type Request = http::Request<RequestBody>;

/// A response as the gateway returns it.
pub type Response = http::Response<Body>;

/// The generated part of a proxy: given a request that passed the runtime's checks, answer it;
/// given a connection on a `mode tcp` listener, tunnel it.
pub trait Gateway: Send + Sync + 'static {
    /// Which listener a request arrived on; generated as a fieldless enum.
    type Listener: Copy + Send + Sync + 'static;

    /// Answers one request. `cx.host()` and `req.uri().path()` are already normalised.
    fn handle(
        &self,
        listener: Self::Listener,
        req: Request,
        cx: &Cx,
    ) -> impl Future<Output = Response> + Send;

    /// Handles one connection accepted by a `mode tcp` listener, usually with
    /// [`Pool::tunnel`]; the connection is closed when it is dropped. Never called for HTTP
    /// listeners. The default drops the connection, so gateways without `mode tcp` listeners
    /// need not implement it.
    fn handle_tcp(
        &self,
        listener: Self::Listener,
        conn: TcpConnection,
    ) -> impl Future<Output = ()> + Send {
        let _ = listener;
        let (name, peer) = (conn.listener(), conn.peer());
        tracing::debug!(listener = name, %peer, "no tcp handler: connection closed");
        std::future::ready(())
    }
}
