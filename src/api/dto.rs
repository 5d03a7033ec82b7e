//! Data shapes that cross the API boundary (HTTP, WebSocket, Tauri IPC, CLI).
//!
//! These are the only types the UI sees; `ui/src/api/types.ts` is generated from them
//! (`make types`) and a test fails when the two drift apart.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a person tells others about themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Profile {
    pub display_name: String,
    pub affiliation: String,
    pub bio: String,
    /// The profile picture: blake3 of its bytes, hex (64 digits); the picture is served at
    /// `/avatars/<hash>`. Set with `set_avatar`; `set_profile` leaves it as it is.
    #[serde(default)]
    #[ts(optional)]
    pub avatar: Option<String>,
}

/// A new profile picture: the bytes of an image file (JPEG, PNG, GIF or WebP, at most
/// 10 MB), base64. `null` or empty removes the picture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AvatarRequest {
    #[serde(default)]
    pub image: Option<String>,
}

/// The state of this node.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct Status {
    pub peer_id: String,
    pub version: String,
    pub profile: Profile,
    /// Multiaddresses the node listens on, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    pub peers_online: u32,
    pub peers_connected: u32,
    #[ts(type = "number")]
    pub uptime_secs: u64,
    /// `public`, `private` or `unknown`, as AutoNAT last judged it.
    pub nat: String,
    /// Relays (peer ids) holding a slot for this node, so peers behind other routers can
    /// reach it through them. Empty when the node is publicly reachable.
    pub relay_reservations: Vec<String>,
    /// What this node's relay service does for others.
    pub relay_service: RelayService,
    /// The TCP port of this node's BitTorrent engine.
    pub bt_port: u16,
    /// BitTorrent peer connections open now over libp2p streams (`/hearth/bt/1`).
    #[serde(default)]
    pub bt_streams: u32,
    /// BitTorrent peer connections made over libp2p streams since the node started.
    #[serde(default)]
    #[ts(type = "number")]
    pub bt_streams_total: u64,
    /// This node makes video thumbnails and durations itself (ffmpeg is installed). When
    /// false, the UI takes a frame in the player after publishing a video.
    pub video_previews: bool,
    /// What this node refused from peers to keep its memory and CPU bounded.
    #[serde(default)]
    pub refused: NetRefusals,
}

/// Counts, since start, of what the network refused from peers over its limits (see
/// ARCHITECTURE.md, "Limits against hostile peers").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NetRefusals {
    /// Connections refused: too many per peer, incoming or pending, or memory is short.
    #[ts(type = "number")]
    pub connections: u64,
    /// Gossip messages dropped because their sender sent more than its rate allows.
    #[ts(type = "number")]
    pub gossip_throttled: u64,
    /// Gossip messages dropped because the validation queue was full.
    #[ts(type = "number")]
    pub gossip_unvalidated: u64,
    /// Announcements of unknown peers ignored because the peer table had no room left.
    #[ts(type = "number")]
    pub presence_ignored: u64,
    /// Announcing strangers no longer dialled in their window: they never answered their
    /// first dials.
    #[ts(type = "number")]
    pub presence_dials_skipped: u64,
}

/// One peer as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PeerInfo {
    pub peer_id: String,
    /// `None` until the peer's profile has been received.
    pub profile: Option<Profile>,
    pub addrs: Vec<String>,
    /// Round-trip time measured by this node's own pings.
    pub rtt_ms: Option<f64>,
    /// Online: directly connected, or heard from recently and not voted offline.
    pub online: bool,
    /// A direct connection is open right now.
    pub connected: bool,
    /// Unix time in milliseconds when the peer was last heard from.
    #[ts(type = "number | null")]
    pub last_seen_ms: Option<u64>,
    pub blocked: bool,
    /// How the open connection reaches the peer: `lan`, `direct`, `hole_punched` or
    /// `relayed`; `null` when not connected.
    #[serde(default)]
    pub connection: Option<String>,
    /// The relay's peer id when `connection` is `relayed`.
    #[serde(default)]
    pub relay: Option<String>,
    /// Why the last connection attempt to the peer failed.
    #[serde(default)]
    pub last_dial_error: Option<String>,
    /// Why the last hole-punching attempt failed (the connection stays relayed).
    #[serde(default)]
    pub hole_punch_error: Option<String>,
}

