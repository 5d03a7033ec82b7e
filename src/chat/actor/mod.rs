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
//!
//! **Strangers ask first.** A direct message or room invitation from a peer this node has
//! never interacted with is held as a request (`requests`) until the user accepts or
//! declines it; see that file for who counts as known and the caps.
//!
//! Files: this one holds the handle, the loop and the inputs from the network; `commands`
//! (what the API asks), `drive` (feeding the state machines and carrying out their actions),
//! `requests` (messages from strangers), `views` (what the UI reads).

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
    OutItem, PersistOp, Room, RoomError, RoomId, Signer, Snapshot,
};
use crate::api::dto::{
    ChatMessage, ChatRequests, ChatStatus, DmConversation, EventKind, HistoryPage, MessageKind,
    MessageState, RoomInfo, RoomMember,
};
use crate::chat::ChatWire;
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::infra::vault::Vault;
use crate::net::codec::CheckedBytes;
use crate::net::{ChatInbound, NetHandle};

mod commands;
mod drive;
mod requests;
mod views;

use requests::{HeldBody, Request};
pub use requests::{IsFollowed, MAX_REQUESTS, MAX_REQUEST_ITEMS};

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

const META_TABLE: &str = "chat_room_meta_v2";
const LOG_TABLE: &str = "chat_room_log_v2";
const OUTBOX_TABLE: &str = "chat_room_outbox_v2";
/// Room tables from before items were signed: dropped when chat unlocks (their entries
/// cannot be checked, and no peer accepts them any more).
const LEGACY_ROOM_TABLES: [&str; 3] = [
    "chat_room_meta_v1",
    "chat_room_log_v1",
    "chat_room_outbox_v1",
];
const DM_NEXT_TABLE: &str = "chat_dm_next_v1";
const DM_OUTBOX_TABLE: &str = "chat_dm_outbox_v1";
const DM_INBOX_TABLE: &str = "chat_dm_inbox_v1";
const DM_HISTORY_TABLE: &str = "chat_dm_history_v1";
/// Read marks (plain: a sequence number per conversation says nothing private).
const READ_TABLE: &str = "chat_read_v1";
/// Requests from strangers: peer -> what it sent (sealed).
const REQUESTS_TABLE: &str = "chat_requests_v1";
/// Peers accepted or met (plain, like every other key naming a peer): peer -> when.
const KNOWN_TABLE: &str = "chat_known_v1";
/// Peers whose request was declined (plain): peer -> when.
const DECLINED_TABLE: &str = "chat_declined_v1";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    #[error("chat is locked: unlock it with your passphrase first")]
    Locked,
    #[error("there is no such room here")]
    NoSuchRoom,
    #[error("you are a member of your own room already")]
    OwnRoom,
    #[error("you are a member already")]
    AlreadyMember,
    #[error("the message is empty")]
    EmptyMessage,
    #[error("you cannot message yourself")]
    MessageToSelf,
    #[error("there is no request from this peer")]
    NoSuchRequest,
    #[error("{0}")]
    Encode(serde_json::Error),
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
    ListRequests(Reply<ChatRequests>),
    AnswerRequest {
        peer: PeerId,
        accept: bool,
        reply: Reply<()>,
    },
    Interacted(PeerId, Reply<()>),
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

    /// Direct messages and invitations from strangers, waiting for an answer.
    pub async fn list_requests(&self) -> Result<ChatRequests, ChatError> {
        self.ask(Command::ListRequests).await
    }

    /// Accepts (the peer becomes known, its messages a conversation, its invitations joined)
    /// or declines (all dropped, and what it sends later too) the request from `peer`.
    pub async fn answer_request(&self, peer: PeerId, accept: bool) -> Result<(), ChatError> {
        self.ask(|reply| Command::AnswerRequest {
            peer,
            accept,
            reply,
        })
        .await
    }

    /// Records that the user reached out to `peer` (e.g. joined it by invite): its messages
    /// go straight through. Works while chat is locked too.
    pub async fn interacted(&self, peer: PeerId) -> Result<(), ChatError> {
        self.ask(|r| Command::Interacted(peer, r)).await
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
    state: DmMark,
}

/// Where a direct message is, as `chat_dm_history_v1` keeps it: its own type, so the stored
/// bytes never follow the UI's `MessageState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DmMark {
    Sending,
    HeldByHost,
    Delivered,
    Queued,
    NotDeliveredYet,
    Received,
}

