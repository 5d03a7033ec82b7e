//! Group chat rooms as a pure state machine: `Room::handle(event, now) -> Vec<Action>`.
//!
//! No I/O, no clock, no randomness, no threads: an actor feeds events (local commands, wire
//! messages, connection changes, RTT measurements, timer ticks) with the current time and
//! carries out the returned actions **in order**. Every batch lists its `Action::Persist`
//! operations first; the actor must write them (and flush) before it performs anything
//! else from the same batch (network sends, UI updates). That rule is what makes "acked"
//! mean "on disk" (see DESIGN.md, Known pitfalls: sled acks before flush).
//!
//! The actor also: routes wire messages by `Wire::room()`; after creating, joining or
//! restoring a room reports every currently connected peer with `Event::Connected`; calls
//! `Event::Tick` at the time of the latest `SetTimer`; delivers `Action::Invitation`
//! through the persistent DM outbox (`dm.rs`); passes wall-clock milliseconds as `now`
//! (deadlines are persisted, so a clock that restarts at zero would not do).
//!
//! # Protocol, in plain words
//!
//! **Log.** A room is a replicated, append-only log. Every entry has a position
//! `(epoch, seq)`: `seq` counts entries from 1 for the room's whole life, `epoch =
//! (term, host)` names the host that gave the entry its place. Terms only grow; one host per
//! epoch by construction, and within an epoch the host assigns each seq once, so two logs
//! that hold the same `(epoch, seq)` agree on everything before it (Raft's log matching).
//! Messages, invitations, renames, leaves, deletion and host changes are all entries, so
//! every member applies membership changes in the same order.
//!
//! **Host.** The host orders what members submit: it checks the submitter is a member (and,
//! for deletion, the creator), drops ids it already holds (every entry carries a unique
//! 16-byte id), appends, persists, and only then acknowledges (`Accepted`) and replicates
//! (`Append`, which doubles as the heartbeat). A member accepts an `Append` only if it holds
//! the entry just before it; otherwise it answers with a short summary of its log (its last
//! few epoch segments) and the host resumes from the last common entry. The "queue" for an
//! offline member is therefore its cursor into the persistent log: O(1) memory per member,
//! never capped, never dropped; a member that returns says where it is (`Hello`) and is
//! caught up in batches of at most `MAX_APPEND_ENTRIES` with at most `MAX_INFLIGHT_ENTRIES`
//! unacknowledged. The departed host itself is just another member with a cursor.
//!
//! **Shown once, in host order.** The host tracks an *in-sync set*: connected members that
//! have acknowledged everything committed so far (voters of the election are in it from the
//! start; a member that falls more than `SYNC_LAG_MS` behind while connected, or
//! disconnects, leaves it; a member that catches up joins it). An entry is *committed* once
//! the host and every in-sync member store it, and the host has committed an entry of its
//! own epoch (Raft's rule against re-committing old terms). Members display entries only up
//! to the commit point the host announced, in seq order; the UI never sees an uncommitted
//! entry, so a later host that lacks it never forces a "display then retract".
//!
//! **Sender outbox.** A member keeps each of its messages in a persistent outbox and
//! resubmits it (to whoever is host) until the message is *committed in its own log*, not
//! merely acknowledged. Acknowledged therefore never means "only on the host's disk".
//!
//! **Election.** A follower considers the host gone when the connection is lost *and* the
//! host has been silent for `HOST_SILENCE_MS` (or it is silent for `HOST_DEAD_MS` even with
//! a connection, or it resigned/left). It then announces its log position (`Hello`) to the
//! members it is connected to and waits a staggered delay: members rank candidates by
//! (1) log completeness `(last epoch, last seq)`, (2) the RTT *this member measured itself*
//! (its own score is the median of its own RTTs; no latency figure ever crosses the wire,
//! so there is nothing to lie about), in coarse 100 ms buckets, (3) `blake3(room, next
//! term, peer)`, the same on every member. Rank r stands after `ELECTION_BASE_MS + r *
//! ELECTION_STAGGER_MS` plus a per-attempt jitter from the same hash. A candidate first
//! runs a pre-vote (nothing persisted, terms unchanged, so a member that merely lost its
//! link cannot depose a live host), then a real vote at term+1. A voter grants only if the
//! candidate's log is at least as complete as its own, it has not voted for someone else
//! in that term, and it also considers the host gone (host unreachable or silent). A pre-vote
//! is lent to one candidate per round; a strictly better one (more complete log, then the
//! shared hash) takes it over, so simultaneous candidates converge on one. The candidate
//! wins when **every member it is connected to that runs this room** (has said something on
//! this connection; first contact is always answered) granted, and at least one other
//! member did: a lone member never elects itself in a room of two or more (its messages
//! wait in its outbox). Unanimity of the reachable members is what makes "the most complete
//! log wins" true: any reachable member holding more refuses, and becomes the natural next
//! candidate. Any refusal ends the round. The winner appends a `HostChange` entry (its
//! epoch starts there), starts with the voters as its in-sync set, and takes over the
//! queues. A host that restarts resumes in its old epoch and waits for every member it
//! had (each drops out of the in-sync set after `SYNC_LAG_MS` if it does not answer).
//!
//! **Fencing and handover.** Every wire message carries a term. Anything from a lower term
//! is rejected with a `Hello` that names the current term and host. A host that hears of a
//! higher epoch (or, after a partition, of another host in the same term with a larger
//! peer key) steps down and follows the new host. When a member (a former host included)
//! learns that the tail of its log conflicts with the host's, it truncates that tail and
//! hands the messages over: they go into its outbox with their original sender, id and time
//! and the host re-sequences them in its epoch. Ids make this idempotent: the host drops
//! ids it already holds; a member that had *displayed* a truncated entry remembers its id
//! (`orphans`) and does not display it again when it comes back.
//!
//! # The trade-off: availability over strict order in true partitions
//! Members must be able to chat when only a minority of the room is online, so the quorum
//! is "every member I can reach (at least two of us)", not "a majority of all members". A
//! majority quorum would stall a five-member room as soon as three members close their
//! laptops. The price: during a real network partition (both sides up, unable to see each
//! other) both sides can have a host. Nothing is lost or shown twice when it heals (the
//! lower epoch steps down, conflicting tails are handed over and re-sequenced, ids dedup),
//! and every member ends with the same log; but members of the side that lost have already
//! displayed their side's messages before the winning side's, so their on-screen order of
//! that window differs (after a restart the UI, which renders the log, shows the common
//! order). The same applies when a host and every in-sync member vanish at once and the
//! remaining members (who never received the newest entries) carry on. With crashes,
//! restarts, drops, duplicates, delays and reordering but no partitions and no such
//! simultaneous loss of all in-sync holders, the displayed order is identical everywhere;
//! `sim.rs` checks both regimes.
//!
//! # Bounds
//! Body `MAX_BODY_BYTES`, room name `MAX_NAME_BYTES`, members `MAX_MEMBERS`, local unsent
//! items `MAX_OUTBOX` (a send beyond it is refused; handed-over entries are exempt, they are
//! bounded by the conflicting tail), items per `Submit` `MAX_SUBMIT_ITEMS`, entries per
//! `Append` `MAX_APPEND_ENTRIES`, unacknowledged entries per member `MAX_INFLIGHT_ENTRIES`,
//! log summary in a refusal `MAX_SEGMENTS`, remembered displayed-then-truncated ids
//! `MAX_ORPHANS`. The log itself is the room's history and grows with it; this module keeps
//! it (and an id index over it) in memory.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A room's identifier (chosen by its creator, e.g. random or a hash).
pub type RoomId = [u8; 32];
/// A room entry's unique identifier (random, chosen by the sender's app).
pub type MsgId = [u8; 16];

