//! Direct messages: a pure state machine (`DirectMessages::handle(event, now) -> actions`)
//! holding the sender's persistent outbox and the receiver's duplicate filter.
//!
//! **Sending.** Each message gets the next sequence number for its recipient (persisted
//! before anything is sent, so a restart never reuses one). It waits in the outbox until
//! the recipient acknowledges it. While the recipient is offline nothing is tried and the
//! message shows as `Queued`. When the recipient is online the message is sent at once,
//! then again after 1 s, 3 s, 9 s ... (factor 3, one delay at most `BACKOFF_CAP_MS`), up to
//! `MAX_TRIES` tries; after that it stays in the outbox as `NotDeliveredYet` and is tried
//! afresh (tries reset) the next time the recipient comes online. A restarted sender
//! restores the outbox and starts over the same way. At most `DEDUP_WINDOW` messages past
//! the lowest unacknowledged one are on the wire to one recipient (flow control, so the
//! receiver's window is never overrun).
//!
//! **Receiving.** Every message carries `(seq, low)`: `low` says "every seq below this one
//! is settled (acknowledged or withdrawn)". Per sender the receiver keeps only the highest
//! contiguous seq it has and the set of seqs it has above that (at most `DEDUP_WINDOW`), so
//! memory per correspondent is bounded, and a replay or duplicate of *any* old message,
//! a minute or a year later, is recognised (its seq is at or below the contiguous mark, or
//! in the set) and acknowledged again without being shown. Each message is shown once.
//!
//! The actor persists the `Persist` actions of a batch (and flushes) before it performs
//! the rest of that batch; the receiver acknowledges only after its duplicate filter is on
//! disk, so a crash cannot make it show a message twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::room::{MsgId, PeerKey};

/// Largest body, in bytes of UTF-8.
pub const MAX_DM_BODY_BYTES: usize = 16 * 1024;
/// Most unacknowledged messages in the outbox, all recipients together.
pub const MAX_DM_OUTBOX: usize = 10_000;
/// Most unacknowledged messages to one recipient.
pub const MAX_DM_PER_PEER: usize = 1_000;
/// Tries before a message is marked "not delivered yet" (and left in the outbox).
pub const MAX_TRIES: u32 = 10;
/// First retry delay.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Retry delay growth factor.
pub const BACKOFF_FACTOR: u64 = 3;
/// Longest single retry delay.
pub const BACKOFF_CAP_MS: u64 = 3_600_000;
/// Seqs above the contiguous mark the receiver remembers; also the sender's send window.
pub const DEDUP_WINDOW: u64 = 256;
/// Timer period while something waits.
pub const DM_TICK_MS: u64 = 500;

/// On the wire between two peers (the sender's identity comes from the connection).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DmWire {
    Message {
        id: MsgId,
        seq: u64,
        low: u64,
        body: String,
        sent_ms: u64,
    },
    Ack {
        seqs: Vec<u64>,
    },
}

/// Where one of my direct messages is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DmState {
    /// The recipient is offline; the message waits in the outbox.
    Queued,
    /// Sent `tries` times, no acknowledgement yet.
    Sending { tries: u32 },
    /// `MAX_TRIES` tries without an acknowledgement; retried when the peer is next online.
    NotDeliveredYet,
    /// The recipient stored it.
    Delivered,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DmError {
    #[error("the message is larger than {} bytes", MAX_DM_BODY_BYTES)]
    BodyTooLarge,
    #[error("too many messages are waiting to be delivered")]
    OutboxFull,
    #[error("this message id is already in use")]
    DuplicateId,
}

/// A message waiting for its acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending<P> {
    pub to: P,
    pub id: MsgId,
    pub seq: u64,
    pub body: String,
    pub sent_ms: u64,
    /// Tries in the current round (volatile: a restart starts a new round).
    #[serde(skip)]
    tries: u32,
    /// Next try (volatile).
    #[serde(skip)]
    next_try: Option<u64>,
}

