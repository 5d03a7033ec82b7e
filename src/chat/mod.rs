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
// Decoded one at a time and handed on at once: the size of a room message (it may carry a
// vote certificate inline) does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// Peer ids of ed25519 keys embed the public key (identity multihash): nothing to look
    /// up. Any other kind of key verifies nothing.
    fn verify(&self, msg: &[u8], sig: &room::Sig) -> bool {
        let hash = self.as_ref();
        hash.code() == 0
            && libp2p::identity::PublicKey::try_decode_protobuf(hash.digest())
                .ok()
                .and_then(|k| k.try_into_ed25519().ok())
                .is_some_and(|k| k.verify(msg, &sig.0))
    }
}

/// The node's identity signs its room items and votes.
impl room::Signer for libp2p::identity::Keypair {
    fn sign(&self, msg: &[u8]) -> room::Sig {
        let mut sig = room::Sig::NONE;
        match libp2p::identity::Keypair::sign(self, msg) {
            Ok(bytes) if bytes.len() == room::SIG_LEN => sig.0.copy_from_slice(&bytes),
            // Not an ed25519 identity: the signature verifies for no one.
            _ => tracing::error!("the node identity cannot sign room items"),
        }
        sig
    }
}
