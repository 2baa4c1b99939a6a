//! One sampled request's spans as they happen (for tracing export, `observe::trace`): the request's own (the server span), one per
//! policy request step and one per attempt on a server, kept as plain values (ids, offsets
//! from the request's start, static names) and turned into OpenTelemetry span records only by
//! the exporter's thread.
//!
//! A request's steps run one after another, so a recording needs no more than a lock that is
//! never contended: it is taken once when a step starts and once when it ends. An attempt on a
//! server made while a policy runs (an `ext_auth` check) is that policy's child; any other is
//! the request's.

use std::{
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderValue, Method, Version};
use smallvec::SmallVec;

use crate::address::Upstream;

/// The spans of one sampled request.
pub(crate) struct Recording {
    pub(crate) trace_id: [u8; 16],
    /// The request's span.
    pub(crate) span_id: u64,
    /// The client's span, when the client sent a `traceparent`.
    pub(crate) remote_parent: Option<u64>,
    pub(crate) start_time: SystemTime,
    started: Instant,
    pub(crate) request: RequestFacts,
    /// Set when the answer's head is known.
    pub(crate) answer: Answer,
    /// Set when the answer's body has been sent (or dropped).
    pub(crate) duration: Duration,
    steps: Mutex<Steps>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("span_id", &format_args!("{:016x}", self.span_id))
            .finish_non_exhaustive()
    }
}

/// What the request's span says of the request.
pub(crate) struct RequestFacts {
    pub(crate) method: Method,
    /// Without the query, which may hold secrets.
    pub(crate) path: Box<str>,
    pub(crate) host: Box<str>,
    pub(crate) client: IpAddr,
    pub(crate) tls: bool,
    pub(crate) version: Version,
    pub(crate) listener: &'static str,
}

/// What the request's span says of the answer.
#[derive(Default)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) route: Option<&'static str>,
}

/// The steps of a request: one at a time runs (an attempt may run within a policy's step).
#[derive(Default)]
struct Steps {
    /// The policy whose request step is running, if any: the parent of attempts made meanwhile.
    open_policy: Option<Open>,
    open_attempt: Option<Open>,
    done: SmallVec<[Step; 4]>,
}

/// A finished step: a child span of the request's, or of one of its policies'.
pub(crate) struct Step {
    pub(crate) span_id: u64,
    pub(crate) parent: u64,
    /// From the request's start.
    pub(crate) start: Duration,
    pub(crate) end: Duration,
    pub(crate) what: What,
}

pub(crate) enum What {
    /// A policy's request step; `refused` is the status of its answer when it answered in the
    /// route's place.
    Policy {
        name: &'static str,
        kind: &'static str,
        refused: Option<u16>,
    },
    /// One attempt on one server.
    Attempt {
        pool: &'static str,
        server: Upstream,
        /// Attempts before this one.
        resends: u32,
        outcome: Outcome,
    },
}

/// What one attempt gave.
pub(crate) enum Outcome {
    /// The server's status.
    Answered(u16),
    /// Why no answer came (a low-cardinality name: `connect_timeout`, `tls`...).
    Failed(&'static str),
}

/// A step being timed.
struct Open {
    span_id: u64,
    parent: u64,
    at: Instant,
}

impl Recording {
    /// The recording of a request of the trace `trace_id`, whose span is `span_id`.
    pub(crate) fn new(
        trace_id: [u8; 16],
        span_id: u64,
        remote_parent: Option<u64>,
        started: (Instant, SystemTime),
        request: RequestFacts,
    ) -> Recording {
        Recording {
            trace_id,
            span_id,
            remote_parent,
            start_time: started.1,
            started: started.0,
            request,
            answer: Answer::default(),
            duration: Duration::ZERO,
            steps: Mutex::new(Steps::default()),
        }
    }

    /// A policy's request step starts.
    pub(crate) fn policy_started(&self) {
        let open = Open {
            span_id: span_id(),
            parent: self.span_id,
            at: Instant::now(),
        };
        self.steps().open_policy = Some(open);
    }

    /// The policy's request step that started last has ended.
    pub(crate) fn policy_ended(
        &self,
        name: &'static str,
        kind: &'static str,
        refused: Option<u16>,
    ) {
        let mut steps = self.steps();
        if let Some(open) = steps.open_policy.take() {
            let what = What::Policy {
                name,
                kind,
                refused,
            };
            let step = self.step(&open, what);
            steps.done.push(step);
        }
    }

