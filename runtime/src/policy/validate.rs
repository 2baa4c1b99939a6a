//! `validate`: refuses malformed requests at the edge: wrong method (405), a required header
//! missing (400), an unexpected content type (415), a body over the size cap (413) or a JSON
//! body that does not parse or does not match a JSON Schema (400).
//!
//! Checks run in that order. Content types and the schema apply to requests that carry a
//! body: `POST`, `PUT` and `PATCH` always, any other method when it has a `Content-Type` or a
//! non-empty body; a `GET` without a body passes them untouched. A content type matches on
//! its media type (before any `;`), ignoring ASCII case. The body read for the schema (at most
//! `max_body`, 1 MiB when unset) is kept as the request's body, so the upstream gets the same
//! bytes. Answers say what is wrong in one short `text/plain` line: the first schema error
//! names the value's JSON pointer (`"/amount": "x" is not of type "number"`), cut to about
//! 200 bytes.

use std::fmt::{self, Write as _};

use bytes::Bytes;
use http::{
    header::{HeaderName, ALLOW, CONTENT_TYPE},
    HeaderValue, Method, StatusCode,
};
use http_body::Body as _;
use serde_json::Value;

use crate::{respond, respond::respond_text, BodyError, Cx, LoadError, Policy, Request, Response};

/// A `validate` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct ValidateSpec {
    pub name: &'static str,
    /// The methods allowed; empty: any.
    pub methods: &'static [Method],
    /// Headers every request must have.
    pub required_headers: &'static [HeaderName],
    /// Media types a body may have (`"application/json"`); empty: any.
    pub content_types: &'static [&'static str],
    /// The most bytes a body may have.
    pub max_body: Option<u64>,
    /// The absolute path of a JSON Schema file the body must match.
    pub json_schema: Option<&'static str>,
}

/// The `validate` policy.
pub struct Validate {
    spec: &'static ValidateSpec,
    /// `Allow` for a 405.
    allow: Option<HeaderValue>,
    /// The 400 body for each required header, in order.
    missing: Box<[Bytes]>,
    schema: Option<jsonschema::Validator>,
}

/// The body read for a schema when `max_body` is unset.
const DEFAULT_MAX_BODY: u64 = 1 << 20;

/// About how long a reason may be.
const MAX_REASON: usize = 200;

impl Validate {
    pub fn load(spec: &'static ValidateSpec) -> Result<Validate, LoadError> {
        let schema = spec
            .json_schema
            .map(|path| {
                load_schema(path).map_err(|reason| LoadError::Policy {
                    name: spec.name,
                    reason,
                })
            })
            .transpose()?;
        let allow = spec
            .methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Validate {
            spec,
            allow: HeaderValue::try_from(allow).ok(),
            missing: spec
                .required_headers
                .iter()
                .map(|name| Bytes::from(format!("400 Bad Request: missing header {name}\n")))
                .collect(),
            schema,
        })
    }

    /// The answer to a request whose method, headers or content type are refused.
    fn refuse_head(&self, req: &Request) -> Option<Response> {
        let spec = self.spec;
        if !spec.methods.is_empty() && !spec.methods.contains(req.method()) {
            let mut response = respond(405, "405 Method Not Allowed\n");
            if let Some(allow) = &self.allow {
                response.headers_mut().insert(ALLOW, allow.clone());
            }
            return Some(response);
        }
        for (name, body) in spec.required_headers.iter().zip(&self.missing) {
            if !req.headers().contains_key(name) {
                return Some(respond_text(StatusCode::BAD_REQUEST, body.clone()));
            }
        }
        if !spec.content_types.is_empty() && carries_body(req) && !self.type_allowed(req) {
            return Some(respond(415, "415 Unsupported Media Type\n"));
        }
        None
    }

    fn type_allowed(&self, req: &Request) -> bool {
        let Some(media_type) = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
        else {
            return false;
        };
        let media_type = media_type.trim();
        self.spec
            .content_types
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(media_type))
    }

    /// Reads the body and checks it against `schema`; the answer when it does not match.
    async fn refuse_body(
        &self,
        req: &mut Request,
        schema: &jsonschema::Validator,
    ) -> Option<Response> {
        let max = self.spec.max_body.unwrap_or(DEFAULT_MAX_BODY);
        let bytes = match req.body_mut().read_to_end(max).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => return Some(too_large()),
            Err(BodyError::TimedOut) => return Some(respond(408, "408 Request Timeout\n")),
            Err(error @ BodyError::Client(_)) => {
                tracing::debug!(policy = self.spec.name, %error, "request body not read");
                return Some(respond(
                    400,
                    "400 Bad Request: the request body could not be read\n",
                ));
            }
        };
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(error) => return Some(bad_request(format_args!("invalid JSON: {error}"))),
        };
        let error = schema.validate(&value).err()?;
        let path = error.instance_path().as_str();
        Some(if path.is_empty() {
            bad_request(format_args!("{error}"))
        } else {
            bad_request(format_args!("\"{path}\": {error}"))
        })
    }
}

