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
nat: string, };
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
export type Settings = { bootstrap: Array<string>, mdns: boolean, listen: Array<string>, data_dir: string, };
export type AddrRequest = { addr: string, };
export type Event = { id: number, time_ms: number, } & ({ "type": "peer_online", peer: PeerInfo, } | { "type": "peer_offline", peer_id: string, } | { "type": "peer_updated", peer: PeerInfo, } | { "type": "profile_changed", peer_id: string, profile: Profile, } | { "type": "resync" });
export type EventKind = { "type": "peer_online", peer: PeerInfo, } | { "type": "peer_offline", peer_id: string, } | { "type": "peer_updated", peer: PeerInfo, } | { "type": "profile_changed", peer_id: string, profile: Profile, } | { "type": "resync" };
export type ApiErrorBody = { code: ErrorCode, message: string, };
export type ErrorCode = "bad_request" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "unavailable" | "internal";
