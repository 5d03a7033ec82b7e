//! The headless front door: the built UI and the [`Api`] over HTTP + WebSocket, on loopback.
//!
//! Every route is a one-line adapter over an `Api` method of the same name. Protection
//! against other web pages on the same machine (CSRF, DNS rebinding): requests whose `Host`
//! or `Origin` is not this server's own loopback address get 403; `/api/` requests need the
//! access token (`Authorization: Bearer`; `?token=` only for the WebSocket, media and
//! thumbnails, which browsers fetch without headers) or get 401.

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

use super::guard::{check_host_and_origin, require_token, require_token_or_query, Guard};
use crate::api::dto::{ErrorCode, Event, PublishRequest, Resource, ResourceKind};
use crate::api::{Api, ApiError};

/// Largest request body the API accepts.
const MAX_BODY: usize = 64 * 1024;
/// Largest body of `set_avatar`: a 10 MB image in base64, and its JSON around it.
const MAX_AVATAR_BODY: usize =
    crate::infra::thumbnail::MAX_AVATAR_SOURCE_BYTES.div_ceil(3) * 4 + 1024;
/// A `set_avatar` body is read (and dropped) up to this size before it is refused as too
/// large; a larger one is cut off.
const MAX_AVATAR_DRAIN: usize = 64 << 20;
/// Content Security Policy of everything served by a server on `local`. The UI talks only to
/// its own origin: `fetch` to `'self'`, and the event WebSocket to this server's own address
/// (named explicitly: older browsers do not count `ws:` as `'self'`); no other host. A CSP
/// host cannot be an IPv6 literal (browsers drop `ws://[::1]:port` with a warning), so a page
/// opened on an IPv6 address relies on `'self'`, which CSP 3 browsers match for `ws:` too.
pub fn csp(local: SocketAddr) -> String {
    let port = local.port();
    let mut ws: Vec<String> = ["127.0.0.1", "localhost"]
        .iter()
        .map(|h| format!("ws://{h}:{port}"))
        .collect();
    if local.is_ipv4() && !local.ip().is_loopback() && !local.ip().is_unspecified() {
        ws.push(format!("ws://{local}"));
    }
    format!(
        "default-src 'self'; script-src 'self'; connect-src 'self' {}; \
         img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
        ws.join(" ")
    )
}

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

    // The WebSocket cannot send headers: its token may come as `?token=`; no command's may.
    let events =
        Router::new()
            .route("/events/ws", get(events_ws))
            .layer(middleware::from_fn_with_state(
                guard.clone(),
                require_token_or_query,
            ));
    let api_routes = Router::new()
        .route("/upload", post(upload))
        .route(
            "/set_avatar",
            post(set_avatar).layer(DefaultBodyLimit::disable()),
        )
        .route("/{command}", post(command))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such API route") })
        .layer(middleware::from_fn_with_state(guard.clone(), require_token))
        .merge(events)
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
        .route("/avatars/{hash}", get(avatar))
        .layer(middleware::from_fn_with_state(
            guard.clone(),
            require_token_or_query,
        ))
        .with_state(api.clone());

    Router::new()
        .nest("/api", api_routes)
        .merge(media_routes)
        .merge(ui)
        .layer(middleware::from_fn_with_state(guard, check_host_and_origin))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp(local)).expect("the CSP is plain ASCII"),
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

/// `set_avatar`, the one command whose request may be larger than [`MAX_BODY`]. A body over
/// [`MAX_AVATAR_BODY`] is read to its end and dropped (up to [`MAX_AVATAR_DRAIN`]) before the
/// refusal is sent: a client still sending when the server answers would see its connection
/// reset instead of the reason.
async fn set_avatar(
    State(api): State<Api>,
    body: axum::body::Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let too_large = || {
        ApiError::bad_request(format!(
            "the picture is larger than {} MB",
            crate::infra::thumbnail::MAX_AVATAR_SOURCE_BYTES / (1024 * 1024)
        ))
    };
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the request: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen > MAX_AVATAR_DRAIN {
            return Err(too_large());
        }
        if seen <= MAX_AVATAR_BODY {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_AVATAR_BODY {
        return Err(too_large());
    }
    command(State(api), Path("set_avatar".to_owned()), kept.into()).await
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

async fn avatar(State(api): State<Api>, Path(hash): Path<String>) -> Result<Response, ApiError> {
    let (bytes, mime) = api.avatar(&hash).await?;
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

#[cfg(test)]
mod tests {
    use super::csp;

    #[test]
    fn the_csp_names_only_hosts_browsers_accept() {
        for local in [
            "127.0.0.1:4711",
            "[::1]:4711",
            "192.168.1.5:4711",
            "[fe80::1]:4711",
        ] {
            let policy = csp(local.parse().unwrap());
            assert!(!policy.contains('['), "{local}: {policy}");
            assert!(policy.contains("connect-src 'self' ws://127.0.0.1:4711 ws://localhost:4711"));
        }
        assert!(csp("192.168.1.5:4711".parse().unwrap()).contains("ws://192.168.1.5:4711;"));
    }
}
