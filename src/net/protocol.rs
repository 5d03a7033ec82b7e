//! Hearth's protocol ids and message types. Ids carry a major version; a peer speaking
//! another major is refused at negotiation (multistream-select answers "na").

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::api::dto::Profile;

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

pub type ProfileResponse = WireProfile;

/// A profile as peers send it: the profile protocol's answer and every announcement. Its own
/// type, so the UI's `Profile` can change without changing what goes on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProfile {
    pub display_name: String,
    pub affiliation: String,
    pub bio: String,
    /// blake3 (hex) of the profile picture, fetched with [`CatalogRequest::Avatar`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl From<Profile> for WireProfile {
    fn from(p: Profile) -> Self {
        Self {
            display_name: p.display_name,
            affiliation: p.affiliation,
            bio: p.bio,
            avatar: p.avatar,
        }
    }
}

impl From<WireProfile> for Profile {
    fn from(p: WireProfile) -> Self {
        Self {
            display_name: p.display_name,
            affiliation: p.affiliation,
            bio: p.bio,
            avatar: p.avatar,
        }
    }
}

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

/// A signed feed entry as it travels and is stored: the payload exactly as signed (JSON of
/// `catalog::feed::Entry`), and the signature. The catalog signs and verifies it; the network
/// only carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEntry {
    pub payload: String,
    /// ed25519 signature over the payload bytes, base64.
    pub sig: String,
}

/// 40 lowercase hex digits: a BitTorrent info-hash, as content ids are written.
fn is_content_id(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Catalog replication and holder exchange (request-response).
pub const CATALOG_PROTOCOL: StreamProtocol = StreamProtocol::new("/hearth/catalog/1");
/// Gossipsub topic of new feed entries (one signed entry per message).
pub const FEED_TOPIC: &str = "/hearth/feed/1";
/// Gossipsub topic of "I now hold / no longer hold these resources".
pub const HAVE_TOPIC: &str = "/hearth/have/1";

pub const MAX_CATALOG_REQUEST: usize = 4 * 1024;
pub const MAX_CATALOG_RESPONSE: usize = 4 * 1024 * 1024;
/// Entries per `Entries` answer: 64 of the largest entries stay under the response limit.
pub const MAX_ENTRIES_PER_RESPONSE: usize = 64;
/// Feeds listed in one `Heads` answer.
pub const MAX_HEADS: usize = 20_000;
/// Content ids in one `Holdings` answer, and in one `Have` message.
pub const MAX_HOLDINGS: usize = 20_000;
pub const MAX_HAVE_IDS: usize = 256;

/// A question about the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CatalogRequest {
    /// "Which feeds do you have, up to which sequence number?"
    Heads,
    /// "Entries of feed `author` after `after`", at most `limit` (capped by the answerer).
    Entries {
        author: String,
        after: u64,
        limit: u32,
    },
    /// "What do you hold, and where does your BitTorrent engine listen?"
    Holdings,
    /// "The .torrent metadata of this content id."
    Torrent { content_id: String },
    /// "The profile picture whose blake3 (hex) is `hash`."
    Avatar { hash: String },
}

/// The tip of one feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedHead {
    pub author: String,
    pub seq: u64,
}

/// An answer about the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CatalogResponse {
    Heads {
        heads: Vec<FeedHead>,
    },
    Entries {
        entries: Vec<SignedEntry>,
    },
    Holdings(Holdings),
    /// The .torrent file, base64.
    Torrent {
        torrent: String,
    },
    /// The profile picture's bytes, base64.
    Avatar {
        avatar: String,
    },
    NotFound,
    /// The answerer is overloaded; ask again later or elsewhere.
    Busy,
}

/// What a node holds: complete copies (it makes a resource available) and partial ones
/// (still downloading; useful as BitTorrent peers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holdings {
    pub bt_port: u16,
    pub complete: Vec<String>,
    pub partial: Vec<String>,
    /// Of the above, the copies held as a mirror of their publisher.
    #[serde(default)]
    pub mirrored: Vec<String>,
}

/// A change of holdings, gossiped on [`HAVE_TOPIC`]. The gossip signature names the holder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaveMessage {
    pub bt_port: u16,
    pub complete: Vec<String>,
    pub partial: Vec<String>,
    /// No longer held at all.
    pub dropped: Vec<String>,
    /// Of `complete` and `partial`, the copies held as a mirror of their publisher.
    #[serde(default)]
    pub mirrored: Vec<String>,
}

impl HaveMessage {
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let m: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if m.complete.len() + m.partial.len() + m.dropped.len() + m.mirrored.len() > MAX_HAVE_IDS {
            return Err("too many content ids".into());
        }
        if m.complete
            .iter()
            .chain(&m.partial)
            .chain(&m.dropped)
            .chain(&m.mirrored)
            .any(|id| !is_content_id(id))
        {
            return Err("not a content id".into());
        }
        Ok(m)
    }
}

/// Chat between peers: room protocol messages and direct messages, one per request; the
/// answer only says "received" (the chat protocols acknowledge on their own).
pub const CHAT_PROTOCOL: StreamProtocol = StreamProtocol::new("/hearth/chat/1");
/// A room `Append` carries at most `MAX_APPEND_BYTES` of content past its first entry
/// (16 KiB at most), which stays under this even with every byte JSON-escaped.
pub const MAX_CHAT_REQUEST: usize = 4 * 1024 * 1024;
pub const MAX_CHAT_RESPONSE: usize = 64;

/// What the chat protocol carries: a chat message's bytes, checked by their owner
/// (`chat::ChatWire::is_well_formed`) before they are acknowledged.
pub type ChatBytes = super::codec::CheckedBytes;

/// "Received."
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatAck {}
