//! The one door into the core. The HTTP server, the Tauri shell and the CLI (through HTTP)
//! are thin adapters over [`Api`]: each of their routes or commands calls one method here,
//! under the same name.

pub mod types;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, Mutex};

use crate::config::{Config, ConfigFile};
use crate::events::{EventBus, Gap};
use crate::net::{NetError, NetHandle};
use crate::presence::validate_profile;
use crate::store::{StoreError, Table};
use types::*;

/// An API failure, as the UI sees it: a code from a closed set and a sentence for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

/// Errors cross IPC as their `{code, message}` body.
impl serde::Serialize for ApiError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body().serialize(s)
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let code = match e {
            NetError::Stopped => ErrorCode::Unavailable,
            NetError::Dial { .. } | NetError::DialTimeout(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(ErrorCode::Internal, e.to_string())
    }
}

impl From<crate::config::ConfigError> for ApiError {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::new(ErrorCode::Internal, e.to_string())
    }
}

pub(crate) const PROFILE_TABLE: &str = "profile_v1";
pub(crate) const PROFILE_KEY: &str = "self";
pub(crate) const BLOCKED_TABLE: &str = "blocked_v1";

struct Inner {
    net: NetHandle,
    bus: EventBus,
    started: Instant,
    profile: Mutex<Profile>,
    profiles: Table<Profile>,
    blocked: Table<bool>,
    /// Serialises edits of `hearth.toml`.
    config: Mutex<Config>,
}

/// The node's API. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

fn parse_peer(id: &str) -> Result<PeerId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a peer id")))
}

fn parse_addr(addr: &str) -> Result<Multiaddr, ApiError> {
    addr.trim().parse().map_err(|e| {
        ApiError::bad_request(format!(
            "{addr:?} is not a network address ({e}); it looks like /ip4/192.0.2.7/tcp/4710/p2p/12D3Koo..."
        ))
    })
}

