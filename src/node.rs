//! A running node: opens the store, loads the identity, starts the network and hands out
//! the [`Api`]. Owns every task it starts; [`Node::shutdown`] stops them in reverse order
//! of start and returns once none is left.

use std::net::SocketAddr;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::dto::Profile;
use crate::api::{Api, ApiParts, BLOCKED_TABLE, PROFILE_KEY, PROFILE_TABLE};
use crate::catalog::feed::FeedProfile;
use crate::catalog::{self, Catalog, CatalogError};
use crate::config::{BtEncryption, Config};
use crate::infra::events::EventBus;
use crate::infra::store::{Store, StoreError};
use crate::net::{self, NetError};
use crate::sharing::{Sharing, SharingError};
use crate::transfer::mse::Encryption;
use crate::transfer::{Transfer, TransferConfig, TransferError};

const IDENTITY_TABLE: &str = "identity_v1";
const IDENTITY_KEY: &str = "keypair";

/// Errors while starting a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the stored identity is unreadable: {0}")]
    Identity(String),
    #[error("{0} holds no identity yet (start the node once to make one)")]
    NoIdentity(std::path::PathBuf),
    #[error("{0} already has an identity (peer id {1}); add --force to replace it")]
    IdentityExists(std::path::PathBuf, String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error(transparent)]
    Sharing(#[from] SharingError),
    #[error(transparent)]
    Mirror(#[from] crate::mirror::MirrorError),
}

/// Folder of the BitTorrent engine's own state inside the data dir.
const TRANSFER_DIR: &str = "transfer_v1";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// Protobuf encoding of the ed25519 keypair, hex.
    protobuf_hex: String,
}

