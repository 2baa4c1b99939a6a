//! Fetching a JWK set from an `https://` URL: one `GET` on a fresh connection (TCP, rustls
//! verified against the policy's CA bundle or Mozilla's roots, HTTP/1.1 by hyper's client
//! connection), each step under its own time limit; only a `200` whose body (at most
//! [`MAX_BODY`]) is a JWK set with a signing key for the allowed algorithms is taken. Its
//! `Cache-Control` says how long the set is good for ([`lifetime`]).

use std::{fmt, io, sync::Arc, time::Duration};

use bytes::Bytes;
use edge_formats::{jwks, public_key::Algorithms};
use http::{
    header::{ACCEPT, CACHE_CONTROL, CONNECTION, HOST, USER_AGENT},
    uri::{PathAndQuery, Scheme},
    HeaderMap, HeaderValue, Method, Request, StatusCode, Uri,
};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::{pki_types::ServerName, ClientConfig};
use tokio::{net::TcpStream, time::timeout};
use tokio_rustls::TlsConnector;

use super::keys::KeySet;
use crate::tls::{files, TlsErrorKind};

/// The largest JWK set taken.
pub(super) const MAX_BODY: usize = 1 << 20;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the answer (head and body) may take once the request is sent.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest time a fetched set is kept before it is fetched again (also for `no-store`
/// and `no-cache`).
pub(super) const MIN_LIFETIME: Duration = Duration::from_secs(60);
/// The longest.
pub(super) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long a set is kept when its answer says nothing (Envoy's `remote_jwks` default).
pub(super) const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// Where a policy's key set is, and the TLS client that fetches it.
pub(super) struct Endpoint {
    url: &'static str,
    host: String,
    port: u16,
    authority: HeaderValue,
    path: PathAndQuery,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    allowed: Algorithms,
}

/// Why an endpoint cannot be set up.
#[derive(Debug)]
pub(super) enum EndpointError {
    /// The URL is not `https://HOST[:PORT]/PATH`.
    Url(&'static str),
    /// The CA bundle cannot be used.
    Ca(TlsErrorKind),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Url(why) => write!(f, "jwks_url: {why}"),
            EndpointError::Ca(error) => write!(f, "jwks_ca: {error}"),
        }
    }
}

/// A set fetched, and how long it is good for.
#[derive(Debug)]
pub(super) struct Fresh {
    pub(super) keys: KeySet,
    pub(super) lifetime: Duration,
}

/// Why a fetch failed.
#[derive(Debug)]
pub(super) enum FetchError {
    Connect(io::Error),
    Handshake(io::Error),
    Http(hyper::Error),
    /// A step took longer than its limit.
    Timeout(&'static str),
    Status(StatusCode),
    /// The body is longer than [`MAX_BODY`], or broke off.
    Body(String),
    /// The body is not a JWK set with a signing key for the allowed algorithms.
    Keys(jwks::Error),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect(error) => write!(f, "cannot connect: {error}"),
            FetchError::Handshake(error) => write!(f, "TLS handshake failed: {error}"),
            FetchError::Http(error) => write!(f, "HTTP exchange failed: {error}"),
            FetchError::Timeout(step) => write!(f, "timed out during the {step}"),
            FetchError::Status(status) => write!(f, "answered {status}, not 200"),
            FetchError::Body(why) => write!(f, "cannot read the body: {why}"),
            FetchError::Keys(error) => write!(f, "not a usable JWK set: {error}"),
        }
    }
}

impl Endpoint {
    /// Reads `url` and the CA bundle `ca` (Mozilla's roots without one). Keys are taken for the
    /// `allowed` algorithms.
    pub(super) fn new(
        url: &'static str,
        ca: Option<&str>,
        allowed: Algorithms,
    ) -> Result<Endpoint, EndpointError> {
        let uri: Uri = url.parse().map_err(|_| EndpointError::Url("not a URL"))?;
        if uri.scheme() != Some(&Scheme::HTTPS) {
            return Err(EndpointError::Url("only https:// URLs are fetched"));
        }
        let authority = uri.authority().ok_or(EndpointError::Url("no host"))?;
        if authority.as_str().contains('@') {
            return Err(EndpointError::Url("a user name or password in the URL"));
        }
        let host = authority.host();
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = ServerName::try_from(bare.clone())
            .map_err(|_| EndpointError::Url("the host is neither a DNS name nor an IP address"))?;
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let roots = files::server_roots(ca).map_err(EndpointError::Ca)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the default provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Endpoint {
            url,
            host: bare,
            port: authority.port_u16().unwrap_or(443),
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|_| EndpointError::Url("the host is not a valid header value"))?,
            path,
            server_name,
            tls: TlsConnector::from(Arc::new(config)),
            allowed,
        })
    }

    /// The URL, as configured.
    pub(super) fn url(&self) -> &'static str {
        self.url
    }

    /// Fetches the set once.
    pub(super) async fn fetch(&self) -> Result<Fresh, FetchError> {
        let tcp = timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| FetchError::Timeout("connect"))?
        .map_err(FetchError::Connect)?;
        let tls = timeout(
            HANDSHAKE_TIMEOUT,
            self.tls.connect(self.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| FetchError::Timeout("TLS handshake"))?
        .map_err(FetchError::Handshake)?;
        let (headers, body) = timeout(ANSWER_TIMEOUT, self.exchange(tls))
            .await
            .map_err(|_| FetchError::Timeout("answer"))??;
        let keys = KeySet::jwks(&body, self.allowed).map_err(FetchError::Keys)?;
        Ok(Fresh {
            keys,
            lifetime: lifetime(&headers),
        })
    }

    /// Sends the `GET` on `stream` and reads a `200` answer's head and body, driving the
    /// connection meanwhile (it closes after the answer).
    async fn exchange(
        &self,
        stream: tokio_rustls::client::TlsStream<TcpStream>,
    ) -> Result<(HeaderMap, Bytes), FetchError> {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(FetchError::Http)?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.path.clone())
            .header(HOST, self.authority.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static("edge"))
            .header(CONNECTION, HeaderValue::from_static("close"))
            .body(Empty::<Bytes>::new())
            .expect("a path and header values already checked");
        let answer = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(FetchError::Http)?;
            if response.status() != StatusCode::OK {
                return Err(FetchError::Status(response.status()));
            }
            let (head, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|error| FetchError::Body(error.to_string()))?;
            Ok((head.headers, body.to_bytes()))
        };
        tokio::pin!(answer);
        tokio::select! {
            biased;
            answered = &mut answer => answered,
            ended = connection => match ended {
                Ok(()) => answer.await,
                Err(error) => Err(FetchError::Http(error)),
            },
        }
    }
}

