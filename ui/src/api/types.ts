// Generated from the Rust API types (src/api/types.rs) by `make types`. Do not edit.

export type Profile = { display_name: string, affiliation: string, bio: string, };
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
 * The TCP port of this node's BitTorrent engine.
 */
bt_port: number, };
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
last_seen_ms: number | null, blocked: boolean, };
export type Settings = { bootstrap: Array<string>, mdns: boolean, listen: Array<string>, data_dir: string, 
/**
 * Where downloads are saved.
 */
download_dir: string, };
export type AddrRequest = { addr: string, };
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
 * A `data:` URL of a small image, when the resource has one.
 */
thumbnail: string | null, 
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
bt_addr: string | null, };
export type DownloadState = "starting" | "downloading" | "paused" | "complete" | "failed";
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
path: string, error: string | null, started_ms: number, };
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
export type RejectCounts = { bad_signature: number, broken_chain: number, fork: number, oversize: number, malformed: number, invalid: number, };
export type CatalogStats = { resources: number, feeds: number, entries: number, 
/**
 * My own entries not yet announced to anyone.
 */
queued_announcements: number, rejected: RejectCounts, };
export type Event = { id: number, time_ms: number, } & ({ "type": "peer_online", peer: PeerInfo, } | { "type": "peer_offline", peer_id: string, } | { "type": "peer_updated", peer: PeerInfo, } | { "type": "profile_changed", peer_id: string, profile: Profile, } | { "type": "resource_added", resource: Resource, } | { "type": "resource_removed", content_id: string, } | { "type": "availability_changed", content_id: string, available: boolean, holders_online: number, } | { "type": "catalog_changed" } | { "type": "download_progress", download: Download, } | { "type": "download_removed", content_id: string, } | { "type": "resync" });
export type EventKind = { "type": "peer_online", peer: PeerInfo, } | { "type": "peer_offline", peer_id: string, } | { "type": "peer_updated", peer: PeerInfo, } | { "type": "profile_changed", peer_id: string, profile: Profile, } | { "type": "resource_added", resource: Resource, } | { "type": "resource_removed", content_id: string, } | { "type": "availability_changed", content_id: string, available: boolean, holders_online: number, } | { "type": "catalog_changed" } | { "type": "download_progress", download: Download, } | { "type": "download_removed", content_id: string, } | { "type": "resync" };
export type ApiErrorBody = { code: ErrorCode, message: string, };
export type ErrorCode = "bad_request" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "unavailable" | "internal";
