//! What headers say about caching, for a shared cache: `Cache-Control` directives of requests
//! and answers (RFC 9111 §5.2, with `stale-while-revalidate` and `stale-if-error` of RFC 5861),
//! an answer's freshness lifetime (`s-maxage`, then `max-age`, then `Expires` − `Date`) and its
//! age when received (`Age`, or the time since its `Date`), and whether it may be stored at all.

use std::time::{Duration, SystemTime};

use http::{
    header::{AGE, CACHE_CONTROL, DATE, EXPIRES, PRAGMA, SET_COOKIE, VARY},
    HeaderMap, HeaderName, StatusCode,
};

/// The longest duration an upstream can give (RFC 9111 §1.2.2: a larger delta-seconds, or one
/// too large to parse, counts as 2^31 seconds), so that sums of them never overflow.
const MAX_DELTA_SECONDS: u64 = 1 << 31;

/// The `Cache-Control` directives the cache acts on. Durations are whole seconds, at most
/// [`MAX_DELTA_SECONDS`]; a directive given twice keeps its smaller value, a malformed
/// duration counts as 0 (RFC 9111 §4.2.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Directives {
    pub no_store: bool,
    /// `no-cache`, also in its qualified form (`no-cache="set-cookie"`), which is taken as the
    /// whole answer needing validation.
    pub no_cache: bool,
    /// `private`, qualified or not.
    pub private: bool,
    pub public: bool,
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    pub must_revalidate: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

impl Directives {
    /// Reads every `Cache-Control` line of `headers`.
    pub(super) fn of(headers: &HeaderMap) -> Directives {
        let mut directives = Directives::default();
        for value in headers.get_all(CACHE_CONTROL) {
            // A line that is not text cannot hold a directive the cache knows.
            if let Ok(value) = value.to_str() {
                for (name, argument) in split(value) {
                    directives.apply(name, argument);
                }
            }
        }
        directives
    }

    fn apply(&mut self, name: &str, argument: Option<&str>) {
        let seconds = || argument.map_or(0, delta_seconds);
        let smaller = |old: Option<u64>, new: u64| Some(old.map_or(new, |old| old.min(new)));
        match name.to_ascii_lowercase().as_str() {
            "no-store" => self.no_store = true,
            "no-cache" => self.no_cache = true,
            "private" => self.private = true,
            "public" => self.public = true,
            "must-revalidate" | "proxy-revalidate" => self.must_revalidate = true,
            "max-age" => self.max_age = smaller(self.max_age, seconds()),
            "s-maxage" => self.s_maxage = smaller(self.s_maxage, seconds()),
            "stale-while-revalidate" => {
                self.stale_while_revalidate = smaller(self.stale_while_revalidate, seconds())
            }
            "stale-if-error" => self.stale_if_error = smaller(self.stale_if_error, seconds()),
            _ => {}
        }
    }
}

/// `name[=argument]` items of one `Cache-Control` line; commas inside quoted arguments do not
/// split, and quotes are removed from arguments.
fn split(line: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut rest = line;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(rest.len(), |(at, _)| at);
        let item = rest[..end].trim();
        rest = rest.get(end + 1..).unwrap_or("");
        if item.is_empty() {
            continue;
        }
        return Some(match item.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (item, None),
        });
    })
}

/// What a request asks of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asks {
    /// Any stored answer that is fresh will do.
    Stored,
    /// A fresh answer from the origin (`no-cache`, `max-age=0`, `Pragma: no-cache`); it may be
    /// stored.
    Origin,
    /// Nothing stored, nothing kept (`no-store`).
    NoStore,
}

/// How a request's own `Cache-Control` (or, without one, `Pragma`) limits the cache.
pub(super) fn request_asks(headers: &HeaderMap) -> Asks {
    if !headers.contains_key(CACHE_CONTROL) {
        let pragma_no_cache = headers
            .get_all(PRAGMA)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("no-cache"));
        return if pragma_no_cache {
            Asks::Origin
        } else {
            Asks::Stored
        };
    }
    let directives = Directives::of(headers);
    if directives.no_store {
        Asks::NoStore
    } else if directives.no_cache || directives.max_age == Some(0) {
        Asks::Origin
    } else {
        Asks::Stored
    }
}

/// Statuses a cache may store without knowing more about them (RFC 9110 §15.1, the ones
/// "heuristically cacheable" that a proxy sees on `GET`).
pub(super) fn cacheable_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 410
    )
}

