//! Who a client is, as the per-client limits count it.
//!
//! A client is known by its network address. One IPv4 address is one
//! client. An IPv6 client is its /64: a single host or home network is
//! given a whole /64 and can pick any address in it, so counting single
//! addresses would let it multiply its budget at will. An IPv4 address
//! mapped into IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket reports
//! IPv4 peers) is the IPv4 address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// A client's address, as the service saw it (the peer, or the address a
/// trusted proxy reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(IpAddr);

/// What a client is counted as: its IPv4 address or its IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl Client {
    pub fn new(addr: IpAddr) -> Self {
        Self(addr.to_canonical())
    }

    pub fn addr(self) -> IpAddr {
        self.0
    }

    pub fn key(self) -> ClientKey {
        match self.0 {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey(IpAddr::V6(Ipv6Addr::from(bits)))
            }
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> String {
        Client::new(text.parse().unwrap()).key().to_string()
    }

    #[test]
    fn ipv4_is_one_client_per_address_and_ipv6_one_per_64() {
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn an_ipv4_address_mapped_into_ipv6_is_the_ipv4_address() {
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        let client = Client::new("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(client.to_string(), "192.0.2.7");
    }
}
