//! Terms and hosts: learning who hosts which term, and the host's side of the protocol
//! (ordering submissions, replicating to followers, committing).

use super::*;

impl<P: PeerKey> Room<P> {
    // -----------------------------------------------------------------------------------
    // Terms, hosts.

    /// Learn about `(term, host)` from a peer, with `cert` as its proof. A higher term, or
    /// another host in my term, is taken only when proven (a member's word is not enough).
    pub(super) fn observe(
        &mut self,
        term: u64,
        host: Option<&P>,
        cert: Option<&Cert<P>>,
        now: u64,
    ) -> Seen {
        if term < self.meta.term {
            return Seen::Behind;
        }
        if term > self.meta.term {
            if let Some(h) = host.filter(|h| self.proven(term, h, cert)) {
                let h = h.clone();
                self.take_term(term, &h, cert);
                self.set_host(Some(h), now);
                return Seen::Current;
            }
            // The peer has no host (any more): its certificate still proves the term.
            if let Some(c) = cert.filter(|c| c.term == term && self.cert_valid(c, term, &c.host)) {
                let h = c.host.clone();
                self.take_term(term, &h, cert);
                self.set_host(None, now);
                return Seen::Current;
            }
            return Seen::Unproven;
        }
        match (self.meta.host.clone(), host) {
            (_, None) => Seen::Current,
            (Some(mine), Some(h)) if mine == *h => Seen::Current,
            // Two hosts in one term (only after a partition): the larger key wins.
            (Some(mine), Some(h)) if *h < mine => Seen::Behind,
            (_, Some(h)) => {
                if !self.proven(term, h, cert) {
                    return Seen::Unproven;
                }
                let h = h.clone();
                self.take_term(term, &h, cert);
                self.set_host(Some(h), now);
                Seen::Current
            }
        }
    }

    /// Move to `term` (proven for `host`: keep the certificate that proves it).
    pub(super) fn take_term(&mut self, term: u64, host: &P, cert: Option<&Cert<P>>) {
        let held = self
            .meta
            .cert
            .as_ref()
            .is_some_and(|c| c.term == term && c.host == *host);
        if term != self.meta.term {
            self.meta.term = term;
            self.meta.voted_for = None;
        }
        if !(held || term == 1 && *host == self.meta.creator) {
            self.meta.cert = cert.cloned();
        }
        self.meta_dirty = true;
    }

    /// Follow `host` in the current term (stepping down if I was host).
    pub(super) fn set_host(&mut self, host: Option<P>, now: u64) {
        // Only winning an election makes me host; hearsay that names me is ignored.
        let host = host.filter(|h| *h != self.meta.me);
        if self.meta.host == host && self.hosting.is_none() {
            return;
        }
        self.hosting = None;
        self.meta.host = host.clone();
        self.meta_dirty = true;
        self.verified = 0;
        self.host_heard_ms = now;
        self.election = Election::Idle;
        if host.is_some() {
            self.attempts = 0;
        }
        self.out.push(Action::HostChanged {
            term: self.meta.term,
            host: host.clone(),
        });
        // Items acknowledged by an earlier host go back to "sending" until the new host
        // has them.
        let me = self.meta.me.clone();
        let mut back = Vec::new();
        for o in self.outbox.values_mut() {
            if o.acked_in.take().is_some() && o.item.sender == me {
                back.push(o.item.id);
            }
            o.last_sent_ms = None;
        }
        for id in back {
            self.out.push(Action::DeliveryState {
                id,
                state: DeliveryState::Sending,
            });
        }
        if let Some(h) = host {
            if h != self.meta.me && self.connected.contains(&h) {
                let hello = self.hello();
                self.send(h, hello);
            }
        }
        self.flush_outbox(now);
    }

    /// The host left or resigned: no host until an election.
    pub(super) fn lose_host(&mut self) {
        if self.meta.host.is_some() && self.hosting.is_none() {
            self.meta.host = None;
            self.meta_dirty = true;
            self.host_heard_ms = 0;
            self.out.push(Action::HostChanged {
                term: self.meta.term,
                host: None,
            });
        }
    }

    /// I stop hosting (I left the room): final heartbeat with the commit point, then resign.
    pub(super) fn resign(&mut self, now: u64) {
        let Some(h) = &self.hosting else { return };
        let targets: Vec<P> = h
            .followers
            .keys()
            .filter(|p| self.connected.contains(*p))
            .cloned()
            .collect();
        let epoch = self.epoch_of_me();
        for p in targets {
            self.send_append(&p, now);
            self.send(
                p,
                Wire::Resign {
                    room: self.meta.room,
                    epoch: epoch.clone(),
                },
            );
        }
        self.hosting = None;
        self.meta.host = None;
        self.meta_dirty = true;
        self.out.push(Action::HostChanged {
            term: self.meta.term,
            host: None,
        });
    }

