//! The room's entry points: `handle` takes one event, and wire messages are dispatched
//! to the host or follower side; small helpers over the log.

use super::*;

impl<P: PeerKey> Room<P> {
    // -----------------------------------------------------------------------------------
    // The state machine.

    /// Feed one event at time `now` (wall-clock ms; persisted deadlines use it). Returns
    /// the actions to carry out, `Persist` ones first.
    pub fn handle(&mut self, event: Event<P>, now: u64) -> Vec<Action<P>> {
        match event {
            Event::Send { id, body } => {
                if body.len() > MAX_BODY_BYTES {
                    self.refuse_local(id, RoomError::BodyTooLarge);
                } else {
                    self.enqueue(id, Content::Text(body), now);
                }
            }
            Event::Invite { id, peer } => {
                if self.meta.members.len() >= MAX_MEMBERS {
                    self.refuse_local(id, RoomError::TooManyMembers);
                } else {
                    self.enqueue(id, Content::Invite(peer), now);
                }
            }
            Event::Rename { id, name } => {
                if name.is_empty() || name.len() > MAX_NAME_BYTES {
                    self.refuse_local(id, RoomError::BadName);
                } else {
                    self.enqueue(id, Content::Rename(name), now);
                }
            }
            Event::Leave { id } => {
                let me = self.meta.me.clone();
                if self.enqueue(id, Content::Left(me), now) {
                    self.meta.leave_deadline = Some(now + LEAVE_TIMEOUT_MS);
                    self.meta_dirty = true;
                }
            }
            Event::Delete { id } => {
                if self.meta.me != self.meta.creator {
                    self.refuse_local(id, RoomError::NotCreator);
                } else {
                    self.enqueue(id, Content::Delete, now);
                }
            }
            Event::Wire { from, msg } => {
                if from != self.meta.me && msg.room() == &self.meta.room {
                    self.on_wire(from, msg, now);
                }
            }
            Event::Connected(p) => self.on_connected(p, now),
            Event::Disconnected(p) => self.on_disconnected(p, now),
            Event::Rtt { peer, ms } => {
                // Smoothed; only this node's own measurements ever get here.
                let v = self.rtt.entry(peer).or_insert(ms);
                *v = ((u64::from(*v) * 3 + u64::from(ms)) / 4) as u32;
            }
            Event::Tick => self.on_tick(now),
        }
        self.finish(now)
    }

    /// Persist ops first, then everything else; plus the timer.
    pub(super) fn finish(&mut self, now: u64) -> Vec<Action<P>> {
        if self.meta_dirty {
            self.meta_dirty = false;
            self.persist.push(PersistOp::Meta(self.meta.clone()));
        }
        if self.timer_at.is_none_or(|t| t <= now) {
            self.timer_at = Some(now + TICK_MS);
            self.out.push(Action::SetTimer { at: now + TICK_MS });
        }
        let mut actions = Vec::with_capacity(self.persist.len() + self.out.len());
        for op in self.persist.drain(..) {
            // Merge consecutive appends into one write.
            if let (PersistOp::Append(new), Some(Action::Persist(PersistOp::Append(prev)))) =
                (&op, actions.last_mut())
            {
                prev.extend(new.iter().cloned());
                continue;
            }
            actions.push(Action::Persist(op));
        }
        actions.append(&mut self.out);
        actions
    }

    pub(super) fn send(&mut self, to: P, msg: Wire<P>) {
        self.out.push(Action::Send { to, msg });
    }

    pub(super) fn refuse_local(&mut self, id: MsgId, error: RoomError) {
        self.out.push(Action::Refused { id, error });
    }

    // -----------------------------------------------------------------------------------
    // Small helpers.

    pub(super) fn last_seq(&self) -> u64 {
        self.log.len() as u64
    }

    pub(super) fn pos_at(&self, seq: u64) -> LogPos<P> {
        if seq == 0 {
            return LogPos::zero();
        }
        match self.log.get(seq as usize - 1) {
            Some(e) => LogPos {
                epoch: Some(e.epoch.clone()),
                seq,
            },
            None => LogPos::zero(),
        }
    }

    pub(super) fn last_pos(&self) -> LogPos<P> {
        self.pos_at(self.last_seq())
    }

    pub(super) fn has_pos(&self, pos: &LogPos<P>) -> bool {
        pos.seq == 0 || (pos.seq <= self.last_seq() && self.pos_at(pos.seq) == *pos)
    }

    pub(super) fn epoch_of_me(&self) -> Epoch<P> {
        Epoch {
            term: self.meta.term,
            host: self.meta.me.clone(),
        }
    }

