//! A client of a running node's HTTP API, used by the CLI and by tests. The node writes
//! where to find it (URL, token, pid) to `api.json` in its data dir.

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// File in the data dir that tells clients where the running node's API is.
pub const API_FILE: &str = "api.json";

/// Client errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("no running Hearth node uses {0} (start one with `hearth run`)")]
    NotRunning(PathBuf),
    #[error("cannot read {path}: {message}")]
    BadApiFile { path: PathBuf, message: String },
    #[error("cannot reach the node at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{}", .0.message)]
    Api(ApiErrorBody),
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
}

/// Contents of `api.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiFile {
    pub url: String,
    pub token: String,
    pub pid: u32,
}

impl ApiFile {
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::infra::fs::write_private(&data_dir.join(API_FILE), &text)
    }

    pub fn read(data_dir: &Path) -> Result<Self, ClientError> {
        let path = data_dir.join(API_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NotRunning(data_dir.to_path_buf()))
            }
            Err(e) => {
                return Err(ClientError::BadApiFile {
                    path,
                    message: e.to_string(),
                })
            }
        };
        serde_json::from_slice(&text).map_err(|e| ClientError::BadApiFile {
            path,
            message: e.to_string(),
        })
    }

    /// The address to open in a browser (the token travels in the fragment, never to a server).
    pub fn browser_url(&self) -> String {
        format!("{}/#token={}", self.url, self.token)
    }
}

/// An HTTP client bound to one node.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(url: &str, token: &str) -> Self {
        Self {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A client for the node running on `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ClientError> {
        let f = ApiFile::read(data_dir)?;
        Ok(Self::new(&f.url, &f.token))
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp =
            req.bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: self.base.clone(),
                    message: e.to_string(),
                })?;
        let ok = resp.status().is_success();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if ok {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
        } else {
            Err(match serde_json::from_slice::<ApiErrorBody>(&bytes) {
                Ok(body) => ClientError::Api(body),
                Err(_) => ClientError::Protocol(String::from_utf8_lossy(&bytes).into_owned()),
            })
        }
    }

    /// Runs the declared command `name` (see `api::commands`): the one request every typed
    /// method below makes.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        name: &str,
        request: &B,
    ) -> Result<T, ClientError> {
        self.send(
            self.http
                .post(format!("{}/api/{name}", self.base))
                .json(request),
        )
        .await
    }
}

/// One typed method per declared command, named as the command.
macro_rules! client_methods {
    ($( $(#[$doc:meta])* $name:ident ( $($req:ty)? ) -> $res:ty ; )*) => {
        use crate::api::dto::*;
        impl Client {
            $( client_methods!(@one $(#[$doc])* $name ($($req)?) -> $res); )*
        }
    };
    (@one $(#[$doc:meta])* $name:ident ($req:ty) -> $res:ty) => {
        $(#[$doc])*
        pub async fn $name(&self, request: &$req) -> Result<$res, ClientError> {
            self.call(stringify!($name), request).await
        }
    };
    (@one $(#[$doc:meta])* $name:ident () -> $res:ty) => {
        $(#[$doc])*
        pub async fn $name(&self) -> Result<$res, ClientError> {
            self.call(stringify!($name), &()).await
        }
    };
}

crate::for_each_command!(client_methods);
