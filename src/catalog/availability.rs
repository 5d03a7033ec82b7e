//! Who holds what, and whether a resource is available: holdings learned from peers
//! (the `holdings` exchange, `/hearth/have/1` gossip, provider records), this node's own
//! copies, mirrors and follows, and the `availability_changed` events that follow presence.

use super::*;

impl Catalog {
    /// Records what `peer` holds, replacing what was known.
    pub async fn set_holdings(&self, peer: PeerId, h: Holdings) -> Result<(), CatalogError> {
        let mut h = h;
        h.complete.truncate(MAX_HOLDINGS);
        h.partial.truncate(MAX_HOLDINGS);
        h.mirrored.truncate(MAX_HOLDINGS);
        h.complete.retain(|id| feed::is_hex(id, 40));
        h.partial.retain(|id| feed::is_hex(id, 40));
        h.mirrored.retain(|id| feed::is_hex(id, 40));
        let new = peer_holdings(&h);
        let changed = {
            let mut s = self.state();
            let online = s.online.contains(&peer);
            let old = s.holders.insert(peer, new);
            let now = &s.holders[&peer];
            let mut ids: Vec<String> = Vec::new();
            if online {
                let before = old.map(|o| o.complete).unwrap_or_default();
                ids.extend(before.symmetric_difference(&now.complete).cloned());
            }
            ids
        };
        self.inner.holdings.insert(&peer.to_string(), &h)?;
        self.emit_availability(changed);
        Ok(())
    }

    /// Applies a gossiped change of `peer`'s holdings.
    pub async fn apply_have(
        &self,
        peer: PeerId,
        have: crate::net::protocol::HaveMessage,
    ) -> Result<(), CatalogError> {
        let (snapshot, changed) = {
            let mut s = self.state();
            let online = s.online.contains(&peer);
            let entry = s.holders.entry(peer).or_default();
            entry.bt_port = have.bt_port;
            let mut changed = Vec::new();
            for id in have.complete {
                entry.partial.remove(&id);
                if entry.complete.insert(id.clone()) && online {
                    changed.push(id);
                }
            }
            for id in have.partial {
                if !entry.complete.contains(&id) {
                    entry.partial.insert(id);
                }
            }
            for id in have.mirrored {
                if entry.mirrored.len() < MAX_HOLDINGS {
                    entry.mirrored.insert(id);
                }
            }
            for id in have.dropped {
                entry.mirrored.remove(&id);
                entry.partial.remove(&id);
                if entry.complete.remove(&id) && online {
                    changed.push(id);
                }
            }
            (holdings_of(entry), changed)
        };
        self.inner.holdings.insert(&peer.to_string(), &snapshot)?;
        self.emit_availability(changed);
        Ok(())
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

pub(super) fn peer_holdings(h: &Holdings) -> PeerHoldings {
    PeerHoldings {
        bt_port: h.bt_port,
        complete: h.complete.iter().take(MAX_HOLDINGS).cloned().collect(),
        partial: h.partial.iter().take(MAX_HOLDINGS).cloned().collect(),
        mirrored: h.mirrored.iter().take(MAX_HOLDINGS).cloned().collect(),
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
