//! Requests: direct messages and room invitations from strangers wait for the user's answer.
//!
//! **Who is known.** A peer is known (its messages go straight to a conversation, its
//! invitations are joined) when any of these holds: we have a direct conversation with it
//! (I wrote to it, or accepted it, or we talked before requests existed); it is a member of
//! a room I am in; I follow it; or it is in `chat_known_v1` (I accepted its request, or
//! joined it by its invite). Anyone else is a stranger. An invitation counts by its sender
//! (the room's host), whoever else it names: the member list it carries is the sender's word.
//!
//! **Held.** Whatever a stranger sends is kept in its request (one per peer, in
//! `chat_requests_v1`, sealed), not in the conversation list, with no message event (so no
//! notification): only `requests_changed`. The direct-message layer acknowledges it as
//! usual, so the sender sees "delivered" whether the request is read, declined or refused:
//! a stranger learns nothing about what the user did.
//!
//! **Caps.** At most `MAX_REQUESTS` peers wait at once, each with at most
//! `MAX_REQUEST_ITEMS` messages; beyond that a message is refused (dropped and counted in
//! `refused`). Their bodies are bounded by the direct-message limit, so requests take at
//! most `MAX_REQUESTS * MAX_REQUEST_ITEMS * 16 KiB` (16 MiB) on disk and in memory.
//!
//! **Answers.** Accepting makes the peer known, turns its texts into the conversation (in the
//! order they came) and joins the rooms it invited us to. Declining drops everything it sent
//! and records the peer in `chat_declined_v1`: what it sends afterwards is dropped silently
//! (counted in `dropped`) until the user writes to it, which takes the refusal back.

use super::*;
use crate::api::dto::{ChatRequest, RequestInvite};

/// Whether the user follows a peer (the follow list lives in `mirror`).
pub type IsFollowed = Arc<dyn Fn(&PeerId) -> bool + Send + Sync>;

/// Most strangers whose requests wait at once.
pub const MAX_REQUESTS: usize = 50;
/// Most messages (texts and invitations) one request keeps.
pub const MAX_REQUEST_ITEMS: usize = 20;

/// What one stranger sent, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Request {
    /// When its first message arrived.
    received_ms: u64,
    items: Vec<HeldItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HeldItem {
    id: MsgId,
    sent_ms: u64,
    body: HeldBody,
}

/// A direct message's content once read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum HeldBody {
    Text(String),
    Invite(Box<Invitation<PeerId>>),
}

impl Actor {
    /// Whether messages from `peer` go straight through (see the header).
    pub(super) fn is_known(&self, peer: &PeerId) -> bool {
        let Some(open) = self.open.as_ref() else {
            return false;
        };
        open.known.contains(peer)
            || open.conversations.contains_key(peer)
            || open.rooms.values().any(|r| r.members().contains(peer))
            || (self.followed)(peer)
    }

    /// Keeps a stranger's message in its request, within the caps.
    pub(super) fn hold(
        &mut self,
        from: PeerId,
        id: MsgId,
        body: HeldBody,
        sent_ms: u64,
        fx: &mut Effects,
    ) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.declined.contains(&from) {
            open.requests_dropped += 1;
            return;
        }
        if !open.requests.contains_key(&from) && open.requests.len() >= MAX_REQUESTS {
            open.requests_refused += 1;
            tracing::info!(%from, "chat: too many requests; refusing a stranger's message");
            return;
        }
        let request = open.requests.entry(from).or_insert_with(|| Request {
            received_ms: now_ms(),
            items: Vec::new(),
        });
        if let HeldBody::Invite(new) = &body {
            let again = request
                .items
                .iter()
                .any(|i| matches!(&i.body, HeldBody::Invite(old) if old.room == new.room));
            if again {
                return;
            }
        }
        if request.items.len() >= MAX_REQUEST_ITEMS {
            open.requests_refused += 1;
            return;
        }
        request.items.push(HeldItem { id, sent_ms, body });
        fx.wrote = true;
        fx.requests = true;
        if let Err(e) = open.tables.requests.insert(&from.to_string(), request) {
            tracing::error!("chat: cannot store a request: {e}");
        }
    }

    pub(super) fn request_list(&self, open: &Open) -> ChatRequests {
        let mut requests: Vec<ChatRequest> = open
            .requests
            .iter()
            .map(|(peer, r)| self.request_info(peer, r))
            .collect();
        requests.sort_by_key(|r| std::cmp::Reverse(r.received_ms));
        ChatRequests {
            requests,
            refused: open.requests_refused,
            dropped: open.requests_dropped,
        }
    }

    fn request_info(&self, peer: &PeerId, r: &Request) -> ChatRequest {
        let mut messages = Vec::new();
        let mut invites = Vec::new();
        for (n, item) in r.items.iter().enumerate() {
            match &item.body {
                HeldBody::Text(text) => messages.push(dm_message(
                    &self.me,
                    peer,
                    n as u64,
                    &DmRecord {
                        id: item.id,
                        mine: false,
                        body: text.clone(),
                        sent_ms: item.sent_ms,
                        state: DmMark::Received,
                    },
                )),
                HeldBody::Invite(inv) => invites.push(RequestInvite {
                    room_id: hex_room(&inv.room),
                    name: inv.name.clone(),
                    members: inv.members.len() as u32,
                }),
            }
        }
        ChatRequest {
            peer_id: peer.to_string(),
            display_name: self.name_of(peer),
            online: self.connected.contains(peer),
            received_ms: r.received_ms,
            messages,
            invites,
        }
    }

    pub(super) fn answer_request(
        &mut self,
        peer: PeerId,
        accept: bool,
        fx: &mut Effects,
    ) -> Result<(), ChatError> {
        let open = self.open_mut()?;
        let request = open
            .requests
            .remove(&peer)
            .ok_or(ChatError::NoSuchRequest)?;
        open.tables.requests.delete(&peer.to_string())?;
        fx.wrote = true;
        fx.requests = true;
        if !accept {
            open.declined.insert(peer);
            open.tables.declined.insert(&peer.to_string(), &now_ms())?;
            return Ok(());
        }
        open.known.insert(peer);
        open.tables.known.insert(&peer.to_string(), &now_ms())?;
        for item in request.items {
            match item.body {
                HeldBody::Text(text) => self.received_text(peer, item.id, text, item.sent_ms, fx),
                HeldBody::Invite(invitation) => self.invited(peer, *invitation, fx),
            }
        }
        Ok(())
    }

    /// Marks `peer` known (chat may be locked: the table is plain).
    pub(super) fn interacted(&mut self, peer: PeerId, fx: &mut Effects) -> Result<(), ChatError> {
        if peer == self.me {
            return Ok(());
        }
        let table: Table<u64> = self.store.table(KNOWN_TABLE)?;
        table.insert(&peer.to_string(), &now_ms())?;
        fx.wrote = true;
        if let Some(open) = self.open.as_mut() {
            open.known.insert(peer);
            if open.declined.remove(&peer) {
                open.tables.declined.delete(&peer.to_string())?;
            }
        }
        Ok(())
    }
}
