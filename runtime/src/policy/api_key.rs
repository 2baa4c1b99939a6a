//! The `api_key` policy: admits a request that presents one of the configured API keys, in a
//! header or a query parameter, records its consumer, and removes the key before the request
//! goes upstream.
//!
//! The keys file holds only SHA-256 hashes of the keys, one `CONSUMER sha256:HEX` per line;
//! a presented key is hashed and looked up, so the gateway never holds the keys themselves.

use std::future::Future;

use http::{uri::PathAndQuery, HeaderName, HeaderValue, Uri};
use sha2::{Digest, Sha256};

use super::{read_file, unauthorized, Caller, LoadError, Policy};
use crate::{Cx, Request, Response};

/// How an `api_key` policy finds and checks keys.
#[derive(Debug)]
pub struct ApiKeySpec {
    /// The policy's name in the `.edge` file.
    pub name: &'static str,
    /// Where the key is in a request.
    pub source: KeySource,
    /// The keys file, by absolute path: `CONSUMER sha256:HEX` lines, `#` comments.
    pub keys: &'static str,
    /// The request header set to the consumer's name towards the upstream (a client-sent copy
    /// is replaced).
    pub consumer_header: Option<HeaderName>,
}

/// Where an API key is in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A request header, e.g. `x-api-key`.
    Header(HeaderName),
    /// A query parameter, e.g. `api_key`; its value is percent-decoded.
    Query(&'static str),
}

/// An `api_key` policy, built from its [`ApiKeySpec`].
#[derive(Debug)]
pub struct ApiKey {
    spec: &'static ApiKeySpec,
    /// SHA-256 of each key, to its consumer.
    consumers: ahash::HashMap<[u8; 32], Consumer>,
}

#[derive(Debug)]
struct Consumer {
    name: Box<str>,
    /// The name as the consumer header's value.
    header: HeaderValue,
}

/// What a request presents: nothing, or the hash of a key and, for a query parameter, the
/// request's path and query without it.
enum Presented {
    Nothing,
    Key {
        hash: [u8; 32],
        stripped: Option<String>,
    },
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NoKey,
    UnknownKey,
    /// The request's URI without the key is not a URI.
    BadUri,
}

const CHALLENGE: HeaderValue = HeaderValue::from_static(r#"ApiKey realm="edge""#);

impl ApiKey {
    /// Reads the keys file; fails when it cannot be read or is not a key file (see
    /// [`edge_formats::api_keys`]).
    pub fn load(spec: &'static ApiKeySpec) -> Result<ApiKey, LoadError> {
        let text = read_file(spec.name, "keys", spec.keys)?;
        let consumers = consumers(text.as_bytes()).map_err(|reason| LoadError::Policy {
            name: spec.name,
            reason: format!("keys file {}: {reason}", spec.keys),
        })?;
        Ok(ApiKey { spec, consumers })
    }

    fn check(&self, req: &mut Request, cx: &Cx) -> Result<(), Refusal> {
        let Presented::Key { hash, stripped } = self.presented(req) else {
            return Err(Refusal::NoKey);
        };
        if let Some(rest) = &stripped {
            // The key never reaches the access log, valid or not.
            cx.log_target(rest);
        }
        let consumer = self.consumers.get(&hash).ok_or(Refusal::UnknownKey)?;
        match stripped {
            Some(rest) => *req.uri_mut() = without_key(req.uri(), rest).ok_or(Refusal::BadUri)?,
            None => {
                if let KeySource::Header(name) = &self.spec.source {
                    req.headers_mut().remove(name);
                }
            }
        }
        if let Some(name) = &self.spec.consumer_header {
            req.headers_mut()
                .insert(name.clone(), consumer.header.clone());
        }
        req.extensions_mut().insert(Caller {
            consumer: Some(consumer.name.clone()),
            claims: None,
        });
        Ok(())
    }

    /// Finds the key in `req`. An empty key counts as none.
    fn presented(&self, req: &Request) -> Presented {
        match &self.spec.source {
            KeySource::Header(name) => match req.headers().get(name) {
                Some(value) if !value.is_empty() => Presented::Key {
                    hash: Sha256::digest(value.as_bytes()).into(),
                    stripped: None,
                },
                _ => Presented::Nothing,
            },
            KeySource::Query(param) => from_query(req.uri(), param),
        }
    }
}

impl Policy for ApiKey {
    type Ticket = ();

    fn request(
        &self,
        req: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        std::future::ready(self.check(req, cx).map_err(|refusal| {
            tracing::debug!(policy = self.spec.name, ?refusal, "request refused");
            match refusal {
                Refusal::NoKey => unauthorized("401 Unauthorized: no API key\n", CHALLENGE),
                Refusal::UnknownKey => {
                    unauthorized("401 Unauthorized: invalid API key\n", CHALLENGE)
                }
                Refusal::BadUri => crate::respond::bad_request(),
            }
        }))
    }
}

/// The first `param` of the query (percent-decoded, then hashed) and the path and query
/// without any `param`, the other parameters kept in order.
fn from_query(uri: &Uri, param: &str) -> Presented {
    let Some(query) = uri.query() else {
        return Presented::Nothing;
    };
    let is_param = |pair: &&str| pair.split_once('=').map_or(*pair, |(name, _)| name) == param;
    let Some(value) = query
        .split('&')
        .find(is_param)
        .map(|pair| pair.split_once('=').map_or("", |(_, value)| value))
    else {
        return Presented::Nothing;
    };
    if value.is_empty() {
        return Presented::Nothing;
    }
    let path = uri.path();
    let mut rest = String::with_capacity(path.len() + query.len());
    rest.push_str(path);
    for pair in query.split('&').filter(|pair| !is_param(pair)) {
        rest.push(if rest.len() == path.len() { '?' } else { '&' });
        rest.push_str(pair);
    }
    Presented::Key {
        hash: percent_decoded_hash(value.as_bytes()),
        stripped: Some(rest),
    }
}

/// `uri` with `path_and_query` in place of its own.
fn without_key(uri: &Uri, path_and_query: String) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

/// SHA-256 of `text` percent-decoded (`+` stays `+`; a `%` not followed by two hex digits
/// stays as it is), without decoding into a buffer.
fn percent_decoded_hash(text: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut rest = text;
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        hasher.update(&rest[..at]);
        let escaped = rest.get(at + 1..at + 3).and_then(|hex| {
            let digit = |b: u8| char::from(b).to_digit(16);
            Some(digit(hex[0])? * 16 + digit(hex[1])?)
        });
        match escaped.and_then(|byte| u8::try_from(byte).ok()) {
            Some(byte) => {
                hasher.update([byte]);
                rest = &rest[at + 3..];
            }
            None => {
                hasher.update(b"%");
                rest = &rest[at + 1..];
            }
        }
    }
    hasher.update(rest);
    hasher.finalize().into()
}