    pub(super) fn current_epoch(&self) -> Option<Epoch<P>> {
        self.meta.host.clone().map(|host| Epoch {
            term: self.meta.term,
            host,
        })
    }

    pub(super) fn is_member(&self, p: &P) -> bool {
        self.meta.members.contains(p)
    }

    /// Host check for a peer that talks to me: a member, or invited by an entry that is
    /// not committed yet (a new host may re-commit it a moment later).
    pub(super) fn is_member_or_invited(&self, p: &P) -> bool {
        self.is_member(p)
            || self.log[self.meta.displayed as usize..]
                .iter()
                .any(|e| e.item.content == Content::Invite(p.clone()))
    }

    pub(super) fn active(&self) -> bool {
        !self.meta.left && self.is_member(&self.meta.me)
    }

    pub(super) fn hello(&self) -> Wire<P> {
        Wire::Hello {
            room: self.meta.room,
            term: self.meta.term,
            host: self.meta.host.clone(),
            last: self.last_pos(),
            cert: self.meta.cert.clone(),
        }
    }

    /// Connected members, other than me, that spoke in this room since connecting.
    pub(super) fn electorate(&self) -> BTreeSet<P> {
        self.connected
            .iter()
            .filter(|p| {
                self.spoke.contains(*p)
                    && self.is_member(p)
                    && **p != self.meta.me
                    && self.gone.as_ref() != Some(*p)
            })
            .cloned()
            .collect()
    }

    /// First and last seq of `epoch` in my log (epochs never decrease along a log).
    pub(super) fn epoch_range(&self, epoch: &Epoch<P>) -> Option<(u64, u64)> {
        let lo = self.log.partition_point(|e| e.epoch < *epoch);
        let hi = self.log.partition_point(|e| e.epoch <= *epoch);
        (lo < hi).then_some((lo as u64 + 1, hi as u64))
    }

    /// Epoch runs of my log at or below `upto`, newest first.
    pub(super) fn segments_below(&self, upto: u64) -> (u64, Vec<Segment<P>>) {
        let end = upto.min(self.last_seq());
        let mut segments = Vec::new();
        let mut cur = end;
        while cur > 0 && segments.len() < MAX_SEGMENTS {
            let epoch = self.log[cur as usize - 1].epoch.clone();
            let first = self.log.partition_point(|e| e.epoch < epoch) as u64 + 1;
            segments.push(Segment { epoch, first });
            cur = first - 1;
        }
        (end, segments)
    }

    pub(super) fn append_entry(&mut self, entry: Entry<P>) {
        self.index.insert(entry.item.id, entry.seq);
        self.persist.push(PersistOp::Append(vec![entry.clone()]));
        self.log.push(entry);
    }

    pub(super) fn append_host_change(&mut self) {
        let epoch = self.epoch_of_me();
        let id = derived_id(&self.meta.room, b"host-change", epoch.term, &epoch.host);
        if self.index.contains_key(&id) {
            return;
        }
        let seq = self.last_seq() + 1;
        let item = self.signed(Item {
            id,
            sender: self.meta.me.clone(),
            sent_ms: 0,
            content: Content::HostChange,
            sig: Sig::NONE,
        });
        self.append_entry(Entry { epoch, seq, item });
    }

    // -----------------------------------------------------------------------------------
    // Dispatch.

