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
//! Used by `api` (and `net::protocol` carries the wire types).

pub mod actor;
pub mod dm;
pub mod room;
#[cfg(test)]
mod sim;

impl room::PeerKey for libp2p::PeerId {
    fn key_bytes(&self) -> Vec<u8> {
        self.to_bytes()
    }
}