impl Api {
    pub(crate) fn new(
        net: NetHandle,
        bus: EventBus,
        profile: Profile,
        profiles: Table<Profile>,
        blocked: Table<bool>,
        config: Config,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                net,
                bus,
                started: Instant::now(),
                profile: Mutex::new(profile),
                profiles,
                blocked,
                config: Mutex::new(config),
            }),
        }
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.net.local_peer_id()
    }

    pub async fn status(&self) -> Result<Status, ApiError> {
        let net = self.inner.net.status().await?;
        Ok(Status {
            peer_id: self.peer_id().to_string(),
            version: env!("CARGO_PKG_VERSION").into(),
            profile: self.inner.profile.lock().await.clone(),
            listen_addrs: net.listen_addrs.iter().map(ToString::to_string).collect(),
            peers_online: net.peers_online as u32,
            peers_connected: net.peers_connected as u32,
            uptime_secs: self.inner.started.elapsed().as_secs(),
            nat: net.nat,
        })
    }

    pub async fn get_profile(&self) -> Result<Profile, ApiError> {
        Ok(self.inner.profile.lock().await.clone())
    }

    /// Saves the profile (durably), announces it to the network, and emits `profile_changed`.
    pub async fn set_profile(&self, profile: Profile) -> Result<Profile, ApiError> {
        let profile = Profile {
            display_name: profile.display_name.trim().to_owned(),
            affiliation: profile.affiliation.trim().to_owned(),
            bio: profile.bio.trim().to_owned(),
        };
        validate_profile(&profile).map_err(ApiError::bad_request)?;
        let mut current = self.inner.profile.lock().await;
        self.inner.profiles.put(PROFILE_KEY, &profile).await?;
        *current = profile.clone();
        self.inner.net.set_profile(profile.clone()).await?;
        self.inner.bus.emit(EventKind::ProfileChanged {
            peer_id: self.peer_id().to_string(),
            profile: profile.clone(),
        });
        Ok(profile)
    }

    pub async fn list_peers(&self) -> Result<Vec<PeerInfo>, ApiError> {
        Ok(self.inner.net.peers().await?)
    }

    /// Connects to a peer by address and waits until the connection is up.
    pub async fn connect(&self, addr: String) -> Result<(), ApiError> {
        let addr = parse_addr(&addr)?;
        self.inner.net.dial(addr).await?;
        Ok(())
    }

    /// Drops the peer's connections and refuses new ones, across restarts.
    pub async fn block_peer(&self, peer_id: String) -> Result<(), ApiError> {
        let peer = parse_peer(&peer_id)?;
        if peer == self.peer_id() {
            return Err(ApiError::bad_request("you cannot block yourself"));
        }
        self.inner.blocked.put(&peer.to_string(), &true).await?;
        Ok(self.inner.net.set_blocked(peer, true).await?)
    }

    pub async fn unblock_peer(&self, peer_id: String) -> Result<(), ApiError> {
        let peer = parse_peer(&peer_id)?;
        self.inner.blocked.remove(&peer.to_string()).await?;
        Ok(self.inner.net.set_blocked(peer, false).await?)
    }

    pub async fn get_settings(&self) -> Result<Settings, ApiError> {
        let config = self.inner.config.lock().await;
        Ok(settings(&config))
    }

    /// Remembers a bootstrap address in `hearth.toml` and connects to it now.
    pub async fn add_bootstrap(&self, addr: String) -> Result<Settings, ApiError> {
        let parsed = parse_addr(&addr)?;
        let mut config = self.inner.config.lock().await;
        if !config.bootstrap.contains(&parsed) {
            let mut file = ConfigFile::load(&config.data_dir)?;
            let list = file.bootstrap.get_or_insert_with(Vec::new);
            list.push(parsed.to_string());
            file.save(&config.data_dir)?;
            config.bootstrap.push(parsed.clone());
        }
        self.inner.net.add_bootstrap(parsed).await?;
        Ok(settings(&config))
    }

    /// Forgets a bootstrap address (open connections stay).
    pub async fn remove_bootstrap(&self, addr: String) -> Result<Settings, ApiError> {
        let parsed = parse_addr(&addr)?;
        let mut config = self.inner.config.lock().await;
        let mut file = ConfigFile::load(&config.data_dir)?;
        if let Some(list) = file.bootstrap.as_mut() {
            list.retain(|a| a.parse::<Multiaddr>().ok().as_ref() != Some(&parsed));
        }
        file.save(&config.data_dir)?;
        config.bootstrap.retain(|a| *a != parsed);
        Ok(settings(&config))
    }

    /// Buffered events after `since`. When they are gone (or `since` is from an earlier run),
    /// a single `resync` event tells the client to refetch and continue from its id.
    pub fn events_since(&self, since: u64) -> Vec<Event> {
        self.inner
            .bus
            .since(since)
            .unwrap_or_else(|Gap| vec![self.resync_event()])
    }

    /// Buffered events after `since` plus a live receiver, with nothing missed in between.
    pub fn subscribe(&self, since: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let (past, rx) = self.inner.bus.subscribe(since);
        (past.unwrap_or_else(|Gap| vec![self.resync_event()]), rx)
    }

    /// The id of the latest event, to start a live stream from "now".
    pub fn last_event_id(&self) -> u64 {
        self.inner.bus.last_id()
    }

    /// Every event after `since`, then live ones, in id order, each once. A consumer that
    /// falls behind the live channel is caught up from the buffer; one that falls behind
    /// the buffer gets a `resync` event. Ends when the node stops.
    pub fn event_stream(&self, since: u64) -> impl Stream<Item = Event> + Send + 'static {
        let (past, rx) = self.subscribe(since);
        let state = (self.clone(), rx, since, VecDeque::from(past));
        futures::stream::unfold(state, |(api, mut rx, mut last, mut pending)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    if matches!(event.kind, EventKind::Resync) {
                        // Continue from the id the resync is about, even if it is lower
                        // than `since` (the client talked to an earlier run).
                        last = event.id;
                        return Some((event, (api, rx, last, pending)));
                    }
                    if event.id > last {
                        last = event.id;
                        return Some((event, (api, rx, last, pending)));
                    }
                    continue;
                }
                match rx.recv().await {
                    Ok(event) => pending.push_back(event),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        pending.extend(api.events_since(last))
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    fn resync_event(&self) -> Event {
        Event {
            id: self.inner.bus.last_id(),
            time_ms: crate::events::now_ms(),
            kind: EventKind::Resync,
        }
    }
}

fn settings(config: &Config) -> Settings {
    Settings {
        bootstrap: config.bootstrap.iter().map(ToString::to_string).collect(),
        mdns: config.mdns,
        listen: config.listen.iter().map(ToString::to_string).collect(),
        data_dir: config.data_dir.display().to_string(),
    }
}
