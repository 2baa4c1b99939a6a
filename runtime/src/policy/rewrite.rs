//! `rewrite`: changes the path of a request before the route's action sees it (e.g. the path
//! sent upstream), keeping the query.
//!
//! - `StripPrefix("/api")` and `ReplacePrefix { from, to }` match on whole segments: `/api`
//!   matches `/api` and `/api/x`, not `/apix`; a trailing `/` in `from` or `to` is ignored.
//!   `/api` stripped of `/api` is `/`.
//! - `Regex { pattern, replacement }` replaces the first match in the path; the replacement
//!   names groups as `$1` or `${name}` (write `${1}x` when a letter follows). It may add a
//!   query (`/posts/$2?by=$1`): the request's query then follows after `&`.
//!
//! A path that does not match is left alone (nothing is allocated). A result not starting with
//! `/` gets one. A result that is not a valid URI path (the replacement brought characters a
//! path may not hold) is not applied: the request keeps its path and a warning is logged.

use std::{
    borrow::Cow,
    future::{ready, Future},
};

use http::{uri::PathAndQuery, Uri};
use regex::Regex;

use crate::{Cx, LoadError, Policy, Request, Response};

/// A `rewrite` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct RewriteSpec {
    pub name: &'static str,
    pub rule: RewriteRule,
}

/// How a path is rewritten.
#[derive(Debug)]
pub enum RewriteRule {
    /// Removes a leading path prefix.
    StripPrefix(&'static str),
    /// Replaces a leading path prefix.
    ReplacePrefix {
        from: &'static str,
        to: &'static str,
    },
    /// Replaces the first match of a regular expression.
    Regex {
        pattern: &'static str,
        replacement: &'static str,
    },
}

/// The `rewrite` policy.
pub struct Rewrite {
    spec: &'static RewriteSpec,
    rule: Rule,
}

/// A rule ready to apply.
enum Rule {
    /// `from` and `to` without a trailing `/`; `from == to` leaves every path alone.
    Prefix {
        from: &'static str,
        to: &'static str,
    },
    Regex {
        regex: Regex,
        replacement: &'static str,
    },
}

impl Rewrite {
    pub fn load(spec: &'static RewriteSpec) -> Result<Rewrite, LoadError> {
        let trim = |prefix: &'static str| prefix.trim_end_matches('/');
        let rule = match spec.rule {
            RewriteRule::StripPrefix(prefix) => Rule::Prefix {
                from: trim(prefix),
                to: "",
            },
            RewriteRule::ReplacePrefix { from, to } => Rule::Prefix {
                from: trim(from),
                to: trim(to),
            },
            RewriteRule::Regex {
                pattern,
                replacement,
            } => Rule::Regex {
                regex: Regex::new(pattern).map_err(|e| LoadError::Policy {
                    name: spec.name,
                    reason: format!("invalid regular expression `{pattern}`: {e}"),
                })?,
                replacement,
            },
        };
        Ok(Rewrite { spec, rule })
    }

    /// The new path, or `None` when the rule leaves `path` alone.
    fn rewrite(&self, path: &str) -> Option<String> {
        let new = match &self.rule {
            Rule::Prefix { from, to } => {
                let rest = path.strip_prefix(from)?;
                if from == to || !(rest.is_empty() || rest.starts_with('/')) {
                    return None;
                }
                let mut new = String::with_capacity(1 + to.len() + rest.len());
                new.push_str(to);
                new.push_str(rest);
                new
            }
            Rule::Regex { regex, replacement } => match regex.replace(path, *replacement) {
                Cow::Borrowed(_) => return None,
                Cow::Owned(new) => new,
            },
        };
        Some(if new.starts_with('/') {
            new
        } else {
            let mut rooted = String::with_capacity(1 + new.len());
            rooted.push('/');
            rooted.push_str(&new);
            rooted
        })
    }

    fn apply(&self, req: &mut Request) {
        let uri = req.uri();
        let Some(path) = self.rewrite(uri.path()) else {
            return;
        };
        match with_path(uri, path) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(error) => tracing::warn!(
                policy = self.spec.name,
                path = uri.path(),
                %error,
                "rewritten path is not a valid URI path; the path is kept"
            ),
        }
    }
}

/// `uri` with `path` (which may hold a query of its own) instead of its path, keeping the
/// rest.
fn with_path(uri: &Uri, mut path: String) -> Result<Uri, http::Error> {
    if let Some(query) = uri.query() {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path)?);
    Ok(Uri::from_parts(parts)?)
}

