//! Path normalisation, so that route matching sees a path the way a backend will.
//!
//! Percent-encoded unreserved characters are decoded, other percent-encodings get upper-case
//! hex, repeated slashes are merged and dot-segments (also percent-encoded ones) are resolved as
//! in RFC 3986 §5.2.4, except that `..` above the root is an error rather than ignored. A path
//! that is already normal is returned borrowed, without allocating.
//!
//! Some backends read a path differently from its normal form: nginx and IIS decode `%2F` into
//! a separator, IIS takes `\` as one, Tomcat and Spring drop `;` path parameters (so
//! `/public/..;/admin` is `/admin` to them), IIS ignores case. A route guarding `/admin` would
//! be walked around, so by default such paths are refused ([`PathRules::STRICT`]); a listener
//! may allow them, or fold case.

use std::borrow::Cow;

/// Why a path cannot be normalised; the request gets a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadPath {
    /// The path does not start with `/` (this includes `*` and authority-form targets).
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadPercent,
    /// A `..` segment would climb above the root.
    AboveRoot,
    /// `%2F`, `%5C` or `\`, which some backends read as a separator.
    EncodedSlash,
    /// A `;`, which some backends read as the start of path parameters.
    Semicolon,
}

/// What a listener lets through in paths, beyond their normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathRules {
    /// `%2F`, `%5C` and `\` pass (kept as sent).
    pub(crate) encoded_slashes: bool,
    /// `;` passes.
    pub(crate) semicolons: bool,
    /// ASCII letters are lower-cased (percent-encodings keep upper-case hex), so routes and
    /// the backend see `/ADMIN` as `/admin`.
    pub(crate) lower_case: bool,
}

impl PathRules {
    /// The default: nothing a backend could read as another path.
    #[cfg(any(test, feature = "engine-bench"))]
    pub(crate) const STRICT: PathRules = PathRules {
        encoded_slashes: false,
        semicolons: false,
        lower_case: false,
    };

    /// Everything passes, case kept (for URLs given by an operator, such as cache purges).
    pub(crate) const PERMISSIVE: PathRules = PathRules {
        encoded_slashes: true,
        semicolons: true,
        lower_case: false,
    };
}

/// Returns the normal form of `path` under `rules`, borrowed when `path` is already normal.
pub(crate) fn normalize(path: &str, rules: PathRules) -> Result<Cow<'_, str>, BadPath> {
    if !path.starts_with('/') {
        return Err(BadPath::NotAbsolute);
    }
    refuse_ambiguous(path.as_bytes(), rules)?;
    if is_normal(path.as_bytes(), rules.lower_case) {
        return Ok(Cow::Borrowed(path));
    }
    rebuild(path, rules.lower_case).map(Cow::Owned)
}

