//! Who is online: a pure state machine, driven by the network event loop.
//!
//! In: connection opened/closed, ping results, dial failures, signed announcements relayed
//! over gossipsub, fetched profiles, answers to disconnect votes, discovery hints, block
//! changes, and a periodic `Tick`. Out: events for the UI, dials, disconnects, profile
//! fetches and vote requests for the loop to perform. Time is passed in (`now`, Unix ms),
//! so tests drive it deterministically.
//!
//! Deciding "offline" (the seeds' disconnect vote): when our last connection to a peer
//! closes (or two pings in a row fail, which closes it) the peer becomes *suspect*. We redial
//! it and ask the peers we are connected to whether *they* reach it. Each voter answers only
//! from its own live connection and pings, never from hearsay. If at least
//! `suspicion_ratio` of the answers say "unreachable" (or nobody can be asked), the peer is
//! marked offline; otherwise it stays online "via others" for another `offline_after`.
//! A peer that is not connected stays online while fresh signed announcements from it keep
//! arriving; when they stop for `offline_after`, a new vote decides.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::api::dto::{EventKind, PeerInfo, Profile};
use crate::config::PresenceConfig;
use crate::net::protocol::WireProfile;

/// Most peers kept in the table; beyond it the longest-offline peer is forgotten.
pub const MAX_PEERS: usize = 4096;
/// Most addresses kept (and accepted) per peer.
pub const MAX_ADDRS: usize = 8;
/// Longest accepted multiaddress, in bytes of its text form.
const MAX_ADDR_LEN: usize = 256;
/// Consecutive ping failures after which the connection is treated as dead.
const MAX_FAILED_PINGS: u32 = 2;
/// A peer that is not connected is redialled at most this often.
const REDIAL_EVERY_MS: u64 = 5_000;
/// Soonest redial of a peer that announced an address not known before.
const NEW_ADDRS_REDIAL_MS: u64 = 1_000;
/// Most peers asked in one vote.
const MAX_VOTERS: usize = 8;
/// Of [`MAX_PEERS`], the most that may be strangers: peers never connected to and not
/// known (followed, in a room, connected in an earlier run). The rest of the table is kept
/// for known peers, so thousands of announcing identities cannot push them out.
pub const MAX_STRANGERS: usize = 3072;
/// Dials of a stranger per [`STRANGER_DIAL_WINDOW_MS`] while it never answers; known peers
/// are redialled without such a cap.
pub const MAX_STRANGER_DIALS: u32 = 3;
pub const STRANGER_DIAL_WINDOW_MS: u64 = 10 * 60 * 1000;

pub const MAX_DISPLAY_NAME: usize = 64;
pub const MAX_AFFILIATION: usize = 128;
pub const MAX_BIO: usize = 1000;

/// Whether `s` names a profile picture: blake3 of its bytes, 64 lowercase hex digits.
pub fn is_avatar_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a profile from the user or from a peer.
pub fn validate_profile(p: &Profile) -> Result<(), String> {
    for (field, value, max) in [
        ("display name", &p.display_name, MAX_DISPLAY_NAME),
        ("affiliation", &p.affiliation, MAX_AFFILIATION),
        ("bio", &p.bio, MAX_BIO),
    ] {
        if value.chars().count() > max {
            return Err(format!("{field} is longer than {max} characters"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !(field == "bio" && c == '\n'))
        {
            return Err(format!("{field} contains control characters"));
        }
    }
    if let Some(hash) = &p.avatar {
        if !is_avatar_hash(hash) {
            return Err("avatar is not a blake3 hash (64 lowercase hex digits)".into());
        }
    }
    Ok(())
}

/// A node's signed self-announcement, relayed to everyone over gossipsub. Gossipsub signs
/// and authenticates it; `seq` (the author's clock, strictly increasing) defeats replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announce {
    pub seq: u64,
    pub profile: WireProfile,
    pub addrs: Vec<String>,
}

impl Announce {
    /// Largest encoded announcement accepted.
    pub const MAX_BYTES: usize = 4096;

    /// Decodes and validates an announcement from the wire.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(format!(
                "announcement of {} bytes exceeds {}",
                bytes.len(),
                Self::MAX_BYTES
            ));
        }
        let a: Announce = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        validate_profile(&Profile::from(a.profile.clone()))?;
        if a.addrs.len() > MAX_ADDRS {
            return Err(format!("more than {MAX_ADDRS} addresses"));
        }
        for addr in &a.addrs {
            if addr.len() > MAX_ADDR_LEN {
                return Err("address too long".into());
            }
            addr.parse::<Multiaddr>()
                .map_err(|e| format!("bad address {addr:?}: {e}"))?;
        }
        Ok(a)
    }
}