/// What a peer identity must offer. The app implements it for libp2p's `PeerId`
/// (`key_bytes` = `to_bytes()`); tests use `u64` and `[u8; 32]`.
pub trait PeerKey: Clone + Ord + Debug + Serialize + DeserializeOwned {
    /// Stable bytes for the election tie-break hash.
    fn key_bytes(&self) -> Vec<u8>;
}

impl PeerKey for [u8; 32] {
    fn key_bytes(&self) -> Vec<u8> {
        self.to_vec()
    }
}

impl PeerKey for u64 {
    fn key_bytes(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
}

// ---------------------------------------------------------------------------------------
// Limits and timings (milliseconds).

/// Largest message body, in bytes of UTF-8.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Largest room name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 200;
/// Most members a room can have.
pub const MAX_MEMBERS: usize = 256;
/// Most locally written items waiting for the host; a send beyond this is refused.
pub const MAX_OUTBOX: usize = 1_000;
/// Most items in one `Submit`.
pub const MAX_SUBMIT_ITEMS: usize = 64;
/// Most entries in one `Append`.
pub const MAX_APPEND_ENTRIES: usize = 128;
/// Content bytes per `Append` beyond its first entry (the wire limit is far above this
/// even with every byte escaped).
pub const MAX_APPEND_BYTES: usize = 256 * 1024;
/// Most entries sent to one member and not yet acknowledged.
pub const MAX_INFLIGHT_ENTRIES: u64 = 512;
/// Most epoch segments a member lists when it refuses an `Append`.
pub const MAX_SEGMENTS: usize = 32;
/// Most ids remembered as "displayed, then truncated, not yet seen again".
pub const MAX_ORPHANS: usize = 65_536;

/// How often the actor should tick a room (it is also what `SetTimer` asks for).
pub const TICK_MS: u64 = 100;
/// Host heartbeat (an `Append`, possibly empty) period.
pub const HEARTBEAT_MS: u64 = 250;
/// Resend period for unanswered submissions.
pub const RESEND_MS: u64 = 600;
/// Resend period for unanswered vote requests.
pub const VOTE_RESEND_MS: u64 = 200;
/// Silence after which a disconnected host is considered gone.
pub const HOST_SILENCE_MS: u64 = 400;
/// Silence after which a host is considered gone even though a connection exists.
pub const HOST_DEAD_MS: u64 = 1_200;
/// Base wait before standing as candidate.
pub const ELECTION_BASE_MS: u64 = 100;
/// Extra wait per rank position.
pub const ELECTION_STAGGER_MS: u64 = 400;
/// Deterministic per-term jitter range (from the tie-break hash).
pub const ELECTION_JITTER_MS: u64 = 200;
/// How long one pre-vote or vote round may take before it is abandoned.
pub const ELECTION_ROUND_MS: u64 = 1_200;
/// A member that stays behind this long while connected leaves the in-sync set.
pub const SYNC_LAG_MS: u64 = 5_000;
/// A leave request not confirmed within this time mutes the room locally.
pub const LEAVE_TIMEOUT_MS: u64 = 10_000;
/// RTT bucket width used in the election ranking: coarse, so that members (each using only
/// its own measurements) mostly agree and the shared hash decides between similar peers.
const RTT_BUCKET_MS: u32 = 100;
/// RTT bucket used when nothing was measured.
const RTT_UNKNOWN_BUCKET: u32 = 1_000;

// ---------------------------------------------------------------------------------------
// Data.

/// One host's reign: the term it won and who it is. Ordered by term, then host key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Epoch<P> {
    pub term: u64,
    pub host: P,
}

/// A position in a log: the epoch of the entry at `seq` (`None` for the empty log).
/// Ordered by epoch, then seq: that order is "log completeness".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct LogPos<P> {
    pub epoch: Option<Epoch<P>>,
    pub seq: u64,
}

impl<P> LogPos<P> {
    /// The position of the empty log.
    pub fn zero() -> Self {
        LogPos {
            epoch: None,
            seq: 0,
        }
    }
}

/// What an entry says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum Content<P> {
    /// A chat message.
    Text(String),
    /// First entry of every room, by its creator.
    Created { name: String },
    /// The peer becomes a member.
    Invite(P),
    /// The room's new name.
    Rename(String),
    /// The peer leaves (only a peer itself may ask for this).
    Left(P),
    /// The room is deleted (only the creator may ask for this). History stays.
    Delete,
    /// A new host's epoch starts here.
    HostChange,
}

/// Something a member wrote, before or after sequencing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Item<P> {
    pub id: MsgId,
    /// Who wrote it (not necessarily who submits it: handed-over items keep their author).
    pub sender: P,
    /// Author's clock when written (display only; never used for ordering).
    pub sent_ms: u64,
    pub content: Content<P>,
}

/// An item with its place in the room log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Entry<P> {
    pub epoch: Epoch<P>,
    pub seq: u64,
    pub item: Item<P>,
}

/// An item waiting in the outbox until it is committed in this member's own log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct OutItem<P> {
    /// Insertion order (submission order).
    pub order: u64,
    pub item: Item<P>,
    /// Epoch whose host acknowledged it (volatile).
    #[serde(skip)]
    acked_in: Option<Epoch<P>>,
    /// When it was last submitted (volatile).
    #[serde(skip)]
    last_sent_ms: Option<u64>,
}

/// A contiguous run of one epoch in a member's log, newest first in `AppendReply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Segment<P> {
    pub epoch: Epoch<P>,
    /// First seq of the run.
    pub first: u64,
}

/// Everything needed to join a room; sent by the host after it commits an invitation
/// (the actor delivers it through the persistent DM outbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Invitation<P> {
    pub room: RoomId,
    pub name: String,
    pub creator: P,
    pub members: BTreeSet<P>,
    /// `members` is the membership after applying entries `1..=as_of`.
    pub as_of: u64,
    pub term: u64,
    pub host: Option<P>,
}

/// Small persistent state of a room (written as one record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Meta<P> {
    pub room: RoomId,
    pub me: P,
    pub creator: P,
    pub name: String,
    /// Members after applying every displayed entry.
    pub members: BTreeSet<P>,
    /// Membership entries up to this seq are already reflected in `members` (invitation).
    pub members_as_of: u64,
    /// Highest term seen.
    pub term: u64,
    /// Host of `term`, if known.
    pub host: Option<P>,
    /// Whom this member voted for in `term`.
    pub voted_for: Option<P>,
    /// Entries `1..=displayed` have been shown (this member's commit point).
    pub displayed: u64,
    /// Ids shown once and since truncated; not shown again when they come back.
    pub orphans: BTreeSet<MsgId>,
    pub muted: bool,
    pub left: bool,
    pub deleted: bool,
    /// When a pending leave request turns into "muted" (wall-clock ms).
    pub leave_deadline: Option<u64>,
    pub next_order: u64,
}

