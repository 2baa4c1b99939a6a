//! Networks of IP addresses (`10.0.0.0/8`, `2001:db8::/32`), as the `access` policy and a
//! listener's `trusted_proxies` name them. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`)
//! is compared as its IPv4 address, and a network of such addresses (prefix 96 or more) as
//! the IPv4 network; otherwise IPv4 networks only hold IPv4 addresses and IPv6 networks IPv6
//! ones.

use std::net::IpAddr;

pub(crate) use edge_formats::net::Net;

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
        self.net().holds(ip)
    }

    /// The network as masks.
    pub(crate) fn net(&self) -> Net {
        Net::new(self.addr, self.prefix)
    }
}
