//! Picks a listener's certificate by the name the client asked for (SNI): an exact name first,
//! then a wildcard (`*.example.com` covers one label: `a.example.com`, not `a.b.example.com`
//! nor `example.com`), then the default certificate (one listed without names). No match and
//! no default: no certificate, and rustls ends the handshake with an alert.
//!
//! The table is built off the request path, at start-up and on each reload; a handshake costs
//! at most two hash look-ups.

use std::{collections::HashMap, sync::Arc};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use crate::downstream::listener::CertSpec;

/// The certificate resolver rustls calls during each handshake.
#[derive(Debug)]
pub(crate) struct SniResolver(Names<Arc<CertifiedKey>>);

impl SniResolver {
    /// `keys[i]` is the loaded certificate of `certs[i]`.
    pub(crate) fn new(certs: &[CertSpec], keys: &[Arc<CertifiedKey>]) -> SniResolver {
        SniResolver(Names::new(
            certs
                .iter()
                .map(|spec| spec.names)
                .zip(keys.iter().cloned()),
        ))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls hands over the SNI already lower-cased, and never an IP address.
        self.0.pick(client_hello.server_name()).cloned()
    }
}

/// Names to values; where two entries claim a name, the first one listed wins.
#[derive(Debug)]
struct Names<T> {
    exact: HashMap<Box<str>, T, ahash::RandomState>,
    /// `*.example.com` is kept as `example.com`.
    wildcard: HashMap<Box<str>, T, ahash::RandomState>,
    default: Option<T>,
}

impl<T: Clone> Names<T> {
    fn new(entries: impl Iterator<Item = (&'static [&'static str], T)>) -> Names<T> {
        let mut names = Names {
            exact: HashMap::default(),
            wildcard: HashMap::default(),
            default: None,
        };
        for (patterns, value) in entries {
            if patterns.is_empty() {
                names.default.get_or_insert_with(|| value.clone());
            }
            for pattern in patterns {
                let pattern = pattern.to_ascii_lowercase();
                let (table, key) = match pattern.strip_prefix("*.") {
                    Some(parent) => (&mut names.wildcard, parent.into()),
                    None => (&mut names.exact, pattern.into_boxed_str()),
                };
                table.entry(key).or_insert_with(|| value.clone());
            }
        }
        names
    }

    /// The value for a lower-cased `sni`, or the default.
    fn pick(&self, sni: Option<&str>) -> Option<&T> {
        let Some(sni) = sni else {
            return self.default.as_ref();
        };
        self.exact
            .get(sni)
            .or_else(|| {
                let (_, parent) = sni.split_once('.')?;
                self.wildcard.get(parent)
            })
            .or(self.default.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[(&'static [&'static str], u8)]) -> Names<u8> {
        Names::new(entries.iter().copied())
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let table = names(&[
            (&["*.example.com"], 1),
            (&["api.example.com", "API2.example.com"], 2),
            (&[], 3),
            (&["other.test"], 4),
        ]);
        let cases = [
            (Some("api.example.com"), Some(&2)),
            (Some("api2.example.com"), Some(&2)),
            (Some("www.example.com"), Some(&1)),
            (Some("a.b.example.com"), Some(&3)),
            (Some("example.com"), Some(&3)),
            (Some("other.test"), Some(&4)),
            (Some("unknown.test"), Some(&3)),
            (None, Some(&3)),
        ];
        for (sni, expected) in cases {
            assert_eq!(table.pick(sni), expected, "{sni:?}");
        }
    }

    #[test]
    fn no_default_means_no_certificate() {
        let table = names(&[(&["a.test"], 1)]);
        assert_eq!(table.pick(Some("a.test")), Some(&1));
        assert_eq!(table.pick(Some("b.test")), None);
        assert_eq!(table.pick(None), None);
    }

    #[test]
    fn the_first_entry_for_a_name_wins() {
        let table = names(&[(&["a.test"], 1), (&["a.test"], 2), (&[], 3), (&[], 4)]);
        assert_eq!(table.pick(Some("a.test")), Some(&1));
        assert_eq!(table.pick(None), Some(&3));
    }
}