/// Something that happened, fed to [`Presence::handle`].
#[derive(Debug, Clone)]
pub enum Input {
    Connected {
        peer: PeerId,
        addr: Option<Multiaddr>,
        established: u32,
    },
    Disconnected {
        peer: PeerId,
        remaining: u32,
    },
    DialFailed {
        peer: PeerId,
    },
    Ping {
        peer: PeerId,
        rtt: Option<Duration>,
    },
    Announced {
        peer: PeerId,
        announce: Announce,
    },
    ProfileFetched {
        peer: PeerId,
        profile: Profile,
    },
    /// `reachable: None` means the voter did not answer (error or timeout).
    VoteAnswer {
        about: PeerId,
        from: PeerId,
        reachable: Option<bool>,
    },
    Discovered {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    Block {
        peer: PeerId,
    },
    Unblock {
        peer: PeerId,
    },
    Tick,
}

/// Something for the event loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Emit(EventKind),
    Dial { peer: PeerId, addrs: Vec<Multiaddr> },
    Disconnect { peer: PeerId },
    FetchProfile { peer: PeerId },
    AskVote { to: PeerId, about: PeerId },
}

#[derive(Debug, Clone, Default)]
struct PeerState {
    profile: Option<Profile>,
    addrs: Vec<Multiaddr>,
    rtt: Option<Duration>,
    connections: u32,
    online: bool,
    last_seen: Option<u64>,
    last_announce_seq: u64,
    failed_pings: u32,
    /// Online without a connection is trusted until then (a won vote or an announcement).
    vouched_until: u64,
    last_dial: u64,
    blocked: bool,
    /// A connection with the peer opened at some point.
    ever_connected: bool,
    /// Dials in the current window, and when it began (caps the dials of strangers).
    dials: u32,
    dial_window: u64,
}

#[derive(Debug)]
struct Vote {
    started: u64,
    waiting: HashSet<PeerId>,
    reachable: u32,
    unreachable: u32,
}

/// The presence table and the votes in flight.
#[derive(Debug)]
pub struct Presence {
    cfg: PresenceConfig,
    local: PeerId,
    peers: HashMap<PeerId, PeerState>,
    votes: HashMap<PeerId, Vote>,
    /// Peers this node knows (see [`MAX_STRANGERS`]).
    known: HashSet<PeerId>,
    /// Strangers in the table (counted again every tick), and whether no stranger could
    /// be forgotten since the last tick: a flood of newcomers then costs no scan each.
    strangers: usize,
    strangers_full: bool,
    /// Announcements and discoveries of strangers ignored for want of room.
    pub ignored: u64,
    /// Strangers no longer dialled in this window: they never answered their dials.
    pub dials_capped: u64,
}

impl Presence {
    pub fn new(local: PeerId, cfg: PresenceConfig) -> Self {
        Self {
            cfg,
            local,
            peers: HashMap::new(),
            votes: HashMap::new(),
            known: HashSet::new(),
            strangers: 0,
            strangers_full: false,
            ignored: 0,
            dials_capped: 0,
        }
    }

    /// Adds peers this node knows: they are never crowded out of the table by strangers
    /// and are redialled without the strangers' cap.
    pub fn add_known(&mut self, peers: impl IntoIterator<Item = PeerId>) {
        for p in peers {
            if self.known.len() >= MAX_PEERS - MAX_STRANGERS {
                break;
            }
            self.known.insert(p);
        }
    }

    fn is_stranger(&self, peer: &PeerId, st: &PeerState) -> bool {
        !st.ever_connected && st.connections == 0 && !self.known.contains(peer)
    }

