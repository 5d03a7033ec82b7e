//! A running node: opens the store, loads the identity, starts the network and hands out
//! the [`Api`]. Owns every task it starts; [`Node::shutdown`] stops them in reverse order
//! of start and returns once none is left.

use libp2p::identity::Keypair;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::types::Profile;
use crate::api::{Api, BLOCKED_TABLE, PROFILE_KEY, PROFILE_TABLE};
use crate::config::Config;
use crate::events::EventBus;
use crate::net::{self, NetError};
use crate::store::{Store, StoreError};

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
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// Protobuf encoding of the ed25519 keypair, hex.
    protobuf_hex: String,
}

/// A running Hearth node.
pub struct Node {
    api: Api,
    store: Store,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Node {
    /// Starts a node with `config`. Fails if another process uses the same data dir.
    pub async fn start(config: Config) -> Result<Self, NodeError> {
        let store = Store::open(&config.data_dir)?;
        let key = load_or_create_identity(&store).await?;

        let profiles = store.table::<Profile>(PROFILE_TABLE)?;
        let mut profile = profiles.get(PROFILE_KEY)?.unwrap_or_default();
        if let Some(name) = config
            .display_name
            .as_ref()
            .filter(|n| **n != profile.display_name)
        {
            profile.display_name = name
                .trim()
                .chars()
                .take(crate::presence::MAX_DISPLAY_NAME)
                .collect();
            profiles.put(PROFILE_KEY, &profile).await?;
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
        let net = net::start(
            key,
            &config,
            profile.clone(),
            blocked,
            bus.clone(),
            &tracker,
            cancel.child_token(),
        )
        .await?;
        tracing::info!(peer = %net.local_peer_id(), "node started");
        let api = Api::new(net, bus, profile, profiles, blocked_table, config);
        Ok(Self {
            api,
            store,
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
        self.tracker.close();
        self.tracker.wait().await;
        if let Err(e) = self.store.flush().await {
            tracing::error!("final flush failed: {e}");
        }
        tracing::info!("node stopped");
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
