//! What the UI reads: rooms, conversations and messages as API types.

use super::*;

impl Actor {
    // ----- views -----

    pub(super) fn name_of(&self, peer: &PeerId) -> Option<String> {
        self.names.get(peer).filter(|n| !n.is_empty()).cloned()
    }

    pub(super) fn room_info(&self, open: &Open, r: &Room<PeerId>) -> RoomInfo {
        let meta = r.meta();
        let (term, host) = r.host();
        let host = host.copied();
        let read = open.read_marks.get(&meta.room).copied().unwrap_or(0);
        let shown = &r.log()[..(meta.displayed as usize).min(r.log().len())];
        let unread = shown
            .iter()
            .rev()
            .take_while(|e| e.seq > read)
            .filter(|e| e.item.sender != self.me && matches!(e.item.content, Content::Text(_)))
            .count() as u32;
        let members = meta
            .members
            .iter()
            .map(|p| RoomMember {
                peer_id: p.to_string(),
                display_name: self.name_of(p),
                online: *p == self.me || self.connected.contains(p),
                host: Some(*p) == host,
                creator: *p == meta.creator,
            })
            .collect();
        let last_message = shown
            .iter()
            .rev()
            .find(|e| !matches!(e.item.content, Content::HostChange))
            .map(|e| self.room_message(r, e));
        RoomInfo {
            room_id: hex_room(&meta.room),
            name: meta.name.clone(),
            creator: meta.creator.to_string(),
            members,
            host: host.map(|h| h.to_string()),
            is_host: r.is_host(),
            term,
            unread,
            pending: r.unsent().count() as u32,
            left: meta.left,
            muted: meta.muted,
            deleted: meta.deleted,
            last_message,
        }
    }

    pub(super) fn room_message(&self, r: &Room<PeerId>, entry: &Entry<PeerId>) -> ChatMessage {
        let mine = entry.item.sender == self.me;
        let mut m = self.item_message(r, &entry.item);
        m.seq = Some(entry.seq);
        m.state = if mine {
            MessageState::Delivered
        } else {
            MessageState::Received
        };
        m
    }

    pub(super) fn unsent_message(
        &self,
        r: &Room<PeerId>,
        item: &Item<PeerId>,
        state: DeliveryState,
    ) -> ChatMessage {
        let mut m = self.item_message(r, item);
        m.state = delivery_state(state);
        m
    }

    pub(super) fn item_message(&self, r: &Room<PeerId>, item: &Item<PeerId>) -> ChatMessage {
        let (kind, body) = match &item.content {
            Content::Text(t) => (MessageKind::Text, t.clone()),
            Content::Created { name } => (MessageKind::Created, name.clone()),
            Content::Invite(p) => (MessageKind::Invited, p.to_string()),
            Content::Rename(n) => (MessageKind::Renamed, n.clone()),
            Content::Left(p) => (MessageKind::Left, p.to_string()),
            Content::Delete => (MessageKind::Deleted, String::new()),
            Content::HostChange => (MessageKind::HostChanged, String::new()),
        };
        ChatMessage {
            id: hex::encode(item.id),
            room_id: Some(hex_room(r.id())),
            peer_id: None,
            sender: item.sender.to_string(),
            mine: item.sender == self.me,
            kind,
            body,
            seq: None,
            sent_ms: item.sent_ms,
            state: MessageState::Sending,
        }
    }

    pub(super) fn room_history(
        &self,
        r: &Room<PeerId>,
        before: Option<u64>,
        limit: usize,
    ) -> HistoryPage {
        let shown = (r.meta().displayed as usize).min(r.log().len());
        let end = before.map_or(shown, |b| (b.saturating_sub(1) as usize).min(shown));
        let start = end.saturating_sub(limit);
        let mut messages: Vec<ChatMessage> = r.log()[start..end]
            .iter()
            .map(|e| self.room_message(r, e))
            .collect();
        if before.is_none() {
            messages.extend(
                r.unsent()
                    .map(|(item, state)| self.unsent_message(r, item, state)),
            );
        }
        HistoryPage {
            messages,
            more: start > 0,
        }
    }

    pub(super) fn dm_history(
        &self,
        open: &Open,
        peer: &PeerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, ChatError> {
        let Some(c) = open.conversations.get(peer) else {
            return Ok(HistoryPage {
                messages: Vec::new(),
                more: false,
            });
        };
        let end = before.map_or(c.next, |b| b.min(c.next));
        let start = end.saturating_sub(limit as u64);
        let messages = open
            .tables
            .dm_history
            .range(&dm_key(peer, start), &dm_key(peer, end), limit)?
            .into_iter()
            .filter_map(|(key, record)| {
                let (_, n) = parse_dm_key(&key)?;
                Some(dm_message(&self.me, peer, n, &record))
            })
            .collect();
        Ok(HistoryPage {
            messages,
            more: start > 0,
        })
    }

    pub(super) fn conversation_info(&self, peer: &PeerId, c: &Conversation) -> DmConversation {
        DmConversation {
            peer_id: peer.to_string(),
            display_name: self.name_of(peer),
            online: self.connected.contains(peer),
            unread: c.unread,
            pending: c.pending,
            last_message: c
                .last
                .as_ref()
                .map(|(n, record)| dm_message(&self.me, peer, *n, record)),
        }
    }
}
