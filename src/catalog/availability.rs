//! Who holds what, and whether a resource is available: holdings learned from peers
//! (the `holdings` exchange, `/hearth/have/1` gossip, provider records), this node's own
//! copies, mirrors and follows, and the `availability_changed` events that follow presence.

use super::*;

/// Content ids (complete and partial) remembered per peer.
pub const MAX_PEER_HOLDINGS: usize = MAX_HOLDINGS;
/// Holders remembered per content id: enough peers to download from and count copies.
pub const MAX_HOLDERS_PER_RESOURCE: u32 = 256;
/// Peers whose holdings are remembered; a new one replaces an offline, unfollowed one.
pub const MAX_HOLDER_PEERS: usize = 1024;
/// A peer's holdings are written at most this often (one record per peer).
pub(super) const HOLDINGS_WRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl State {
    /// Makes room for `peer` in the holders table; false when every tracked peer is online
    /// or followed (the claim is then dropped).
    fn admit_holder(&mut self, peer: PeerId) -> bool {
        if self.holders.contains_key(&peer) || self.holders.len() < MAX_HOLDER_PEERS {
            return true;
        }
        let victim = self
            .holders
            .keys()
            .find(|p| !self.online.contains(p) && !self.followed.contains(p))
            .copied();
        match victim {
            Some(v) => {
                self.forget_holder(v);
                true
            }
            None => false,
        }
    }

    fn forget_holder(&mut self, peer: PeerId) {
        if let Some(old) = self.holders.remove(&peer) {
            for id in old.complete.iter().chain(&old.partial) {
                self.release(id);
            }
            self.holdings_dirty.insert(peer);
        }
    }

    fn release(&mut self, id: &str) {
        if let Some(n) = self.holder_count.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                self.holder_count.remove(id);
            }
        }
    }

    /// Records that `peer` holds `id` (completely or in part), within the bounds; false
    /// when a bound dropped it.
    fn hold(&mut self, peer: PeerId, id: String, complete: bool) -> bool {
        let Some(h) = self.holders.get_mut(&peer) else {
            return false;
        };
        let known = h.complete.contains(&id) || h.partial.contains(&id);
        if !known {
            let count = self.holder_count.get(&id).copied().unwrap_or(0);
            if h.complete.len() + h.partial.len() >= MAX_PEER_HOLDINGS
                || count >= MAX_HOLDERS_PER_RESOURCE
            {
                return false;
            }
            *self.holder_count.entry(id.clone()).or_default() += 1;
        }
        if complete {
            h.partial.remove(&id);
            h.complete.insert(id)
        } else {
            if !h.complete.contains(&id) {
                h.partial.insert(id);
            }
            false
        }
    }

    /// Forgets that `peer` holds `id`; true when it held a complete copy.
    fn unhold(&mut self, peer: PeerId, id: &str) -> bool {
        let Some(h) = self.holders.get_mut(&peer) else {
            return false;
        };
        h.mirrored.remove(id);
        let complete = h.complete.remove(id);
        let partial = h.partial.remove(id);
        if complete || partial {
            self.release(id);
        }
        complete
    }
}

impl Catalog {
    /// Records what `peer` holds, replacing what was known.
    pub async fn set_holdings(&self, peer: PeerId, h: Holdings) -> Result<(), CatalogError> {
        let changed = {
            let mut s = self.state();
            let online = s.online.contains(&peer);
            let before: HashSet<String> = s
                .holders
                .get(&peer)
                .map(|o| o.complete.clone())
                .unwrap_or_default();
            s.forget_holder(peer);
            let mut dropped = 0u64;
            if s.admit_holder(peer) {
                s.holders.insert(
                    peer,
                    PeerHoldings {
                        bt_port: h.bt_port,
                        ..Default::default()
                    },
                );
                let valid = |ids: Vec<String>| ids.into_iter().filter(|id| feed::is_hex(id, 40));
                for id in valid(h.complete) {
                    dropped += u64::from(!s.hold(peer, id, true));
                }
                for id in valid(h.partial) {
                    dropped += u64::from(!s.hold(peer, id, false));
                }
                let held = &mut s.holders.get_mut(&peer).expect("admitted").mirrored;
                held.extend(valid(h.mirrored).take(MAX_PEER_HOLDINGS));
            } else {
                dropped += 1;
            }
            s.count_dropped(dropped);
            s.holdings_dirty.insert(peer);
            let now = s
                .holders
                .get(&peer)
                .map(|h| h.complete.clone())
                .unwrap_or_default();
            if online {
                before.symmetric_difference(&now).cloned().collect()
            } else {
                Vec::new()
            }
        };
        self.emit_availability(changed);
        Ok(())
    }

