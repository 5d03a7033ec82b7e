// The API's command list: the single declaration every adapter is generated from (see
// `commands.rs`). Only this macro may stand in this file: `src-tauri/build.rs` includes it.

/// Calls `$callback! { ... }` with every command as `name(Request) -> Response;` (or
/// `name() -> Response;` for a command that takes nothing), in declaration order, each
/// with its doc comment.
#[macro_export]
macro_rules! for_each_command {
    ($callback:ident) => {
        $callback! {
            // ----- node, profile, peers, settings -----
            /// This node's state.
            status() -> Status;
            get_profile() -> Profile;
            /// Saves the profile, announces it, and emits `profile_changed`.
            set_profile(Profile) -> Profile;
            /// Sets (or with no image removes) the profile picture: an image file's bytes,
            /// scaled and re-encoded by the node, announced with the profile.
            set_avatar(AvatarRequest) -> Profile;
            list_peers() -> Vec<PeerInfo>;
            /// Explains in plain words how a peer is reached, or why not and what would fix it.
            doctor(PeerIdRequest) -> Diagnosis;
            /// Connects to a peer by address and waits until the connection is up.
            connect(AddrRequest) -> ();
            /// An invite to this node: text to give a friend, and who can use it.
            create_invite() -> InviteInfo;
            /// Connects to the peer an invite names, trying all its addresses at once.
            join(JoinRequest) -> Joined;
            /// Drops the peer's connections and refuses new ones, across restarts.
            block_peer(PeerIdRequest) -> ();
            unblock_peer(PeerIdRequest) -> ();
            get_settings() -> Settings;
            /// Remembers a bootstrap address in `hearth.toml` and connects to it now.
            add_bootstrap(AddrRequest) -> Settings;
            /// Forgets a bootstrap address (open connections stay).
            remove_bootstrap(AddrRequest) -> Settings;
            /// Changes settings and saves them in `hearth.toml`; what cannot apply at once is
            /// listed in `pending_restart`.
            update_settings(SettingsUpdate) -> Settings;
            /// Stops the node and starts it again (the desktop app or `hearth run` does it),
            /// to apply `pending_restart`.
            restart() -> ();
            /// Sets the disk space mirrors may use.
            set_mirror_quota(QuotaRequest) -> Settings;

            // ----- catalog and sharing -----
            /// Publishes a file or folder on this node's disk.
            publish(PublishRequest) -> Resource;
            unpublish(ContentIdRequest) -> ();
            update_resource(UpdateResourceRequest) -> Resource;
            search(SearchRequest) -> SearchResult;
            get_resource(ContentIdRequest) -> Resource;
            list_holders(ContentIdRequest) -> Vec<Holder>;
            /// Gives one of my resources a thumbnail (and duration) taken by the UI.
            set_preview(PreviewRequest) -> Resource;
            catalog_stats() -> CatalogStats;

            // ----- follows and mirrors -----
            list_follows() -> Vec<Follow>;
            follow(PeerIdRequest) -> Vec<Follow>;
            unfollow(PeerIdRequest) -> Vec<Follow>;
            set_mirror(MirrorRequest) -> Vec<Follow>;

            // ----- downloads -----
            start_download(DownloadRequest) -> Download;
            pause_download(ContentIdRequest) -> ();
            resume_download(ContentIdRequest) -> ();
            /// Stops a download and deletes its partial data.
            cancel_download(ContentIdRequest) -> ();
            list_downloads() -> Vec<Download>;
            /// The folder holding a resource; also opens it in the file manager on a desktop.
            open_folder(ContentIdRequest) -> String;
            /// A resource's file; also opens it in the system's application on a desktop.
            open_file(ContentIdRequest) -> String;

            // ----- shared folders -----
            get_library() -> Library;
            add_shared_folder(FolderRequest) -> Library;
            remove_shared_folder(FolderRequest) -> Library;

            // ----- chat -----
            chat_status() -> ChatStatus;
            /// Unlocks chat with the passphrase (choosing it, the first time).
            unlock_chat(PassphraseRequest) -> ChatStatus;
            change_passphrase(ChangePassphraseRequest) -> ();
            list_rooms() -> Vec<RoomInfo>;
            create_room(CreateRoomRequest) -> RoomInfo;
            get_room(RoomIdRequest) -> RoomInfo;
            rename_room(RenameRoomRequest) -> ();
            invite(InviteRequest) -> ();
            leave_room(RoomIdRequest) -> ();
            delete_room(RoomIdRequest) -> ();
            send_message(SendMessageRequest) -> ChatMessage;
            room_history(HistoryRequest) -> HistoryPage;
            mark_room_read(RoomIdRequest) -> ();
            list_dms() -> Vec<DmConversation>;
            send_dm(SendDmRequest) -> ChatMessage;
            dm_history(DmHistoryRequest) -> HistoryPage;
            mark_dm_read(PeerIdRequest) -> ();
            /// Direct messages and room invitations from strangers, waiting for an answer.
            list_requests() -> ChatRequests;
            /// Accepts a stranger's request (its messages become a conversation, its rooms are
            /// joined) or declines it (dropped, and what it sends later too).
            answer_request(AnswerRequest) -> ();

            // ----- events -----
            /// Buffered events after `since` (a `resync` event when they are gone).
            events_since(SinceRequest) -> Vec<Event>;
        }
    };
}
