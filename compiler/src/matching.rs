//! What a route's path matcher means, shared by the checker (which routes cover which) and the
//! `test` blocks (which route a request meets).

/// Whether `path` is `prefix` or lies under it on a segment boundary. The runtime's
/// generated matcher applies exactly this rule.
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}
