//! Hearth's protocol ids and message types. Ids carry a major version; a peer speaking
//! another major is refused at negotiation (multistream-select answers "na").

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::api::types::Profile;

/// Ask a peer for its profile.
pub const PROFILE_PROTOCOL: StreamProtocol = StreamProtocol::new("/hearth/profile/1");
/// Disconnect vote: "do you reach peer X?"
pub const VOTE_PROTOCOL: StreamProtocol = StreamProtocol::new("/hearth/presence/1");
/// Hearth's own Kademlia DHT, separate from the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/hearth/kad/1");
/// Identify's protocol version string.
pub const IDENTIFY_VERSION: &str = "/hearth/1";
/// Gossipsub topic of presence announcements.
pub const PRESENCE_TOPIC: &str = "/hearth/presence/1";

/// Limits per message. A profile is a few hundred bytes at most; a vote a peer id.
pub const MAX_PROFILE_REQUEST: usize = 64;
pub const MAX_PROFILE_RESPONSE: usize = 4 * 1024;
pub const MAX_VOTE_REQUEST: usize = 256;
pub const MAX_VOTE_RESPONSE: usize = 64;
/// Largest gossipsub message accepted on any topic.
pub const MAX_GOSSIP_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {}

pub type ProfileResponse = Profile;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// The peer id (base58) asked about.
    pub about: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteResponse {
    pub reachable: bool,
}