/// A running Hearth node.
pub struct Node {
    api: Api,
    store: Store,
    transfer: Transfer,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Node {
    /// Starts a node with `config`. Fails if another process uses the same data dir.
    pub async fn start(config: Config) -> Result<Self, NodeError> {
        let store = Store::open(&config.data_dir)?;
        let key = load_or_create_identity(&store).await?;

        // Stored as the feed's profile body: its bytes never follow the UI's `Profile`.
        let profiles = store.table::<FeedProfile>(PROFILE_TABLE)?;
        let mut profile: Profile = profiles.get(PROFILE_KEY)?.unwrap_or_default().into();
        if let Some(name) = config
            .display_name
            .as_ref()
            .filter(|n| **n != profile.display_name)
        {
            profile.display_name = name
                .trim()
                .chars()
                .take(crate::net::presence::MAX_DISPLAY_NAME)
                .collect();
            profiles
                .put(PROFILE_KEY, &FeedProfile::from(profile.clone()))
                .await?;
        }
        let blocked_table = store.table::<bool>(BLOCKED_TABLE)?;
        let blocked: Vec<PeerId> = blocked_table
            .entries()?
            .into_iter()
            .filter_map(|(k, _)| k.parse().ok())
            .collect();

        let bus = EventBus::new();
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let catalog = Catalog::open(&store, &config.data_dir, key.clone(), bus.clone())?;
        let q = crate::catalog::default_quota();
        let c = &config.catalog;
        catalog.set_quota(crate::api::dto::CatalogQuota {
            entries_per_author: c.max_entries_per_author.unwrap_or(q.entries_per_author),
            bytes_per_author: c.max_bytes_per_author.unwrap_or(q.bytes_per_author),
            entries: c.max_entries.unwrap_or(q.entries),
            bytes: c.max_bytes.unwrap_or(q.bytes),
        });
        let chat_signer = std::sync::Arc::new(key.clone());
        // BitTorrent over libp2p streams: the engine's connector, bound once the network runs.
        let bt_link = crate::sharing::bt_link::BtLink::new();
        let transfer =
            start_transfer(&config, bt_link.clone(), &tracker, cancel.child_token()).await?;
        // Subscribed before the network starts, so no presence event is missed.
        let catalog_events = bus.receiver();
        let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(net::INBOUND_CHANNEL);
        let (chat_tx, chat_rx) = tokio::sync::mpsc::channel(net::CHAT_INBOUND_CHANNEL);
        let (feed_check, checked_rx) = catalog::sync::feed_check();
        let net = net::start(
            key,
            &config,
            profile.clone(),
            blocked,
            net::PeerBook::open(&store)?,
            bus.clone(),
            inbound_tx,
            chat_tx,
            net::Checks {
                feed: Box::new(feed_check),
                chat: crate::chat::ChatWire::is_well_formed,
            },
            &tracker,
            cancel.child_token(),
        )
        .await?;
        bt_link.bind(net.bt_streams().clone());
        if let Some(incoming) = net.bt_streams().take_incoming() {
            tracker.spawn(crate::sharing::bt_link::serve(
                transfer.clone(),
                incoming,
                cancel.child_token(),
            ));
        }
        let sharing = Sharing::start(
            catalog.clone(),
            transfer.clone(),
            net.clone(),
            bus.clone(),
            &store,
            config.uploads_dir(),
            config.shared_folders.clone(),
            tracker.clone(),
            cancel.child_token(),
        )
        .await?;
        let mirror = crate::mirror::Mirror::start(
            catalog.clone(),
            sharing.clone(),
            bus.clone(),
            &store,
            &tracker,
            cancel.child_token(),
        )?;
        let bt_port = transfer.bt_port();
        tracker.spawn(keep_bt_hints(
            catalog.clone(),
            net.clone(),
            SocketAddr::new(config.bt_listen_ip(), bt_port),
            cancel.child_token(),
        ));
        let torrents = {
            let transfer = transfer.clone();
            std::sync::Arc::new(move |id: &str| transfer.torrent_bytes(id).map(|b| b.to_vec()))
        };
        tracker.spawn(catalog::sync::run(
            catalog.clone(),
            net.clone(),
            inbound_rx,
            checked_rx,
            catalog_events,
            catalog::sync::SyncDeps { torrents, bt_port },
            tracker.clone(),
            cancel.child_token(),
        ));
        let chat = crate::chat::actor::start(
            store.clone(),
            net.clone(),
            bus.clone(),
            chat_rx,
            config
                .chat_passphrase
                .as_ref()
                .map(|p| zeroize::Zeroizing::new(p.expose().to_owned())),
            chat_signer,
            {
                let mirror = mirror.clone();
                std::sync::Arc::new(move |peer: &libp2p::PeerId| mirror.is_following(peer))
            },
            &tracker,
            cancel.child_token(),
        );
        tracing::info!(peer = %net.local_peer_id(), bt_port, "node started");
        let api = Api::new(ApiParts {
            net,
            bus,
            profile,
            profiles,
            blocked: blocked_table,
            config,
            catalog,
            sharing,
            mirror,
            chat,
            bt_port,
        });
        Ok(Self {
            api,
            store,
            transfer,
            tracker,
            cancel,
        })
    }

    /// The node's API. Cheap to clone; calls fail with `unavailable` after shutdown.
    pub fn api(&self) -> Api {
        self.api.clone()
    }

    pub fn peer_id(&self) -> PeerId {
        self.api.peer_id()
    }

    /// A token cancelled when the node shuts down, for tasks that serve this node.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops every task, flushes the store and releases the data-dir lock.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        // Waits for the engine's final fastresume write.
        self.transfer.shutdown().await;
        self.tracker.close();
        self.tracker.wait().await;
        if let Err(e) = self.store.flush().await {
            tracing::error!("final flush failed: {e}");
        }
        tracing::info!("node stopped");
    }
}

/// Starts the BitTorrent engine; a taken default port falls back to any free one.
async fn start_transfer(
    config: &Config,
    connector: std::sync::Arc<crate::sharing::bt_link::BtLink>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> Result<Transfer, NodeError> {
    let make = |port| TransferConfig {
        listen_addr: config.bt_listen_ip(),
        listen_port: port,
        download_limit_bps: config.bt_download_limit_bps,
        upload_limit_bps: config.bt_upload_limit_bps,
        connector: Some(connector.clone()),
        encryption: match config.bt_encryption {
            BtEncryption::Prefer => Encryption::Prefer,
            BtEncryption::Require => Encryption::Require,
            BtEncryption::Off => Encryption::Off,
        },
        utp: config.bt_utp,
        ..TransferConfig::new(
            config.data_dir.join(TRANSFER_DIR),
            config.download_dir.clone(),
        )
    };
    match Transfer::start(make(config.bt_port), tracker, cancel.clone()).await {
        Err(e) if config.bt_port_is_default => {
            tracing::info!(
                "BitTorrent port {} unavailable ({e}); using any free port",
                config.bt_port
            );
            Ok(Transfer::start(make(0), tracker, cancel).await?)
        }
        other => Ok(other?),
    }
}

/// The identity kept in `data_dir` (protobuf encoding of its keypair) and its peer id, for
/// `hearth identity export`. The node must be stopped (the store is locked while it runs).
pub async fn read_identity(
    data_dir: &std::path::Path,
) -> Result<(PeerId, zeroize::Zeroizing<Vec<u8>>), NodeError> {
    let store = Store::open(data_dir)?;
    let table = store.table::<StoredKey>(IDENTITY_TABLE)?;
    let stored = table
        .get(IDENTITY_KEY)?
        .ok_or_else(|| NodeError::NoIdentity(data_dir.to_path_buf()))?;
    let bytes = zeroize::Zeroizing::new(
        hex::decode(&stored.protobuf_hex).map_err(|e| NodeError::Identity(e.to_string()))?,
    );
    let key =
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| NodeError::Identity(e.to_string()))?;
    Ok((key.public().to_peer_id(), bytes))
}