/// The whole persistent state of a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Snapshot<P> {
    pub meta: Meta<P>,
    pub log: Vec<Entry<P>>,
    pub outbox: Vec<OutItem<P>>,
}

/// One write to persistent storage. Apply in order; flush before acting on the rest of
/// the batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum PersistOp<P> {
    /// Replace everything (room creation, joining).
    Snapshot(Box<Snapshot<P>>),
    /// Replace the meta record.
    Meta(Meta<P>),
    /// Append entries at the end of the log (their seqs follow the current last one).
    Append(Vec<Entry<P>>),
    /// Delete the log entries with `seq >= from`.
    TruncateFrom(u64),
    OutboxPut(OutItem<P>),
    OutboxRemove(MsgId),
}

impl<P: Clone> Snapshot<P> {
    /// Apply one persistence operation (what the actor does against its store).
    pub fn apply(&mut self, op: &PersistOp<P>) {
        match op {
            PersistOp::Snapshot(s) => *self = (**s).clone(),
            PersistOp::Meta(m) => self.meta = m.clone(),
            PersistOp::Append(es) => self.log.extend(es.iter().cloned()),
            PersistOp::TruncateFrom(from) => {
                self.log.truncate(from.saturating_sub(1) as usize);
            }
            PersistOp::OutboxPut(o) => {
                self.outbox.retain(|x| x.item.id != o.item.id);
                self.outbox.push(o.clone());
            }
            PersistOp::OutboxRemove(id) => self.outbox.retain(|x| &x.item.id != id),
        }
    }
}

/// Where one of my own messages is, for the pending/unsent marks in the UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// In my outbox, not yet acknowledged by the current host.
    Sending,
    /// The host stored it and gave it a place.
    HeldByHost,
    /// Committed: the host and every in-sync member hold it; it is in my history.
    Delivered,
}

/// Why a command or submission was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RoomError {
    #[error("the message is larger than {} bytes", MAX_BODY_BYTES)]
    BodyTooLarge,
    #[error("the room name must be 1 to {} bytes", MAX_NAME_BYTES)]
    BadName,
    #[error("too many messages are waiting to be sent ({} at most)", MAX_OUTBOX)]
    OutboxFull,
    #[error("not a member of this room")]
    NotMember,
    #[error("only the room's creator can delete it")]
    NotCreator,
    #[error("the room has been deleted")]
    RoomDeleted,
    #[error("you have left this room")]
    LeftRoom,
    #[error("this message id is already in use")]
    DuplicateId,
    #[error("the room has {} members already", MAX_MEMBERS)]
    TooManyMembers,
    #[error("invalid request")]
    Invalid,
}

/// Messages between members of one room. Size limits are checked on receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum Wire<P> {
    /// "This is my term, my host and my log position." Sent on connect, when the host is
    /// gone, and as the answer to anything from an older term.
    Hello {
        room: RoomId,
        term: u64,
        host: Option<P>,
        last: LogPos<P>,
    },
    /// Member -> host: items to sequence (own ones, or handed-over ones).
    Submit {
        room: RoomId,
        term: u64,
        items: Vec<Item<P>>,
    },
    /// Host -> member: these ids are stored and placed.
    Accepted {
        room: RoomId,
        epoch: Epoch<P>,
        ids: Vec<MsgId>,
    },
    /// Host -> member: these ids will never be placed.
    Refused {
        room: RoomId,
        term: u64,
        refused: Vec<(MsgId, RoomError)>,
    },
    /// Host -> peer: you are not a member of this room.
    NotMember { room: RoomId },
    /// Host -> member: log entries after `prev` (maybe none: heartbeat), the commit point,
    /// and the host's last seq.
    Append {
        room: RoomId,
        epoch: Epoch<P>,
        prev: LogPos<P>,
        entries: Vec<Entry<P>>,
        commit: u64,
        host_last: u64,
    },
    /// Member -> host. `ok`: my log matches yours up to `seq`. Not ok: my log up to `seq`
    /// is summarised by `segments` (newest first).
    AppendReply {
        room: RoomId,
        epoch: Epoch<P>,
        ok: bool,
        seq: u64,
        segments: Vec<Segment<P>>,
    },
    /// Candidate -> member. `pre`: a dry run that changes nothing.
    VoteRequest {
        room: RoomId,
        term: u64,
        last: LogPos<P>,
        pre: bool,
    },
    /// Member -> candidate.
    VoteReply {
        room: RoomId,
        term: u64,
        granted: bool,
        last: LogPos<P>,
        pre: bool,
    },
    /// Host -> members: I am no longer host of this epoch (I left the room).
    Resign { room: RoomId, epoch: Epoch<P> },
}

impl<P> Content<P> {
    /// Rough size of the text it carries, for batching.
    pub fn size(&self) -> usize {
        match self {
            Content::Text(t) | Content::Created { name: t } | Content::Rename(t) => t.len(),
            Content::Invite(_) | Content::Left(_) | Content::Delete | Content::HostChange => 64,
        }
    }
}

impl<P> Wire<P> {
    /// The room this message is about (the actor routes on it).
    pub fn room(&self) -> &RoomId {
        match self {
            Wire::Hello { room, .. }
            | Wire::Submit { room, .. }
            | Wire::Accepted { room, .. }
            | Wire::Refused { room, .. }
            | Wire::NotMember { room }
            | Wire::Append { room, .. }
            | Wire::AppendReply { room, .. }
            | Wire::VoteRequest { room, .. }
            | Wire::VoteReply { room, .. }
            | Wire::Resign { room, .. } => room,
        }
    }
}

/// Inputs of the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum Event<P> {
    /// Local: send a chat message.
    Send { id: MsgId, body: String },
    /// Local: invite a peer.
    Invite { id: MsgId, peer: P },
    /// Local: rename the room.
    Rename { id: MsgId, name: String },
    /// Local: leave the room.
    Leave { id: MsgId },
    /// Local: delete the room (creator only).
    Delete { id: MsgId },
    /// A message from a peer.
    Wire { from: P, msg: Wire<P> },
    /// A connection to the peer is up (also reported for every connected peer right after
    /// a room is created, joined or restored).
    Connected(P),
    /// The last connection to the peer closed.
    Disconnected(P),
    /// This node measured a round trip to the peer (libp2p ping).
    Rtt { peer: P, ms: u32 },
    /// Timer.
    Tick,
}

