//! The headless front door: the built UI and the [`Api`] over HTTP + WebSocket, on loopback.
//!
//! Every route is a one-line adapter over an `Api` method of the same name. Protection
//! against other web pages on the same machine (CSRF, DNS rebinding): requests whose `Host`
//! or `Origin` is not this server's own loopback address get 403; `/api/` requests need the
//! access token (`Authorization: Bearer`, or `?token=` for the WebSocket, which browsers
//! cannot give headers) or get 401.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::types::{
    AddrRequest, CatalogStats, ChangePassphraseRequest, ChatMessage, ChatStatus, ContentIdRequest,
    CreateRoomRequest, DmConversation, DmHistoryRequest, Download, DownloadRequest, ErrorCode,
    Event, FolderRequest, Follow, HistoryPage, HistoryRequest, Holder, InviteRequest, Library,
    MirrorRequest, PassphraseRequest, PeerIdRequest, PreviewRequest, Profile, PublishRequest,
    QuotaRequest, RenameRoomRequest, Resource, ResourceKind, RoomIdRequest, RoomInfo,
    SearchRequest, SearchResult, SendDmRequest, SendMessageRequest, UpdateResourceRequest,
};
use crate::api::{Api, ApiError};

/// Largest request body the API accepts.
const MAX_BODY: usize = 64 * 1024;
/// Content Security Policy of everything served.
pub const CSP: &str = "default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; \
    img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body())).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

struct Guard {
    token: String,
    hosts: Vec<String>,
    origins: Vec<String>,
}

/// Binds the listener; when `fallback` is set and the port is taken, any free port will do.
pub async fn bind(addr: SocketAddr, fallback: bool) -> std::io::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Err(e) if fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
            TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await
        }
        other => other,
    }
}

/// The router for `api`, guarded for a server listening on `local`.
pub fn router(api: Api, token: String, local: SocketAddr, ui_dir: Option<PathBuf>) -> Router {
    let port = local.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !local.ip().is_loopback() && !local.ip().is_unspecified() {
        hosts.push(local.to_string());
    }
    let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
    let guard = Arc::new(Guard {
        token,
        hosts,
        origins,
    });

    let api_routes = Router::new()
        .route("/status", get(status))
        .route("/profile", get(get_profile).put(set_profile))
        .route("/peers", get(list_peers))
        .route("/peers/connect", post(connect))
        .route(
            "/peers/{peer_id}/block",
            post(block_peer).delete(unblock_peer),
        )
        .route("/settings", get(get_settings))
        .route("/settings/bootstrap", post(add_bootstrap))
        .route("/settings/bootstrap/remove", post(remove_bootstrap))
        .route("/settings/mirror_quota", post(set_mirror_quota))
        .route("/follows", get(list_follows).post(follow))
        .route("/follows/remove", post(unfollow))
        .route("/follows/mirror", post(set_mirror))
        .route("/resources/preview", post(set_preview))
        .route("/resources/publish", post(publish))
        .route("/resources/upload", post(upload))
        .route("/resources/unpublish", post(unpublish))
        .route("/resources/update", post(update_resource))
        .route("/resources/open_folder", post(open_folder))
        .route("/resources/open_file", post(open_file))
        .route("/resources/{content_id}", get(get_resource))
        .route("/resources/{content_id}/holders", get(list_holders))
        .route("/search", post(search))
        .route("/downloads", get(list_downloads).post(start_download))
        .route("/downloads/pause", post(pause_download))
        .route("/downloads/resume", post(resume_download))
        .route("/downloads/cancel", post(cancel_download))
        .route("/library", get(get_library))
        .route("/library/folders", post(add_shared_folder))
        .route("/library/folders/remove", post(remove_shared_folder))
        .route("/catalog/stats", get(catalog_stats))
        .route("/chat/status", get(chat_status))
        .route("/chat/unlock", post(unlock_chat))
        .route("/chat/passphrase", post(change_passphrase))
        .route("/rooms", get(list_rooms).post(create_room))
        .route("/rooms/rename", post(rename_room))
        .route("/rooms/invite", post(invite))
        .route("/rooms/leave", post(leave_room))
        .route("/rooms/delete", post(delete_room))
        .route("/rooms/send", post(send_message))
        .route("/rooms/history", post(room_history))
        .route("/rooms/read", post(mark_room_read))
        .route("/rooms/{room_id}", get(get_room))
        .route("/dms", get(list_dms))
        .route("/dms/send", post(send_dm))
        .route("/dms/history", post(dm_history))
        .route("/dms/read", post(mark_dm_read))
        .route("/events", get(events_since))
        .route("/events/ws", get(events_ws))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such API route") })
        .layer(middleware::from_fn_with_state(guard.clone(), require_token))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api.clone());

    let ui = match ui_dir.filter(|d| d.join("index.html").is_file()) {
        Some(dir) => Router::new().fallback_service(
            ServeDir::new(&dir).fallback(ServeFile::new(dir.join("index.html"))),
        ),
        None => Router::new().fallback(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The Hearth UI is not built. Run `make run` (or `npm run build` in ui/) and reload.",
            )
        }),
    };

    // Media and thumbnails are fetched by <video> and <img>, which cannot send headers: the
    // token comes as `?token=`.
    let media_routes = Router::new()
        .route("/media/{content_id}", get(media))
        .route("/media/{content_id}/{file}", get(media_file))
        .route("/thumbs/{content_id}/{hash}", get(thumbnail))
        .layer(middleware::from_fn_with_state(guard.clone(), require_token))
        .with_state(api.clone());

    Router::new()
        .nest("/api", api_routes)
        .merge(media_routes)
        .merge(ui)
        .layer(middleware::from_fn_with_state(guard, check_host_and_origin))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// Serves until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
}

