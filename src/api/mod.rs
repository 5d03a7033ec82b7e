//! The one door into the core. The HTTP server, the Tauri shell and the CLI (through HTTP)
//! are thin adapters over [`Api`]: each of their routes or commands calls one method here,
//! under the same name.

mod command_list;
pub mod commands;
pub mod dto;
mod error;

pub use error::ApiError;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, Mutex};

use crate::catalog::feed::FeedProfile;
use crate::catalog::Catalog;
use crate::chat::actor::ChatHandle;
use crate::config::{Config, ConfigFile};
use crate::infra::events::{EventBus, Gap};
use crate::infra::store::Table;
use crate::mirror::Mirror;
use crate::net::invite::Invite;
use crate::net::presence::validate_profile;
use crate::net::NetHandle;
use crate::sharing::media::Media;
use crate::sharing::Sharing;
use dto::*;

/// Largest preview image the UI may send (it is recompressed to a small thumbnail).
const MAX_PREVIEW_UPLOAD: usize = 4 * 1024 * 1024;

pub(crate) const PROFILE_TABLE: &str = "profile_v1";
pub(crate) const PROFILE_KEY: &str = "self";
pub(crate) const BLOCKED_TABLE: &str = "blocked_v1";

struct Inner {
    net: NetHandle,
    bus: EventBus,
    started: Instant,
    profile: Mutex<Profile>,
    profiles: Table<FeedProfile>,
    blocked: Table<bool>,
    /// Serialises edits of `hearth.toml`.
    config: Mutex<Config>,
    catalog: Catalog,
    sharing: Sharing,
    mirror: Mirror,
    chat: ChatHandle,
    bt_port: u16,
    /// Settings saved for the next start (see `update_settings`).
    pending_restart: std::sync::Mutex<Vec<String>>,
    /// Wakes whoever runs the node (`hearth run`, the desktop app) to restart it.
    restart: tokio::sync::Notify,
}

