//! What each kind of policy does with one request, decided as the proxy's policy would decide
//! it when everything it needs is in the request (a method, a header, the client's network);
//! what needs the running proxy (a token's signature, a body) is said to be checked then.

use edge_dsl::value::{KeySource, LimitKey, Method};
use edge_formats::{conditions, net::Net};

use super::{Probe, Verdict};
use crate::matching::Request;
use crate::model::{
    Access, ApiKey, Cache, Compress, Cors, Headers, Policy, PolicyKind, RateLimit, Rewrite,
    RewriteRule, Validate,
};

/// What `policy` does with `probe` (`request` is the probe as routing sees it).
pub(super) fn verdict(policy: &Policy, probe: &Probe<'_>, request: &Request<'_>) -> Verdict {
    match &policy.kind {
        PolicyKind::Jwt(_) => credentials(request, "bearer", "a bearer token"),
        PolicyKind::BasicAuth(_) => credentials(request, "basic", "a user name and password"),
        PolicyKind::ApiKey(api_key) => api_key_verdict(api_key, request),
        PolicyKind::RateLimit(limit) => rate_limit(limit, probe),
        PolicyKind::Validate(validate) => validate_verdict(validate, request),
        PolicyKind::Cors(cors) => cors_verdict(cors, request),
        PolicyKind::Access(access) => access_verdict(access, probe),
        PolicyKind::Headers(headers) => Verdict::Passes(header_edits(headers)),
        PolicyKind::Rewrite(rewrite) => Verdict::Passes(rewrite_rule(rewrite)),
        PolicyKind::Compress(compress) => Verdict::Passes(compression(compress)),
        PolicyKind::SecurityHeaders(headers) => Verdict::Passes(format!(
            "adds {} security headers to the answer{}",
            headers.headers.len() + usize::from(headers.hsts.is_some()),
            if headers.hsts.is_some() {
                ", HSTS among them"
            } else {
                ""
            }
        )),
        PolicyKind::Cache(cache) => cache_verdict(cache, request),
        PolicyKind::ExtAuth(ext) => Verdict::Checked(format!(
            "asks the authorisation service (`GET {}`) when it runs: 2xx lets it through, \
             401 or 403 answers the client{}",
            ext.path,
            if ext.fail_open {
                ", a failure lets it through"
            } else {
                ", a failure answers 503"
            }
        )),
    }
}

/// `Authorization: SCHEME ...`, present or not: the `jwt` and `basic_auth` policies.
fn credentials(request: &Request<'_>, scheme: &str, what: &str) -> Verdict {
    let given = request.header("authorization").any(|value| {
        value
            .split_once(' ')
            .is_some_and(|(given, rest)| given.eq_ignore_ascii_case(scheme) && !rest.is_empty())
    });
    if given {
        Verdict::Checked(format!("{what} is given: the proxy checks it when it runs"))
    } else {
        Verdict::Answers {
            status: 401,
            why: format!("no `Authorization: {}` header", capitalised(scheme)),
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn api_key_verdict(api_key: &ApiKey, request: &Request<'_>) -> Verdict {
    let (given, place) = match &api_key.source {
        KeySource::Header(name) => (
            request.header(name).next().is_some(),
            format!("header `{name}`"),
        ),
        KeySource::Query(name) => (
            conditions::query_is(request.query, name, None),
            format!("query parameter `{name}`"),
        ),
    };
    if given {
        Verdict::Checked(format!(
            "a key is given in the {place}: the proxy checks it against its key file"
        ))
    } else {
        Verdict::Answers {
            status: 401,
            why: format!("no key in the {place}"),
        }
    }
}

/// Requests sent at once pass while the burst lasts.
fn rate_limit(limit: &RateLimit, probe: &Probe<'_>) -> Verdict {
    let burst = limit.burst.max(1);
    let key = match &limit.key {
        LimitKey::ClientIp => format!("client {}", probe.client),
        LimitKey::Header(name) => format!("header `{name}` (else the client's address)"),
        LimitKey::Claim(claim) => format!("claim `{claim}` (else the client's address)"),
        LimitKey::Consumer => "consumer (else the client's address)".to_owned(),
        LimitKey::Route => "route".to_owned(),
    };
    let store = if limit.store.is_some() {
        ", counted in its store"
    } else {
        ""
    };
    let per = humantime::format_duration(limit.rate.per);
    if probe.earlier >= burst {
        Verdict::Answers {
            status: 429,
            why: format!(
                "{} requests at once spend the burst of {burst} (keyed by {key}{store})",
                probe.earlier + 1
            ),
        }
    } else {
        Verdict::Passes(format!(
            "{} per {per}, a burst of {burst}, keyed by {key}{store}: request {} of the burst",
            limit.rate.count,
            probe.earlier + 1
        ))
    }
}

fn validate_verdict(validate: &Validate, request: &Request<'_>) -> Verdict {
    if !validate.methods.is_empty() && !validate.methods.contains(&request.method) {
        return Verdict::Answers {
            status: 405,
            why: format!("{} is not among its methods", request.method.as_str()),
        };
    }
    if let Some(missing) = validate
        .required_headers
        .iter()
        .find(|name| request.header(name).next().is_none())
    {
        return Verdict::Answers {
            status: 400,
            why: format!("the header `{missing}` is required"),
        };
    }
    let content_type = request.header("content-type").next();
    let carries_body = matches!(request.method, Method::Post | Method::Put | Method::Patch)
        || content_type.is_some();
    if !validate.content_types.is_empty() && carries_body {
        let media_type = content_type
            .and_then(|value| value.split(';').next())
            .map(str::trim);
        let allowed = media_type.is_some_and(|media_type| {
            validate
                .content_types
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(media_type))
        });
        if !allowed {
            return Verdict::Answers {
                status: 415,
                why: match media_type {
                    Some(media_type) => format!("`{media_type}` is not an allowed content type"),
                    None => "a body without a `Content-Type`".to_owned(),
                },
            };
        }
    }
    let mut body = Vec::new();
    if let Some(max) = validate.max_body {
        body.push(format!("at most {max} bytes"));
    }
    if validate.json_schema.is_some() {
        body.push("valid against its JSON Schema".to_owned());
    }
    if carries_body && !body.is_empty() {
        Verdict::Checked(format!(
            "method and headers pass; the body must be {}",
            body.join(" and ")
        ))
    } else {
        Verdict::Passes("method and headers pass".to_owned())
    }
}

fn cors_verdict(cors: &Cors, request: &Request<'_>) -> Verdict {
    let Some(origin) = request.header("origin").next() else {
        return Verdict::Passes("not a cross-origin request (no `Origin`)".to_owned());
    };
    let origin_allowed = cors
        .origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin));
    let asked = request.header("access-control-request-method").next();
    match asked {
        Some(method) if request.method == Method::Options => {
            let methods: Vec<&str> = if cors.methods.is_empty() {
                vec!["GET", "HEAD", "POST"]
            } else {
                cors.methods.iter().map(|m| m.as_str()).collect()
            };
            let headers_allowed = request
                .header("access-control-request-headers")
                .flat_map(|names| names.split(','))
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .all(|name| cors.headers.iter().any(|h| h.eq_ignore_ascii_case(name)));
            if origin_allowed && methods.contains(&method) && headers_allowed {
                Verdict::Answers {
                    status: 204,
                    why: format!("a preflight from `{origin}` for {method}, allowed"),
                }
            } else {
                Verdict::Answers {
                    status: 403,
                    why: format!("a preflight from `{origin}` for {method}, not allowed"),
                }
            }
        }
        _ if origin_allowed => Verdict::Passes(format!(
            "the origin `{origin}` is allowed: the answer gets CORS headers"
        )),
        _ => Verdict::Passes(format!(
            "the origin `{origin}` is not allowed: the answer gets no CORS headers"
        )),
    }
}