/// Outputs of the state machine, to be carried out in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum Action<P> {
    /// Write (and flush) before anything after it.
    Persist(PersistOp<P>),
    /// Send a message to a peer (best effort; the protocol retries).
    Send { to: P, msg: Wire<P> },
    /// Show this entry. Exactly once per id, in log order.
    Deliver(Entry<P>),
    /// One of my messages moved on.
    DeliveryState { id: MsgId, state: DeliveryState },
    /// A local command was refused, or the host refused one of my items.
    Refused { id: MsgId, error: RoomError },
    /// The host changed (`None`: no host right now, an election is under way).
    HostChanged { term: u64, host: Option<P> },
    /// The member list changed.
    MembersChanged(BTreeSet<P>),
    /// The room was renamed.
    Renamed(String),
    /// Deliver this invitation to `to` (through the persistent DM outbox).
    Invitation { to: P, invitation: Invitation<P> },
    /// The leave request could not be confirmed in time: the room is muted locally.
    Muted,
    /// I am no longer a member (my leave was committed).
    Left,
    /// The host says I am not a member.
    AccessDenied,
    /// The creator deleted the room. History stays on disk; no more sends.
    Deleted,
    /// Call `handle(Event::Tick, at)` at this time (replaces the previous timer).
    SetTimer { at: u64 },
}

// ---------------------------------------------------------------------------------------
// Volatile state.

/// Host bookkeeping for one member.
#[derive(Clone, Debug)]
struct Follower {
    /// Next seq to send.
    next: u64,
    /// Highest seq known stored and matching.
    acked: u64,
    /// When `acked` last moved (or the member became caught up).
    progress_ms: u64,
}

#[derive(Clone, Debug)]
struct Hosting<P> {
    /// Seq of the first entry of my epoch.
    epoch_start: u64,
    followers: BTreeMap<P, Follower>,
    /// Members whose acknowledgement the commit waits for.
    in_sync: BTreeSet<P>,
    next_heartbeat: u64,
    /// When hosting started (members in `in_sync` that never answer drop out after
    /// `SYNC_LAG_MS` from here).
    since: u64,
}

#[derive(Clone, Debug)]
enum Election<P> {
    /// Following a live host (or not a member).
    Idle,
    /// Host gone; stand at `at` unless a host shows up.
    Waiting { at: u64 },
    /// Asking for (pre-)votes for `term`.
    Standing {
        term: u64,
        pre: bool,
        votes: BTreeSet<P>,
        started: u64,
        last_sent: u64,
    },
}

/// One room, as seen by one member.
pub struct Room<P: PeerKey> {
    meta: Meta<P>,
    log: Vec<Entry<P>>,
    /// id -> seq over the whole log.
    index: HashMap<MsgId, u64>,
    /// order -> item.
    outbox: BTreeMap<u64, OutItem<P>>,
    outbox_ids: HashMap<MsgId, u64>,
    connected: BTreeSet<P>,
    /// Connected peers that sent something about this room since they connected.
    spoke: BTreeSet<P>,
    /// The host I gave up on while still connected to it (frozen, or stuck): it is no voter
    /// until it says something again.
    gone: Option<P>,
    rtt: BTreeMap<P, u32>,
    known_last: BTreeMap<P, LogPos<P>>,
    /// My log matches the current host's up to here.
    verified: u64,
    host_heard_ms: u64,
    hosting: Option<Hosting<P>>,
    election: Election<P>,
    /// Pre-vote granted (term, candidate, until): one candidate per round at a time.
    prevote: Option<(u64, P, u64)>,
    /// Failed candidacies since the host was lost (varies the jitter between rounds).
    attempts: u64,
    meta_dirty: bool,
    timer_at: Option<u64>,
    persist: Vec<PersistOp<P>>,
    out: Vec<Action<P>>,
}

fn tie_hash<P: PeerKey>(room: &RoomId, term: u64, peer: &P) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"hearth/chat/tiebreak/v1");
    h.update(room);
    h.update(&term.to_be_bytes());
    h.update(&peer.key_bytes());
    *h.finalize().as_bytes()
}