fn forbidden(message: &str) -> Response {
    ApiError::new(ErrorCode::Forbidden, message).into_response()
}

async fn check_host_and_origin(
    State(guard): State<Arc<Guard>>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| guard.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h))) {
        return forbidden("requests must address this node by its loopback address");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .is_ok_and(|o| guard.origins.iter().any(|ok| ok.eq_ignore_ascii_case(o)));
        if !ok {
            return forbidden("requests from other sites are not allowed");
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v.strip_prefix("Bearer ").map(str::to_owned);
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_owned)
}

async fn require_token(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let given = presented_token(req.headers(), req.uri().query());
    if !given.is_some_and(|t| constant_time_eq(t.as_bytes(), guard.token.as_bytes())) {
        return ApiError::new(ErrorCode::Unauthorized, "missing or wrong access token")
            .into_response();
    }
    next.run(req).await
}

/// A route without a body: `GET` answering what the API method of the same name returns.
macro_rules! query_route {
    ($name:ident -> $out:ty) => {
        async fn $name(State(api): State<Api>) -> ApiResult<$out> {
            api.$name().await.map(Json)
        }
    };
}

/// A route taking a JSON body: the API method of the same name with that request.
macro_rules! body_route {
    ($name:ident($req:ty) -> $out:ty) => {
        async fn $name(
            State(api): State<Api>,
            b: Result<Json<$req>, JsonRejection>,
        ) -> ApiResult<$out> {
            api.$name(body(b)?).await.map(Json)
        }
    };
}

query_route!(chat_status -> ChatStatus);
body_route!(unlock_chat(PassphraseRequest) -> ChatStatus);
body_route!(change_passphrase(ChangePassphraseRequest) -> ());
query_route!(list_rooms -> Vec<RoomInfo>);
body_route!(create_room(CreateRoomRequest) -> RoomInfo);
body_route!(rename_room(RenameRoomRequest) -> ());
body_route!(invite(InviteRequest) -> ());
body_route!(leave_room(RoomIdRequest) -> ());
body_route!(delete_room(RoomIdRequest) -> ());
body_route!(send_message(SendMessageRequest) -> ChatMessage);
body_route!(room_history(HistoryRequest) -> HistoryPage);
body_route!(mark_room_read(RoomIdRequest) -> ());
query_route!(list_dms -> Vec<DmConversation>);
body_route!(send_dm(SendDmRequest) -> ChatMessage);
body_route!(dm_history(DmHistoryRequest) -> HistoryPage);
body_route!(mark_dm_read(PeerIdRequest) -> ());

async fn get_room(State(api): State<Api>, Path(room_id): Path<String>) -> ApiResult<RoomInfo> {
    api.get_room(room_id).await.map(Json)
}

query_route!(status -> crate::api::types::Status);
query_route!(list_follows -> Vec<Follow>);
body_route!(follow(PeerIdRequest) -> Vec<Follow>);
body_route!(unfollow(PeerIdRequest) -> Vec<Follow>);
body_route!(set_mirror(MirrorRequest) -> Vec<Follow>);
body_route!(set_mirror_quota(QuotaRequest) -> crate::api::types::Settings);
body_route!(set_preview(PreviewRequest) -> Resource);

async fn media(
    State(api): State<Api>,
    Path(content_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    media_response(&api, &content_id, 0, &headers).await
}

async fn media_file(
    State(api): State<Api>,
    Path((content_id, file)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    media_response(&api, &content_id, file, &headers).await
}

/// The [`crate::sharing::media::Media`] answer as an HTTP response; the body streams as the pieces
/// arrive.
async fn media_response(
    api: &Api,
    content_id: &str,
    file: usize,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let m = api.media(content_id, file, range, None).await?;
    m.headers()
        .into_iter()
        .fold(Response::builder().status(m.status), |b, (k, v)| {
            b.header(k, v)
        })
        .body(axum::body::Body::from_stream(m.body))
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

async fn thumbnail(
    State(api): State<Api>,
    Path((content_id, hash)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (bytes, mime) = api.thumbnail(&content_id, &hash).await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CACHE_CONTROL,
                crate::sharing::media::THUMBNAIL_CACHE_CONTROL,
            ),
        ],
        bytes,
    )
        .into_response())
}