/// Duplicate filter for one sender.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMark {
    /// Every seq `1..=contiguous` has been received (or was withdrawn by the sender).
    pub contiguous: u64,
    /// Received seqs above `contiguous` (at most `DEDUP_WINDOW`).
    pub above: BTreeSet<u64>,
}

/// Everything persistent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct DmSnapshot<P> {
    pub next_seq: BTreeMap<P, u64>,
    pub outbox: Vec<Pending<P>>,
    pub inbox: BTreeMap<P, InboxMark>,
}

impl<P> Default for DmSnapshot<P> {
    fn default() -> Self {
        DmSnapshot {
            next_seq: BTreeMap::new(),
            outbox: Vec::new(),
            inbox: BTreeMap::new(),
        }
    }
}

/// One write; apply in order and flush before the rest of the batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum DmPersistOp<P> {
    NextSeq { to: P, next: u64 },
    OutboxPut(Pending<P>),
    OutboxRemove { to: P, seq: u64 },
    Inbox { from: P, mark: InboxMark },
}

impl<P: Ord + Clone> DmSnapshot<P> {
    pub fn apply(&mut self, op: &DmPersistOp<P>) {
        match op {
            DmPersistOp::NextSeq { to, next } => {
                self.next_seq.insert(to.clone(), *next);
            }
            DmPersistOp::OutboxPut(p) => {
                self.outbox.retain(|x| !(x.to == p.to && x.seq == p.seq));
                self.outbox.push(p.clone());
            }
            DmPersistOp::OutboxRemove { to, seq } => {
                self.outbox.retain(|x| !(x.to == *to && x.seq == *seq));
            }
            DmPersistOp::Inbox { from, mark } => {
                self.inbox.insert(from.clone(), mark.clone());
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DmEvent<P> {
    /// Local: send `body` to `to`.
    Send {
        to: P,
        id: MsgId,
        body: String,
    },
    /// A message from a peer.
    Wire {
        from: P,
        msg: DmWire,
    },
    /// The peer is online (connected).
    Online(P),
    /// The peer went offline.
    Offline(P),
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub enum DmAction<P> {
    Persist(DmPersistOp<P>),
    Send {
        to: P,
        msg: DmWire,
    },
    /// Show this message (exactly once per sender and seq).
    Deliver {
        from: P,
        id: MsgId,
        body: String,
        sent_ms: u64,
    },
    State {
        id: MsgId,
        state: DmState,
    },
    Refused {
        id: MsgId,
        error: DmError,
    },
    /// Call `handle(DmEvent::Tick, at)` at this time (replaces the previous timer).
    SetTimer {
        at: u64,
    },
}

/// Retry delay after `tries` tries.
pub fn backoff_ms(tries: u32) -> u64 {
    let exp = tries.saturating_sub(1).min(30);
    BACKOFF_BASE_MS
        .saturating_mul(BACKOFF_FACTOR.saturating_pow(exp))
        .min(BACKOFF_CAP_MS)
}

/// Direct messages of one node.
pub struct DirectMessages<P: PeerKey> {
    next_seq: BTreeMap<P, u64>,
    /// (recipient, seq) -> message.
    outbox: BTreeMap<(P, u64), Pending<P>>,
    inbox: BTreeMap<P, InboxMark>,
    online: BTreeSet<P>,
    timer_at: Option<u64>,
    persist: Vec<DmPersistOp<P>>,
    out: Vec<DmAction<P>>,
}

impl<P: PeerKey> DirectMessages<P> {
    pub fn new() -> Self {
        Self::restore(DmSnapshot::default())
    }

    /// Rebuild from persisted state; every peer counts as offline until reported online.
    pub fn restore(s: DmSnapshot<P>) -> Self {
        let mut outbox = BTreeMap::new();
        for p in s.outbox {
            outbox.insert((p.to.clone(), p.seq), p);
        }
        DirectMessages {
            next_seq: s.next_seq,
            outbox,
            inbox: s.inbox,
            online: BTreeSet::new(),
            timer_at: None,
            persist: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn snapshot(&self) -> DmSnapshot<P> {
        DmSnapshot {
            next_seq: self.next_seq.clone(),
            outbox: self.outbox.values().cloned().collect(),
            inbox: self.inbox.clone(),
        }
    }

    /// Messages waiting for an acknowledgement.
    pub fn pending(&self) -> impl Iterator<Item = &Pending<P>> {
        self.outbox.values()
    }

    pub fn handle(&mut self, event: DmEvent<P>, now: u64) -> Vec<DmAction<P>> {
        match event {
            DmEvent::Send { to, id, body } => self.on_send(to, id, body, now),
            DmEvent::Wire { from, msg } => match msg {
                DmWire::Message {
                    id,
                    seq,
                    low,
                    body,
                    sent_ms,
                } => self.on_message(from, id, seq, low, body, sent_ms),
                DmWire::Ack { seqs } => self.on_ack(from, seqs, now),
            },
            DmEvent::Online(p) => {
                self.online.insert(p.clone());
                // A fresh round of tries for everything waiting for this peer.
                for ((to, _), m) in self.outbox.range_mut((p.clone(), 0)..) {
                    if *to != p {
                        break;
                    }
                    m.tries = 0;
                    m.next_try = Some(now);
                }
                self.try_send(now);
            }
            DmEvent::Offline(p) => {
                self.online.remove(&p);
                let mut queued = Vec::new();
                for ((to, _), m) in self.outbox.range_mut((p.clone(), 0)..) {
                    if *to != p {
                        break;
                    }
                    if m.next_try.take().is_some() {
                        queued.push(m.id);
                    }
                }
                for id in queued {
                    self.out.push(DmAction::State {
                        id,
                        state: DmState::Queued,
                    });
                }
            }
            DmEvent::Tick => self.try_send(now),
        }
        self.finish(now)
    }

    fn finish(&mut self, now: u64) -> Vec<DmAction<P>> {
        let wanted = self.outbox.values().filter_map(|m| m.next_try).min();
        if let Some(at) = wanted {
            let at = at.max(now + 1).min(now + DM_TICK_MS);
            if self.timer_at.is_none_or(|t| t <= now || t > at) {
                self.timer_at = Some(at);
                self.out.push(DmAction::SetTimer { at });
            }
        }
        let mut actions: Vec<DmAction<P>> = self.persist.drain(..).map(DmAction::Persist).collect();
        actions.append(&mut self.out);
        actions
    }

    fn on_send(&mut self, to: P, id: MsgId, body: String, now: u64) {
        let per_peer = self
            .outbox
            .range((to.clone(), 0)..)
            .take_while(|((t, _), _)| *t == to)
            .count();
        let error = if body.len() > MAX_DM_BODY_BYTES {
            Some(DmError::BodyTooLarge)
        } else if self.outbox.len() >= MAX_DM_OUTBOX || per_peer >= MAX_DM_PER_PEER {
            Some(DmError::OutboxFull)
        } else if self.outbox.values().any(|m| m.id == id) {
            Some(DmError::DuplicateId)
        } else {
            None
        };
        if let Some(error) = error {
            self.out.push(DmAction::Refused { id, error });
            return;
        }
        let next = self.next_seq.entry(to.clone()).or_insert(1);
        let seq = *next;
        *next += 1;
        self.persist.push(DmPersistOp::NextSeq {
            to: to.clone(),
            next: seq + 1,
        });
        let online = self.online.contains(&to);
        let m = Pending {
            to: to.clone(),
            id,
            seq,
            body,
            sent_ms: now,
            tries: 0,
            next_try: online.then_some(now),
        };
        self.persist.push(DmPersistOp::OutboxPut(m.clone()));
        self.outbox.insert((to, seq), m);
        self.out.push(DmAction::State {
            id,
            state: DmState::Queued,
        });
        self.try_send(now);
    }

    /// Lowest unacknowledged seq to `to` (or the next seq if none).
    fn low(&self, to: &P) -> u64 {
        self.outbox
            .range((to.clone(), 0)..)
            .next()
            .filter(|((t, _), _)| t == to)
            .map(|((_, s), _)| *s)
            .unwrap_or_else(|| self.next_seq.get(to).copied().unwrap_or(1))
    }

    /// Send everything due to online peers, within each peer's window.
    fn try_send(&mut self, now: u64) {
        let due: Vec<(P, u64)> = self
            .outbox
            .iter()
            .filter(|(_, m)| m.next_try.is_some_and(|t| t <= now) && self.online.contains(&m.to))
            .map(|(k, _)| k.clone())
            .collect();
        for (to, seq) in due {
            let low = self.low(&to);
            let Some(m) = self.outbox.get_mut(&(to.clone(), seq)) else {
                continue;
            };
            if seq >= low + DEDUP_WINDOW {
                // Outside the receiver's window: parked until earlier ones are acked.
                m.next_try = None;
                continue;
            }
            m.tries += 1;
            let state = if m.tries >= MAX_TRIES {
                m.next_try = None;
                DmState::NotDeliveredYet
            } else {
                m.next_try = Some(now + backoff_ms(m.tries));
                DmState::Sending { tries: m.tries }
            };
            let msg = DmWire::Message {
                id: m.id,
                seq,
                low,
                body: m.body.clone(),
                sent_ms: m.sent_ms,
            };
            let id = m.id;
            self.out.push(DmAction::Send { to, msg });
            self.out.push(DmAction::State { id, state });
        }
    }

    fn on_ack(&mut self, from: P, seqs: Vec<u64>, now: u64) {
        for seq in seqs.into_iter().take(DEDUP_WINDOW as usize) {
            if let Some(m) = self.outbox.remove(&(from.clone(), seq)) {
                self.persist.push(DmPersistOp::OutboxRemove {
                    to: from.clone(),
                    seq,
                });
                self.out.push(DmAction::State {
                    id: m.id,
                    state: DmState::Delivered,
                });
            }
        }
        // The window may have moved: send what is now inside it.
        if self.online.contains(&from) {
            for ((to, _), m) in self.outbox.range_mut((from.clone(), 0)..) {
                if *to != from {
                    break;
                }
                if m.tries == 0 && m.next_try.is_none() {
                    m.next_try = Some(now);
                }
            }
            self.try_send(now);
        }
    }

    fn on_message(&mut self, from: P, id: MsgId, seq: u64, low: u64, body: String, sent_ms: u64) {
        // Seqs near u64::MAX cannot come from an honest sender; refusing them keeps the
        // arithmetic below from overflowing.
        const MAX_SEQ: u64 = 1 << 60;
        if seq == 0 || seq >= MAX_SEQ || low >= MAX_SEQ || body.len() > MAX_DM_BODY_BYTES {
            return;
        }
        let mark = self.inbox.entry(from.clone()).or_default();
        let before = mark.clone();
        // The sender will never send anything below `low` as new: close the gap.
        if low > mark.contiguous + 1 {
            mark.contiguous = low - 1;
        }
        let duplicate = seq <= mark.contiguous || mark.above.contains(&seq);
        if !duplicate && seq > mark.contiguous + DEDUP_WINDOW {
            return; // outside the window: no ack, the sender will try again
        }
        if !duplicate {
            mark.above.insert(seq);
        }
        while mark.above.remove(&(mark.contiguous + 1)) {
            mark.contiguous += 1;
        }
        let c = mark.contiguous;
        mark.above.retain(|s| *s > c);
        if *mark != before {
            let mark = mark.clone();
            self.persist.push(DmPersistOp::Inbox {
                from: from.clone(),
                mark,
            });
        }
        if !duplicate {
            self.out.push(DmAction::Deliver {
                from: from.clone(),
                id,
                body,
                sent_ms,
            });
        }
        self.out.push(DmAction::Send {
            to: from,
            msg: DmWire::Ack { seqs: vec![seq] },
        });
    }
}

impl<P: PeerKey> Default for DirectMessages<P> {
    fn default() -> Self {
        Self::new()
    }
}