    pub(super) fn host_gone(&self, now: u64) -> bool {
        match &self.meta.host {
            None => true,
            Some(h) if *h == self.meta.me => false,
            Some(h) => {
                let silent = now.saturating_sub(self.host_heard_ms);
                !self.is_member(h)
                    || (!self.connected.contains(h) && silent >= HOST_SILENCE_MS)
                    || silent >= HOST_DEAD_MS
            }
        }
    }

    /// For voting: is my host alive as far as I can tell?
    pub(super) fn host_alive_for_vote(&self, now: u64) -> bool {
        match &self.meta.host {
            None => false,
            Some(h) if *h == self.meta.me => self.hosting.is_some(),
            Some(h) => {
                self.is_member(h)
                    && self.connected.contains(h)
                    && now.saturating_sub(self.host_heard_ms) < HOST_SILENCE_MS
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Host side.

    pub(super) fn follower_mut(&mut self, p: &P, now: u64) -> Option<&mut Follower> {
        let last = self.last_seq();
        let guess = self
            .known_last
            .get(p)
            .filter(|pos| self.has_pos(pos))
            .map(|pos| pos.seq);
        let h = self.hosting.as_mut()?;
        Some(h.followers.entry(p.clone()).or_insert_with(|| Follower {
            next: guess.map_or(last + 1, |s| s + 1),
            acked: guess.unwrap_or(0),
            progress_ms: now,
            certified: false,
        }))
    }

    /// The other members this node is connected to.
    pub(super) fn connected_members(&self) -> Vec<P> {
        self.connected
            .iter()
            .filter(|p| self.is_member(p) && **p != self.meta.me)
            .cloned()
            .collect()
    }

    /// Send `p` the entries from its `next` (or an empty heartbeat).
    pub(super) fn send_append(&mut self, p: &P, now: u64) {
        let last = self.last_seq();
        let Some(f) = self.follower_mut(p, now) else {
            return;
        };
        if f.next > last + 1 {
            f.next = last + 1;
        }
        let start = f.next;
        let certified = f.certified;
        let room_left = (f.acked + MAX_INFLIGHT_ENTRIES).saturating_sub(start - 1);
        let count = (last + 1 - start)
            .min(MAX_APPEND_ENTRIES as u64)
            .min(room_left) as usize;
        // Keep each message well under the wire limit: at least one entry, then up to
        // `MAX_APPEND_BYTES` of content.
        let candidates = &self.log[(start - 1) as usize..(start - 1) as usize + count];
        let mut bytes = 0;
        let count = candidates
            .iter()
            .position(|e| {
                bytes += e.item.content.size();
                bytes > MAX_APPEND_BYTES
            })
            .map_or(count, |i| i.max(1));
        let entries: Vec<Entry<P>> = candidates[..count].to_vec();
        if let Some(f) = self.follower_mut(p, now) {
            f.next = start + count as u64;
        }
        let msg = Wire::Append {
            room: self.meta.room,
            epoch: self.epoch_of_me(),
            prev: self.pos_at(start - 1),
            entries,
            commit: self.meta.displayed,
            host_last: last,
            cert: if certified {
                None
            } else {
                self.meta.cert.clone()
            },
        };
        self.send(p.clone(), msg);
    }

    /// Push new entries to members that are up to date.
    pub(super) fn replicate(&mut self, now: u64) {
        self.append_to_followers(true, now);
    }

    /// Host: send an `Append` to each connected member known as a follower that has
    /// entries still to be sent (`behind`) or has been sent everything (`!behind`).
    pub(super) fn append_to_followers(&mut self, behind: bool, now: u64) {
        let Some(h) = &self.hosting else { return };
        let last = self.last_seq();
        let targets: Vec<P> = self
            .connected
            .iter()
            .filter(|p| {
                self.is_member(p)
                    && h.followers
                        .get(*p)
                        .is_some_and(|f| (f.next <= last) == behind)
            })
            .cloned()
            .collect();
        for p in targets {
            self.send_append(&p, now);
        }
    }

    pub(super) fn heartbeat(&mut self, now: u64) {
        let Some(h) = &mut self.hosting else { return };
        if now < h.next_heartbeat {
            return;
        }
        h.next_heartbeat = now + HEARTBEAT_MS;
        // Members that stay behind too long stop holding up the commit.
        let last = self.log.len() as u64;
        let since = h.since;
        let lagging: Vec<P> = h
            .in_sync
            .iter()
            .filter(|p| {
                let progress = h.followers.get(*p).map_or(since, |f| {
                    if f.acked >= last {
                        now
                    } else {
                        f.progress_ms
                    }
                });
                now.saturating_sub(progress) > SYNC_LAG_MS
            })
            .cloned()
            .collect();
        for p in &lagging {
            h.in_sync.remove(p);
        }
        // Retransmit from the last acknowledged point (the optimistic `next` may have been
        // lost), or send an empty heartbeat.
        for f in h.followers.values_mut() {
            f.next = f.acked + 1;
        }
        let targets = self.connected_members();
        for p in targets {
            self.send_append(&p, now);
        }
        self.advance_commit(now);
    }

    pub(super) fn on_submit(&mut self, from: P, term: u64, items: Vec<Item<P>>, now: u64) {
        if self.hosting.is_none() || term < self.meta.term {
            let hello = self.hello();
            self.send(from, hello);
            return;
        }
        if !self.is_member_or_invited(&from) {
            self.send(
                from,
                Wire::NotMember {
                    room: self.meta.room,
                },
            );
            return;
        }
        if items.len() > MAX_SUBMIT_ITEMS {
            return;
        }
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for item in items {
            let id = item.id;
            match self.sequence(item, &from) {
                Ok(()) => accepted.push(id),
                Err(e) => refused.push((id, e)),
            }
        }
        let epoch = self.epoch_of_me();
        if !accepted.is_empty() {
            self.send(
                from.clone(),
                Wire::Accepted {
                    room: self.meta.room,
                    epoch,
                    ids: accepted,
                },
            );
        }
        if !refused.is_empty() {
            let msg = Wire::Refused {
                room: self.meta.room,
                term: self.meta.term,
                refused,
            };
            self.send(from, msg);
        }
        self.replicate(now);
        self.advance_commit(now);
    }

    pub(super) fn on_append_reply(
        &mut self,
        from: P,
        epoch: Epoch<P>,
        ok: bool,
        seq: u64,
        segments: Vec<Segment<P>>,
        now: u64,
    ) {
        if self.hosting.is_none() || epoch != self.epoch_of_me() || !self.is_member(&from) {
            return;
        }
        let last = self.last_seq();
        let displayed = self.meta.displayed;
        let matched = if ok {
            Ok(seq.min(last))
        } else {
            self.match_point(seq, &segments)
        };
        let Some(f) = self.follower_mut(&from, now) else {
            return;
        };
        f.certified = true;
        match matched {
            Ok(m) => {
                if m > f.acked {
                    f.acked = m;
                    f.progress_ms = now;
                }
                if ok {
                    f.next = f.next.max(m + 1);
                } else {
                    f.next = m + 1;
                }
            }
            Err(probe) => f.next = probe + 1,
        }
        let caught_up = f.acked >= displayed;
        let more = f.next <= last || !ok;
        if caught_up {
            if let Some(h) = self.hosting.as_mut() {
                if h.in_sync.insert(from.clone()) {
                    if let Some(f) = h.followers.get_mut(&from) {
                        f.progress_ms = now;
                    }
                }
            }
        }
        if more {
            self.send_append(&from, now);
        }
        self.advance_commit(now);
    }

    /// From a member's log summary: `Ok(seq)` = our logs agree up to `seq`;
    /// `Err(seq)` = nothing verified yet, probe below `seq`.
    pub(super) fn match_point(&self, end: u64, segments: &[Segment<P>]) -> Result<u64, u64> {
        let mut upper = end;
        for s in segments {
            if s.first == 0 || s.first > upper {
                break; // malformed
            }
            if let Some((hf, hl)) = self.epoch_range(&s.epoch) {
                let lo = s.first.max(hf);
                let hi = upper.min(hl);
                if lo <= hi {
                    return Ok(hi);
                }
            }
            upper = s.first - 1;
        }
        if upper == 0 {
            Ok(0)
        } else {
            Err(upper.min(self.last_seq()))
        }
    }

    pub(super) fn become_host(&mut self, voters: BTreeSet<P>, cert: Cert<P>, now: u64) {
        self.attempts = 0;
        self.meta.term = cert.term;
        self.meta.voted_for = None;
        self.meta.cert = Some(cert);
        self.meta.host = Some(self.meta.me.clone());
        self.meta_dirty = true;
        self.election = Election::Idle;
        let in_sync: BTreeSet<P> = voters
            .into_iter()
            .filter(|p| *p != self.meta.me && self.connected.contains(p))
            .collect();
        self.hosting = Some(Hosting {
            epoch_start: self.last_seq() + 1,
            followers: BTreeMap::new(),
            in_sync,
            next_heartbeat: now + HEARTBEAT_MS,
            since: now,
        });
        self.append_host_change();
        self.out.push(Action::HostChanged {
            term: self.meta.term,
            host: Some(self.meta.me.clone()),
        });
        let me = self.meta.me.clone();
        for o in self.outbox.values_mut() {
            if o.acked_in.take().is_some() && o.item.sender == me {
                self.out.push(Action::DeliveryState {
                    id: o.item.id,
                    state: DeliveryState::Sending,
                });
            }
        }
        let targets = self.connected_members();
        for p in targets {
            self.send_append(&p, now);
        }
        self.flush_outbox(now);
        self.advance_commit(now);
    }
}
