//! `access`: allows or denies clients by IP address, nginx style.
//!
//! Rules are tried in order and the first whose network holds the client's address decides.
//! When none does, the client is denied if any rule allows (a list of who may call), else
//! allowed (a list of who may not). Denied clients get 403. An IPv4-mapped IPv6 client
//! (`::ffff:192.0.2.7`) is compared as its IPv4 address, and a rule on an IPv4-mapped network
//! (prefix 96 or more) as the IPv4 network; otherwise IPv4 rules only hold IPv4 clients and
//! IPv6 rules IPv6 clients (`::/0` is every IPv6 client, not every client).

use std::{
    future::{ready, Future},
    net::IpAddr,
};

use crate::{
    cidr::{Cidr, Net},
    respond, Cx, Policy, Request, Response,
};

/// An `access` policy as written in the `.edge` file.
#[derive(Debug)]
pub struct AccessSpec {
    pub name: &'static str,
    pub rules: &'static [AccessRule],
}

/// Allows or denies the clients of one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    pub allow: bool,
    pub net: Cidr,
}

/// The `access` policy.
pub struct Access {
    spec: &'static AccessSpec,
    rules: Box<[(bool, Net)]>,
    /// The decision when no rule matches.
    otherwise: bool,
}

impl Access {
    pub fn new(spec: &'static AccessSpec) -> Access {
        Access {
            spec,
            rules: spec
                .rules
                .iter()
                .map(|rule| (rule.allow, rule.net.net()))
                .collect(),
            otherwise: !spec.rules.iter().any(|rule| rule.allow),
        }
    }

    /// Whether `ip` may call the route.
    fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.rules
            .iter()
            .find(|(_, net)| net.holds_canonical(ip))
            .map_or(self.otherwise, |(allow, _)| *allow)
    }
}

impl Policy for Access {
    type Ticket = ();

    fn request(
        &self,
        _: &mut Request,
        cx: &Cx,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        let client = cx.client().ip();
        ready(if self.allows(client) {
            Ok(())
        } else {
            tracing::debug!(policy = self.spec.name, %client, "access denied");
            Err(respond(403, "403 Forbidden\n"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{host_name::HostName, RequestBody};
    use bytes::Bytes;
    use http::{HeaderValue, StatusCode};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    static OFFICE: AccessSpec = AccessSpec {
        name: "office",
        rules: &[
            AccessRule {
                allow: false,
                net: v4(10, 1, 2, 3, 32),
            },
            AccessRule {
                allow: true,
                net: v4(10, 0, 0, 0, 8),
            },
            AccessRule {
                allow: true,
                net: Cidr {
                    addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)),
                    prefix: 32,
                },
            },
        ],
    };

    static BLOCKLIST: AccessSpec = AccessSpec {
        name: "blocklist",
        rules: &[
            AccessRule {
                allow: false,
                net: v4(192, 0, 2, 0, 24),
            },
            AccessRule {
                allow: false,
                net: Cidr {
                    addr: IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc633, 0x6400)),
                    prefix: 120,
                },
            },
        ],
    };

    fn allowed(access: &Access, client: &str) -> bool {
        access.allows(client.parse().unwrap())
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let access = Access::new(&OFFICE);
        assert!(allowed(&access, "10.9.8.7"));
        assert!(!allowed(&access, "10.1.2.3"));
        assert!(allowed(&access, "10.1.2.4"));
        assert!(allowed(&access, "2001:db8:1::5"));
        assert!(allowed(&access, "::ffff:10.9.8.7"));
        assert!(!allowed(&access, "::ffff:10.1.2.3"));
    }

    #[test]
    fn with_an_allow_rule_others_are_denied_else_allowed() {
        let office = Access::new(&OFFICE);
        assert!(!allowed(&office, "192.0.2.1"));
        assert!(!allowed(&office, "2001:db9::1"));
        let blocklist = Access::new(&BLOCKLIST);
        assert!(!allowed(&blocklist, "192.0.2.200"));
        assert!(allowed(&blocklist, "192.0.3.1"));
        assert!(allowed(&blocklist, "2001:db8::1"));
        // The mapped rule is 198.51.100.0/24.
        assert!(!allowed(&blocklist, "198.51.100.9"));
        assert!(!allowed(&blocklist, "::ffff:198.51.100.9"));
    }

    #[test]
    fn prefixes_zero_and_full() {
        let spec = Box::leak(Box::new(AccessSpec {
            name: "edges",
            rules: Box::leak(Box::new([
                AccessRule {
                    allow: true,
                    net: v4(203, 0, 113, 5, 40),
                },
                AccessRule {
                    allow: false,
                    net: v4(0, 0, 0, 0, 0),
                },
                AccessRule {
                    allow: true,
                    net: Cidr {
                        addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        prefix: 0,
                    },
                },
            ])),
        }));
        let access = Access::new(spec);
        assert!(allowed(&access, "203.0.113.5"));
        assert!(!allowed(&access, "203.0.113.6"));
        assert!(allowed(&access, "2001:db8::1"));
    }

    #[tokio::test]
    async fn a_denied_client_gets_403() {
        let access = Access::new(&OFFICE);
        let mut req = http::Request::get("/")
            .body(RequestBody::full(Bytes::new()))
            .unwrap();
        let cx = |client: &str| {
            Cx::new(
                "web",
                client.parse().unwrap(),
                HeaderValue::from_static("-"),
                HostName::EMPTY,
                false,
            )
        };
        let response = access
            .request(&mut req, &cx("192.0.2.1:5000"))
            .await
            .unwrap_err();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(access
            .request(&mut req, &cx("[::ffff:10.0.0.1]:5000"))
            .await
            .is_ok());
    }
}
