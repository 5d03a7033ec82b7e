//! The chat actor: the one task that owns every [`Room`] and the [`DirectMessages`] of this
//! node, drives them with commands (from the API), wire messages and connection changes
//! (from the network) and timers, and carries out what they decide.
//!
//! **Persist, flush, then act.** Events are handled in batches (one command or up to
//! `MAX_BATCH` network items). Every write the state machines ask for goes into the sealed
//! tables while the batch is handled; then the store is flushed once; only then are the
//! batch's messages sent, its events emitted and its callers answered. So anything a peer or
//! the user was told (an acknowledgement, "sent") is on disk first, and one flush serves a
//! whole burst of messages (group commit).
//!
//! **Encrypted at rest.** Chat runs only once the vault is unlocked with the passphrase
//! ([`Store::unlock_vault`]); every message, outbox item, room log entry and room record is
//! written to a sealed table. Table keys are room ids, sequence numbers and peer ids (who
//! you correspond with is not hidden on disk, what you say is). While chat is locked,
//! incoming chat messages are dropped; their senders retransmit until it is unlocked.
//!
//! **Direct messages carry invitations.** A room's host sends each new member an
//! [`Invitation`] as a direct message (so it waits in the persistent DM outbox until the
//! invitee is online); the invitee joins when it arrives from a member of the invitation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::dm::{
    DirectMessages, DmAction, DmError, DmEvent, DmPersistOp, DmSnapshot, DmState, InboxMark,
    Pending,
};
use super::room::{
    self, Action, Content, DeliveryState, Entry, Event as RoomEvent, Invitation, Item, Meta, MsgId,
    OutItem, PersistOp, Room, RoomError, RoomId, Snapshot,
};
use crate::api::types::{
    ChatMessage, ChatStatus, DmConversation, EventKind, HistoryPage, MessageKind, MessageState,
    RoomInfo, RoomMember,
};
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::infra::vault::Vault;
use crate::net::protocol::ChatWire;
use crate::net::{ChatInbound, NetHandle};

/// Commands queued for the actor; callers wait when it is full.
pub const COMMAND_CHANNEL: usize = 256;
/// Network items handled before one flush.
const MAX_BATCH: usize = 256;
/// Longest text of one message (rooms and direct messages).
pub const MAX_TEXT_BYTES: usize = room::MAX_BODY_BYTES;
/// History page size when none is asked for, and the largest one.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1_000;
/// How often the actor compares its idea of who is connected with the network's.
const RECONCILE: Duration = Duration::from_secs(5);

