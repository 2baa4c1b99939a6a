//! What consistent hashing hashes: the client's IP, a header, a cookie, or the path; and the
//! hash itself. A tunnel has only a client IP: the other keys find nothing in it, so its pick
//! goes round robin.
//!
//! The hash is a fixed function (64-bit FNV-1a with MurmurHash3's finaliser), not a randomly
//! seeded one, so every proxy instance and every restart maps a key to the same server: two
//! Edge instances behind one L4 balancer keep the same stickiness.

use http::HeaderName;

use super::Target;
use crate::fixed_hash::stable_hash;

/// A request property to hash. Implemented by the key types below.
pub trait HashKey: Send + Sync + 'static {
    /// The key's hash for this request, `None` when the request (or tunnel) does not carry it.
    #[doc(hidden)]
    fn hash(&self, target: &Target<'_>) -> Option<u64>;
}

/// The client's IP address (an IPv4-mapped IPv6 address counts as the IPv4 address).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientIpKey;

/// The value of a request header (its first occurrence).
#[derive(Debug, Clone)]
pub struct HeaderKey {
    name: HeaderName,
}

/// The value of a cookie.
#[derive(Debug, Clone, Copy)]
pub struct CookieKey {
    name: &'static str,
}

/// The request path (without the query).
#[derive(Debug, Default, Clone, Copy)]
pub struct PathKey;

impl HeaderKey {
    /// The header `name`, which must be lower-case (checked at compile time in a `const`).
    pub const fn from_static(name: &'static str) -> HeaderKey {
        HeaderKey {
            name: HeaderName::from_static(name),
        }
    }
}

impl CookieKey {
    pub const fn new(name: &'static str) -> CookieKey {
        CookieKey { name }
    }
}

impl HashKey for ClientIpKey {
    fn hash(&self, target: &Target<'_>) -> Option<u64> {
        Some(match target.client.to_canonical() {
            std::net::IpAddr::V4(ip) => stable_hash(&ip.octets()),
            std::net::IpAddr::V6(ip) => stable_hash(&ip.octets()),
        })
    }
}

impl HashKey for HeaderKey {
    fn hash(&self, target: &Target<'_>) -> Option<u64> {
        target
            .request
            .as_ref()?
            .headers
            .get(&self.name)
            .map(|value| stable_hash(value.as_bytes()))
    }
}

impl HashKey for CookieKey {
    fn hash(&self, target: &Target<'_>) -> Option<u64> {
        let headers = target.request.as_ref()?.headers;
        crate::cookies::value(headers, self.name).map(stable_hash)
    }
}

impl HashKey for PathKey {
    fn hash(&self, target: &Target<'_>) -> Option<u64> {
        Some(stable_hash(target.request.as_ref()?.path.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use http::{header::COOKIE, HeaderMap, HeaderValue};

    use super::*;

    static USER: HeaderKey = HeaderKey::from_static("x-user");

    fn target<'a>(headers: &'a HeaderMap, path: &'a str) -> Target<'a> {
        Target::request(headers, path, Ipv4Addr::new(192, 0, 2, 7).into())
    }

    #[test]
    fn header_key() {
        let mut headers = HeaderMap::new();
        assert_eq!(USER.hash(&target(&headers, "/")), None);
        headers.insert("x-user", HeaderValue::from_static("alice"));
        assert_eq!(
            USER.hash(&target(&headers, "/")),
            Some(stable_hash(b"alice"))
        );
    }

    #[test]
    fn cookie_key_finds_its_cookie_among_others() {
        let key = CookieKey::new("sid");
        let mut headers = HeaderMap::new();
        assert_eq!(key.hash(&target(&headers, "/")), None);
        headers.append(COOKIE, HeaderValue::from_static("theme=dark; xsid=no"));
        assert_eq!(key.hash(&target(&headers, "/")), None);
        headers.append(
            COOKIE,
            HeaderValue::from_static("lang=en;  sid = abc123 ; x=1"),
        );
        assert_eq!(
            key.hash(&target(&headers, "/")),
            Some(stable_hash(b"abc123"))
        );
        let mut broken = HeaderMap::new();
        broken.insert(COOKIE, HeaderValue::from_static("sid; =x; sid=v"));
        assert_eq!(key.hash(&target(&broken, "/")), Some(stable_hash(b"v")));
    }

    #[test]
    fn client_ip_and_path_keys() {
        let headers = HeaderMap::new();
        let mut request = target(&headers, "/a/b");
        assert_eq!(PathKey.hash(&request), Some(stable_hash(b"/a/b")));
        let v4 = ClientIpKey.hash(&request);
        request.client = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().into();
        assert_eq!(ClientIpKey.hash(&request), v4);
        request.client = Ipv6Addr::LOCALHOST.into();
        assert_ne!(ClientIpKey.hash(&request), v4);
    }

    #[test]
    fn a_tunnel_has_only_the_client_ip() {
        let tunnel = Target::tunnel(Ipv4Addr::new(192, 0, 2, 7).into());
        let headers = HeaderMap::new();
        assert_eq!(
            ClientIpKey.hash(&tunnel),
            ClientIpKey.hash(&target(&headers, "/"))
        );
        assert_eq!(USER.hash(&tunnel), None);
        assert_eq!(CookieKey::new("sid").hash(&tunnel), None);
        assert_eq!(PathKey.hash(&tunnel), None);
    }
}
