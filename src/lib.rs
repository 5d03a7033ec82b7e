//! Hearth's core: a peer-to-peer node for communities that share knowledge.
//!
//! One folder per feature; dependencies point down: [`api`] -> features ([`catalog`],
//! [`sharing`], [`mirror`], [`chat`], [`transfer`]) -> [`net`] -> [`infra`]. Each folder's
//! `mod.rs` says what it owns and what it may use. Front-ends (the HTTP server in [`server`],
//! the Tauri shell, the CLI through its client) only ever call [`api::Api`]. Nothing here knows
//! about Tauri or any UI.
//!
//! - [`api`]: the one door into the core: typed commands, the event stream, `{code, message}`
//!   errors.
//! - [`catalog`]: signed feeds, records, search, holders and availability, replication.
//! - [`sharing`]: publishing, shared folders, downloads and playback: the catalog tied to the
//!   transfers.
//! - [`mirror`]: following peers and mirroring their resources within a quota.
//! - [`chat`]: group rooms that survive their host, and direct messages.
//! - [`transfer`]: BitTorrent on librqbit: create and seed torrents, validated downloads.
//! - [`net`]: the libp2p swarm in one task, its protocols and codecs, and presence.
//! - [`infra`]: plumbing that knows no feature: store, vault, events, thumbnails, files,
//!   tokens, logging.
//! - [`node`]: start and shutdown order, identity, the tasks it owns; [`config`]: defaults <
//!   `hearth.toml` < `HEARTH_*` environment < flags.
//! - [`server`]: the headless HTTP + WebSocket server, its guard, and the typed client.

pub mod api;
pub mod catalog;
pub mod chat;
pub mod config;
#[doc(hidden)]
pub mod fuzz;
pub mod infra;
pub mod mirror;
pub mod net;
pub mod node;
pub mod server;
pub mod sharing;
pub mod transfer;

pub use api::Api;
pub use config::Config;
pub use node::Node;