/// Why an answer is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotStored {
    /// A status the cache does not store (errors, partial content, redirects other than
    /// permanent ones).
    Status,
    /// `no-store` or `private`.
    Forbidden,
    /// `Set-Cookie`: the answer belongs to one client.
    SetCookie,
    /// `Vary: *`: no later request can be known to match.
    VaryAll,
    /// An answer to a request with `Authorization` that does not say it may be shared, or a
    /// cache not configured to store such answers.
    Authorized,
    /// No freshness information, no default TTL, nothing to revalidate with.
    NoFreshness,
    /// Larger than `max_object`.
    TooLarge,
}

impl NotStored {
    /// Whether the next answer for the same URL will most likely be refused the same way, so
    /// concurrent requests for it are better sent upstream at once than made to wait.
    pub(super) fn lasting(self) -> bool {
        !matches!(self, NotStored::Status | NotStored::Authorized)
    }
}

/// When and how long an answer may be served, as computed when it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timing {
    /// How long the answer is fresh, counted from its origin (its age 0).
    pub lifetime: Duration,
    /// Its age when it was received.
    pub initial_age: Duration,
    /// How long past `lifetime` it may be served while one request revalidates it.
    pub stale_while_revalidate: Duration,
    /// How long past `lifetime` it may be served when the origin fails.
    pub stale_if_error: Duration,
    /// Validate with the origin before every use (`no-cache`).
    pub always_revalidate: bool,
    /// Never serve it stale (`must-revalidate`, `proxy-revalidate`, `no-cache`).
    pub never_stale: bool,
}

/// What the configuration adds to what answers say.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Defaults {
    /// The lifetime of answers without freshness information; `None`: they are not stored.
    pub ttl: Option<Duration>,
    pub stale_while_revalidate: Option<Duration>,
    pub stale_if_error: Option<Duration>,
    /// Whether answers to requests with `Authorization` may be stored (those that allow it).
    pub authorized: bool,
}

/// Decides whether an answer to a `GET` may be stored and, if so, for how long it is fresh.
/// `authorized`: the request carried `Authorization`; `validators`: the answer has an `ETag`
/// or a `Last-Modified`; `now`: when it was received.
pub(super) fn storable(
    status: StatusCode,
    headers: &HeaderMap,
    authorized: bool,
    validators: bool,
    defaults: &Defaults,
    now: SystemTime,
) -> Result<Timing, NotStored> {
    if !cacheable_status(status) {
        return Err(NotStored::Status);
    }
    let directives = Directives::of(headers);
    if directives.no_store || directives.private {
        return Err(NotStored::Forbidden);
    }
    if headers.contains_key(SET_COOKIE) {
        return Err(NotStored::SetCookie);
    }
    if vary_names(headers).is_none() {
        return Err(NotStored::VaryAll);
    }
    // RFC 9111 §3.5: a shared cache stores answers to authorized requests only when they say
    // they may be shared.
    let shareable =
        directives.public || directives.s_maxage.is_some() || directives.must_revalidate;
    if authorized && !(defaults.authorized && shareable) {
        return Err(NotStored::Authorized);
    }
    let explicit = lifetime(&directives, headers, now);
    let never_stale = directives.must_revalidate || directives.no_cache;
    let timing = Timing {
        lifetime: explicit.or(defaults.ttl).unwrap_or_default(),
        initial_age: age(headers, now),
        stale_while_revalidate: directives
            .stale_while_revalidate
            .map(Duration::from_secs)
            .or(defaults.stale_while_revalidate)
            .unwrap_or_default(),
        stale_if_error: directives
            .stale_if_error
            .map(Duration::from_secs)
            .or(defaults.stale_if_error)
            .unwrap_or_default(),
        always_revalidate: directives.no_cache,
        never_stale,
    };
    let known = explicit.is_some() || defaults.ttl.is_some();
    let usable = timing.lifetime > timing.initial_age
        || validators
        || (!never_stale && timing.stale_window() > Duration::ZERO);
    if !(known || directives.no_cache && validators) || !usable {
        return Err(NotStored::NoFreshness);
    }
    Ok(timing)
}

