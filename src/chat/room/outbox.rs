//! What this member wrote and has not seen committed yet (the outbox), and the commit point
//! and what it lets the UI display.

use super::*;

impl<P: PeerKey> Room<P> {
    // -----------------------------------------------------------------------------------
    // Outbox.

    /// Queue a locally written item. Returns false if refused.
    pub(super) fn enqueue(&mut self, id: MsgId, content: Content<P>, now: u64) -> bool {
        let error = if self.meta.deleted {
            Some(RoomError::RoomDeleted)
        } else if self.meta.left {
            Some(RoomError::LeftRoom)
        } else if !self.is_member(&self.meta.me) {
            Some(RoomError::NotMember)
        } else if self.outbox_ids.contains_key(&id) || self.index.contains_key(&id) {
            Some(RoomError::DuplicateId)
        } else if self
            .outbox
            .values()
            .filter(|o| o.item.sender == self.meta.me)
            .count()
            >= MAX_OUTBOX
        {
            Some(RoomError::OutboxFull)
        } else {
            None
        };
        if let Some(e) = error {
            self.refuse_local(id, e);
            return false;
        }
        let item = self.signed(Item {
            id,
            sender: self.meta.me.clone(),
            sent_ms: now,
            content,
            sig: Sig::NONE,
        });
        self.put_outbox(item);
        self.out.push(Action::DeliveryState {
            id,
            state: DeliveryState::Sending,
        });
        self.flush_outbox(now);
        true
    }

    pub(super) fn put_outbox(&mut self, item: Item<P>) {
        if self.outbox_ids.contains_key(&item.id) {
            return;
        }
        let order = self.meta.next_order;
        self.meta.next_order += 1;
        self.meta_dirty = true;
        let o = OutItem {
            order,
            item,
            acked_in: None,
            last_sent_ms: None,
        };
        self.persist.push(PersistOp::OutboxPut(o.clone()));
        self.outbox_ids.insert(o.item.id, order);
        self.outbox.insert(order, o);
    }

    pub(super) fn remove_outbox(&mut self, id: &MsgId) -> Option<OutItem<P>> {
        let order = self.outbox_ids.remove(id)?;
        self.persist.push(PersistOp::OutboxRemove(*id));
        self.outbox.remove(&order)
    }

    /// Hand pending items to the host: sequence them myself if I am the host, else submit
    /// (again, if unanswered for `RESEND_MS` or the epoch changed).
    pub(super) fn flush_outbox(&mut self, now: u64) {
        if self.outbox.is_empty() || self.meta.left {
            return;
        }
        if self.hosting.is_some() {
            let epoch = self.epoch_of_me();
            let pending: Vec<(u64, Item<P>)> = self
                .outbox
                .iter()
                .filter(|(_, o)| o.acked_in.as_ref() != Some(&epoch))
                .map(|(k, o)| (*k, o.item.clone()))
                .collect();
            let me = self.meta.me.clone();
            for (order, item) in pending {
                let id = item.id;
                let own = item.sender == me;
                match self.sequence(item, &me) {
                    Ok(()) => {
                        if let Some(o) = self.outbox.get_mut(&order) {
                            o.acked_in = Some(epoch.clone());
                        }
                        if own {
                            self.out.push(Action::DeliveryState {
                                id,
                                state: DeliveryState::HeldByHost,
                            });
                        }
                    }
                    Err(error) => {
                        self.remove_outbox(&id);
                        if own {
                            self.out.push(Action::Refused { id, error });
                        }
                    }
                }
            }
            self.replicate(now);
            self.advance_commit(now);
            return;
        }
        let (Some(host), Some(epoch)) = (self.meta.host.clone(), self.current_epoch()) else {
            return;
        };
        if !self.connected.contains(&host) {
            return;
        }
        // One submission in flight at a time, always the oldest unacknowledged items in
        // order: two submissions on the wire together could arrive swapped, and the host
        // would place my messages out of the order I wrote them. Messages written meanwhile
        // go with the next submission, when this one is acknowledged (or due again).
        let unacked = || {
            self.outbox
                .values()
                .filter(|o| o.acked_in.as_ref() != Some(&epoch))
        };
        let in_flight = unacked().any(|o| o.last_sent_ms.is_some_and(|t| now < t + RESEND_MS));
        let due = unacked().any(|o| o.last_sent_ms.is_none_or(|t| now >= t + RESEND_MS));
        if in_flight || !due {
            return;
        }
        let mut items = Vec::new();
        for o in self.outbox.values_mut() {
            if items.len() >= MAX_SUBMIT_ITEMS {
                break;
            }
            if o.acked_in.as_ref() != Some(&epoch) {
                o.last_sent_ms = Some(now);
                items.push(o.item.clone());
            }
        }
        if !items.is_empty() {
            let msg = Wire::Submit {
                room: self.meta.room,
                term: self.meta.term,
                items,
            };
            self.send(host, msg);
        }
    }

