//! The actor's commands from the API: create, join, send, invite, leave, read, unlock...

use super::*;

impl Actor {
    // ----- commands -----

    pub(super) async fn on_command(&mut self, cmd: Command, fx: &mut Effects) {
        match cmd {
            Command::Status(reply) => {
                let status = self.status();
                fx.reply(reply, status);
            }
            Command::Unlock(passphrase, reply) => {
                let result = self.unlock(&passphrase, fx).await;
                fx.reply(reply, result);
            }
            Command::ChangePassphrase(old, new, reply) => {
                let result = if self.open.is_none() {
                    Err(ChatError::Locked)
                } else {
                    self.store
                        .change_passphrase(&old, &new)
                        .await
                        .map_err(ChatError::from)
                };
                fx.reply(reply, result);
            }
            Command::Interacted(peer, reply) => {
                let result = self.interacted(peer, fx);
                fx.reply(reply, result);
            }
            cmd => {
                if self.open.is_none() {
                    reply_locked(cmd);
                    return;
                }
                self.on_open_command(cmd, fx);
            }
        }
    }

    pub(super) fn on_open_command(&mut self, cmd: Command, fx: &mut Effects) {
        let Some(open) = self.open.as_ref() else {
            return;
        };
        match cmd {
            Command::ListRooms(reply) => {
                let rooms = open
                    .rooms
                    .values()
                    .map(|r| self.room_info(open, r))
                    .collect();
                fx.reply(reply, Ok(rooms));
            }
            Command::GetRoom(room, reply) => {
                let info = open
                    .rooms
                    .get(&room)
                    .map(|r| self.room_info(open, r))
                    .ok_or(ChatError::NoSuchRoom);
                fx.reply(reply, info);
            }
            Command::CreateRoom {
                name,
                members,
                reply,
            } => {
                let result = self.create_room(name, members, fx);
                fx.reply(reply, result);
            }
            Command::Room { room, op, reply } => {
                let result = self.room_command(room, op, fx);
                fx.reply(reply, result);
            }
            Command::History {
                room,
                before,
                limit,
                reply,
            } => {
                let page = open
                    .rooms
                    .get(&room)
                    .map(|r| self.room_history(r, before, limit))
                    .ok_or(ChatError::NoSuchRoom);
                fx.reply(reply, page);
            }
            Command::MarkRead(room, reply) => {
                let result = self.mark_read(room, fx);
                fx.reply(reply, result);
            }
            Command::ListDms(reply) => {
                let list = open
                    .conversations
                    .iter()
                    .map(|(p, c)| self.conversation_info(p, c))
                    .collect();
                fx.reply(reply, Ok(list));
            }
            Command::SendDm { peer, body, reply } => {
                let result = self.send_dm(peer, body, fx);
                fx.reply(reply, result);
            }
            Command::DmHistory {
                peer,
                before,
                limit,
                reply,
            } => {
                let page = self.dm_history(open, &peer, before, limit);
                fx.reply(reply, page);
            }
            Command::MarkDmRead(peer, reply) => {
                let result = self.mark_dm_read(peer, fx);
                fx.reply(reply, result);
            }
            Command::ListRequests(reply) => {
                let list = self.request_list(open);
                fx.reply(reply, Ok(list));
            }
            Command::AnswerRequest {
                peer,
                accept,
                reply,
            } => {
                let result = self.answer_request(peer, accept, fx);
                fx.reply(reply, result);
            }
            Command::Status(_)
            | Command::Unlock(..)
            | Command::ChangePassphrase(..)
            | Command::Interacted(..) => {
                unreachable!("handled in on_command")
            }
        }
    }

    pub(super) fn status(&self) -> Result<ChatStatus, ChatError> {
        Ok(ChatStatus {
            unlocked: self.open.is_some(),
            has_passphrase: self.store.has_vault()?,
        })
    }

