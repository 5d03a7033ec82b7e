//! Hearth's core: a peer-to-peer node for communities that share knowledge.
//!
//! Layers, each using only the ones below it:
//! `api` -> features (`presence`, `catalog`, `sharing` over `transfer` and `library`,
//! `search`, `thumbnail`; later chat, trust) ->
//! `net` / `store` -> libp2p / sled. Front-ends (the HTTP server in [`http`], the Tauri shell,
//! the CLI) only ever call [`api::Api`]. Nothing here knows about Tauri or any UI.

pub mod api;
pub mod catalog;
pub mod chat;
pub mod client;
pub mod config;
pub mod http;
pub mod infra;
pub mod mirror;
pub mod net;
pub mod node;
pub mod sharing;
pub mod transfer;

pub use api::Api;
pub use config::Config;
pub use node::Node;