    /// Applies one input at time `now` (Unix ms) and returns what to do.
    pub fn handle(&mut self, input: Input, now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Connected {
                peer,
                addr,
                established,
            } => self.on_connected(peer, addr, established, now, &mut out),
            Input::Disconnected { peer, remaining } => {
                self.on_disconnected(peer, remaining, now, &mut out)
            }
            Input::DialFailed { .. } => {} // the vote (or its timeout) decides
            Input::Ping { peer, rtt } => self.on_ping(peer, rtt, now, &mut out),
            Input::Announced { peer, announce } => self.on_announce(peer, announce, now, &mut out),
            Input::ProfileFetched { peer, profile } => {
                if let Some(st) = self.peers.get_mut(&peer) {
                    Self::set_profile(peer, st, profile, &mut out);
                }
            }
            Input::VoteAnswer {
                about,
                from,
                reachable,
            } => {
                if let Some(vote) = self.votes.get_mut(&about) {
                    if vote.waiting.remove(&from) {
                        match reachable {
                            Some(true) => vote.reachable += 1,
                            Some(false) => vote.unreachable += 1,
                            None => {}
                        }
                        if vote.waiting.is_empty() {
                            self.decide(about, now, &mut out);
                        }
                    }
                }
            }
            Input::Discovered { peer, addrs } => {
                if peer == self.local {
                    return out;
                }
                let known = self.known.contains(&peer);
                if let Some(st) = self.entry(peer, now, false) {
                    merge_addrs(&mut st.addrs, addrs);
                    self.dials_capped += Self::maybe_dial(peer, st, now, known, &mut out);
                }
            }
            Input::Block { peer } => {
                if let Some(st) = self.entry(peer, now, true) {
                    st.blocked = true;
                    out.push(Output::Disconnect { peer });
                    out.push(Output::Emit(EventKind::PeerUpdated {
                        peer: info(peer, st),
                    }));
                }
            }
            Input::Unblock { peer } => {
                if let Some(st) = self.peers.get_mut(&peer) {
                    st.blocked = false;
                    st.last_dial = 0;
                    let _ = Self::maybe_dial(peer, st, now, true, &mut out);
                    out.push(Output::Emit(EventKind::PeerUpdated {
                        peer: info(peer, st),
                    }));
                }
            }
            Input::Tick => self.on_tick(now, &mut out),
        }
        out
    }

    /// Answer to another peer's vote about `about`: only what we measured ourselves.
    pub fn reaches(&self, about: &PeerId) -> bool {
        self.peers
            .get(about)
            .is_some_and(|st| st.connections > 0 && st.failed_pings == 0)
    }

    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut v: Vec<PeerInfo> = self.peers.iter().map(|(id, st)| info(*id, st)).collect();
        v.sort_by(|a, b| {
            b.online
                .cmp(&a.online)
                .then_with(|| a.peer_id.cmp(&b.peer_id))
        });
        v
    }

    pub fn peer(&self, peer: &PeerId) -> Option<PeerInfo> {
        self.peers.get(peer).map(|st| info(*peer, st))
    }

    pub fn is_blocked(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|st| st.blocked)
    }

    pub fn online_count(&self) -> usize {
        self.peers.values().filter(|st| st.online).count()
    }

    pub fn connected_count(&self) -> usize {
        self.peers.values().filter(|st| st.connections > 0).count()
    }

    /// Restores a peer remembered from an earlier run (offline until heard from).
    pub fn remember(
        &mut self,
        peer: PeerId,
        profile: Option<Profile>,
        addrs: Vec<Multiaddr>,
        blocked: bool,
    ) {
        if peer == self.local || self.peers.len() >= MAX_PEERS {
            return;
        }
        let st = self.peers.entry(peer).or_default();
        st.profile = profile;
        merge_addrs(&mut st.addrs, addrs);
        st.blocked = blocked;
    }

    /// Addresses known for `peer`.
    pub fn addrs(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|st| st.addrs.clone())
            .unwrap_or_default()
    }

    /// The peer's entry, made if there is room. A stranger gets one only while strangers
    /// fill less than [`MAX_STRANGERS`] (or one that is gone can make room); a known or
    /// connected peer (`vouched`) may push out any stranger not connected.
    fn entry(&mut self, peer: PeerId, now: u64, vouched: bool) -> Option<&mut PeerState> {
        if !self.peers.contains_key(&peer) {
            let vouched = vouched || self.known.contains(&peer);
            let full = self.peers.len() >= MAX_PEERS;
            if !vouched && self.strangers_full && (full || self.strangers >= MAX_STRANGERS) {
                self.ignored += 1;
                return None;
            }
            if full || (!vouched && self.strangers >= MAX_STRANGERS) {
                // Forget the peer gone longest: a stranger first, any offline one if the
                // newcomer is vouched for (and then an online stranger, never connected).
                let victim = self
                    .peers
                    .iter()
                    .filter(|(_, st)| st.connections == 0)
                    .filter(|(id, st)| {
                        let stranger = self.is_stranger(id, st);
                        (stranger && !st.online)
                            || (vouched && (!st.online || stranger) && (full || stranger))
                    })
                    .min_by_key(|(id, st)| {
                        (
                            !self.is_stranger(id, st),
                            st.online,
                            st.last_seen.unwrap_or(0),
                        )
                    })
                    .map(|(id, _)| *id);
                match victim {
                    Some(v) => {
                        if let Some(st) = self.peers.remove(&v) {
                            if self.is_stranger(&v, &st) {
                                self.strangers = self.strangers.saturating_sub(1);
                            }
                        }
                        self.votes.remove(&v);
                    }
                    None => {
                        self.strangers_full = !vouched;
                        self.ignored += 1;
                        return None;
                    }
                }
            }
            if !vouched {
                self.strangers += 1;
            }
        }
        let st = self.peers.entry(peer).or_default();
        if st.last_seen.is_none() && st.connections > 0 {
            st.last_seen = Some(now);
        }
        Some(st)
    }

    fn on_connected(
        &mut self,
        peer: PeerId,
        addr: Option<Multiaddr>,
        established: u32,
        now: u64,
        out: &mut Vec<Output>,
    ) {
        if peer == self.local {
            return;
        }
        self.votes.remove(&peer);
        let Some(st) = self.entry(peer, now, true) else {
            return;
        };
        st.ever_connected = true;
        st.dials = 0;
        if st.blocked {
            out.push(Output::Disconnect { peer });
            return;
        }
        st.connections = established;
        st.failed_pings = 0;
        st.last_seen = Some(now);
        if let Some(a) = addr {
            merge_addrs(&mut st.addrs, vec![a]);
        }
        if st.connections == 1 {
            out.push(Output::FetchProfile { peer });
        }
        if !st.online {
            st.online = true;
            out.push(Output::Emit(EventKind::PeerOnline {
                peer: info(peer, st),
            }));
        } else if st.connections == 1 {
            out.push(Output::Emit(EventKind::PeerUpdated {
                peer: info(peer, st),
            }));
        }
    }

    fn on_disconnected(&mut self, peer: PeerId, remaining: u32, now: u64, out: &mut Vec<Output>) {
        let Some(st) = self.peers.get_mut(&peer) else {
            return;
        };
        st.connections = remaining;
        if remaining > 0 {
            return;
        }
        st.rtt = None;
        if !st.online {
            return;
        }
        out.push(Output::Emit(EventKind::PeerUpdated {
            peer: info(peer, st),
        }));
        if !st.blocked {
            st.last_dial = now;
            out.push(Output::Dial {
                peer,
                addrs: st.addrs.clone(),
            });
        }
        self.start_vote(peer, now, out);
    }

    fn on_ping(&mut self, peer: PeerId, rtt: Option<Duration>, now: u64, out: &mut Vec<Output>) {
        let Some(st) = self.peers.get_mut(&peer) else {
            return;
        };
        match rtt {
            Some(rtt) => {
                st.failed_pings = 0;
                st.last_seen = Some(now);
                let changed = st.rtt.is_none_or(|old| {
                    old.as_millis() != rtt.as_millis()
                        || old.abs_diff(rtt) > Duration::from_micros(500)
                });
                st.rtt = Some(rtt);
                if changed {
                    out.push(Output::Emit(EventKind::PeerUpdated {
                        peer: info(peer, st),
                    }));
                }
            }
            None => {
                st.failed_pings += 1;
                if st.failed_pings >= MAX_FAILED_PINGS && st.connections > 0 {
                    out.push(Output::Disconnect { peer });
                }
            }
        }
    }

    fn on_announce(&mut self, peer: PeerId, a: Announce, now: u64, out: &mut Vec<Output>) {
        if peer == self.local {
            return;
        }
        let offline_after = self.cfg.offline_after_ms;
        let known = self.known.contains(&peer);
        let Some(st) = self.entry(peer, now, false) else {
            return;
        };
        if a.seq <= st.last_announce_seq {
            return; // a replay or a reordered old announcement
        }
        st.last_announce_seq = a.seq;
        st.last_seen = Some(now);
        st.vouched_until = now + offline_after;
        let before = st.addrs.clone();
        merge_addrs(
            &mut st.addrs,
            a.addrs.iter().filter_map(|s| s.parse().ok()).collect(),
        );
        // A new address (a relay slot the peer just took) is worth a dial soon, not at the
        // next redial; still at most one per NEW_ADDRS_REDIAL_MS per announcer.
        if st.addrs.iter().any(|x| !before.contains(x)) && st.last_dial != 0 {
            // The next redial comes NEW_ADDRS_REDIAL_MS after the last dial, not
            // REDIAL_EVERY_MS.
            st.last_dial = st
                .last_dial
                .saturating_sub(REDIAL_EVERY_MS - NEW_ADDRS_REDIAL_MS)
                .max(1);
        }
        Self::set_profile(peer, st, a.profile.into(), out);
        if !st.online && !st.blocked {
            st.online = true;
            out.push(Output::Emit(EventKind::PeerOnline {
                peer: info(peer, st),
            }));
        }
        let online = st.online;
        self.dials_capped += Self::maybe_dial(peer, st, now, known, out);
        if online {
            // Fresh word from the peer itself settles any vote about it.
            self.votes.remove(&peer);
        }
    }

    fn on_tick(&mut self, now: u64, out: &mut Vec<Output>) {
        self.strangers = self
            .peers
            .iter()
            .filter(|(id, st)| self.is_stranger(id, st))
            .count();
        self.strangers_full = false;
        let expired: Vec<PeerId> = self
            .votes
            .iter()
            .filter(|(_, v)| now.saturating_sub(v.started) >= self.cfg.vote_timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        for peer in expired {
            self.decide(peer, now, out);
        }
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, st)| {
                st.online
                    && st.connections == 0
                    && st.vouched_until <= now
                    && st
                        .last_seen
                        .is_none_or(|s| now.saturating_sub(s) >= self.cfg.offline_after_ms)
                    && !self.votes.contains_key(id)
            })
            .map(|(id, _)| *id)
            .collect();
        for peer in stale {
            self.start_vote(peer, now, out);
        }
        for (peer, st) in self.peers.iter_mut() {
            if st.online && st.connections == 0 {
                let known = self.known.contains(peer);
                self.dials_capped += Self::maybe_dial(*peer, st, now, known, out);
            }
        }
    }

    fn start_vote(&mut self, about: PeerId, now: u64, out: &mut Vec<Output>) {
        let voters: HashSet<PeerId> = self
            .peers
            .iter()
            .filter(|(id, st)| **id != about && st.connections > 0)
            .map(|(id, _)| *id)
            .take(MAX_VOTERS)
            .collect();
        for to in &voters {
            out.push(Output::AskVote { to: *to, about });
        }
        self.votes.insert(
            about,
            Vote {
                started: now,
                waiting: voters,
                reachable: 0,
                unreachable: 0,
            },
        );
        if self.votes[&about].waiting.is_empty() {
            self.decide(about, now, out);
        }
    }

    fn decide(&mut self, about: PeerId, now: u64, out: &mut Vec<Output>) {
        let Some(vote) = self.votes.remove(&about) else {
            return;
        };
        let Some(st) = self.peers.get_mut(&about) else {
            return;
        };
        if st.connections > 0 {
            return;
        }
        let answered = vote.reachable + vote.unreachable;
        let offline = answered == 0
            || f64::from(vote.unreachable) / f64::from(answered) >= self.cfg.suspicion_ratio;
        if offline {
            if st.online {
                st.online = false;
                st.rtt = None;
                out.push(Output::Emit(EventKind::PeerOffline {
                    peer_id: about.to_string(),
                }));
            }
        } else {
            st.vouched_until = now + self.cfg.offline_after_ms;
        }
    }

    /// Dials the peer if it is due; returns 1 when a stranger just used up its dials.
    fn maybe_dial(
        peer: PeerId,
        st: &mut PeerState,
        now: u64,
        known: bool,
        out: &mut Vec<Output>,
    ) -> u64 {
        if st.blocked || st.connections > 0 || st.addrs.is_empty() {
            return 0;
        }
        if now.saturating_sub(st.last_dial) < REDIAL_EVERY_MS && st.last_dial != 0 {
            return 0;
        }
        if now.saturating_sub(st.dial_window) >= STRANGER_DIAL_WINDOW_MS {
            st.dial_window = now;
            st.dials = 0;
        }
        if !known && !st.ever_connected && st.dials >= MAX_STRANGER_DIALS {
            return 0;
        }
        st.dials += 1;
        st.last_dial = now;
        out.push(Output::Dial {
            peer,
            addrs: st.addrs.clone(),
        });
        u64::from(!known && !st.ever_connected && st.dials == MAX_STRANGER_DIALS)
    }

    fn set_profile(peer: PeerId, st: &mut PeerState, profile: Profile, out: &mut Vec<Output>) {
        if st.profile.as_ref() != Some(&profile) {
            st.profile = Some(profile.clone());
            out.push(Output::Emit(EventKind::ProfileChanged {
                peer_id: peer.to_string(),
                profile,
            }));
        }
    }
}