impl From<DmMark> for MessageState {
    fn from(m: DmMark) -> Self {
        match m {
            DmMark::Sending => Self::Sending,
            DmMark::HeldByHost => Self::HeldByHost,
            DmMark::Delivered => Self::Delivered,
            DmMark::Queued => Self::Queued,
            DmMark::NotDeliveredYet => Self::NotDeliveredYet,
            DmMark::Received => Self::Received,
        }
    }
}

impl From<MessageState> for DmMark {
    fn from(s: MessageState) -> Self {
        match s {
            MessageState::Sending => Self::Sending,
            MessageState::HeldByHost => Self::HeldByHost,
            MessageState::Delivered => Self::Delivered,
            MessageState::Queued => Self::Queued,
            MessageState::NotDeliveredYet => Self::NotDeliveredYet,
            MessageState::Received => Self::Received,
        }
    }
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
    signer: Arc<dyn Signer>,
    followed: IsFollowed,
    tracker: &tokio_util::task::TaskTracker,
    cancel: CancellationToken,
) -> ChatHandle {
    let (tx, rx) = mpsc::channel(COMMAND_CHANNEL);
    let actor = Actor {
        me: net.local_peer_id(),
        signer,
        followed,
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
    /// The node's identity key: signs this node's room items and votes.
    signer: Arc<dyn Signer>,
    /// Whether the user follows a peer (a follow counts as knowing it).
    followed: IsFollowed,
    store: Store,
    net: NetHandle,
    bus: EventBus,
    bus_rx: broadcast::Receiver<crate::api::dto::Event>,
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
    /// Requests from strangers, as in `chat_requests_v1` (at most `MAX_REQUESTS`).
    requests: BTreeMap<PeerId, Request>,
    /// Peers accepted or reached out to, as in `chat_known_v1`.
    known: BTreeSet<PeerId>,
    /// Peers declined, as in `chat_declined_v1`.
    declined: BTreeSet<PeerId>,
    /// Messages refused since start: a request over its cap, or a new one over theirs.
    requests_refused: u64,
    /// Messages from declined peers dropped since start.
    requests_dropped: u64,
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
    requests: Table<Request>,
    known: Table<u64>,
    declined: Table<u64>,
}

/// What a batch does once its writes are durable.
#[derive(Default)]
struct Effects {
    wrote: bool,
    sends: Vec<(PeerId, ChatWire)>,
    events: Vec<EventKind>,
    rooms: BTreeSet<RoomId>,
    conversations: BTreeSet<PeerId>,
    /// The requests changed: tell the UI.
    requests: bool,
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
            let bytes = match serde_json::to_vec(&msg) {
                Ok(b) => CheckedBytes(b),
                Err(e) => {
                    tracing::error!("chat: cannot encode a message: {e}");
                    continue;
                }
            };
            if self.net.chat_send(peer, bytes).await.is_err() {
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
            if fx.requests {
                self.bus.emit(EventKind::RequestsChanged {
                    pending: open.requests.len() as u32,
                });
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

    fn on_bus(&mut self, event: Result<crate::api::dto::Event, broadcast::error::RecvError>) {
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
            ChatInbound::Wire { from, msg } => match serde_json::from_slice(&msg.0) {
                // The network checked it with `ChatWire::is_well_formed`.
                Err(e) => tracing::debug!(%from, "undecodable chat message: {e}"),
                Ok(ChatWire::Room(msg)) => {
                    let room = *msg.room();
                    if self
                        .open
                        .as_ref()
                        .is_some_and(|o| o.rooms.contains_key(&room))
                    {
                        self.room_event(room, RoomEvent::Wire { from, msg }, fx);
                    }
                }
                Ok(ChatWire::Dm(msg)) => self.dm_event(DmEvent::Wire { from, msg }, fx),
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
        // Room members keep their place in presence's table whatever strangers announce.
        let members: BTreeSet<PeerId> = self
            .open
            .as_ref()
            .map(|o| {
                o.rooms
                    .values()
                    .flat_map(|r| r.members().iter().copied())
                    .collect()
            })
            .unwrap_or_default();
        if !members.is_empty() {
            let _ = self.net.add_known(members.into_iter().collect()).await;
        }
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
        Command::ListRequests(r) => locked(r),
        Command::AnswerRequest { reply, .. } => locked(reply),
        Command::Interacted(_, r) => locked(r),
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
        cert,
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
        && *cert == old.cert
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
        state: record.state.into(),
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
