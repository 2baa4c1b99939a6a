//! Networks of IP addresses as masks, ready to compare: how the proxy's `access` policy and
//! `trusted_proxies` decide whether a network holds a client, and how the compiler decides it
//! for `edgec explain` and `test` blocks. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`) is
//! compared as its IPv4 address, and a network of such addresses (prefix 96 or more) as the
//! IPv4 network; otherwise IPv4 networks only hold IPv4 addresses and IPv6 networks IPv6 ones.

use std::net::IpAddr;

/// A network: the addresses sharing the first `prefix` bits of an address (a prefix longer
/// than the address counts as the whole address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Net {
    /// The network `addr/prefix`.
    #[inline]
    pub fn new(addr: IpAddr, prefix: u8) -> Net {
        match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Net::v4(u32::from(v4), prefix - 96),
                None => Net::v6(u128::from(v6), prefix),
            },
            IpAddr::V6(v6) => Net::v6(u128::from(v6), prefix),
            IpAddr::V4(v4) => Net::v4(u32::from(v4), prefix),
        }
    }

    fn v4(addr: u32, prefix: u8) -> Net {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0);
        Net::V4 {
            net: addr & mask,
            mask,
        }
    }

    fn v6(addr: u128, prefix: u8) -> Net {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(prefix.min(128)))
            .unwrap_or(0);
        Net::V6 {
            net: addr & mask,
            mask,
        }
    }

    /// Whether the network holds `ip`, already canonical (`IpAddr::to_canonical`: a mapped
    /// address is IPv4), as a caller comparing one address with many networks makes it once.
    #[inline]
    pub fn holds_canonical(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Net::V4 { net, mask }, IpAddr::V4(ip)) => u32::from(ip) & mask == *net,
            (Net::V6 { net, mask }, IpAddr::V6(ip)) => u128::from(ip) & mask == *net,
            _ => false,
        }
    }

    /// Whether the network holds `ip`.
    #[inline]
    pub fn holds(&self, ip: IpAddr) -> bool {
        self.holds_canonical(ip.to_canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_hold_their_addresses_and_mapped_ones_as_ipv4() {
        let ten = Net::new(ip("10.0.0.0"), 8);
        assert!(ten.holds(ip("10.1.2.3")));
        assert!(ten.holds(ip("::ffff:10.1.2.3")));
        assert!(!ten.holds(ip("11.0.0.1")));
        let mapped = Net::new(ip("::ffff:192.0.2.0"), 120);
        assert!(mapped.holds(ip("192.0.2.7")));
        let v6 = Net::new(ip("2001:db8::"), 32);
        assert!(v6.holds(ip("2001:db8::1")));
        assert!(!v6.holds(ip("10.0.0.1")));
        assert!(
            !Net::new(ip("::"), 0).holds(ip("10.0.0.1")),
            "IPv6 rules hold IPv6 clients"
        );
        assert!(Net::new(ip("0.0.0.0"), 0).holds(ip("203.0.113.9")));
        assert!(Net::new(ip("192.0.2.7"), 40).holds(ip("192.0.2.7")));
    }
}