/// The circuit relay v2 service a node offers to peers behind NAT. It only serves once
/// AutoNAT has confirmed the node is publicly reachable (`active`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RelayService {
    /// `relay_service` in `hearth.toml` (on by default).
    pub enabled: bool,
    /// Enabled, and others can reach this node: it accepts reservations.
    pub active: bool,
    /// Slots held for other peers now.
    pub reservations: u32,
    /// Relayed connections open through this node now.
    pub circuits: u32,
    /// Reservations refused (over the limits) since start.
    #[ts(type = "number")]
    pub refused_reservations: u64,
    /// Circuits refused (over the limits) since start.
    #[ts(type = "number")]
    pub refused_circuits: u64,
}

/// Why a peer can or cannot be reached, in plain words (`doctor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Diagnosis {
    pub peer_id: String,
    /// A connection to the peer is open.
    pub reachable: bool,
    /// `lan`, `direct`, `hole_punched`, `relayed`, or `null`.
    pub connection: Option<String>,
    pub relay: Option<String>,
    /// This node's NAT status (`public`, `private`, `unknown`).
    pub nat: String,
    pub relay_reservations: Vec<String>,
    /// The peer's known addresses.
    pub addrs: Vec<String>,
    pub last_dial_error: Option<String>,
    /// One line: `connected directly`, `relayed only`, `not connected`...
    pub summary: String,
    /// What was found, one sentence each.
    pub findings: Vec<String>,
    /// What would fix it, one sentence each.
    pub fixes: Vec<String>,
}

/// User-editable network settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Settings {
    pub bootstrap: Vec<String>,
    pub mdns: bool,
    pub listen: Vec<String>,
    pub data_dir: String,
    /// Where downloads are saved.
    pub download_dir: String,
    /// Disk space mirrors of followed peers may use, in bytes.
    #[ts(type = "number")]
    pub mirror_quota_bytes: u64,
    /// Disk space mirrored copies use now, in bytes.
    #[ts(type = "number")]
    pub mirror_used_bytes: u64,
    /// BitTorrent speed limits, bytes per second (`null`: unlimited).
    pub bt_download_limit_bps: Option<u32>,
    pub bt_upload_limit_bps: Option<u32>,
    /// Serve as a relay for peers behind NAT (when others can reach this node).
    pub relay_service: bool,
    pub notifications: NotificationSettings,
    /// Closing the desktop window keeps Hearth running in the tray.
    pub close_to_tray: bool,
    /// Settings saved that take effect at the next start (`mdns`, `listen`...).
    pub pending_restart: Vec<String>,
}

/// Which desktop notifications to show. Chat messages, finished downloads, new items from
/// followed peers and a full mirror quota are on by default; followed peers coming online
/// is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// A message in a room or conversation you are not looking at.
    pub chat: bool,
    /// A download finished.
    pub downloads: bool,
    /// Someone you follow published something.
    pub followed_items: bool,
    /// The mirror quota has no room for what followed peers publish.
    pub mirror_full: bool,
    /// Someone you follow came online.
    pub followed_online: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            chat: true,
            downloads: true,
            followed_items: true,
            mirror_full: true,
            followed_online: false,
        }
    }
}

/// Request body of `update_settings`: the settings to change (absent ones stay).
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsUpdate {
    /// Discover peers on the local network (at the next start).
    #[ts(optional)]
    pub mdns: Option<bool>,
    /// Addresses to listen on for peers (at the next start).
    #[ts(optional)]
    pub listen: Option<Vec<String>>,
    /// Absolute path of the folder downloads go to (at the next start).
    #[ts(optional)]
    pub download_dir: Option<String>,
    /// Bytes per second, 0 for unlimited; applied at once.
    #[ts(optional)]
    pub bt_download_limit_bps: Option<u32>,
    #[ts(optional)]
    pub bt_upload_limit_bps: Option<u32>,
    /// At the next start.
    #[ts(optional)]
    pub relay_service: Option<bool>,
    #[ts(optional)]
    pub notifications: Option<NotificationSettings>,
    #[ts(optional)]
    pub close_to_tray: Option<bool>,
}

