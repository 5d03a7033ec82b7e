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
//! link cannot depose a live host), then a real vote for term+1 (the term itself moves only
//! when a certificate proves it). A voter grants (signs) only for its own term + 1, only if
//! the candidate's log is at least as complete as its own, its vote is not lent to someone
//! else this round, and it also considers the host gone (host unreachable or silent). A pre-vote
//! is lent to one candidate per round; a strictly better one (more complete log, then the
//! shared hash) takes it over, so simultaneous candidates converge on one. The candidate
//! wins when **every member it is connected to that runs this room** (has said something on
//! this connection; first contact is always answered) granted, and at least one other
//! member did: a lone member never elects itself in a room of two or more (its messages
//! wait in its outbox). Unanimity of the reachable members is what makes "the most complete
//! log wins" true: any reachable member holding more refuses, and becomes the natural next
//! candidate. Any refusal ends the round. A member that stays silent through a whole round
//! while asked (its connection looks open but its packets are lost: a partition the
//! transport has not noticed yet) counts, like a frozen host, as unreachable until it says
//! something again; otherwise such a side could not elect until the connection timed out.
//! The winner appends a `HostChange` entry (its
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
//! `MAX_ORPHANS`, signatures `SIG_LEN` bytes (fixed by their type), votes in a certificate
//! `MAX_MEMBERS` (and one per member). The log itself is the room's history and grows with it; this module keeps
//! it (and an id index over it) in memory.
//!
//! # Integrity
//! Items are signed by their authors, rights are checked against the signed author by the
//! host and every member, hosts and voters are members, and a host change carries a
//! certificate of signed votes; terms move one election at a time. The rules, and what a
//! dishonest member can still do, are in `integrity` (and ARCHITECTURE.md, "Chat").
//!
//! Files: this one holds the types, the room's state and its constructors; `machine` (the
//! entry points and dispatch), `outbox`, `host`, `follower`, `election`, `integrity` each add
//! the methods of one part of the protocol.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod election;
mod follower;
mod host;
mod integrity;
mod machine;
mod outbox;

pub use integrity::{item_bytes, vote_bytes, Cert, Sig, Signer, ITEM_DOMAIN, SIG_LEN, VOTE_DOMAIN};
#[cfg(test)]
pub(crate) use integrity::{SeedSigner, TestSigner};

/// A room's identifier (chosen by its creator, e.g. random or a hash).
pub type RoomId = [u8; 32];
/// A room entry's unique identifier (random, chosen by the sender's app).
pub type MsgId = [u8; 16];

/// What a peer identity must offer. The app implements it for libp2p's `PeerId`
/// (`key_bytes` = `to_bytes()`); tests use `u64` and `[u8; 32]`.
pub trait PeerKey: Clone + Ord + Debug + Serialize + DeserializeOwned {
    /// Stable bytes for the election tie-break hash and the signed bytes.
    fn key_bytes(&self) -> Vec<u8>;
    /// Whether `sig` is this peer's signature over `msg` (the peer is its public key).
    fn verify(&self, msg: &[u8], sig: &Sig) -> bool;
}