/// What the node hands the API when it starts.
pub(crate) struct ApiParts {
    pub net: NetHandle,
    pub bus: EventBus,
    pub profile: Profile,
    pub profiles: Table<FeedProfile>,
    pub blocked: Table<bool>,
    pub config: Config,
    pub catalog: Catalog,
    pub sharing: Sharing,
    pub mirror: Mirror,
    pub chat: ChatHandle,
    pub bt_port: u16,
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

/// Lowest speed limit accepted, bytes per second (below it BitTorrent stalls).
const MIN_RATE_LIMIT_BPS: u32 = 10_000;
/// Most listen addresses.
const MAX_LISTEN: usize = 8;

/// Listen addresses as a user typed them: IP (or `/dns`) with TCP, or UDP with QUIC.
fn parse_listen(list: &[String]) -> Result<Vec<Multiaddr>, ApiError> {
    use libp2p::multiaddr::Protocol;
    if list.is_empty() || list.len() > MAX_LISTEN {
        return Err(ApiError::bad_request(format!(
            "give between 1 and {MAX_LISTEN} listen addresses"
        )));
    }
    list.iter()
        .map(|text| {
            let addr = parse_addr(text)?;
            let parts: Vec<Protocol> = addr.iter().collect();
            let ok = matches!(
                parts.as_slice(),
                [Protocol::Ip4(_) | Protocol::Ip6(_), Protocol::Tcp(_)]
                    | [
                        Protocol::Ip4(_) | Protocol::Ip6(_),
                        Protocol::Udp(_),
                        Protocol::QuicV1
                    ]
            );
            if ok {
                Ok(addr)
            } else {
                Err(ApiError::bad_request(format!(
                    "{text:?} cannot be listened on: use /ip4/ADDRESS/tcp/PORT or \
                     /ip4/ADDRESS/udp/PORT/quic-v1 (0.0.0.0 for every interface)"
                )))
            }
        })
        .collect()
}

/// A download folder as a user typed it: absolute, created if missing, writable.
fn check_download_dir(dir: &str) -> Result<std::path::PathBuf, ApiError> {
    let path = std::path::PathBuf::from(dir.trim());
    if !path.is_absolute() {
        return Err(ApiError::bad_request(format!(
            "{dir:?} is not an absolute path (it starts with /)"
        )));
    }
    std::fs::create_dir_all(&path).map_err(|e| {
        ApiError::bad_request(format!("cannot use {} for downloads: {e}", path.display()))
    })?;
    let probe = path.join(format!(
        ".hearth-probe-{}",
        crate::infra::token::random_token()
    ));
    std::fs::write(&probe, b"")
        .map_err(|e| ApiError::bad_request(format!("cannot write in {}: {e}", path.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(path)
}

fn parse_addr(addr: &str) -> Result<Multiaddr, ApiError> {
    addr.trim().parse().map_err(|e| {
        ApiError::bad_request(format!(
            "{addr:?} is not a network address ({e}); it looks like /ip4/192.0.2.7/tcp/4710/p2p/12D3Koo..."
        ))
    })
}

impl Api {
    pub(crate) fn new(parts: ApiParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                net: parts.net,
                bus: parts.bus,
                started: Instant::now(),
                profile: Mutex::new(parts.profile),
                profiles: parts.profiles,
                blocked: parts.blocked,
                config: Mutex::new(parts.config),
                catalog: parts.catalog,
                sharing: parts.sharing,
                mirror: parts.mirror,
                chat: parts.chat,
                bt_port: parts.bt_port,
                pending_restart: Default::default(),
                restart: tokio::sync::Notify::new(),
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
            relay_reservations: net.relay_reservations,
            relay_service: net.relay_service,
            bt_port: self.inner.bt_port,
            bt_streams: self.inner.net.bt_streams().open_streams() as u32,
            bt_streams_total: self.inner.net.bt_streams().opened_streams(),
            video_previews: crate::infra::thumbnail::ffmpeg_available(),
            refused: net.refused,
        })
    }

    pub async fn get_profile(&self) -> Result<Profile, ApiError> {
        Ok(self.inner.profile.lock().await.clone())
    }

    /// Saves the profile (durably), announces it to the network, and emits `profile_changed`.
    /// The picture is kept as it is (see [`Api::set_avatar`]).
    pub async fn set_profile(&self, profile: Profile) -> Result<Profile, ApiError> {
        let mut current = self.inner.profile.lock().await;
        let profile = Profile {
            display_name: profile.display_name.trim().to_owned(),
            affiliation: profile.affiliation.trim().to_owned(),
            bio: profile.bio.trim().to_owned(),
            avatar: current.avatar.clone(),
        };
        self.publish_profile(&mut current, profile).await
    }

    /// Sets the profile picture from the bytes of an image file (base64): it is decoded
    /// behind limits, cropped square, scaled to 256 px and re-encoded under 64 KiB, then
    /// announced with the profile. No image removes the picture.
    pub async fn set_avatar(&self, req: AvatarRequest) -> Result<Profile, ApiError> {
        use crate::infra::thumbnail::MAX_AVATAR_SOURCE_BYTES;
        let too_large = || {
            ApiError::bad_request(format!(
                "the picture is larger than {} MB",
                MAX_AVATAR_SOURCE_BYTES / (1024 * 1024)
            ))
        };
        let hash = match req.image.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(b64) => {
                if b64.len() > MAX_AVATAR_SOURCE_BYTES.div_ceil(3) * 4 {
                    return Err(too_large());
                }
                use base64::Engine as _;
                let image = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| ApiError::bad_request("the picture is not base64"))?;
                if image.len() > MAX_AVATAR_SOURCE_BYTES {
                    return Err(too_large());
                }
                let avatar = tokio::task::spawn_blocking(move || {
                    crate::infra::thumbnail::avatar_from_image_bytes(&image)
                })
                .await
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
                .map_err(|e| ApiError::bad_request(format!("cannot use this picture: {e}")))?;
                Some(self.inner.catalog.put_avatar(&avatar, true).await?)
            }
        };
        let mut current = self.inner.profile.lock().await;
        let profile = Profile {
            avatar: hash,
            ..current.clone()
        };
        self.publish_profile(&mut current, profile).await
    }

    /// A profile picture (this node's or a peer's) by its hash, and its image type.
    pub async fn avatar(&self, hash: &str) -> Result<(Vec<u8>, &'static str), ApiError> {
        let hash = hash.to_ascii_lowercase();
        if !crate::net::presence::is_avatar_hash(&hash) {
            return Err(ApiError::bad_request("not a picture hash"));
        }
        let bytes = self
            .inner
            .catalog
            .avatar(&hash)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such picture here (yet)"))?;
        let mime = crate::infra::thumbnail::image_mime(&bytes);
        Ok((bytes, mime))
    }

