//! Hearth's desktop shell: a Tauri window over the same core API the headless server uses.
//!
//! It starts a [`hearth::Node`], serves the API on loopback for the CLI (as `hearth run`
//! does), and exposes each API method as a Tauri command of the same name. Core events are
//! forwarded to the window as `hearth-event`. Closing the window hides it to the tray;
//! "Quit" in the tray stops the node cleanly.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use futures::StreamExt;
use hearth::api::types::{
    CatalogStats, Download, DownloadRequest, ErrorCode, Event, FolderRequest, Holder, Library,
    PeerInfo, Profile, PublishRequest, Resource, SearchRequest, SearchResult, Settings, Status,
    UpdateResourceRequest,
};
use hearth::api::types::{
    ChangePassphraseRequest, ChatMessage, ChatStatus, CreateRoomRequest, DmConversation,
    DmHistoryRequest, HistoryPage, HistoryRequest, InviteRequest, PassphraseRequest, PeerIdRequest,
    RenameRoomRequest, RoomIdRequest, RoomInfo, SendDmRequest, SendMessageRequest,
};
use hearth::api::types::{Follow, MirrorRequest, PreviewRequest, QuotaRequest};
use hearth::api::{Api, ApiError};
use hearth::client::ApiFile;
use hearth::config::{Config, Overrides};
use hearth::infra::logging::init_logging;
use hearth::infra::token::random_token;
use hearth::{http, Node};
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{Emitter, Manager, State};

/// Name of the window event carrying core events.
const EVENT_NAME: &str = "hearth-event";

/// The node, or why it could not start (shown to the user by every command).
struct Backend {
    api: Result<Api, ApiError>,
}

impl Backend {
    fn api(&self) -> Result<&Api, ApiError> {
        self.api.as_ref().map_err(Clone::clone)
    }
}

/// Declares a Tauri command that forwards to the API method of the same name.
macro_rules! api_command {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        #[tauri::command]
        async fn $name(backend: State<'_, Backend>, $($arg: $ty),*) -> Result<$ret, ApiError> {
            tracing::debug!(target: "hearth_desktop::ipc", command = stringify!($name));
            backend.api()?.$name($($arg),*).await
        }
    };
}

api_command!(status() -> Status);
api_command!(get_profile() -> Profile);
api_command!(set_profile(profile: Profile) -> Profile);
api_command!(list_peers() -> Vec<PeerInfo>);
api_command!(connect(addr: String) -> ());
api_command!(block_peer(peer_id: String) -> ());
api_command!(unblock_peer(peer_id: String) -> ());
api_command!(get_settings() -> Settings);
api_command!(add_bootstrap(addr: String) -> Settings);
api_command!(remove_bootstrap(addr: String) -> Settings);
api_command!(publish(req: PublishRequest) -> Resource);
api_command!(unpublish(content_id: String) -> ());
api_command!(update_resource(req: UpdateResourceRequest) -> Resource);
api_command!(search(req: SearchRequest) -> SearchResult);
api_command!(get_resource(content_id: String) -> Resource);
api_command!(list_holders(content_id: String) -> Vec<Holder>);
api_command!(start_download(req: DownloadRequest) -> Download);
api_command!(pause_download(content_id: String) -> ());
api_command!(resume_download(content_id: String) -> ());
api_command!(cancel_download(content_id: String) -> ());
api_command!(list_downloads() -> Vec<Download>);
api_command!(open_folder(content_id: String) -> String);
api_command!(get_library() -> Library);
api_command!(add_shared_folder(req: FolderRequest) -> Library);
api_command!(remove_shared_folder(req: FolderRequest) -> Library);
api_command!(catalog_stats() -> CatalogStats);
api_command!(chat_status() -> ChatStatus);
api_command!(unlock_chat(req: PassphraseRequest) -> ChatStatus);
api_command!(change_passphrase(req: ChangePassphraseRequest) -> ());
api_command!(list_rooms() -> Vec<RoomInfo>);
api_command!(create_room(req: CreateRoomRequest) -> RoomInfo);
api_command!(get_room(room_id: String) -> RoomInfo);
api_command!(rename_room(req: RenameRoomRequest) -> ());
api_command!(invite(req: InviteRequest) -> ());
api_command!(leave_room(req: RoomIdRequest) -> ());
api_command!(delete_room(req: RoomIdRequest) -> ());
api_command!(send_message(req: SendMessageRequest) -> ChatMessage);
api_command!(room_history(req: HistoryRequest) -> HistoryPage);
api_command!(mark_room_read(req: RoomIdRequest) -> ());
api_command!(list_dms() -> Vec<DmConversation>);
api_command!(send_dm(req: SendDmRequest) -> ChatMessage);
api_command!(dm_history(req: DmHistoryRequest) -> HistoryPage);
api_command!(mark_dm_read(req: PeerIdRequest) -> ());
api_command!(open_file(content_id: String) -> String);
api_command!(list_follows() -> Vec<Follow>);
api_command!(follow(req: PeerIdRequest) -> Vec<Follow>);
api_command!(unfollow(req: PeerIdRequest) -> Vec<Follow>);
api_command!(set_mirror(req: MirrorRequest) -> Vec<Follow>);
api_command!(set_mirror_quota(req: QuotaRequest) -> Settings);
api_command!(set_preview(req: PreviewRequest) -> Resource);