/// What kind of thing a resource is. Guessed from the MIME type at publish time; editable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Paper,
    Dataset,
    Video,
    Audio,
    Image,
    Other,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 6] = [
        Self::Paper,
        Self::Dataset,
        Self::Video,
        Self::Audio,
        Self::Image,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Dataset => "dataset",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Image => "image",
            Self::Other => "other",
        }
    }
}

/// One file of a resource, with its path inside the resource ('/'-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    #[ts(type = "number")]
    pub size: u64,
}

/// What this node has of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LocalState {
    /// Nothing on this disk.
    None,
    /// Published from this node.
    Published,
    /// Being downloaded (or paused).
    Downloading,
    /// Downloaded completely; seeding.
    Complete,
}

/// A resource in the network's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Resource {
    /// BitTorrent info-hash, 40 hex digits.
    pub content_id: String,
    pub magnet: String,
    pub title: String,
    pub description: String,
    pub kind: ResourceKind,
    pub tags: Vec<String>,
    #[ts(type = "number")]
    pub size: u64,
    pub mime: String,
    pub files: Vec<FileEntry>,
    #[ts(type = "number")]
    pub created_ms: u64,
    /// Peer id of the publisher.
    pub author: String,
    /// The publisher's display name, when known.
    pub author_name: Option<String>,
    /// blake3 of the resource's small preview image, when it has one. The image is served
    /// by this hash (`Backend.thumbnailUrl`) and can be cached forever.
    pub thumbnail_hash: Option<String>,
    /// Play length of a video or audio resource, in milliseconds.
    #[ts(type = "number | null")]
    pub duration_ms: Option<u64>,
    /// Holders known to have a copy, and how many of them are online now.
    pub holders_known: u32,
    pub holders_online: u32,
    /// Some holder (possibly this node) is online.
    pub available: bool,
    pub local: LocalState,
}

/// Publish a file or folder already on this node's disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct PublishRequest {
    pub path: String,
    /// Defaults to the file name.
    pub title: Option<String>,
    pub description: Option<String>,
    /// Defaults to a guess from the MIME type.
    pub kind: Option<ResourceKind>,
    pub tags: Vec<String>,
}

/// Change how one of my resources is described.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct UpdateResourceRequest {
    pub content_id: String,
    pub title: String,
    pub description: String,
    pub kind: ResourceKind,
    pub tags: Vec<String>,
}

/// Names one resource.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ContentIdRequest {
    pub content_id: String,
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    Relevance,
    Newest,
}

/// A catalog search. Empty text lists everything (newest first unless told otherwise).
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct SearchRequest {
    pub text: String,
    /// Any of these kinds; empty = all.
    pub kinds: Vec<ResourceKind>,
    /// Only this publisher (peer id).
    pub author: Option<String>,
    /// Only resources some online holder has.
    pub available_only: bool,
    pub sort: SortOrder,
    pub offset: u32,
    /// At most 200; 0 means 50.
    pub limit: u32,
}

/// One page of search results.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SearchResult {
    pub total: u32,
    /// `total` stopped counting early: there are at least this many.
    pub total_is_lower_bound: bool,
    pub items: Vec<Resource>,
    pub took_ms: f64,
}

/// A peer that holds a copy of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Holder {
    pub peer_id: String,
    pub name: Option<String>,
    pub online: bool,
    /// This node.
    pub is_self: bool,
    /// Where its BitTorrent engine listens, when known.
    pub bt_addr: Option<String>,
    /// It holds the copy as a mirror of the publisher (not because someone there chose it).
    pub mirror: bool,
}

/// The state of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DownloadState {
    /// Looking for holders and the torrent's metadata.
    Starting,
    Downloading,
    Paused,
    /// Complete and seeding.
    Complete,
    Failed,
}

/// How the holders of a running download are reached over libp2p, where BitTorrent rides
/// `/hearth/bt/1` streams (holders are also dialled over plain TCP where that works).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DownloadRoute {
    /// At least one holder has a direct (or hole-punched) connection with us.
    Direct,
    /// The holders are connected only through relays, which limit the bytes and time of
    /// each connection: the download may stall until a direct connection opens.
    RelayOnly,
}