const META_TABLE: &str = "chat_room_meta_v1";
const LOG_TABLE: &str = "chat_room_log_v1";
const OUTBOX_TABLE: &str = "chat_room_outbox_v1";
const DM_NEXT_TABLE: &str = "chat_dm_next_v1";
const DM_OUTBOX_TABLE: &str = "chat_dm_outbox_v1";
const DM_INBOX_TABLE: &str = "chat_dm_inbox_v1";
const DM_HISTORY_TABLE: &str = "chat_dm_history_v1";
/// Read marks (plain: a sequence number per conversation says nothing private).
const READ_TABLE: &str = "chat_read_v1";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    #[error("chat is locked: unlock it with your passphrase first")]
    Locked,
    #[error("there is no such room here")]
    NoSuchRoom,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Room(#[from] RoomError),
    #[error(transparent)]
    Dm(#[from] DmError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("chat has stopped")]
    Stopped,
}

type Reply<T> = oneshot::Sender<Result<T, ChatError>>;

/// What a command does to one room.
enum RoomOp {
    Send(String),
    Invite(PeerId),
    Rename(String),
    Leave,
    Delete,
}

enum Command {
    Status(Reply<ChatStatus>),
    Unlock(Zeroizing<String>, Reply<ChatStatus>),
    ChangePassphrase(Zeroizing<String>, Zeroizing<String>, Reply<()>),
    ListRooms(Reply<Vec<RoomInfo>>),
    CreateRoom {
        name: String,
        members: Vec<PeerId>,
        reply: Reply<RoomInfo>,
    },
    GetRoom(RoomId, Reply<RoomInfo>),
    Room {
        room: RoomId,
        op: RoomOp,
        reply: Reply<ChatMessage>,
    },
    History {
        room: RoomId,
        before: Option<u64>,
        limit: usize,
        reply: Reply<HistoryPage>,
    },
    MarkRead(RoomId, Reply<()>),
    ListDms(Reply<Vec<DmConversation>>),
    SendDm {
        peer: PeerId,
        body: String,
        reply: Reply<ChatMessage>,
    },
    DmHistory {
        peer: PeerId,
        before: Option<u64>,
        limit: usize,
        reply: Reply<HistoryPage>,
    },
    MarkDmRead(PeerId, Reply<()>),
}

/// A cloneable handle to the chat actor.
#[derive(Clone, Debug)]
pub struct ChatHandle {
    tx: mpsc::Sender<Command>,
}

impl ChatHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ChatError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ChatError::Stopped)?;
        rx.await.map_err(|_| ChatError::Stopped)?
    }

    pub async fn status(&self) -> Result<ChatStatus, ChatError> {
        self.ask(Command::Status).await
    }

    /// Unlocks chat with `passphrase` (choosing it, the first time).
    pub async fn unlock(&self, passphrase: &str) -> Result<ChatStatus, ChatError> {
        let p = Zeroizing::new(passphrase.to_owned());
        self.ask(|r| Command::Unlock(p, r)).await
    }

    pub async fn change_passphrase(&self, old: &str, new: &str) -> Result<(), ChatError> {
        let (o, n) = (
            Zeroizing::new(old.to_owned()),
            Zeroizing::new(new.to_owned()),
        );
        self.ask(|r| Command::ChangePassphrase(o, n, r)).await
    }

    pub async fn list_rooms(&self) -> Result<Vec<RoomInfo>, ChatError> {
        self.ask(Command::ListRooms).await
    }

    pub async fn create_room(
        &self,
        name: String,
        members: Vec<PeerId>,
    ) -> Result<RoomInfo, ChatError> {
        self.ask(|reply| Command::CreateRoom {
            name,
            members,
            reply,
        })
        .await
    }

    pub async fn get_room(&self, room: RoomId) -> Result<RoomInfo, ChatError> {
        self.ask(|r| Command::GetRoom(room, r)).await
    }

    /// Sends a message; it comes back with its state (`sending` until the host takes it).
    pub async fn send(&self, room: RoomId, body: String) -> Result<ChatMessage, ChatError> {
        self.room_op(room, RoomOp::Send(body)).await
    }

    pub async fn invite(&self, room: RoomId, peer: PeerId) -> Result<(), ChatError> {
        self.room_op(room, RoomOp::Invite(peer)).await.map(drop)
    }

    pub async fn rename(&self, room: RoomId, name: String) -> Result<(), ChatError> {
        self.room_op(room, RoomOp::Rename(name)).await.map(drop)
    }

    pub async fn leave(&self, room: RoomId) -> Result<(), ChatError> {
        self.room_op(room, RoomOp::Leave).await.map(drop)
    }

    pub async fn delete(&self, room: RoomId) -> Result<(), ChatError> {
        self.room_op(room, RoomOp::Delete).await.map(drop)
    }

    async fn room_op(&self, room: RoomId, op: RoomOp) -> Result<ChatMessage, ChatError> {
        self.ask(|reply| Command::Room { room, op, reply }).await
    }

    pub async fn history(
        &self,
        room: RoomId,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ChatError> {
        let limit = page_size(limit);
        self.ask(|reply| Command::History {
            room,
            before,
            limit,
            reply,
        })
        .await
    }

    pub async fn mark_read(&self, room: RoomId) -> Result<(), ChatError> {
        self.ask(|r| Command::MarkRead(room, r)).await
    }

    pub async fn list_dms(&self) -> Result<Vec<DmConversation>, ChatError> {
        self.ask(Command::ListDms).await
    }

    pub async fn send_dm(&self, peer: PeerId, body: String) -> Result<ChatMessage, ChatError> {
        self.ask(|reply| Command::SendDm { peer, body, reply })
            .await
    }

    pub async fn dm_history(
        &self,
        peer: PeerId,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ChatError> {
        let limit = page_size(limit);
        self.ask(|reply| Command::DmHistory {
            peer,
            before,
            limit,
            reply,
        })
        .await
    }

    pub async fn mark_dm_read(&self, peer: PeerId) -> Result<(), ChatError> {
        self.ask(|r| Command::MarkDmRead(peer, r)).await
    }
}

fn page_size(limit: Option<u32>) -> usize {
    limit.map_or(DEFAULT_PAGE, |l| (l as usize).clamp(1, MAX_PAGE))
}

/// The body of a direct message: text, or an invitation to a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DmBody {
    Text(String),
    Invite(Box<Invitation<PeerId>>),
}