/// The first rule whose network holds the client decides; without one, the client is denied
/// if any rule allows.
fn access_verdict(access: &Access, probe: &Probe<'_>) -> Verdict {
    let rule = access
        .rules
        .iter()
        .find(|rule| Net::new(rule.net.addr, rule.net.prefix).holds(probe.client));
    let allowed = rule.map_or(!access.rules.iter().any(|rule| rule.allow), |rule| {
        rule.allow
    });
    let by = match rule {
        Some(rule) => format!(
            "{} {}/{}",
            if rule.allow { "allow" } else { "deny" },
            rule.net.addr,
            rule.net.prefix
        ),
        None => "no rule holds it".to_owned(),
    };
    if allowed {
        Verdict::Passes(format!("the client {} is allowed ({by})", probe.client))
    } else {
        Verdict::Answers {
            status: 403,
            why: format!("the client {} is denied ({by})", probe.client),
        }
    }
}

fn header_edits(headers: &Headers) -> String {
    let mut parts = Vec::new();
    for (side, edits) in [("request", &headers.request), ("answer", &headers.response)] {
        let mut names: Vec<String> = Vec::new();
        names.extend(edits.set.iter().map(|(name, _)| format!("sets `{name}`")));
        names.extend(edits.add.iter().map(|(name, _)| format!("adds `{name}`")));
        names.extend(edits.remove.iter().map(|name| format!("removes `{name}`")));
        if !names.is_empty() {
            parts.push(format!("on the {side}: {}", names.join(", ")));
        }
    }
    if parts.is_empty() {
        "changes no header".to_owned()
    } else {
        parts.join("; ")
    }
}

fn rewrite_rule(rewrite: &Rewrite) -> String {
    match &rewrite.rule {
        RewriteRule::StripPrefix(prefix) => format!("strips the path prefix `{prefix}`"),
        RewriteRule::ReplacePrefix { from, to } => {
            format!("replaces the path prefix `{from}` with `{to}`")
        }
        RewriteRule::Regex {
            pattern,
            replacement,
        } => format!("rewrites the path: the first match of `{pattern}` becomes `{replacement}`"),
    }
}

fn compression(compress: &Compress) -> String {
    let codings: Vec<&str> = compress
        .algorithms
        .iter()
        .map(|coding| match coding {
            edge_dsl::value::Coding::Gzip => "gzip",
            edge_dsl::value::Coding::Brotli => "br",
            edge_dsl::value::Coding::Zstd => "zstd",
        })
        .collect();
    format!(
        "compresses answers of at least {} bytes with {}, as the client accepts",
        compress.min_size,
        codings.join(", ")
    )
}

fn cache_verdict(cache: &Cache, request: &Request<'_>) -> Verdict {
    let authorized = request.header("authorization").next().is_some();
    if !matches!(request.method, Method::Get | Method::Head) {
        Verdict::Passes(format!(
            "{} is not cached: passes to the route",
            request.method.as_str()
        ))
    } else if authorized && !cache.cache_authorized {
        Verdict::Passes("a request with `Authorization` is not cached".to_owned())
    } else {
        Verdict::Passes("may be answered from the cache, or its answer kept".to_owned())
    }
}