    /// An attempt on a server starts: the `traceparent` the server gets, which names the
    /// attempt's span as its parent.
    pub(crate) fn attempt_started(&self) -> HeaderValue {
        let mut steps = self.steps();
        let parent = steps
            .open_policy
            .as_ref()
            .map_or(self.span_id, |p| p.span_id);
        let open = Open {
            span_id: span_id(),
            parent,
            at: Instant::now(),
        };
        let header = traceparent(&self.trace_id, open.span_id);
        steps.open_attempt = Some(open);
        header
    }

    /// The attempt that started last has ended.
    pub(crate) fn attempt_ended(
        &self,
        pool: &'static str,
        server: Upstream,
        resends: u32,
        outcome: Outcome,
    ) {
        let mut steps = self.steps();
        if let Some(open) = steps.open_attempt.take() {
            let what = What::Attempt {
                pool,
                server,
                resends,
                outcome,
            };
            let step = self.step(&open, what);
            steps.done.push(step);
        }
    }

    /// The request has its answer's head: `status`, from `route`.
    pub(crate) fn answered(
        mut self: Box<Self>,
        status: u16,
        route: Option<&'static str>,
    ) -> Box<Self> {
        self.answer = Answer { status, route };
        self
    }

    /// The request's answer has been sent, or dropped.
    pub(crate) fn ended(&mut self) {
        self.duration = self.started.elapsed();
    }

    /// The finished steps, in the order they ended.
    pub(crate) fn take_steps(&mut self) -> SmallVec<[Step; 4]> {
        std::mem::take(
            &mut self
                .steps
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .done,
        )
    }

    /// The spans recorded: the request's and its steps'.
    pub(crate) fn spans(&mut self) -> u64 {
        let steps = self.steps.get_mut().unwrap_or_else(PoisonError::into_inner);
        1 + steps.done.len() as u64
    }

    /// What the recording holds in memory, roughly.
    pub(crate) fn weight(&self) -> usize {
        std::mem::size_of::<Recording>() + self.request.path.len() + self.request.host.len()
    }

    fn step(&self, open: &Open, what: What) -> Step {
        Step {
            span_id: open.span_id,
            parent: open.parent,
            start: open.at.saturating_duration_since(self.started),
            end: self.started.elapsed(),
            what,
        }
    }

    fn steps(&self) -> std::sync::MutexGuard<'_, Steps> {
        self.steps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new span id: random, never zero (the invalid id).
pub(crate) fn span_id() -> u64 {
    loop {
        let id = crate::rand::next();
        if id != 0 {
            return id;
        }
    }
}

/// `00-TRACE-SPAN-01`.
pub(crate) fn traceparent(trace_id: &[u8; 16], span_id: u64) -> HeaderValue {
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01";
    hex(trace_id, &mut text[3..35]);
    hex(&span_id.to_be_bytes(), &mut text[36..52]);
    HeaderValue::from_bytes(&text).expect("hex digits and dashes are a valid header value")
}

/// The lower-case hex digits of `bytes` into `out` (twice as long).
fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> Recording {
        let request = RequestFacts {
            method: Method::GET,
            path: "/users".into(),
            host: "example.com".into(),
            client: IpAddr::from([127, 0, 0, 1]),
            tls: false,
            version: Version::HTTP_11,
            listener: "web",
        };
        let started = (Instant::now(), SystemTime::now());
        Recording::new([0xab; 16], 7, None, started, request)
    }

    #[test]
    fn an_attempt_during_a_policy_is_its_child_and_others_are_the_requests() {
        let mut recording = recording();
        recording.policy_started();
        let header = recording.attempt_started();
        let server = Upstream::Socket(([127, 0, 0, 1], 9000).into());
        recording.attempt_ended("auth", server, 0, Outcome::Answered(200));
        recording.policy_ended("ext", "ext_auth", None);
        recording.attempt_started();
        recording.attempt_ended("app", server, 0, Outcome::Failed("connect"));
        let steps = recording.take_steps();
        assert_eq!(steps.len(), 3);
        let policy_id = steps[1].span_id;
        assert_eq!(
            steps[0].parent, policy_id,
            "the check is the policy's child"
        );
        assert_eq!(steps[1].parent, 7);
        assert_eq!(steps[2].parent, 7, "the forward is the request's child");
        assert!(steps[0].start <= steps[0].end && steps[0].end <= steps[1].end);
        let header = header.to_str().unwrap();
        assert_eq!(&header[3..35], "ab".repeat(16));
        assert_eq!(&header[36..52], format!("{:016x}", steps[0].span_id));
        assert!(header.ends_with("-01"));
    }
}
