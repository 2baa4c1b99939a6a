//! HTTP listeners: accept connections, run the TLS handshake on TLS listeners, serve each
//! connection with hyper (cleartext: HTTP/1.1 or HTTP/2 by preface; TLS: HTTP/2 when ALPN
//! chose it, else as cleartext), check each request (`admit`) and hand it to the gateway.
//!
//! Each connection is driven by its watchdog (`watchdog`), which closes it past a deadline of
//! its listener and stops it gracefully on a drain.
//!
//! HTTP/1 connections are read through the framing guard (`framing`), above TLS, so it sees
//! the plaintext requests either way. They are served with upgrades enabled, so a `101` from
//! the gateway hands the connection over (`hyper::upgrade::on`) for a WebSocket tunnel; the
//! guard then stops scanning at the first bytes that are not an HTTP request head.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant, SystemTime},
};

use http::{
    header::{Entry, CONNECTION, STRICT_TRANSPORT_SECURITY},
    HeaderValue, Version,
};
use hyper::{server::conn::http2, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};

use crate::{
    cx::peer_ip,
    downstream::admit::{admit, Rules},
    downstream::bound::{connection_room, Bound, ACCEPT_BACKOFF},
    downstream::framing::Guarded,
    downstream::front::Front,
    downstream::listener::ListenerLimits,
    downstream::logged::Logged,
    downstream::normalize::PathRules,
    downstream::scrub::X_CLIENT_CERT_SUBJECT,
    downstream::tls::{self, TlsListener},
    downstream::watchdog::{self, Activity, Drain},
    observe::{self, access_log::Pending},
    respond::bad_request,
    Cx, Gateway, Request, RequestBody,
};

/// hyper refuses a smaller HTTP/1 read buffer.
const MIN_HEADER_BUFFER: usize = 8192;

