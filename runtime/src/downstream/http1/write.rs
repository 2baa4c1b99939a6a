//! Answers written to clients: the status line and fields in one pass into a pooled buffer,
//! framing of Edge's own choosing (the body's length when known, else chunked for HTTP/1.1 or
//! the end of the connection for HTTP/1.0; never a field the gateway or a server set), the
//! `date` field, and `connection` when the connection's fate needs saying.

use std::{cell::RefCell, time::SystemTime};

use bytes::{BufMut, BytesMut};
use http::{header, response::Parts, StatusCode, Version};

/// What the request said that shapes its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    /// A `HEAD` request: the answer has no body, whatever its fields say.
    pub(crate) head: bool,
    pub(crate) version: Version,
    /// The client lets the connection carry another request.
    pub(crate) keep_alive: bool,
}

/// How an answer's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body is sent.
    None,
    Length(u64),
    Chunked,
    /// The body ends with the connection (an HTTP/1.0 client, a body of unknown length).
    UntilClose,
}

/// Appends the head of the answer `parts` to `out`, in one pass over its fields: its body
/// says whether it has `ended` already and its `exact` length if known; `close` when the
/// connection ends after it whatever the client asked. Returns the body's framing and whether
/// the connection stays open afterwards.
pub(crate) fn head(
    parts: &Parts,
    ended: bool,
    exact: Option<u64>,
    asked: Asked,
    close: bool,
    out: &mut BytesMut,
) -> (Framing, bool) {
    let status = parts.status;
    let no_content = status.is_informational() || status == StatusCode::NO_CONTENT;
    let bodiless = asked.head || no_content || status == StatusCode::NOT_MODIFIED;
    out.put_slice(match asked.version {
        Version::HTTP_10 => b"HTTP/1.0 ",
        _ => b"HTTP/1.1 ",
    });
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    // A bodiless answer keeps the length it describes (of the body a GET would get), except
    // where no body can ever be; any other's length is Edge's to write.
    let keep_length = bodiless && !no_content;
    let mut seen = Seen::default();
    for (name, value) in &parts.headers {
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::CONTENT_LENGTH {
            seen.length(value.as_bytes());
            if !keep_length {
                continue;
            }
        } else if name == header::CONNECTION {
            seen.connection(value.as_bytes());
        } else if name == header::DATE {
            seen.date = true;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    let declared = seen.length.and_then(Result::ok);
    let framing = match (bodiless, ended, exact, declared) {
        (true, ..) => Framing::None,
        (false, true, _, _) => Framing::Length(0),
        (false, false, Some(length), _) | (false, false, None, Some(length)) => {
            Framing::Length(length)
        }
        (false, false, None, None) if asked.version == Version::HTTP_11 => Framing::Chunked,
        (false, false, None, None) => Framing::UntilClose,
    };
    let keep_alive = asked.keep_alive && !close && !seen.close && framing != Framing::UntilClose;
    match framing {
        Framing::Length(length) => put_length(length, out),
        Framing::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None if asked.head && seen.length.is_none() => {
            if let Some(length) = exact.filter(|&length| length > 0) {
                put_length(length, out);
            }
        }
        Framing::None | Framing::UntilClose => {}
    }
    if !keep_alive && !seen.close && asked.version == Version::HTTP_11 {
        out.put_slice(b"connection: close\r\n");
    } else if keep_alive && asked.version == Version::HTTP_10 && !seen.keep_alive {
        out.put_slice(b"connection: keep-alive\r\n");
    }
    if !seen.date {
        out.put_slice(b"date: ");
        put_date(out);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    (framing, keep_alive)
}

/// What the answer's own fields said, as they were written.
#[derive(Default)]
struct Seen {
    /// Its `Content-Length`: `Err` when there are several or it is no number.
    length: Option<Result<u64, ()>>,
    /// `Connection: close`.
    close: bool,
    /// `Connection: keep-alive`.
    keep_alive: bool,
    date: bool,
}

impl Seen {
    fn length(&mut self, digits: &[u8]) {
        let length = match self.length {
            None => crate::http1::fields::parse_length(digits).ok_or(()),
            Some(_) => Err(()),
        };
        self.length = Some(length);
    }

    fn connection(&mut self, value: &[u8]) {
        for token in crate::http1::fields::tokens(value) {
            self.close |= token.eq_ignore_ascii_case(b"close");
            self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
}

fn put_length(length: u64, out: &mut BytesMut) {
    out.put_slice(b"content-length: ");
    out.put_slice(crate::http1::fields::decimal(length).as_bytes());
    out.put_slice(b"\r\n");
}

/// The refusal written for a head that could not be parsed: `status`, no body, and the
/// connection closed after it.
pub(crate) fn refusal(status: u16, out: &mut BytesMut) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\ncontent-length: 0\r\nconnection: close\r\ndate: ");
    put_date(out);
    out.put_slice(b"\r\n\r\n");
}

/// The go-ahead a client that sent `Expect: 100-continue` waits for.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An HTTP date, formatted once per second per worker thread.
struct CachedDate {
    second: u64,
    text: [u8; 29],
}

thread_local! {
    static DATE: RefCell<CachedDate> = const {
        RefCell::new(CachedDate {
            second: u64::MAX,
            text: [0; 29],
        })
    };
}

/// Appends the current date as `date` wants it (RFC 9110 §5.6.7).
fn put_date(out: &mut BytesMut) {
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DATE.with(|date| {
        let mut date = date.borrow_mut();
        if date.second != second {
            let text = httpdate::fmt_http_date(now);
            if let Ok(text) = <[u8; 29]>::try_from(text.as_bytes()) {
                date.text = text;
                date.second = second;
            }
        }
        out.put_slice(&date.text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASKED: Asked = Asked {
        head: false,
        version: Version::HTTP_11,
        keep_alive: true,
    };

    fn written(
        response: http::Response<()>,
        ended: bool,
        exact: Option<u64>,
        asked: Asked,
    ) -> (String, Framing, bool) {
        let (parts, ()) = response.into_parts();
        let mut out = BytesMut::new();
        let (framing, keep_alive) = head(&parts, ended, exact, asked, false, &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        let date = text.find("date: ").expect("a date");
        let text = format!("{}{}", &text[..date], &text[date + "date: ".len() + 31..]);
        (text, framing, keep_alive)
    }

    fn response(status: u16) -> http::response::Builder {
        http::Response::builder().status(status)
    }

    #[test]
    fn a_known_length_is_the_framing_and_the_fields_follow() {
        let answer = response(200)
            .header("content-type", "text/plain")
            .header("content-length", "999")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        let (text, framing, keep_alive) = written(answer, false, Some(5), ASKED);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n"
        );
        assert_eq!(framing, Framing::Length(5));
        assert!(keep_alive);
    }

    #[test]
    fn an_unknown_length_is_chunked_or_ends_the_connection() {
        let (text, framing, _) = written(response(200).body(()).unwrap(), false, None, ASKED);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!(framing, Framing::Chunked);
        let old = Asked {
            version: Version::HTTP_10,
            ..ASKED
        };
        let (text, framing, keep_alive) =
            written(response(200).body(()).unwrap(), false, None, old);
        assert_eq!(text, "HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!((framing, keep_alive), (Framing::UntilClose, false));
        let declared = response(200)
            .header("content-length", "7")
            .body(())
            .unwrap();
        assert_eq!(written(declared, false, None, ASKED).1, Framing::Length(7));
    }

    #[test]
    fn bodiless_answers_keep_or_drop_their_length() {
        let head = Asked {
            head: true,
            ..ASKED
        };
        let answer = response(200)
            .header("content-length", "1024")
            .body(())
            .unwrap();
        let (text, framing, _) = written(answer, true, Some(0), head);
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n");
        assert_eq!(framing, Framing::None);
        let (text, _, _) = written(response(404).body(()).unwrap(), false, Some(10), head);
        assert_eq!(text, "HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\n\r\n");
        let answer = response(204)
            .header("content-length", "3")
            .body(())
            .unwrap();
        assert_eq!(
            written(answer, true, Some(0), ASKED).0,
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
        let answer = response(304)
            .header("content-length", "3")
            .body(())
            .unwrap();
        assert_eq!(
            written(answer, true, Some(0), ASKED).0,
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 3\r\n\r\n"
        );
        assert_eq!(
            written(response(200).body(()).unwrap(), true, Some(0), ASKED).0,
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn the_connections_fate_is_said() {
        let answer = response(200)
            .header("connection", "close")
            .body(())
            .unwrap();
        let (text, _, keep_alive) = written(answer, true, Some(0), ASKED);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        );
        assert!(!keep_alive);
        let closing = Asked {
            keep_alive: false,
            ..ASKED
        };
        let (text, _, _) = written(response(200).body(()).unwrap(), true, Some(0), closing);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let old = Asked {
            version: Version::HTTP_10,
            ..ASKED
        };
        let (text, _, keep_alive) = written(response(200).body(()).unwrap(), true, Some(0), old);
        assert_eq!(
            text,
            "HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
        assert!(keep_alive);
    }

    #[test]
    fn a_refusal_closes() {
        let mut out = BytesMut::new();
        refusal(431, &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: "
        ));
        assert!(text.ends_with(" GMT\r\n\r\n"));
    }

    #[test]
    fn dates_are_http_dates() {
        let mut out = BytesMut::new();
        put_date(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