    pub(super) fn on_wire(&mut self, from: P, msg: Wire<P>, now: u64) {
        if !plausible(&msg) {
            return;
        }
        let first_contact = self.connected.contains(&from) && self.spoke.insert(from.clone());
        if self.connected.contains(&from) {
            self.heard.insert(from.clone(), now);
        }
        if self.gone.as_ref() == Some(&from) {
            self.gone = None;
        }
        if self.meta.left {
            return;
        }
        match msg {
            Wire::Hello {
                term,
                host,
                last,
                cert,
                ..
            } => {
                // Answer a peer's first word on this connection, so both sides know the
                // other runs this room (that is what puts it in the electorate).
                if first_contact && self.hosting.is_none() && self.is_member(&from) {
                    let hello = self.hello();
                    self.send(from.clone(), hello);
                }
                self.on_hello(from, term, host, last, cert, now)
            }
            Wire::Submit { term, items, .. } => self.on_submit(from, term, items, now),
            Wire::Accepted { epoch, ids, .. } => {
                if self.current_epoch().as_ref() != Some(&epoch) || epoch.host != from {
                    return;
                }
                for id in ids.into_iter().take(MAX_SUBMIT_ITEMS) {
                    let Some(order) = self.outbox_ids.get(&id).copied() else {
                        continue;
                    };
                    let me = self.meta.me.clone();
                    if let Some(o) = self.outbox.get_mut(&order) {
                        if o.acked_in.as_ref() != Some(&epoch) {
                            o.acked_in = Some(epoch.clone());
                            if o.item.sender == me {
                                self.out.push(Action::DeliveryState {
                                    id,
                                    state: DeliveryState::HeldByHost,
                                });
                            }
                        }
                    }
                }
                // The submission in flight is answered: send what waited behind it.
                for o in self.outbox.values_mut() {
                    if o.acked_in.as_ref() != Some(&epoch) {
                        o.last_sent_ms = None;
                    }
                }
                self.flush_outbox(now);
            }
            Wire::Refused { term, refused, .. } => {
                if self.meta.host.as_ref() != Some(&from) || term != self.meta.term {
                    return;
                }
                for (id, error) in refused.into_iter().take(MAX_SUBMIT_ITEMS) {
                    if let Some(o) = self.remove_outbox(&id) {
                        if o.item.sender == self.meta.me {
                            self.out.push(Action::Refused { id, error });
                        }
                    }
                }
            }
            Wire::NotMember { .. } => {
                if self.meta.host.as_ref() != Some(&from) || self.meta.left {
                    return;
                }
                let me = self.meta.me.clone();
                let leaving = self
                    .outbox
                    .values()
                    .find(|o| o.item.content == Content::Left(me.clone()))
                    .map(|o| o.item.id);
                if let Some(id) = leaving {
                    // The host no longer counts me: my leave went through.
                    self.remove_outbox(&id);
                    self.out.push(Action::DeliveryState {
                        id,
                        state: DeliveryState::Delivered,
                    });
                    self.out.push(Action::Left);
                    self.meta.left = true;
                    self.meta.leave_deadline = None;
                    self.meta_dirty = true;
                } else {
                    // Not final: a host that has not caught up yet may say so too.
                    self.out.push(Action::AccessDenied);
                }
            }
            Wire::Append {
                epoch,
                prev,
                entries,
                commit,
                host_last,
                cert,
                ..
            } => self.on_append(from, epoch, prev, entries, (commit, host_last), cert, now),
            Wire::AppendReply {
                epoch,
                ok,
                seq,
                segments,
                ..
            } => {
                if segments.len() <= MAX_SEGMENTS {
                    self.on_append_reply(from, epoch, ok, seq, segments, now)
                }
            }
            Wire::VoteRequest {
                term,
                last,
                pre,
                cert,
                ..
            } => self.on_vote_request(from, term, last, pre, cert, now),
            Wire::VoteReply {
                term,
                granted,
                last,
                pre,
                sig,
                ..
            } => self.on_vote_reply(from, (term, granted, pre), last, sig, now),
            Wire::Resign { epoch, .. } => {
                if epoch.host == from && self.current_epoch().as_ref() == Some(&epoch) {
                    self.lose_host();
                }
            }
        }
    }

    pub(super) fn on_connected(&mut self, p: P, now: u64) {
        if p == self.meta.me {
            return;
        }
        self.connected.insert(p.clone());
        self.spoke.remove(&p);
        self.heard.remove(&p);
        if self.meta.left {
            return;
        }
        if self.is_member(&p) || self.meta.host.as_ref() == Some(&p) {
            let hello = self.hello();
            self.send(p.clone(), hello);
        }
        if self.hosting.is_some() && self.is_member(&p) {
            if let Some(h) = self.hosting.as_mut() {
                h.followers.remove(&p);
            }
            self.send_append(&p, now);
        }
        if self.meta.host.as_ref() == Some(&p) {
            self.host_heard_ms = self
                .host_heard_ms
                .max(now.saturating_sub(HOST_SILENCE_MS / 2));
            self.flush_outbox(now);
        }
    }

    pub(super) fn on_disconnected(&mut self, p: P, now: u64) {
        self.connected.remove(&p);
        self.spoke.remove(&p);
        self.heard.remove(&p);
        if let Some(h) = self.hosting.as_mut() {
            h.in_sync.remove(&p);
            h.followers.remove(&p);
        }
        self.advance_commit(now);
        if matches!(self.election, Election::Standing { .. }) {
            self.check_won(now);
        }
    }

    pub(super) fn on_tick(&mut self, now: u64) {
        if self.hosting.is_some() {
            self.heartbeat(now);
        } else {
            self.drive_election(now);
        }
        self.flush_outbox(now);
        if let Some(deadline) = self.meta.leave_deadline {
            if now >= deadline && !self.meta.muted && !self.meta.left {
                self.meta.muted = true;
                self.meta_dirty = true;
                self.out.push(Action::Muted);
            }
        }
    }
}