    async fn publish_profile(
        &self,
        current: &mut Profile,
        profile: Profile,
    ) -> Result<Profile, ApiError> {
        validate_profile(&profile).map_err(ApiError::bad_request)?;
        self.inner
            .profiles
            .put(PROFILE_KEY, &FeedProfile::from(profile.clone()))
            .await?;
        *current = profile.clone();
        self.inner.net.set_profile(profile.clone()).await?;
        // Also in the feed, so the name travels with this node's catalog while it is offline.
        self.inner
            .catalog
            .append_local(crate::catalog::feed::Body::Profile {
                profile: profile.clone().into(),
            })
            .await?;
        self.inner.bus.emit(EventKind::ProfileChanged {
            peer_id: self.peer_id().to_string(),
            profile: profile.clone(),
        });
        Ok(profile)
    }

    pub async fn list_peers(&self) -> Result<Vec<PeerInfo>, ApiError> {
        Ok(self.inner.net.peers().await?)
    }

    /// Explains in plain words how a peer is reached, or why it cannot be and what would
    /// fix it.
    pub async fn doctor(&self, req: PeerIdRequest) -> Result<Diagnosis, ApiError> {
        let net = self.inner.net.status().await?;
        let peers = self.inner.net.peers().await?;
        let listen: Vec<String> = net.listen_addrs.iter().map(ToString::to_string).collect();
        let peer = peers.iter().find(|p| p.peer_id == req.peer_id);
        Ok(crate::net::nat::diagnose(crate::net::nat::Facts {
            nat: &net.nat,
            listen_addrs: &listen,
            relay_reservations: &net.relay_reservations,
            relay_service: &net.relay_service,
            peer_id: &req.peer_id,
            peer,
        }))
    }

    /// Connects to a peer by address and waits until the connection is up.
    pub async fn connect(&self, req: AddrRequest) -> Result<(), ApiError> {
        let addr = parse_addr(&req.addr)?;
        self.inner.net.dial(addr).await?;
        Ok(())
    }

    /// An invite to this node: its best addresses (relayed ones included), and who can use it.
    pub async fn create_invite(&self) -> Result<InviteInfo, ApiError> {
        let net = self.inner.net.status().await?;
        let name = self.inner.profile.lock().await.display_name.clone();
        let invite = Invite::new(
            self.peer_id(),
            &name,
            &net.external_addrs,
            &net.listen_addrs,
        );
        let reach = invite.reach();
        Ok(InviteInfo {
            text: invite.encode(),
            peer_id: invite.peer.to_string(),
            addrs: invite.addrs.iter().map(ToString::to_string).collect(),
            reach: reach.name().into(),
            explanation: reach.explain().into(),
        })
    }

