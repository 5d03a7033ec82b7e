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
}

/// User-editable network settings.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct Settings {
    pub bootstrap: Vec<String>,
    pub mdns: bool,
    pub listen: Vec<String>,
    pub data_dir: String,
}

/// Request body of `connect` and `add_bootstrap`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct AddrRequest {
    pub addr: String,
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

/// The TypeScript declarations of every type above, as written to `ui/src/api/types.ts`.
pub fn typescript_bindings() -> String {
    let decls = [
        Profile::decl(),
        Status::decl(),
        PeerInfo::decl(),
        Settings::decl(),
        AddrRequest::decl(),
        Event::decl(),
        EventKind::decl(),
        ApiErrorBody::decl(),
        ErrorCode::decl(),
    ];
    let mut out = String::from(
        "// Generated from the Rust API types (src/api/types.rs) by `make types`. Do not edit.\n\n",
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
            "ui/src/api/types.ts is out of date with src/api/types.rs: run `make types`"
        );
    }
}