query_route!(get_profile -> Profile);

body_route!(set_profile(Profile) -> Profile);

query_route!(list_peers -> Vec<crate::api::types::PeerInfo>);

async fn connect(
    State(api): State<Api>,
    b: Result<Json<AddrRequest>, JsonRejection>,
) -> ApiResult<()> {
    api.connect(body(b)?.addr).await.map(Json)
}

async fn block_peer(State(api): State<Api>, Path(peer_id): Path<String>) -> ApiResult<()> {
    api.block_peer(peer_id).await.map(Json)
}

async fn unblock_peer(State(api): State<Api>, Path(peer_id): Path<String>) -> ApiResult<()> {
    api.unblock_peer(peer_id).await.map(Json)
}

body_route!(publish(PublishRequest) -> Resource);

/// Query of an upload: the file's name and how to describe it. The body is the file.
#[derive(Deserialize)]
struct UploadQuery {
    name: String,
    title: Option<String>,
    description: Option<String>,
    kind: Option<ResourceKind>,
    /// Comma-separated.
    tags: Option<String>,
}

async fn upload(
    State(api): State<Api>,
    q: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> ApiResult<Resource> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let meta = PublishRequest {
        path: String::new(),
        title: q.title,
        description: q.description,
        kind: q.kind,
        tags: q
            .tags
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    };
    let stream = req.into_body().into_data_stream();
    api.upload(&q.name, meta, stream).await.map(Json)
}

async fn unpublish(
    State(api): State<Api>,
    b: Result<Json<ContentIdRequest>, JsonRejection>,
) -> ApiResult<()> {
    api.unpublish(body(b)?.content_id).await.map(Json)
}

body_route!(update_resource(UpdateResourceRequest) -> Resource);

async fn open_folder(
    State(api): State<Api>,
    b: Result<Json<ContentIdRequest>, JsonRejection>,
) -> ApiResult<String> {
    api.open_folder(body(b)?.content_id).await.map(Json)
}

async fn open_file(
    State(api): State<Api>,
    b: Result<Json<ContentIdRequest>, JsonRejection>,
) -> ApiResult<String> {
    api.open_file(body(b)?.content_id).await.map(Json)
}

async fn get_resource(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<Resource> {
    api.get_resource(id).await.map(Json)
}

async fn list_holders(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<Vec<Holder>> {
    api.list_holders(id).await.map(Json)
}

body_route!(search(SearchRequest) -> SearchResult);

query_route!(list_downloads -> Vec<Download>);

body_route!(start_download(DownloadRequest) -> Download);

async fn pause_download(
    State(api): State<Api>,
    b: Result<Json<ContentIdRequest>, JsonRejection>,
) -> ApiResult<()> {
    api.pause_download(body(b)?.content_id).await.map(Json)
}

async fn resume_download(
    State(api): State<Api>,
    b: Result<Json<ContentIdRequest>, JsonRejection>,
) -> ApiResult<()> {
    api.resume_download(body(b)?.content_id).await.map(Json)
}

async fn cancel_download(
    State(api): State<Api>,
    b: Result<Json<ContentIdRequest>, JsonRejection>,
) -> ApiResult<()> {
    api.cancel_download(body(b)?.content_id).await.map(Json)
}

query_route!(get_library -> Library);

body_route!(add_shared_folder(FolderRequest) -> Library);

body_route!(remove_shared_folder(FolderRequest) -> Library);

query_route!(catalog_stats -> CatalogStats);

query_route!(get_settings -> crate::api::types::Settings);

async fn add_bootstrap(
    State(api): State<Api>,
    b: Result<Json<AddrRequest>, JsonRejection>,
) -> ApiResult<crate::api::types::Settings> {
    api.add_bootstrap(body(b)?.addr).await.map(Json)
}

async fn remove_bootstrap(
    State(api): State<Api>,
    b: Result<Json<AddrRequest>, JsonRejection>,
) -> ApiResult<crate::api::types::Settings> {
    api.remove_bootstrap(body(b)?.addr).await.map(Json)
}

#[derive(Debug, Deserialize, Serialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

async fn events_since(State(api): State<Api>, Query(q): Query<Since>) -> Json<Vec<Event>> {
    Json(api.events_since(q.since))
}

async fn events_ws(
    State(api): State<Api>,
    Query(q): Query<Since>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| stream_events(api, q.since, socket))
}

/// Streams events to the socket until either side goes away.
async fn stream_events(api: Api, since: u64, mut socket: WebSocket) {
    let events = api.event_stream(since);
    futures::pin_mut!(events);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    if send(&mut socket, &event).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            incoming = socket.recv() => match incoming {
                // Clients only listen; anything else they send is ignored, a close ends it.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send(socket: &mut WebSocket, event: &Event) -> Result<(), axum::Error> {
    let text = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    socket.send(Message::Text(text.into())).await
}
