//! A request's host as routing, policies and logs see it: checked (`host[:port]`, ASCII, no
//! empty label), without its port or a trailing dot, lower-cased, and kept inline up to
//! [`INLINE`] bytes, so the common case does not allocate.
//! Which host a request names, and what is refused, is decided at admission
//! (`downstream::host`).

/// Longest host kept without allocating.
const INLINE: usize = 64;

/// A lower-cased host name without its port.
#[derive(Clone)]
pub(crate) enum HostName {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl HostName {
    pub(crate) const EMPTY: HostName = HostName::Inline {
        len: 0,
        bytes: [0; INLINE],
    };

    pub(crate) fn as_str(&self) -> &str {
        match self {
            HostName::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("a host name is checked to be ASCII before it is stored"),
            HostName::Heap(name) => name,
        }
    }

    /// `host[:port]` checked and lower-cased as a `Host` header value is, without its port;
    /// `None` if it is not a valid host.
    pub(crate) fn parse(host: &str) -> Option<HostName> {
        HostName::from_bytes(host.as_bytes())
    }

    /// [`HostName::parse`] on the bytes of a header value or an authority.
    pub(crate) fn from_bytes(host: &[u8]) -> Option<HostName> {
        split_host(host).map(HostName::lower_case)
    }

    /// Stores `host`, which [`split_host`] checked to be ASCII, without one trailing dot (a
    /// fully qualified name is the same host).
    fn lower_case(host: &[u8]) -> HostName {
        let host = match host {
            [name @ .., b'.'] if !name.is_empty() => name,
            _ => host,
        };
        match u8::try_from(host.len()) {
            Ok(len) if host.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                for (to, from) in bytes.iter_mut().zip(host) {
                    *to = from.to_ascii_lowercase();
                }
                HostName::Inline { len, bytes }
            }
            _ => HostName::Heap(
                String::from_utf8_lossy(host)
                    .to_ascii_lowercase()
                    .into_boxed_str(),
            ),
        }
    }
}

impl std::fmt::Debug for HostName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Checks `host[:port]` and returns the host part. An empty value is allowed (RFC 9112 §3.2).
fn split_host(value: &[u8]) -> Option<&[u8]> {
    let (host, port) = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']')?;
        let (host, rest) = value.split_at(close + 1);
        let inner = &host[1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (host, rest)
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let (host, rest) = value.split_at(end);
        let empty_label = host.first() == Some(&b'.') || host.windows(2).any(|w| w == b"..");
        if empty_label
            || !host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return None;
        }
        (host, rest)
    };
    match port {
        [] => Some(host),
        [b':', digits @ ..]
            if !host.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit) =>
        {
            Some(host)
        }
        _ => None,
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any `Host` value either is refused or gives a lower-case host without port that
        /// reads back as itself.
        #[test]
        fn hosts_parse_to_a_fixed_point(value in "[a-zA-Z0-9.:\\[\\]@_~ -]{0,30}") {
            if let Some(host) = HostName::parse(&value) {
                let text = host.as_str();
                prop_assert_eq!(text, text.to_ascii_lowercase());
                let again = HostName::parse(text).expect("a parsed host parses");
                prop_assert_eq!(again.as_str(), text);
                prop_assert!(!text.contains('@') && !text.contains(' '));
            }
        }
    }
}