/// One message of a direct conversation, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DmRecord {
    id: MsgId,
    mine: bool,
    body: String,
    sent_ms: u64,
    state: MessageState,
}

/// What the actor keeps in memory about one direct conversation.
#[derive(Debug, Default)]
struct Conversation {
    /// Local order number of the next record.
    next: u64,
    unread: u32,
    pending: u32,
    last: Option<(u64, DmRecord)>,
}

/// Starts the chat actor; `passphrase` (if any) unlocks chat right away.
#[allow(clippy::too_many_arguments)] // what chat needs from the node, once
pub fn start(
    store: Store,
    net: NetHandle,
    bus: EventBus,
    inbound: mpsc::Receiver<ChatInbound>,
    passphrase: Option<Zeroizing<String>>,
    tracker: &tokio_util::task::TaskTracker,
    cancel: CancellationToken,
) -> ChatHandle {
    let (tx, rx) = mpsc::channel(COMMAND_CHANNEL);
    let actor = Actor {
        me: net.local_peer_id(),
        bus_rx: bus.receiver(),
        store,
        net,
        bus,
        connected: BTreeSet::new(),
        names: HashMap::new(),
        open: None,
    };
    tracker.spawn(actor.run(rx, inbound, passphrase, cancel));
    ChatHandle { tx }
}

struct Actor {
    me: PeerId,
    store: Store,
    net: NetHandle,
    bus: EventBus,
    bus_rx: broadcast::Receiver<crate::api::types::Event>,
    /// Peers with an open connection.
    connected: BTreeSet<PeerId>,
    /// Display names heard from the network.
    names: HashMap<PeerId, String>,
    /// `None` while locked.
    open: Option<Open>,
}

/// Chat, unlocked.
struct Open {
    tables: Tables,
    rooms: BTreeMap<RoomId, Room<PeerId>>,
    timers: BTreeMap<RoomId, u64>,
    dm: DirectMessages<PeerId>,
    dm_timer: Option<u64>,
    conversations: BTreeMap<PeerId, Conversation>,
    /// My direct messages not yet delivered: id -> (peer, record number).
    pending_dms: HashMap<MsgId, (PeerId, u64)>,
    /// Each room's meta record as last written.
    metas: HashMap<RoomId, Meta<PeerId>>,
    /// Each room's read mark (the last seq read), as in `chat_read_v1`.
    read_marks: HashMap<RoomId, u64>,
}

struct Tables {
    meta: Table<Meta<PeerId>>,
    log: Table<Entry<PeerId>>,
    outbox: Table<OutItem<PeerId>>,
    dm_next: Table<u64>,
    dm_outbox: Table<Pending<PeerId>>,
    dm_inbox: Table<InboxMark>,
    dm_history: Table<DmRecord>,
    read: Table<u64>,
}

/// What a batch does once its writes are durable.
#[derive(Default)]
struct Effects {
    wrote: bool,
    sends: Vec<(PeerId, ChatWire)>,
    events: Vec<EventKind>,
    rooms: BTreeSet<RoomId>,
    conversations: BTreeSet<PeerId>,
    replies: Vec<Box<dyn FnOnce() + Send>>,
    /// Room commands refused by the state machine in this batch.
    refused: HashMap<MsgId, RoomError>,
    dm_refused: HashMap<MsgId, DmError>,
}

impl Effects {
    fn reply<T: Send + 'static>(&mut self, to: Reply<T>, value: Result<T, ChatError>) {
        self.replies.push(Box::new(move || {
            let _ = to.send(value);
        }));
    }
}

