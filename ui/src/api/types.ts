// Generated from the Rust API types (src/api/dto.rs) by `make types`. Do not edit.

export type Profile = { display_name: string, affiliation: string, bio: string, 
/**
 * The profile picture: blake3 of its bytes, hex (64 digits); the picture is served at
 * `/avatars/<hash>`. Set with `set_avatar`; `set_profile` leaves it as it is.
 */
avatar?: string, };
export type AvatarRequest = { image: string | null, };
export type Status = { peer_id: string, version: string, profile: Profile, 
/**
 * Multiaddresses the node listens on, each ending in `/p2p/<peer id>`.
 */
listen_addrs: Array<string>, peers_online: number, peers_connected: number, uptime_secs: number, 
/**
 * `public`, `private` or `unknown`, as AutoNAT last judged it.
 */
nat: string, 
/**
 * Relays (peer ids) holding a slot for this node, so peers behind other routers can
 * reach it through them. Empty when the node is publicly reachable.
 */
relay_reservations: Array<string>, 
/**
 * What this node's relay service does for others.
 */
relay_service: RelayService, 
/**
 * The TCP port of this node's BitTorrent engine.
 */
bt_port: number, 
/**
 * BitTorrent peer connections open now over libp2p streams (`/hearth/bt/1`).
 */
bt_streams: number, 
/**
 * BitTorrent peer connections made over libp2p streams since the node started.
 */
bt_streams_total: number, 
/**
 * This node makes video thumbnails and durations itself (ffmpeg is installed). When
 * false, the UI takes a frame in the player after publishing a video.
 */
video_previews: boolean, 
/**
 * What this node refused from peers to keep its memory and CPU bounded.
 */
refused: NetRefusals, };
export type PeerInfo = { peer_id: string, 
/**
 * `None` until the peer's profile has been received.
 */
profile: Profile | null, addrs: Array<string>, 
/**
 * Round-trip time measured by this node's own pings.
 */
rtt_ms: number | null, 
/**
 * Online: directly connected, or heard from recently and not voted offline.
 */
online: boolean, 
/**
 * A direct connection is open right now.
 */
connected: boolean, 
/**
 * Unix time in milliseconds when the peer was last heard from.
 */
last_seen_ms: number | null, blocked: boolean, 
/**
 * How the open connection reaches the peer: `lan`, `direct`, `hole_punched` or
 * `relayed`; `null` when not connected.
 */
connection: string | null, 
/**
 * The relay's peer id when `connection` is `relayed`.
 */
relay: string | null, 
/**
 * Why the last connection attempt to the peer failed.
 */
last_dial_error: string | null, 
/**
 * Why the last hole-punching attempt failed (the connection stays relayed).
 */
hole_punch_error: string | null, };
export type RelayService = { 
/**
 * `relay_service` in `hearth.toml` (on by default).
 */
enabled: boolean, 
/**
 * Enabled, and others can reach this node: it accepts reservations.
 */
active: boolean, 
/**
 * Slots held for other peers now.
 */
reservations: number, 
/**
 * Relayed connections open through this node now.
 */
circuits: number, 
/**
 * Reservations refused (over the limits) since start.
 */
refused_reservations: number, 
/**
 * Circuits refused (over the limits) since start.
 */
refused_circuits: number, };
export type NetRefusals = { 
/**
 * Connections refused: too many per peer, incoming or pending, or memory is short.
 */
connections: number, 
/**
 * Gossip messages dropped because their sender sent more than its rate allows.
 */
gossip_throttled: number, 
/**
 * Gossip messages dropped because the validation queue was full.
 */
gossip_unvalidated: number, 
/**
 * Announcements of unknown peers ignored because the peer table had no room left.
 */
presence_ignored: number, 
/**
 * Announcing strangers no longer dialled in their window: they never answered their
 * first dials.
 */
presence_dials_skipped: number, };
export type Diagnosis = { peer_id: string, 
/**
 * A connection to the peer is open.
 */
reachable: boolean, 
/**
 * `lan`, `direct`, `hole_punched`, `relayed`, or `null`.
 */
connection: string | null, relay: string | null, 
/**
 * This node's NAT status (`public`, `private`, `unknown`).
 */
nat: string, relay_reservations: Array<string>, 
/**
 * The peer's known addresses.
 */
addrs: Array<string>, last_dial_error: string | null, 
/**
 * One line: `connected directly`, `relayed only`, `not connected`...
 */
summary: string, 
/**
 * What was found, one sentence each.
 */
findings: Array<string>, 
/**
 * What would fix it, one sentence each.
 */
fixes: Array<string>, };
export type Settings = { bootstrap: Array<string>, mdns: boolean, listen: Array<string>, data_dir: string, 
/**
 * Where downloads are saved.
 */
download_dir: string, 
/**
 * Disk space mirrors of followed peers may use, in bytes.
 */
mirror_quota_bytes: number, 
/**
 * Disk space mirrored copies use now, in bytes.
 */
mirror_used_bytes: number, 
/**
 * BitTorrent speed limits, bytes per second (`null`: unlimited).
 */
bt_download_limit_bps: number | null, bt_upload_limit_bps: number | null, 
/**
 * Serve as a relay for peers behind NAT (when others can reach this node).
 */
relay_service: boolean, notifications: NotificationSettings, 
/**
 * Closing the desktop window keeps Hearth running in the tray.
 */
close_to_tray: boolean, 
/**
 * Settings saved that take effect at the next start (`mdns`, `listen`...).
 */
pending_restart: Array<string>, };
export type NotificationSettings = { 
/**
 * A message in a room or conversation you are not looking at.
 */
chat: boolean, 
/**
 * A download finished.
 */
downloads: boolean, 
/**
 * Someone you follow published something.
 */
followed_items: boolean, 
/**
 * The mirror quota has no room for what followed peers publish.
 */
mirror_full: boolean, 
/**
 * Someone you follow came online.
 */
followed_online: boolean, };
export type SettingsUpdate = { 
/**
 * Discover peers on the local network (at the next start).
 */
mdns?: boolean, 
/**
 * Addresses to listen on for peers (at the next start).
 */
listen?: Array<string>, 
/**
 * Absolute path of the folder downloads go to (at the next start).
 */
download_dir?: string, 
/**
 * Bytes per second, 0 for unlimited; applied at once.
 */
bt_download_limit_bps?: number, bt_upload_limit_bps?: number, 
/**
 * At the next start.
 */
relay_service?: boolean, notifications?: NotificationSettings, close_to_tray?: boolean, };
export type AddrRequest = { addr: string, };
export type InviteInfo = { 
/**
 * The text to copy: `hearth:invite/...`.
 */
text: string, peer_id: string, 
/**
 * The addresses it carries, best first.
 */
addrs: Array<string>, 
/**
 * Who can use it: `internet`, `relayed`, `local_network` or `this_computer`.
 */
reach: string, 
/**
 * The same, in one or two sentences for people.
 */
explanation: string, };
export type JoinRequest = { 
/**
 * An invite's text, as pasted.
 */
invite: string, };
export type Joined = { peer_id: string, 
/**
 * The name the invite carried (a hint: the peer's profile is what it says now).
 */
name: string, 
/**
 * How the connection reaches it: `lan`, `direct`, `hole_punched`, `relayed`.
 */
connection: string | null, 
/**
 * It was already connected before the invite was used.
 */
already_connected: boolean, };
export type SinceRequest = { since: number, };
export type ResourceKind = "paper" | "dataset" | "video" | "audio" | "image" | "other";
export type FileEntry = { path: string, size: number, };
export type LocalState = "none" | "published" | "downloading" | "complete";
export type Resource = { 
/**
 * BitTorrent info-hash, 40 hex digits.
 */
content_id: string, magnet: string, title: string, description: string, kind: ResourceKind, tags: Array<string>, size: number, mime: string, files: Array<FileEntry>, created_ms: number, 
/**
 * Peer id of the publisher.
 */
author: string, 
/**
 * The publisher's display name, when known.
 */
author_name: string | null, 
/**
 * blake3 of the resource's small preview image, when it has one. The image is served
 * by this hash (`Backend.thumbnailUrl`) and can be cached forever.
 */
thumbnail_hash: string | null, 
/**
 * Play length of a video or audio resource, in milliseconds.
 */
duration_ms: number | null, 
/**
 * Holders known to have a copy, and how many of them are online now.
 */
holders_known: number, holders_online: number, 
/**
 * Some holder (possibly this node) is online.
 */
available: boolean, local: LocalState, };
export type PublishRequest = { path: string, 
/**
 * Defaults to the file name.
 */
title: string | null, description: string | null, 
/**
 * Defaults to a guess from the MIME type.
 */
kind: ResourceKind | null, tags: Array<string>, };
export type UpdateResourceRequest = { content_id: string, title: string, description: string, kind: ResourceKind, tags: Array<string>, };
export type ContentIdRequest = { content_id: string, };
export type SortOrder = "relevance" | "newest";
export type SearchRequest = { text: string, 
/**
 * Any of these kinds; empty = all.
 */
kinds: Array<ResourceKind>, 
/**
 * Only this publisher (peer id).
 */
author: string | null, 
/**
 * Only resources some online holder has.
 */
available_only: boolean, sort: SortOrder, offset: number, 
/**
 * At most 200; 0 means 50.
 */
limit: number, };
export type SearchResult = { total: number, 
/**
 * `total` stopped counting early: there are at least this many.
 */
total_is_lower_bound: boolean, items: Array<Resource>, took_ms: number, };
export type Holder = { peer_id: string, name: string | null, online: boolean, 
/**
 * This node.
 */
is_self: boolean, 
/**
 * Where its BitTorrent engine listens, when known.
 */
bt_addr: string | null, 
/**
 * It holds the copy as a mirror of the publisher (not because someone there chose it).
 */
mirror: boolean, };
export type DownloadState = "starting" | "downloading" | "paused" | "complete" | "failed";
export type DownloadRoute = "direct" | "relay_only";
export type Download = { content_id: string, title: string, state: DownloadState, have_bytes: number, total_bytes: number, 
/**
 * 0.0 to 1.0.
 */
progress: number, down_bps: number, up_bps: number, 
/**
 * Bytes sent to other peers so far (every downloader seeds).
 */
uploaded_bytes: number, peers: number, eta_secs: number | null, 
/**
 * Where the data is (or will be) on disk.
 */
path: string, error: string | null, started_ms: number, 
/**
 * Fetched automatically because its publisher is mirrored.
 */
mirror: boolean, 
/**
 * How the holders are reached over libp2p while it downloads; `None` when no holder is
 * connected over libp2p (or it is complete).
 */
route: DownloadRoute | null, 
/**
 * A plain-words remark on why it may not progress (e.g. "relay only: ..."), or `None`.
 */
note: string | null, };
export type DownloadRequest = { content_id: string | null, magnet: string | null, 
/**
 * `ip:port` BitTorrent addresses to try besides the holders Hearth knows.
 */
peers: Array<string>, };
export type FolderRequest = { path: string, };
export type Library = { folders: Array<string>, 
/**
 * Where files uploaded from a browser are kept (published one by one, not watched).
 */
uploads_folder: string, published: Array<Resource>, };
export type RejectCounts = { bad_signature: number, broken_chain: number, fork: number, oversize: number, malformed: number, invalid: number, 
/**
 * Valid entries refused because their author, or the catalog as a whole, is over its
 * quota (entries or bytes).
 */
quota: number, };
export type CatalogStats = { resources: number, feeds: number, entries: number, 
/**
 * My own entries not yet announced to anyone.
 */
queued_announcements: number, rejected: RejectCounts, 
/**
 * Bytes the feed log takes on disk.
 */
bytes: number, 
/**
 * The quotas entries are held to (authors other than this node).
 */
quota: CatalogQuota, 
/**
 * Peers whose holdings are remembered, and holder claims dropped over the bounds (per
 * peer, per resource, peers tracked).
 */
holders_tracked: number, holdings_dropped: number, };
export type CatalogQuota = { entries_per_author: number, bytes_per_author: number, entries: number, bytes: number, };
export type ChatStatus = { unlocked: boolean, 
/**
 * A passphrase was set before (unlocking asks for it; otherwise it is being chosen).
 */
has_passphrase: boolean, };
export type PassphraseRequest = { passphrase: string, };
export type ChangePassphraseRequest = { old: string, new: string, };
export type MessageKind = "text" | "created" | "invited" | "renamed" | "left" | "deleted" | "host_changed";
export type MessageState = "sending" | "held_by_host" | "delivered" | "queued" | "not_delivered_yet" | "received";
export type ChatMessage = { 
/**
 * Unique id (32 hex digits).
 */
id: string, 
/**
 * The room (64 hex digits), or `null` in a direct conversation.
 */
room_id: string | null, 
/**
 * The other person of a direct conversation, or `null` in a room.
 */
peer_id: string | null, sender: string, mine: boolean, kind: MessageKind, body: string, 
/**
 * Place in the conversation (rooms: the host's order); `null` while not yet ordered.
 */
seq: number | null, 
/**
 * The sender's clock when written (unix ms).
 */
sent_ms: number, state: MessageState, };
export type HistoryPage = { messages: Array<ChatMessage>, 
/**
 * Older messages exist (ask again with `before` = the first message's `seq`).
 */
more: boolean, };
export type RoomMember = { peer_id: string, display_name: string | null, online: boolean, host: boolean, creator: boolean, };
export type RoomInfo = { room_id: string, name: string, creator: string, members: Array<RoomMember>, 
/**
 * The current host, if one is known (none during an election).
 */
host: string | null, is_host: boolean, term: number, 
/**
 * Messages after the last one marked read.
 */
unread: number, 
/**
 * My messages not yet delivered.
 */
pending: number, 
/**
 * I left (or asked to leave and was muted because the host could not be reached).
 */
left: boolean, muted: boolean, 
/**
 * The creator deleted the room; its history stays readable.
 */
deleted: boolean, last_message: ChatMessage | null, };
export type DmConversation = { peer_id: string, display_name: string | null, online: boolean, unread: number, 
/**
 * My messages not yet delivered.
 */
pending: number, last_message: ChatMessage | null, };
export type ChatRequest = { peer_id: string, display_name: string | null, online: boolean, 
/**
 * When its first message arrived.
 */
received_ms: number, 
/**
 * Its texts, oldest first.
 */
messages: Array<ChatMessage>, 
/**
 * The rooms it invites me to.
 */
invites: Array<RequestInvite>, };
export type RequestInvite = { room_id: string, name: string, members: number, };
export type ChatRequests = { requests: Array<ChatRequest>, 
/**
 * Messages refused since start because the requests were full.
 */
refused: number, 
/**
 * Messages from declined peers dropped since start.
 */
dropped: number, };
export type AnswerRequest = { peer_id: string, 
/**
 * Accept (the peer's messages become a conversation) or decline (they are dropped).
 */
accept: boolean, };
export type CreateRoomRequest = { name: string, 
/**
 * Peers to invite right away.
 */
members: Array<string>, };
export type RoomIdRequest = { room_id: string, };
export type RenameRoomRequest = { room_id: string, name: string, };
export type InviteRequest = { room_id: string, peer_id: string, };
export type SendMessageRequest = { room_id: string, body: string, };
export type HistoryRequest = { room_id: string, 
/**
 * Only messages with `seq` below this (for older pages); `null` for the newest.
 */
before: number | null, 
/**
 * At most this many (default 100, at most 1000).
 */
limit: number | null, };
export type PeerIdRequest = { peer_id: string, };
export type Follow = { peer_id: string, name: string | null, online: boolean, 
/**
 * Its resources are mirrored here.
 */
mirror: boolean, since_ms: number, 
/**
 * Its resources held here as mirror copies, and their size.
 */
mirrored_items: number, mirrored_bytes: number, };
export type MirrorRequest = { peer_id: string, on: boolean, };
export type QuotaRequest = { bytes: number, };
export type PreviewRequest = { content_id: string, 
/**
 * A JPEG, PNG or WebP image, base64; it is scaled down and recompressed if needed.
 */
thumbnail: string, duration_ms: number | null, };
export type SendDmRequest = { peer_id: string, body: string, };
export type DmHistoryRequest = { peer_id: string, before: number | null, limit: number | null, };
export type Event = { id: number, time_ms: number, } & ({ "type": "peer_online", peer: PeerInfo, } | { "type": "peer_offline", peer_id: string, } | { "type": "peer_updated", peer: PeerInfo, } | { "type": "profile_changed", peer_id: string, profile: Profile, } | { "type": "resource_added", resource: Resource, } | { "type": "resource_removed", content_id: string, } | { "type": "availability_changed", content_id: string, available: boolean, holders_online: number, } | { "type": "catalog_changed" } | { "type": "download_progress", download: Download, } | { "type": "download_removed", content_id: string, } | { "type": "follows_changed", follows: Array<Follow>, } | { "type": "settings_changed", settings: Settings, } | { "type": "mirror_quota_full", left_out: number, quota_bytes: number, } | { "type": "chat_message", message: ChatMessage, } | { "type": "message_state", message_id: string, room_id: string | null, peer_id: string | null, state: MessageState, } | { "type": "room_updated", room: RoomInfo, } | { "type": "dm_updated", conversation: DmConversation, } | { "type": "chat_status_changed", status: ChatStatus, } | { "type": "requests_changed", pending: number, } | { "type": "resync" });
export type EventKind = { "type": "peer_online", peer: PeerInfo, } | { "type": "peer_offline", peer_id: string, } | { "type": "peer_updated", peer: PeerInfo, } | { "type": "profile_changed", peer_id: string, profile: Profile, } | { "type": "resource_added", resource: Resource, } | { "type": "resource_removed", content_id: string, } | { "type": "availability_changed", content_id: string, available: boolean, holders_online: number, } | { "type": "catalog_changed" } | { "type": "download_progress", download: Download, } | { "type": "download_removed", content_id: string, } | { "type": "follows_changed", follows: Array<Follow>, } | { "type": "settings_changed", settings: Settings, } | { "type": "mirror_quota_full", left_out: number, quota_bytes: number, } | { "type": "chat_message", message: ChatMessage, } | { "type": "message_state", message_id: string, room_id: string | null, peer_id: string | null, state: MessageState, } | { "type": "room_updated", room: RoomInfo, } | { "type": "dm_updated", conversation: DmConversation, } | { "type": "chat_status_changed", status: ChatStatus, } | { "type": "requests_changed", pending: number, } | { "type": "resync" };
export type ApiErrorBody = { code: ErrorCode, message: string, };
export type ErrorCode = "bad_request" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "unavailable" | "internal";
