//! The access log: one line per request, JSON or the combined format, to stdout or a file.
//!
//! Lines are formatted and written by a thread of their own, fed through a bounded channel:
//! a request only moves its record into the channel, never waits for the disk, and never wakes
//! the writer, which writes what has arrived every 100 ms in one write. When the
//! writer falls behind and the channel is full, or the records waiting hold more than
//! [`MAX_QUEUED_BYTES`], the record is dropped and counted (`edge_access_log_dropped_total`).
//! SIGUSR1 reopens the file (after logrotate moved it).

use std::{
    fmt,
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError},
        Arc,
    },
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use http::{
    header::{REFERER, USER_AGENT},
    HeaderValue, Method, Version,
};
use serde::Serialize;

use crate::{address::Upstream, Cx, Request};

/// Records waiting for the writer; past this, records are dropped.
const CAPACITY: usize = 64 * 1024;

/// Bytes the records waiting for the writer may hold (their texts and a fixed part each); past
/// this, records are dropped, so clients sending long targets and headers cannot grow the
/// queue past it.
const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;

/// How often the writer writes what has arrived (nginx's `flush=`, Envoy's file flush
/// interval): lines reach the file at most this late.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// How the access log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLogSpec {
    pub format: LogFormat,
    /// A file appended to (a relative path from the run-time root); `None` writes to stdout.
    pub path: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line.
    Json,
    /// Apache/nginx combined, followed by duration, request id, route, upstream and its status.
    Combined,
}

impl Record {
    /// What the record holds in memory, roughly: its texts and a fixed part.
    pub(crate) fn weight(&self) -> usize {
        let text = |value: &Option<HeaderValue>| value.as_ref().map_or(0, HeaderValue::len);
        std::mem::size_of::<Pending>()
            + self.host.len()
            + self.target.len()
            + text(&self.request_id)
            + text(&self.referer)
            + text(&self.user_agent)
    }
}

/// What is known of a request once its answer has been sent.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) time: SystemTime,
    pub(crate) client: IpAddr,
    pub(crate) method: Method,
    pub(crate) host: Box<str>,
    /// Path and query.
    pub(crate) target: Box<str>,
    pub(crate) version: Version,
    pub(crate) status: u16,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) duration: Duration,
    pub(crate) listener: &'static str,
    pub(crate) route: Option<&'static str>,
    pub(crate) upstream: Option<(Upstream, Option<u16>)>,
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) referer: Option<HeaderValue>,
    pub(crate) user_agent: Option<HeaderValue>,
}

enum Message {
    Line(Box<Pending>),
    Reopen,
}

/// The request side of the access log.
pub(crate) struct AccessLog {
    sender: SyncSender<Message>,
    dropped: AtomicU64,
    /// Bytes held by the records in the channel ([`Record::weight`]).
    queued: Arc<AtomicUsize>,
}

