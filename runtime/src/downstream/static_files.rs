//! `serve dir "public"`: files from a folder, as a front door serves assets without waking the
//! application. `GET` and `HEAD`; `ETag` and `Last-Modified` with conditional requests (304);
//! single byte ranges (206, 416; `If-Range` honoured); content types by extension;
//! `index.html` for folders (a folder asked without its trailing slash is redirected to it);
//! no listing. Nothing outside the folder is reachable: request paths are already normalised
//! (no `..`), decoded segments may not hold `/` or NUL, dot files (`.git`, `.env`) are hidden,
//! and a symbolic link that leads outside the folder is refused.

use std::{
    io,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use http::{
    header::{
        ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
        IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, LOCATION, RANGE,
    },
    HeaderMap, HeaderValue, Method, StatusCode,
};

use crate::{respond, Body, Request, Response};

/// A `serve dir` route.
#[derive(Debug)]
pub struct StaticSpec {
    /// The folder; a relative path is relative to the run-time root.
    pub root: &'static str,
    /// The route's path prefix, removed from request paths before they are looked up
    /// (`path /assets` + `/assets/app.js` → `ROOT/app.js`); `""` when the route has none.
    pub strip: &'static str,
}

/// Serves one folder.
#[derive(Debug)]
pub struct StaticDir {
    spec: &'static StaticSpec,
    /// The folder with symbolic links resolved, or `None` when it does not exist (every
    /// request is then 404, as nginx does with a missing root).
    root: Option<PathBuf>,
}

const INDEX: &str = "index.html";
const GET_HEAD: HeaderValue = HeaderValue::from_static("GET, HEAD");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");

impl StaticDir {
    pub fn new(spec: &'static StaticSpec) -> StaticDir {
        let root = match std::fs::canonicalize(crate::root::resolve(spec.root)) {
            Ok(root) => Some(root),
            Err(error) => {
                tracing::warn!(folder = spec.root, %error, "cannot serve files: every request gets 404");
                None
            }
        };
        StaticDir { spec, root }
    }

    /// Answers `req` from the folder.
    pub async fn serve(&self, req: &Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = respond(405, "405 Method Not Allowed\n");
            response.headers_mut().insert(ALLOW, GET_HEAD);
            return response;
        }
        let path = req.uri().path();
        let Some((file, folder_without_slash)) = self.locate(path).await else {
            return crate::not_found();
        };
        if folder_without_slash {
            let mut location = String::with_capacity(path.len() + 1);
            location.push_str(path);
            location.push('/');
            if let Some(query) = req.uri().query() {
                location.push('?');
                location.push_str(query);
            }
            let mut response = Response::new(Body::default());
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(location) = HeaderValue::try_from(location) {
                response.headers_mut().insert(LOCATION, location);
            }
            return response;
        }
        match self.answer(req, &file).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "cannot read a file to serve");
                crate::not_found()
            }
        }
    }

    /// The file a request path names, and whether it is a folder asked without its slash.
    async fn locate(&self, path: &str) -> Option<(PathBuf, bool)> {
        let root = self.root.as_ref()?;
        let rest = path.strip_prefix(self.spec.strip)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let mut file = root.clone();
        for segment in rest.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .ok()?;
            if decoded.starts_with('.') || decoded.contains(['/', '\\', '\0']) {
                return None;
            }
            file.push(&*decoded);
        }
        let file = tokio::fs::canonicalize(&file).await.ok()?;
        if !file.starts_with(root) {
            return None;
        }
        let metadata = tokio::fs::metadata(&file).await.ok()?;
        if metadata.is_dir() {
            if !path.ends_with('/') {
                return Some((file, true));
            }
            let index = file.join(INDEX);
            return tokio::fs::metadata(&index)
                .await
                .ok()
                .filter(|m| m.is_file())
                .map(|_| (index, false));
        }
        metadata.is_file().then_some((file, false))
    }

    async fn answer(&self, req: &Request, path: &Path) -> io::Result<Response> {
        let file = tokio::fs::File::open(path).await?;
        let metadata = file.metadata().await?;
        let length = metadata.len();
        let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
        let etag = etag(length, modified);
        let last_modified = httpdate::fmt_http_date(modified);
        let headers = req.headers();

        let mut response = if not_modified(headers, &etag, modified) {
            let mut response = Response::new(Body::default());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let range = range(headers, &etag, modified, length);
            let head = req.method() == Method::HEAD;
            match range {
                Range::Full => {
                    let body = if head {
                        Body::default()
                    } else {
                        Body::file(file, length)
                    };
                    let mut response = Response::new(body);
                    response
                        .headers_mut()
                        .insert(CONTENT_LENGTH, HeaderValue::from(length));
                    response
                }
                Range::Part { start, end } => {
                    let count = end - start + 1;
                    let body = if head {
                        Body::default()
                    } else {
                        let mut file = file;
                        tokio::io::AsyncSeekExt::seek(&mut file, io::SeekFrom::Start(start))
                            .await?;
                        Body::file(file, count)
                    };
                    let mut response = Response::new(body);
                    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                    let headers = response.headers_mut();
                    headers.insert(CONTENT_LENGTH, HeaderValue::from(count));
                    let range = format!("bytes {start}-{end}/{length}");
                    if let Ok(range) = HeaderValue::try_from(range) {
                        headers.insert(CONTENT_RANGE, range);
                    }
                    response
                }
                Range::Unsatisfiable => {
                    let mut response = respond(416, "416 Range Not Satisfiable\n");
                    if let Ok(range) = HeaderValue::try_from(format!("bytes */{length}")) {
                        response.headers_mut().insert(CONTENT_RANGE, range);
                    }
                    return Ok(response);
                }
            }
        };
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::try_from(etag) {
            headers.insert(ETAG, etag);
        }
        if let Ok(modified) = HeaderValue::try_from(last_modified) {
            headers.insert(LAST_MODIFIED, modified);
        }
        headers.insert(ACCEPT_RANGES, BYTES);
        if response.status() != StatusCode::NOT_MODIFIED {
            let content_type = content_type(path);
            if let Ok(content_type) = HeaderValue::try_from(content_type) {
                response.headers_mut().insert(CONTENT_TYPE, content_type);
            }
        }
        Ok(response)
    }
}