/// A download (or a finished one, which now seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Download {
    pub content_id: String,
    pub title: String,
    pub state: DownloadState,
    #[ts(type = "number")]
    pub have_bytes: u64,
    #[ts(type = "number")]
    pub total_bytes: u64,
    /// 0.0 to 1.0.
    pub progress: f64,
    #[ts(type = "number")]
    pub down_bps: u64,
    #[ts(type = "number")]
    pub up_bps: u64,
    /// Bytes sent to other peers so far (every downloader seeds).
    #[ts(type = "number")]
    pub uploaded_bytes: u64,
    pub peers: u32,
    #[ts(type = "number | null")]
    pub eta_secs: Option<u64>,
    /// Where the data is (or will be) on disk.
    pub path: String,
    pub error: Option<String>,
    #[ts(type = "number")]
    pub started_ms: u64,
    /// Fetched automatically because its publisher is mirrored.
    pub mirror: bool,
    /// How the holders are reached over libp2p while it downloads; `None` when no holder is
    /// connected over libp2p (or it is complete).
    #[serde(default)]
    pub route: Option<DownloadRoute>,
    /// A plain-words remark on why it may not progress (e.g. "relay only: ..."), or `None`.
    #[serde(default)]
    pub note: Option<String>,
}

/// Start a download: a content id from the catalog, or a magnet URI with peers to ask.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct DownloadRequest {
    pub content_id: Option<String>,
    pub magnet: Option<String>,
    /// `ip:port` BitTorrent addresses to try besides the holders Hearth knows.
    pub peers: Vec<String>,
}

/// A folder whose files are published automatically.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct FolderRequest {
    pub path: String,
}

/// My shared folders and what I publish.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct Library {
    pub folders: Vec<String>,
    /// Where files uploaded from a browser are kept (published one by one, not watched).
    pub uploads_folder: String,
    pub published: Vec<Resource>,
}

/// Entries refused from the network, by reason, since the node started counting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct RejectCounts {
    #[ts(type = "number")]
    pub bad_signature: u64,
    #[ts(type = "number")]
    pub broken_chain: u64,
    #[ts(type = "number")]
    pub fork: u64,
    #[ts(type = "number")]
    pub oversize: u64,
    #[ts(type = "number")]
    pub malformed: u64,
    #[ts(type = "number")]
    pub invalid: u64,
    /// Valid entries refused because their author, or the catalog as a whole, is over its
    /// quota (entries or bytes).
    #[serde(default)]
    #[ts(type = "number")]
    pub quota: u64,
}

/// The size of the catalog this node holds.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct CatalogStats {
    #[ts(type = "number")]
    pub resources: u64,
    #[ts(type = "number")]
    pub feeds: u64,
    #[ts(type = "number")]
    pub entries: u64,
    /// My own entries not yet announced to anyone.
    #[ts(type = "number")]
    pub queued_announcements: u64,
    pub rejected: RejectCounts,
    /// Bytes the feed log takes on disk.
    #[serde(default)]
    #[ts(type = "number")]
    pub bytes: u64,
    /// The quotas entries are held to (authors other than this node).
    #[serde(default)]
    pub quota: CatalogQuota,
    /// Peers whose holdings are remembered, and holder claims dropped over the bounds (per
    /// peer, per resource, peers tracked).
    #[serde(default)]
    pub holders_tracked: u32,
    #[serde(default)]
    #[ts(type = "number")]
    pub holdings_dropped: u64,
}

/// How much of the catalog one author, and all of them together, may fill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CatalogQuota {
    #[ts(type = "number")]
    pub entries_per_author: u64,
    #[ts(type = "number")]
    pub bytes_per_author: u64,
    #[ts(type = "number")]
    pub entries: u64,
    #[ts(type = "number")]
    pub bytes: u64,
}

/// Request body of `connect` and `add_bootstrap`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct AddrRequest {
    pub addr: String,
}

