//! Compiles the top-level tauri.conf.json and registers the app's own IPC commands, so that
//! capabilities can allow exactly these and nothing else.

/// Every IPC command the shell exposes; each must be allowed in `capabilities/`.
const COMMANDS: &[&str] = &[
    "status",
    "get_profile",
    "set_profile",
    "list_peers",
    "connect",
    "block_peer",
    "unblock_peer",
    "get_settings",
    "add_bootstrap",
    "remove_bootstrap",
    "publish",
    "upload",
    "unpublish",
    "update_resource",
    "search",
    "get_resource",
    "list_holders",
    "start_download",
    "pause_download",
    "resume_download",
    "cancel_download",
    "list_downloads",
    "open_folder",
    "get_library",
    "add_shared_folder",
    "remove_shared_folder",
    "catalog_stats",
    "events_since",
    "chat_status",
    "unlock_chat",
    "change_passphrase",
    "list_rooms",
    "create_room",
    "get_room",
    "rename_room",
    "invite",
    "leave_room",
    "delete_room",
    "send_message",
    "room_history",
    "mark_room_read",
    "list_dms",
    "send_dm",
    "dm_history",
    "mark_dm_read",
    "open_file",
    "list_follows",
    "follow",
    "unfollow",
    "set_mirror",
    "set_mirror_quota",
    "set_preview",
    "media_server",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
