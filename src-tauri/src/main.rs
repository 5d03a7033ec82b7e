//! Hearth's desktop shell: a Tauri window over the same core API the headless server uses.
//!
//! It starts a [`hearth::Node`], serves the API on loopback for the CLI (as `hearth run`
//! does), and exposes each API method as a Tauri command of the same name. Core events are
//! forwarded to the window as `hearth-event`. Closing the window hides it to the tray;
//! "Quit" in the tray stops the node cleanly.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use futures::StreamExt;
use hearth::api::dto::{ErrorCode, PublishRequest, Resource};
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
            tauri::generate_handler![$(commands::$name,)* upload, media_server]
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
