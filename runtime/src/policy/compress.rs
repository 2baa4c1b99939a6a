//! `compress`: response compression negotiated from `Accept-Encoding` (q-values honoured, the
//! config's order breaking ties), for compressible media types above a minimum size, streamed
//! frame by frame (a response is never buffered whole). `Vary: Accept-Encoding` is added to
//! every answer whose type could be compressed, so caches keep the variants apart. Never
//! compressed: answers already encoded, ranges (206), answers without a body (HEAD, 204, 304),
//! and answers marked `Cache-Control: no-transform`.

use std::{
    future::{ready, Future},
    io::{self, Write},
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{
    header::{
        ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
        CONTENT_TYPE, VARY,
    },
    HeaderMap, HeaderValue, Method, StatusCode,
};
use http_body::Frame;

use crate::{Body, Cx, Policy, Request, Response};

/// A compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
    Zstd,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }
}

/// A `compress` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct CompressSpec {
    pub name: &'static str,
    /// The codings offered, the preferred first (it wins when the client's q-values tie).
    pub algorithms: &'static [Coding],
    /// Answers declaring a shorter length are sent as they are.
    pub min_size: u64,
    /// Media types compressed: `text/html`, or a whole family as `text/*`.
    pub types: &'static [&'static str],
}

/// The `compress` policy.
pub struct Compress {
    spec: &'static CompressSpec,
}

impl Compress {
    pub fn new(spec: &'static CompressSpec) -> Compress {
        Compress { spec }
    }

    /// The coding to use for a client sending these `Accept-Encoding` values: the highest
    /// q-value among the offered codings (`*` standing for those not named), ties broken by
    /// the config's order; `None` when identity is the best or only choice.
    fn negotiate(&self, headers: &HeaderMap) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for &coding in self.spec.algorithms {
            let q = quality(headers, coding.token());
            if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((coding, q));
            }
        }
        best.map(|(coding, _)| coding)
    }

    fn compressible(&self, content_type: &str) -> bool {
        // Compared without case and without allocating: patterns are lower-case already.
        let media = content_type.split(';').next().unwrap_or("").trim();
        self.spec
            .types
            .iter()
            .any(|pattern| match pattern.strip_suffix("/*") {
                Some(family) => media
                    .split_once('/')
                    .is_some_and(|(kind, _)| kind.eq_ignore_ascii_case(family)),
                None => media.eq_ignore_ascii_case(pattern),
            })
    }
}

/// The q-value (0 to 1000) the client gives `token`: its own entry, else `*`'s, else 0.
fn quality(headers: &HeaderMap, token: &str) -> u16 {
    let mut star = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, parse_q);
            if coding.eq_ignore_ascii_case(token) {
                return q;
            }
            if coding == "*" {
                star = Some(q);
            }
        }
    }
    star.unwrap_or(0)
}

/// `0.8` → 800; malformed → 0 (the coding is then not used).
fn parse_q(text: &str) -> u16 {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return 0,
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    // `0.8` → 800: each digit weighs a tenth of the one before.
    let fraction = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, weight)| u16::from(digit - b'0') * weight)
        .sum::<u16>();
    (whole + fraction).min(1000)
}

/// What the request step learnt: the coding the client accepts best, and whether an answer
/// may have a body at all.
pub struct Negotiated {
    coding: Option<Coding>,
    head: bool,
}

const ACCEPT_ENCODING_VALUE: HeaderValue = HeaderValue::from_static("accept-encoding");

impl Policy for Compress {
    type Ticket = Negotiated;

    fn request(
        &self,
        req: &mut Request,
        _cx: &Cx,
    ) -> impl Future<Output = Result<Negotiated, Response>> + Send {
        ready(Ok(Negotiated {
            coding: self.negotiate(req.headers()),
            head: req.method() == Method::HEAD,
        }))
    }

