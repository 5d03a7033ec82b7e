//! Which peer-supplied BitTorrent addresses the engine may dial.
//!
//! A holder's addresses come from what it announces (presence, holder records) and a
//! magnet link's `x.pe` from whoever wrote the link. Dialled as given, they would let a peer
//! point this node at services on its own machine or home network. So an address is dialled
//! only on a network we have seen the peer on (the remote IPs of our direct libp2p
//! connections with it): a loopback address only if we reach the peer over loopback, a
//! private or link-local one only if we reach it inside that same private range. Public
//! addresses are always fine: anyone can make us connect to those anyway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The local network an address belongs to, if any: loopback, a private block, link-local,
/// shared address space (CGNAT), an IPv6 unique-local or link-local prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    Loopback,
    V4Block(u32, u8),
    V6Block(u128, u8),
}

fn v4_block(ip: Ipv4Addr) -> Option<Local> {
    let n = u32::from(ip);
    const BLOCKS: [(u32, u8); 5] = [
        (0x0a00_0000, 8),  // 10.0.0.0/8
        (0xac10_0000, 12), // 172.16.0.0/12
        (0xc0a8_0000, 16), // 192.168.0.0/16
        (0xa9fe_0000, 16), // 169.254.0.0/16
        (0x6440_0000, 10), // 100.64.0.0/10
    ];
    BLOCKS
        .iter()
        .find(|(net, len)| n >> (32 - len) == net >> (32 - len))
        .map(|(net, len)| Local::V4Block(*net, *len))
}

fn local_network(ip: IpAddr) -> Option<Local> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(Local::Loopback),
        IpAddr::V4(v4) => v4_block(v4),
        IpAddr::V6(v6) if v6.is_loopback() => Some(Local::Loopback),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => local_network(IpAddr::V4(v4)),
            None => v6_block(v6),
        },
    }
}

fn v6_block(ip: Ipv6Addr) -> Option<Local> {
    let n = u128::from(ip);
    const BLOCKS: [(u128, u8); 2] = [
        (0xfc00 << 112, 7),  // unique local
        (0xfe80 << 112, 10), // link local
    ];
    BLOCKS
        .iter()
        .find(|(net, len)| n >> (128 - len) == net >> (128 - len))
        .map(|(net, len)| Local::V6Block(*net, *len))
}

/// May the engine dial `addr`, given the IPs we have seen the peer at?
pub fn dialable(addr: &SocketAddr, seen: &[IpAddr]) -> bool {
    match local_network(addr.ip()) {
        None => true,
        Some(net) => seen.iter().any(|ip| local_network(*ip) == Some(net)),
    }
}

/// `addrs` without the ones [`dialable`] refuses.
pub fn filter_dialable(addrs: Vec<SocketAddr>, seen: &[IpAddr]) -> Vec<SocketAddr> {
    addrs.into_iter().filter(|a| dialable(a, seen)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_always_dialled() {
        assert!(dialable(&a("1.2.3.4:6881"), &[]));
        assert!(dialable(&a("[2001:db8::1]:6881"), &[ip("127.0.0.1")]));
        assert!(dialable(&a("8.8.8.8:53"), &[ip("192.168.1.2")]));
    }

    #[test]
    fn loopback_only_when_the_peer_is_reached_over_loopback() {
        assert!(!dialable(&a("127.0.0.1:631"), &[]));
        assert!(!dialable(&a("127.0.0.1:631"), &[ip("192.168.1.5")]));
        assert!(!dialable(&a("127.0.0.1:631"), &[ip("1.2.3.4")]));
        assert!(dialable(&a("127.0.0.1:6881"), &[ip("127.0.0.1")]));
        assert!(dialable(&a("127.0.0.2:6881"), &[ip("::1")]));
        assert!(!dialable(&a("[::1]:6881"), &[ip("10.0.0.1")]));
        assert!(!dialable(&a("[::ffff:127.0.0.1]:6881"), &[]));
    }

    #[test]
    fn private_ranges_only_when_the_peer_is_seen_in_that_range() {
        let lan = [ip("192.168.1.20")];
        assert!(dialable(&a("192.168.1.20:6881"), &lan));
        assert!(dialable(&a("192.168.7.9:6881"), &lan));
        assert!(!dialable(&a("10.0.0.1:80"), &lan));
        assert!(!dialable(&a("172.16.0.1:80"), &lan));
        assert!(!dialable(&a("192.168.1.1:80"), &[ip("1.2.3.4")]));
        assert!(!dialable(&a("192.168.1.1:80"), &[ip("127.0.0.1")]));
        assert!(dialable(&a("172.20.1.1:80"), &[ip("172.31.0.2")]));
        assert!(dialable(&a("172.32.0.1:80"), &[]), "172.32/16 is public");
        assert!(!dialable(&a("169.254.1.1:80"), &lan));
        assert!(dialable(&a("100.64.3.3:80"), &[ip("100.127.0.1")]));
        assert!(!dialable(&a("[fd00::1]:80"), &lan));
        assert!(dialable(&a("[fd00::1]:80"), &[ip("fdaa::2")]));
        assert!(!dialable(&a("[fe80::1]:80"), &[ip("fd00::2")]));
    }

    #[test]
    fn filtering_keeps_order_and_drops_only_refused_ones() {
        let got = filter_dialable(
            vec![a("127.0.0.1:1"), a("1.2.3.4:2"), a("10.1.1.1:3")],
            &[ip("10.9.9.9")],
        );
        assert_eq!(got, vec![a("1.2.3.4:2"), a("10.1.1.1:3")]);
    }
}
