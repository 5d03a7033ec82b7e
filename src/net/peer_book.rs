//! The peer book: the peers this node has known, where they were reached and how often,
//! kept across restarts so a node with no bootstrap entry rejoins from it alone.
//!
//! Bounded on every axis: at most [`MAX_PEERS`] peers (the one seen longest ago goes
//! first), [`MAX_ADDRS_PER_PEER`] addresses each (the oldest goes first), and addresses no
//! longer than [`MAX_ADDR_LEN`]. What a peer says about itself is not believed blindly:
//! a loopback address is kept only when it was learned over loopback, and a private one
//! (RFC 1918, CGNAT, link-local, IPv6 ULA) only when learned over the same private
//! range: a peer on the internet advertising `127.0.0.1` or `10.0.0.1` cannot make this
//! node dial its own machine or LAN. Documentation ranges count as public (the network
//! lab's internet is 203.0.113.0/24).
//!
//! Held by the network task; written through [`crate::store`] (a typed table, one JSON
//! record per peer) without waiting for durability: what is lost to a crash is relearned.

use std::collections::HashMap;
use std::net::IpAddr;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::infra::store::{Store, StoreError, Table};

/// The table holding the book, one record per peer id.
pub const PEER_BOOK_TABLE: &str = "peer_book_v1";
/// Most peers kept.
pub const MAX_PEERS: usize = 256;
/// Most addresses kept per peer.
pub const MAX_ADDRS_PER_PEER: usize = 4;
/// Longest address kept, in bytes of its text form.
pub const MAX_ADDR_LEN: usize = 256;
/// Peers dialled at start when no bootstrap is configured.
pub const REJOIN_DIALS: usize = 8;

/// Where an address was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// This node dialled it and the connection opened.
    Dialed,
    /// The peer's own listen addresses (identify).
    Identify,
    /// Local network discovery.
    Mdns,
    /// A configured bootstrap address.
    Bootstrap,
    /// The peer's presence announcement (gossip, possibly relayed by others).
    Announcement,
    /// A relayed (`/p2p-circuit`) address the peer announced: reachable through a relay.
    Relay,
}

/// One remembered address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookAddr {
    pub addr: String,
    pub source: Source,
    /// Unix ms when it was last learned or used.
    pub seen_ms: u64,
}

/// One remembered peer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BookEntry {
    pub addrs: Vec<BookAddr>,
    /// Unix ms of the last connection (opened or closed).
    pub last_seen_ms: u64,
    /// Connections opened.
    pub successes: u32,
    /// Dials that failed.
    pub failures: u32,
}

/// The book: in memory, written through to its table.
pub struct PeerBook {
    table: Option<Table<BookEntry>>,
    entries: HashMap<PeerId, BookEntry>,
}

impl std::fmt::Debug for PeerBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerBook")
            .field("peers", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// How far an address reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Loopback,
    /// A private range, numbered so two addresses compare equal when in the same range.
    Private(u8),
    Public,
}

fn scope_of_ip(ip: IpAddr) -> Scope {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() || v4.is_unspecified() {
                Scope::Loopback
            } else if a == 10 {
                Scope::Private(0)
            } else if a == 172 && (16..32).contains(&b) {
                Scope::Private(1)
            } else if a == 192 && b == 168 {
                Scope::Private(2)
            } else if a == 100 && (64..128).contains(&b) {
                Scope::Private(3)
            } else if v4.is_link_local() {
                Scope::Private(4)
            } else {
                Scope::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() || v6.is_unspecified() {
                Scope::Loopback
            } else if first & 0xfe00 == 0xfc00 {
                Scope::Private(5)
            } else if first & 0xffc0 == 0xfe80 {
                Scope::Private(6)
            } else if let Some(v4) = v6.to_ipv4_mapped() {
                scope_of_ip(v4.into())
            } else {
                Scope::Public
            }
        }
    }
}

/// The scope of an address's first component; names (`/dns4`...) are public.
fn scope(addr: &Multiaddr) -> Scope {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => scope_of_ip(ip.into()),
        Some(Protocol::Ip6(ip)) => scope_of_ip(ip.into()),
        _ => Scope::Public,
    }
}