/// A strong validator from the file's length and modification time, as nginx makes one.
fn etag(length: u64, modified: SystemTime) -> String {
    let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "\"{:x}-{:x}{:08x}\"",
        length,
        since.as_secs(),
        since.subsec_nanos()
    )
}

/// `If-None-Match` (any listed tag, weak comparison, or `*`), else `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| whole_seconds(modified) <= since)
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs())
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    Full,
    /// Inclusive byte positions.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// The one byte range asked for, if it applies: `bytes=a-b`, `bytes=a-`, `bytes=-n`. Several
/// ranges, another unit, a malformed header or an `If-Range` that no longer matches give the
/// whole file (RFC 9110 lets a server ignore `Range`).
fn range(headers: &HeaderMap, etag: &str, modified: SystemTime, length: u64) -> Range {
    let Some(spec) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return Range::Full;
    };
    if let Some(condition) = headers.get(IF_RANGE).and_then(|v| v.to_str().ok()) {
        let still = if condition.starts_with('"') {
            condition == etag
        } else {
            httpdate::parse_http_date(condition).is_ok_and(|date| whole_seconds(modified) <= date)
        };
        if !still {
            return Range::Full;
        }
    }
    let Some(spec) = spec.strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (false, _) => first.parse::<u64>().ok().map(|start| {
            let end = if last.is_empty() {
                Some(u64::MAX)
            } else {
                last.parse::<u64>().ok()
            };
            (start, end)
        }),
        (true, false) => last
            .parse::<u64>()
            .ok()
            .map(|suffix| (length.saturating_sub(suffix), Some(u64::MAX))),
        (true, true) => None,
    };
    match parsed {
        Some((start, Some(end))) if start <= end => {
            if start >= length || (first.is_empty() && last == "0") {
                Range::Unsatisfiable
            } else {
                Range::Part {
                    start,
                    end: end.min(length - 1),
                }
            }
        }
        _ => Range::Full,
    }
}

/// The content type by extension; text types in UTF-8.
fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json"
        );
    if text && mime.get_param("charset").is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn byte_ranges_are_read_as_rfc_9110_says() {
        let t = UNIX_EPOCH;
        let r = |spec: &'static str| range(&headers(&[("range", spec)]), "\"x\"", t, 1000);
        assert_eq!(r("bytes=0-99"), Range::Part { start: 0, end: 99 });
        assert_eq!(
            r("bytes=900-"),
            Range::Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            r("bytes=-100"),
            Range::Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            r("bytes=990-5000"),
            Range::Part {
                start: 990,
                end: 999
            }
        );
        assert_eq!(r("bytes=1000-"), Range::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Range::Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6"), Range::Full);
        assert_eq!(r("items=0-1"), Range::Full);
        assert_eq!(r("bytes=5-1"), Range::Full);
        let stale = headers(&[("range", "bytes=0-1"), ("if-range", "\"old\"")]);
        assert_eq!(range(&stale, "\"x\"", t, 1000), Range::Full);
    }

    #[test]
    fn conditional_requests_compare_tags_then_dates() {
        let modified = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500);
        let tag = etag(10, modified);
        let same = Box::leak(format!("W/{tag}").into_boxed_str());
        assert!(not_modified(
            &headers(&[("if-none-match", same)]),
            &tag,
            modified
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"other\"")]),
            &tag,
            modified
        ));
        let date = Box::leak(httpdate::fmt_http_date(modified).into_boxed_str());
        assert!(not_modified(
            &headers(&[("if-modified-since", date)]),
            &tag,
            modified
        ));
    }

    #[test]
    fn content_types_come_from_extensions() {
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.js")).split(';').next(),
            Some("text/javascript")
        );
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(
            content_type(Path::new("a.unknownext")),
            "application/octet-stream"
        );
    }

    #[tokio::test]
    async fn paths_never_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("public");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::write(root.join("docs/index.html"), "docs").unwrap();
        std::fs::write(root.join("app.js"), "js").unwrap();
        std::fs::write(root.join(".env"), "secret").unwrap();
        std::fs::write(dir.path().join("outside.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("link.txt")).unwrap();
        let spec: &'static StaticSpec = Box::leak(Box::new(StaticSpec {
            root: Box::leak(root.display().to_string().into_boxed_str()),
            strip: "/assets",
        }));
        let served = StaticDir::new(spec);
        let found = |path: &'static str| {
            let served = &served;
            async move {
                served
                    .locate(path)
                    .await
                    .map(|(file, redirect)| (file.file_name().unwrap().to_owned(), redirect))
            }
        };
        assert_eq!(found("/assets/app.js").await.unwrap().0, "app.js");
        assert_eq!(found("/assets/docs/").await.unwrap().0, "index.html");
        assert!(
            found("/assets/docs").await.unwrap().1,
            "a folder without its slash"
        );
        assert!(found("/assets/.env").await.is_none());
        assert!(found("/assets/link.txt").await.is_none());
        assert!(found("/assets/%2e%2e%2foutside.txt").await.is_none());
        assert!(found("/assetsx/app.js").await.is_none());
        assert!(found("/other/app.js").await.is_none());
    }
}
