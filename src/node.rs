//! A running node: opens the store, loads the identity, starts the network and hands out
//! the [`Api`]. Owns every task it starts; [`Node::shutdown`] stops them in reverse order
//! of start and returns once none is left.

use libp2p::identity::Keypair;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::dto::Profile;
use crate::api::{Api, ApiParts, BLOCKED_TABLE, PROFILE_KEY, PROFILE_TABLE};
use crate::catalog::feed::FeedProfile;
use crate::catalog::{self, Catalog, CatalogError};
use crate::config::Config;
use crate::infra::events::EventBus;
use crate::infra::store::{Store, StoreError};
use crate::net::{self, NetError};
use crate::sharing::{Sharing, SharingError};
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
        state_dir: config.data_dir.join(TRANSFER_DIR),
        download_dir: config.download_dir.clone(),
        listen_addr: config.bt_listen_ip(),
        listen_port: port,
        download_limit_bps: config.bt_download_limit_bps,
        upload_limit_bps: config.bt_upload_limit_bps,
        connector: Some(connector.clone()),
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