/// How long a set is good for, by its answer's `Cache-Control`: `no-store` or `no-cache`
/// mean [`MIN_LIFETIME`]; `max-age=N` is N seconds, within [`MIN_LIFETIME`] and
/// [`MAX_LIFETIME`]; without either (or with a `max-age` that is not a number),
/// [`DEFAULT_LIFETIME`].
pub(super) fn lifetime(headers: &HeaderMap) -> Duration {
    let mut max_age = None;
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim);
    for directive in directives {
        let (name, value) = directive
            .split_once('=')
            .map_or((directive, None), |(name, value)| {
                (name.trim(), Some(value.trim().trim_matches('"')))
            });
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return MIN_LIFETIME;
        }
        if name.eq_ignore_ascii_case("max-age") {
            max_age = value.and_then(|seconds| seconds.parse::<u64>().ok());
        }
    }
    max_age.map_or(DEFAULT_LIFETIME, |seconds| {
        Duration::from_secs(seconds).clamp(MIN_LIFETIME, MAX_LIFETIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetime_of(values: &[&str]) -> Duration {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        }
        lifetime(&headers)
    }

    #[test]
    fn cache_control_sets_the_lifetime_within_bounds() {
        let seconds = Duration::from_secs;
        assert_eq!(lifetime_of(&[]), DEFAULT_LIFETIME);
        assert_eq!(lifetime_of(&["public, max-age=3600"]), seconds(3600));
        assert_eq!(lifetime_of(&["MAX-AGE = \"120\""]), seconds(120));
        assert_eq!(lifetime_of(&["max-age=5"]), MIN_LIFETIME);
        assert_eq!(lifetime_of(&["max-age=0"]), MIN_LIFETIME);
        assert_eq!(lifetime_of(&["max-age=31536000"]), MAX_LIFETIME);
        assert_eq!(
            lifetime_of(&["max-age=99999999999999999999999"]),
            DEFAULT_LIFETIME
        );
        assert_eq!(lifetime_of(&["max-age=soon"]), DEFAULT_LIFETIME);
        assert_eq!(lifetime_of(&["public"]), DEFAULT_LIFETIME);
        assert_eq!(lifetime_of(&["max-age=3600, no-cache"]), MIN_LIFETIME);
        assert_eq!(lifetime_of(&["max-age=3600", "No-Store"]), MIN_LIFETIME);
        assert_eq!(lifetime_of(&["private", "max-age=900"]), seconds(900));
    }

    #[test]
    fn only_https_urls_with_a_host_are_fetched() {
        let allowed = Algorithms::allowed(&[]);
        let error = |url: &'static str| {
            Endpoint::new(url, None, allowed)
                .err()
                .map(|error| error.to_string())
        };
        assert_eq!(
            error("http://auth.example.com/jwks.json").as_deref(),
            Some("jwks_url: only https:// URLs are fetched")
        );
        assert_eq!(error("not a url").as_deref(), Some("jwks_url: not a URL"));
        assert_eq!(
            error("https://user:pw@auth.example.com/").as_deref(),
            Some("jwks_url: a user name or password in the URL")
        );
        let endpoint = Endpoint::new("https://[::1]:8443/keys?v=2", None, allowed).unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 8443));
        assert_eq!(endpoint.authority, "[::1]:8443");
        assert_eq!(endpoint.path, "/keys?v=2");
        let endpoint = Endpoint::new("https://auth.example.com", None, allowed).unwrap();
        assert_eq!((endpoint.port, endpoint.path.as_str()), (443, "/"));
        assert!(matches!(
            Endpoint::new(
                "https://auth.example.com/",
                Some("/nonexistent/ca.pem"),
                allowed
            ),
            Err(EndpointError::Ca(_))
        ));
    }
}