/// How long an HTTP/2 client may take to answer a PING before its connection is closed.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Accepts connections on one HTTP listener and serves each on its own task.
pub(crate) async fn accept<G: Gateway>(
    bound: Bound<G::Listener>,
    gateway: Arc<G>,
    front: Arc<Front>,
    drain: Arc<Drain>,
) {
    let limits = &bound.spec.limits;
    let protocols = Arc::new(Protocols::new(limits, bound.tls.clone()));
    let room = connection_room(limits);
    loop {
        let Ok(place) = Arc::clone(&room).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match bound.listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(listener = bound.spec.name, %error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let counted = Counted::new(&front, bound.index);
        let activity = Activity::new();
        let connection = Connection {
            gateway: Arc::clone(&gateway),
            front: Arc::clone(&front),
            id: bound.id,
            index: bound.index,
            name: bound.spec.name,
            peer,
            peer_ip: peer_ip(peer),
            activity: Arc::clone(&activity),
            tls: None,
            max_body: limits.max_body,
            body_timeout: limits.body_timeout,
            rules: Rules {
                underscores: limits.underscores_in_headers,
                paths: PathRules {
                    encoded_slashes: limits.allow_encoded_slashes,
                    semicolons: limits.allow_semicolons,
                    lower_case: limits.case_insensitive_paths,
                },
            },
        };
        // Taken now, so the drain waits for connections still in their handshake too.
        let signal = drain.signal();
        let protocols = Arc::clone(&protocols);
        let limits = bound.spec.limits;
        tokio::spawn(async move {
            let _counted = (counted, place);
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
            let Protocols { auto, tls } = &*protocols;
            let max_head = limits.max_header_size;
            let served = match tls {
                None => {
                    let io = Guarded::new(stream, Arc::clone(&activity), max_head);
                    let service = connection.service();
                    let conn = auto.serve_connection_with_upgrades(TokioIo::new(io), service);
                    watchdog::watch(conn, &activity, &limits, signal)
                        .await
                        .map_err(watchdog::Closed::boxed)
                }
                Some(TlsProtocols {
                    listener,
                    http2,
                    handshake_timeout,
                }) => {
                    let Some((stream, negotiated)) =
                        tls::handshake(listener, stream, peer, *handshake_timeout).await
                    else {
                        connection.front.observer.tls_failure(connection.index);
                        return;
                    };
                    let mut connection = connection;
                    connection.tls = Some(TlsConnection {
                        client_subject: negotiated.client_subject,
                        hsts: listener.hsts().cloned(),
                    });
                    if negotiated.h2 {
                        let io = Guarded::unscanned(stream, Arc::clone(&activity));
                        let service = connection.service();
                        let conn = http2.serve_connection(TokioIo::new(io), service);
                        watchdog::watch(conn, &activity, &limits, signal)
                            .await
                            .map_err(watchdog::Closed::boxed)
                    } else {
                        let io = Guarded::new(stream, Arc::clone(&activity), max_head);
                        let service = connection.service();
                        let conn = auto.serve_connection_with_upgrades(TokioIo::new(io), service);
                        watchdog::watch(conn, &activity, &limits, signal)
                            .await
                            .map_err(watchdog::Closed::boxed)
                    }
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "client connection ended with an error");
            }
        });
    }
}

/// How a listener's connections are served, set up once per listener and worker.
struct Protocols {
    /// HTTP/1.1 (upgrades included), or HTTP/2 with prior knowledge, told apart by the first
    /// bytes: cleartext connections, and TLS ones whose ALPN did not choose `h2`. (hyper-util
    /// drains upgradable HTTP/1 connections gracefully only through this builder.)
    auto: auto::Builder<TokioExecutor>,
    /// `None` on cleartext listeners.
    tls: Option<TlsProtocols>,
}

/// What a TLS listener adds: the handshake, then HTTP/2 when ALPN agreed on it.
struct TlsProtocols {
    listener: Arc<TlsListener>,
    http2: http2::Builder<TokioExecutor>,
    /// The client's time to complete the handshake: the listener's header timeout.
    handshake_timeout: std::time::Duration,
}

impl Protocols {
    fn new(limits: &ListenerLimits, tls: Option<Arc<TlsListener>>) -> Protocols {
        let max_buf = limits.max_header_size.max(MIN_HEADER_BUFFER);
        let max_header_list = u32::try_from(limits.max_header_size).unwrap_or(u32::MAX);
        let mut auto = auto::Builder::new(TokioExecutor::new());
        // Heads are timed by the connection's watchdog, not by a timer hyper would set per
        // request.
        auto.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size(max_buf);
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(max_header_list)
            .max_concurrent_streams(limits.max_streams)
            .keep_alive_interval(Some(limits.ping_interval))
            .keep_alive_timeout(PING_TIMEOUT);
        let tls = tls.map(|listener| {
            let mut http2 = http2::Builder::new(TokioExecutor::new());
            http2
                .timer(TokioTimer::new())
                .max_header_list_size(max_header_list)
                .max_concurrent_streams(limits.max_streams)
                .keep_alive_interval(Some(limits.ping_interval))
                .keep_alive_timeout(PING_TIMEOUT);
            TlsProtocols {
                listener,
                http2,
                handshake_timeout: limits.header_timeout,
            }
        });
        Protocols { auto, tls }
    }
}

/// An open connection, counted as closed when dropped.
struct Counted {
    front: Arc<Front>,
    listener: usize,
}

impl Counted {
    fn new(front: &Arc<Front>, listener: usize) -> Counted {
        front.observer.accepted(listener);
        Counted {
            front: Arc::clone(front),
            listener,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.front.observer.closed(self.listener);
    }
}

/// One client connection.
struct Connection<G: Gateway> {
    gateway: Arc<G>,
    front: Arc<Front>,
    id: G::Listener,
    /// The listener's position in the site's listeners, for metrics.
    index: usize,
    name: &'static str,
    peer: SocketAddr,
    peer_ip: HeaderValue,
    /// What the connection's watchdog reads; its framing flag is set by [`Guarded`].
    activity: Arc<Activity>,
    /// Set once the TLS handshake is done; `None` on cleartext listeners.
    tls: Option<TlsConnection>,
    /// The listener's body limit (0: none).
    max_body: u64,
    /// The listener's longest wait for a request body's next bytes.
    body_timeout: std::time::Duration,
    /// What the listener lets through beyond the defaults.
    rules: Rules,
}

/// What a TLS connection adds to its requests and responses.
struct TlsConnection {
    client_subject: Option<HeaderValue>,
    hsts: Option<HeaderValue>,
}

impl<G: Gateway> Connection<G> {
    /// The hyper service answering this connection's requests.
    fn service(
        self,
    ) -> impl hyper::service::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<Logged>,
        Error = Infallible,
        Future = impl std::future::Future<Output = Result<http::Response<Logged>, Infallible>> + Send,
    > + Clone {
        let connection = Arc::new(self);
        service_fn(move |req| {
            let connection = Arc::clone(&connection);
            // Boxed (a concrete type, no `dyn`): the request future holds the gateway's whole
            // state, several KiB, and hyper keeps a slot of the service future's size in every
            // connection, idle ones included, and moves it into a task per HTTP/2 stream. One
            // allocation per request costs less than those copies (measured with callgrind:
            // docs/benchmarks.md).
            Box::pin(async move {
                let (timeout, underscores) =
                    (connection.body_timeout, connection.rules.underscores);
                let req = req.map(|body| RequestBody::client(body, timeout, underscores));
                Ok::<_, Infallible>(connection.handle(req).await)
            })
        })
    }

    async fn handle(&self, req: Request) -> http::Response<Logged> {
        let in_flight = self.activity.request();
        let observer = &self.front.observer;
        let started = Instant::now();
        let logging = observer.access_log.is_some();
        let time = if logging {
            SystemTime::now()
        } else {
            SystemTime::UNIX_EPOCH
        };
        let ambiguous = self.activity.ambiguous_framing.load(Ordering::Relaxed);
        let http1 = req.version() <= Version::HTTP_11;
        let mut close = self.front.handed_over() && http1;
        let (mut response, route, request_id, pending) = match admit(req, ambiguous, self.rules) {
            Ok((mut req, host)) => {
                let headers = req.headers_mut();
                if let Some(subject) = self.tls.as_ref().and_then(|t| t.client_subject.as_ref()) {
                    headers.insert(X_CLIENT_CERT_SUBJECT, subject.clone());
                }
                let request_id = observe::apply_request_id(headers, observer.request_id);
                let too_large = self.max_body > 0 && req.body_mut().limit(self.max_body).is_err();
                let cx = Cx::new(
                    self.name,
                    self.peer,
                    self.peer_ip.clone(),
                    host,
                    self.tls.is_some(),
                );
                let mut pending = logging
                    .then(|| Pending::start(&mut req, &cx, (started, time), request_id.clone()));
                let response = if too_large {
                    crate::respond::respond(413, "413 Content Too Large\n")
                } else {
                    self.gateway.handle(self.id, req, &cx).await
                };
                let route = cx.route();
                if let Some(pending) = &mut pending {
                    let status = response.status().as_u16();
                    pending.answered(status, Some(&cx), observer.route_name(route));
                }
                (response, route, request_id, pending)
            }
            Err(refusal) => {
                tracing::debug!(listener = self.name, peer = %self.peer, ?refusal, "request refused");
                let mut pending =
                    logging.then(|| Pending::refused(self.peer.ip(), self.name, (started, time)));
                if let Some(pending) = &mut pending {
                    pending.answered(400, None, None);
                }
                // What follows a refused head on the same connection cannot be trusted to
                // start a request (a smuggled one would): the connection ends with the answer.
                close = http1;
                (bad_request(), None, None, pending)
            }
        };
        observer.request(
            self.index,
            route,
            response.status().as_u16(),
            started.elapsed(),
        );
        observer.finish(&mut response);
        if let Some(id) = request_id {
            response.headers_mut().insert(observe::X_REQUEST_ID, id);
        }
        if let Some(hsts) = self.tls.as_ref().and_then(|t| t.hsts.as_ref()) {
            if let Entry::Vacant(entry) = response.headers_mut().entry(STRICT_TRANSPORT_SECURITY) {
                entry.insert(hsts.clone());
            }
        }
        if close {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let pending = pending.zip(observer.access_log.clone());
        response.map(|body| Logged::new(body, pending, in_flight))
    }
}