    fn response(&self, negotiated: Negotiated, resp: &mut Response) {
        let headers = resp.headers();
        let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
            return;
        };
        if !self.compressible(content_type) {
            return;
        }
        resp.headers_mut().append(VARY, ACCEPT_ENCODING_VALUE);
        let headers = resp.headers();
        let status = resp.status();
        // The declared length, or the body's own when it is known in full.
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| http_body::Body::size_hint(resp.body()).exact());
        let no_transform = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("no-transform"));
        let Some(coding) = negotiated.coding else {
            return;
        };
        if negotiated.head
            || !status.is_success()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::PARTIAL_CONTENT
            || headers.contains_key(CONTENT_ENCODING)
            || headers.contains_key(CONTENT_RANGE)
            || no_transform
            || declared.is_some_and(|length| length < self.spec.min_size)
        {
            return;
        }
        let headers = resp.headers_mut();
        headers.remove(CONTENT_LENGTH);
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
        let body = std::mem::take(resp.body_mut());
        *resp.body_mut() = Body::wrap(Compressed {
            inner: body,
            encoder: Some(Encoder::new(coding)),
            trailers: None,
        });
    }
}

/// An answer and its encoder; `encoder` is `None` once the stream has been finished.
#[derive(Debug)]
struct Compressed {
    inner: Body,
    encoder: Option<Encoder>,
    /// The inner body's trailers, sent after the last compressed bytes.
    trailers: Option<http::HeaderMap>,
}

impl http_body::Body for Compressed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(encoder) = &mut this.encoder else {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
            let written = match frame {
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => encoder.write(&data),
                    Err(frame) => {
                        this.trailers = frame.into_trailers().ok();
                        this.finish()
                    }
                },
                None => this.finish(),
            };
            match written {
                Ok(out) if out.is_empty() => {}
                Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                Err(error) => {
                    // Writing into memory fails only on an encoder fault: end the stream; the
                    // client sees a truncated encoding rather than a wrong one.
                    tracing::warn!(%error, "compression failed; answer cut short");
                    this.encoder = None;
                    this.trailers = None;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }
}

impl Compressed {
    /// Ends the encoding: the last compressed bytes.
    fn finish(&mut self) -> std::io::Result<Bytes> {
        self.encoder
            .take()
            .map_or(Ok(Bytes::new()), Encoder::finish)
    }
}

/// A streaming encoder writing into a buffer that is handed out after each input frame.
pub(crate) enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoder::Gzip(_) => "Encoder::Gzip",
            Encoder::Brotli(_) => "Encoder::Brotli",
            Encoder::Zstd(_) => "Encoder::Zstd",
        })
    }
}

/// Levels chosen for compressing on the fly: most of the size gain for a fraction of the CPU of
/// the maximum (nginx's default gzip level is 1; Cloudflare uses brotli 4 for dynamic content).
const GZIP_LEVEL: u32 = 5;
const BROTLI_QUALITY: u32 = 4;
const BROTLI_WINDOW: u32 = 22;
const ZSTD_LEVEL: i32 = 3;