    /// Unlocks the vault, loads every room and conversation and starts them.
    pub(super) async fn unlock(
        &mut self,
        passphrase: &str,
        fx: &mut Effects,
    ) -> Result<ChatStatus, ChatError> {
        if self.open.is_some() {
            return self.status();
        }
        let vault = Arc::new(self.store.unlock_vault(passphrase).await?);
        let open = self.load(vault)?;
        let now = now_ms();
        let rooms: Vec<Snapshot<PeerId>> = open.1;
        self.open = Some(open.0);
        for snapshot in rooms {
            let (room, actions) = Room::restore(snapshot, now, self.signer.clone());
            self.adopt_room(room, actions, fx);
        }
        let peers: Vec<PeerId> = self.connected.iter().copied().collect();
        for p in peers {
            self.dm_event(DmEvent::Online(p), fx);
        }
        let status = self.status()?;
        fx.events.push(EventKind::ChatStatusChanged {
            status: status.clone(),
        });
        Ok(status)
    }

    pub(super) fn load(
        &self,
        vault: Arc<Vault>,
    ) -> Result<(Open, Vec<Snapshot<PeerId>>), ChatError> {
        let s = &self.store;
        for legacy in LEGACY_ROOM_TABLES {
            if s.drop_table(legacy)? {
                tracing::warn!(
                    table = legacy,
                    "dropped rooms stored before items were signed"
                );
            }
        }
        let tables = Tables {
            meta: s.sealed_table(META_TABLE, vault.clone())?,
            log: s.sealed_table(LOG_TABLE, vault.clone())?,
            outbox: s.sealed_table(OUTBOX_TABLE, vault.clone())?,
            dm_next: s.sealed_table(DM_NEXT_TABLE, vault.clone())?,
            dm_outbox: s.sealed_table(DM_OUTBOX_TABLE, vault.clone())?,
            dm_inbox: s.sealed_table(DM_INBOX_TABLE, vault.clone())?,
            dm_history: s.sealed_table(DM_HISTORY_TABLE, vault.clone())?,
            read: s.table(READ_TABLE)?,
            requests: s.sealed_table(REQUESTS_TABLE, vault)?,
            known: s.table(KNOWN_TABLE)?,
            declined: s.table(DECLINED_TABLE)?,
        };
        let mut snapshots = Vec::new();
        for (key, meta) in tables.meta.entries()? {
            let prefix = format!("{key}/");
            let log: Vec<Entry<PeerId>> = tables
                .log
                .scan_prefix(&prefix, usize::MAX)?
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            if log.iter().enumerate().any(|(i, e)| e.seq != i as u64 + 1) {
                tracing::error!(room = %key, "room log has a gap; its later entries will be fetched again");
            }
            let log: Vec<Entry<PeerId>> = log
                .into_iter()
                .enumerate()
                .take_while(|(i, e)| e.seq == *i as u64 + 1)
                .map(|(_, e)| e)
                .collect();
            let mut outbox: Vec<OutItem<PeerId>> = tables
                .outbox
                .scan_prefix(&prefix, usize::MAX)?
                .into_iter()
                .map(|(_, o)| o)
                .collect();
            outbox.sort_by_key(|o| o.order);
            snapshots.push(Snapshot { meta, log, outbox });
        }
        let mut dm = DmSnapshot::default();
        for (key, next) in tables.dm_next.entries()? {
            if let Ok(peer) = key.parse() {
                dm.next_seq.insert(peer, next);
            }
        }
        dm.outbox = tables
            .dm_outbox
            .entries()?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        for (key, mark) in tables.dm_inbox.entries()? {
            if let Ok(peer) = key.parse() {
                dm.inbox.insert(peer, mark);
            }
        }
        let mut conversations: BTreeMap<PeerId, Conversation> = BTreeMap::new();
        let mut pending_dms = HashMap::new();
        let mut read_marks: HashMap<PeerId, u64> = HashMap::new();
        for (key, record) in tables.dm_history.entries()? {
            let Some((peer, n)) = parse_dm_key(&key) else {
                continue;
            };
            let read = match read_marks.get(&peer) {
                Some(r) => *r,
                None => {
                    let r = tables.read.get(&format!("d/{peer}"))?.unwrap_or(0);
                    read_marks.insert(peer, r);
                    r
                }
            };
            let c = conversations.entry(peer).or_default();
            c.next = c.next.max(n + 1);
            if record.mine && record.state != DmMark::Delivered {
                pending_dms.insert(record.id, (peer, n));
                c.pending += 1;
            }
            if !record.mine && n >= read {
                c.unread += 1;
            }
            c.last = Some((n, record));
        }
        let peers_of = |t: &Table<u64>| -> Result<BTreeSet<PeerId>, StoreError> {
            Ok(t.entries()?
                .into_iter()
                .filter_map(|(key, _)| key.parse().ok())
                .collect())
        };
        let known = peers_of(&tables.known)?;
        let declined = peers_of(&tables.declined)?;
        let requests = tables
            .requests
            .entries()?
            .into_iter()
            .filter_map(|(key, r)| Some((key.parse().ok()?, r)))
            .collect();
        let open = Open {
            requests,
            known,
            declined,
            requests_refused: 0,
            requests_dropped: 0,
            rooms: BTreeMap::new(),
            timers: BTreeMap::new(),
            dm: DirectMessages::restore(dm),
            dm_timer: None,
            conversations,
            pending_dms,
            metas: snapshots
                .iter()
                .map(|s| (s.meta.room, s.meta.clone()))
                .collect(),
            read_marks: tables
                .read
                .scan_prefix("r/", usize::MAX)?
                .into_iter()
                .filter_map(|(key, upto)| {
                    let mut room: RoomId = [0; 32];
                    hex::decode_to_slice(key.strip_prefix("r/")?, &mut room).ok()?;
                    Some((room, upto))
                })
                .collect(),
            tables,
        };
        Ok((open, snapshots))
    }