    /// Applies a gossiped change of `peer`'s holdings.
    pub async fn apply_have(
        &self,
        peer: PeerId,
        have: crate::net::protocol::HaveMessage,
    ) -> Result<(), CatalogError> {
        let changed = {
            let mut s = self.state();
            if !s.admit_holder(peer) {
                let n = (have.complete.len() + have.partial.len()) as u64;
                s.count_dropped(n.max(1));
                return Ok(());
            }
            let online = s.online.contains(&peer);
            s.holders.entry(peer).or_default().bt_port = have.bt_port;
            let mut changed = Vec::new();
            let mut dropped = 0u64;
            for id in have.complete {
                match s.hold(peer, id.clone(), true) {
                    true if online => changed.push(id),
                    true => {}
                    false => {
                        let held = s
                            .holders
                            .get(&peer)
                            .is_some_and(|h| h.complete.contains(&id));
                        dropped += u64::from(!held);
                    }
                }
            }
            for id in have.partial {
                let known = s
                    .holders
                    .get(&peer)
                    .is_some_and(|h| h.complete.contains(&id) || h.partial.contains(&id));
                if !known && !s.hold(peer, id, false) {
                    dropped += 1;
                }
            }
            let h = s.holders.get_mut(&peer).expect("admitted");
            for id in have.mirrored {
                if h.mirrored.len() < MAX_PEER_HOLDINGS {
                    h.mirrored.insert(id);
                }
            }
            for id in have.dropped {
                if s.unhold(peer, &id) && online {
                    changed.push(id);
                }
            }
            s.count_dropped(dropped);
            s.holdings_dirty.insert(peer);
            changed
        };
        self.emit_availability(changed);
        Ok(())
    }

    /// Writes the holdings of the peers that changed (one record per peer), at most once
    /// per [`HOLDINGS_WRITE_EVERY`]: a peer gossiping many changes costs one write a second.
    pub(super) fn write_holdings(&self, force: bool) -> Result<bool, CatalogError> {
        let dirty: Vec<(PeerId, Option<Holdings>)> = {
            let mut s = self.state();
            if s.holdings_dirty.is_empty()
                || (!force
                    && s.holdings_written
                        .is_some_and(|t| t.elapsed() < HOLDINGS_WRITE_EVERY))
            {
                return Ok(false);
            }
            s.holdings_written = Some(Instant::now());
            let peers: Vec<PeerId> = s.holdings_dirty.drain().collect();
            peers
                .into_iter()
                .map(|p| (p, s.holders.get(&p).map(holdings_of)))
                .collect()
        };
        for (peer, h) in dirty {
            match h {
                Some(h) => self.inner.holdings.insert(&peer.to_string(), &h)?,
                None => self.inner.holdings.delete(&peer.to_string())?,
            };
        }
        Ok(true)
    }

