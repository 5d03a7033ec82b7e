//! Following peers, and mirroring the ones I choose (PeerTube's cache instances).
//!
//! Following a peer makes the catalog fetch its feed from it directly and often
//! ([`Catalog::set_followed`]). Mirroring a followed peer downloads and seeds its resources
//! automatically, within a disk quota; mirror copies are announced as such, so other peers
//! see which holders are mirrors.
//!
//! The quota rule ([`plan::plan`]) is pure and deterministic:
//! - The mirrored peers' resources not on this disk are taken newest first. One that fits in
//!   what the quota has left is fetched (its full size counts from the start).
//! - One that does not fit may push out mirror copies, the one watched longest ago first
//!   (a copy never watched counts as watched when it was published). Only copies last
//!   touched (published or watched) before the newcomer was published may go, so older
//!   content never pushes out newer and the mirror does not churn.
//! - A resource larger than the whole quota is never mirrored.
//! - A mirror download that the person cancels is not fetched again.
//! - Turning a mirror off (or unfollowing) deletes its mirror copies.
//!
//! Files: [`plan`](mod@plan) (the quota rule, pure); the actor is here.
//!
//! **Uses:** `catalog`, `sharing`, `infra` (store, events), the DTOs of `api::dto`. Used by
//! `api`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::dto::{Event, EventKind, Follow, LocalState, SearchRequest, SortOrder};
use crate::catalog::{Catalog, CatalogError};
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::sharing::{Sharing, SharingError};

pub mod plan;

pub use plan::{plan, Candidate, Held, Plan};

const FOLLOWS_TABLE: &str = "follows_v1";
const COPIES_TABLE: &str = "mirror_copies_v1";
const SETTINGS_TABLE: &str = "mirror_settings_v1";
const QUOTA_KEY: &str = "quota_bytes";
/// Disk space mirrors may use unless set otherwise: 20 GiB.
pub const DEFAULT_QUOTA: u64 = 20 * 1024 * 1024 * 1024;
/// How often the mirrors are looked at even when nothing woke them (holders come back).
const REVIEW_EVERY: Duration = Duration::from_secs(5);
/// Most peers one node follows.
pub const MAX_FOLLOWS: usize = 1000;
/// Resources of one mirrored peer looked at per review (newest first).
const MAX_CANDIDATES_PER_PEER: u32 = 200;
/// Mirror downloads started per review.
const MAX_STARTS_PER_REVIEW: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Sharing(#[from] SharingError),
    #[error("{0:?} is not a peer id")]
    BadPeer(String),
    #[error("that is you")]
    IsSelf,
    #[error("you follow {MAX_FOLLOWS} peers already")]
    TooMany,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FollowRec {
    since_ms: u64,
    mirror: bool,
}

/// A resource held (or being fetched) as a mirror copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CopyRec {
    author: String,
    size: u64,
    created_ms: u64,
    /// When it was last played here; 0 if never.
    watched_ms: u64,
    /// The person cancelled it: not fetched again.
    declined: bool,
}

struct Inner {
    catalog: Catalog,
    sharing: Sharing,
    bus: EventBus,
    follows: Table<FollowRec>,
    copies: Table<CopyRec>,
    settings: Table<u64>,
    wake: Notify,
    /// The last review left mirror candidates out for want of quota.
    quota_full: std::sync::atomic::AtomicBool,
    /// Reviews run one at a time.
    reviewing: tokio::sync::Mutex<()>,
}

/// Follows and mirrors. Cheap to clone.
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

impl Mirror {
    /// Opens the follow list and starts the mirror actor.
    pub fn start(
        catalog: Catalog,
        sharing: Sharing,
        bus: EventBus,
        store: &Store,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) -> Result<Self, MirrorError> {
        let mirror = Self {
            inner: Arc::new(Inner {
                follows: store.table(FOLLOWS_TABLE)?,
                copies: store.table(COPIES_TABLE)?,
                settings: store.table(SETTINGS_TABLE)?,
                catalog,
                sharing,
                bus,
                wake: Notify::new(),
                quota_full: Default::default(),
                reviewing: tokio::sync::Mutex::new(()),
            }),
        };
        mirror.publish_followed()?;
        let events = mirror.inner.bus.receiver();
        let me = mirror.clone();
        tracker.spawn(async move { me.run(events, cancel).await });
        Ok(mirror)
    }

    fn parse_peer(&self, peer: &str) -> Result<PeerId, MirrorError> {
        let id: PeerId = peer
            .trim()
            .parse()
            .map_err(|_| MirrorError::BadPeer(peer.to_owned()))?;
        if id == self.inner.catalog.local_peer() {
            return Err(MirrorError::IsSelf);
        }
        Ok(id)
    }