    /// Takes a room just created, joined or restored: carries out its first actions and
    /// tells it who is connected.
    pub(super) fn adopt_room(
        &mut self,
        room: Room<PeerId>,
        actions: Vec<Action<PeerId>>,
        fx: &mut Effects,
    ) {
        let id = *room.id();
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.rooms.insert(id, room);
        self.room_actions(id, actions, fx);
        let peers: Vec<PeerId> = self.connected.iter().copied().collect();
        for p in peers {
            self.room_event(id, RoomEvent::Connected(p), fx);
        }
    }

    pub(super) fn create_room(
        &mut self,
        name: String,
        members: Vec<PeerId>,
        fx: &mut Effects,
    ) -> Result<RoomInfo, ChatError> {
        let name = name.trim().to_owned();
        if members.contains(&self.me) {
            return Err(ChatError::OwnRoom);
        }
        let mut id: RoomId = [0; 32];
        rand::thread_rng().fill_bytes(&mut id);
        let (room, actions) = Room::create(id, self.me, name, now_ms(), self.signer.clone())?;
        self.open_mut()?;
        self.adopt_room(room, actions, fx);
        for peer in members {
            self.room_event(
                id,
                RoomEvent::Invite {
                    id: random_id(),
                    peer,
                },
                fx,
            );
        }
        fx.rooms.insert(id);
        let open = self.open.as_ref().ok_or(ChatError::Locked)?;
        let room = open.rooms.get(&id).ok_or(ChatError::NoSuchRoom)?;
        Ok(self.room_info(open, room))
    }

    pub(super) fn room_command(
        &mut self,
        room: RoomId,
        op: RoomOp,
        fx: &mut Effects,
    ) -> Result<ChatMessage, ChatError> {
        if !self.open_mut()?.rooms.contains_key(&room) {
            return Err(ChatError::NoSuchRoom);
        }
        let id = random_id();
        let event = match op {
            RoomOp::Send(body) => {
                if body.trim().is_empty() {
                    return Err(ChatError::EmptyMessage);
                }
                RoomEvent::Send { id, body }
            }
            RoomOp::Invite(peer) => {
                if peer == self.me {
                    return Err(ChatError::AlreadyMember);
                }
                RoomEvent::Invite { id, peer }
            }
            RoomOp::Rename(name) => RoomEvent::Rename {
                id,
                name: name.trim().to_owned(),
            },
            RoomOp::Leave => RoomEvent::Leave { id },
            RoomOp::Delete => RoomEvent::Delete { id },
        };
        let delivered = self.room_event(room, event, fx);
        if let Some(error) = fx.refused.remove(&id) {
            return Err(error.into());
        }
        fx.rooms.insert(room);
        let open = self.open.as_ref().ok_or(ChatError::Locked)?;
        let r = open.rooms.get(&room).ok_or(ChatError::NoSuchRoom)?;
        if let Some(entry) = delivered.iter().find(|e| e.item.id == id) {
            return Ok(self.room_message(r, entry));
        }
        let unsent = r.unsent().find(|(item, _)| item.id == id);
        Ok(match unsent {
            Some((item, state)) => self.unsent_message(r, item, state),
            // Left or handled at once without an entry of its own (e.g. a leave request
            // that turned into muting): report it as sent.
            None => ChatMessage {
                id: hex::encode(id),
                room_id: Some(hex_room(&room)),
                peer_id: None,
                sender: self.me.to_string(),
                mine: true,
                kind: MessageKind::Text,
                body: String::new(),
                seq: None,
                sent_ms: now_ms(),
                state: MessageState::Sending,
            },
        })
    }