/// An invite to this node (`create_invite`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InviteInfo {
    /// The text to copy: `hearth:invite/...`.
    pub text: String,
    pub peer_id: String,
    /// The addresses it carries, best first.
    pub addrs: Vec<String>,
    /// Who can use it: `internet`, `relayed`, `local_network` or `this_computer`.
    pub reach: String,
    /// The same, in one or two sentences for people.
    pub explanation: String,
}

/// Request body of `join`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct JoinRequest {
    /// An invite's text, as pasted.
    pub invite: String,
}

/// The peer an invite led to (`join`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Joined {
    pub peer_id: String,
    /// The name the invite carried (a hint: the peer's profile is what it says now).
    pub name: String,
    /// How the connection reaches it: `lan`, `direct`, `hole_punched`, `relayed`.
    pub connection: Option<String>,
    /// It was already connected before the invite was used.
    pub already_connected: bool,
}

/// Events after an id (0: every buffered event).
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
pub struct SinceRequest {
    #[serde(default)]
    #[ts(type = "number")]
    pub since: u64,
}

/// Whether chat is usable: messages are encrypted at rest under a passphrase, and chat
/// runs once the passphrase has unlocked them (or set, the first time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ChatStatus {
    pub unlocked: bool,
    /// A passphrase was set before (unlocking asks for it; otherwise it is being chosen).
    pub has_passphrase: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct PassphraseRequest {
    pub passphrase: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ChangePassphraseRequest {
    pub old: String,
    pub new: String,
}

/// What a chat entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A message; `body` is its text.
    Text,
    /// The room was created; `body` is its name.
    Created,
    /// `body` (a peer id) became a member.
    Invited,
    /// The room was renamed; `body` is the new name.
    Renamed,
    /// The sender left the room.
    Left,
    /// The creator deleted the room.
    Deleted,
    /// The sender became the room's host.
    HostChanged,
}

/// Where a message is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Mine, in my outbox, waiting for the room's host (or the peer) to take it.
    Sending,
    /// Mine, stored and ordered by the room's host, not yet at every online member.
    HeldByHost,
    /// Mine: every online member (or the peer) has it.
    Delivered,
    /// A direct message of mine while the peer is offline: sent when it is next online.
    Queued,
    /// A direct message of mine that ten tries did not deliver; tried again when the peer
    /// is next online.
    NotDeliveredYet,
    /// Someone else's message.
    Received,
}

/// One message of a room or a direct conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ChatMessage {
    /// Unique id (32 hex digits).
    pub id: String,
    /// The room (64 hex digits), or `null` in a direct conversation.
    pub room_id: Option<String>,
    /// The other person of a direct conversation, or `null` in a room.
    pub peer_id: Option<String>,
    pub sender: String,
    pub mine: bool,
    pub kind: MessageKind,
    pub body: String,
    /// Place in the conversation (rooms: the host's order); `null` while not yet ordered.
    #[ts(type = "number | null")]
    pub seq: Option<u64>,
    /// The sender's clock when written (unix ms).
    #[ts(type = "number")]
    pub sent_ms: u64,
    pub state: MessageState,
}

/// A page of a conversation, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    /// Older messages exist (ask again with `before` = the first message's `seq`).
    pub more: bool,
}

/// A room member as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RoomMember {
    pub peer_id: String,
    pub display_name: Option<String>,
    pub online: bool,
    pub host: bool,
    pub creator: bool,
}

/// A room as this member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RoomInfo {
    pub room_id: String,
    pub name: String,
    pub creator: String,
    pub members: Vec<RoomMember>,
    /// The current host, if one is known (none during an election).
    pub host: Option<String>,
    pub is_host: bool,
    #[ts(type = "number")]
    pub term: u64,
    /// Messages after the last one marked read.
    pub unread: u32,
    /// My messages not yet delivered.
    pub pending: u32,
    /// I left (or asked to leave and was muted because the host could not be reached).
    pub left: bool,
    pub muted: bool,
    /// The creator deleted the room; its history stays readable.
    pub deleted: bool,
    pub last_message: Option<ChatMessage>,
}

/// A direct conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DmConversation {
    pub peer_id: String,
    pub display_name: Option<String>,
    pub online: bool,
    pub unread: u32,
    /// My messages not yet delivered.
    pub pending: u32,
    pub last_message: Option<ChatMessage>,
}