/// Most bytes one `hearth:` protocol answer carries: Tauri holds a response body in memory,
/// so a player's open range is answered in parts, each asked for in turn.
const PROTOCOL_CHUNK: u64 = 4 * 1024 * 1024;

/// The `hearth:` protocol: media byte ranges (`media/<content id>[/<file>]`) and thumbnails
/// (`thumbs/<content id>/<hash>`) for the webview, over the same API calls as the headless
/// server's `/media` and `/thumbs` routes. Only the app's own webview can reach it.
async fn protocol(
    api: Result<Api, ApiError>,
    request: tauri::http::Request<Vec<u8>>,
) -> tauri::http::Response<Vec<u8>> {
    use tauri::http::{header, Response};
    let answer = async {
        let api = api?;
        let path = percent_decode(request.uri().path());
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let builder = Response::builder().header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        match parts.as_slice() {
            ["media", id, rest @ ..] if rest.len() <= 1 => {
                let file = match rest.first() {
                    Some(f) => f
                        .parse()
                        .map_err(|_| ApiError::bad_request("the file number is not a number"))?,
                    None => 0,
                };
                let range = request
                    .headers()
                    .get(header::RANGE)
                    .and_then(|v| v.to_str().ok());
                let m = api.media(id, file, range, Some(PROTOCOL_CHUNK)).await?;
                let builder = m
                    .headers()
                    .into_iter()
                    .fold(builder.status(m.status), |b, (k, v)| b.header(k, v));
                let mut body = Vec::with_capacity(m.content_length() as usize);
                let mut chunks = m.body;
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.map_err(|e| {
                        ApiError::new(ErrorCode::Internal, format!("cannot read the file: {e}"))
                    })?;
                    body.extend_from_slice(&chunk);
                }
                builder
                    .body(body)
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
            }
            ["thumbs", id, hash] => {
                let (bytes, mime) = api.thumbnail(id, hash).await?;
                builder
                    .header(header::CONTENT_TYPE, mime)
                    .header(
                        header::CACHE_CONTROL,
                        hearth::sharing::media::THUMBNAIL_CACHE_CONTROL,
                    )
                    .body(bytes)
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
            }
            _ => Err(ApiError::new(ErrorCode::NotFound, "no such media path")),
        }
    };
    match answer.await {
        Ok(response) => response,
        Err(e) => Response::builder()
            .status(e.code.http_status())
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&e.body()).unwrap_or_default())
            .unwrap_or_default(),
    }
}