/// Whether `addr` is publicly routable by Hearth's rule: anything but loopback, RFC 1918,
/// CGNAT (100.64/10), link-local and IPv6 ULA/link-local; names count as public.
pub fn is_public(addr: &Multiaddr) -> bool {
    scope(addr) == Scope::Public
}

/// Whether this node should dial `addr`, a peer's claim: public addresses, and private or
/// loopback ones only when this node itself listens in that scope (a lying peer cannot
/// point it at 127.0.0.1 or at a LAN it is not on).
pub fn dialable(addr: &Multiaddr, own: &[Multiaddr]) -> bool {
    if addr.to_string().len() > MAX_ADDR_LEN {
        return false;
    }
    match scope(addr) {
        Scope::Public => true,
        s => own.iter().any(|o| scope(o) == s),
    }
}

/// Whether `addr` may be kept when learned over `over` (the address the information came
/// through; `None`: from afar, as gossip).
fn admissible(addr: &Multiaddr, over: Option<&Multiaddr>) -> bool {
    if addr.to_string().len() > MAX_ADDR_LEN {
        return false;
    }
    match scope(addr) {
        Scope::Public => true,
        Scope::Loopback => over.is_some_and(|o| scope(o) == Scope::Loopback),
        private => over.is_some_and(|o| {
            let s = scope(o);
            s == private || s == Scope::Loopback
        }),
    }
}

