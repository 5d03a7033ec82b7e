//! Driving the state machines: feed an event to a room or to the direct messages and carry
//! out the actions they return (persist first, then send, emit and answer).

use super::*;

impl Actor {
    // ----- driving the state machines -----

    /// Feeds one event to a room and carries out its actions; returns the entries it
    /// delivered.
    pub(super) fn room_event(
        &mut self,
        room: RoomId,
        event: RoomEvent<PeerId>,
        fx: &mut Effects,
    ) -> Vec<Entry<PeerId>> {
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        let Some(r) = open.rooms.get_mut(&room) else {
            return Vec::new();
        };
        let actions = r.handle(event, now_ms());
        self.room_actions(room, actions, fx)
    }

    pub(super) fn room_actions(
        &mut self,
        room: RoomId,
        actions: Vec<Action<PeerId>>,
        fx: &mut Effects,
    ) -> Vec<Entry<PeerId>> {
        let mut delivered = Vec::new();
        for action in actions {
            let Some(open) = self.open.as_ref() else {
                return delivered;
            };
            match action {
                Action::Persist(op) => {
                    let only_shown = match (&op, open.metas.get(&room)) {
                        (PersistOp::Meta(new), Some(old)) => only_display_advanced(old, new),
                        _ => false,
                    };
                    // A moved display point alone need not be on disk before the batch
                    // acts: lost in a crash, the same committed entries are shown again
                    // from the log, by id. It is made durable by the next flush.
                    fx.wrote |= !only_shown;
                    if let Err(e) = persist_room(&open.tables, &room, &op) {
                        tracing::error!("chat: cannot store room state: {e}");
                    }
                    let written = match op {
                        PersistOp::Meta(m) => Some(m),
                        PersistOp::Snapshot(s) => Some(s.meta),
                        _ => None,
                    };
                    if let (Some(m), Some(open)) = (written, self.open.as_mut()) {
                        open.metas.insert(room, m);
                    }
                }
                Action::Send { to, msg } => fx.sends.push((to, ChatWire::Room(msg))),
                Action::Deliver(entry) => {
                    if let Some(r) = open.rooms.get(&room) {
                        let message = self.room_message(r, &entry);
                        fx.events.push(EventKind::ChatMessage { message });
                    }
                    fx.rooms.insert(room);
                    delivered.push(entry);
                }
                Action::DeliveryState { id, state } => {
                    fx.events.push(EventKind::MessageState {
                        message_id: hex::encode(id),
                        room_id: Some(hex_room(&room)),
                        peer_id: None,
                        state: delivery_state(state),
                    });
                    fx.rooms.insert(room);
                }
                Action::Refused { id, error } => {
                    tracing::info!(room = %hex_room(&room), "chat: refused: {error}");
                    fx.refused.insert(id, error);
                    fx.rooms.insert(room);
                }
                Action::HostChanged { .. }
                | Action::MembersChanged(_)
                | Action::Renamed(_)
                | Action::Muted
                | Action::Left
                | Action::AccessDenied
                | Action::Deleted => {
                    fx.rooms.insert(room);
                }
                Action::Invitation { to, invitation } => {
                    match serde_json::to_string(&DmBody::Invite(Box::new(invitation))) {
                        Ok(body) => self.dm_event(
                            DmEvent::Send {
                                to,
                                id: random_id(),
                                body,
                            },
                            fx,
                        ),
                        Err(e) => tracing::error!("chat: cannot encode an invitation: {e}"),
                    }
                }
                Action::SetTimer { at } => {
                    if let Some(open) = self.open.as_mut() {
                        open.timers.insert(room, at);
                    }
                }
            }
        }
        delivered
    }