fn merge_addrs(into: &mut Vec<Multiaddr>, new: Vec<Multiaddr>) {
    for a in new {
        let a = strip_p2p(a);
        if a.to_string().len() > MAX_ADDR_LEN {
            continue;
        }
        if let Some(pos) = into.iter().position(|x| *x == a) {
            // Most recently learned first.
            let a = into.remove(pos);
            into.insert(0, a);
        } else {
            into.insert(0, a);
            into.truncate(MAX_ADDRS);
        }
    }
}

/// Drops a trailing `/p2p/<id>` so one address is stored once.
pub fn strip_p2p(mut a: Multiaddr) -> Multiaddr {
    if matches!(a.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(_))) {
        a.pop();
    }
    a
}

fn info(peer: PeerId, st: &PeerState) -> PeerInfo {
    PeerInfo {
        peer_id: peer.to_string(),
        profile: st.profile.clone(),
        addrs: st.addrs.iter().map(ToString::to_string).collect(),
        rtt_ms: st
            .rtt
            .map(|d| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
        online: st.online,
        connected: st.connections > 0,
        last_seen_ms: st.last_seen,
        blocked: st.blocked,
        // The network task fills these in (`nat::Traversal::annotate`).
        connection: None,
        relay: None,
        last_dial_error: None,
        hole_punch_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first connection to `peer` at `now`.
    fn connect(p: &mut Presence, peer: PeerId, now: u64) -> Vec<Output> {
        p.handle(
            Input::Connected {
                peer,
                addr: None,
                established: 1,
            },
            now,
        )
    }

    /// A node connected to three peers at time 0: the one the tests are about (`x`) and two
    /// that can vote on it.
    fn connected_to_three() -> (Presence, PeerId, PeerId, PeerId) {
        let (x, a, b) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut p = Presence::new(PeerId::random(), cfg());
        for peer in [x, a, b] {
            connect(&mut p, peer, 0);
        }
        (p, x, a, b)
    }

    fn cfg() -> PresenceConfig {
        PresenceConfig {
            offline_after_ms: 3_000,
            vote_timeout_ms: 1_000,
            ..Default::default()
        }
    }

    fn online_ids(p: &Presence) -> Vec<String> {
        p.peers()
            .into_iter()
            .filter(|i| i.online)
            .map(|i| i.peer_id)
            .collect()
    }

    fn asks(out: &[Output]) -> Vec<PeerId> {
        out.iter()
            .filter_map(|o| match o {
                Output::AskVote { to, .. } => Some(*to),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_connected_peer_is_online_and_its_profile_is_fetched() {
        let (me, x) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, cfg());
        let out = connect(&mut p, x, 1);
        assert!(out.contains(&Output::FetchProfile { peer: x }));
        assert!(matches!(
            out.last(),
            Some(Output::Emit(EventKind::PeerOnline { .. }))
        ));
        assert_eq!(online_ids(&p), vec![x.to_string()]);
    }

    #[test]
    fn one_lost_connection_alone_does_not_make_a_peer_offline_when_others_reach_it() {
        let (mut p, x, a, b) = connected_to_three();
        let out = p.handle(
            Input::Disconnected {
                peer: x,
                remaining: 0,
            },
            10,
        );
        let mut asked = asks(&out);
        asked.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(asked, expected, "both other peers are asked");
        p.handle(
            Input::VoteAnswer {
                about: x,
                from: a,
                reachable: Some(true),
            },
            20,
        );
        let out = p.handle(
            Input::VoteAnswer {
                about: x,
                from: b,
                reachable: Some(true),
            },
            30,
        );
        assert!(!out
            .iter()
            .any(|o| matches!(o, Output::Emit(EventKind::PeerOffline { .. }))));
        assert!(p.peer(&x).unwrap().online);
        assert!(!p.peer(&x).unwrap().connected);
        // Still vouched for well after the vote, as long as announcements keep coming.
        let ann = Announce {
            seq: 5,
            profile: WireProfile::default(),
            addrs: vec![],
        };
        p.handle(
            Input::Announced {
                peer: x,
                announce: ann,
            },
            2_000,
        );
        p.handle(Input::Tick, 4_500);
        assert!(p.peer(&x).unwrap().online);
    }

    #[test]
    fn a_peer_everyone_lost_is_voted_offline() {
        let (mut p, x, a, b) = connected_to_three();
        p.handle(
            Input::Disconnected {
                peer: x,
                remaining: 0,
            },
            10,
        );
        p.handle(
            Input::VoteAnswer {
                about: x,
                from: a,
                reachable: Some(false),
            },
            20,
        );
        let out = p.handle(
            Input::VoteAnswer {
                about: x,
                from: b,
                reachable: Some(true),
            },
            30,
        );
        // 1 of 2 unreachable meets the default ratio 0.5.
        assert!(out.contains(&Output::Emit(EventKind::PeerOffline {
            peer_id: x.to_string()
        })));
        assert!(!p.peer(&x).unwrap().online);
    }

    #[test]
    fn with_nobody_to_ask_the_peer_goes_offline_at_once() {
        let (me, x) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, cfg());
        connect(&mut p, x, 0);
        let out = p.handle(
            Input::Disconnected {
                peer: x,
                remaining: 0,
            },
            10,
        );
        assert!(out.contains(&Output::Emit(EventKind::PeerOffline {
            peer_id: x.to_string()
        })));
    }

    #[test]
    fn silent_voters_time_out_and_count_as_no_answer() {
        let (me, x, a) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, cfg());
        connect(&mut p, x, 0);
        connect(&mut p, a, 0);
        p.handle(
            Input::Disconnected {
                peer: x,
                remaining: 0,
            },
            10,
        );
        assert!(p.handle(Input::Tick, 500).is_empty() || p.peer(&x).unwrap().online);
        let out = p.handle(Input::Tick, 1_100);
        assert!(out.contains(&Output::Emit(EventKind::PeerOffline {
            peer_id: x.to_string()
        })));
    }

    #[test]
    fn announcements_bring_a_peer_online_but_replays_do_not() {
        let (me, x, a) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, cfg());
        connect(&mut p, a, 0);
        let ann = |seq| Announce {
            seq,
            profile: WireProfile {
                display_name: "X".into(),
                ..Default::default()
            },
            addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
        };
        let out = p.handle(
            Input::Announced {
                peer: x,
                announce: ann(10),
            },
            0,
        );
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Emit(EventKind::PeerOnline { .. }))));
        assert!(out.iter().any(|o| matches!(o, Output::Dial { .. })));
        // Announcements stop; after offline_after a vote runs; `a` does not reach x.
        let out = p.handle(Input::Tick, 3_000);
        assert_eq!(asks(&out), vec![a]);
        let out = p.handle(
            Input::VoteAnswer {
                about: x,
                from: a,
                reachable: Some(false),
            },
            3_010,
        );
        assert!(out.contains(&Output::Emit(EventKind::PeerOffline {
            peer_id: x.to_string()
        })));
        // An old announcement replayed later changes nothing.
        assert!(p
            .handle(
                Input::Announced {
                    peer: x,
                    announce: ann(10)
                },
                4_000
            )
            .is_empty());
        assert!(!p.peer(&x).unwrap().online);
    }

    #[test]
    fn two_failed_pings_close_the_connection() {
        let (me, x) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, cfg());
        connect(&mut p, x, 0);
        assert!(p.handle(Input::Ping { peer: x, rtt: None }, 1).is_empty());
        assert!(!p.reaches(&x), "a failing peer is not vouched for");
        assert_eq!(
            p.handle(Input::Ping { peer: x, rtt: None }, 2),
            vec![Output::Disconnect { peer: x }]
        );
    }

    #[test]
    fn blocked_peers_are_disconnected_and_not_redialled() {
        let (me, x) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, cfg());
        p.handle(
            Input::Discovered {
                peer: x,
                addrs: vec!["/ip4/127.0.0.1/tcp/9".parse().unwrap()],
            },
            0,
        );
        let out = p.handle(Input::Block { peer: x }, 1);
        assert!(out.contains(&Output::Disconnect { peer: x }));
        let out = connect(&mut p, x, 2);
        assert_eq!(out, vec![Output::Disconnect { peer: x }]);
        assert!(!p
            .handle(Input::Tick, 100_000)
            .iter()
            .any(|o| matches!(o, Output::Dial { .. })));
    }

    #[test]
    fn hostile_announcements_are_rejected() {
        assert!(Announce::decode(b"{").is_err());
        assert!(Announce::decode(&vec![b' '; Announce::MAX_BYTES + 1]).is_err());
        let long = serde_json::json!({"seq":1,"profile":{"display_name":"x".repeat(65),"affiliation":"","bio":""},"addrs":[]});
        assert!(Announce::decode(long.to_string().as_bytes()).is_err());
        let bad_addr = serde_json::json!({"seq":1,"profile":{"display_name":"","affiliation":"","bio":""},"addrs":["nope"]});
        assert!(Announce::decode(bad_addr.to_string().as_bytes()).is_err());
        let ok = serde_json::json!({"seq":1,"profile":{"display_name":"A","affiliation":"","bio":""},"addrs":["/ip4/1.2.3.4/tcp/5"]});
        assert!(Announce::decode(ok.to_string().as_bytes()).is_ok());
        let pic = serde_json::json!({"seq":1,"profile":{"display_name":"A","affiliation":"","bio":"","avatar":"ab".repeat(32)},"addrs":[]});
        assert!(Announce::decode(pic.to_string().as_bytes()).is_ok());
        for bad in ["AB".repeat(32), "ab".repeat(31), "../../etc/passwd".into()] {
            let bad_pic = serde_json::json!({"seq":1,"profile":{"display_name":"A","affiliation":"","bio":"","avatar":bad},"addrs":[]});
            assert!(Announce::decode(bad_pic.to_string().as_bytes()).is_err());
        }
    }

    #[test]
    fn decoding_random_and_mutated_bytes_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let valid = serde_json::to_vec(&Announce {
            seq: 3,
            profile: WireProfile {
                display_name: "Ada".into(),
                affiliation: "A".into(),
                bio: "b".into(),
                avatar: Some("ab".repeat(32)),
            },
            addrs: vec!["/ip4/127.0.0.1/tcp/4710".into()],
        })
        .unwrap();
        assert!(Announce::decode(&valid).is_ok());
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.gen_range(1..6) {
                let i = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..3) {
                    0 => bytes[i] = rng.gen(),
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, rng.gen()),
                }
            }
            let _ = Announce::decode(&bytes);
            let noise: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            let _ = Announce::decode(&noise);
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let mut p = Presence::new(PeerId::random(), cfg());
        for i in 0..MAX_PEERS + 50 {
            p.handle(
                Input::Discovered {
                    peer: PeerId::random(),
                    addrs: vec![],
                },
                i as u64,
            );
        }
        assert_eq!(p.peers().len(), MAX_STRANGERS);
        // Known peers fill the rest, and then push strangers out.
        let known: Vec<PeerId> = (0..MAX_PEERS).map(|_| PeerId::random()).collect();
        p.add_known(known.iter().copied());
        for (i, k) in known.iter().enumerate() {
            p.handle(
                Input::Discovered {
                    peer: *k,
                    addrs: vec![],
                },
                (MAX_PEERS + i) as u64,
            );
        }
        assert_eq!(p.peers().len(), MAX_PEERS);
    }

    #[test]
    fn sybil_announcers_never_crowd_out_known_peers_and_are_dialled_a_few_times_only() {
        let me = PeerId::random();
        let mut p = Presence::new(
            me,
            PresenceConfig {
                offline_after_ms: 10_000_000,
                ..cfg()
            },
        );
        let friends: Vec<PeerId> = (0..500).map(|_| PeerId::random()).collect();
        p.add_known(friends.iter().copied());
        let ann = |seq: u64, port: u64| Announce {
            seq,
            profile: WireProfile::default(),
            addrs: vec![format!("/ip4/203.0.113.9/tcp/{}", 1000 + port % 60000)],
        };
        // 4,096 always-announcing identities, again and again, with new addresses.
        let sybils: Vec<PeerId> = (0..MAX_PEERS).map(|_| PeerId::random()).collect();
        let mut dials: HashMap<PeerId, u32> = HashMap::new();
        let mut now = 1;
        for round in 0..20u64 {
            for (i, s) in sybils.iter().enumerate() {
                now += 1;
                let out = p.handle(
                    Input::Announced {
                        peer: *s,
                        announce: ann(round + 1, round * 7 + i as u64),
                    },
                    now,
                );
                for o in out {
                    if let Output::Dial { peer, .. } = o {
                        *dials.entry(peer).or_default() += 1;
                    }
                }
            }
            now += 6_000;
            for o in p.handle(Input::Tick, now) {
                if let Output::Dial { peer, .. } = o {
                    *dials.entry(peer).or_default() += 1;
                }
            }
        }
        assert!(p.peers().len() <= MAX_STRANGERS, "{}", p.peers().len());
        assert!(p.ignored > 0);
        let most = dials.values().max().copied().unwrap_or(0);
        assert!(
            most <= MAX_STRANGER_DIALS,
            "a stranger was dialled {most} times"
        );
        assert!(p.dials_capped > 0);
        // Every friend still finds room, announcing or discovered, and is redialled freely.
        for (i, f) in friends.iter().enumerate() {
            now += 1;
            p.handle(
                Input::Announced {
                    peer: *f,
                    announce: ann(1, i as u64),
                },
                now,
            );
        }
        for f in &friends {
            assert!(p.peer(f).is_some_and(|i| i.online), "friend {f} lost");
        }
        let mut friend_dials = 0;
        for _ in 0..5 {
            now += 6_000;
            friend_dials += p
                .handle(Input::Tick, now)
                .iter()
                .filter(|o| matches!(o, Output::Dial { peer, .. } if friends.contains(peer)))
                .count();
        }
        assert!(friend_dials >= 5 * friends.len(), "{friend_dials}");
        // A stranger that connects to us is no stranger any more.
        let newcomer = PeerId::random();
        connect(&mut p, newcomer, now);
        assert!(p.peer(&newcomer).is_some());
    }
}
