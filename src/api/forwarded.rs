//! Who sent a request.
//!
//! By default the client is the socket's peer. When the peer is one of
//! `TRUSTED_PROXIES`, the client is read from the header those proxies
//! write (`X-Forwarded-For`, or `Forwarded` with `TRUSTED_PROXY_HEADER`):
//! walking its addresses from the right, each trusted one is a proxy that
//! handed the request on, and the first that is not trusted is the
//! client. Everything left of it was written by the client itself, so it
//! is never believed, and neither is any header from a peer that is not
//! trusted. An entry that is not an address (`unknown`, an obfuscated
//! name, garbage) ends the walk: the client is then the last proxy that
//! was walked, since nothing further can be vouched for.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use poem::http::HeaderMap;
use poem::web::RemoteAddr;

use crate::client::Client;
use crate::config::{ForwardedHeader, TrustedProxies};

/// The client of a request from `peer` with `headers`.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Client {
    if !trusted.contains(peer) {
        return Client::new(peer);
    }
    let hops = match trusted.header {
        ForwardedHeader::XForwardedFor => forwarded_for(headers),
        ForwardedHeader::Forwarded => forwarded(headers),
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(addr) if trusted.contains(*addr) => client = *addr,
            Some(addr) => return Client::new(*addr),
            None => break,
        }
    }
    Client::new(client)
}

/// The peer's address as poem reports it; unspecified when there is none
/// (a request built in-process).
pub fn peer_of(remote: &RemoteAddr) -> IpAddr {
    remote
        .as_socket_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), SocketAddr::ip)
}

/// Every `X-Forwarded-For` entry, left to right, over all its header
/// lines; `None` for one that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("\u{0}").split(','))
        .map(|entry| address(entry.trim()))
        .collect()
}

/// The `for=` of every RFC 7239 `Forwarded` element, left to right; `None`
/// for an element without one, or whose node is not an address.
fn forwarded(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("\u{0}").split(','))
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"'))
            })
        })
        .map(|node| node.and_then(address))
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1` or `[2001:db8::1]:4711`.
fn address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;

    fn trusted(ranges: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect(), header)
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn client(peer: &str, headers: &HeaderMap, trusted: &TrustedProxies) -> String {
        client_of(peer.parse().unwrap(), headers, trusted).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::default();
        let claims = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(client("198.51.100.1", &claims, &none), "198.51.100.1");
        let other = trusted(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(client("198.51.100.1", &claims, &other), "198.51.100.1");
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // The client forged the first entry; the edge proxy appended the
        // real one, and an inner proxy its own.
        let chain = headers("x-forwarded-for", &["1.2.3.4, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(client("10.0.0.6", &chain, &proxies), "203.0.113.9");
        // Only proxies: the left-most of them.
        let inner = headers("x-forwarded-for", &["10.0.0.9, 10.0.0.5"]);
        assert_eq!(client("10.0.0.6", &inner, &proxies), "10.0.0.9");
        // No header: the proxy itself.
        assert_eq!(client("10.0.0.6", &HeaderMap::new(), &proxies), "10.0.0.6");
    }

    #[test]
    fn an_entry_that_is_no_address_ends_the_walk_at_the_last_proxy() {
        let proxies = trusted(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let garbage = headers("x-forwarded-for", &["203.0.113.9, nonsense, 10.0.0.5"]);
        assert_eq!(client("10.0.0.6", &garbage, &proxies), "10.0.0.5");
    }

    #[test]
    fn ports_and_brackets_are_understood() {
        let proxies = trusted(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        for (entry, expected) in [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("[2001:db8::7]:4711", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7", "2001:db8::7"),
        ] {
            let value = headers("x-forwarded-for", &[entry]);
            assert_eq!(client("10.0.0.6", &value, &proxies), expected, "{entry}");
        }
    }

    #[test]
    fn forwarded_is_read_when_configured_and_only_then() {
        let proxies = trusted(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let mut both = headers(
            "forwarded",
            &["for=1.2.3.4;proto=http, For=\"[2001:db8::7]:4711\";by=10.0.0.5"],
        );
        both.append("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        assert_eq!(client("10.0.0.6", &both, &proxies), "2001:db8::7");
        let hidden = headers("forwarded", &["for=203.0.113.9, for=_hidden"]);
        assert_eq!(client("10.0.0.6", &hidden, &proxies), "10.0.0.6");
        let xff = trusted(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(client("10.0.0.6", &both, &xff), "198.51.100.1");
    }
}