    pub async fn follow(&self, peer: &str) -> Result<Vec<Follow>, MirrorError> {
        let id = self.parse_peer(peer)?;
        if self.inner.follows.get(&id.to_string())?.is_none() {
            if self.inner.follows.len() >= MAX_FOLLOWS {
                return Err(MirrorError::TooMany);
            }
            let rec = FollowRec {
                since_ms: now_ms(),
                mirror: false,
            };
            self.inner.follows.put(&id.to_string(), &rec).await?;
        }
        self.changed().await
    }

    /// Stops following `peer`, and deletes its mirror copies.
    pub async fn unfollow(&self, peer: &str) -> Result<Vec<Follow>, MirrorError> {
        let id = self.parse_peer(peer)?;
        self.inner.follows.remove(&id.to_string()).await?;
        self.drop_copies_of(&id.to_string()).await?;
        self.changed().await
    }

    /// Turns mirroring of `peer` on (following it if needed) or off (deleting its copies).
    pub async fn set_mirror(&self, peer: &str, on: bool) -> Result<Vec<Follow>, MirrorError> {
        let id = self.parse_peer(peer)?;
        let key = id.to_string();
        let mut rec = match self.inner.follows.get(&key)? {
            Some(r) => r,
            None if !on => return self.follows(),
            None => {
                if self.inner.follows.len() >= MAX_FOLLOWS {
                    return Err(MirrorError::TooMany);
                }
                FollowRec {
                    since_ms: now_ms(),
                    mirror: false,
                }
            }
        };
        rec.mirror = on;
        self.inner.follows.put(&key, &rec).await?;
        if !on {
            self.drop_copies_of(&key).await?;
        }
        self.changed().await
    }

    /// Whether I follow `peer` (chat lets a followed peer's messages straight through).
    pub fn is_following(&self, peer: &PeerId) -> bool {
        matches!(self.inner.follows.get(&peer.to_string()), Ok(Some(_)))
    }

    pub fn follows(&self) -> Result<Vec<Follow>, MirrorError> {
        let copies = self.inner.copies.entries()?;
        let mut out: Vec<Follow> = self
            .inner
            .follows
            .entries()?
            .into_iter()
            .map(|(peer, rec)| {
                let mine: Vec<&CopyRec> = copies
                    .iter()
                    .map(|(_, c)| c)
                    .filter(|c| c.author == peer && !c.declined)
                    .collect();
                Follow {
                    name: self.inner.catalog.name_of(&peer),
                    online: peer
                        .parse::<PeerId>()
                        .is_ok_and(|p| self.inner.catalog.is_online(&p)),
                    mirror: rec.mirror,
                    since_ms: rec.since_ms,
                    mirrored_items: mine.len() as u32,
                    mirrored_bytes: mine.iter().map(|c| c.size).sum(),
                    peer_id: peer,
                }
            })
            .collect();
        out.sort_by_key(|f| std::cmp::Reverse(f.since_ms));
        Ok(out)
    }

    /// (following, mirroring) for `peer`.
    pub fn relation(&self, peer: &str) -> (bool, bool) {
        match self.inner.follows.get(peer) {
            Ok(Some(r)) => (true, r.mirror),
            _ => (false, false),
        }
    }