impl Policy for Validate {
    type Ticket = ();

    async fn request(&self, req: &mut Request, _: &Cx) -> Result<(), Response> {
        if let Some(answer) = self.refuse_head(req) {
            return Err(answer);
        }
        if let Some(max) = self.spec.max_body {
            if req.body_mut().limit(max).is_err() {
                return Err(too_large());
            }
        }
        match &self.schema {
            Some(schema) if carries_body(req) => match self.refuse_body(req, schema).await {
                Some(answer) => Err(answer),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// Reads and compiles a JSON Schema file (a relative path from the run-time root); the error
/// is a reason naming the file.
fn load_schema(path: &str) -> Result<jsonschema::Validator, String> {
    let path = crate::root::resolve(path);
    let text = std::fs::read(&path);
    let path = path.display();
    let text = text.map_err(|e| format!("cannot read JSON schema file {path}: {e}"))?;
    let schema: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("JSON schema file {path} is not valid JSON: {e}"))?;
    jsonschema::validator_for(&schema)
        .map_err(|e| format!("JSON schema file {path} is not a valid schema: {e}"))
}

/// Whether the request has (or, by its method, should have) a body to check.
fn carries_body(req: &Request) -> bool {
    matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
        || req.headers().contains_key(CONTENT_TYPE)
        || !req.body().is_end_stream()
}

fn too_large() -> Response {
    respond(413, "413 Content Too Large\n")
}

/// A 400 whose body is `reason`, cut to about [`MAX_REASON`] bytes.
fn bad_request(reason: fmt::Arguments<'_>) -> Response {
    const PREFIX: &str = "400 Bad Request: ";
    let mut text = Capped {
        text: String::with_capacity(PREFIX.len() + MAX_REASON + 4),
        room: MAX_REASON,
    };
    text.text.push_str(PREFIX);
    // Formatting stops with an error once the room is used up; what was written stays.
    let _ = text.write_fmt(reason);
    text.text.push('\n');
    respond_text(StatusCode::BAD_REQUEST, Bytes::from(text.text))
}

/// A writer that keeps the first `room` bytes (on a character boundary), then an ellipsis.
struct Capped {
    text: String,
    room: usize,
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.room {
            self.text.push_str(s);
            self.room -= s.len();
            return Ok(());
        }
        let mut cut = self.room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.text.push('…');
        self.room = 0;
        Err(fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{host_name::HostName, RequestBody};
    use http_body_util::BodyExt;
    use std::io::Write as _;

    const SCHEMA: &str = r#"{
        "type": "object",
        "required": ["amount"],
        "properties": {"amount": {"type": "number"}, "note": {"type": "string"}}
    }"#;

    static REQUEST_ID: [HeaderName; 1] = [HeaderName::from_static("x-request-id")];

    fn cx() -> Cx {
        Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        )
    }

    /// A policy with every check, its schema in a file of its own.
    fn policy(max_body: Option<u64>) -> Validate {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(SCHEMA.as_bytes()).unwrap();
        let path = file.into_temp_path().keep().unwrap();
        let path: &'static str = Box::leak(path.to_str().unwrap().into());
        Validate::load(Box::leak(Box::new(ValidateSpec {
            name: "payment",
            methods: &[Method::POST, Method::PUT],
            required_headers: &REQUEST_ID,
            content_types: &["application/json"],
            max_body,
            json_schema: Some(path),
        })))
        .unwrap()
    }

    fn post(body: &'static str) -> http::request::Builder {
        http::Request::post("/pay")
            .header("x-request-id", "r1")
            .header("content-type", "Application/JSON; charset=utf-8")
            .header("content-length", body.len())
    }

    fn with_body(builder: http::request::Builder, body: &'static str) -> Request {
        builder
            .body(RequestBody::full(Bytes::from_static(body.as_bytes())))
            .unwrap()
    }

    async fn answer(policy: &Validate, req: &mut Request) -> (StatusCode, String) {
        let response = policy.request(req, &cx()).await.unwrap_err();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_valid_request_passes_with_its_body_intact() {
        let policy = policy(Some(1000));
        let body = r#"{"amount": 12.5, "note": "lunch"}"#;
        let mut req = with_body(post(body), body);
        policy.request(&mut req, &cx()).await.unwrap();
        let forwarded = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(forwarded, body);
    }

    #[tokio::test]
    async fn another_method_is_405_with_allow() {
        let policy = policy(None);
        let mut req = with_body(http::Request::get("/pay").header("x-request-id", "r1"), "");
        let response = policy.request(&mut req, &cx()).await.unwrap_err();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "POST, PUT");
    }

    #[tokio::test]
    async fn a_missing_header_is_400_naming_it() {
        let policy = policy(None);
        let mut req = with_body(http::Request::post("/pay"), "{}");
        assert_eq!(
            answer(&policy, &mut req).await,
            (
                StatusCode::BAD_REQUEST,
                "400 Bad Request: missing header x-request-id\n".into()
            )
        );
    }

    #[tokio::test]
    async fn another_content_type_is_415() {
        let policy = policy(None);
        let mut req = with_body(
            http::Request::post("/pay")
                .header("x-request-id", "r1")
                .header("content-type", "application/x-www-form-urlencoded"),
            "a=1",
        );
        assert_eq!(
            answer(&policy, &mut req).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        // A POST says what it sends.
        let mut req = with_body(http::Request::post("/pay").header("x-request-id", "r1"), "");
        assert_eq!(
            answer(&policy, &mut req).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[tokio::test]
    async fn a_body_declared_too_long_is_413() {
        let policy = policy(Some(10));
        let body = r#"{"amount": 12.5}"#;
        let mut req = with_body(post(body), body);
        assert_eq!(
            answer(&policy, &mut req).await,
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "413 Content Too Large\n".into()
            )
        );
    }

    #[tokio::test]
    async fn bad_json_is_400_with_a_reason() {
        let policy = policy(None);
        let mut req = with_body(post("{\"amount\": "), "{\"amount\": ");
        assert_eq!(
            answer(&policy, &mut req).await,
            (
                StatusCode::BAD_REQUEST,
                "400 Bad Request: invalid JSON: EOF while parsing a value at line 1 column 11\n"
                    .into()
            )
        );
    }

    #[tokio::test]
    async fn a_schema_mismatch_is_400_with_the_first_error() {
        let policy = policy(None);
        let body = r#"{"amount": "x"}"#;
        let mut req = with_body(post(body), body);
        assert_eq!(
            answer(&policy, &mut req).await,
            (
                StatusCode::BAD_REQUEST,
                "400 Bad Request: \"/amount\": \"x\" is not of type \"number\"\n".into()
            )
        );
        let mut req = with_body(post("[]"), "[]");
        assert_eq!(
            answer(&policy, &mut req).await.1,
            "400 Bad Request: [] is not of type \"object\"\n"
        );
    }

    #[tokio::test]
    async fn long_reasons_are_cut() {
        let policy = policy(None);
        let body: &'static str =
            Box::leak(format!(r#"{{"amount": "{}"}}"#, "é".repeat(500)).into_boxed_str());
        let mut req = with_body(post(body), body);
        let (status, text) = answer(&policy, &mut req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.len() < 240, "{} bytes", text.len());
        assert!(text.starts_with("400 Bad Request: \"/amount\": \"éé"));
        assert!(text.ends_with("é…\n"));
    }

    #[tokio::test]
    async fn a_get_without_a_body_skips_type_and_schema() {
        let policy = Validate::load(Box::leak(Box::new(ValidateSpec {
            name: "any",
            methods: &[],
            required_headers: &[],
            ..*policy(None).spec
        })))
        .unwrap();
        let mut req = with_body(http::Request::get("/pay"), "");
        policy.request(&mut req, &cx()).await.unwrap();
        // With a body, it is checked.
        let mut req = with_body(http::Request::get("/pay"), "nope");
        assert_eq!(
            answer(&policy, &mut req).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn an_unreadable_or_invalid_schema_is_a_load_error() {
        let missing = Validate::load(Box::leak(Box::new(ValidateSpec {
            name: "v",
            methods: &[],
            required_headers: &[],
            content_types: &[],
            max_body: None,
            json_schema: Some("/nonexistent/schema.json"),
        })));
        let error = missing.err().unwrap().to_string();
        assert!(
            error
                .starts_with("policy `v`: cannot read JSON schema file /nonexistent/schema.json: "),
            "{error}"
        );
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(br#"{"type": 12}"#).unwrap();
        let path: &'static str = Box::leak(file.path().to_str().unwrap().into());
        let invalid = Validate::load(Box::leak(Box::new(ValidateSpec {
            name: "v",
            methods: &[],
            required_headers: &[],
            content_types: &[],
            max_body: None,
            json_schema: Some(path),
        })));
        let error = invalid.err().unwrap().to_string();
        assert!(error.contains("is not a valid schema"), "{error}");
    }

    /// Serves one raw HTTP/1.1 request through hyper, so the policy sees a streamed client
    /// body; answers with the policy's refusal, or 200 with what reading the rest gave.
    async fn through_hyper(policy: &'static Validate, raw: &'static [u8]) -> String {
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let service = service_fn(
            move |req: http::Request<hyper::body::Incoming>| async move {
                let body_timeout = std::time::Duration::from_secs(5);
                let mut req = req.map(|body| RequestBody::client(body, body_timeout, false));
                let response = match policy.request(&mut req, &cx()).await {
                    Err(response) => response,
                    Ok(()) => match req.body_mut().read_to_end(u64::MAX).await {
                        Ok(_) => respond(200, "read\n"),
                        Err(BodyError::TooLarge) => respond(200, "too large\n"),
                        Err(BodyError::Client(_)) => respond(200, "client error\n"),
                        Err(BodyError::TimedOut) => respond(200, "timed out\n"),
                    },
                };
                Ok::<_, std::convert::Infallible>(response)
            },
        );
        let connection = tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), service),
        );
        client.write_all(raw).await.unwrap();
        let mut answer = vec![0; 4096];
        let n = client.read(&mut answer).await.unwrap();
        drop(client);
        let _ = connection.await;
        String::from_utf8_lossy(&answer[..n]).into_owned()
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_cap_is_413() {
        let policy: &'static Validate = Box::leak(Box::new(policy(Some(10))));
        let answer = through_hyper(
            policy,
            b"POST /pay HTTP/1.1\r\nhost: a\r\nx-request-id: r1\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\n\r\n8\r\n{\"amount\r\n8\r\n\": 12345\r\n1\r\n}\r\n0\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    }

    #[tokio::test]
    async fn without_a_schema_the_cap_ends_a_long_stream() {
        let policy: &'static Validate = Box::leak(Box::new(
            Validate::load(Box::leak(Box::new(ValidateSpec {
                name: "cap",
                methods: &[],
                required_headers: &[],
                content_types: &[],
                max_body: Some(10),
                json_schema: None,
            })))
            .unwrap(),
        ));
        let answer = through_hyper(
            policy,
            b"POST /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n\
              8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n",
        )
        .await;
        assert!(answer.ends_with("\r\n\r\ntoo large\n"), "{answer}");
    }
}