impl Policy for Rewrite {
    type Ticket = ();

    fn request(
        &self,
        req: &mut Request,
        _: &Cx,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        self.apply(req);
        ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestBody;
    use bytes::Bytes;

    fn rewrite(rule: RewriteRule) -> Rewrite {
        Rewrite::load(Box::leak(Box::new(RewriteSpec { name: "rw", rule }))).unwrap()
    }

    /// The URI `uri` becomes.
    fn apply(rewrite: &Rewrite, uri: &str) -> String {
        let mut req = http::Request::get(uri)
            .body(RequestBody::full(Bytes::new()))
            .unwrap();
        rewrite.apply(&mut req);
        req.uri().to_string()
    }

    #[test]
    fn strip_prefix_matches_whole_segments_and_keeps_the_query() {
        let strip = rewrite(RewriteRule::StripPrefix("/api"));
        assert_eq!(apply(&strip, "/api/users?page=2"), "/users?page=2");
        assert_eq!(apply(&strip, "/api"), "/");
        assert_eq!(apply(&strip, "/api?x"), "/?x");
        assert_eq!(apply(&strip, "/api/"), "/");
        assert_eq!(apply(&strip, "/apix/users"), "/apix/users");
        assert_eq!(apply(&strip, "/other"), "/other");
        let slash = rewrite(RewriteRule::StripPrefix("/api/"));
        assert_eq!(apply(&slash, "/api/users"), "/users");
        assert_eq!(
            apply(&slash, "http://example.com/api/v?q=1"),
            "http://example.com/v?q=1"
        );
    }

    #[test]
    fn replace_prefix_matches_whole_segments() {
        let replace = rewrite(RewriteRule::ReplacePrefix {
            from: "/v1",
            to: "/api/v2/",
        });
        assert_eq!(apply(&replace, "/v1/users?a=b"), "/api/v2/users?a=b");
        assert_eq!(apply(&replace, "/v1"), "/api/v2");
        assert_eq!(apply(&replace, "/v10/users"), "/v10/users");
        let to_root = rewrite(RewriteRule::ReplacePrefix {
            from: "/old",
            to: "/",
        });
        assert_eq!(apply(&to_root, "/old/x"), "/x");
        assert_eq!(apply(&to_root, "/old"), "/");
        let unrooted = rewrite(RewriteRule::ReplacePrefix {
            from: "/old",
            to: "new",
        });
        assert_eq!(apply(&unrooted, "/old/x"), "/new/x");
        assert!(rewrite(RewriteRule::StripPrefix("/"))
            .rewrite("/x")
            .is_none());
    }

    #[test]
    fn regex_replaces_with_groups() {
        let regex = rewrite(RewriteRule::Regex {
            pattern: r"^/users/(?<id>\d+)/posts/(\d+)$",
            replacement: "/posts/$2?by=${id}",
        });
        assert_eq!(apply(&regex, "/users/7/posts/9?x=1"), "/posts/9?by=7&x=1");
        assert_eq!(apply(&regex, "/users/7/posts/9"), "/posts/9?by=7");
        let regex = rewrite(RewriteRule::Regex {
            pattern: r"^/users/(?<id>\d+)/posts/(\d+)$",
            replacement: "posts/${2}/by/${id}",
        });
        assert_eq!(apply(&regex, "/users/7/posts/9?x=1"), "/posts/9/by/7?x=1");
        assert_eq!(apply(&regex, "/users/x/posts/9"), "/users/x/posts/9");
    }

    #[test]
    fn an_invalid_result_keeps_the_path() {
        let spaces = rewrite(RewriteRule::Regex {
            pattern: "^/a",
            replacement: "/a b",
        });
        assert_eq!(apply(&spaces, "/a/c?q"), "/a/c?q");
    }

    #[test]
    fn an_invalid_pattern_is_a_load_error() {
        let error = Rewrite::load(Box::leak(Box::new(RewriteSpec {
            name: "bad",
            rule: RewriteRule::Regex {
                pattern: "(",
                replacement: "",
            },
        })))
        .err()
        .unwrap();
        let (policy, reason) = error.policy_reason();
        assert_eq!(policy, "bad");
        assert!(reason.starts_with("invalid regular expression `(`"));
    }
}
