//! Hearth's desktop shell: a Tauri window over the same core API the headless server uses.
//!
//! It starts a [`hearth::Node`], serves the API on loopback for the CLI (as `hearth run`
//! does), and exposes each API method as a Tauri command of the same name. Core events are
//! forwarded to the window as `hearth-event`. Closing the window hides it to the tray;
//! "Quit" in the tray stops the node cleanly.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod autostart;
mod keyring_store;

use futures::StreamExt;
use hearth::api::dto::{ErrorCode, PassphraseRequest, PublishRequest, Resource};
use hearth::api::{Api, ApiError};
use hearth::config::{Config, Overrides};
use hearth::infra::logging::init_logging;
use hearth::infra::token::random_token;
use hearth::server::client::ApiFile;
use hearth::server::http;
use hearth::Node;
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

/// One Tauri command per declared API command, of the same name, taking the request as
/// `req`; and the IPC handler that registers them with the shell's own.
macro_rules! tauri_commands {
    ($( $(#[$doc:meta])* $name:ident ( $($req:ty)? ) -> $res:ty ; )*) => {
        mod commands {
            use super::Backend;
            use hearth::api::dto::*;
            use hearth::api::ApiError;
            use tauri::State;
            $( tauri_commands!(@one $name ($($req)?) -> $res); )*
        }

        /// Every IPC command: the declared ones and the shell's own (`SHELL_COMMANDS`).
        fn invoke_handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![
                $(commands::$name,)*
                upload,
                media_server,
                pick_files,
                remember_passphrase,
                get_autostart,
                set_autostart
            ]
        }
    };
    (@one $name:ident ($req:ty) -> $res:ty) => {
        #[tauri::command]
        pub async fn $name(backend: State<'_, Backend>, req: $req) -> Result<$res, ApiError> {
            tracing::debug!(target: "hearth_desktop::ipc", command = stringify!($name));
            backend.api()?.$name(req).await
        }
    };
    (@one $name:ident () -> $res:ty) => {
        #[tauri::command]
        pub async fn $name(backend: State<'_, Backend>) -> Result<$res, ApiError> {
            tracing::debug!(target: "hearth_desktop::ipc", command = stringify!($name));
            backend.api()?.$name().await
        }
    };
}

hearth::for_each_command!(tauri_commands);

/// Most bytes one `hearth:` protocol answer carries: Tauri holds a response body in memory,
/// so a player's open range is answered in parts, each asked for in turn.
const PROTOCOL_CHUNK: u64 = 4 * 1024 * 1024;

/// The origins of the app's own webview (Linux and macOS; Windows and Android).
const APP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// The `hearth:` protocol: media byte ranges (`media/<content id>[/<file>]`), thumbnails
/// (`thumbs/<content id>/<hash>`) and profile pictures (`avatars/<hash>`) for the webview,
/// over the same API calls as the headless server's `/media`, `/thumbs` and `/avatars`
/// routes. Only the app's own webview can reach it.
async fn protocol(
    api: Result<Api, ApiError>,
    request: tauri::http::Request<Vec<u8>>,
) -> tauri::http::Response<Vec<u8>> {
    use tauri::http::{header, Response};
    let answer = async {
        let api = api?;
        let path = percent_decode(request.uri().path());
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Only the app's own pages may read these bytes cross-origin (the preview maker
        // draws a frame of the video on a canvas); no other origin is named.
        let mut builder = Response::builder().header(header::VARY, "Origin");
        if let Some(origin) = request
            .headers()
            .get(header::ORIGIN)
            .filter(|o| APP_ORIGINS.iter().any(|ok| o.as_bytes() == ok.as_bytes()))
        {
            builder = builder.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
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
            ["avatars", hash] => {
                let (bytes, mime) = api.avatar(hash).await?;
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

/// Paths a test hands to `pick_files` instead of the picker (`:`-separated), so the desktop
/// test drives the same command path a person does.
const TEST_PICK: &str = "HEARTH_TEST_PICK";

/// The system's file picker, for publishing by path (nothing passes through memory): the
/// paths picked, or none if cancelled.
#[tauri::command]
async fn pick_files(app: tauri::AppHandle, title: String) -> Result<Vec<String>, ApiError> {
    tracing::debug!(target: "hearth_desktop::ipc", command = "pick_files");
    if let Some(paths) = std::env::var_os(TEST_PICK) {
        return Ok(std::env::split_paths(&paths)
            .map(|p| p.display().to_string())
            .collect());
    }
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title(title)
        .pick_files(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx.await.ok().flatten().unwrap_or_default();
    Ok(picked
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .map(|p| p.display().to_string())
        .collect())
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

/// Where the window goes once its page has loaded (set by a link the app was opened with
/// before the page was there).
#[derive(Default)]
struct PendingHash(std::sync::Mutex<Option<String>>);

/// Shows the main window, in front, at `hash` (`#/peers?invite=…`) if given.
fn show_at(app: &tauri::AppHandle, hash: Option<&str>) {
    let Some(window) = app.get_webview_window("main") else {
        return;
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
    if let Some(hash) = hash {
        let loaded = window.url().is_ok_and(|u| u.scheme() != "about");
        if loaded {
            let script = format!("window.location.hash = {};", serde_json::Value::from(hash));
            let _ = window.eval(&script);
        } else if let Some(pending) = app.try_state::<PendingHash>() {
            if let Ok(mut p) = pending.0.lock() {
                *p = Some(hash.to_owned());
            }
        }
    }
}

/// Acts on what the app was opened with (its own command line, or a second launch's): a
/// magnet link starts downloading and shows Downloads; a Hearth invite is put in "Join with
/// an invite" on the Peers page for the user to confirm. Anything else just shows the window.
fn open_args(app: &tauri::AppHandle, args: &[String]) {
    let mut hash = None;
    for arg in args.iter().skip(1).map(|a| a.trim()) {
        if arg.starts_with("magnet:") {
            tracing::info!("opened with a magnet link");
            hash = Some("#/downloads".to_owned());
            let api = app
                .try_state::<Backend>()
                .and_then(|b| b.api().ok().cloned());
            let magnet = arg.to_owned();
            let handle = app.clone();
            tauri::async_runtime::spawn(async move {
                let Some(api) = api else { return };
                let req = hearth::api::dto::DownloadRequest {
                    magnet: Some(magnet),
                    ..Default::default()
                };
                if let Err(e) = api.start_download(req).await {
                    tracing::warn!("cannot open the magnet link: {e}");
                    notify(&handle, "Hearth could not open the magnet link", &e.message);
                }
            });
        } else if arg.starts_with("hearth:invite/") || arg.starts_with("hearth://invite/") {
            tracing::info!("opened with an invite");
            let query: String = url_encode(arg);
            hash = Some(format!("#/peers?invite={query}"));
        }
    }
    show_at(app, hash.as_deref());
}

/// `s` with everything but unreserved URL characters percent-encoded.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A desktop notification from the shell itself.
fn notify(app: &tauri::AppHandle, title: &str, body: &str) {
    use tauri_plugin_notification::NotificationExt;
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!("no notification: {e}");
    }
}

/// Keeps the tray's first two lines current: peers online, transfers running.
async fn tray_status(api: Api, peers: MenuItem<tauri::Wry>, transfers: MenuItem<tauri::Wry>) {
    use hearth::api::dto::DownloadState;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3));
    loop {
        tick.tick().await;
        if let Ok(s) = api.status().await {
            let n = s.peers_online;
            let _ = peers.set_text(match n {
                0 => "No peers online".to_owned(),
                1 => "1 peer online".to_owned(),
                n => format!("{n} peers online"),
            });
        }
        if let Ok(list) = api.list_downloads().await {
            let running: Vec<_> = list
                .iter()
                .filter(|d| d.state == DownloadState::Downloading)
                .collect();
            let paused = list
                .iter()
                .filter(|d| d.state == DownloadState::Paused)
                .count();
            let rate: u64 = running.iter().map(|d| d.down_bps).sum();
            let text = match (running.len(), paused) {
                (0, 0) => "No transfers".to_owned(),
                (0, p) => format!("{p} paused"),
                (r, 0) => format!("{r} downloading, {:.1} MB/s", rate as f64 / 1e6),
                (r, p) => format!("{r} downloading, {p} paused"),
            };
            let _ = transfers.set_text(text);
        }
    }
}

/// "Pause all downloads" / "Resume all downloads" in the tray.
fn all_downloads(app: &tauri::AppHandle, pause: bool) {
    use hearth::api::dto::{ContentIdRequest, DownloadState};
    let Some(api) = app
        .try_state::<Backend>()
        .and_then(|b| b.api().ok().cloned())
    else {
        return;
    };
    tauri::async_runtime::spawn(async move {
        let Ok(list) = api.list_downloads().await else {
            return;
        };
        for d in list {
            let req = ContentIdRequest {
                content_id: d.content_id.clone(),
            };
            let result = match (pause, d.state) {
                (true, DownloadState::Downloading) => api.pause_download(req).await,
                (false, DownloadState::Paused) => api.resume_download(req).await,
                _ => continue,
            };
            if let Err(e) = result {
                tracing::warn!(id = %d.content_id, "cannot {} it: {e}", if pause { "pause" } else { "resume" });
            }
        }
    });
}

/// The OS keyring entry of this node's chat passphrase.
struct Keyring(std::sync::Arc<keyring_store::OsKeyring>);

/// Remembers the chat passphrase in the OS keyring (`null`: forgets it), to unlock chat
/// at the next start. Fails with a clear message where there is no keyring.
#[tauri::command]
async fn remember_passphrase(
    keyring: State<'_, Keyring>,
    passphrase: Option<String>,
) -> Result<(), ApiError> {
    tracing::debug!(target: "hearth_desktop::ipc", command = "remember_passphrase");
    let store = keyring.0.clone();
    tokio::task::spawn_blocking(move || keyring_store::remember(&*store, passphrase.as_deref()))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e))
}

fn autostart_dir() -> Result<std::path::PathBuf, ApiError> {
    autostart::current_dir().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unavailable,
            "no home folder: cannot start Hearth at login",
        )
    })
}