fn hex_room(room: &RoomId) -> String {
    hex::encode(room)
}

fn log_key(room: &RoomId, seq: u64) -> String {
    format!("{}/{seq:016x}", hex_room(room))
}

fn outbox_key(room: &RoomId, id: &MsgId) -> String {
    format!("{}/{}", hex_room(room), hex::encode(id))
}

fn dm_key(peer: &PeerId, n: u64) -> String {
    format!("{peer}/{n:016x}")
}

fn random_id() -> MsgId {
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    id
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbound: mpsc::Receiver<ChatInbound>,
        passphrase: Option<Zeroizing<String>>,
        cancel: CancellationToken,
    ) {
        if let Ok(peers) = self.net.connected_peers().await {
            self.connected.extend(peers);
        }
        if let Ok(peers) = self.net.peers().await {
            for p in peers {
                if let (Ok(id), Some(profile)) = (p.peer_id.parse(), p.profile) {
                    self.names.insert(id, profile.display_name);
                }
            }
        }
        if let Some(p) = passphrase {
            let mut fx = Effects::default();
            match self.unlock(&p, &mut fx).await {
                Ok(_) => tracing::info!("chat unlocked"),
                Err(e) => tracing::error!("cannot unlock chat with the configured passphrase: {e}"),
            }
            self.finish(fx).await;
        }
        let mut reconcile = tokio::time::interval(RECONCILE);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wake = self.next_timer().map(|at| {
                tokio::time::Instant::now() + Duration::from_millis(at.saturating_sub(now_ms()))
            });
            let mut fx = Effects::default();
            tokio::select! {
                _ = cancel.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd, &mut fx).await,
                    None => break,
                },
                item = inbound.recv() => match item {
                    Some(item) => self.on_inbound(item, &mut fx),
                    None => break,
                },
                event = self.bus_rx.recv() => self.on_bus(event),
                _ = sleep_until(wake) => {}
                _ = reconcile.tick() => self.reconcile(&mut fx).await,
            }
            for _ in 0..MAX_BATCH {
                match inbound.try_recv() {
                    Ok(item) => self.on_inbound(item, &mut fx),
                    Err(_) => break,
                }
            }
            self.fire_timers(&mut fx);
            self.finish(fx).await;
        }
        if let Err(e) = self.store.flush().await {
            tracing::error!("chat: final flush failed: {e}");
        }
        tracing::debug!("chat actor stopped");
    }

    /// Makes the batch's writes durable, then sends, emits and answers.
    async fn finish(&mut self, mut fx: Effects) {
        if fx.wrote {
            if let Err(e) = self.store.flush().await {
                // Nothing of this batch may leave the node: it is not on disk. The callers'
                // answers are dropped, so they get an error rather than a false success.
                tracing::error!("chat: cannot make messages durable: {e}");
                return;
            }
        }
        for (peer, msg) in fx.sends.drain(..) {
            if self.net.chat_send(peer, msg).await.is_err() {
                break;
            }
        }
        for kind in fx.events.drain(..) {
            self.bus.emit(kind);
        }
        if let Some(open) = &self.open {
            for room in &fx.rooms {
                if let Some(r) = open.rooms.get(room) {
                    let info = self.room_info(open, r);
                    self.bus.emit(EventKind::RoomUpdated { room: info });
                }
            }
            for peer in &fx.conversations {
                if let Some(c) = open.conversations.get(peer) {
                    let conversation = self.conversation_info(peer, c);
                    self.bus.emit(EventKind::DmUpdated { conversation });
                }
            }
        }
        for r in fx.replies {
            r();
        }
    }

    fn next_timer(&self) -> Option<u64> {
        let open = self.open.as_ref()?;
        open.timers.values().copied().chain(open.dm_timer).min()
    }

    fn fire_timers(&mut self, fx: &mut Effects) {
        let now = now_ms();
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let due: Vec<RoomId> = open
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(r, _)| *r)
            .collect();
        for room in &due {
            open.timers.remove(room);
        }
        for room in due {
            self.room_event(room, RoomEvent::Tick, fx);
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.dm_timer.is_some_and(|at| at <= now) {
            open.dm_timer = None;
            self.dm_event(DmEvent::Tick, fx);
        }
    }

    // ----- inputs -----

    fn on_bus(&mut self, event: Result<crate::api::types::Event, broadcast::error::RecvError>) {
        let Ok(event) = event else { return };
        match event.kind {
            EventKind::PeerOnline { peer } | EventKind::PeerUpdated { peer } => {
                if let (Ok(id), Some(profile)) = (peer.peer_id.parse(), peer.profile) {
                    self.names.insert(id, profile.display_name);
                }
            }
            EventKind::ProfileChanged { peer_id, profile } => {
                if let Ok(id) = peer_id.parse() {
                    self.names.insert(id, profile.display_name);
                }
            }
            _ => {}
        }
    }

    fn on_inbound(&mut self, item: ChatInbound, fx: &mut Effects) {
        match item {
            ChatInbound::Connected(peer) => self.peer_connected(peer, fx),
            ChatInbound::Disconnected(peer) => self.peer_disconnected(peer, fx),
            ChatInbound::Rtt { peer, ms } => {
                let rooms = self.rooms_with(&peer);
                for room in rooms {
                    self.room_event(room, RoomEvent::Rtt { peer, ms }, fx);
                }
            }
            ChatInbound::Wire { from, msg } => match *msg {
                ChatWire::Room(msg) => {
                    let room = *msg.room();
                    if self
                        .open
                        .as_ref()
                        .is_some_and(|o| o.rooms.contains_key(&room))
                    {
                        self.room_event(room, RoomEvent::Wire { from, msg }, fx);
                    }
                }
                ChatWire::Dm(msg) => self.dm_event(DmEvent::Wire { from, msg }, fx),
            },
        }
    }

    fn peer_connected(&mut self, peer: PeerId, fx: &mut Effects) {
        if peer == self.me || !self.connected.insert(peer) {
            return;
        }
        for room in self.all_rooms() {
            self.room_event(room, RoomEvent::Connected(peer), fx);
        }
        self.dm_event(DmEvent::Online(peer), fx);
        self.touch_peer(&peer, fx);
    }

    fn peer_disconnected(&mut self, peer: PeerId, fx: &mut Effects) {
        if !self.connected.remove(&peer) {
            return;
        }
        for room in self.all_rooms() {
            self.room_event(room, RoomEvent::Disconnected(peer), fx);
        }
        self.dm_event(DmEvent::Offline(peer), fx);
        self.touch_peer(&peer, fx);
    }

    /// The peer's online mark changed: refresh what shows it.
    fn touch_peer(&self, peer: &PeerId, fx: &mut Effects) {
        fx.rooms.extend(self.rooms_with(peer));
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.conversations.contains_key(peer))
        {
            fx.conversations.insert(*peer);
        }
    }

    /// Repairs the connected set if a connection change was dropped on a full queue.
    async fn reconcile(&mut self, fx: &mut Effects) {
        let Ok(now) = self.net.connected_peers().await else {
            return;
        };
        let now: BTreeSet<PeerId> = now.into_iter().collect();
        let gone: Vec<PeerId> = self.connected.difference(&now).copied().collect();
        let new: Vec<PeerId> = now.difference(&self.connected).copied().collect();
        for p in gone {
            self.peer_disconnected(p, fx);
        }
        for p in new {
            self.peer_connected(p, fx);
        }
    }

    fn all_rooms(&self) -> Vec<RoomId> {
        self.open
            .as_ref()
            .map(|o| o.rooms.keys().copied().collect())
            .unwrap_or_default()
    }

    fn rooms_with(&self, peer: &PeerId) -> Vec<RoomId> {
        self.open
            .as_ref()
            .map(|o| {
                o.rooms
                    .iter()
                    .filter(|(_, r)| r.members().contains(peer))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    // ----- commands -----

    async fn on_command(&mut self, cmd: Command, fx: &mut Effects) {
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
            cmd => {
                if self.open.is_none() {
                    reply_locked(cmd);
                    return;
                }
                self.on_open_command(cmd, fx);
            }
        }
    }

    fn on_open_command(&mut self, cmd: Command, fx: &mut Effects) {
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
            Command::Status(_) | Command::Unlock(..) | Command::ChangePassphrase(..) => {
                unreachable!("handled in on_command")
            }
        }
    }

    fn status(&self) -> Result<ChatStatus, ChatError> {
        Ok(ChatStatus {
            unlocked: self.open.is_some(),
            has_passphrase: self.store.has_vault()?,
        })
    }

    /// Unlocks the vault, loads every room and conversation and starts them.
    async fn unlock(
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
            let (room, actions) = Room::restore(snapshot, now);
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

    fn load(&self, vault: Arc<Vault>) -> Result<(Open, Vec<Snapshot<PeerId>>), ChatError> {
        let s = &self.store;
        let tables = Tables {
            meta: s.sealed_table(META_TABLE, vault.clone())?,
            log: s.sealed_table(LOG_TABLE, vault.clone())?,
            outbox: s.sealed_table(OUTBOX_TABLE, vault.clone())?,
            dm_next: s.sealed_table(DM_NEXT_TABLE, vault.clone())?,
            dm_outbox: s.sealed_table(DM_OUTBOX_TABLE, vault.clone())?,
            dm_inbox: s.sealed_table(DM_INBOX_TABLE, vault.clone())?,
            dm_history: s.sealed_table(DM_HISTORY_TABLE, vault)?,
            read: s.table(READ_TABLE)?,
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
            if record.mine && !matches!(record.state, MessageState::Delivered) {
                pending_dms.insert(record.id, (peer, n));
                c.pending += 1;
            }
            if !record.mine && n >= read {
                c.unread += 1;
            }
            c.last = Some((n, record));
        }
        let open = Open {
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
    fn adopt_room(&mut self, room: Room<PeerId>, actions: Vec<Action<PeerId>>, fx: &mut Effects) {
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

    fn create_room(
        &mut self,
        name: String,
        members: Vec<PeerId>,
        fx: &mut Effects,
    ) -> Result<RoomInfo, ChatError> {
        let name = name.trim().to_owned();
        if members.contains(&self.me) {
            return Err(ChatError::BadRequest(
                "you are a member of your own room already".into(),
            ));
        }
        let mut id: RoomId = [0; 32];
        rand::thread_rng().fill_bytes(&mut id);
        let (room, actions) = Room::create(id, self.me, name, now_ms())?;
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

    fn room_command(
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
                    return Err(ChatError::BadRequest("the message is empty".into()));
                }
                RoomEvent::Send { id, body }
            }
            RoomOp::Invite(peer) => {
                if peer == self.me {
                    return Err(ChatError::BadRequest("you are a member already".into()));
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

    fn send_dm(
        &mut self,
        peer: PeerId,
        body: String,
        fx: &mut Effects,
    ) -> Result<ChatMessage, ChatError> {
        if peer == self.me {
            return Err(ChatError::BadRequest("you cannot message yourself".into()));
        }
        if body.trim().is_empty() {
            return Err(ChatError::BadRequest("the message is empty".into()));
        }
        if body.len() > MAX_TEXT_BYTES {
            return Err(ChatError::Dm(DmError::BodyTooLarge));
        }
        let wire = serde_json::to_string(&DmBody::Text(body.clone()))
            .map_err(|e| ChatError::BadRequest(e.to_string()))?;
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
            state: MessageState::Queued,
        };
        let open = self.open_mut()?;
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
            .unwrap_or(record.state);
        self.dm_actions(actions, fx);
        Ok(dm_message(
            &self.me,
            &peer,
            n,
            &DmRecord { state, ..record },
        ))
    }

    fn mark_read(&mut self, room: RoomId, fx: &mut Effects) -> Result<(), ChatError> {
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

    fn mark_dm_read(&mut self, peer: PeerId, fx: &mut Effects) -> Result<(), ChatError> {
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

    fn open_mut(&mut self) -> Result<&mut Open, ChatError> {
        self.open.as_mut().ok_or(ChatError::Locked)
    }

    // ----- driving the state machines -----

    /// Feeds one event to a room and carries out its actions; returns the entries it
    /// delivered.
    fn room_event(
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

    fn room_actions(
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

    fn dm_event(&mut self, event: DmEvent<PeerId>, fx: &mut Effects) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let actions = open.dm.handle(event, now_ms());
        self.dm_actions(actions, fx);
    }

    fn dm_actions(&mut self, actions: Vec<DmAction<PeerId>>, fx: &mut Effects) {
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

    fn dm_delivered(
        &mut self,
        from: PeerId,
        id: MsgId,
        body: String,
        sent_ms: u64,
        fx: &mut Effects,
    ) {
        match serde_json::from_str::<DmBody>(&body) {
            Ok(DmBody::Text(text)) if text.len() <= MAX_TEXT_BYTES => {
                let Some(open) = self.open.as_mut() else {
                    return;
                };
                let record = DmRecord {
                    id,
                    mine: false,
                    body: text,
                    sent_ms,
                    state: MessageState::Received,
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
            Ok(DmBody::Invite(invitation)) => self.invited(from, *invitation, fx),
            Ok(DmBody::Text(_)) | Err(_) => {
                tracing::info!(%from, "chat: dropping an unreadable direct message");
            }
        }
    }

    /// Joins a room from an invitation sent by one of its members.
    fn invited(&mut self, from: PeerId, invitation: Invitation<PeerId>, fx: &mut Effects) {
        let sane = invitation.members.contains(&self.me)
            && invitation.members.contains(&from)
            && invitation.members.len() <= room::MAX_MEMBERS
            && !invitation.name.is_empty()
            && invitation.name.len() <= room::MAX_NAME_BYTES;
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
        let (room, actions) = Room::from_invitation(self.me, invitation, now_ms());
        self.adopt_room(room, actions, fx);
        fx.rooms.insert(id);
    }

    fn dm_state(&mut self, id: MsgId, state: DmState, fx: &mut Effects) -> Result<(), ChatError> {
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
        if record.state == state {
            return Ok(());
        }
        record.state = state;
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

    // ----- views -----

    fn name_of(&self, peer: &PeerId) -> Option<String> {
        self.names.get(peer).filter(|n| !n.is_empty()).cloned()
    }

    fn room_info(&self, open: &Open, r: &Room<PeerId>) -> RoomInfo {
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

    fn room_message(&self, r: &Room<PeerId>, entry: &Entry<PeerId>) -> ChatMessage {
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

    fn unsent_message(
        &self,
        r: &Room<PeerId>,
        item: &Item<PeerId>,
        state: DeliveryState,
    ) -> ChatMessage {
        let mut m = self.item_message(r, item);
        m.state = delivery_state(state);
        m
    }

    fn item_message(&self, r: &Room<PeerId>, item: &Item<PeerId>) -> ChatMessage {
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

    fn room_history(&self, r: &Room<PeerId>, before: Option<u64>, limit: usize) -> HistoryPage {
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

    fn dm_history(
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

    fn conversation_info(&self, peer: &PeerId, c: &Conversation) -> DmConversation {
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

fn reply_locked(cmd: Command) {
    fn locked<T>(reply: Reply<T>) {
        let _ = reply.send(Err(ChatError::Locked));
    }
    match cmd {
        Command::ListRooms(r) => locked(r),
        Command::CreateRoom { reply, .. } => locked(reply),
        Command::GetRoom(_, r) => locked(r),
        Command::Room { reply, .. } => locked(reply),
        Command::History { reply, .. } => locked(reply),
        Command::MarkRead(_, r) => locked(r),
        Command::ListDms(r) => locked(r),
        Command::SendDm { reply, .. } => locked(reply),
        Command::DmHistory { reply, .. } => locked(reply),
        Command::MarkDmRead(_, r) => locked(r),
        Command::ChangePassphrase(_, _, r) => locked(r),
        Command::Status(r) => locked(r),
        Command::Unlock(_, r) => locked(r),
    }
}

/// Whether `new` differs from `old` in its display point only.
fn only_display_advanced(old: &Meta<PeerId>, new: &Meta<PeerId>) -> bool {
    let Meta {
        room,
        me,
        creator,
        name,
        members,
        members_as_of,
        term,
        host,
        voted_for,
        displayed,
        orphans,
        muted,
        left,
        deleted,
        leave_deadline,
        next_order,
    } = new;
    *displayed >= old.displayed
        && *room == old.room
        && *me == old.me
        && *creator == old.creator
        && *name == old.name
        && *members == old.members
        && *members_as_of == old.members_as_of
        && *term == old.term
        && *host == old.host
        && *voted_for == old.voted_for
        && *orphans == old.orphans
        && *muted == old.muted
        && *left == old.left
        && *deleted == old.deleted
        && *leave_deadline == old.leave_deadline
        && *next_order == old.next_order
}

fn dm_message_state(state: DmState) -> MessageState {
    match state {
        DmState::Queued => MessageState::Queued,
        DmState::Sending { .. } => MessageState::Sending,
        DmState::NotDeliveredYet => MessageState::NotDeliveredYet,
        DmState::Delivered => MessageState::Delivered,
    }
}

fn delivery_state(state: DeliveryState) -> MessageState {
    match state {
        DeliveryState::Sending => MessageState::Sending,
        DeliveryState::HeldByHost => MessageState::HeldByHost,
        DeliveryState::Delivered => MessageState::Delivered,
    }
}

fn dm_message(me: &PeerId, peer: &PeerId, n: u64, record: &DmRecord) -> ChatMessage {
    ChatMessage {
        id: hex::encode(record.id),
        room_id: None,
        peer_id: Some(peer.to_string()),
        sender: if record.mine { *me } else { *peer }.to_string(),
        mine: record.mine,
        kind: MessageKind::Text,
        body: record.body.clone(),
        seq: Some(n),
        sent_ms: record.sent_ms,
        state: record.state,
    }
}

fn parse_dm_key(key: &str) -> Option<(PeerId, u64)> {
    let (peer, n) = key.split_once('/')?;
    Some((peer.parse().ok()?, u64::from_str_radix(n, 16).ok()?))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes one room operation (made durable by the batch's flush).
fn persist_room(t: &Tables, room: &RoomId, op: &PersistOp<PeerId>) -> Result<(), StoreError> {
    let hex = hex_room(room);
    match op {
        PersistOp::Snapshot(s) => {
            for (key, _) in t.log.scan_prefix(&format!("{hex}/"), usize::MAX)? {
                t.log.delete(&key)?;
            }
            for (key, _) in t.outbox.scan_prefix(&format!("{hex}/"), usize::MAX)? {
                t.outbox.delete(&key)?;
            }
            t.meta.insert(&hex, &s.meta)?;
            for e in &s.log {
                t.log.insert(&log_key(room, e.seq), e)?;
            }
            for o in &s.outbox {
                t.outbox.insert(&outbox_key(room, &o.item.id), o)?;
            }
        }
        PersistOp::Meta(m) => t.meta.insert(&hex, m)?,
        PersistOp::Append(entries) => {
            for e in entries {
                t.log.insert(&log_key(room, e.seq), e)?;
            }
        }
        PersistOp::TruncateFrom(from) => {
            for (key, _) in t
                .log
                .range(&log_key(room, *from), &format!("{hex}0"), usize::MAX)?
            {
                t.log.delete(&key)?;
            }
        }
        PersistOp::OutboxPut(o) => t.outbox.insert(&outbox_key(room, &o.item.id), o)?,
        PersistOp::OutboxRemove(id) => t.outbox.delete(&outbox_key(room, id))?,
    }
    Ok(())
}

fn persist_dm(t: &Tables, op: &DmPersistOp<PeerId>) -> Result<(), StoreError> {
    match op {
        DmPersistOp::NextSeq { to, next } => t.dm_next.insert(&to.to_string(), next),
        DmPersistOp::OutboxPut(p) => t.dm_outbox.insert(&dm_key(&p.to, p.seq), p),
        DmPersistOp::OutboxRemove { to, seq } => t.dm_outbox.delete(&dm_key(to, *seq)),
        DmPersistOp::Inbox { from, mark } => t.dm_inbox.insert(&from.to_string(), mark),
    }
}
