//! Who may use the headless server: protection against other web pages on the same machine
//! (CSRF, DNS rebinding) and the access token.
//!
//! Requests whose `Host` or `Origin` is not this server's own loopback address get 403;
//! `/api/` and media requests need the access token or get 401: `Authorization: Bearer`
//! ([`require_token`]), or `?token=` only on the GETs a browser cannot give headers (the
//! event WebSocket, `<video>` and `<img>`: [`require_token_or_query`]). A token in a URL
//! ends up in logs and history, so no command (`POST /api/...`) takes it there.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::dto::ErrorCode;
use crate::api::ApiError;

/// What requests must match: the token, and the `Host`/`Origin` values of this server.
pub(super) struct Guard {
    token: String,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Guard {
    /// The guard of a server listening on `local`.
    pub(super) fn new(token: String, local: SocketAddr) -> Self {
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
        Self {
            token,
            hosts,
            origins,
        }
    }
}

fn forbidden(message: &str) -> Response {
    ApiError::new(ErrorCode::Forbidden, message).into_response()
}

pub(super) async fn check_host_and_origin(
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

/// The token in `Authorization: Bearer` only (every command).
pub(super) async fn require_token(
    State(guard): State<Arc<Guard>>,
    req: Request,
    next: Next,
) -> Response {
    check_token(&guard, req, next, false).await
}

/// The token in `Authorization: Bearer`, or as `?token=` on a GET (the event WebSocket,
/// media and thumbnails, which browsers fetch without headers).
pub(super) async fn require_token_or_query(
    State(guard): State<Arc<Guard>>,
    req: Request,
    next: Next,
) -> Response {
    let query_ok = req.method() == axum::http::Method::GET;
    check_token(&guard, req, next, query_ok).await
}

async fn check_token(guard: &Guard, req: Request, next: Next, query_ok: bool) -> Response {
    let query = req.uri().query().filter(|_| query_ok);
    let given = presented_token(req.headers(), query);
    if !given.is_some_and(|t| constant_time_eq(t.as_bytes(), guard.token.as_bytes())) {
        return ApiError::new(ErrorCode::Unauthorized, "missing or wrong access token")
            .into_response();
    }
    next.run(req).await
}
