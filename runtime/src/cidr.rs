//! Networks of IP addresses (`10.0.0.0/8`, `2001:db8::/32`), as the `access` policy and a
//! listener's `trusted_proxies` name them. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`)
//! is compared as its IPv4 address, and a network of such addresses (prefix 96 or more) as
//! the IPv4 network; otherwise IPv4 networks only hold IPv4 addresses and IPv6 networks IPv6
//! ones.

use std::net::IpAddr;

/// A network: the addresses sharing the first `prefix` bits of `addr` (a prefix longer than
/// the address counts as the whole address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Whether the network holds `ip`.
    pub(crate) fn holds(&self, ip: IpAddr) -> bool {
        Net::new(*self).holds(ip.to_canonical())
    }
}

/// A network as masks, ready to compare.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Net {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Net {
    pub(crate) fn new(cidr: Cidr) -> Net {
        match cidr.addr {
            IpAddr::V6(v6) if cidr.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Net::v4(u32::from(v4), cidr.prefix - 96),
                None => Net::v6(u128::from(v6), cidr.prefix),
            },
            IpAddr::V6(v6) => Net::v6(u128::from(v6), cidr.prefix),
            IpAddr::V4(v4) => Net::v4(u32::from(v4), cidr.prefix),
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

    /// Whether the network holds `ip` (already canonical: a mapped address is IPv4).
    pub(crate) fn holds(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Net::V4 { net, mask }, IpAddr::V4(ip)) => u32::from(ip) & mask == *net,
            (Net::V6 { net, mask }, IpAddr::V6(ip)) => u128::from(ip) & mask == *net,
            _ => false,
        }
    }
}