    /// Host: give an item a place (or find the place it already has).
    pub(super) fn sequence(&mut self, item: Item<P>, submitter: &P) -> Result<(), RoomError> {
        if self.index.contains_key(&item.id) {
            return Ok(());
        }
        if self.meta.deleted {
            return Err(RoomError::RoomDeleted);
        }
        if !content_ok(&item.content) {
            return Err(RoomError::Invalid);
        }
        // What I place myself comes from my own outbox (signed here, or checked when it
        // entered my log); anything submitted must carry its author's signature.
        if *submitter != self.meta.me && !self.item_ok(&item) {
            return Err(RoomError::BadSignature);
        }
        self.allowed(&item, &item.sender == submitter)?;
        let seq = self.last_seq() + 1;
        let epoch = self.epoch_of_me();
        self.append_entry(Entry { epoch, seq, item });
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Commit and display.

    /// Host: move the commit point to what the host and every in-sync member store.
    pub(super) fn advance_commit(&mut self, now: u64) {
        let Some(h) = &self.hosting else { return };
        let mut c = self.last_seq();
        for p in &h.in_sync {
            c = c.min(h.followers.get(p).map_or(0, |f| f.acked));
        }
        if c >= h.epoch_start && c > self.meta.displayed {
            self.display_to(c, now);
            self.announce_commit(now);
        }
    }

    /// Host: tell the members that hold everything sent to them about the new commit point
    /// at once (an empty `Append`), instead of at the next heartbeat: members show a message
    /// one round trip after it is committed. Members still being sent entries learn it from
    /// their next `Append`.
    pub(super) fn announce_commit(&mut self, now: u64) {
        self.append_to_followers(false, now);
    }

    /// Show entries up to `upto` (already known to be committed) and apply their effects.
    pub(super) fn display_to(&mut self, upto: u64, now: u64) {
        let upto = upto.min(self.last_seq());
        while self.meta.displayed < upto {
            let seq = self.meta.displayed + 1;
            let entry = self.log[seq as usize - 1].clone();
            self.meta.displayed = seq;
            self.meta_dirty = true;
            let id = entry.item.id;
            let shown_before = self.meta.orphans.remove(&id);
            if let Some(o) = self.remove_outbox(&id) {
                if o.item.sender == self.meta.me {
                    self.out.push(Action::DeliveryState {
                        id,
                        state: DeliveryState::Delivered,
                    });
                }
            }
            // An entry its author was not allowed to write (only a dishonest host places
            // one) neither takes effect nor is shown, on every member alike.
            if !self.authorised(&entry) {
                continue;
            }
            self.apply_effects(&entry, now);
            if !shown_before {
                self.out.push(Action::Deliver(entry));
            }
        }
    }

    pub(super) fn apply_effects(&mut self, entry: &Entry<P>, now: u64) {
        let membership_known = entry.seq <= self.meta.members_as_of;
        match &entry.item.content {
            Content::Text(_) | Content::HostChange => {}
            Content::Created { name } | Content::Rename(name) => {
                if *name != self.meta.name {
                    self.meta.name = name.clone();
                    self.out.push(Action::Renamed(name.clone()));
                }
            }
            Content::Invite(p) => {
                if !membership_known && self.meta.members.insert(p.clone()) {
                    self.out
                        .push(Action::MembersChanged(self.meta.members.clone()));
                    if self.hosting.is_none() && self.connected.contains(p) && *p != self.meta.me {
                        let hello = self.hello();
                        self.send(p.clone(), hello);
                    }
                }
                if self.hosting.is_some() {
                    let mut invitation = self.invitation();
                    invitation.as_of = entry.seq;
                    self.out.push(Action::Invitation {
                        to: p.clone(),
                        invitation,
                    });
                    if self.connected.contains(p) {
                        self.send_append(p, now);
                    }
                }
            }
            Content::Left(p) => {
                self.departed.insert(p.clone());
                if !membership_known && self.meta.members.remove(p) {
                    self.out
                        .push(Action::MembersChanged(self.meta.members.clone()));
                }
                if *p == self.meta.me {
                    self.meta.left = true;
                    self.meta.leave_deadline = None;
                    self.out.push(Action::Left);
                    if self.hosting.is_some() {
                        self.resign(now);
                    }
                    self.election = Election::Idle;
                } else if self.hosting.is_some() {
                    // Tell the leaver its leave is committed, then stop replicating to it.
                    if self.connected.contains(p) {
                        self.send_append(p, now);
                    }
                    if let Some(h) = self.hosting.as_mut() {
                        h.followers.remove(p);
                        h.in_sync.remove(p);
                    }
                } else if self.meta.host.as_ref() == Some(p) {
                    self.lose_host();
                }
            }
            Content::Delete => {
                if !self.meta.deleted {
                    self.meta.deleted = true;
                    self.out.push(Action::Deleted);
                    // Nothing more can be sent; forget my own unsent items.
                    let ids: Vec<MsgId> = self.outbox.values().map(|o| o.item.id).collect();
                    for id in ids {
                        if let Some(o) = self.remove_outbox(&id) {
                            if o.item.sender == self.meta.me {
                                self.out.push(Action::Refused {
                                    id,
                                    error: RoomError::RoomDeleted,
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Remove my log from `from` on (it conflicts with the host's log). Displayed entries
    /// are remembered as orphans; every removed item except epoch markers is handed over.
    pub(super) fn truncate_from(&mut self, from: u64) {
        if from == 0 || from > self.last_seq() {
            return;
        }
        let removed: Vec<Entry<P>> = self.log.drain(from as usize - 1..).collect();
        self.persist.push(PersistOp::TruncateFrom(from));
        for e in removed {
            self.index.remove(&e.item.id);
            if e.seq <= self.meta.displayed && self.meta.orphans.len() < MAX_ORPHANS {
                self.meta.orphans.insert(e.item.id);
            }
            if !matches!(
                e.item.content,
                Content::HostChange | Content::Created { .. }
            ) {
                self.put_outbox(e.item);
            }
        }
        if self.meta.displayed >= from {
            self.meta.displayed = from - 1;
        }
        self.verified = self.verified.min(from - 1);
        self.meta_dirty = true;
    }
}
