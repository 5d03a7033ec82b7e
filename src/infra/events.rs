//! The node's event stream: every event gets the next id, the last [`BUFFER`] are kept so a
//! client that reconnects with `since=<id>` misses nothing, and live subscribers receive
//! them over a bounded broadcast channel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::api::dto::{Event, EventKind};

/// Events kept for resuming clients. A client further behind than this is told to resync.
pub const BUFFER: usize = 4096;
/// Live fan-out capacity; a subscriber that falls this far behind catches up from the buffer.
const CHANNEL: usize = 1024;

/// Returned when the asked-for events are no longer (or not yet) buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap;

struct Inner {
    next_id: u64,
    buf: VecDeque<Event>,
}

/// Cheap to clone; all clones share one stream.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 1,
                buf: VecDeque::new(),
            })),
            tx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` half-updated in a way that
        // matters (ids only grow), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records and publishes an event; returns its id.
    pub fn emit(&self, kind: EventKind) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let event = Event {
            id,
            time_ms: now_ms(),
            kind,
        };
        if inner.buf.len() == BUFFER {
            inner.buf.pop_front();
        }
        inner.buf.push_back(event.clone());
        // Sending under the lock keeps the live order equal to the id order.
        let _ = self.tx.send(event);
        id
    }

    /// The id of the latest event (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.lock().next_id - 1
    }

    /// Buffered events with an id greater than `since`.
    pub fn since(&self, since: u64) -> Result<Vec<Event>, Gap> {
        Self::since_locked(&self.lock(), since)
    }

    fn since_locked(inner: &Inner, since: u64) -> Result<Vec<Event>, Gap> {
        let last = inner.next_id - 1;
        if since > last {
            // The client knows ids this run never issued: it talked to an earlier run.
            return Err(Gap);
        }
        let oldest = inner.buf.front().map_or(inner.next_id, |e| e.id);
        if since + 1 < oldest {
            return Err(Gap);
        }
        Ok(inner.buf.iter().filter(|e| e.id > since).cloned().collect())
    }

    /// Atomically: the buffered events after `since`, and a receiver for everything after
    /// them. Nothing is missed or repeated between the two.
    pub fn subscribe(&self, since: u64) -> (Result<Vec<Event>, Gap>, broadcast::Receiver<Event>) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        (Self::since_locked(&inner, since), rx)
    }

    /// A receiver of live events only.
    pub fn receiver(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_returns_exactly_the_missed_events() {
        let bus = EventBus::new();
        for _ in 0..5 {
            bus.emit(EventKind::Resync);
        }
        let ids: Vec<u64> = bus.since(2).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![3, 4, 5]);
        assert!(bus.since(5).unwrap().is_empty());
        assert_eq!(bus.since(6), Err(Gap), "ids from another run");
    }

    #[test]
    fn a_client_too_far_behind_is_told_to_resync() {
        let bus = EventBus::new();
        for _ in 0..BUFFER + 10 {
            bus.emit(EventKind::Resync);
        }
        assert_eq!(bus.since(5), Err(Gap));
        assert_eq!(bus.since(10).unwrap().len(), BUFFER);
    }

    #[tokio::test]
    async fn subscribe_neither_misses_nor_repeats() {
        let bus = EventBus::new();
        bus.emit(EventKind::Resync);
        let (past, mut rx) = bus.subscribe(0);
        bus.emit(EventKind::Resync);
        assert_eq!(
            past.unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(rx.recv().await.unwrap().id, 2);
    }
}
