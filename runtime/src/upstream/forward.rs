//! Header and URI rewriting between the client and an upstream (RFC 9110 §7.6).
//!
//! Towards the upstream: hop-by-hop headers go, the version becomes HTTP/1.1, `Host` stays the
//! one admission settled (the target is already origin-form), and the `X-Forwarded-*` / `X-Real-IP` headers say who
//! asked. Towards the client: hop-by-hop headers go.
//!
//! An upgrade request (an HTTP/1.1 `GET` with `Connection: upgrade` and `Upgrade: websocket`, a
//! WebSocket handshake) keeps `Connection: upgrade` and its `Upgrade` towards the upstream, and
//! a `101 Switching Protocols` answer keeps them towards the client; every other hop-by-hop
//! header still goes. Other protocols (`h2c` above all, which would let the client talk to the
//! server past every route and policy) are not tunnelled: such requests go as plain ones.

use bytes::{BufMut, Bytes, BytesMut};
use http::{
    header::{
        Entry, CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRANSFER_ENCODING,
        UPGRADE,
    },
    uri::{Authority, PathAndQuery, Scheme},
    HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version,
};
use smallvec::SmallVec;

use crate::Cx;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

const HTTP: HeaderValue = HeaderValue::from_static("http");
const HTTPS: HeaderValue = HeaderValue::from_static("https");
const CONNECTION_UPGRADE: HeaderValue = HeaderValue::from_static("upgrade");
const TE_TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1). `Trailer` is
/// not one: it names the trailer fields a message carries end to end (§6.6.2), and hyper sends
/// a message's trailers over HTTP/1.1 only when it declares them there.
const HOP_BY_HOP: [HeaderName; Stripped::FIRST_REVEALING as usize - 1] = [
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Which of the headers the proxy strips a message has: one bit per name, `Connection` first,
/// then [`HOP_BY_HOP`] and [`REVEALING`] in their order. Found in one pass over the names, so
/// that only the headers present cost a lookup to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stripped(u16);

impl Stripped {
    /// The bit of `Connection`.
    const CONNECTION: u32 = 0;
    /// The bit of `TE`.
    const TE: u32 = 5;
    /// The bit of `HOP_BY_HOP[0]`; `REVEALING[0]` follows the last hop-by-hop bit.
    const FIRST_HOP_BY_HOP: u32 = 1;
    const FIRST_REVEALING: u32 = Stripped::FIRST_HOP_BY_HOP + 7;

    fn of(headers: &HeaderMap) -> Stripped {
        Stripped(
            headers
                .keys()
                .fold(0, |bits, name| bits | Stripped::bit(name.as_str())),
        )
    }

    /// The bit of a lower-case header name (`HeaderName::as_str`); 0 for names not stripped.
    fn bit(name: &str) -> u16 {
        let index = match name {
            "connection" => 0,
            "keep-alive" => 1,
            "proxy-connection" => 2,
            "proxy-authenticate" => 3,
            "proxy-authorization" => 4,
            "te" => 5,
            "transfer-encoding" => 6,
            "upgrade" => 7,
            "server" => 8,
            "x-powered-by" => 9,
            "x-aspnet-version" => 10,
            "x-aspnetmvc-version" => 11,
            _ => return 0,
        };
        1 << index
    }

    fn has(self, index: u32) -> bool {
        self.0 & (1 << index) != 0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The protocols a request asks to switch to: the values of its `Upgrade` header.
#[derive(Debug)]
pub(crate) struct Upgrade(SmallVec<[HeaderValue; 1]>);

/// The protocols tunnelled after a `101` unless a route names others.
pub(crate) const WEBSOCKET_ONLY: &[&str] = &["websocket"];

impl Upgrade {
    /// The upgrade `req` asks for, if it is an HTTP/1.1 `GET` with a `Connection` header listing
    /// `upgrade` and an `Upgrade` naming only protocols of `allowed` (lower-case). Other
    /// protocols, upgrades of other methods (and HTTP/2's extended CONNECT) are not tunnelled:
    /// such requests are forwarded as plain requests, without their `Upgrade`.
    pub(crate) fn of<B>(req: &Request<B>, allowed: &[&str]) -> Option<Upgrade> {
        if req.version() != Version::HTTP_11 || req.method() != Method::GET {
            return None;
        }
        let headers = req.headers();
        let asked = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
        if !asked {
            return None;
        }
        let protocols = Upgrade::protocols(headers);
        let all_allowed = protocols
            .0
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .all(|token| {
                let token = token.trim_ascii();
                // `h2c` never: the client would talk HTTP/2 past every route and policy.
                !token.eq_ignore_ascii_case(b"h2c")
                    && allowed
                        .iter()
                        .any(|protocol| token.eq_ignore_ascii_case(protocol.as_bytes()))
            });
        (!protocols.0.is_empty() && all_allowed).then_some(protocols)
    }

    fn protocols(headers: &HeaderMap) -> Upgrade {
        Upgrade(headers.get_all(UPGRADE).iter().cloned().collect())
    }

    /// Puts `Connection: upgrade` and the protocols back, after the hop-by-hop headers went.
    fn restore(self, headers: &mut HeaderMap) {
        headers.insert(CONNECTION, CONNECTION_UPGRADE);
        for protocol in self.0 {
            headers.append(UPGRADE, protocol);
        }
    }
}

/// Turns a client's request into the request sent upstream; `upgrade` is what the request
/// asks to switch to, kept as [`Upgrade::of`] found it; `via`, the process's `Via` value.
pub(crate) fn to_upstream<B>(
    req: &mut Request<B>,
    cx: &Cx,
    upgrade: Option<Upgrade>,
    via: Option<&HeaderValue>,
) {
    let stripped = Stripped::of(req.headers());
    let trailers = stripped.has(Stripped::TE) && accepts_trailers(req);
    strip_hop_by_hop(req.headers_mut(), stripped);
    if trailers {
        // The one `TE` passed on: servers send trailers only to clients that take them.
        req.headers_mut().insert(TE, TE_TRAILERS);
    }
    if let Some(via) = via {
        req.headers_mut().append(http::header::VIA, via.clone());
    }
    if let Some(upgrade) = upgrade {
        upgrade.restore(req.headers_mut());
    }
    *req.version_mut() = Version::HTTP_11;

    let headers = req.headers_mut();
    let trusted = cx.trusted_hop();
    match trusted {
        // A trusted proxy's chain goes on, with that proxy added.
        Some(hop) => append_forwarded_for(headers, hop),
        // Anyone else's list is not believed: it names the client alone.
        None => {
            headers.insert(X_FORWARDED_FOR, cx.client_ip().clone());
        }
    }
    headers.insert(X_REAL_IP, cx.client_ip().clone());
    let believed = trusted.is_some();
    if !(believed && headers.contains_key(X_FORWARDED_PROTO)) {
        headers.insert(X_FORWARDED_PROTO, if cx.is_tls() { HTTPS } else { HTTP });
    }
    if !(believed && headers.contains_key(X_FORWARDED_HOST)) {
        match headers.get(HOST).cloned() {
            Some(host) => headers.insert(X_FORWARDED_HOST, host),
            None => headers.remove(X_FORWARDED_HOST),
        };
    }
}

/// Whether the client said it accepts trailers (`TE: trailers`, as every gRPC client does).
fn accepts_trailers<B>(req: &Request<B>) -> bool {
    req.headers()
        .get_all(TE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| {
            let coding = token.split(';').next().unwrap_or_default();
            coding.trim().eq_ignore_ascii_case("trailers")
        })
}

/// Turns a request made ready by [`to_upstream`] into one for an HTTP/2 server: `Host`
/// becomes `:authority` with the scheme (`https` over TLS). Without `Host` (an HTTP/1.0
/// client), no `:authority` is sent and the scheme is `http`.
pub(crate) fn to_http2<B>(req: &mut Request<B>, tls: bool) {
    let Some(host) = req.headers_mut().remove(HOST) else {
        return;
    };
    // Building the absolute URI copies the host: one allocation per request, for HTTP/2
    // pools only.
    let Ok(authority) = Authority::try_from(host.as_bytes()) else {
        req.headers_mut().insert(HOST, host);
        return;
    };
    let path = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(if tls { Scheme::HTTPS } else { Scheme::HTTP })
        .authority(authority)
        .path_and_query(path)
        .build();
    match uri {
        Ok(uri) => {
            *req.uri_mut() = uri;
            *req.version_mut() = Version::HTTP_2;
        }
        Err(_) => {
            req.headers_mut().insert(HOST, host);
        }
    }
}

/// Headers by which an upstream response tells what runs behind the proxy; removed, so the
/// internal topology stays hidden (a `headers` policy may set a `Server` of its own).
const REVEALING: [HeaderName; 4] = [
    HeaderName::from_static("server"),
    HeaderName::from_static("x-powered-by"),
    HeaderName::from_static("x-aspnet-version"),
    HeaderName::from_static("x-aspnetmvc-version"),
];

/// Whether an answer's field is one [`from_upstream`] removes whatever the answer's
/// `Connection` says: for Edge's HTTP/1 client, which leaves them out as it parses.
pub(crate) fn stripped_from_answers(name: &HeaderName) -> bool {
    Stripped::bit(name.as_str()) != 0
}

/// Cleans an upstream response's headers before they go to the client: hop-by-hop headers,
/// and the headers that reveal the servers behind the proxy.
pub(crate) fn from_upstream(headers: &mut HeaderMap) {
    let stripped = Stripped::of(headers);
    strip_hop_by_hop(headers, stripped);
    for (index, name) in (Stripped::FIRST_REVEALING..).zip(REVEALING) {
        if stripped.has(index) {
            headers.remove(name);
        }
    }
}

/// Cleans the headers of a `101 Switching Protocols`, keeping `Connection: upgrade` and the
/// protocol switched to.
pub(crate) fn switched_from_upstream(headers: &mut HeaderMap) {
    let protocols = Upgrade::protocols(headers);
    strip_hop_by_hop(headers, Stripped::of(headers));
    protocols.restore(headers);
}

/// Removes the standard hop-by-hop headers and every header that `Connection` names;
/// `stripped` is what [`Stripped::of`] found in `headers`.
fn strip_hop_by_hop(headers: &mut HeaderMap, stripped: Stripped) {
    if stripped.is_empty() {
        return;
    }
    if stripped.has(Stripped::CONNECTION) {
        if let Entry::Occupied(entry) = headers.entry(CONNECTION) {
            let (_, values) = entry.remove_entry_mult();
            let values: SmallVec<[HeaderValue; 2]> = values.collect();
            for token in values
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(str::trim)
            {
                // `Host` is end-to-end whatever the client claims; a stripped name that is
                // absent (`keep-alive`, most often) needs no lookup.
                if token.eq_ignore_ascii_case("host") || absent(token, stripped) {
                    continue;
                }
                headers.remove(token);
            }
        }
    }
    for (index, name) in (Stripped::FIRST_HOP_BY_HOP..).zip(HOP_BY_HOP) {
        if stripped.has(index) {
            headers.remove(name);
        }
    }
}

/// Whether `token` names a header [`Stripped`] knows and did not find.
fn absent(token: &str, stripped: Stripped) -> bool {
    const LONGEST: usize = "x-aspnetmvc-version".len();
    if token.len() > LONGEST {
        return false;
    }
    let mut lower = [0; LONGEST];
    let lower = &mut lower[..token.len()];
    lower.copy_from_slice(token.as_bytes());
    lower.make_ascii_lowercase();
    let bit = std::str::from_utf8(lower).map_or(0, Stripped::bit);
    bit != 0 && stripped.0 & bit == 0
}

/// Appends the client's IP to any `X-Forwarded-For` it sent (kept, but never trusted).
fn append_forwarded_for(headers: &mut HeaderMap, client_ip: &HeaderValue) {
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(entry) => {
            entry.insert(client_ip.clone());
        }
        Entry::Occupied(mut entry) => {
            let mut joined = BytesMut::new();
            for value in entry.iter() {
                joined.put_slice(value.as_bytes());
                joined.put_slice(b", ");
            }
            joined.put_slice(client_ip.as_bytes());
            let joined = HeaderValue::from_maybe_shared(Bytes::from(joined))
                .unwrap_or_else(|_| client_ip.clone());
            entry.insert(joined);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_name::HostName;

    fn cx() -> Cx {
        cx_over(false)
    }

    fn cx_over(tls: bool) -> Cx {
        Cx::new(
            "web",
            "10.1.2.3:5555".parse().unwrap(),
            HeaderValue::from_static("10.1.2.3"),
            HostName::EMPTY,
            tls,
        )
    }

    fn request(uri: &str, version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri(uri).version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn every_stripped_name_has_its_own_bit() {
        assert_eq!(
            Stripped::bit(CONNECTION.as_str()),
            1 << Stripped::CONNECTION
        );
        for (index, name) in (Stripped::FIRST_HOP_BY_HOP..).zip(HOP_BY_HOP) {
            assert_eq!(Stripped::bit(name.as_str()), 1 << index, "{name}");
        }
        for (index, name) in (Stripped::FIRST_REVEALING..).zip(REVEALING) {
            assert_eq!(Stripped::bit(name.as_str()), 1 << index, "{name}");
        }
        assert_eq!(Stripped::bit("host"), 0);
        assert_eq!(Stripped::bit("x-forwarded-for"), 0);
        let mut headers = HeaderMap::new();
        headers.insert("x-kept", HeaderValue::from_static("1"));
        assert!(Stripped::of(&headers).is_empty());
        headers.insert(TE, HeaderValue::from_static("trailers"));
        assert!(absent("Keep-Alive", Stripped::of(&headers)));
        assert!(!absent("TE", Stripped::of(&headers)));
        assert!(!absent("x-other", Stripped::of(&headers)));
    }

    #[test]
    fn hop_by_hop_headers_are_stripped() {
        let mut req = request(
            "/",
            Version::HTTP_11,
            &[
                ("host", "example.com"),
                ("connection", "keep-alive, X-Secret"),
                ("connection", "x-other"),
                ("x-secret", "1"),
                ("x-other", "1"),
                ("keep-alive", "timeout=5"),
                ("proxy-connection", "keep-alive"),
                ("proxy-authorization", "Basic x"),
                ("te", "trailers, deflate"),
                ("trailer", "x-checksum"),
                ("transfer-encoding", "chunked"),
                ("upgrade", "h2c"),
                ("x-kept", "yes"),
            ],
        );
        to_upstream(&mut req, &cx(), None, None);
        let names: Vec<&str> = req.headers().keys().map(HeaderName::as_str).collect();
        // `Trailer` is end to end: it declares the trailers the body ends with; of `TE`, only
        // `trailers` is passed on.
        assert_eq!(values(req.headers(), "te"), ["trailers"]);
        assert_eq!(
            names,
            [
                "host",
                "x-kept",
                "trailer",
                "te",
                "x-forwarded-for",
                "x-real-ip",
                "x-forwarded-proto",
                "x-forwarded-host"
            ]
        );
    }

    #[test]
    fn connection_cannot_remove_host() {
        let mut req = request(
            "/",
            Version::HTTP_11,
            &[("host", "example.com"), ("connection", "host")],
        );
        to_upstream(&mut req, &cx(), None, None);
        assert_eq!(values(req.headers(), "host"), ["example.com"]);
    }

    /// What a client sends in the forwarding fields, claiming to be someone else.
    fn spoofed() -> Request<()> {
        request(
            "/a?b=c",
            Version::HTTP_11,
            &[
                ("host", "Example.com:8080"),
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "2.2.2.2"),
                ("x-real-ip", "9.9.9.9"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.example"),
            ],
        )
    }

    #[test]
    fn forwarding_headers() {
        let mut req = spoofed();
        to_upstream(&mut req, &cx(), None, None);
        let headers = req.headers();
        assert_eq!(values(headers, "x-forwarded-for"), ["10.1.2.3"]);
        assert_eq!(values(headers, "x-real-ip"), ["10.1.2.3"]);
        assert_eq!(values(headers, "x-forwarded-proto"), ["http"]);
        assert_eq!(values(headers, "x-forwarded-host"), ["Example.com:8080"]);
        assert_eq!(req.uri(), "/a?b=c");
    }

    #[test]
    fn a_trusted_proxys_forwarding_fields_are_kept() {
        let mut req = spoofed();
        let hop = HeaderValue::from_static("192.0.2.10");
        to_upstream(&mut req, &cx().behind(hop), None, None);
        let headers = req.headers();
        assert_eq!(
            values(headers, "x-forwarded-for"),
            ["1.1.1.1, 2.2.2.2, 192.0.2.10"]
        );
        assert_eq!(values(headers, "x-real-ip"), ["10.1.2.3"]);
        assert_eq!(values(headers, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(headers, "x-forwarded-host"), ["evil.example"]);
    }

    #[test]
    fn forwarded_proto_is_https_over_tls() {
        let mut req = request(
            "/",
            Version::HTTP_11,
            &[("host", "example.com"), ("x-forwarded-proto", "http")],
        );
        to_upstream(&mut req, &cx_over(true), None, None);
        assert_eq!(values(req.headers(), "x-forwarded-proto"), ["https"]);
    }

    #[test]
    fn client_forwarded_host_without_host_is_dropped() {
        let mut req = request(
            "/",
            Version::HTTP_10,
            &[("x-forwarded-host", "evil.example")],
        );
        to_upstream(&mut req, &cx(), None, None);
        assert!(req.headers().get("x-forwarded-host").is_none());
        assert_eq!(values(req.headers(), "x-forwarded-for"), ["10.1.2.3"]);
        assert_eq!(req.version(), Version::HTTP_11);
    }

    #[test]
    fn response_hop_by_hop_and_revealing_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close, x-internal"));
        headers.insert("x-internal", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert(
            "server",
            HeaderValue::from_static("Apache/2.4.1 (internal-7)"),
        );
        headers.insert("x-powered-by", HeaderValue::from_static("PHP/8.3"));
        from_upstream(&mut headers);
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type"]);
    }

    #[test]
    fn an_upgrade_keeps_connection_upgrade_and_upgrade_only() {
        let mut req = request(
            "/chat",
            Version::HTTP_11,
            &[
                ("host", "example.com"),
                ("connection", "keep-alive, Upgrade, x-secret"),
                ("upgrade", "websocket"),
                ("x-secret", "1"),
                ("keep-alive", "timeout=5"),
                ("te", "deflate"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        );
        let upgrade = Upgrade::of(&req, WEBSOCKET_ONLY);
        assert!(upgrade.is_some());
        to_upstream(&mut req, &cx(), upgrade, None);
        let headers = req.headers();
        assert_eq!(values(headers, "connection"), ["upgrade"]);
        assert_eq!(values(headers, "upgrade"), ["websocket"]);
        for gone in ["x-secret", "keep-alive", "te"] {
            assert!(headers.get(gone).is_none(), "{gone}");
        }
        assert_eq!(
            values(headers, "sec-websocket-key"),
            ["dGhlIHNhbXBsZSBub25jZQ=="]
        );
    }

    #[test]
    fn only_http_1_1_gets_with_both_headers_are_upgrades() {
        let upgrade = [("connection", "upgrade"), ("upgrade", "websocket")];
        let cases = [
            (Method::GET, Version::HTTP_11, &upgrade[..], true),
            (Method::POST, Version::HTTP_11, &upgrade[..], false),
            (Method::GET, Version::HTTP_10, &upgrade[..], false),
            (Method::GET, Version::HTTP_2, &upgrade[..], false),
            (Method::GET, Version::HTTP_11, &upgrade[1..], false),
            (Method::GET, Version::HTTP_11, &upgrade[..1], false),
            (
                Method::GET,
                Version::HTTP_11,
                &[("connection", "upgrade"), ("upgrade", "h2c")][..],
                false,
            ),
            (
                Method::GET,
                Version::HTTP_11,
                &[("connection", "upgrade"), ("upgrade", "websocket, h2c")][..],
                false,
            ),
            (
                Method::GET,
                Version::HTTP_11,
                &[("connection", "Upgrade"), ("upgrade", "WebSocket")][..],
                true,
            ),
        ];
        for (method, version, headers, expected) in cases {
            let mut req = request("/", version, headers);
            *req.method_mut() = method.clone();
            assert_eq!(
                Upgrade::of(&req, WEBSOCKET_ONLY).is_some(),
                expected,
                "{method} {version:?} {headers:?}"
            );
        }
    }

    #[test]
    fn a_route_may_allow_other_protocols_but_never_h2c() {
        let request = |protocol: &str| {
            request(
                "/",
                Version::HTTP_11,
                &[("connection", "upgrade"), ("upgrade", protocol)],
            )
        };
        let allowed: &[&str] = &["websocket", "echo"];
        assert!(Upgrade::of(&request("Echo"), allowed).is_some());
        assert!(Upgrade::of(&request("echo, websocket"), allowed).is_some());
        assert!(Upgrade::of(&request("echo"), WEBSOCKET_ONLY).is_none());
        assert!(Upgrade::of(&request("h2c"), &["h2c"]).is_none());
        assert!(Upgrade::of(&request("echo, h2c"), &["echo", "h2c"]).is_none());
    }

    #[test]
    fn a_101_keeps_its_upgrade_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade, x-internal"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert("x-internal", HeaderValue::from_static("1"));
        headers.insert(
            "sec-websocket-accept",
            HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        switched_from_upstream(&mut headers);
        assert_eq!(values(&headers, "connection"), ["upgrade"]);
        assert_eq!(values(&headers, "upgrade"), ["websocket"]);
        assert!(headers.get("x-internal").is_none());
        assert!(headers.get("sec-websocket-accept").is_some());
    }

    #[test]
    fn trailers_are_asked_for_by_te_trailers_only() {
        let cases = [
            ("trailers", true),
            ("gzip, Trailers", true),
            ("trailers;q=0.5", true),
            ("gzip", false),
            ("x-trailers", false),
        ];
        for (te, expected) in cases {
            let req = request("/", Version::HTTP_2, &[("te", te)]);
            assert_eq!(accepts_trailers(&req), expected, "{te}");
        }
        assert!(!accepts_trailers(&request("/", Version::HTTP_11, &[])));
    }

    #[test]
    fn an_http2_request_has_authority_scheme_and_te_trailers() {
        let mut req = request(
            "/pkg.Service/Call?x=1",
            Version::HTTP_11,
            &[("host", "api.example.com:8443"), ("te", "trailers")],
        );
        to_upstream(&mut req, &cx(), None, None);
        assert_eq!(values(req.headers(), "te"), ["trailers"]);
        to_http2(&mut req, true);
        assert_eq!(
            req.uri(),
            "https://api.example.com:8443/pkg.Service/Call?x=1"
        );
        assert_eq!(req.version(), Version::HTTP_2);
        assert!(req.headers().get("host").is_none());
        assert_eq!(values(req.headers(), "te"), ["trailers"]);
        assert_eq!(
            values(req.headers(), "x-forwarded-host"),
            ["api.example.com:8443"]
        );

        // Without `Host` the request stays relative; HTTP/2 then sends `http` and no authority.
        let mut req = request("/a", Version::HTTP_10, &[]);
        to_upstream(&mut req, &cx(), None, None);
        to_http2(&mut req, false);
        assert_eq!(req.uri(), "/a");
        assert!(req.headers().get("te").is_none());
    }
}