/// Direct messages and room invitations from one stranger, waiting for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ChatRequest {
    pub peer_id: String,
    pub display_name: Option<String>,
    pub online: bool,
    /// When its first message arrived.
    #[ts(type = "number")]
    pub received_ms: u64,
    /// Its texts, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The rooms it invites me to.
    pub invites: Vec<RequestInvite>,
}

/// A room a stranger invites me to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RequestInvite {
    pub room_id: String,
    pub name: String,
    pub members: u32,
}

/// The waiting requests, newest first, and what the caps and refusals dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ChatRequests {
    pub requests: Vec<ChatRequest>,
    /// Messages refused since start because the requests were full.
    #[ts(type = "number")]
    pub refused: u64,
    /// Messages from declined peers dropped since start.
    #[ts(type = "number")]
    pub dropped: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct AnswerRequest {
    pub peer_id: String,
    /// Accept (the peer's messages become a conversation) or decline (they are dropped).
    pub accept: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct CreateRoomRequest {
    pub name: String,
    /// Peers to invite right away.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RoomIdRequest {
    pub room_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RenameRoomRequest {
    pub room_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct InviteRequest {
    pub room_id: String,
    pub peer_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SendMessageRequest {
    pub room_id: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct HistoryRequest {
    pub room_id: String,
    /// Only messages with `seq` below this (for older pages); `null` for the newest.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub before: Option<u64>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct PeerIdRequest {
    pub peer_id: String,
}

/// A peer I follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Follow {
    pub peer_id: String,
    pub name: Option<String>,
    pub online: bool,
    /// Its resources are mirrored here.
    pub mirror: bool,
    #[ts(type = "number")]
    pub since_ms: u64,
    /// Its resources held here as mirror copies, and their size.
    pub mirrored_items: u32,
    #[ts(type = "number")]
    pub mirrored_bytes: u64,
}

/// Turn mirroring of a followed peer on or off (turning it on follows the peer).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct MirrorRequest {
    pub peer_id: String,
    pub on: bool,
}

/// The disk space mirrors may use.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct QuotaRequest {
    #[ts(type = "number")]
    pub bytes: u64,
}

/// A preview of one of my resources, made by the UI when the node cannot make one.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct PreviewRequest {
    pub content_id: String,
    /// A JPEG, PNG or WebP image, base64; it is scaled down and recompressed if needed.
    pub thumbnail: String,
    #[ts(type = "number | null")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SendDmRequest {
    pub peer_id: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct DmHistoryRequest {
    pub peer_id: String,
    #[serde(default)]
    #[ts(type = "number | null")]
    pub before: Option<u64>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One event of the event stream. Ids increase by one; a client that reconnects asks for
/// the events after the last id it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Event {
    #[ts(type = "number")]
    pub id: u64,
    #[ts(type = "number")]
    pub time_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A peer came online (or was first seen).
    PeerOnline { peer: PeerInfo },
    /// A peer went offline.
    PeerOffline { peer_id: String },
    /// Something else about a peer changed (addresses, RTT, connection, block).
    PeerUpdated { peer: PeerInfo },
    /// A peer (or this node, when `peer_id` is ours) changed its profile.
    ProfileChanged { peer_id: String, profile: Profile },
    /// A resource was added to the catalog or its description changed.
    ResourceAdded { resource: Resource },
    /// A resource was retracted by its publisher.
    ResourceRemoved { content_id: String },
    /// Whether any holder of a resource is online changed.
    AvailabilityChanged {
        content_id: String,
        available: bool,
        holders_online: u32,
    },
    /// Many resources changed at once (a large catch-up): refetch what is shown.
    CatalogChanged,
    /// A download advanced, changed state, finished or failed.
    DownloadProgress { download: Download },
    /// A download was cancelled and removed.
    DownloadRemoved { content_id: String },
    /// I followed or unfollowed a peer, or switched its mirror.
    FollowsChanged { follows: Vec<Follow> },
    /// Settings changed (`update_settings`).
    SettingsChanged { settings: Settings },
    /// The mirror quota became too small for what the mirrored peers publish: `left_out`
    /// resources are not mirrored (sent once when it fills, again after it had room).
    MirrorQuotaFull {
        left_out: u32,
        #[ts(type = "number")]
        quota_bytes: u64,
    },
    /// A message appeared in a room or direct conversation (shown once, in order).
    ChatMessage { message: ChatMessage },
    /// One of my messages moved on its way.
    MessageState {
        message_id: String,
        room_id: Option<String>,
        peer_id: Option<String>,
        state: MessageState,
    },
    /// A room changed: joined, renamed, members, host, left, muted, deleted, read.
    RoomUpdated { room: RoomInfo },
    /// A direct conversation's summary changed (read marks, pending count).
    DmUpdated { conversation: DmConversation },
    /// Chat was unlocked (or locked).
    ChatStatusChanged { status: ChatStatus },
    /// A stranger's message arrived in Requests, or a request was answered: `pending`
    /// requests wait (fetch them with `list_requests`).
    RequestsChanged { pending: u32 },
    /// The events after the asked-for id are no longer buffered: refetch the state.
    Resync,
}

/// Error body of every failed API call.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ApiErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// The closed set of error codes the UI may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The HTTP status that carries this code (the headless server and the desktop
    /// shell's `hearth:` protocol answer with it).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// The TypeScript declarations of every type above, as written to `ui/src/api/types.ts`.
pub fn typescript_bindings() -> String {
    let decls = [
        Profile::decl(),
        AvatarRequest::decl(),
        Status::decl(),
        PeerInfo::decl(),
        RelayService::decl(),
        NetRefusals::decl(),
        Diagnosis::decl(),
        Settings::decl(),
        NotificationSettings::decl(),
        SettingsUpdate::decl(),
        AddrRequest::decl(),
        InviteInfo::decl(),
        JoinRequest::decl(),
        Joined::decl(),
        SinceRequest::decl(),
        ResourceKind::decl(),
        FileEntry::decl(),
        LocalState::decl(),
        Resource::decl(),
        PublishRequest::decl(),
        UpdateResourceRequest::decl(),
        ContentIdRequest::decl(),
        SortOrder::decl(),
        SearchRequest::decl(),
        SearchResult::decl(),
        Holder::decl(),
        DownloadState::decl(),
        DownloadRoute::decl(),
        Download::decl(),
        DownloadRequest::decl(),
        FolderRequest::decl(),
        Library::decl(),
        RejectCounts::decl(),
        CatalogStats::decl(),
        CatalogQuota::decl(),
        ChatStatus::decl(),
        PassphraseRequest::decl(),
        ChangePassphraseRequest::decl(),
        MessageKind::decl(),
        MessageState::decl(),
        ChatMessage::decl(),
        HistoryPage::decl(),
        RoomMember::decl(),
        RoomInfo::decl(),
        DmConversation::decl(),
        ChatRequest::decl(),
        RequestInvite::decl(),
        ChatRequests::decl(),
        AnswerRequest::decl(),
        CreateRoomRequest::decl(),
        RoomIdRequest::decl(),
        RenameRoomRequest::decl(),
        InviteRequest::decl(),
        SendMessageRequest::decl(),
        HistoryRequest::decl(),
        PeerIdRequest::decl(),
        Follow::decl(),
        MirrorRequest::decl(),
        QuotaRequest::decl(),
        PreviewRequest::decl(),
        SendDmRequest::decl(),
        DmHistoryRequest::decl(),
        Event::decl(),
        EventKind::decl(),
        ApiErrorBody::decl(),
        ErrorCode::decl(),
    ];
    let mut out = String::from(
        "// Generated from the Rust API types (src/api/dto.rs) by `make types`. Do not edit.\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    /// Fails when the UI's copy of the API types drifts from the Rust ones.
    /// `make types` (HEARTH_UPDATE_TYPES=1) rewrites the file.
    #[test]
    fn typescript_bindings_are_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/api/types.ts");
        let expected = super::typescript_bindings();
        if std::env::var_os("HEARTH_UPDATE_TYPES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "ui/src/api/types.ts is out of date with src/api/dto.rs: run `make types`"
        );
    }
}
