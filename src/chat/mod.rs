//! Chat: direct messages and rooms that survive their host (see ARCHITECTURE.md, "Chat").
//!
//! The logic is pure and deterministic: [`room::Room`] and [`dm::DirectMessages`] are state
//! machines (`handle(event, now) -> actions`) with no I/O, clock or randomness of their own,
//! tested by a seeded network simulator (`sim`) with delays, drops, duplicates, reordering,
//! crashes and partitions. An actor drives them: it persists what they ask (sealed tables,
//! [`crate::infra::vault`]) before it sends anything of the same batch.

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
