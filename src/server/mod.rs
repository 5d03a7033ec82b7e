//! The front doors that are not Tauri: the headless HTTP + WebSocket server over [`Api`]
//! (`http`, guarded by `guard`), and the typed client of that server (`client`), used by the
//! CLI, tests and benches.
//!
//! Uses only `api` (and `infra` for tokens and files); every route is generated from the
//! command declaration (`api::commands`) or is one of the few special ones (upload, events,
//! media, thumbnails).
//!
//! [`Api`]: crate::api::Api

pub mod client;
mod guard;
pub mod http;
