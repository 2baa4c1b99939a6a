//! One client connection as requests meet it: the listener it came on, the peer, what TLS
//! said of it, and [`Connection::handle`], which admits each request (`admit`), stamps its id,
//! hands it to the gateway and counts and logs the answer. Edge's HTTP/1 engine calls it
//! directly; hyper's servers (HTTP/2, hand-overs) through [`Connection::service`].

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Instant, SystemTime},
};

use http::{
    header::{Entry, CONNECTION, STRICT_TRANSPORT_SECURITY},
    HeaderValue, Version,
};
use hyper::service::service_fn;

use crate::{
    cidr::Cidr,
    cx::peer_ip,
    downstream::admit::{admit, Rules},
    downstream::forwarded,
    downstream::front::Front,
    downstream::logged::Logged,
    downstream::scrub::X_CLIENT_CERT_SUBJECT,
    downstream::watchdog::Activity,
    host_name::HostName,
    observe::{self, access_log::Pending, trace::Tracer},
    respond::bad_request,
    Cx, Gateway, Request, RequestBody,
};

/// One client connection.
pub(crate) struct Connection<G: Gateway> {
    pub(crate) gateway: Arc<G>,
    pub(crate) front: Arc<Front>,
    pub(crate) id: G::Listener,
    /// The listener's position in the site's listeners, for metrics.
    pub(crate) index: usize,
    pub(crate) name: &'static str,
    pub(crate) peer: SocketAddr,
    pub(crate) peer_ip: HeaderValue,
    /// What the connection's watchdog reads.
    pub(crate) activity: Arc<Activity>,
    /// Set once the TLS handshake is done; `None` on cleartext listeners.
    pub(crate) tls: Option<TlsConnection>,
    /// The listener's body limit (0: none).
    pub(crate) max_body: u64,
    /// The listener's longest wait for a request body's next bytes.
    pub(crate) body_timeout: std::time::Duration,
    /// What the listener lets through beyond the defaults; whether the peer is trusted.
    pub(crate) rules: Rules,
    /// The listener's `trusted_proxies`.
    pub(crate) trusted_proxies: &'static [Cidr],
}

/// What a TLS connection adds to its requests and responses.
pub(crate) struct TlsConnection {
    pub(crate) client_subject: Option<HeaderValue>,
    pub(crate) hsts: Option<HeaderValue>,
}

impl<G: Gateway> Connection<G> {
    /// A request's context: its client is the peer, or behind a trusted proxy the client its
    /// `X-Forwarded-For` names (`downstream::forwarded`).
    fn context(&self, headers: &http::HeaderMap, host: HostName) -> Cx {
        let tls = self.tls.is_some();
        if !self.rules.trusted {
            return Cx::new(self.name, self.peer, self.peer_ip.clone(), host, tls);
        }
        let cx = match forwarded::real_client(headers, self.trusted_proxies) {
            Some(ip) => {
                let client = SocketAddr::new(ip, 0);
                Cx::new(self.name, client, peer_ip(client), host, tls)
            }
            None => Cx::new(self.name, self.peer, self.peer_ip.clone(), host, tls),
        };
        cx.behind(self.peer_ip.clone())
    }

    /// The hyper service answering this connection's requests (HTTP/2).
    pub(crate) fn service(
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

    /// Admits and answers one request.
    #[allow(clippy::manual_async_fn)] // on purpose, see below
    pub(crate) fn handle(
        &self,
        req: Request,
    ) -> impl Future<Output = http::Response<Logged>> + Send + '_ {
        // A plain `fn` around an `async move` block: an `async fn` would hold the request
        // twice, once as an argument and once as a local.
        async move {
            let in_flight = self.activity.request();
            let observer = &self.front.observer;
            let started = Instant::now();
            let logging = observer.access_log.is_some();
            let time = if logging {
                SystemTime::now()
            } else {
                SystemTime::UNIX_EPOCH
            };
            let http1 = req.version() <= Version::HTTP_11;
            let mut close = self.front.closes_each_answer() && http1;
            let mut trace = None;
            let (mut response, route, request_id, pending) = match admit(req, self.rules) {
                Ok((mut req, host)) => {
                    let headers = req.headers_mut();
                    if let Some(subject) = self.tls.as_ref().and_then(|t| t.client_subject.as_ref())
                    {
                        headers.insert(X_CLIENT_CERT_SUBJECT, subject.clone());
                    }
                    let tracer = observer.tracer.as_deref();
                    let client_traced = tracer.is_some() && Tracer::client_traced(headers);
                    let request_id = observe::apply_request_id(headers, observer.request_id);
                    let too_large =
                        self.max_body > 0 && req.body_mut().limit(self.max_body).is_err();
                    let mut cx = self.context(req.headers(), host);
                    if let Some(tracer) = tracer {
                        cx.record(tracer.begin(&mut req, &cx, client_traced, started));
                    }
                    let mut pending = logging.then(|| {
                        Pending::start(&mut req, &cx, (started, time), request_id.clone())
                    });
                    let response = if too_large {
                        crate::respond::respond(413, "413 Content Too Large\n")
                    } else {
                        self.gateway.handle(self.id, req, &cx).await
                    };
                    let route = cx.route();
                    let status = response.status().as_u16();
                    if let Some(pending) = &mut pending {
                        pending.answered(status, Some(&cx), observer.route_name(route));
                    }
                    if let Some(recording) = cx.take_trace() {
                        trace = Some(recording.answered(status, observer.route_name(route)));
                    }
                    (response, route, request_id, pending)
                }
                Err(refusal) => {
                    tracing::debug!(listener = self.name, peer = %self.peer, ?refusal, "request refused");
                    let mut pending = logging
                        .then(|| Pending::refused(self.peer.ip(), self.name, (started, time)));
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
                if let Entry::Vacant(entry) =
                    response.headers_mut().entry(STRICT_TRANSPORT_SECURITY)
                {
                    entry.insert(hsts.clone());
                }
            }
            if close {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            let pending = pending.zip(observer.access_log.clone());
            let trace = trace.zip(observer.tracer.clone());
            response.map(|body| Logged::new(body, pending, trace, in_flight))
        }
    }
}
