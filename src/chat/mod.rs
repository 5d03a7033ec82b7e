//! Chat: direct messages and rooms that survive their host (see ARCHITECTURE.md, "Chat").
//!
//! The logic is pure and deterministic: [`room::Room`] and [`dm::DirectMessages`] are state
//! machines (`handle(event, now) -> actions`) with no I/O, clock or randomness of their own,
//! tested by a seeded network simulator (`sim`) with delays, drops, duplicates, reordering,
//! crashes and partitions. An actor drives them: it persists what they ask (sealed tables,
//! [`crate::infra::vault`]) before it sends anything of the same batch.
//!
//! Files: [`room`] (group rooms: the state machine, split by role), [`dm`] (direct
//! messages), [`actor`] (the task that drives them), `sim` (the simulator, tests only).
//!
//! **Uses:** the state machines use nothing of Hearth; the actor uses `net` (handle and
//! protocol types), `infra` (store, sealed tables, vault, events) and the DTOs of `api::dto`.
//! Used by `api`. The network carries [`ChatWire`] as bytes it does not read: it only asks
//! [`ChatWire::is_well_formed`] before acknowledging one.

pub mod actor;
pub mod dm;
pub mod room;
#[cfg(test)]
mod sim;

/// One chat message on the wire (`/hearth/chat/1`, one per request, answered `{}` on
/// receipt; the chat protocols acknowledge on their own). The sender is the connection's
/// authenticated peer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatWire {
    Room(room::Wire<libp2p::PeerId>),
    Dm(dm::DmWire),
}

impl ChatWire {
    /// Whether `bytes` decode as a chat message: the network's check before it acknowledges
    /// one (anything else fails the stream, like malformed JSON).
    pub fn is_well_formed(bytes: &[u8]) -> bool {
        serde_json::from_slice::<ChatWire>(bytes).is_ok()
    }
}

impl room::PeerKey for libp2p::PeerId {
    fn key_bytes(&self) -> Vec<u8> {
        self.to_bytes()
    }
}