/// Refuses what `rules` does not let through: separators in disguise and path parameters.
fn refuse_ambiguous(path: &[u8], rules: PathRules) -> Result<(), BadPath> {
    if rules.encoded_slashes && rules.semicolons {
        return Ok(());
    }
    for (at, &byte) in path.iter().enumerate() {
        match byte {
            b';' if !rules.semicolons => return Err(BadPath::Semicolon),
            b'\\' if !rules.encoded_slashes => return Err(BadPath::EncodedSlash),
            b'%' if !rules.encoded_slashes => {
                let escaped = path.get(at + 1..at + 3).unwrap_or_default();
                if escaped.eq_ignore_ascii_case(b"2f") || escaped.eq_ignore_ascii_case(b"5c") {
                    return Err(BadPath::EncodedSlash);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The fast check: true when [`rebuild`] would return `path` unchanged.
fn is_normal(path: &[u8], lower_case: bool) -> bool {
    let mut segment_start = 1;
    let mut i = 1;
    while i <= path.len() {
        let byte = path.get(i).copied();
        match byte {
            None | Some(b'/') => {
                let segment = &path[segment_start..i];
                let last = byte.is_none();
                if (segment.is_empty() && !last) || segment == b"." || segment == b".." {
                    return false;
                }
                segment_start = i + 1;
            }
            Some(b'%') => match (path.get(i + 1), path.get(i + 2)) {
                (Some(&hi), Some(&lo)) if is_upper_hex(hi) && is_upper_hex(lo) => {
                    if is_unreserved(hex_value(hi) << 4 | hex_value(lo)) {
                        return false;
                    }
                    i += 2;
                }
                _ => return false,
            },
            Some(byte) if lower_case && byte.is_ascii_uppercase() => return false,
            Some(_) => {}
        }
        i += 1;
    }
    true
}

/// The slow path: decode each segment, then resolve empty and dot segments on a stack.
fn rebuild(path: &str, lower_case: bool) -> Result<String, BadPath> {
    let mut out = String::with_capacity(path.len());
    // Byte offsets in `out` where each kept segment starts (at its leading `/`).
    let mut starts: smallvec::SmallVec<[usize; 16]> = smallvec::SmallVec::new();
    let mut decoded = String::new();
    let mut segments = path[1..].split('/').peekable();
    let mut trailing_slash = false;
    while let Some(raw) = segments.next() {
        let last = segments.peek().is_none();
        decoded.clear();
        decode_segment(raw, &mut decoded)?;
        if lower_case {
            lower_outside_escapes(&mut decoded);
        }
        match decoded.as_str() {
            "" | "." => trailing_slash = last,
            ".." => {
                let start = starts.pop().ok_or(BadPath::AboveRoot)?;
                out.truncate(start);
                trailing_slash = last;
            }
            segment => {
                starts.push(out.len());
                out.push('/');
                out.push_str(segment);
                trailing_slash = false;
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Appends `raw` to `out` with unreserved percent-encodings decoded and the rest upper-cased.
fn decode_segment(raw: &str, out: &mut String) -> Result<(), BadPath> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let (hi, lo) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    (hi, lo)
                }
                _ => return Err(BadPath::BadPercent),
            };
            let value = hex_value(hi) << 4 | hex_value(lo);
            if is_unreserved(value) {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push(char::from(hi.to_ascii_uppercase()));
                out.push(char::from(lo.to_ascii_uppercase()));
            }
            i += 3;
        } else {
            let next = bytes[i..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(bytes.len(), |p| i + p);
            out.push_str(&raw[i..next]);
            i = next;
        }
    }
    Ok(())
}

/// Lower-cases the ASCII letters of a decoded segment, but the hex digits of its escapes.
fn lower_outside_escapes(segment: &mut String) {
    let mut bytes = std::mem::take(segment).into_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            i += 3;
        } else {
            bytes[i].make_ascii_lowercase();
            i += 1;
        }
    }
    *segment = String::from_utf8(bytes).expect("ASCII case changes keep UTF-8 valid");
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_upper_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'A'..=b'F').contains(&byte)
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, expected normal form); `None` when it is already normal and must stay borrowed.
    const NORMAL: &[(&str, Option<&str>)] = &[
        ("/", None),
        ("/hello", None),
        ("/a/b/c", None),
        ("/a/b/", None),
        ("/a%2Fb", None),
        ("/%20x", None),
        ("/a.b/c..d/.e/..f", None),
        ("/~user/file_name-1.txt", None),
        ("/%E2%82%AC", None),
        ("/a;b=c/d", None),
        ("//x", Some("/x")),
        ("///", Some("/")),
        ("/a//b///c", Some("/a/b/c")),
        ("/a//", Some("/a/")),
        ("/a/../hello", Some("/hello")),
        ("/a/./b", Some("/a/b")),
        ("/a/b/..", Some("/a/")),
        ("/a/b/.", Some("/a/b/")),
        ("/a/b/../", Some("/a/")),
        ("/.", Some("/")),
        ("/./", Some("/")),
        ("/a/..", Some("/")),
        ("/a/b/c/../../d", Some("/a/d")),
        ("/%61%62c", Some("/abc")),
        ("/%7euser", Some("/~user")),
        ("/%2D%2e%5F%7E", Some("/-._~")),
        ("/a%2fb", Some("/a%2Fb")),
        ("/%e2%82%ac", Some("/%E2%82%AC")),
        ("/a/%2e%2e/b", Some("/b")),
        ("/a/%2E/b", Some("/a/b")),
        ("/a/.%2e/b", Some("/b")),
        ("/a/%2e%2e", Some("/")),
        ("/%2e%2e%2fetc", Some("/..%2Fetc")),
        ("/a//../b", Some("/b")),
    ];

    const BAD: &[(&str, BadPath)] = &[
        ("", BadPath::NotAbsolute),
        ("*", BadPath::NotAbsolute),
        ("a/b", BadPath::NotAbsolute),
        ("example.com:443", BadPath::NotAbsolute),
        ("/..", BadPath::AboveRoot),
        ("/../a", BadPath::AboveRoot),
        ("/a/../..", BadPath::AboveRoot),
        ("/a/../../b", BadPath::AboveRoot),
        ("/%2e%2e", BadPath::AboveRoot),
        ("/%2E%2E/etc/passwd", BadPath::AboveRoot),
        ("//..", BadPath::AboveRoot),
        ("/%", BadPath::BadPercent),
        ("/%2", BadPath::BadPercent),
        ("/%zz", BadPath::BadPercent),
        ("/a%g1", BadPath::BadPercent),
        ("/a/%2", BadPath::BadPercent),
    ];

    #[test]
    fn normal_forms() {
        for &(input, expected) in NORMAL {
            let got = normalize(input, PathRules::PERMISSIVE)
                .unwrap_or_else(|e| panic!("{input}: {e:?}"));
            match expected {
                None => assert!(
                    matches!(got, Cow::Borrowed(p) if p == input),
                    "{input} should stay borrowed, got {got:?}"
                ),
                Some(expected) => {
                    assert_eq!(got, expected, "{input}");
                    assert!(matches!(got, Cow::Owned(_)), "{input}");
                }
            }
        }
    }

    #[test]
    fn bad_paths() {
        for &(input, expected) in BAD {
            assert_eq!(
                normalize(input, PathRules::PERMISSIVE),
                Err(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn strict_rules_refuse_what_backends_read_as_another_path() {
        let refused = [
            ("/admin%2Fusers", BadPath::EncodedSlash),
            ("/admin%2fusers", BadPath::EncodedSlash),
            ("/x%5C..%5Cadmin", BadPath::EncodedSlash),
            ("/x\\..\\admin", BadPath::EncodedSlash),
            ("/public/..;/admin/", BadPath::Semicolon),
            ("/admin;x/users", BadPath::Semicolon),
        ];
        for (input, expected) in refused {
            assert_eq!(
                normalize(input, PathRules::STRICT),
                Err(expected),
                "{input}"
            );
        }
        let only_semicolons = PathRules {
            semicolons: true,
            ..PathRules::STRICT
        };
        assert!(normalize("/a;jsessionid=1", only_semicolons).is_ok());
        assert_eq!(
            normalize("/a%2Fb", only_semicolons),
            Err(BadPath::EncodedSlash)
        );
        assert!(normalize("/%252F", PathRules::STRICT).is_ok());
    }

    #[test]
    fn folded_case_keeps_escapes_upper_case() {
        let folded = PathRules {
            lower_case: true,
            ..PathRules::STRICT
        };
        let cases = [
            ("/ADMIN", "/admin"),
            ("/Admin/Users/", "/admin/users/"),
            ("/A%C3%A9B", "/a%C3%A9b"),
            ("/%41", "/a"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input, folded).unwrap(), expected, "{input}");
        }
        assert!(matches!(normalize("/admin", folded), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn normal_forms_are_fixed_points() {
        for &(input, expected) in NORMAL {
            let once = expected.unwrap_or(input);
            assert!(
                matches!(normalize(once, PathRules::PERMISSIVE), Ok(Cow::Borrowed(p)) if p == once),
                "{once} (from {input}) is not a fixed point"
            );
        }
    }

    #[test]
    fn fast_check_agrees_with_rebuild() {
        let alphabet = ["/", ".", "a", "%2e", "%2E", "%2f", "%41", "%", "~"];
        // Every path of up to four pieces from the alphabet: 9^1 + ... + 9^4 cases.
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for path in &paths {
                for piece in alphabet {
                    next.push(format!("{path}{piece}"));
                }
            }
            for path in &next {
                let path = format!("/{path}");
                match rebuild(&path, false) {
                    Ok(rebuilt) => {
                        assert_eq!(is_normal(path.as_bytes(), false), rebuilt == path, "{path}")
                    }
                    Err(_) => assert!(!is_normal(path.as_bytes(), false), "{path}"),
                }
            }
            paths = next;
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const FOLDED: PathRules = PathRules {
        lower_case: true,
        ..PathRules::STRICT
    };

    proptest! {
        /// Whatever a client sends, a normalised path is a fixed point, has no empty, `.` or
        /// `..` segment, and under the strict rules no separator in disguise and no `;`: the
        /// router and the backend see one path.
        #[test]
        fn normal_forms_are_fixed_points_without_ambiguity(
            path in "/[a-zA-Z0-9./%;\\\\~_-]{0,40}",
        ) {
            for rules in [PathRules::STRICT, PathRules::PERMISSIVE, FOLDED] {
                let Ok(once) = normalize(&path, rules) else { continue };
                let twice = normalize(&once, rules).unwrap();
                prop_assert!(matches!(twice, Cow::Borrowed(p) if p == once), "{path} -> {once}");
                let segments: Vec<&str> = once[1..].split('/').collect();
                let last = segments.len() - 1;
                for (index, segment) in segments.iter().enumerate() {
                    prop_assert!(*segment != "." && *segment != "..", "{once}");
                    prop_assert!(!segment.is_empty() || index == last, "{once}");
                }
                if !rules.encoded_slashes {
                    let upper = once.to_ascii_uppercase();
                    prop_assert!(!upper.contains("%2F") && !upper.contains("%5C"), "{once}");
                    prop_assert!(!once.contains('\\'), "{once}");
                }
                if !rules.semicolons {
                    prop_assert!(!once.contains(';'), "{once}");
                }
                if rules.lower_case {
                    let outside_escapes = once.split('%').enumerate().all(|(i, part)| {
                        let part = if i == 0 { part } else { part.get(2..).unwrap_or("") };
                        !part.bytes().any(|b| b.is_ascii_uppercase())
                    });
                    prop_assert!(outside_escapes, "{once}");
                }
            }
        }
    }
}