/// An ed25519 public key.
impl PeerKey for [u8; 32] {
    fn key_bytes(&self) -> Vec<u8> {
        self.to_vec()
    }
    fn verify(&self, msg: &[u8], sig: &Sig) -> bool {
        libp2p::identity::ed25519::PublicKey::try_from_bytes(self)
            .is_ok_and(|k| k.verify(msg, &sig.0))
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
    /// The author's signature over [`item_bytes`].
    pub sig: Sig,
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
    /// Proof of `(term, host)` (none for the room's first term).
    #[serde(default)]
    pub cert: Option<Cert<P>>,
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
    /// Whom this member lent its vote for `term + 1` (the only term it signs votes for).
    pub voted_for: Option<P>,
    /// Proof of `term` (the winner's votes); none for the room's first term.
    #[serde(default)]
    pub cert: Option<Cert<P>>,
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
    #[error("the item is not signed by its author")]
    BadSignature,
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
        /// Proof of `term` (and of `host`, when it is the certificate's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cert: Option<Cert<P>>,
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
        /// Proof of `epoch`, until the member has answered in it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cert: Option<Cert<P>>,
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
        /// Proof of `term - 1`, so that a member behind catches up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cert: Option<Cert<P>>,
    },
    /// Member -> candidate (`term` echoes the request). A granted real vote carries the
    /// voter's signature over [`vote_bytes`].
    VoteReply {
        room: RoomId,
        term: u64,
        granted: bool,
        last: LogPos<P>,
        pre: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<Sig>,
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
    /// It answered in my epoch (so it needs no certificate any more).
    certified: bool,
}

/// What a member makes of a peer's `(term, host)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// The peer is behind me: answer with a `Hello`, ignore the message.
    Behind,
    /// Ahead of me or a rival host, without proof: ignore it.
    Unproven,
    /// The current term and host (maybe just learned).
    Current,
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
    /// Asking for (pre-)votes for `term`, standing with log position `last`.
    Standing {
        term: u64,
        pre: bool,
        votes: BTreeSet<P>,
        /// The signed votes of a real vote (mine included).
        sigs: Vec<(P, Sig)>,
        last: LogPos<P>,
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
    /// When each connected peer last sent something about this room.
    heard: BTreeMap<P, u64>,
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
    /// Until when my real vote (`meta.voted_for`) stays lent to its candidate.
    vote_until: u64,
    /// Peers whose leave is displayed (their handed-over texts still count).
    departed: BTreeSet<P>,
    signer: std::sync::Arc<dyn Signer>,
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
    let numbers = match msg {
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
    };
    let cert_ok = |c: &Option<Cert<P>>| {
        c.as_ref()
            .is_none_or(|c| c.term < MAX_COUNTER && pos_ok(&c.last) && c.votes.len() <= MAX_MEMBERS)
    };
    numbers
        && match msg {
            Wire::Hello { cert, .. }
            | Wire::Append { cert, .. }
            | Wire::VoteRequest { cert, .. } => cert_ok(cert),
            _ => true,
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

    fn blank(meta: Meta<P>, now: u64, signer: std::sync::Arc<dyn Signer>) -> Self {
        Room {
            meta,
            log: Vec::new(),
            index: HashMap::new(),
            outbox: BTreeMap::new(),
            outbox_ids: HashMap::new(),
            connected: BTreeSet::new(),
            spoke: BTreeSet::new(),
            heard: BTreeMap::new(),
            gone: None,
            rtt: BTreeMap::new(),
            known_last: BTreeMap::new(),
            verified: 0,
            host_heard_ms: now,
            hosting: None,
            election: Election::Idle,
            prevote: None,
            vote_until: 0,
            departed: BTreeSet::new(),
            signer,
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
        signer: std::sync::Arc<dyn Signer>,
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
            voted_for: None,
            cert: None,
            displayed: 0,
            orphans: BTreeSet::new(),
            muted: false,
            left: false,
            deleted: false,
            leave_deadline: None,
            next_order: 0,
        };
        let mut r = Room::blank(meta, now, signer);
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
                sig: Sig::NONE,
            },
        };
        let entry = Entry {
            item: r.signed(entry.item),
            ..entry
        };
        r.index.insert(entry.item.id, 1);
        r.log.push(entry);
        r.persist.push(PersistOp::Snapshot(Box::new(r.snapshot())));
        r.advance_commit(now);
        let actions = r.finish(now);
        Ok((r, actions))
    }

    /// Join a room from an invitation addressed to `me`.
    pub fn from_invitation(
        me: P,
        inv: Invitation<P>,
        now: u64,
        signer: std::sync::Arc<dyn Signer>,
    ) -> (Self, Vec<Action<P>>) {
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
            cert: inv.cert,
            displayed: 0,
            orphans: BTreeSet::new(),
            muted: false,
            left: false,
            deleted: false,
            leave_deadline: None,
            next_order: 0,
        };
        let mut r = Room::blank(meta, now, signer);
        r.persist.push(PersistOp::Snapshot(Box::new(r.snapshot())));
        let actions = r.finish(now);
        (r, actions)
    }

    /// Rebuild a room from its persisted state (after a restart or a crash).
    pub fn restore(
        snapshot: Snapshot<P>,
        now: u64,
        signer: std::sync::Arc<dyn Signer>,
    ) -> (Self, Vec<Action<P>>) {
        let Snapshot { meta, log, outbox } = snapshot;
        let mut r = Room::blank(meta, now, signer);
        // A vote lent before the restart stays lent for a round.
        r.vote_until = now + ELECTION_ROUND_MS;
        for e in &log {
            r.index.insert(e.item.id, e.seq);
            if e.seq <= r.meta.displayed {
                if let Content::Left(p) = &e.item.content {
                    if *p == e.item.sender {
                        r.departed.insert(p.clone());
                    }
                }
            }
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
            cert: self.meta.cert.clone(),
        }
    }
}
