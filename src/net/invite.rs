//! Invites: a line of text a user copies to a friend, who pastes it to join.
//!
//! An invite names one peer (the inviter) and up to [`MAX_ADDRS`] addresses to reach it,
//! best first: addresses the internet confirmed, relayed ones, public listen addresses,
//! then the LAN and this computer. It carries the inviter's display name as a hint for the
//! joiner's screen; nothing in it is trusted beyond that: the connection's Noise handshake
//! proves the peer id, so an edited address can only fail, never reach someone else.
//!
//! Text form: `hearth:invite/` followed by base64url (no padding) of
//! `[version 1][peer id length][peer id][name length][name][address count]` and then each
//! address as `[length][multiaddr bytes]`, lengths one byte each. About 200 characters for
//! a node with four addresses. Decoding is bounded ([`MAX_TEXT`], [`MAX_ADDRS`],
//! [`MAX_NAME`]) and every length is checked against what is left.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use super::peer_book::is_public;

/// What every invite starts with.
pub const PREFIX: &str = "hearth:invite/";
/// Most addresses in an invite.
pub const MAX_ADDRS: usize = 8;
/// Longest name kept, in bytes.
pub const MAX_NAME: usize = 64;
/// Longest invite text accepted.
pub const MAX_TEXT: usize = 4096;
const VERSION: u8 = 1;

/// Why an invite could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("that is not a Hearth invite (it starts with \"{PREFIX}\")")]
    NotAnInvite,
    #[error("the invite is damaged (was it copied whole?): {0}")]
    Damaged(&'static str),
    #[error("the invite is from a newer Hearth (format {0}); update Hearth to use it")]
    NewerVersion(u8),
    #[error("the invite has no address to reach its peer")]
    NoAddress,
}

/// How far an invite reaches, judged from its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A public address: anyone on the internet can dial it.
    Internet,
    /// Only through a relay: works from anywhere while the relay keeps the slot.
    Relayed,
    /// Only private addresses: works on the same network.
    LocalNetwork,
    /// Only loopback: works on this computer.
    ThisComputer,
}

impl Reach {
    pub fn name(self) -> &'static str {
        match self {
            Reach::Internet => "internet",
            Reach::Relayed => "relayed",
            Reach::LocalNetwork => "local_network",
            Reach::ThisComputer => "this_computer",
        }
    }

    /// One sentence for the inviter about who can use the invite.
    pub fn explain(self) -> &'static str {
        match self {
            Reach::Internet => "Anyone on the internet can join with this invite.",
            Reach::Relayed => {
                "Your node is behind a router; this invite reaches it through a relay, so it \
                 works from anywhere while that relay is up. Hearth then tries to connect you \
                 directly."
            }
            Reach::LocalNetwork => {
                "This invite works only on your local network: no relay holds a slot for your \
                 node yet. Connect to a public Hearth node (a bootstrap address) so people \
                 elsewhere can join."
            }
            Reach::ThisComputer => {
                "This invite works only on this computer: your node listens on loopback only. \
                 Listen on a network address (Settings, listen addresses) to invite others."
            }
        }
    }
}

/// A decoded invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub peer: PeerId,
    /// The inviter's display name when it was made (a hint, not proof).
    pub name: String,
    /// Addresses without the trailing `/p2p/<peer>`, best first.
    pub addrs: Vec<Multiaddr>,
}

impl Invite {
    /// An invite to `peer` from what its node knows of its own addresses: `external`
    /// (confirmed reachable by others) and `listen` (including relayed ones).
    pub fn new(peer: PeerId, name: &str, external: &[Multiaddr], listen: &[Multiaddr]) -> Self {
        let mut ranked: Vec<(u8, Multiaddr)> = Vec::new();
        let mut add = |rank: u8, addr: &Multiaddr| {
            let addr = without_peer(addr, peer);
            if addr.is_empty() || ranked.iter().any(|(_, a)| *a == addr) {
                return;
            }
            ranked.push((rank, addr));
        };
        for a in external.iter().filter(|a| !is_relayed(a)) {
            add(0, a);
        }
        for a in listen {
            let rank = if is_relayed(a) {
                1
            } else if is_public(a) {
                2
            } else if is_loopback(a) {
                4
            } else {
                3
            };
            add(rank, a);
        }
        // Stable: within a rank, the order the node knows them in.
        ranked.sort_by_key(|(rank, _)| *rank);
        Invite {
            peer,
            name: truncate(name, MAX_NAME).to_owned(),
            addrs: ranked.into_iter().map(|(_, a)| a).take(MAX_ADDRS).collect(),
        }
    }