/// `%XX` escapes decoded (the UI builds `hearth:` addresses with `convertFileSrc`, which
/// escapes the slashes of the path).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the UI sends with an upload, in the `x-hearth-upload` header (JSON).
#[derive(serde::Deserialize)]
struct UploadMeta {
    name: String,
    #[serde(flatten)]
    meta: PublishRequest,
}

/// Publishes a file the webview sends as a raw body (a picked or dropped browser `File`).
#[tauri::command]
async fn upload(
    backend: State<'_, Backend>,
    request: tauri::ipc::Request<'_>,
) -> Result<Resource, ApiError> {
    tracing::debug!(target: "hearth_desktop::ipc", command = "upload");
    let meta: UploadMeta = request
        .headers()
        .get("x-hearth-upload")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or_else(|| ApiError::bad_request("upload without a valid x-hearth-upload header"))?;
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(ApiError::bad_request("upload body must be raw bytes"));
    };
    let chunk = bytes::Bytes::copy_from_slice(bytes);
    let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(chunk)]);
    backend.api()?.upload(&meta.name, meta.meta, body).await
}

#[tauri::command]
fn events_since(backend: State<'_, Backend>, since: u64) -> Result<Vec<Event>, ApiError> {
    Ok(backend.api()?.events_since(since))
}

/// Where the loopback HTTP server this shell runs (for the CLI) listens, and its token.
#[derive(Clone, serde::Serialize)]
struct MediaServer {
    url: String,
    token: String,
}

/// The loopback server's address, once it is bound.
struct MediaServerState(tokio::sync::watch::Receiver<Option<MediaServer>>);

/// The loopback HTTP server, for the player: WebKitGTK's GStreamer media backend cannot load
/// media from a custom URI scheme (WebKit bug 146351), so on Linux the `<video>` element
/// reads the same `/media` byte ranges over HTTP, with the token in the query.
#[tauri::command]
async fn media_server(state: State<'_, MediaServerState>) -> Result<MediaServer, ApiError> {
    let mut rx = state.0.clone();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        rx.wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|v| v.clone())
    })
    .await;
    ready.ok().flatten().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unavailable,
            "the local media server did not start (see the log)",
        )
    })
}

/// What must be stopped on quit.
struct Running {
    node: std::sync::Mutex<Option<Node>>,
}

fn start_node(
    app: &tauri::AppHandle,
    media_tx: tokio::sync::watch::Sender<Option<MediaServer>>,
) -> Result<(Api, Node), ApiError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("Hearth could not start: {e}"),
        )
    };
    let config = Config::load(Overrides::default()).map_err(|e| unavailable(&e))?;
    let data_dir = config.data_dir.clone();
    let http_addr = (config.http, config.http_is_default);
    let node = tauri::async_runtime::block_on(Node::start(config)).map_err(|e| unavailable(&e))?;
    let api = node.api();

    // The CLI talks to whichever process runs the node, so serve the API here too.
    let router_api = api.clone();
    let cancel = node.shutdown_token();
    tauri::async_runtime::spawn(async move {
        let listener = match http::bind(http_addr.0, http_addr.1).await {
            Ok(l) => l,
            Err(e) => {
                return tracing::warn!("CLI access disabled: cannot bind {}: {e}", http_addr.0)
            }
        };
        let Ok(local) = listener.local_addr() else {
            return;
        };
        let token = random_token();
        media_tx.send_replace(Some(MediaServer {
            url: format!("http://{local}"),
            token: token.clone(),
        }));
        let file = ApiFile {
            url: format!("http://{local}"),
            token: token.clone(),
            pid: std::process::id(),
        };
        if let Err(e) = file.write(&data_dir) {
            tracing::warn!("cannot write {}: {e}", hearth::client::API_FILE);
        }
        let router = http::router(router_api, token, local, None);
        let _ = http::serve(listener, router, cancel).await;
        let _ = std::fs::remove_file(data_dir.join(hearth::client::API_FILE));
    });

    let handle = app.clone();
    let events = api.event_stream(api.last_event_id());
    tauri::async_runtime::spawn(async move {
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            if handle.emit(EVENT_NAME, &event).is_err() {
                break;
            }
        }
    });
    Ok((api, node))
}