    pub(super) fn send_dm(
        &mut self,
        peer: PeerId,
        body: String,
        fx: &mut Effects,
    ) -> Result<ChatMessage, ChatError> {
        if peer == self.me {
            return Err(ChatError::MessageToSelf);
        }
        if body.trim().is_empty() {
            return Err(ChatError::EmptyMessage);
        }
        if body.len() > MAX_TEXT_BYTES {
            return Err(ChatError::Dm(DmError::BodyTooLarge));
        }
        let wire = serde_json::to_string(&DmBody::Text(body.clone())).map_err(ChatError::Encode)?;
        let id = random_id();
        let now = now_ms();
        let actions = self.open_mut()?.dm.handle(
            DmEvent::Send {
                to: peer,
                id,
                body: wire,
            },
            now,
        );
        if let Some(DmAction::Refused { error, .. }) = actions
            .iter()
            .find(|a| matches!(a, DmAction::Refused { id: i, .. } if *i == id))
        {
            let error = error.clone();
            self.dm_actions(actions, fx);
            return Err(error.into());
        }
        let record = DmRecord {
            id,
            mine: true,
            body,
            sent_ms: now,
            state: DmMark::Queued,
        };
        let open = self.open_mut()?;
        if open.declined.remove(&peer) {
            // Writing to a declined peer takes the refusal back.
            open.tables.declined.delete(&peer.to_string())?;
        }
        let c = open.conversations.entry(peer).or_default();
        let n = c.next;
        c.next += 1;
        c.pending += 1;
        c.last = Some((n, record.clone()));
        open.tables.dm_history.insert(&dm_key(&peer, n), &record)?;
        open.pending_dms.insert(id, (peer, n));
        fx.wrote = true;
        fx.conversations.insert(peer);
        // The state after this batch (queued, or sending when the peer is online).
        let state = actions
            .iter()
            .rev()
            .find_map(|a| match a {
                DmAction::State { id: i, state } if *i == id => Some(dm_message_state(*state)),
                _ => None,
            })
            .map_or(record.state, DmMark::from);
        self.dm_actions(actions, fx);
        Ok(dm_message(
            &self.me,
            &peer,
            n,
            &DmRecord { state, ..record },
        ))
    }

    pub(super) fn mark_read(&mut self, room: RoomId, fx: &mut Effects) -> Result<(), ChatError> {
        let open = self.open_mut()?;
        let upto = open
            .rooms
            .get(&room)
            .ok_or(ChatError::NoSuchRoom)?
            .meta()
            .displayed;
        open.tables
            .read
            .insert(&format!("r/{}", hex_room(&room)), &upto)?;
        open.read_marks.insert(room, upto);
        fx.wrote = true;
        fx.rooms.insert(room);
        Ok(())
    }

    pub(super) fn mark_dm_read(&mut self, peer: PeerId, fx: &mut Effects) -> Result<(), ChatError> {
        let open = self.open_mut()?;
        let Some(c) = open.conversations.get_mut(&peer) else {
            return Ok(());
        };
        c.unread = 0;
        let upto = c.next;
        open.tables.read.insert(&format!("d/{peer}"), &upto)?;
        fx.wrote = true;
        fx.conversations.insert(peer);
        Ok(())
    }

    pub(super) fn open_mut(&mut self) -> Result<&mut Open, ChatError> {
        self.open.as_mut().ok_or(ChatError::Locked)
    }
}