    /// How far this invite reaches.
    pub fn reach(&self) -> Reach {
        if self.addrs.iter().any(|a| !is_relayed(a) && is_public(a)) {
            Reach::Internet
        } else if self.addrs.iter().any(is_relayed) {
            Reach::Relayed
        } else if self.addrs.iter().any(|a| !is_loopback(a)) {
            Reach::LocalNetwork
        } else {
            Reach::ThisComputer
        }
    }

    /// The addresses to dial, each ending in `/p2p/<peer>`.
    pub fn dial_addrs(&self) -> Vec<Multiaddr> {
        self.addrs
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer)))
            .collect()
    }

    /// The text to copy.
    pub fn encode(&self) -> String {
        let mut out = vec![VERSION];
        let peer = self.peer.to_bytes();
        out.push(peer.len() as u8);
        out.extend_from_slice(&peer);
        let name = truncate(&self.name, MAX_NAME).as_bytes();
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        let addrs: Vec<Vec<u8>> = self
            .addrs
            .iter()
            .map(|a| a.to_vec())
            .filter(|b| b.len() <= usize::from(u8::MAX))
            .take(MAX_ADDRS)
            .collect();
        out.push(addrs.len() as u8);
        for a in addrs {
            out.push(a.len() as u8);
            out.extend_from_slice(&a);
        }
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Reads an invite as pasted: surrounding spaces, line breaks inside (mail clients wrap
    /// long lines) and a `hearth://invite/` spelling are all accepted.
    pub fn decode(text: &str) -> Result<Self, InviteError> {
        if text.len() > MAX_TEXT {
            return Err(InviteError::Damaged("it is far too long"));
        }
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let body = compact
            .strip_prefix(PREFIX)
            .or_else(|| compact.strip_prefix("hearth://invite/"))
            .ok_or(InviteError::NotAnInvite)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body.trim_end_matches('='))
            .map_err(|_| InviteError::Damaged("it has characters an invite never has"))?;
        let mut r = Reader(&bytes);
        let version = r.byte()?;
        if version != VERSION {
            return Err(InviteError::NewerVersion(version));
        }
        let peer_len = r.byte()?;
        let peer = PeerId::from_bytes(r.take(peer_len)?)
            .map_err(|_| InviteError::Damaged("its peer id is not valid"))?;
        let name_len = r.byte()?;
        if usize::from(name_len) > MAX_NAME {
            return Err(InviteError::Damaged("its name is too long"));
        }
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| InviteError::Damaged("its name is not text"))?
            .to_owned();
        let count = r.byte()?;
        if usize::from(count) > MAX_ADDRS {
            return Err(InviteError::Damaged("it lists too many addresses"));
        }
        let mut addrs = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let len = r.byte()?;
            let addr = Multiaddr::try_from(r.take(len)?.to_vec())
                .map_err(|_| InviteError::Damaged("one of its addresses is not valid"))?;
            addrs.push(without_peer(&addr, peer));
        }
        if !r.0.is_empty() {
            return Err(InviteError::Damaged("it has bytes after its end"));
        }
        addrs.retain(|a| !a.is_empty());
        if addrs.is_empty() {
            return Err(InviteError::NoAddress);
        }
        Ok(Invite { peer, name, addrs })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, InviteError> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, n: u8) -> Result<&'a [u8], InviteError> {
        let n = usize::from(n);
        if self.0.len() < n {
            return Err(InviteError::Damaged("it is cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// `addr` without a trailing `/p2p/<peer>` (a relayed address keeps its relay's id).
fn without_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    let mut a = addr.clone();
    if a.iter().last() == Some(Protocol::P2p(peer)) {
        a.pop();
    }
    a
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranks_confirmed_then_relayed_then_public_then_lan_then_loopback() {
        let me = PeerId::random();
        let relay = PeerId::random();
        let listen = vec![
            a("/ip4/127.0.0.1/tcp/4001"),
            a("/ip4/10.0.1.10/tcp/4001"),
            a(&format!(
                "/ip4/203.0.113.5/tcp/4001/p2p/{relay}/p2p-circuit"
            )),
            a("/ip4/198.51.100.7/udp/4001/quic-v1"),
        ];
        let external = vec![a(&format!("/ip4/203.0.113.9/tcp/4001/p2p/{me}"))];
        let invite = Invite::new(me, "Ada", &external, &listen);
        let shown: Vec<String> = invite.addrs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "/ip4/203.0.113.9/tcp/4001".to_string(),
                format!("/ip4/203.0.113.5/tcp/4001/p2p/{relay}/p2p-circuit"),
                "/ip4/198.51.100.7/udp/4001/quic-v1".into(),
                "/ip4/10.0.1.10/tcp/4001".into(),
                "/ip4/127.0.0.1/tcp/4001".into(),
            ]
        );
        assert_eq!(invite.reach(), Reach::Internet);
        assert_eq!(
            invite.dial_addrs()[1].to_string(),
            format!("/ip4/203.0.113.5/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{me}")
        );
    }

    #[test]
    fn round_trips_and_stays_short() {
        let me = PeerId::random();
        let relay = PeerId::random();
        let invite = Invite::new(
            me,
            "Ada Lovelace",
            &[],
            &[
                a(&format!(
                    "/ip4/203.0.113.5/tcp/4001/p2p/{relay}/p2p-circuit"
                )),
                a(&format!(
                    "/ip4/203.0.113.5/udp/4001/quic-v1/p2p/{relay}/p2p-circuit"
                )),
                a("/ip4/10.0.1.10/tcp/4001"),
                a("/ip4/10.0.1.10/udp/4001/quic-v1"),
            ],
        );
        let text = invite.encode();
        assert!(text.starts_with(PREFIX));
        assert!(text.len() < 300, "{} characters: {text}", text.len());
        assert_eq!(Invite::decode(&text), Ok(invite.clone()));
        assert_eq!(invite.reach(), Reach::Relayed);
        // As pasted from a mail that wrapped it, with spaces around.
        let wrapped = format!("  {}\n{}  \n", &text[..60], &text[60..]);
        assert_eq!(Invite::decode(&wrapped), Ok(invite.clone()));
        let link = text.replacen(PREFIX, "hearth://invite/", 1);
        assert_eq!(Invite::decode(&link), Ok(invite));
    }

    #[test]
    fn reach_of_local_invites() {
        let me = PeerId::random();
        let lan = Invite::new(me, "", &[], &[a("/ip4/192.168.1.4/tcp/1")]);
        assert_eq!(lan.reach(), Reach::LocalNetwork);
        let local = Invite::new(me, "", &[], &[a("/ip4/127.0.0.1/tcp/1")]);
        assert_eq!(local.reach(), Reach::ThisComputer);
    }

    #[test]
    fn keeps_at_most_eight_addresses_and_a_short_name() {
        let me = PeerId::random();
        let listen: Vec<Multiaddr> = (0..20)
            .map(|i| a(&format!("/ip4/203.0.113.{i}/tcp/4001")))
            .collect();
        let invite = Invite::new(me, &"é".repeat(100), &[], &listen);
        assert_eq!(invite.addrs.len(), MAX_ADDRS);
        assert!(invite.name.len() <= MAX_NAME);
        let back = Invite::decode(&invite.encode()).unwrap();
        assert_eq!(back.name, invite.name);
    }

    #[test]
    fn bad_text_gets_a_clear_error() {
        let me = PeerId::random();
        let good = Invite::new(me, "x", &[], &[a("/ip4/203.0.113.1/tcp/1")]).encode();
        assert_eq!(
            Invite::decode("/ip4/1.2.3.4/tcp/1"),
            Err(InviteError::NotAnInvite)
        );
        assert!(matches!(
            Invite::decode("hearth:invite/%%%"),
            Err(InviteError::Damaged(_))
        ));
        // Every truncation is refused without a panic.
        for end in PREFIX.len()..good.len() {
            assert!(Invite::decode(&good[..end]).is_err(), "{end}");
        }
        // Trailing bytes, a later version, no addresses, too many addresses.
        let body = |bytes: Vec<u8>| format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let mut raw = URL_SAFE_NO_PAD.decode(&good[PREFIX.len()..]).unwrap();
        raw.push(0);
        assert!(matches!(
            Invite::decode(&body(raw.clone())),
            Err(InviteError::Damaged(_))
        ));
        raw.pop();
        raw[0] = 9;
        assert_eq!(
            Invite::decode(&body(raw)),
            Err(InviteError::NewerVersion(9))
        );
        let peer = me.to_bytes();
        let mut empty = vec![1, peer.len() as u8];
        empty.extend_from_slice(&peer);
        empty.extend_from_slice(&[0, 0]);
        assert_eq!(
            Invite::decode(&body(empty.clone())),
            Err(InviteError::NoAddress)
        );
        empty.pop();
        empty.push(200);
        assert!(matches!(
            Invite::decode(&body(empty)),
            Err(InviteError::Damaged(_))
        ));
        assert!(matches!(
            Invite::decode(&"a".repeat(MAX_TEXT + 1)),
            Err(InviteError::Damaged(_))
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 7u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8
                })
                .collect();
            let _ = Invite::decode(&format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes)));
        }
    }
}