impl AccessLog {
    /// Opens the destination and starts the writer thread.
    pub(crate) fn start(spec: AccessLogSpec) -> io::Result<AccessLog> {
        let out = Output::open(spec.path)?;
        let (sender, receiver) = mpsc::sync_channel(CAPACITY);
        let queued = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&queued);
        std::thread::Builder::new()
            .name("edge-access-log".to_owned())
            .spawn(move || write_lines(receiver, out, spec.format, &written))?;
        Ok(AccessLog {
            sender,
            dropped: AtomicU64::new(0),
            queued,
        })
    }

    /// Hands a finished record to the writer; never blocks.
    pub(crate) fn log(&self, entry: Box<Pending>) {
        let weight = entry.record().weight();
        if self.queued.fetch_add(weight, Ordering::Relaxed) + weight > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(weight, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.sender.try_send(Message::Line(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(weight, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Asks the writer to reopen its file.
    pub(crate) fn reopen(&self) {
        // A full channel retries on the next signal; the writer is busy writing anyway.
        let _ = self.sender.try_send(Message::Reopen);
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

enum Output {
    Stdout(BufWriter<io::Stdout>),
    File(PathBuf, BufWriter<File>),
}

impl Output {
    fn open(path: Option<&'static str>) -> io::Result<Output> {
        Ok(match path {
            None => Output::Stdout(BufWriter::new(io::stdout())),
            Some(path) => {
                let path = crate::root::resolve(path);
                let file = append(&path).map_err(|error| {
                    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
                })?;
                Output::File(path, BufWriter::new(file))
            }
        })
    }

    /// Opens the file again at its path (after logrotate moved it); stdout stays.
    fn reopen(&mut self) {
        if let Output::File(path, out) = self {
            if let Err(error) = out.flush() {
                tracing::warn!(%error, "cannot flush the access log");
            }
            match append(path) {
                Ok(file) => *out = BufWriter::new(file),
                Err(error) => {
                    let path = path.display();
                    tracing::warn!(%path, %error, "cannot reopen the access log; keeping the old file");
                }
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(bytes),
            Output::File(_, out) => out.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File(_, out) => out.flush(),
        }
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread: every `FLUSH_EVERY`, formats and writes what has arrived, in one write.
/// It polls rather than waiting on the channel, so a request's send never has a sleeping
/// receiver to wake: no system call on the request path (waking it per line cost two `futex`
/// calls per request, and one `write` per line).
fn write_lines(
    receiver: Receiver<Message>,
    mut out: Output,
    format: LogFormat,
    queued: &AtomicUsize,
) {
    let mut line = Vec::with_capacity(512);
    loop {
        let mut wrote = false;
        loop {
            let message = match receiver.try_recv() {
                Ok(message) => message,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    flush(&mut out);
                    return;
                }
            };
            match message {
                Message::Line(entry) => {
                    let record = entry.record();
                    queued.fetch_sub(record.weight(), Ordering::Relaxed);
                    line.clear();
                    match format {
                        LogFormat::Json => json(record, &mut line),
                        LogFormat::Combined => combined(record, &mut line),
                    }
                    line.push(b'\n');
                    if let Err(error) = out.write_all(&line) {
                        tracing::warn!(%error, "cannot write the access log");
                    }
                    wrote = true;
                }
                Message::Reopen => out.reopen(),
            }
        }
        if wrote {
            flush(&mut out);
        }
        std::thread::sleep(FLUSH_EVERY);
    }
}

fn flush(out: &mut Output) {
    if let Err(error) = out.flush() {
        tracing::warn!(%error, "cannot flush the access log");
    }
}

fn header_text(value: Option<&HeaderValue>) -> &str {
    value.and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A JSON line's fields, serialized straight into the line (no intermediate `Value`).
#[derive(Serialize)]
struct JsonLine<'a> {
    time: Shown<humantime::Rfc3339Timestamp>,
    client: Shown<IpAddr>,
    listener: &'a str,
    method: &'a str,
    host: &'a str,
    path: &'a str,
    protocol: &'a str,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    duration_ms: f64,
    route: Option<&'a str>,
    upstream: Option<Shown<Upstream>>,
    upstream_status: Option<u16>,
    request_id: &'a str,
    user_agent: &'a str,
}

/// A value serialized as the string its `Display` writes, without a `String` in between.
struct Shown<T>(T);

impl<T: fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

fn json(record: &Record, line: &mut Vec<u8>) {
    let fields = JsonLine {
        time: Shown(humantime::format_rfc3339_millis(record.time)),
        client: Shown(record.client.to_canonical()),
        listener: record.listener,
        method: record.method.as_str(),
        host: &record.host,
        path: &record.target,
        protocol: protocol(record.version),
        status: record.status,
        bytes_in: record.bytes_in,
        bytes_out: record.bytes_out,
        duration_ms: record.duration.as_secs_f64() * 1000.0,
        route: record.route,
        upstream: record.upstream.map(|(server, _)| Shown(server)),
        upstream_status: record.upstream.and_then(|(_, status)| status),
        request_id: header_text(record.request_id.as_ref()),
        user_agent: header_text(record.user_agent.as_ref()),
    };
    serde_json::to_writer(line, &fields).expect("a line is written into memory");
}

/// `HTTP/1.1`, as the request line writes the version.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `CLIENT - - [TIME] "METHOD TARGET PROTOCOL" STATUS BYTES "REFERER" "USER-AGENT"`, then
/// duration in seconds, request id, route, upstream and upstream status (`-` when none).
fn combined(record: &Record, line: &mut Vec<u8>) {
    // Writing into a `Vec` cannot fail.
    let _ = write!(
        line,
        "{} - - [{}] \"{} ",
        record.client.to_canonical(),
        ClfTime(record.time),
        record.method
    );
    quoted_text(line, &record.target);
    let _ = write!(
        line,
        " {}\" {} {} \"",
        protocol(record.version),
        record.status,
        record.bytes_out
    );
    quoted_text(line, header_text(record.referer.as_ref()));
    line.extend_from_slice(b"\" \"");
    quoted_text(line, header_text(record.user_agent.as_ref()));
    let _ = write!(line, "\" {:.3} \"", record.duration.as_secs_f64());
    quoted_text(line, header_text(record.request_id.as_ref()));
    let _ = write!(line, "\" {} ", record.route.unwrap_or("-"));
    match record.upstream {
        Some((server, Some(status))) => write!(line, "{server} {status}"),
        Some((server, None)) => write!(line, "{server} -"),
        None => write!(line, "- -"),
    }
    .expect("a line is written into memory");
}

/// `text` inside double quotes: `\` and `"` escaped, `-` when empty.
fn quoted_text(line: &mut Vec<u8>, text: &str) {
    if text.is_empty() {
        line.push(b'-');
        return;
    }
    for &byte in text.as_bytes() {
        if byte == b'\\' || byte == b'"' {
            line.push(b'\\');
        }
        line.push(byte);
    }
}

/// `27/Nov/2026:23:00:00 +0000`, the common log format's time, in UTC.
struct ClfTime(SystemTime);

impl fmt::Display for ClfTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // `2026-11-27T23:00:00Z`, written where no allocation is needed.
        let mut rfc = [0u8; 20];
        let written = write!(
            &mut rfc[..],
            "{}",
            humantime::format_rfc3339_seconds(self.0)
        );
        let text = std::str::from_utf8(&rfc).unwrap_or_default();
        if written.is_err() || text.len() != 20 {
            return f.write_str("01/Jan/1970:00:00:00 +0000");
        }
        let month = text[5..7]
            .parse::<usize>()
            .ok()
            .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
            .unwrap_or(&"Jan");
        write!(
            f,
            "{}/{month}/{}:{} +0000",
            &text[8..10],
            &text[0..4],
            &text[11..19]
        )
    }
}

/// A request's access-log record while its answer is on the way.
pub(crate) struct Pending {
    record: Record,
    started: Instant,
    bytes_in: Arc<AtomicU64>,
}

impl Pending {
    /// Starts the record of `req` (already admitted, with its id set); counts its body's bytes.
    pub(crate) fn start(
        req: &mut Request,
        cx: &Cx,
        started: (Instant, SystemTime),
        request_id: Option<http::HeaderValue>,
    ) -> Box<Pending> {
        let bytes_in = Arc::new(AtomicU64::new(0));
        req.body_mut().count_into(Arc::clone(&bytes_in));
        let headers = req.headers();
        Box::new(Pending {
            record: Record {
                time: started.1,
                client: cx.client().ip(),
                method: req.method().clone(),
                host: cx.host().into(),
                target: req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .into(),
                version: req.version(),
                status: 0,
                bytes_in: 0,
                bytes_out: 0,
                duration: std::time::Duration::ZERO,
                listener: cx.listener(),
                route: None,
                upstream: None,
                request_id,
                // Copied: a value parsed by hyper shares the connection's whole read buffer,
                // which a record waiting in the log's queue would otherwise keep alive.
                referer: headers.get(REFERER).map(owned),
                user_agent: headers.get(USER_AGENT).map(owned),
            },
            started: started.0,
            bytes_in,
        })
    }

    /// A record for a request refused before it reached the gateway.
    pub(crate) fn refused(
        client: IpAddr,
        listener: &'static str,
        started: (Instant, SystemTime),
    ) -> Box<Pending> {
        Box::new(Pending {
            record: Record {
                time: started.1,
                client,
                method: http::Method::GET,
                host: "".into(),
                target: "-".into(),
                version: http::Version::HTTP_11,
                status: 0,
                bytes_in: 0,
                bytes_out: 0,
                duration: std::time::Duration::ZERO,
                listener,
                route: None,
                upstream: None,
                request_id: None,
                referer: None,
                user_agent: None,
            },
            started: started.0,
            bytes_in: Arc::new(AtomicU64::new(0)),
        })
    }

    pub(crate) fn record(&self) -> &Record {
        &self.record
    }

    /// Counts `bytes` more of the answer as sent.
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.record.bytes_out += bytes as u64;
    }

    /// Completes the record once the answer is done: the time taken, the request body's bytes.
    pub(crate) fn complete(&mut self) {
        self.record.duration = self.started.elapsed();
        self.record.bytes_in = self.bytes_in.load(Ordering::Relaxed);
    }

    /// A record already complete (for tests of the writer).
    #[cfg(test)]
    pub(crate) fn finished(record: Record) -> Box<Pending> {
        Box::new(Pending {
            record,
            started: Instant::now(),
            bytes_in: Arc::new(AtomicU64::new(0)),
        })
    }

    /// What the gateway did: the answer's status, the route and the server it reached.
    pub(crate) fn answered(&mut self, status: u16, cx: Option<&Cx>, route: Option<&'static str>) {
        self.record.status = status;
        self.record.route = route;
        self.record.upstream = cx.and_then(Cx::upstream);
        if let Some(target) = cx.and_then(Cx::logged_target) {
            self.record.target = target;
        }
    }
}

/// `value` in memory of its own.
fn owned(value: &http::HeaderValue) -> http::HeaderValue {
    let mut copy = http::HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value.as_bytes()))
        .unwrap_or_else(|_| http::HeaderValue::from_static(""));
    copy.set_sensitive(value.is_sensitive());
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn record() -> Record {
        Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_820_400),
            client: "127.0.0.1".parse().unwrap(),
            method: Method::GET,
            host: "api.example.com".into(),
            target: "/users/1?x=\"y\"".into(),
            version: Version::HTTP_11,
            status: 200,
            bytes_in: 0,
            bytes_out: 42,
            duration: Duration::from_millis(12),
            listener: "api",
            route: Some("users"),
            upstream: Some((
                Upstream::Socket(SocketAddr::from(([127, 0, 0, 1], 9101))),
                Some(200),
            )),
            request_id: Some(HeaderValue::from_static("abc")),
            referer: None,
            user_agent: Some(HeaderValue::from_static("curl/8")),
        }
    }

    #[test]
    fn json_lines_carry_every_field() {
        let mut line = Vec::new();
        json(&record(), &mut line);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["time"], "2026-11-27T23:00:00.000Z");
        assert_eq!(value["path"], "/users/1?x=\"y\"");
        assert_eq!(value["status"], 200);
        assert_eq!(value["route"], "users");
        assert_eq!(value["upstream"], "127.0.0.1:9101");
        assert_eq!(value["upstream_status"], 200);
        assert_eq!(value["request_id"], "abc");
        assert_eq!(value["bytes_out"], 42);
        assert_eq!(value["protocol"], "HTTP/1.1");
        assert_eq!(value["client"], "127.0.0.1");
        assert_eq!(value["duration_ms"], 12.0);
        assert_eq!(value["user_agent"], "curl/8");
    }

    #[test]
    fn combined_lines_start_like_apache_and_nginx() {
        let mut line = Vec::new();
        combined(&record(), &mut line);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "127.0.0.1 - - [27/Nov/2026:23:00:00 +0000] \"GET /users/1?x=\\\"y\\\" HTTP/1.1\" 200 42 \"-\" \"curl/8\" 0.012 \"abc\" users 127.0.0.1:9101 200"
        );
    }

    /// A log writing to `access.log` in a new temporary folder (kept while the folder lives).
    fn file_log(format: LogFormat) -> (tempfile::TempDir, &'static str, AccessLog) {
        let dir = tempfile::tempdir().unwrap();
        let path: &'static str = Box::leak(
            dir.path()
                .join("access.log")
                .display()
                .to_string()
                .into_boxed_str(),
        );
        let log = AccessLog::start(AccessLogSpec {
            format,
            path: Some(path),
        })
        .unwrap();
        (dir, path, log)
    }

    /// Records holding long targets fill the queue's byte budget long before its count: past
    /// it they are dropped and counted, and the budget comes back as the writer drains.
    #[test]
    fn the_queue_is_bounded_in_bytes() {
        let (_dir, _, log) = file_log(LogFormat::Combined);
        let long = "/".repeat(1024 * 1024);
        for _ in 0..64 {
            let mut record = record();
            record.target = long.as_str().into();
            log.log(Pending::finished(record));
        }
        assert!(log.dropped() > 0, "64 MiB of records were all queued");
        assert!(log.queued.load(Ordering::Relaxed) <= MAX_QUEUED_BYTES);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log.queued.load(Ordering::Relaxed) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the queue never drained"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_file_log_gets_every_line_and_reopens() {
        let (dir, path, log) = file_log(LogFormat::Json);
        log.log(Pending::finished(record()));
        // Moved away as logrotate does; the next line goes to a new file after SIGUSR1.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(path).map_or(0, |t| t.lines().count()) < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the first line never arrived"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::rename(path, dir.path().join("access.log.1")).unwrap();
        log.reopen();
        log.log(Pending::finished(record()));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(path).map_or(0, |t| t.lines().count()) < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the line never arrived"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let old = std::fs::read_to_string(dir.path().join("access.log.1")).unwrap();
        assert_eq!(old.lines().count(), 1);
        assert_eq!(log.dropped(), 0);
    }
}