/// The consumers of a keys file, by hash of key.
fn consumers(bytes: &[u8]) -> Result<ahash::HashMap<[u8; 32], Consumer>, String> {
    let file = edge_formats::api_keys::parse(bytes).map_err(|error| error.to_string())?;
    file.keys()
        .iter()
        .map(|key| {
            let header = HeaderValue::from_str(key.consumer()).map_err(|_| {
                format!(
                    "consumer `{}` cannot be sent as a header value",
                    key.consumer()
                )
            })?;
            let consumer = Consumer {
                name: key.consumer().into(),
                header,
            };
            Ok((*key.digest(), consumer))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bytes::Bytes;
    use http::{header::WWW_AUTHENTICATE, StatusCode};

    use super::*;
    use crate::{body::RequestBody, host_name::HostName};

    /// SHA-256 of `key`, as the keys file writes it.
    fn hashed(key: &str) -> String {
        Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn keys_file() -> String {
        format!(
            "# consumers\n\nmobile sha256:{}\n  partner   sha256:{}  \nmobile sha256:{}\n",
            hashed("k-mobile"),
            hashed("k-partner/+=").to_uppercase(),
            hashed("k-mobile-2"),
        )
    }

    fn file(content: &str) -> (tempfile::NamedTempFile, &'static str) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content.as_bytes()).unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        (file, Box::leak(path.into_boxed_str()))
    }

    fn load(source: KeySource, content: &str) -> Result<ApiKey, LoadError> {
        let (_file, path) = file(content);
        ApiKey::load(Box::leak(Box::new(ApiKeySpec {
            name: "keys",
            source,
            keys: path,
            consumer_header: Some(HeaderName::from_static("x-consumer")),
        })))
    }

    async fn check(policy: &ApiKey, req: &mut Request) -> Result<(), Response> {
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        );
        policy.request(req, &cx).await
    }

    fn request(uri: &str, key: Option<&str>) -> Request {
        let mut builder = http::Request::builder()
            .uri(uri)
            .header("x-consumer", "admin");
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        builder.body(RequestBody::full(Bytes::new())).unwrap()
    }

    /// Checks a 401 and its challenge; the length of its body.
    fn refusal(outcome: Result<(), Response>) -> u64 {
        use http_body::Body as _;
        let response = outcome.expect_err("the request should be refused");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"ApiKey realm="edge""#
        );
        response.body().size_hint().exact().unwrap()
    }

    #[tokio::test]
    async fn a_known_key_in_a_header_passes_and_is_removed() {
        let policy = load(
            KeySource::Header(HeaderName::from_static("x-api-key")),
            &keys_file(),
        )
        .unwrap();
        for (key, consumer) in [
            ("k-mobile", "mobile"),
            ("k-mobile-2", "mobile"),
            ("k-partner/+=", "partner"),
        ] {
            let mut req = request("/items?page=2", Some(key));
            check(&policy, &mut req).await.unwrap();
            assert!(req.headers().get("x-api-key").is_none());
            assert_eq!(req.headers()["x-consumer"], consumer);
            assert_eq!(req.headers().get_all("x-consumer").iter().count(), 1);
            assert_eq!(
                Caller::of(&req).unwrap().consumer.as_deref(),
                Some(consumer)
            );
            assert_eq!(req.uri(), "/items?page=2");
        }
    }

    #[tokio::test]
    async fn a_missing_or_unknown_key_is_refused() {
        let policy = load(
            KeySource::Header(HeaderName::from_static("x-api-key")),
            &keys_file(),
        )
        .unwrap();
        let mut req = request("/items", None);
        refusal(check(&policy, &mut req).await);
        let mut req = request("/items", Some(""));
        refusal(check(&policy, &mut req).await);
        let mut req = request("/items", Some("k-unknown"));
        refusal(check(&policy, &mut req).await);
        assert!(Caller::of(&req).is_none());
        assert_eq!(req.headers()["x-consumer"], "admin");
    }

    #[tokio::test]
    async fn the_answers_say_whether_a_key_was_there() {
        let policy = load(KeySource::Query("api_key"), &keys_file()).unwrap();
        let mut req = request("/items?page=2", None);
        let missing = refusal(check(&policy, &mut req).await);
        assert_eq!(missing, "401 Unauthorized: no API key\n".len() as u64);
        let mut req = request("/items?api_key=nope", None);
        let unknown = refusal(check(&policy, &mut req).await);
        assert_eq!(unknown, "401 Unauthorized: invalid API key\n".len() as u64);
    }

    #[tokio::test]
    async fn a_key_in_the_query_passes_and_only_it_is_removed() {
        let policy = load(KeySource::Query("api_key"), &keys_file()).unwrap();
        for (uri, forwarded) in [
            ("/items?a=1&api_key=k-mobile&b=2&c", "/items?a=1&b=2&c"),
            ("/items?api_key=k-mobile", "/items"),
            ("/items?api_key=k-mobile&api_key=other&x=", "/items?x="),
            (
                "/items?api_keys=1&api_key=k-partner%2F%2b%3D",
                "/items?api_keys=1",
            ),
            ("/items?api_key=k-partner/+%3d", "/items"),
            (
                "http://shop.example/items?q=a%20b&api_key=k-mobile",
                "http://shop.example/items?q=a%20b",
            ),
        ] {
            let mut req = request(uri, None);
            check(&policy, &mut req)
                .await
                .unwrap_or_else(|_| panic!("{uri} refused"));
            assert_eq!(req.uri(), forwarded);
            assert!(Caller::of(&req).is_some());
        }
        for uri in [
            "/items",
            "/items?api_key=",
            "/items?api_key",
            "/items?xapi_key=k-mobile",
        ] {
            let mut req = request(uri, None);
            refusal(check(&policy, &mut req).await);
            assert_eq!(req.uri(), uri);
        }
    }

    #[test]
    fn percent_decoding_hashes_the_decoded_key() {
        let digest = |text: &str| -> [u8; 32] { Sha256::digest(text.as_bytes()).into() };
        assert_eq!(percent_decoded_hash(b"a%2Fb%2fc"), digest("a/b/c"));
        assert_eq!(percent_decoded_hash(b"a+b"), digest("a+b"));
        assert_eq!(percent_decoded_hash(b"100%"), digest("100%"));
        assert_eq!(percent_decoded_hash(b"%zz%4"), digest("%zz%4"));
    }

    /// The file is read by `edge_formats::api_keys` (whose tests cover the format); a refusal
    /// names the file and the line.
    #[test]
    fn bad_lines_fail_to_load_with_their_number() {
        let source = || KeySource::Query("api_key");
        let good = format!("mobile sha256:{}\n", hashed("k"));
        for (content, expected) in [
            (
                format!("{good}partner {}\n", hashed("p")),
                "line 2 is not `CONSUMER sha256:HEX`",
            ),
            (
                format!("{good}partner sha256:{} extra\n", hashed("p")),
                "line 2 is not `CONSUMER sha256:HEX`",
            ),
            (
                format!("{good}# the same key\n{good}"),
                "line 3 repeats the key of line 1",
            ),
            ("# nothing yet\n".into(), "holds no key"),
        ] {
            let (_file, path) = file(&content);
            let error = ApiKey::load(Box::leak(Box::new(ApiKeySpec {
                name: "keys",
                source: source(),
                keys: path,
                consumer_header: None,
            })))
            .unwrap_err();
            let (policy, reason) = error.policy_reason();
            assert_eq!(policy, "keys");
            assert!(
                reason.starts_with(&format!("keys file {path}: ")),
                "{reason}"
            );
            assert!(reason.contains(expected), "{reason} / {expected}");
        }
        let error = ApiKey::load(Box::leak(Box::new(ApiKeySpec {
            name: "keys",
            source: source(),
            keys: "/nonexistent/keys",
            consumer_header: None,
        })))
        .unwrap_err();
        let (_, reason) = error.policy_reason();
        assert!(reason.starts_with("cannot read keys file /nonexistent/keys: "));
    }
}