fn derived_id<P: PeerKey>(room: &RoomId, what: &[u8], term: u64, peer: &P) -> MsgId {
    let mut h = blake3::Hasher::new();
    h.update(b"hearth/chat/derived-id/v1");
    h.update(room);
    h.update(what);
    h.update(&term.to_be_bytes());
    h.update(&peer.key_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    id
}

/// Terms and seqs beyond this are refused (no honest room gets near; it keeps `+ 1`
/// arithmetic on wire values from overflowing).
const MAX_COUNTER: u64 = 1 << 60;

/// Cheap sanity check of the numbers in a wire message.
fn plausible<P>(msg: &Wire<P>) -> bool {
    let pos_ok = |p: &LogPos<P>| {
        p.seq < MAX_COUNTER && p.epoch.as_ref().is_none_or(|e| e.term < MAX_COUNTER)
    };
    match msg {
        Wire::Hello { term, last, .. } => *term < MAX_COUNTER && pos_ok(last),
        Wire::Submit { term, .. } | Wire::Refused { term, .. } => *term < MAX_COUNTER,
        Wire::Accepted { epoch, .. } | Wire::Resign { epoch, .. } => epoch.term < MAX_COUNTER,
        Wire::NotMember { .. } => true,
        Wire::Append {
            epoch,
            prev,
            commit,
            host_last,
            ..
        } => {
            epoch.term < MAX_COUNTER
                && pos_ok(prev)
                && *commit < MAX_COUNTER
                && *host_last < MAX_COUNTER
        }
        Wire::AppendReply { epoch, seq, .. } => epoch.term < MAX_COUNTER && *seq < MAX_COUNTER,
        Wire::VoteRequest { term, last, .. } | Wire::VoteReply { term, last, .. } => {
            *term < MAX_COUNTER && pos_ok(last)
        }
    }
}

fn content_ok<P>(c: &Content<P>) -> bool {
    match c {
        Content::Text(t) => t.len() <= MAX_BODY_BYTES,
        Content::Created { name } | Content::Rename(name) => {
            !name.is_empty() && name.len() <= MAX_NAME_BYTES
        }
        _ => true,
    }
}

impl<P: PeerKey> Room<P> {
    // -----------------------------------------------------------------------------------
    // Construction.

    fn blank(meta: Meta<P>, now: u64) -> Self {
        Room {
            meta,
            log: Vec::new(),
            index: HashMap::new(),
            outbox: BTreeMap::new(),
            outbox_ids: HashMap::new(),
            connected: BTreeSet::new(),
            spoke: BTreeSet::new(),
            gone: None,
            rtt: BTreeMap::new(),
            known_last: BTreeMap::new(),
            verified: 0,
            host_heard_ms: now,
            hosting: None,
            election: Election::Idle,
            prevote: None,
            attempts: 0,
            meta_dirty: false,
            timer_at: None,
            persist: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Create a room; `me` is its creator, only member and first host.
    pub fn create(
        room: RoomId,
        me: P,
        name: String,
        now: u64,
    ) -> Result<(Self, Vec<Action<P>>), RoomError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(RoomError::BadName);
        }
        let meta = Meta {
            room,
            me: me.clone(),
            creator: me.clone(),
            name: name.clone(),
            members: BTreeSet::from([me.clone()]),
            members_as_of: 0,
            term: 1,
            host: Some(me.clone()),
            voted_for: Some(me.clone()),
            displayed: 0,
            orphans: BTreeSet::new(),
            muted: false,
            left: false,
            deleted: false,
            leave_deadline: None,
            next_order: 0,
        };
        let mut r = Room::blank(meta, now);
        r.hosting = Some(Hosting {
            epoch_start: 1,
            followers: BTreeMap::new(),
            in_sync: BTreeSet::new(),
            next_heartbeat: now,
            since: now,
        });
        let entry = Entry {
            epoch: Epoch {
                term: 1,
                host: me.clone(),
            },
            seq: 1,
            item: Item {
                id: derived_id(&room, b"created", 0, &me),
                sender: me,
                sent_ms: now,
                content: Content::Created { name },
            },
        };
        r.index.insert(entry.item.id, 1);
        r.log.push(entry);
        r.persist.push(PersistOp::Snapshot(Box::new(r.snapshot())));
        r.advance_commit(now);
        let actions = r.finish(now);
        Ok((r, actions))
    }

    /// Join a room from an invitation addressed to `me`.
    pub fn from_invitation(me: P, inv: Invitation<P>, now: u64) -> (Self, Vec<Action<P>>) {
        let meta = Meta {
            room: inv.room,
            me,
            creator: inv.creator,
            name: inv.name,
            members: inv.members,
            members_as_of: inv.as_of,
            term: inv.term,
            host: inv.host,
            voted_for: None,
            displayed: 0,
            orphans: BTreeSet::new(),
            muted: false,
            left: false,
            deleted: false,
            leave_deadline: None,
            next_order: 0,
        };
        let mut r = Room::blank(meta, now);
        r.persist.push(PersistOp::Snapshot(Box::new(r.snapshot())));
        let actions = r.finish(now);
        (r, actions)
    }

    /// Rebuild a room from its persisted state (after a restart or a crash).
    pub fn restore(snapshot: Snapshot<P>, now: u64) -> (Self, Vec<Action<P>>) {
        let Snapshot { meta, log, outbox } = snapshot;
        let mut r = Room::blank(meta, now);
        for e in &log {
            r.index.insert(e.item.id, e.seq);
        }
        r.log = log;
        if r.meta.displayed > r.last_seq() {
            r.meta.displayed = r.last_seq();
            r.meta_dirty = true;
        }
        for o in outbox {
            r.outbox_ids.insert(o.item.id, o.order);
            r.meta.next_order = r.meta.next_order.max(o.order + 1);
            r.outbox.insert(o.order, o);
        }
        if r.meta.host.as_ref() == Some(&r.meta.me) && !r.meta.left {
            // I was host: resume in the same epoch. If others moved on, they will tell me
            // (with a higher term) and I step down. Who was in sync is not known: wait for
            // every member until it answers or `SYNC_LAG_MS` passes.
            let epoch = r.epoch_of_me();
            let start = r.log.partition_point(|e| e.epoch < epoch) as u64 + 1;
            let me = r.meta.me.clone();
            let in_sync = r
                .meta
                .members
                .iter()
                .filter(|p| **p != me)
                .cloned()
                .collect();
            r.hosting = Some(Hosting {
                epoch_start: start,
                followers: BTreeMap::new(),
                in_sync,
                next_heartbeat: now,
                since: now,
            });
            if start > r.last_seq() {
                r.append_host_change();
            }
            r.advance_commit(now);
        }
        let actions = r.finish(now);
        (r, actions)
    }

    /// The full persistent state (what the persisted ops add up to).
    pub fn snapshot(&self) -> Snapshot<P> {
        Snapshot {
            meta: self.meta.clone(),
            log: self.log.clone(),
            outbox: self.outbox.values().cloned().collect(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Read access.

    pub fn id(&self) -> &RoomId {
        &self.meta.room
    }
    pub fn me(&self) -> &P {
        &self.meta.me
    }
    pub fn meta(&self) -> &Meta<P> {
        &self.meta
    }
    /// The log (displayed part: `..meta().displayed`).
    pub fn log(&self) -> &[Entry<P>] {
        &self.log
    }
    pub fn is_host(&self) -> bool {
        self.hosting.is_some()
    }
    /// Current term and host (if known).
    pub fn host(&self) -> (u64, Option<&P>) {
        (self.meta.term, self.meta.host.as_ref())
    }
    pub fn members(&self) -> &BTreeSet<P> {
        &self.meta.members
    }
    /// My own messages not yet committed, in the order I wrote them, with where each is.
    pub fn unsent(&self) -> impl Iterator<Item = (&Item<P>, DeliveryState)> {
        self.outbox
            .values()
            .filter(|o| o.item.sender == self.meta.me)
            .map(|o| {
                let state = if o.acked_in.is_some() {
                    DeliveryState::HeldByHost
                } else {
                    DeliveryState::Sending
                };
                (&o.item, state)
            })
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }
    /// The invitation the host would send to `peer` now.
    pub fn invitation(&self) -> Invitation<P> {
        Invitation {
            room: self.meta.room,
            name: self.meta.name.clone(),
            creator: self.meta.creator.clone(),
            members: self.meta.members.clone(),
            as_of: self.meta.displayed,
            term: self.meta.term,
            host: self.meta.host.clone(),
        }
    }

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
    fn finish(&mut self, now: u64) -> Vec<Action<P>> {
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

    fn send(&mut self, to: P, msg: Wire<P>) {
        self.out.push(Action::Send { to, msg });
    }

    fn refuse_local(&mut self, id: MsgId, error: RoomError) {
        self.out.push(Action::Refused { id, error });
    }

    // -----------------------------------------------------------------------------------
    // Small helpers.

    fn last_seq(&self) -> u64 {
        self.log.len() as u64
    }

    fn pos_at(&self, seq: u64) -> LogPos<P> {
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

    fn last_pos(&self) -> LogPos<P> {
        self.pos_at(self.last_seq())
    }

    fn has_pos(&self, pos: &LogPos<P>) -> bool {
        pos.seq == 0 || (pos.seq <= self.last_seq() && self.pos_at(pos.seq) == *pos)
    }

    fn epoch_of_me(&self) -> Epoch<P> {
        Epoch {
            term: self.meta.term,
            host: self.meta.me.clone(),
        }
    }

    fn current_epoch(&self) -> Option<Epoch<P>> {
        self.meta.host.clone().map(|host| Epoch {
            term: self.meta.term,
            host,
        })
    }

    fn is_member(&self, p: &P) -> bool {
        self.meta.members.contains(p)
    }

    /// Host check for a peer that talks to me: a member, or invited by an entry that is
    /// not committed yet (a new host may re-commit it a moment later).
    fn is_member_or_invited(&self, p: &P) -> bool {
        self.is_member(p)
            || self.log[self.meta.displayed as usize..]
                .iter()
                .any(|e| e.item.content == Content::Invite(p.clone()))
    }

    fn active(&self) -> bool {
        !self.meta.left && self.is_member(&self.meta.me)
    }

    fn hello(&self) -> Wire<P> {
        Wire::Hello {
            room: self.meta.room,
            term: self.meta.term,
            host: self.meta.host.clone(),
            last: self.last_pos(),
        }
    }

    /// Connected members, other than me, that spoke in this room since connecting.
    fn electorate(&self) -> BTreeSet<P> {
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
    fn epoch_range(&self, epoch: &Epoch<P>) -> Option<(u64, u64)> {
        let lo = self.log.partition_point(|e| e.epoch < *epoch);
        let hi = self.log.partition_point(|e| e.epoch <= *epoch);
        (lo < hi).then_some((lo as u64 + 1, hi as u64))
    }

    /// Epoch runs of my log at or below `upto`, newest first.
    fn segments_below(&self, upto: u64) -> (u64, Vec<Segment<P>>) {
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

    fn append_entry(&mut self, entry: Entry<P>) {
        self.index.insert(entry.item.id, entry.seq);
        self.persist.push(PersistOp::Append(vec![entry.clone()]));
        self.log.push(entry);
    }

    fn append_host_change(&mut self) {
        let epoch = self.epoch_of_me();
        let id = derived_id(&self.meta.room, b"host-change", epoch.term, &epoch.host);
        if self.index.contains_key(&id) {
            return;
        }
        let seq = self.last_seq() + 1;
        let item = Item {
            id,
            sender: self.meta.me.clone(),
            sent_ms: 0,
            content: Content::HostChange,
        };
        self.append_entry(Entry { epoch, seq, item });
    }

    // -----------------------------------------------------------------------------------
    // Outbox.

    /// Queue a locally written item. Returns false if refused.
    fn enqueue(&mut self, id: MsgId, content: Content<P>, now: u64) -> bool {
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
        let item = Item {
            id,
            sender: self.meta.me.clone(),
            sent_ms: now,
            content,
        };
        self.put_outbox(item);
        self.out.push(Action::DeliveryState {
            id,
            state: DeliveryState::Sending,
        });
        self.flush_outbox(now);
        true
    }

    fn put_outbox(&mut self, item: Item<P>) {
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

    fn remove_outbox(&mut self, id: &MsgId) -> Option<OutItem<P>> {
        let order = self.outbox_ids.remove(id)?;
        self.persist.push(PersistOp::OutboxRemove(*id));
        self.outbox.remove(&order)
    }

    /// Hand pending items to the host: sequence them myself if I am the host, else submit
    /// (again, if unanswered for `RESEND_MS` or the epoch changed).
    fn flush_outbox(&mut self, now: u64) {
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
    fn sequence(&mut self, item: Item<P>, submitter: &P) -> Result<(), RoomError> {
        if self.index.contains_key(&item.id) {
            return Ok(());
        }
        if self.meta.deleted {
            return Err(RoomError::RoomDeleted);
        }
        if !content_ok(&item.content) {
            return Err(RoomError::Invalid);
        }
        let own = &item.sender == submitter;
        // Own submissions need a current member; handed-over items keep their author (who
        // may have left since) and are vouched for by the submitting member.
        if own && !self.is_member(&item.sender) {
            return Err(RoomError::NotMember);
        }
        match &item.content {
            Content::Text(_) | Content::Rename(_) => {}
            Content::Invite(p) => {
                if !self.is_member(p) && self.meta.members.len() >= MAX_MEMBERS {
                    return Err(RoomError::TooManyMembers);
                }
            }
            Content::Left(p) => {
                if *p != item.sender {
                    return Err(RoomError::Invalid);
                }
            }
            Content::Delete => {
                if item.sender != self.meta.creator {
                    return Err(RoomError::NotCreator);
                }
            }
            Content::Created { .. } | Content::HostChange => return Err(RoomError::Invalid),
        }
        let seq = self.last_seq() + 1;
        let epoch = self.epoch_of_me();
        self.append_entry(Entry { epoch, seq, item });
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Commit and display.

    /// Host: move the commit point to what the host and every in-sync member store.
    fn advance_commit(&mut self, now: u64) {
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
    fn announce_commit(&mut self, now: u64) {
        self.append_to_followers(false, now);
    }

    /// Show entries up to `upto` (already known to be committed) and apply their effects.
    fn display_to(&mut self, upto: u64, now: u64) {
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
            self.apply_effects(&entry, now);
            if !shown_before {
                self.out.push(Action::Deliver(entry));
            }
        }
    }

    fn apply_effects(&mut self, entry: &Entry<P>, now: u64) {
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
    fn truncate_from(&mut self, from: u64) {
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

    // -----------------------------------------------------------------------------------
    // Terms, hosts.

    /// Learn about `(term, host)` from a peer. Returns true if the peer is behind me
    /// (lower term, or same term with a host that loses against mine): the caller answers
    /// with a `Hello` and ignores the message.
    fn observe(&mut self, term: u64, host: Option<&P>, now: u64) -> bool {
        if term < self.meta.term {
            return true;
        }
        if term > self.meta.term {
            self.meta.term = term;
            self.meta.voted_for = None;
            self.meta_dirty = true;
            self.set_host(host.cloned(), now);
            return false;
        }
        match (self.meta.host.clone(), host) {
            (_, None) => false,
            (None, Some(h)) => {
                self.set_host(Some(h.clone()), now);
                false
            }
            (Some(mine), Some(h)) if mine == *h => false,
            // Two hosts in one term (only after a partition): the larger key wins.
            (Some(mine), Some(h)) => {
                if *h > mine {
                    self.set_host(Some(h.clone()), now);
                    false
                } else {
                    true
                }
            }
        }
    }

    /// Follow `host` in the current term (stepping down if I was host).
    fn set_host(&mut self, host: Option<P>, now: u64) {
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
    fn lose_host(&mut self) {
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
    fn resign(&mut self, now: u64) {
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

    fn host_gone(&self, now: u64) -> bool {
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
    fn host_alive_for_vote(&self, now: u64) -> bool {
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

    fn follower_mut(&mut self, p: &P, now: u64) -> Option<&mut Follower> {
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
        }))
    }

    /// The other members this node is connected to.
    fn connected_members(&self) -> Vec<P> {
        self.connected
            .iter()
            .filter(|p| self.is_member(p) && **p != self.meta.me)
            .cloned()
            .collect()
    }

    /// Send `p` the entries from its `next` (or an empty heartbeat).
    fn send_append(&mut self, p: &P, now: u64) {
        let last = self.last_seq();
        let Some(f) = self.follower_mut(p, now) else {
            return;
        };
        if f.next > last + 1 {
            f.next = last + 1;
        }
        let start = f.next;
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
        };
        self.send(p.clone(), msg);
    }

    /// Push new entries to members that are up to date.
    fn replicate(&mut self, now: u64) {
        self.append_to_followers(true, now);
    }

    /// Host: send an `Append` to each connected member known as a follower that has
    /// entries still to be sent (`behind`) or has been sent everything (`!behind`).
    fn append_to_followers(&mut self, behind: bool, now: u64) {
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

    fn heartbeat(&mut self, now: u64) {
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

    fn on_submit(&mut self, from: P, term: u64, items: Vec<Item<P>>, now: u64) {
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

    fn on_append_reply(
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
    fn match_point(&self, end: u64, segments: &[Segment<P>]) -> Result<u64, u64> {
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

    fn become_host(&mut self, voters: BTreeSet<P>, now: u64) {
        self.attempts = 0;
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

    // -----------------------------------------------------------------------------------
    // Follower side.

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        from: P,
        epoch: Epoch<P>,
        prev: LogPos<P>,
        entries: Vec<Entry<P>>,
        commit: u64,
        host_last: u64,
        now: u64,
    ) {
        // Validate before touching anything.
        if epoch.host != from || entries.len() > MAX_APPEND_ENTRIES {
            return;
        }
        let mut floor = prev.epoch.clone();
        for (expect_seq, e) in (prev.seq + 1..).zip(entries.iter()) {
            let epoch_ok = e.epoch <= epoch && floor.as_ref().is_none_or(|f| e.epoch >= *f);
            if e.seq != expect_seq || !epoch_ok || !content_ok(&e.item.content) {
                return;
            }
            floor = Some(e.epoch.clone());
        }
        if self.observe(epoch.term, Some(&from), now) {
            let hello = self.hello();
            self.send(from, hello);
            return;
        }
        if self.meta.host.as_ref() != Some(&from) || self.hosting.is_some() {
            return;
        }
        self.host_heard_ms = now;
        self.election = Election::Idle;
        if !self.has_pos(&prev) {
            let (end, segments) = self.segments_below(prev.seq);
            let msg = Wire::AppendReply {
                room: self.meta.room,
                epoch,
                ok: false,
                seq: end,
                segments,
            };
            self.send(from, msg);
            return;
        }
        let n = entries.len() as u64;
        for e in entries {
            let seq = e.seq;
            if seq <= self.last_seq() {
                if self.log[seq as usize - 1].epoch == e.epoch {
                    continue;
                }
                self.truncate_from(seq);
            }
            // An honest host never places an id twice; refuse such a batch.
            if self.index.contains_key(&e.item.id) || seq != self.last_seq() + 1 {
                return;
            }
            self.append_entry(e);
        }
        let matched = prev.seq + n;
        // Leftovers from an older epoch beyond the end of the host's log are not in it.
        if matched == host_last && self.last_seq() > matched {
            let next_epoch = &self.log[matched as usize].epoch;
            if *next_epoch != epoch {
                self.truncate_from(matched + 1);
            }
        }
        self.verified = self.verified.max(matched).min(self.last_seq());
        let upto = commit.min(self.verified);
        if upto > self.meta.displayed {
            self.display_to(upto, now);
        }
        let msg = Wire::AppendReply {
            room: self.meta.room,
            epoch,
            ok: true,
            seq: self.verified,
            segments: Vec::new(),
        };
        self.send(from, msg);
        self.flush_outbox(now);
    }

    fn on_hello(&mut self, from: P, term: u64, host: Option<P>, last: LogPos<P>, now: u64) {
        if !self.is_member_or_invited(&from) {
            if self.hosting.is_some() {
                self.send(
                    from,
                    Wire::NotMember {
                        room: self.meta.room,
                    },
                );
            }
            return;
        }
        self.known_last.insert(from.clone(), last.clone());
        if self.observe(term, host.as_ref(), now) {
            let hello = self.hello();
            self.send(from, hello);
            return;
        }
        if self.hosting.is_some() {
            if let Some(h) = self.hosting.as_mut() {
                h.followers.remove(&from);
            }
            self.send_append(&from, now);
        }
    }

    // -----------------------------------------------------------------------------------
    // Election.

    /// My own latency score bucket for `p` (self: median of my measured RTTs).
    fn latency_bucket(&self, p: &P) -> u32 {
        if *p == self.meta.me {
            let mut v: Vec<u32> = self
                .connected
                .iter()
                .filter(|q| self.is_member(q))
                .filter_map(|q| self.rtt.get(q).copied())
                .collect();
            if v.is_empty() {
                return RTT_UNKNOWN_BUCKET;
            }
            v.sort_unstable();
            v[v.len() / 2] / RTT_BUCKET_MS
        } else {
            self.rtt
                .get(p)
                .map_or(RTT_UNKNOWN_BUCKET, |r| r / RTT_BUCKET_MS)
        }
    }

    /// When to stand: my rank among the members I can reach, by log completeness, then
    /// latency I measured, then the shared tie-break hash.
    fn candidacy_delay(&self) -> u64 {
        let next_term = self.meta.term + 1;
        let room = self.meta.room;
        // (log completeness, my latency bucket, shared hash, peer): smallest first.
        type Candidate<P> = (Reverse<LogPos<P>>, u32, [u8; 32], P);
        let mut cands: Vec<Candidate<P>> = self
            .electorate()
            .into_iter()
            .map(|p| {
                let last = self
                    .known_last
                    .get(&p)
                    .cloned()
                    .unwrap_or_else(LogPos::zero);
                (
                    Reverse(last),
                    self.latency_bucket(&p),
                    tie_hash(&room, next_term, &p),
                    p,
                )
            })
            .collect();
        let me = self.meta.me.clone();
        cands.push((
            Reverse(self.last_pos()),
            self.latency_bucket(&me),
            tie_hash(&room, next_term, &me),
            me.clone(),
        ));
        cands.sort();
        let rank = cands.iter().position(|c| c.3 == me).unwrap_or(0) as u64;
        let h = tie_hash(&room, next_term ^ (self.attempts << 40), &me);
        let jitter = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        ELECTION_BASE_MS + rank * ELECTION_STAGGER_MS + jitter % ELECTION_JITTER_MS
    }

    fn drive_election(&mut self, now: u64) {
        if !self.active() || self.hosting.is_some() {
            self.election = Election::Idle;
            return;
        }
        match self.election.clone() {
            Election::Idle => {
                if self.host_gone(now) {
                    if self.meta.host.is_some() {
                        self.lose_host_silently();
                    }
                    // Tell every connected member (their answers also show who runs this
                    // room: only those count in the electorate).
                    let hello = self.hello();
                    let targets = self.connected_members();
                    for p in targets {
                        self.send(p, hello.clone());
                    }
                    self.election = Election::Waiting {
                        at: now + self.candidacy_delay(),
                    };
                }
            }
            Election::Waiting { at } => {
                if !self.host_gone(now) {
                    self.election = Election::Idle;
                } else if now >= at {
                    self.stand(true, now);
                }
            }
            Election::Standing {
                term,
                pre,
                votes,
                started,
                last_sent,
            } => {
                if now >= started + ELECTION_ROUND_MS {
                    self.abandon(now);
                } else if now >= last_sent + VOTE_RESEND_MS {
                    let msg = Wire::VoteRequest {
                        room: self.meta.room,
                        term,
                        last: self.last_pos(),
                        pre,
                    };
                    let targets: Vec<P> = self
                        .electorate()
                        .into_iter()
                        .filter(|p| !votes.contains(p))
                        .collect();
                    for p in targets {
                        self.send(p, msg.clone());
                    }
                    if let Election::Standing { last_sent, .. } = &mut self.election {
                        *last_sent = now;
                    }
                }
            }
        }
    }

    /// The host is gone by my own timers: forget it (so I can vote), keep the term.
    fn lose_host_silently(&mut self) {
        self.gone = self.meta.host.take();
        self.meta_dirty = true;
        self.out.push(Action::HostChanged {
            term: self.meta.term,
            host: None,
        });
    }

    fn abandon(&mut self, now: u64) {
        self.attempts += 1;
        self.election = Election::Waiting {
            at: now + ELECTION_ROUND_MS / 2 + self.candidacy_delay(),
        };
    }

    /// Start a pre-vote (`pre`) or a real vote for term+1 / the current term.
    fn stand(&mut self, pre: bool, now: u64) {
        let electorate = self.electorate();
        if electorate.is_empty() && self.meta.members.len() > 1 {
            // Alone: never elect myself; wait for someone to come back.
            self.election = Election::Waiting {
                at: now + ELECTION_ROUND_MS,
            };
            return;
        }
        let term = if pre {
            self.prevote = Some((
                self.meta.term + 1,
                self.meta.me.clone(),
                now + ELECTION_ROUND_MS,
            ));
            self.meta.term + 1
        } else {
            self.meta.term += 1;
            self.meta.voted_for = Some(self.meta.me.clone());
            self.meta.host = None;
            self.meta_dirty = true;
            self.meta.term
        };
        self.election = Election::Standing {
            term,
            pre,
            votes: BTreeSet::from([self.meta.me.clone()]),
            started: now,
            last_sent: now,
        };
        let msg = Wire::VoteRequest {
            room: self.meta.room,
            term,
            last: self.last_pos(),
            pre,
        };
        // Ask every connected member, including ones that have not spoken yet.
        let targets = self.connected_members();
        for p in targets {
            self.send(p, msg.clone());
        }
        self.check_won(now);
    }

    fn check_won(&mut self, now: u64) {
        let Election::Standing { pre, votes, .. } = &self.election else {
            return;
        };
        let electorate = self.electorate();
        let everyone = electorate.iter().all(|p| votes.contains(p));
        let enough = !electorate.is_empty() || self.meta.members.len() <= 1;
        if !(everyone && enough) {
            return;
        }
        let (pre, votes) = (*pre, votes.clone());
        if pre {
            self.stand(false, now);
        } else {
            self.become_host(votes, now);
        }
    }

    fn on_vote_request(&mut self, from: P, term: u64, last: LogPos<P>, pre: bool, now: u64) {
        if !self.active() || !self.is_member(&from) {
            return;
        }
        self.known_last.insert(from.clone(), last.clone());
        let my_last = self.last_pos();
        let room = self.meta.room;
        let reply = |granted: bool, term: u64| Wire::VoteReply {
            room,
            term,
            granted,
            last: my_last.clone(),
            pre,
        };
        if term < self.meta.term || self.host_alive_for_vote(now) {
            let msg = reply(false, self.meta.term);
            self.send(from.clone(), msg);
            if self.hosting.is_some() {
                self.send_append(&from, now);
            }
            return;
        }
        let log_ok = last >= my_last;
        if pre {
            let free = term > self.meta.term
                || self.meta.voted_for.is_none()
                || self.meta.voted_for.as_ref() == Some(&from);
            // One pre-vote candidate at a time, so that simultaneous candidates do not
            // both go on to split the real vote; a strictly better candidate (more complete
            // log, then the shared hash) takes the lock over, so they converge on one.
            let unlocked = match &self.prevote {
                Some((t, c, until)) if *c != from && *t == term && now < *until => {
                    let c_last = if *c == self.meta.me {
                        my_last.clone()
                    } else {
                        self.known_last.get(c).cloned().unwrap_or_else(LogPos::zero)
                    };
                    let rank =
                        |p: &P, l: &LogPos<P>| (l.clone(), Reverse(tie_hash(&room, term, p)));
                    rank(&from, &last) > rank(c, &c_last)
                }
                _ => true,
            };
            let granted = log_ok && free && unlocked;
            if granted {
                self.prevote = Some((term, from.clone(), now + ELECTION_ROUND_MS));
                // Give the candidate time before standing myself (also if I was standing).
                self.election = Election::Waiting {
                    at: now + ELECTION_ROUND_MS + self.candidacy_delay(),
                };
            }
            // A refusal carries my real term (a granted pre-vote echoes the proposed one).
            let msg = reply(granted, if granted { term } else { self.meta.term });
            self.send(from, msg);
            return;
        }
        if term > self.meta.term {
            self.observe(term, None, now);
        }
        let free = self.meta.voted_for.is_none() || self.meta.voted_for.as_ref() == Some(&from);
        let granted = log_ok && free;
        if granted {
            if self.meta.voted_for.is_none() {
                self.meta.voted_for = Some(from.clone());
                self.meta_dirty = true;
            }
            // Give the candidate time before standing myself.
            self.election = Election::Waiting {
                at: now + ELECTION_ROUND_MS + self.candidacy_delay(),
            };
        }
        let msg = reply(granted, self.meta.term);
        self.send(from, msg);
    }

    fn on_vote_reply(
        &mut self,
        from: P,
        term: u64,
        granted: bool,
        last: LogPos<P>,
        pre: bool,
        now: u64,
    ) {
        self.known_last.insert(from.clone(), last.clone());
        if term > self.meta.term && (!pre || !granted) {
            // Someone is ahead of me: catch up on the term and stop this round.
            self.observe(term, None, now);
            if matches!(self.election, Election::Standing { .. }) {
                self.abandon(now);
            }
            return;
        }
        let Election::Standing {
            term: t,
            pre: p,
            votes,
            ..
        } = &mut self.election
        else {
            return;
        };
        if *t != term || *p != pre {
            return;
        }
        if granted {
            votes.insert(from);
            self.check_won(now);
        } else {
            self.abandon(now);
        }
    }

    // -----------------------------------------------------------------------------------
    // Dispatch.

    fn on_wire(&mut self, from: P, msg: Wire<P>, now: u64) {
        if !plausible(&msg) {
            return;
        }
        let first_contact = self.connected.contains(&from) && self.spoke.insert(from.clone());
        if self.gone.as_ref() == Some(&from) {
            self.gone = None;
        }
        if self.meta.left {
            return;
        }
        match msg {
            Wire::Hello {
                term, host, last, ..
            } => {
                // Answer a peer's first word on this connection, so both sides know the
                // other runs this room (that is what puts it in the electorate).
                if first_contact && self.hosting.is_none() && self.is_member(&from) {
                    let hello = self.hello();
                    self.send(from.clone(), hello);
                }
                self.on_hello(from, term, host, last, now)
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
                ..
            } => self.on_append(from, epoch, prev, entries, commit, host_last, now),
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
                term, last, pre, ..
            } => self.on_vote_request(from, term, last, pre, now),
            Wire::VoteReply {
                term,
                granted,
                last,
                pre,
                ..
            } => self.on_vote_reply(from, term, granted, last, pre, now),
            Wire::Resign { epoch, .. } => {
                if epoch.host == from && self.current_epoch().as_ref() == Some(&epoch) {
                    self.lose_host();
                }
            }
        }
    }

    fn on_connected(&mut self, p: P, now: u64) {
        if p == self.meta.me {
            return;
        }
        self.connected.insert(p.clone());
        self.spoke.remove(&p);
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

    fn on_disconnected(&mut self, p: P, now: u64) {
        self.connected.remove(&p);
        self.spoke.remove(&p);
        if let Some(h) = self.hosting.as_mut() {
            h.in_sync.remove(&p);
            h.followers.remove(&p);
        }
        self.advance_commit(now);
        if matches!(self.election, Election::Standing { .. }) {
            self.check_won(now);
        }
    }

    fn on_tick(&mut self, now: u64) {
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