    /// Connects to the peer an invite names, trying every address this node could reach
    /// at once, and says how the connection goes.
    pub async fn join(&self, req: JoinRequest) -> Result<Joined, ApiError> {
        let invite =
            Invite::decode(&req.invite).map_err(|e| ApiError::bad_request(e.to_string()))?;
        if invite.peer == self.peer_id() {
            return Err(ApiError::bad_request(
                "that invite is your own: give it to the person you want to invite",
            ));
        }
        // Joining someone by their invite counts as knowing them: their messages go
        // straight through rather than to Requests.
        if let Err(e) = self.inner.chat.interacted(invite.peer).await {
            tracing::warn!("cannot record the invite's peer as known: {e}");
        }
        let who = if invite.name.is_empty() {
            invite.peer.to_string()
        } else {
            format!("{} ({})", invite.name, invite.peer)
        };
        let link = |peers: &[PeerInfo]| {
            let id = invite.peer.to_string();
            peers
                .iter()
                .find(|p| p.peer_id == id && p.connected)
                .map(|p| p.connection.clone())
        };
        if let Some(connection) = link(&self.inner.net.peers().await?) {
            return Ok(Joined {
                peer_id: invite.peer.to_string(),
                name: invite.name,
                connection,
                already_connected: true,
            });
        }
        let own = self.inner.net.status().await?.listen_addrs;
        let addrs: Vec<Multiaddr> = invite
            .dial_addrs()
            .into_iter()
            .filter(|a| crate::net::peer_book::dialable(a, &own))
            .collect();
        if addrs.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the invite from {who} has only addresses of another local network ({}); \
                     ask for a new invite once their node has a relay or a public address",
                    invite
                        .addrs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Err(e) = self.inner.net.dial_any(invite.peer, addrs).await {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "could not reach {who}: {e}. Is their Hearth running? If it is, run \
                     `hearth doctor {}` (or see Peers) for what blocks the connection",
                    invite.peer
                ),
            ));
        }
        let connection = link(&self.inner.net.peers().await?).flatten();
        Ok(Joined {
            peer_id: invite.peer.to_string(),
            name: invite.name,
            connection,
            already_connected: false,
        })
    }

    /// Drops the peer's connections and refuses new ones, across restarts.
    pub async fn block_peer(&self, req: PeerIdRequest) -> Result<(), ApiError> {
        let peer = parse_peer(&req.peer_id)?;
        if peer == self.peer_id() {
            return Err(ApiError::bad_request("you cannot block yourself"));
        }
        self.inner.blocked.put(&peer.to_string(), &true).await?;
        Ok(self.inner.net.set_blocked(peer, true).await?)
    }

    pub async fn unblock_peer(&self, req: PeerIdRequest) -> Result<(), ApiError> {
        let peer = parse_peer(&req.peer_id)?;
        self.inner.blocked.remove(&peer.to_string()).await?;
        Ok(self.inner.net.set_blocked(peer, false).await?)
    }

    fn settings(&self, config: &Config) -> Settings {
        Settings {
            bootstrap: config.bootstrap.iter().map(ToString::to_string).collect(),
            mdns: config.mdns,
            listen: config.listen.iter().map(ToString::to_string).collect(),
            data_dir: config.data_dir.display().to_string(),
            download_dir: config.download_dir.display().to_string(),
            mirror_quota_bytes: self.inner.mirror.quota(),
            mirror_used_bytes: self.inner.mirror.used(),
            bt_download_limit_bps: config.bt_download_limit_bps,
            bt_upload_limit_bps: config.bt_upload_limit_bps,
            relay_service: config.relay_service,
            notifications: config.notifications,
            close_to_tray: config.close_to_tray,
            pending_restart: self
                .inner
                .pending_restart
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
        }
    }

    /// Changes settings and saves them in `hearth.toml`. Speed limits, notifications and
    /// closing to the tray apply at once; the rest (`mdns`, `listen`, `download_dir`,
    /// `relay_service`) at the next start, and is listed in `pending_restart` until then.
    /// Everything is checked before anything is saved.
    pub async fn update_settings(&self, req: SettingsUpdate) -> Result<Settings, ApiError> {
        let listen = match &req.listen {
            Some(list) => Some(parse_listen(list)?),
            None => None,
        };
        let download_dir = match &req.download_dir {
            Some(dir) => Some(check_download_dir(dir)?),
            None => None,
        };
        let limit = |name: &str, bps: Option<u32>| match bps {
            Some(0) => Ok(Some(None)),
            Some(n) if n < MIN_RATE_LIMIT_BPS => Err(ApiError::bad_request(format!(
                "{name} of {n} bytes/s is too low: at least {MIN_RATE_LIMIT_BPS} (0 for no limit)"
            ))),
            Some(n) => Ok(Some(Some(n))),
            None => Ok(None),
        };
        let down = limit("the download limit", req.bt_download_limit_bps)?;
        let up = limit("the upload limit", req.bt_upload_limit_bps)?;

        let mut config = self.inner.config.lock().await;
        let mut file = ConfigFile::load(&config.data_dir)?;
        let mut restart = Vec::new();
        if let Some(on) = req.mdns.filter(|on| *on != config.mdns) {
            file.mdns = Some(on);
            config.mdns = on;
            restart.push("mdns");
        }
        if let Some(listen) = listen.filter(|l| *l != config.listen) {
            file.listen = Some(listen.iter().map(ToString::to_string).collect());
            config.listen = listen;
            restart.push("listen");
        }
        if let Some(dir) = download_dir.filter(|d| *d != config.download_dir) {
            file.download_dir = Some(dir.clone());
            config.download_dir = dir;
            restart.push("download_dir");
        }
        if let Some(on) = req.relay_service.filter(|on| *on != config.relay_service) {
            file.relay_service = Some(on);
            config.relay_service = on;
            restart.push("relay_service");
        }
        if let Some(d) = down {
            file.bt_download_limit_bps = d;
            config.bt_download_limit_bps = d;
        }
        if let Some(u) = up {
            file.bt_upload_limit_bps = u;
            config.bt_upload_limit_bps = u;
        }
        if let Some(n) = req.notifications {
            file.notifications = Some(n);
            config.notifications = n;
        }
        if let Some(on) = req.close_to_tray {
            file.close_to_tray = Some(on);
            config.close_to_tray = on;
        }
        file.save(&config.data_dir)?;
        if down.is_some() || up.is_some() {
            self.inner
                .sharing
                .set_rate_limits(config.bt_download_limit_bps, config.bt_upload_limit_bps)?;
        }
        if let Ok(mut pending) = self.inner.pending_restart.lock() {
            for name in restart {
                if !pending.iter().any(|p| p == name) {
                    pending.push(name.to_owned());
                }
            }
        }
        let settings = self.settings(&config);
        self.inner.bus.emit(EventKind::SettingsChanged {
            settings: settings.clone(),
        });
        Ok(settings)
    }

    /// Asks whoever runs the node to stop it and start it again.
    pub async fn restart(&self) -> Result<(), ApiError> {
        tracing::info!("restart requested");
        self.inner.restart.notify_one();
        Ok(())
    }

    /// Resolves when `restart` was called (for the process that runs the node).
    pub async fn restart_requested(&self) {
        self.inner.restart.notified().await;
    }

    /// Sets the disk space mirrors may use. Lowering it evicts nothing at once; new items
    /// make room as the quota rule says (`mirror.rs`).
    pub async fn set_mirror_quota(&self, req: QuotaRequest) -> Result<Settings, ApiError> {
        self.inner.mirror.set_quota(req.bytes).await?;
        self.get_settings().await
    }

    pub async fn get_settings(&self) -> Result<Settings, ApiError> {
        let config = self.inner.config.lock().await;
        Ok(self.settings(&config))
    }

    /// Remembers a bootstrap address in `hearth.toml` and connects to it now.
    pub async fn add_bootstrap(&self, req: AddrRequest) -> Result<Settings, ApiError> {
        let parsed = parse_addr(&req.addr)?;
        let mut config = self.inner.config.lock().await;
        if !config.bootstrap.contains(&parsed) {
            let mut file = ConfigFile::load(&config.data_dir)?;
            let list = file.bootstrap.get_or_insert_with(Vec::new);
            list.push(parsed.to_string());
            file.save(&config.data_dir)?;
            config.bootstrap.push(parsed.clone());
        }
        self.inner.net.add_bootstrap(parsed).await?;
        Ok(self.settings(&config))
    }

    /// Forgets a bootstrap address (open connections stay).
    pub async fn remove_bootstrap(&self, req: AddrRequest) -> Result<Settings, ApiError> {
        let parsed = parse_addr(&req.addr)?;
        let mut config = self.inner.config.lock().await;
        let mut file = ConfigFile::load(&config.data_dir)?;
        if let Some(list) = file.bootstrap.as_mut() {
            list.retain(|a| a.parse::<Multiaddr>().ok().as_ref() != Some(&parsed));
        }
        file.save(&config.data_dir)?;
        config.bootstrap.retain(|a| *a != parsed);
        Ok(self.settings(&config))
    }

    // ----- catalog and sharing -----

    /// Publishes a file or folder on this node's disk.
    pub async fn publish(&self, req: PublishRequest) -> Result<Resource, ApiError> {
        Ok(self.inner.sharing.publish(req).await?)
    }

    /// Publishes a file sent as a byte stream (an upload from the browser).
    pub async fn upload<S, E>(
        &self,
        name: &str,
        meta: PublishRequest,
        body: S,
    ) -> Result<Resource, ApiError>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        Ok(self.inner.sharing.upload(name, meta, body).await?)
    }

    pub async fn unpublish(&self, req: ContentIdRequest) -> Result<(), ApiError> {
        Ok(self
            .inner
            .sharing
            .unpublish(&self::content_id(&req.content_id)?)
            .await?)
    }

    pub async fn update_resource(&self, req: UpdateResourceRequest) -> Result<Resource, ApiError> {
        Ok(self.inner.sharing.update(req).await?)
    }

    pub async fn search(&self, req: SearchRequest) -> Result<SearchResult, ApiError> {
        let catalog = self.inner.catalog.clone();
        tokio::task::spawn_blocking(move || catalog.search(&req))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
            .map_err(Into::into)
    }

    pub async fn get_resource(&self, req: ContentIdRequest) -> Result<Resource, ApiError> {
        Ok(self
            .inner
            .catalog
            .resource(&self::content_id(&req.content_id)?)?)
    }

    pub async fn list_holders(&self, req: ContentIdRequest) -> Result<Vec<Holder>, ApiError> {
        Ok(self
            .inner
            .catalog
            .holders(&self::content_id(&req.content_id)?))
    }

    /// Bytes of file `file` (0 for a one-file resource) of a resource for a player, as the
    /// `Range` header asks; see [`crate::sharing::media`]. Starts fetching it if it is not here.
    /// `limit` caps the bytes answered, for transports that cannot stream a body.
    pub async fn media(
        &self,
        content_id: &str,
        file: usize,
        range: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Media, ApiError> {
        let id = self::content_id(content_id)?;
        let media = self.inner.sharing.media(&id, file, range, limit).await?;
        self.inner.mirror.watched(&id);
        Ok(media)
    }

    /// A resource's thumbnail by its hash (see [`Resource::thumbnail_hash`]), and its type.
    pub async fn thumbnail(
        &self,
        content_id: &str,
        hash: &str,
    ) -> Result<(Vec<u8>, &'static str), ApiError> {
        self.inner
            .catalog
            .thumbnail(&self::content_id(content_id)?, &hash.to_ascii_lowercase())?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such thumbnail"))
    }

    /// Gives one of my resources a thumbnail (and duration) taken by the UI.
    pub async fn set_preview(&self, req: PreviewRequest) -> Result<Resource, ApiError> {
        use base64::Engine as _;
        let image = base64::engine::general_purpose::STANDARD
            .decode(req.thumbnail.trim())
            .map_err(|_| ApiError::bad_request("the thumbnail is not base64"))?;
        if image.len() > MAX_PREVIEW_UPLOAD {
            return Err(ApiError::bad_request("the preview image is too large"));
        }
        Ok(self
            .inner
            .sharing
            .set_preview(&self::content_id(&req.content_id)?, &image, req.duration_ms)
            .await?)
    }

    pub async fn list_follows(&self) -> Result<Vec<Follow>, ApiError> {
        Ok(self.inner.mirror.follows()?)
    }

    pub async fn follow(&self, req: PeerIdRequest) -> Result<Vec<Follow>, ApiError> {
        Ok(self.inner.mirror.follow(&req.peer_id).await?)
    }

    pub async fn unfollow(&self, req: PeerIdRequest) -> Result<Vec<Follow>, ApiError> {
        Ok(self.inner.mirror.unfollow(&req.peer_id).await?)
    }

    pub async fn set_mirror(&self, req: MirrorRequest) -> Result<Vec<Follow>, ApiError> {
        Ok(self.inner.mirror.set_mirror(&req.peer_id, req.on).await?)
    }

    pub async fn start_download(&self, req: DownloadRequest) -> Result<Download, ApiError> {
        Ok(self.inner.sharing.start_download(req).await?)
    }

    pub async fn pause_download(&self, req: ContentIdRequest) -> Result<(), ApiError> {
        Ok(self
            .inner
            .sharing
            .pause(&self::content_id(&req.content_id)?)
            .await?)
    }

    pub async fn resume_download(&self, req: ContentIdRequest) -> Result<(), ApiError> {
        Ok(self
            .inner
            .sharing
            .resume(&self::content_id(&req.content_id)?)
            .await?)
    }

    /// Stops a download and deletes its partial data.
    pub async fn cancel_download(&self, req: ContentIdRequest) -> Result<(), ApiError> {
        Ok(self
            .inner
            .sharing
            .cancel(&self::content_id(&req.content_id)?)
            .await?)
    }

    pub async fn list_downloads(&self) -> Result<Vec<Download>, ApiError> {
        Ok(self.inner.sharing.downloads()?)
    }

    /// The folder holding a resource on this disk; also opens it in the file manager when
    /// this node runs on a desktop.
    pub async fn open_folder(&self, req: ContentIdRequest) -> Result<String, ApiError> {
        let path = self
            .inner
            .sharing
            .local_path(&self::content_id(&req.content_id)?)?;
        let folder = if path.is_dir() {
            path
        } else {
            path.parent().map(Into::into).unwrap_or(path)
        };
        open_on_desktop(&folder);
        Ok(folder.display().to_string())
    }

    /// Opens a resource's file in the system's own application (a video in the system player,
    /// for files the app's player cannot decode), and returns its path. Only a file whose bytes
    /// are audio or video opens as itself; anything else opens its folder (and that path is
    /// returned).
    pub async fn open_file(&self, req: ContentIdRequest) -> Result<String, ApiError> {
        let path = self
            .inner
            .sharing
            .local_path(&self::content_id(&req.content_id)?)?;
        // Only audio and video open as themselves; anything else opens its folder.
        let path = crate::sharing::play::open_target(&path);
        open_on_desktop(&path);
        Ok(path.display().to_string())
    }

    pub async fn get_library(&self) -> Result<Library, ApiError> {
        let config = self.inner.config.lock().await;
        Ok(self.inner.sharing.library(folder_list(&config))?)
    }

    /// Shares a folder: its files are published now and whenever they change.
    pub async fn add_shared_folder(&self, req: FolderRequest) -> Result<Library, ApiError> {
        let path = std::path::PathBuf::from(req.path.trim());
        if !path.is_absolute() || !path.is_dir() {
            return Err(ApiError::bad_request(format!(
                "{:?} is not an existing folder (give an absolute path)",
                req.path
            )));
        }
        let path = path
            .canonicalize()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut config = self.inner.config.lock().await;
        if !config.shared_folders.contains(&path) {
            self.inner.sharing.watch_folder(&path).await?;
            let mut file = ConfigFile::load(&config.data_dir)?;
            file.shared_folders
                .get_or_insert_with(Vec::new)
                .push(path.clone());
            file.save(&config.data_dir)?;
            config.shared_folders.push(path);
        }
        Ok(self.inner.sharing.library(folder_list(&config))?)
    }

    /// Stops sharing a folder and unpublishes what came from it (the files stay).
    pub async fn remove_shared_folder(&self, req: FolderRequest) -> Result<Library, ApiError> {
        let given = std::path::PathBuf::from(req.path.trim());
        let path = given.canonicalize().unwrap_or(given);
        let mut config = self.inner.config.lock().await;
        let mut file = ConfigFile::load(&config.data_dir)?;
        if let Some(list) = file.shared_folders.as_mut() {
            list.retain(|p| *p != path);
        }
        file.save(&config.data_dir)?;
        config.shared_folders.retain(|p| *p != path);
        self.inner.sharing.unwatch_folder(&path).await?;
        Ok(self.inner.sharing.library(folder_list(&config))?)
    }

    // ----- chat -----

    pub async fn chat_status(&self) -> Result<ChatStatus, ApiError> {
        Ok(self.inner.chat.status().await?)
    }

    /// Unlocks chat with the passphrase (choosing it, the first time). A wrong passphrase
    /// changes nothing.
    pub async fn unlock_chat(&self, req: PassphraseRequest) -> Result<ChatStatus, ApiError> {
        Ok(self.inner.chat.unlock(&req.passphrase).await?)
    }

    pub async fn change_passphrase(&self, req: ChangePassphraseRequest) -> Result<(), ApiError> {
        Ok(self
            .inner
            .chat
            .change_passphrase(&req.old, &req.new)
            .await?)
    }

    pub async fn list_rooms(&self) -> Result<Vec<RoomInfo>, ApiError> {
        Ok(self.inner.chat.list_rooms().await?)
    }

    /// Creates a room with me as creator and host, and invites `members`.
    pub async fn create_room(&self, req: CreateRoomRequest) -> Result<RoomInfo, ApiError> {
        let members = req
            .members
            .iter()
            .map(|m| parse_peer(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.inner.chat.create_room(req.name, members).await?)
    }

    pub async fn get_room(&self, req: RoomIdRequest) -> Result<RoomInfo, ApiError> {
        Ok(self.inner.chat.get_room(room_id_of(&req.room_id)?).await?)
    }

    pub async fn rename_room(&self, req: RenameRoomRequest) -> Result<(), ApiError> {
        let room = room_id_of(&req.room_id)?;
        Ok(self.inner.chat.rename(room, req.name).await?)
    }

    /// Invites a peer: the host adds it and sends it the room.
    pub async fn invite(&self, req: InviteRequest) -> Result<(), ApiError> {
        let room = room_id_of(&req.room_id)?;
        let peer = parse_peer(&req.peer_id)?;
        Ok(self.inner.chat.invite(room, peer).await?)
    }

    /// Leaves a room (muting it if the host cannot be reached to remove me).
    pub async fn leave_room(&self, req: RoomIdRequest) -> Result<(), ApiError> {
        Ok(self.inner.chat.leave(room_id_of(&req.room_id)?).await?)
    }

    /// Deletes a room for every member (only its creator may); histories stay.
    pub async fn delete_room(&self, req: RoomIdRequest) -> Result<(), ApiError> {
        Ok(self.inner.chat.delete(room_id_of(&req.room_id)?).await?)
    }

    /// Sends a message to a room; it is kept in my outbox until the room has it.
    pub async fn send_message(&self, req: SendMessageRequest) -> Result<ChatMessage, ApiError> {
        let room = room_id_of(&req.room_id)?;
        Ok(self.inner.chat.send(room, req.body).await?)
    }

    pub async fn room_history(&self, req: HistoryRequest) -> Result<HistoryPage, ApiError> {
        let room = room_id_of(&req.room_id)?;
        Ok(self.inner.chat.history(room, req.before, req.limit).await?)
    }

    pub async fn mark_room_read(&self, req: RoomIdRequest) -> Result<(), ApiError> {
        Ok(self.inner.chat.mark_read(room_id_of(&req.room_id)?).await?)
    }

    pub async fn list_dms(&self) -> Result<Vec<DmConversation>, ApiError> {
        Ok(self.inner.chat.list_dms().await?)
    }

    /// Sends a direct message; it waits in my outbox until the peer has it.
    pub async fn send_dm(&self, req: SendDmRequest) -> Result<ChatMessage, ApiError> {
        let peer = parse_peer(&req.peer_id)?;
        Ok(self.inner.chat.send_dm(peer, req.body).await?)
    }

    pub async fn dm_history(&self, req: DmHistoryRequest) -> Result<HistoryPage, ApiError> {
        let peer = parse_peer(&req.peer_id)?;
        Ok(self
            .inner
            .chat
            .dm_history(peer, req.before, req.limit)
            .await?)
    }

    pub async fn mark_dm_read(&self, req: PeerIdRequest) -> Result<(), ApiError> {
        Ok(self
            .inner
            .chat
            .mark_dm_read(parse_peer(&req.peer_id)?)
            .await?)
    }

    pub async fn list_requests(&self) -> Result<ChatRequests, ApiError> {
        Ok(self.inner.chat.list_requests().await?)
    }

    pub async fn answer_request(&self, req: AnswerRequest) -> Result<(), ApiError> {
        let peer = parse_peer(&req.peer_id)?;
        Ok(self.inner.chat.answer_request(peer, req.accept).await?)
    }

    pub async fn catalog_stats(&self) -> Result<CatalogStats, ApiError> {
        Ok(self.inner.catalog.stats())
    }

    /// Buffered events after `since`. When they are gone (or `since` is from an earlier run),
    /// a single `resync` event tells the client to refetch and continue from its id.
    pub async fn events_since(&self, req: SinceRequest) -> Result<Vec<Event>, ApiError> {
        Ok(self.events_after(req.since))
    }

    /// [`Api::events_since`], for the stream's catch-up.
    fn events_after(&self, since: u64) -> Vec<Event> {
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
                        pending.extend(api.events_after(last))
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    fn resync_event(&self) -> Event {
        Event {
            id: self.inner.bus.last_id(),
            time_ms: crate::infra::events::now_ms(),
            kind: EventKind::Resync,
        }
    }
}

fn content_id(id: &str) -> Result<String, ApiError> {
    let id = id.trim().to_ascii_lowercase();
    if crate::catalog::feed::is_hex(&id, 40) {
        Ok(id)
    } else {
        Err(ApiError::bad_request(format!(
            "{id:?} is not a content id (40 hex digits)"
        )))
    }
}

fn room_id_of(id: &str) -> Result<crate::chat::room::RoomId, ApiError> {
    let id = id.trim();
    let mut out = [0u8; 32];
    hex::decode_to_slice(id, &mut out)
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a room id (64 hex digits)")))?;
    Ok(out)
}

fn folder_list(config: &Config) -> Vec<String> {
    config
        .shared_folders
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

/// Opens a file or folder with the desktop's default application, when there is a desktop.
/// Best effort: a missing application is not an error of the call that asked.
fn open_on_desktop(path: &std::path::Path) {
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        let _ = tokio::process::Command::new("xdg-open")
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}