/// Makes `protobuf` (a keypair's encoding) the identity kept in `data_dir`, for `hearth
/// identity import`; an identity already there is replaced only with `force`. The node must
/// be stopped.
pub async fn write_identity(
    data_dir: &std::path::Path,
    protobuf: &[u8],
    force: bool,
) -> Result<PeerId, NodeError> {
    let key = Keypair::from_protobuf_encoding(protobuf)
        .map_err(|e| NodeError::Identity(e.to_string()))?;
    let store = Store::open(data_dir)?;
    let table = store.table::<StoredKey>(IDENTITY_TABLE)?;
    if let Some(old) = table.get(IDENTITY_KEY)? {
        let old_id = hex::decode(&old.protobuf_hex)
            .ok()
            .and_then(|b| Keypair::from_protobuf_encoding(&b).ok())
            .map(|k| k.public().to_peer_id());
        if !force {
            let id = old_id.map_or_else(|| "unreadable".into(), |id| id.to_string());
            return Err(NodeError::IdentityExists(data_dir.to_path_buf(), id));
        }
    }
    table
        .put(
            IDENTITY_KEY,
            &StoredKey {
                protobuf_hex: hex::encode(protobuf),
            },
        )
        .await?;
    store.flush().await?;
    Ok(key.public().to_peer_id())
}

async fn load_or_create_identity(store: &Store) -> Result<Keypair, NodeError> {
    let table = store.table::<StoredKey>(IDENTITY_TABLE)?;
    if let Some(stored) = table.get(IDENTITY_KEY)? {
        let bytes =
            hex::decode(&stored.protobuf_hex).map_err(|e| NodeError::Identity(e.to_string()))?;
        return Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| NodeError::Identity(e.to_string()));
    }
    let key = Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|e| NodeError::Identity(e.to_string()))?;
    table
        .put(
            IDENTITY_KEY,
            &StoredKey {
                protobuf_hex: hex::encode(bytes),
            },
        )
        .await?;
    Ok(key)
}

/// How often this node's reachable BitTorrent addresses are worked out again.
const BT_HINTS_EVERY: Duration = Duration::from_secs(30);

/// Keeps the catalog told of this node's BitTorrent addresses that others can reach (the
/// `x.pe` hints of the magnet links it shows): the listen address when it is a specific
/// one, else the IPs others confirmed they reach us at, then those we listen on.
async fn keep_bt_hints(
    catalog: Catalog,
    net: net::NetHandle,
    listen: SocketAddr,
    cancel: CancellationToken,
) {
    let mut pause = Duration::from_secs(1);
    loop {
        let addrs = if !listen.ip().is_unspecified() {
            vec![listen]
        } else if let Ok(status) = net.status().await {
            bt_hints(&status.external_addrs, &status.listen_addrs, listen.port())
        } else {
            Vec::new()
        };
        catalog.set_local_bt_addrs(addrs);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = BT_HINTS_EVERY;
    }
}

/// The IPs of `external` then `listen` (not loopback, unspecified or relayed) at `port`.
fn bt_hints(
    external: &[libp2p::Multiaddr],
    listen: &[libp2p::Multiaddr],
    port: u16,
) -> Vec<SocketAddr> {
    use libp2p::multiaddr::Protocol;
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in external.iter().chain(listen) {
        if a.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
            continue;
        }
        let ip: Option<std::net::IpAddr> = a.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(ip.into()),
            Protocol::Ip6(ip) => Some(ip.into()),
            _ => None,
        });
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
            let addr = SocketAddr::new(ip, port);
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    out
}