fn quit(app: &tauri::AppHandle) {
    if let Some(running) = app.try_state::<Running>() {
        let node = running.node.lock().ok().and_then(|mut n| n.take());
        if let Some(node) = node {
            tauri::async_runtime::block_on(node.shutdown());
        }
    }
    app.exit(0);
}

fn main() {
    init_logging();

    let result = tauri::Builder::default()
        // The native file picker: publishing by path, so no file passes through memory.
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let handle = app.handle().clone();
            let (media_tx, media_rx) = tokio::sync::watch::channel(None);
            app.manage(MediaServerState(media_rx));
            let (api, node) = match start_node(&handle, media_tx) {
                Ok((api, node)) => (Ok(api), Some(node)),
                Err(e) => {
                    tracing::error!("{e}");
                    (Err(e), None)
                }
            };
            app.manage(Backend { api });
            app.manage(Running {
                node: std::sync::Mutex::new(node),
            });

            let show = MenuItem::with_id(app, "show", "Show Hearth", true, None::<&str>)?;
            let quit_item = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
            let menu = Menu::with_items(app, &[&show, &quit_item])?;
            let mut tray = TrayIconBuilder::with_id("main")
                .tooltip("Hearth")
                .menu(&menu)
                .on_menu_event(|app, event| match event.id().as_ref() {
                    "show" => {
                        if let Some(w) = app.get_webview_window("main") {
                            let _ = w.show();
                            let _ = w.set_focus();
                        }
                    }
                    "quit" => quit(app),
                    _ => {}
                });
            if let Some(icon) = app.default_window_icon() {
                tray = tray.icon(icon.clone());
            }
            if let Err(e) = tray.build(app) {
                // No tray on this desktop (e.g. a bare X server): the window still works.
                tracing::warn!("no tray icon: {e}");
            }
            Ok(())
        })
        .on_page_load(|webview, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                tracing::info!(url = %payload.url(), window = webview.label(), "ui loaded");
            }
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                // Keep sharing in the background; the tray brings the window back.
                if window.app_handle().tray_by_id("main").is_some() {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            status,
            get_profile,
            set_profile,
            list_peers,
            connect,
            block_peer,
            unblock_peer,
            get_settings,
            add_bootstrap,
            remove_bootstrap,
            publish,
            upload,
            unpublish,
            update_resource,
            search,
            get_resource,
            list_holders,
            start_download,
            pause_download,
            resume_download,
            cancel_download,
            list_downloads,
            open_folder,
            get_library,
            add_shared_folder,
            remove_shared_folder,
            catalog_stats,
            events_since,
            chat_status,
            unlock_chat,
            change_passphrase,
            list_rooms,
            create_room,
            get_room,
            rename_room,
            invite,
            leave_room,
            delete_room,
            send_message,
            room_history,
            mark_room_read,
            list_dms,
            send_dm,
            dm_history,
            mark_dm_read,
            open_file,
            list_follows,
            follow,
            unfollow,
            set_mirror,
            set_mirror_quota,
            set_preview,
            media_server,
        ])
        .register_asynchronous_uri_scheme_protocol("hearth", |ctx, request, responder| {
            let api = ctx
                .app_handle()
                .try_state::<Backend>()
                .map(|b| b.api().cloned())
                .unwrap_or_else(|| {
                    Err(ApiError::new(ErrorCode::Unavailable, "Hearth is starting"))
                });
            tauri::async_runtime::spawn(async move {
                responder.respond(protocol(api, request).await);
            });
        })
        .build(tauri::generate_context!("../tauri.conf.json"));

    match result {
        Ok(app) => app.run(|app, event| {
            if let tauri::RunEvent::ExitRequested {
                code: None, api, ..
            } = event
            {
                // Last window closed without a tray: stop the node properly.
                api.prevent_exit();
                quit(app);
            }
        }),
        Err(e) => {
            eprintln!("error: cannot start the Hearth window: {e}");
            std::process::exit(1);
        }
    }
}