    /// Presence says `peer` is online, reachable at `ips`.
    pub fn peer_online(&self, peer: PeerId, ips: Vec<IpAddr>) {
        let changed = {
            let mut s = self.state();
            if !ips.is_empty() {
                s.ips.insert(peer, ips);
            }
            if !s.online.insert(peer) {
                return;
            }
            s.holders
                .get(&peer)
                .map(|h| h.complete.iter().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        self.emit_availability(changed);
    }

    pub fn peer_offline(&self, peer: PeerId) {
        let changed = {
            let mut s = self.state();
            if !s.online.remove(&peer) {
                return;
            }
            s.holders
                .get(&peer)
                .map(|h| h.complete.iter().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        self.emit_availability(changed);
    }

    /// Remembers a peer's display name (from presence) for showing authors.
    pub fn peer_name(&self, peer: &PeerId, name: &str) {
        if !name.is_empty() {
            self.state().names.insert(peer.to_string(), name.to_owned());
        }
    }

    /// Emits availability events for `ids` (or one `catalog_changed` when there are many).
    fn emit_availability(&self, mut ids: Vec<String>) {
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        if ids.len() > MAX_AVAILABILITY_EVENTS {
            self.inner.bus.emit(EventKind::CatalogChanged);
            return;
        }
        for id in ids {
            let (available, holders_online) = {
                let s = self.state();
                let (_, online) = holder_counts(&s, &id);
                (availability(&s, self.inner.local, &id), online)
            };
            self.inner.bus.emit(EventKind::AvailabilityChanged {
                content_id: id,
                available,
                holders_online,
            });
        }
    }

    /// What this node has of `content_id`.
    pub fn set_local(&self, content_id: &str, local: LocalState) {
        // Holding a copy or not changes the holder count even when availability stays.
        let changed = {
            let mut s = self.state();
            let view = |s: &State| {
                (
                    availability(s, self.inner.local, content_id),
                    holder_counts(s, content_id),
                )
            };
            let before = view(&s);
            if local == LocalState::None {
                s.local.remove(content_id);
            } else {
                s.local.insert(content_id.to_owned(), local);
            }
            before != view(&s)
        };
        if changed {
            self.emit_availability(vec![content_id.to_owned()]);
        }
    }

    /// Marks a copy of `content_id` as held for a mirror (or not).
    pub fn set_mirrored(&self, content_id: &str, mirrored: bool) {
        let mut s = self.state();
        if mirrored {
            s.mirrored.insert(content_id.to_owned());
        } else {
            s.mirrored.remove(content_id);
        }
    }

    pub fn is_mirrored(&self, content_id: &str) -> bool {
        self.state().mirrored.contains(content_id)
    }

    /// The peers I follow (their feeds are synchronised with them eagerly).
    pub fn set_followed(&self, peers: impl IntoIterator<Item = PeerId>) {
        self.state().followed = peers.into_iter().collect();
    }

    /// The peers I follow.
    pub fn followed(&self) -> Vec<PeerId> {
        self.state().followed.iter().copied().collect()
    }

    /// The followed peers that are online now.
    pub fn followed_online(&self) -> Vec<PeerId> {
        let s = self.state();
        s.followed
            .iter()
            .filter(|p| s.online.contains(p))
            .copied()
            .collect()
    }

    pub fn is_followed(&self, peer: &PeerId) -> bool {
        self.state().followed.contains(peer)
    }

    pub fn is_online(&self, peer: &PeerId) -> bool {
        self.state().online.contains(peer)
    }

    /// A peer's display name, when known.
    pub fn name_of(&self, peer: &str) -> Option<String> {
        self.state().names.get(peer).cloned()
    }

    pub fn local_state(&self, content_id: &str) -> LocalState {
        self.state()
            .local
            .get(content_id)
            .copied()
            .unwrap_or(LocalState::None)
    }

    /// What this node holds, as told to peers.
    pub fn local_holdings(&self, bt_port: u16) -> Holdings {
        let s = self.state();
        let mut h = Holdings {
            bt_port,
            ..Default::default()
        };
        for (id, state) in &s.local {
            match state {
                LocalState::Published | LocalState::Complete => h.complete.push(id.clone()),
                LocalState::Downloading => h.partial.push(id.clone()),
                LocalState::None => {}
            }
        }
        h.complete.truncate(MAX_HOLDINGS);
        h.partial.truncate(MAX_HOLDINGS);
        h.mirrored = h
            .complete
            .iter()
            .chain(&h.partial)
            .filter(|id| s.mirrored.contains(*id))
            .cloned()
            .collect();
        h
    }

    /// This node's BitTorrent addresses that others can reach (magnet links name them).
    pub fn set_local_bt_addrs(&self, addrs: Vec<std::net::SocketAddr>) {
        self.state().local_bt = addrs;
    }

    /// BitTorrent addresses of the online peers holding `content_id` (complete first),
    /// and the peers themselves.
    pub fn holder_addrs(&self, content_id: &str) -> Vec<(PeerId, Vec<std::net::SocketAddr>)> {
        let s = self.state();
        let mut out: Vec<(bool, PeerId, Vec<std::net::SocketAddr>)> = Vec::new();
        for (peer, h) in &s.holders {
            if *peer == self.inner.local || !s.online.contains(peer) || h.bt_port == 0 {
                continue;
            }
            let complete = h.complete.contains(content_id);
            if !complete && !h.partial.contains(content_id) {
                continue;
            }
            let addrs = s
                .ips
                .get(peer)
                .map(|ips| {
                    ips.iter()
                        .map(|ip| std::net::SocketAddr::new(*ip, h.bt_port))
                        .collect()
                })
                .unwrap_or_default();
            out.push((!complete, *peer, addrs));
        }
        out.sort_by_key(|(partial, _, _)| *partial);
        out.into_iter().map(|(_, p, a)| (p, a)).collect()
    }

    /// Everyone known to hold a complete copy of `content_id`, this node included.
    pub fn holders(&self, content_id: &str) -> Vec<Holder> {
        let s = self.state();
        let mut out = Vec::new();
        if matches!(
            s.local.get(content_id),
            Some(LocalState::Published | LocalState::Complete)
        ) {
            out.push(Holder {
                peer_id: self.inner.local.to_string(),
                name: s.names.get(&self.inner.local.to_string()).cloned(),
                online: true,
                is_self: true,
                bt_addr: None,
                mirror: s.mirrored.contains(content_id),
            });
        }
        for (peer, h) in &s.holders {
            if *peer == self.inner.local || !h.complete.contains(content_id) {
                continue;
            }
            let id = peer.to_string();
            out.push(Holder {
                name: s.names.get(&id).cloned(),
                online: s.online.contains(peer),
                is_self: false,
                bt_addr: s
                    .ips
                    .get(peer)
                    .and_then(|ips| ips.first())
                    .filter(|_| h.bt_port != 0)
                    .map(|ip| std::net::SocketAddr::new(*ip, h.bt_port).to_string()),
                mirror: h.mirrored.contains(content_id),
                peer_id: id,
            });
        }
        out.sort_by_key(|h| std::cmp::Reverse((h.is_self, h.online)));
        out
    }
}

impl State {
    fn count_dropped(&mut self, n: u64) {
        if n > 0 {
            self.rejected.holdings_dropped += n;
            self.counters_dirty = true;
        }
    }

    /// Loads a stored record of `peer`'s holdings, within the bounds.
    pub(super) fn restore_holdings(&mut self, peer: PeerId, h: Holdings) {
        if !self.admit_holder(peer) {
            return;
        }
        self.holders.insert(
            peer,
            PeerHoldings {
                bt_port: h.bt_port,
                mirrored: h.mirrored.into_iter().take(MAX_PEER_HOLDINGS).collect(),
                ..Default::default()
            },
        );
        for id in h.complete {
            self.hold(peer, id, true);
        }
        for id in h.partial {
            self.hold(peer, id, false);
        }
    }
}

pub(super) fn holdings_of(h: &PeerHoldings) -> Holdings {
    Holdings {
        bt_port: h.bt_port,
        complete: h.complete.iter().cloned().collect(),
        partial: h.partial.iter().cloned().collect(),
        mirrored: h.mirrored.iter().cloned().collect(),
    }
}

/// (known, online) holders of a complete copy, this node included.
pub(super) fn holder_counts(s: &State, id: &str) -> (u32, u32) {
    let mine = matches!(
        s.local.get(id),
        Some(LocalState::Published | LocalState::Complete)
    ) as u32;
    let mut known = mine;
    let mut online = mine;
    for (peer, h) in &s.holders {
        if h.complete.contains(id) {
            known += 1;
            online += s.online.contains(peer) as u32;
        }
    }
    (known, online)
}

pub(super) fn availability(s: &State, local: PeerId, id: &str) -> bool {
    if matches!(
        s.local.get(id),
        Some(LocalState::Published | LocalState::Complete)
    ) {
        return true;
    }
    s.online
        .iter()
        .any(|p| *p != local && s.holders.get(p).is_some_and(|h| h.complete.contains(id)))
}

/// Most `x.pe` peer hints a magnet link shown by this node carries.
pub const MAX_PEER_HINTS: usize = 3;

/// Where `content_id` can be fetched from: this node if it has a copy, then online holders
/// of a complete copy, at most [`MAX_PEER_HINTS`].
pub(super) fn peer_hints(s: &State, local: PeerId, content_id: &str) -> Vec<std::net::SocketAddr> {
    let mut out: Vec<std::net::SocketAddr> = Vec::new();
    if matches!(
        s.local.get(content_id),
        Some(LocalState::Published | LocalState::Complete)
    ) {
        out.extend(s.local_bt.iter().copied());
    }
    for (peer, h) in &s.holders {
        if *peer == local || !s.online.contains(peer) || h.bt_port == 0 {
            continue;
        }
        if !h.complete.contains(content_id) {
            continue;
        }
        for ip in s.ips.get(peer).into_iter().flatten() {
            out.push(std::net::SocketAddr::new(*ip, h.bt_port));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(*a));
    out.truncate(MAX_PEER_HINTS);
    out
}

/// `magnet` with an `x.pe` parameter for each of `hints` it does not name yet.
pub(super) fn with_peer_hints(magnet: String, hints: &[std::net::SocketAddr]) -> String {
    let mut out = magnet;
    for h in hints {
        let param = format!("x.pe={h}");
        if !out.contains(&param) {
            out.push('&');
            out.push_str(&param);
        }
    }
    out
}