    pub(super) fn dm_event(&mut self, event: DmEvent<PeerId>, fx: &mut Effects) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let actions = open.dm.handle(event, now_ms());
        self.dm_actions(actions, fx);
    }

    pub(super) fn dm_actions(&mut self, actions: Vec<DmAction<PeerId>>, fx: &mut Effects) {
        for action in actions {
            let Some(open) = self.open.as_mut() else {
                return;
            };
            match action {
                DmAction::Persist(op) => {
                    fx.wrote = true;
                    if let Err(e) = persist_dm(&open.tables, &op) {
                        tracing::error!("chat: cannot store direct-message state: {e}");
                    }
                }
                DmAction::Send { to, msg } => fx.sends.push((to, ChatWire::Dm(msg))),
                DmAction::Deliver {
                    from,
                    id,
                    body,
                    sent_ms,
                } => self.dm_delivered(from, id, body, sent_ms, fx),
                DmAction::State { id, state } => {
                    if let Err(e) = self.dm_state(id, state, fx) {
                        tracing::error!("chat: cannot store a message state: {e}");
                    }
                }
                DmAction::Refused { id, error } => {
                    fx.dm_refused.insert(id, error);
                }
                DmAction::SetTimer { at } => open.dm_timer = Some(at),
            }
        }
    }

    pub(super) fn dm_delivered(
        &mut self,
        from: PeerId,
        id: MsgId,
        body: String,
        sent_ms: u64,
        fx: &mut Effects,
    ) {
        let body = match serde_json::from_str::<DmBody>(&body) {
            Ok(DmBody::Text(text)) if text.len() <= MAX_TEXT_BYTES => HeldBody::Text(text),
            Ok(DmBody::Invite(invitation)) if self.sane_invitation(&from, &invitation) => {
                HeldBody::Invite(invitation)
            }
            Ok(DmBody::Invite(_)) => {
                tracing::info!(%from, "chat: ignoring an invitation that does not name us both");
                return;
            }
            Ok(DmBody::Text(_)) | Err(_) => {
                tracing::info!(%from, "chat: dropping an unreadable direct message");
                return;
            }
        };
        if !self.is_known(&from) {
            self.hold(from, id, body, sent_ms, fx);
            return;
        }
        match body {
            HeldBody::Text(text) => self.received_text(from, id, text, sent_ms, fx),
            HeldBody::Invite(invitation) => self.invited(from, *invitation, fx),
        }
    }

    /// Adds a text from `from` to our conversation and shows it.
    pub(super) fn received_text(
        &mut self,
        from: PeerId,
        id: MsgId,
        text: String,
        sent_ms: u64,
        fx: &mut Effects,
    ) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let record = DmRecord {
            id,
            mine: false,
            body: text,
            sent_ms,
            state: DmMark::Received,
        };
        let c = open.conversations.entry(from).or_default();
        let n = c.next;
        c.next += 1;
        c.unread += 1;
        c.last = Some((n, record.clone()));
        fx.wrote = true;
        if let Err(e) = open.tables.dm_history.insert(&dm_key(&from, n), &record) {
            tracing::error!("chat: cannot store a message: {e}");
        }
        fx.events.push(EventKind::ChatMessage {
            message: dm_message(&self.me, &from, n, &record),
        });
        fx.conversations.insert(from);
    }

    /// Whether an invitation names us both and fits the room limits.
    pub(super) fn sane_invitation(&self, from: &PeerId, invitation: &Invitation<PeerId>) -> bool {
        invitation.members.contains(&self.me)
            && invitation.members.contains(from)
            && invitation.members.len() <= room::MAX_MEMBERS
            && !invitation.name.is_empty()
            && invitation.name.len() <= room::MAX_NAME_BYTES
    }

    /// Joins a room from an invitation sent by one of its members.
    pub(super) fn invited(
        &mut self,
        from: PeerId,
        invitation: Invitation<PeerId>,
        fx: &mut Effects,
    ) {
        let sane = self.sane_invitation(&from, &invitation);
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if !sane {
            tracing::info!(%from, "chat: ignoring an invitation that does not name us both");
            return;
        }
        if open.rooms.contains_key(&invitation.room) {
            return;
        }
        let id = invitation.room;
        let (room, actions) =
            Room::from_invitation(self.me, invitation, now_ms(), self.signer.clone());
        self.adopt_room(room, actions, fx);
        fx.rooms.insert(id);
    }

    pub(super) fn dm_state(
        &mut self,
        id: MsgId,
        state: DmState,
        fx: &mut Effects,
    ) -> Result<(), ChatError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let Some(&(peer, n)) = open.pending_dms.get(&id) else {
            return Ok(()); // an invitation
        };
        let state = dm_message_state(state);
        let key = dm_key(&peer, n);
        let Some(mut record) = open.tables.dm_history.get(&key)? else {
            return Ok(());
        };
        if MessageState::from(record.state) == state {
            return Ok(());
        }
        record.state = state.into();
        open.tables.dm_history.insert(&key, &record)?;
        fx.wrote = true;
        if let Some(c) = open.conversations.get_mut(&peer) {
            if state == MessageState::Delivered {
                open.pending_dms.remove(&id);
                c.pending = c.pending.saturating_sub(1);
            }
            if c.last.as_ref().is_some_and(|(last, _)| *last == n) {
                c.last = Some((n, record));
            }
        }
        fx.events.push(EventKind::MessageState {
            message_id: hex::encode(id),
            room_id: None,
            peer_id: Some(peer.to_string()),
            state,
        });
        fx.conversations.insert(peer);
        Ok(())
    }
}