impl Timing {
    /// The longest a stale answer may still be served without validation.
    pub(super) fn stale_window(&self) -> Duration {
        self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// How long after it is stored an answer stops being of any use: at the end of its last
    /// stale window, or never (`None`) when it can be revalidated.
    pub(super) fn keep(&self, validators: bool) -> Option<Duration> {
        if validators {
            return None;
        }
        let stale = if self.never_stale {
            Duration::ZERO
        } else {
            self.stale_window()
        };
        Some(
            self.lifetime
                .saturating_sub(self.initial_age)
                .saturating_add(stale),
        )
    }
}

/// The explicit freshness lifetime: `s-maxage` (for shared caches it overrides `max-age`),
/// `max-age`, or `Expires` minus `Date` (the time received when `Date` is missing; an invalid
/// `Expires` means already expired).
fn lifetime(directives: &Directives, headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(seconds) = directives.s_maxage.or(directives.max_age) {
        return Some(Duration::from_secs(seconds));
    }
    let expires = headers.get(EXPIRES)?;
    let Some(expires) = http_date(expires) else {
        return Some(Duration::ZERO);
    };
    let date = headers.get(DATE).and_then(http_date).unwrap_or(now);
    let lifetime = expires.duration_since(date).unwrap_or_default();
    Some(lifetime.min(Duration::from_secs(MAX_DELTA_SECONDS)))
}

/// The age of an answer when received, in whole seconds: the larger of its `Age` and the time
/// since its `Date` (RFC 9111 §4.2.3, without the request's round trip).
fn age(headers: &HeaderMap, now: SystemTime) -> Duration {
    let age_value = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .map_or(0, delta_seconds);
    let apparent = headers
        .get(DATE)
        .and_then(http_date)
        .and_then(|date| {
            let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
            let date = date.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
            Some(now.saturating_sub(date))
        })
        .unwrap_or(0);
    Duration::from_secs(age_value.max(apparent).min(MAX_DELTA_SECONDS))
}

/// A delta-seconds value: digits, at most [`MAX_DELTA_SECONDS`] (also when too long to parse);
/// 0 when malformed.
fn delta_seconds(text: &str) -> u64 {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    text.parse::<u64>()
        .map_or(MAX_DELTA_SECONDS, |n| n.min(MAX_DELTA_SECONDS))
}

pub(super) fn http_date(value: &http::HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()
}

/// The header names an answer's `Vary` lists, lower-cased, each once, in the order given;
/// `None` for `Vary: *`.
pub(super) fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(VARY) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return None;
            }
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn date(seconds: u64) -> String {
        httpdate::fmt_http_date(at(seconds))
    }

    const NOW: u64 = 1_700_000_000;

    fn timing(pairs: &[(&'static str, &str)]) -> Result<Timing, NotStored> {
        storable(
            StatusCode::OK,
            &headers(pairs),
            false,
            false,
            &Defaults::default(),
            at(NOW),
        )
    }

    #[test]
    fn directives_are_read_across_lines_with_quotes_and_case() {
        let d = Directives::of(&headers(&[
            ("cache-control", "Public, MAX-AGE=60"),
            (
                "cache-control",
                "no-cache=\"set-cookie, x-a\", s-maxage=\"30\"",
            ),
            (
                "cache-control",
                "stale-while-revalidate=5, max-age=90, stale-if-error=x",
            ),
        ]));
        assert!(d.public && d.no_cache && !d.private && !d.no_store);
        assert_eq!(
            d.max_age,
            Some(60),
            "a repeated directive keeps its smaller value"
        );
        assert_eq!(d.s_maxage, Some(30));
        assert_eq!(d.stale_while_revalidate, Some(5));
        assert_eq!(d.stale_if_error, Some(0), "malformed counts as 0");
    }

    #[test]
    fn freshness_prefers_s_maxage_then_max_age_then_expires() {
        let t = timing(&[("cache-control", "max-age=60, s-maxage=10")]).unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(10));
        let t = timing(&[("cache-control", "max-age=60"), ("expires", &date(NOW + 5))]).unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(60));
        // Expires counts from Date, not from the time received.
        let t = timing(&[("date", &date(NOW - 10)), ("expires", &date(NOW + 20))]).unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(30));
        assert_eq!(t.initial_age, Duration::from_secs(10));
        let t = timing(&[("expires", &date(NOW + 20))]).unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(20));
        // An invalid or past Expires: already stale, so not worth storing without validators.
        assert_eq!(
            timing(&[("expires", "0")]),
            Err(NotStored::NoFreshness),
            "an invalid Expires means expired"
        );
    }

    #[test]
    fn age_is_the_larger_of_age_and_the_time_since_date() {
        let t = timing(&[("cache-control", "max-age=60"), ("age", "15")]).unwrap();
        assert_eq!(t.initial_age, Duration::from_secs(15));
        let t = timing(&[
            ("cache-control", "max-age=60"),
            ("age", "3"),
            ("date", &date(NOW - 7)),
        ])
        .unwrap();
        assert_eq!(t.initial_age, Duration::from_secs(7));
        // A Date in the future (clock skew) is no age at all.
        let t = timing(&[("cache-control", "max-age=60"), ("date", &date(NOW + 100))]).unwrap();
        assert_eq!(t.initial_age, Duration::ZERO);
        // Older than its lifetime when received: of no use.
        assert_eq!(
            timing(&[("cache-control", "max-age=10"), ("age", "20")]),
            Err(NotStored::NoFreshness)
        );
    }

    #[test]
    fn answers_that_must_not_be_stored_are_refused() {
        assert_eq!(
            timing(&[("cache-control", "no-store, max-age=60")]),
            Err(NotStored::Forbidden)
        );
        assert_eq!(
            timing(&[("cache-control", "private, max-age=60")]),
            Err(NotStored::Forbidden)
        );
        assert_eq!(
            timing(&[("cache-control", "max-age=60"), ("set-cookie", "a=b")]),
            Err(NotStored::SetCookie)
        );
        assert_eq!(
            timing(&[("cache-control", "max-age=60"), ("vary", "accept, *")]),
            Err(NotStored::VaryAll)
        );
        assert_eq!(timing(&[]), Err(NotStored::NoFreshness));
        let fresh = headers(&[("cache-control", "max-age=60")]);
        let refuse = |status: u16| {
            storable(
                StatusCode::from_u16(status).unwrap(),
                &fresh,
                false,
                false,
                &Defaults::default(),
                at(NOW),
            )
        };
        for status in [206, 302, 304, 500, 502, 503] {
            assert_eq!(refuse(status), Err(NotStored::Status), "{status}");
        }
        for status in [200, 204, 301, 404, 410] {
            assert!(refuse(status).is_ok(), "{status}");
        }
    }

    #[test]
    fn authorized_answers_need_the_config_and_a_shareable_answer() {
        let check = |cache_control: &str, allowed: bool| {
            let defaults = Defaults {
                authorized: allowed,
                ..Defaults::default()
            };
            storable(
                StatusCode::OK,
                &headers(&[("cache-control", cache_control)]),
                true,
                false,
                &defaults,
                at(NOW),
            )
        };
        assert_eq!(
            check("public, max-age=60", false),
            Err(NotStored::Authorized)
        );
        assert_eq!(check("max-age=60", true), Err(NotStored::Authorized));
        assert!(check("public, max-age=60", true).is_ok());
        assert!(check("s-maxage=60", true).is_ok());
    }

    #[test]
    fn defaults_fill_in_what_answers_leave_out() {
        let defaults = Defaults {
            ttl: Some(Duration::from_secs(30)),
            stale_while_revalidate: Some(Duration::from_secs(5)),
            stale_if_error: Some(Duration::from_secs(300)),
            authorized: false,
        };
        let t = storable(
            StatusCode::OK,
            &headers(&[("cache-control", "stale-if-error=60")]),
            false,
            false,
            &defaults,
            at(NOW),
        )
        .unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(30));
        assert_eq!(t.stale_while_revalidate, Duration::from_secs(5));
        assert_eq!(
            t.stale_if_error,
            Duration::from_secs(60),
            "the answer's own wins"
        );
        assert_eq!(t.keep(false), Some(Duration::from_secs(90)));
        assert_eq!(t.keep(true), None, "revalidatable answers are kept");
    }

    #[test]
    fn no_cache_answers_are_stored_only_to_be_revalidated() {
        let with_etag = |validators| {
            storable(
                StatusCode::OK,
                &headers(&[("cache-control", "no-cache")]),
                false,
                validators,
                &Defaults::default(),
                at(NOW),
            )
        };
        assert_eq!(with_etag(false), Err(NotStored::NoFreshness));
        let t = with_etag(true).unwrap();
        assert!(t.always_revalidate && t.never_stale);
    }

    #[test]
    fn requests_can_skip_or_refuse_the_cache() {
        assert_eq!(request_asks(&HeaderMap::new()), Asks::Stored);
        assert_eq!(
            request_asks(&headers(&[("cache-control", "max-age=0")])),
            Asks::Origin
        );
        assert_eq!(
            request_asks(&headers(&[("cache-control", "no-cache")])),
            Asks::Origin
        );
        assert_eq!(
            request_asks(&headers(&[("pragma", "no-cache")])),
            Asks::Origin
        );
        assert_eq!(
            request_asks(&headers(&[
                ("cache-control", "max-age=5"),
                ("pragma", "no-cache")
            ])),
            Asks::Stored,
            "Pragma only counts without Cache-Control"
        );
        assert_eq!(
            request_asks(&headers(&[("cache-control", "no-store")])),
            Asks::NoStore
        );
    }

    #[test]
    fn vary_lists_names_once_and_star_is_none() {
        let names = vary_names(&headers(&[
            ("vary", "Accept-Encoding, accept-language"),
            ("vary", "accept-encoding"),
        ]))
        .unwrap();
        assert_eq!(names, ["accept-encoding", "accept-language"]);
        assert_eq!(vary_names(&headers(&[("vary", "*")])), None);
    }
}