fn strip_p2p(mut a: Multiaddr) -> Multiaddr {
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

impl PeerBook {
    /// Opens the book stored in `store`; undecodable records are skipped.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        let table = store.table::<BookEntry>(PEER_BOOK_TABLE)?;
        let mut entries = HashMap::new();
        for (key, mut entry) in table.entries()? {
            match key.parse::<PeerId>() {
                Ok(peer) => {
                    entry.addrs.truncate(MAX_ADDRS_PER_PEER);
                    entries.insert(peer, entry);
                }
                Err(_) => table.delete(&key)?,
            }
        }
        let mut book = Self {
            table: Some(table),
            entries,
        };
        while book.entries.len() > MAX_PEERS {
            book.evict_one();
        }
        Ok(book)
    }

    /// A book kept in memory only.
    pub fn in_memory() -> Self {
        Self {
            table: None,
            entries: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Peers a connection was ever opened with (presence keeps room for them).
    pub fn connected_once(&self) -> Vec<PeerId> {
        self.entries
            .iter()
            .filter(|(_, e)| e.successes > 0)
            .map(|(p, _)| *p)
            .collect()
    }

    pub fn get(&self, peer: &PeerId) -> Option<&BookEntry> {
        self.entries.get(peer)
    }

    /// Remembers `addrs` of `peer` from `source`, learned over `over` (see the module
    /// documentation; private addresses from mDNS are taken as learned on their LAN). A peer is added only with at least one admissible address.
    pub fn learn(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
        source: Source,
        over: Option<&Multiaddr>,
        now_ms: u64,
    ) {
        let admitted: Vec<Multiaddr> = addrs
            .into_iter()
            // A flood of addresses is cut before it costs anything.
            .take(4 * MAX_ADDRS_PER_PEER)
            .map(strip_p2p)
            .filter(|a| {
                // mDNS answers come from the LAN itself: its private addresses stand.
                let lan = source == Source::Mdns && matches!(scope(a), Scope::Private(_));
                admissible(a, if lan { Some(a) } else { over })
            })
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        if admitted.is_empty() {
            return;
        }
        if !self.entries.contains_key(&peer) && self.entries.len() >= MAX_PEERS {
            self.evict_one();
        }
        let entry = self.entries.entry(peer).or_default();
        let before = entry.clone();
        for addr in admitted {
            let text = addr.to_string();
            match entry.addrs.iter_mut().find(|a| a.addr == text) {
                Some(known) => {
                    known.seen_ms = now_ms;
                    // What worked outranks what was said.
                    if known.source != Source::Dialed {
                        known.source = source;
                    }
                }
                None => entry.addrs.push(BookAddr {
                    addr: text,
                    source,
                    seen_ms: now_ms,
                }),
            }
        }
        entry.addrs.sort_by(|a, b| {
            (b.source == Source::Dialed, b.seen_ms).cmp(&(a.source == Source::Dialed, a.seen_ms))
        });
        entry.addrs.truncate(MAX_ADDRS_PER_PEER);
        if *entry != before {
            self.persist(&peer);
        }
    }

    /// A connection to `peer` opened; `dialed` is the address this node dialled, if it did.
    pub fn connected(&mut self, peer: PeerId, dialed: Option<&Multiaddr>, now_ms: u64) {
        if let Some(addr) = dialed {
            self.learn(peer, [addr.clone()], Source::Dialed, Some(addr), now_ms);
        }
        if let Some(entry) = self.entries.get_mut(&peer) {
            entry.successes = entry.successes.saturating_add(1);
            entry.last_seen_ms = now_ms;
            self.persist(&peer);
        }
    }

    /// The last connection to `peer` closed.
    pub fn disconnected(&mut self, peer: PeerId, now_ms: u64) {
        if let Some(entry) = self.entries.get_mut(&peer) {
            entry.last_seen_ms = now_ms;
            self.persist(&peer);
        }
    }

    /// A dial to `peer` failed.
    pub fn dial_failed(&mut self, peer: PeerId) {
        if let Some(entry) = self.entries.get_mut(&peer) {
            entry.failures = entry.failures.saturating_add(1);
            self.persist(&peer);
        }
    }

    /// Forgets `peer` (blocked).
    pub fn forget(&mut self, peer: &PeerId) {
        if self.entries.remove(peer).is_some() {
            if let Some(table) = &self.table {
                if let Err(e) = table.delete(&peer.to_string()) {
                    tracing::warn!("cannot update the peer book: {e}");
                }
            }
        }
    }

    /// Up to `n` peers to dial, seen most recently first, with their addresses.
    pub fn freshest(&self, n: usize) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut peers: Vec<(&PeerId, &BookEntry)> = self.entries.iter().collect();
        peers.sort_by_key(|(_, e)| std::cmp::Reverse(e.last_seen_ms));
        peers
            .into_iter()
            .filter_map(|(peer, e)| {
                let addrs: Vec<Multiaddr> =
                    e.addrs.iter().filter_map(|a| a.addr.parse().ok()).collect();
                (!addrs.is_empty()).then_some((*peer, addrs))
            })
            .take(n)
            .collect()
    }

    /// Drops the peer seen longest ago (of two seen as long ago, the one failing more).
    fn evict_one(&mut self) {
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (e.last_seen_ms, std::cmp::Reverse(e.failures)))
            .map(|(p, _)| *p);
        if let Some(peer) = victim {
            self.forget(&peer);
        }
    }

    fn persist(&self, peer: &PeerId) {
        let (Some(table), Some(entry)) = (&self.table, self.entries.get(peer)) else {
            return;
        };
        if let Err(e) = table.insert(&peer.to_string(), entry) {
            tracing::warn!("cannot update the peer book: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_loopback_addresses_are_kept_only_when_learned_on_that_network() {
        let mut book = PeerBook::in_memory();
        let peer = PeerId::random();
        let lying = [
            ma("/ip4/127.0.0.1/tcp/1"),
            ma("/ip4/10.0.0.1/tcp/1"),
            ma("/ip4/192.168.1.2/tcp/1"),
            ma("/ip6/::1/tcp/1"),
            ma("/ip6/fe80::1/tcp/1"),
        ];
        // Over the internet: none of them.
        let internet = ma("/ip4/203.0.113.10/tcp/4001");
        book.learn(peer, lying.clone(), Source::Identify, Some(&internet), 1);
        assert!(book.get(&peer).is_none());
        // From gossip: none either.
        book.learn(peer, lying.clone(), Source::Announcement, None, 1);
        assert!(book.get(&peer).is_none());
        // Over a 10/8 LAN: the 10/8 address only.
        book.learn(
            peer,
            lying.clone(),
            Source::Identify,
            Some(&ma("/ip4/10.0.0.7/tcp/4001")),
            2,
        );
        let kept: Vec<&str> = book
            .get(&peer)
            .unwrap()
            .addrs
            .iter()
            .map(|a| a.addr.as_str())
            .collect();
        assert_eq!(kept, ["/ip4/10.0.0.1/tcp/1"]);
        // Over loopback (same machine): all of them, bounded.
        book.learn(
            peer,
            lying,
            Source::Identify,
            Some(&ma("/ip4/127.0.0.1/tcp/9")),
            3,
        );
        assert_eq!(book.get(&peer).unwrap().addrs.len(), MAX_ADDRS_PER_PEER);
        // Public addresses and names are kept from anywhere.
        let other = PeerId::random();
        book.learn(
            other,
            [ma("/ip4/203.0.113.5/tcp/1"), ma("/dns4/example.org/tcp/1")],
            Source::Announcement,
            None,
            4,
        );
        assert_eq!(book.get(&other).unwrap().addrs.len(), 2);
    }

    #[test]
    fn thousands_of_addresses_and_peers_stay_bounded_and_the_oldest_go() {
        let mut book = PeerBook::in_memory();
        let flood: Vec<Multiaddr> = (0..5000u32)
            .map(|i| ma(&format!("/ip4/203.0.{}.{}/tcp/1", i / 256 % 256, i % 256)))
            .collect();
        let liar = PeerId::random();
        book.learn(liar, flood, Source::Identify, None, 1);
        assert_eq!(book.get(&liar).unwrap().addrs.len(), MAX_ADDRS_PER_PEER);

        let mut first = None;
        for i in 0..(MAX_PEERS as u64 + 50) {
            let peer = PeerId::random();
            first.get_or_insert(peer);
            book.learn(
                peer,
                [ma("/ip4/203.0.113.1/tcp/1")],
                Source::Identify,
                None,
                10 + i,
            );
            book.connected(peer, None, 10 + i);
        }
        assert_eq!(book.len(), MAX_PEERS);
        assert!(
            book.get(&first.unwrap()).is_none(),
            "the oldest was evicted"
        );
        assert!(book.get(&liar).is_none());
    }

    #[test]
    fn freshest_first_and_dialed_addresses_outrank_others() {
        let mut book = PeerBook::in_memory();
        let (old, new) = (PeerId::random(), PeerId::random());
        book.learn(
            old,
            [ma("/ip4/203.0.113.1/tcp/1")],
            Source::Identify,
            None,
            1,
        );
        book.connected(old, None, 5);
        book.learn(
            new,
            [ma("/ip4/203.0.113.2/tcp/1")],
            Source::Identify,
            None,
            1,
        );
        let dialed = ma("/ip4/203.0.113.2/tcp/2");
        book.connected(new, Some(&dialed), 9);
        let order: Vec<PeerId> = book.freshest(10).into_iter().map(|(p, _)| p).collect();
        assert_eq!(order, [new, old]);
        let entry = book.get(&new).unwrap();
        assert_eq!(entry.addrs[0].addr, dialed.to_string());
        assert_eq!(entry.addrs[0].source, Source::Dialed);
        assert_eq!(entry.successes, 1);
        book.dial_failed(new);
        assert_eq!(book.get(&new).unwrap().failures, 1);
    }

    #[tokio::test]
    async fn the_book_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let peer = PeerId::random();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut book = PeerBook::open(&store).unwrap();
            book.learn(
                peer,
                [ma("/ip4/203.0.113.9/tcp/4001")],
                Source::Bootstrap,
                None,
                7,
            );
            book.connected(peer, None, 8);
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let book = PeerBook::open(&store).unwrap();
        let entry = book.get(&peer).unwrap();
        assert_eq!(entry.last_seen_ms, 8);
        assert_eq!(entry.addrs[0].source, Source::Bootstrap);
        assert_eq!(book.freshest(1)[0].0, peer);
    }
}