    pub fn quota(&self) -> u64 {
        self.inner
            .settings
            .get(QUOTA_KEY)
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_QUOTA)
    }

    pub async fn set_quota(&self, bytes: u64) -> Result<(), MirrorError> {
        self.inner.settings.put(QUOTA_KEY, &bytes).await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Disk space the mirror copies take (each counted at its full size).
    pub fn used(&self) -> u64 {
        self.inner
            .copies
            .entries()
            .map(|c| {
                c.iter()
                    .filter(|(_, c)| !c.declined)
                    .map(|(_, c)| c.size)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// `content_id` was just played here (keeps a mirror copy from being evicted).
    pub fn watched(&self, content_id: &str) {
        if let Ok(Some(mut c)) = self.inner.copies.get(content_id) {
            c.watched_ms = now_ms();
            if let Err(e) = self.inner.copies.insert(content_id, &c) {
                tracing::debug!("cannot note a watched mirror copy: {e}");
            }
        }
    }

    async fn changed(&self) -> Result<Vec<Follow>, MirrorError> {
        self.publish_followed()?;
        let follows = self.follows()?;
        self.inner.bus.emit(EventKind::FollowsChanged {
            follows: follows.clone(),
        });
        self.inner.wake.notify_one();
        Ok(follows)
    }

    fn publish_followed(&self) -> Result<(), MirrorError> {
        let peers: Vec<PeerId> = self
            .inner
            .follows
            .entries()?
            .into_iter()
            .filter_map(|(p, _)| p.parse().ok())
            .collect();
        self.inner.catalog.set_followed(peers);
        Ok(())
    }

    async fn drop_copies_of(&self, author: &str) -> Result<(), MirrorError> {
        let _review = self.inner.reviewing.lock().await;
        for (id, c) in self.inner.copies.entries()? {
            if c.author == author {
                self.evict(&id).await?;
            }
        }
        Ok(())
    }

    async fn evict(&self, id: &str) -> Result<(), MirrorError> {
        // The record goes first, so the removal event is not taken for a person's cancel.
        self.inner.copies.remove(id).await?;
        match self.inner.sharing.cancel(id).await {
            Ok(()) | Err(SharingError::NoSuchDownload { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn run(self, mut events: broadcast::Receiver<Event>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(REVIEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
                _ = self.inner.wake.notified() => {}
                e = events.recv() => match e {
                    Ok(e) => {
                        if !self.on_event(e).await {
                            continue;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
            if let Err(e) = self.review().await {
                tracing::warn!("mirror review failed: {e}");
            }
        }
    }

    /// Whether `event` calls for a review.
    async fn on_event(&self, event: Event) -> bool {
        match event.kind {
            EventKind::ResourceAdded { resource } => {
                self.relation(&resource.author).1 && resource.local == LocalState::None
            }
            EventKind::ResourceRemoved { .. } | EventKind::CatalogChanged => true,
            EventKind::AvailabilityChanged { available, .. } => available,
            EventKind::DownloadRemoved { content_id } => {
                // A person cancelled a mirror download: do not fetch it again.
                if let Ok(Some(mut c)) = self.inner.copies.get(&content_id) {
                    c.declined = true;
                    let _ = self.inner.copies.put(&content_id, &c).await;
                }
                false
            }
            _ => false,
        }
    }

    /// Compares what the mirrors hold with what they should, and acts on the difference.
    async fn review(&self) -> Result<(), MirrorError> {
        let _review = self.inner.reviewing.lock().await;
        let mirrored: Vec<String> = self
            .inner
            .follows
            .entries()?
            .into_iter()
            .filter(|(_, r)| r.mirror)
            .map(|(p, _)| p)
            .collect();
        let mut copies: HashMap<String, CopyRec> =
            self.inner.copies.entries()?.into_iter().collect();
        // Copies whose data or record went away (deleted by hand, retracted) are forgotten.
        let mut forgotten = Vec::new();
        for (id, c) in &copies {
            if c.declined {
                continue;
            }
            let gone = self.inner.catalog.local_state(id) == LocalState::None;
            if gone || self.inner.catalog.get(id)?.is_none() {
                self.evict(id).await?;
                forgotten.push(id.clone());
            }
        }
        for id in &forgotten {
            copies.remove(id);
        }
        if mirrored.is_empty() {
            return Ok(());
        }
        let mut candidates = Vec::new();
        let known: HashSet<&String> = copies.keys().collect();
        for author in &mirrored {
            let page = self.inner.catalog.search(&SearchRequest {
                author: Some(author.clone()),
                sort: SortOrder::Newest,
                limit: MAX_CANDIDATES_PER_PEER,
                ..Default::default()
            })?;
            candidates.extend(
                page.items
                    .into_iter()
                    .filter(|r| {
                        r.local == LocalState::None && r.available && !known.contains(&r.content_id)
                    })
                    .map(|r| Candidate {
                        id: r.content_id,
                        size: r.size,
                        created_ms: r.created_ms,
                    }),
            );
        }
        let held: Vec<Held> = copies
            .iter()
            .filter(|(_, c)| !c.declined)
            .map(|(id, c)| Held {
                id: id.clone(),
                size: c.size,
                created_ms: c.created_ms,
                watched_ms: c.watched_ms,
            })
            .collect();
        let quota = self.quota();
        let plan = plan(&candidates, &held, quota);
        let full = plan.left_out > 0;
        if self
            .inner
            .quota_full
            .swap(full, std::sync::atomic::Ordering::Relaxed)
            != full
            && full
        {
            self.inner.bus.emit(EventKind::MirrorQuotaFull {
                left_out: plan.left_out as u32,
                quota_bytes: quota,
            });
        }
        if plan.fetch.is_empty() {
            return Ok(());
        }
        for id in &plan.evict {
            tracing::info!(%id, "evicting a mirror copy to make room");
            self.evict(id).await?;
        }
        for c in candidates
            .iter()
            .filter(|c| plan.fetch.contains(&c.id))
            .take(MAX_STARTS_PER_REVIEW)
        {
            let Some(r) = self.inner.catalog.get(&c.id)? else {
                continue;
            };
            let rec = CopyRec {
                author: r.author.clone(),
                size: c.size,
                created_ms: c.created_ms,
                watched_ms: 0,
                declined: false,
            };
            self.inner.copies.put(&c.id, &rec).await?;
            match self.inner.sharing.start_mirror_download(&c.id).await {
                Ok(_) => tracing::info!(id = %c.id, "mirroring"),
                Err(e) => {
                    tracing::debug!(id = %c.id, "cannot mirror yet: {e}");
                    self.inner.copies.remove(&c.id).await?;
                }
            }
        }
        self.inner.bus.emit(EventKind::FollowsChanged {
            follows: self.follows()?,
        });
        Ok(())
    }
}
