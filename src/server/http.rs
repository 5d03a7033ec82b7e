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

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use super::guard::{check_host_and_origin, require_token, Guard};
use crate::api::dto::{ErrorCode, Event, PublishRequest, Resource, ResourceKind};
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
    let guard = Arc::new(Guard::new(token, local));

    let api_routes = Router::new()
        .route("/upload", post(upload))
        .route("/events/ws", get(events_ws))
        .route("/{command}", post(command))
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

/// `POST /api/<command>`: the declared command of that name (see `api::commands`) with the
/// JSON body as its request (no body: a command that takes nothing).
async fn command(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the request is not JSON: {e}")))?
    };
    api.call(&name, request).await.map(Json)
}

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

#[derive(Debug, Deserialize, Serialize)]
struct Since {
    #[serde(default)]
    since: u64,
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