/// Whether Hearth starts when the user logs in (an XDG autostart entry).
#[tauri::command]
async fn get_autostart() -> Result<bool, ApiError> {
    Ok(autostart::is_enabled(&autostart_dir()?))
}

/// Starts Hearth when the user logs in, or no longer; answers whether it now does.
#[tauri::command]
async fn set_autostart(on: bool) -> Result<bool, ApiError> {
    tracing::debug!(target: "hearth_desktop::ipc", command = "set_autostart", on);
    let dir = autostart_dir()?;
    let fail = |e: std::io::Error| {
        ApiError::new(
            ErrorCode::Internal,
            format!("cannot change {}: {e}", dir.display()),
        )
    };
    let program = autostart::program().map_err(fail)?;
    autostart::set(&dir, on, &program).map_err(fail)
}

/// What must be stopped on quit.
struct Running {
    node: std::sync::Mutex<Option<Node>>,
}

/// Closing the window keeps Hearth in the tray (`close_to_tray`, followed live).
struct CloseToTray(std::sync::atomic::AtomicBool);

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

    // A passphrase remembered in the OS keyring unlocks chat at once.
    let keyring = std::sync::Arc::new(keyring_store::OsKeyring::for_data_dir(&data_dir));
    app.manage(Keyring(keyring.clone()));
    let unlock_api = api.clone();
    tauri::async_runtime::spawn(async move {
        let outcome = keyring_store::auto_unlock(keyring, |passphrase| async move {
            unlock_api
                .unlock_chat(PassphraseRequest { passphrase })
                .await
                .map(|s| s.unlocked)
                .map_err(|e| e.message)
        })
        .await;
        match outcome {
            keyring_store::AutoUnlock::NotRemembered => {}
            keyring_store::AutoUnlock::Unlocked => {
                tracing::info!("chat unlocked with the passphrase remembered in the keyring")
            }
            keyring_store::AutoUnlock::Refused(e) => {
                tracing::warn!("the remembered passphrase no longer unlocks chat ({e}): forgotten")
            }
            keyring_store::AutoUnlock::Unavailable(e) => {
                tracing::debug!("no remembered passphrase: {e}")
            }
        }
    });

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
            tracing::warn!("cannot write {}: {e}", hearth::server::client::API_FILE);
        }
        let router = http::router(router_api, token, local, None);
        let _ = http::serve(listener, router, cancel).await;
        let _ = std::fs::remove_file(data_dir.join(hearth::server::client::API_FILE));
    });

    let handle = app.clone();
    let events = api.event_stream(api.last_event_id());
    tauri::async_runtime::spawn(async move {
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            if let hearth::api::dto::EventKind::SettingsChanged { settings } = &event.kind {
                if let Some(flag) = handle.try_state::<CloseToTray>() {
                    flag.0
                        .store(settings.close_to_tray, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if handle.emit(EVENT_NAME, &event).is_err() {
                break;
            }
        }
    });

    // `restart` (Settings, after a change that needs one): stop the node, start anew.
    let handle = app.clone();
    let restart_api = api.clone();
    tauri::async_runtime::spawn(async move {
        restart_api.restart_requested().await;
        tracing::info!("restarting");
        stop_node(&handle).await;
        handle.restart();
    });
    Ok((api, node))
}

/// Stops the node (flushing its store and releasing the data folder), if it runs.
async fn stop_node(app: &tauri::AppHandle) {
    let node = app
        .try_state::<Running>()
        .and_then(|running| running.node.lock().ok().and_then(|mut n| n.take()));
    if let Some(node) = node {
        node.shutdown().await;
    }
}

fn quit(app: &tauri::AppHandle) {
    tauri::async_runtime::block_on(stop_node(app));
    app.exit(0);
}

fn main() {
    init_logging();

    let result = tauri::Builder::default()
        // One instance: a second launch brings this window up and hands it its arguments
        // (a magnet link, an invite), then exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            open_args(app, &args);
        }))
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
            let close_to_tray = match &api {
                Ok(api) => tauri::async_runtime::block_on(api.get_settings())
                    .map(|s| s.close_to_tray)
                    .unwrap_or(true),
                Err(_) => true,
            };
            app.manage(CloseToTray(close_to_tray.into()));
            let tray_api = api.as_ref().ok().cloned();
            app.manage(Backend { api });
            app.manage(Running {
                node: std::sync::Mutex::new(node),
            });

            let peers = MenuItem::with_id(app, "peers", "Starting…", false, None::<&str>)?;
            let transfers =
                MenuItem::with_id(app, "transfers", "No transfers", false, None::<&str>)?;
            let pause = MenuItem::with_id(app, "pause", "Pause all downloads", true, None::<&str>)?;
            let resume =
                MenuItem::with_id(app, "resume", "Resume all downloads", true, None::<&str>)?;
            let show = MenuItem::with_id(app, "show", "Show Hearth", true, None::<&str>)?;
            let quit_item = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
            let separator = tauri::menu::PredefinedMenuItem::separator(app)?;
            let separator2 = tauri::menu::PredefinedMenuItem::separator(app)?;
            let menu = Menu::with_items(
                app,
                &[
                    &peers,
                    &transfers,
                    &separator,
                    &pause,
                    &resume,
                    &separator2,
                    &show,
                    &quit_item,
                ],
            )?;
            if let Some(api) = tray_api {
                tauri::async_runtime::spawn(tray_status(api, peers, transfers));
            }
            let mut tray = TrayIconBuilder::with_id("main")
                .tooltip("Hearth")
                .menu(&menu)
                .on_menu_event(|app, event| match event.id().as_ref() {
                    "show" => show_at(app, None),
                    "pause" => all_downloads(app, true),
                    "resume" => all_downloads(app, false),
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
            app.manage(PendingHash::default());
            open_args(&handle, &std::env::args().collect::<Vec<_>>());
            Ok(())
        })
        .on_page_load(|webview, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                tracing::info!(url = %payload.url(), window = webview.label(), "ui loaded");
                let pending = webview
                    .app_handle()
                    .try_state::<PendingHash>()
                    .and_then(|p| p.0.lock().ok().and_then(|mut p| p.take()));
                if let Some(hash) = pending {
                    let script =
                        format!("window.location.hash = {};", serde_json::Value::from(hash));
                    let _ = webview.eval(&script);
                }
            }
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                // Keep sharing in the background, if the user wants that and there is a
                // tray to bring the window back.
                let app = window.app_handle();
                let to_tray = app
                    .try_state::<CloseToTray>()
                    .is_some_and(|f| f.0.load(std::sync::atomic::Ordering::Relaxed));
                if to_tray && app.tray_by_id("main").is_some() {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .invoke_handler(invoke_handler())
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

#[cfg(test)]
mod tests {
    /// The shell's own commands, beside the declared API (registered by `invoke_handler`).
    const SHELL_COMMANDS: &[&str] = include!("../shell_commands.in");

    /// Permissions the window has beyond Hearth's own commands.
    const PLUGIN_PERMISSIONS: &[&str] = &[
        "core:event:allow-listen",
        "core:event:allow-unlisten",
        "dialog:allow-open",
        "notification:default",
    ];

    /// `capabilities/default.json`: the window may call exactly the declared commands and the
    /// shell's own, plus [`PLUGIN_PERMISSIONS`].
    fn capability_json() -> String {
        let commands = hearth::api::commands::command_names().chain(SHELL_COMMANDS.iter().copied());
        let permissions: Vec<String> = PLUGIN_PERMISSIONS
            .iter()
            .map(|p| p.to_string())
            .chain(commands.map(|c| format!("allow-{}", c.replace('_', "-"))))
            .collect();
        let capability = serde_json::json!({
            "$schema": "../gen/schemas/desktop-schema.json",
            "identifier": "default",
            "description": "The main window may call Hearth's own commands, listen to its events and open the native file picker and show desktop notifications; nothing else.",
            "windows": ["main"],
            "permissions": permissions,
        });
        serde_json::to_string_pretty(&capability).unwrap_or_default() + "\n"
    }

    /// Fails when the capability file and the command list differ. `make types`
    /// (HEARTH_UPDATE_TYPES=1) rewrites it.
    #[test]
    fn capability_file_allows_exactly_the_commands() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities/default.json");
        let expected = capability_json();
        if std::env::var_os("HEARTH_UPDATE_TYPES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "src-tauri/capabilities/default.json differs from the command list: run `make types`"
        );
    }
}