impl Encoder {
    fn new(coding: Coding) -> Encoder {
        match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
            Coding::Zstd => match zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL) {
                Ok(encoder) => Encoder::Zstd(encoder),
                // zstd refuses only invalid levels; gzip is always possible.
                Err(_) => Encoder::new(Coding::Gzip),
            },
        }
    }

    /// Compresses `data`; returns what the encoder has produced so far (possibly nothing).
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(encoder) => {
                encoder.write_all(data)?;
                encoder.get_mut()
            }
            Encoder::Brotli(encoder) => {
                encoder.write_all(data)?;
                encoder.get_mut()
            }
            Encoder::Zstd(encoder) => {
                encoder.write_all(data)?;
                encoder.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Ends the stream; returns the rest of the output.
    pub(crate) fn finish(self) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(encoder) => encoder.finish()?,
            Encoder::Brotli(encoder) => encoder.into_inner(),
            Encoder::Zstd(encoder) => encoder.finish()?,
        };
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Read;

    static TYPES: [&str; 2] = ["text/*", "application/json"];
    static SPEC: CompressSpec = CompressSpec {
        name: "squeeze",
        algorithms: &[Coding::Gzip, Coding::Brotli, Coding::Zstd],
        min_size: 1024,
        types: &TYPES,
    };

    fn accepting(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn negotiation_follows_q_values_then_the_configured_order() {
        let policy = Compress::new(&SPEC);
        let pick = |value| policy.negotiate(&accepting(value));
        assert_eq!(pick("br"), Some(Coding::Brotli));
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Coding::Gzip));
        assert_eq!(pick("gzip;q=0.5, br;q=0.9"), Some(Coding::Brotli));
        assert_eq!(pick("gzip;q=0, br;q=0"), None);
        assert_eq!(pick("*"), Some(Coding::Gzip));
        assert_eq!(pick("*;q=0.1, zstd"), Some(Coding::Zstd));
        assert_eq!(pick("identity"), None);
        assert_eq!(policy.negotiate(&HeaderMap::new()), None);
    }

    fn response(content_type: &str, body: &'static str) -> Response {
        let mut resp = crate::respond(200, body);
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        resp
    }

    async fn decoded(resp: Response, coding: Coding) -> Vec<u8> {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .unwrap(),
            Coding::Brotli => brotli::Decompressor::new(&bytes[..], 4096)
                .read_to_end(&mut out)
                .unwrap(),
            Coding::Zstd => zstd::stream::read::Decoder::new(&bytes[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap(),
        };
        out
    }

    #[tokio::test]
    async fn compressible_answers_are_encoded_and_decode_to_the_original() {
        let policy = Compress::new(&SPEC);
        let text: &'static str = Box::leak("{\"user\": \"alice\"} ".repeat(500).into_boxed_str());
        for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
            let mut resp = response("application/json; charset=utf-8", text);
            let negotiated = Negotiated {
                coding: Some(coding),
                head: false,
            };
            policy.response(negotiated, &mut resp);
            assert_eq!(resp.headers()[CONTENT_ENCODING], coding.token());
            assert_eq!(resp.headers()[VARY], "accept-encoding");
            assert!(!resp.headers().contains_key(CONTENT_LENGTH));
            assert_eq!(decoded(resp, coding).await, text.as_bytes());
        }
    }

    #[test]
    fn small_binary_ranged_and_encoded_answers_are_left_alone() {
        let policy = Compress::new(&SPEC);
        let gzip = || Negotiated {
            coding: Some(Coding::Gzip),
            head: false,
        };
        let mut small = response("text/plain", "tiny");
        policy.response(gzip(), &mut small);
        assert!(!small.headers().contains_key(CONTENT_ENCODING));
        assert_eq!(small.headers()[VARY], "accept-encoding");

        let big: &'static str = Box::leak("x".repeat(4096).into_boxed_str());
        let mut image = response("image/png", big);
        policy.response(gzip(), &mut image);
        assert!(!image.headers().contains_key(CONTENT_ENCODING));
        assert!(!image.headers().contains_key(VARY));

        let mut ranged = response("text/plain", big);
        *ranged.status_mut() = StatusCode::PARTIAL_CONTENT;
        policy.response(gzip(), &mut ranged);
        assert!(!ranged.headers().contains_key(CONTENT_ENCODING));

        let mut encoded = response("text/plain", big);
        encoded
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        policy.response(gzip(), &mut encoded);
        assert_eq!(encoded.headers()[CONTENT_ENCODING], "br");

        let mut head = response("text/plain", big);
        let negotiated = Negotiated {
            coding: Some(Coding::Gzip),
            head: true,
        };
        policy.response(negotiated, &mut head);
        assert!(!head.headers().contains_key(CONTENT_ENCODING));
    }
}
