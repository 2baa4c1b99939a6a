//! Who the client is when a connection comes from a proxy the listener trusts
//! (`trusted_proxies`): the right-most address of `X-Forwarded-For` that is not one of those
//! proxies, as nginx's `real_ip_recursive` reads it. Everything left of it was written by
//! whoever sent the request first and could say anything; everything right of it was added by
//! proxies the listener trusts. From any other peer the field is not believed at all (the
//! forwarding step replaces it).

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName};

use crate::cidr::Cidr;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Whether `peer` is one of `trusted`.
pub(crate) fn trusts(trusted: &[Cidr], peer: IpAddr) -> bool {
    trusted.iter().any(|net| net.holds(peer))
}

/// The client a trusted peer's `X-Forwarded-For` names: walking from the right, the first
/// address not in `trusted`; the left-most when all are. `None` when the field is absent or
/// its last item is not an address, and the peer itself is then the client. Items after one
/// that is not an address are not looked at: nothing trusted vouches for them.
pub(crate) fn real_client(headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let items = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|value| value.as_bytes().rsplit(|&byte| byte == b','));
    let mut client = None;
    for item in items {
        let Some(ip) = address(item.trim_ascii()) else {
            break;
        };
        client = Some(ip);
        if !trusts(trusted, ip) {
            break;
        }
    }
    client
}

/// An item of `X-Forwarded-For`: an address, with or without a port (`[v6]:port`).
fn address(item: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(item).ok()?;
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const LB: Cidr = Cidr {
        addr: IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 0)),
        prefix: 8,
    };

    fn client(fields: &[&str]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for field in fields {
            headers.append("x-forwarded-for", HeaderValue::from_str(field).unwrap());
        }
        real_client(&headers, &[LB]).map(|ip| ip.to_string())
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        assert_eq!(client(&["203.0.113.7"]).as_deref(), Some("203.0.113.7"));
        // The client claims to be someone; the proxies in front of us say who it was.
        assert_eq!(
            client(&["198.51.100.1, 203.0.113.7, 10.1.2.3"]).as_deref(),
            Some("203.0.113.7")
        );
        // Over several fields, in order.
        assert_eq!(
            client(&["198.51.100.1", "203.0.113.7, 10.9.9.9", "10.1.2.3"]).as_deref(),
            Some("203.0.113.7")
        );
        // Only trusted proxies: the left-most is as far as the chain goes.
        assert_eq!(client(&["10.1.1.1, 10.2.2.2"]).as_deref(), Some("10.1.1.1"));
        // Ports and IPv6, as some proxies write them.
        assert_eq!(
            client(&["[2001:db8::7]:4711, 10.1.2.3"]).as_deref(),
            Some("2001:db8::7")
        );
        assert_eq!(
            client(&["203.0.113.7:5555"]).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client(&["::ffff:203.0.113.7"]).as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn what_no_trusted_proxy_vouches_for_is_not_read() {
        assert_eq!(client(&[]), None);
        assert_eq!(client(&["unknown"]), None);
        assert_eq!(client(&["203.0.113.7, garbage"]), None);
        // Garbage left of the client changes nothing; right of a trusted hop it stops the walk.
        assert_eq!(
            client(&["garbage, 203.0.113.7, 10.1.2.3"]).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client(&["203.0.113.7, garbage, 10.1.2.3"]).as_deref(),
            Some("10.1.2.3")
        );
    }
}
