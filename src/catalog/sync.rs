//! Catalog replication: the actor that connects the [`Catalog`] to the network.
//!
//! - New entries arrive on gossipsub (already verified by the network task) and are
//!   ingested; a gap in a feed triggers catch-up from the peer that relayed it.
//! - When a peer comes online, and every [`ANTI_ENTROPY`] with a random online peer, this
//!   node compares feed heads and fetches what it lacks ("entries of feed F after seq N"),
//!   from whoever has them, so an offline author's entries still spread. It also asks what
//!   the peer holds.
//! - This node's own entries wait in a persistent queue until gossip accepted them: they are
//!   sent as soon as they are written, and again when peers appear (the offline queue).
//! - Requests from peers are answered from the catalog.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use libp2p::{gossipsub, PeerId};
use rand::seq::IteratorRandom;
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{feed, Catalog, CatalogError, Ingested};
use crate::api::dto::{Event, EventKind, PeerInfo};
use crate::net::protocol::{
    CatalogRequest, CatalogResponse, HaveMessage, FEED_TOPIC, HAVE_TOPIC, MAX_ENTRIES_PER_RESPONSE,
};
use crate::net::{GossipCheck, GossipError, Inbound, NetHandle};

/// How often new index entries are committed (made searchable) and writes flushed.
const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// How often a random online peer is compared with, to repair anything gossip lost.
const ANTI_ENTROPY: Duration = Duration::from_secs(20);
/// How often the feeds of followed peers are fetched from them directly (gossip brings new
/// entries at once; this repairs what it lost, sooner than the random anti-entropy).
const FOLLOWED_SYNC: Duration = Duration::from_secs(5);
/// How often queued announcements are retried while any remain.
const RETRY_QUEUE: Duration = Duration::from_secs(2);
/// Peers synchronised with at once.
const MAX_CONCURRENT_SYNCS: usize = 4;
/// Entries fetched from one peer for one feed in one catch-up.
const MAX_CATCH_UP: usize = 1_000_000;
/// Queued announcements sent per attempt.
const QUEUE_BATCH: usize = 256;

/// Gives the .torrent metadata of a content id this node holds.
pub type TorrentSource = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

/// What the sync actor needs besides the catalog and the network.
pub struct SyncDeps {
    pub torrents: TorrentSource,
    pub bt_port: u16,
}

struct Syncer {
    catalog: Catalog,
    net: NetHandle,
    deps: SyncDeps,
    tracker: TaskTracker,
    cancel: CancellationToken,
    syncing: Arc<std::sync::Mutex<HashSet<PeerId>>>,
    permits: Arc<Semaphore>,
    /// Profile pictures being fetched now, by hash.
    fetching_avatars: Arc<std::sync::Mutex<HashSet<String>>>,
}

/// Feed entries the network's gossip check accepted, or refused (to be counted).
#[derive(Debug)]
pub enum Checked {
    Entry {
        from: PeerId,
        entry: Box<feed::Verified>,
    },
    Refused(feed::FeedError),
}

/// Feed entries queued from the gossip check to the sync actor; a full queue drops the entry,
/// which feed catch-up fetches again later.
const CHECKED_CHANNEL: usize = 1024;

/// The catalog's check of feed gossip ([`GossipCheck`]): every entry is verified completely
/// (size, signature, body) before gossipsub relays it, and one by a blocked author is ignored.
pub struct FeedCheck {
    checked: mpsc::Sender<Checked>,
}

/// The check to give the network, and the queue of what it accepts, for [`run`].
pub fn feed_check() -> (FeedCheck, mpsc::Receiver<Checked>) {
    let (checked, rx) = mpsc::channel(CHECKED_CHANNEL);
    (FeedCheck { checked }, rx)
}

impl GossipCheck for FeedCheck {
    fn check(
        &mut self,
        source: PeerId,
        data: &[u8],
        blocked: &dyn Fn(&PeerId) -> bool,
    ) -> gossipsub::MessageAcceptance {
        match feed::decode(data) {
            Ok(entry) => {
                let author_blocked = entry
                    .entry
                    .author
                    .parse::<PeerId>()
                    .map(|a| blocked(&a))
                    .unwrap_or(true);
                if author_blocked {
                    return gossipsub::MessageAcceptance::Ignore;
                }
                let _ = self.checked.try_send(Checked::Entry {
                    from: source,
                    entry: Box::new(entry),
                });
                gossipsub::MessageAcceptance::Accept
            }
            Err(e) => {
                tracing::debug!(%source, "rejected feed entry: {e}");
                let _ = self.checked.try_send(Checked::Refused(e));
                gossipsub::MessageAcceptance::Reject
            }
        }
    }
}

/// Runs until `cancel` fires.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    catalog: Catalog,
    net: NetHandle,
    mut inbound: mpsc::Receiver<Inbound>,
    mut checked: mpsc::Receiver<Checked>,
    mut events: broadcast::Receiver<Event>,
    deps: SyncDeps,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let syncer = Arc::new(Syncer {
        catalog,
        net,
        deps,
        tracker,
        cancel: cancel.clone(),
        syncing: Default::default(),
        fetching_avatars: Default::default(),
        permits: Arc::new(Semaphore::new(MAX_CONCURRENT_SYNCS)),
    });
    let mut commit = tokio::time::interval(COMMIT_EVERY);
    commit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut anti_entropy = tokio::time::interval(ANTI_ENTROPY);
    anti_entropy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut followed = tokio::time::interval(FOLLOWED_SYNC);
    followed.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry = tokio::time::interval(RETRY_QUEUE);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            msg = inbound.recv() => match msg {
                Some(m) => syncer.on_inbound(m).await,
                None => break,
            },
            item = checked.recv() => match item {
                Some(c) => syncer.on_checked(c).await,
                None => break,
            },
            event = events.recv() => match event {
                Ok(e) => syncer.on_event(e),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = commit.tick() => {
                if let Err(e) = syncer.catalog.commit().await {
                    tracing::error!("catalog commit failed: {e}");
                }
            }
            _ = retry.tick() => syncer.send_queue().await,
            _ = followed.tick() => syncer.sync_followed(),
            _ = syncer.catalog.announcement_queued() => syncer.send_queue().await,
            _ = anti_entropy.tick() => {
                let peer = syncer.catalog.state().online.iter().copied().choose(&mut rand::thread_rng());
                if let Some(peer) = peer {
                    syncer.spawn_sync(peer);
                }
            }
        }
    }
    if let Err(e) = syncer.catalog.write_holdings(true) {
        tracing::error!("cannot write holdings: {e}");
    }
    if let Err(e) = syncer.catalog.commit().await {
        tracing::error!("final catalog commit failed: {e}");
    }
    tracing::debug!("catalog sync stopped");
}

fn ips_of(peer: &PeerInfo) -> Vec<IpAddr> {
    use libp2p::multiaddr::Protocol;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in &peer.addrs {
        let Ok(addr) = a.parse::<libp2p::Multiaddr>() else {
            continue;
        };
        for p in addr.iter() {
            let ip: IpAddr = match p {
                Protocol::Ip4(ip) => ip.into(),
                Protocol::Ip6(ip) => ip.into(),
                _ => continue,
            };
            if !ip.is_unspecified() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips.truncate(4);
    ips
}

impl Syncer {
    async fn on_checked(self: &Arc<Self>, item: Checked) {
        match item {
            Checked::Entry { from, entry } => {
                let author = entry.entry.author.clone();
                match self.catalog.ingest(*entry).await {
                    Ok(Ingested::Gap { have }) => self.spawn_catch_up(from, author, have),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(%from, "entry refused: {e}"),
                }
            }
            Checked::Refused(e) => self.catalog.count_refused(&e),
        }
    }

    async fn on_inbound(self: &Arc<Self>, msg: Inbound) {
        match msg {
            Inbound::Have { holder, have } => {
                if let Err(e) = self.catalog.apply_have(holder, have).await {
                    tracing::warn!("cannot record holdings: {e}");
                }
            }
            Inbound::Request { id, peer, request } => {
                let response = self.answer(request).unwrap_or_else(|e| {
                    tracing::warn!(%peer, "cannot answer catalog request: {e}");
                    CatalogResponse::Busy
                });
                let _ = self.net.catalog_respond(id, response).await;
            }
        }
    }

    fn answer(&self, request: CatalogRequest) -> Result<CatalogResponse, CatalogError> {
        Ok(match request {
            CatalogRequest::Heads => CatalogResponse::Heads {
                heads: self.catalog.heads(),
            },
            CatalogRequest::Entries {
                author,
                after,
                limit,
            } => CatalogResponse::Entries {
                entries: self.catalog.entries_after(&author, after, limit as usize)?,
            },
            CatalogRequest::Holdings => {
                CatalogResponse::Holdings(self.catalog.local_holdings(self.deps.bt_port))
            }
            CatalogRequest::Torrent { content_id } => match (self.deps.torrents)(&content_id) {
                Some(bytes) => CatalogResponse::Torrent {
                    torrent: base64::engine::general_purpose::STANDARD.encode(bytes),
                },
                None => CatalogResponse::NotFound,
            },
            CatalogRequest::Avatar { hash } => match self.catalog.avatar(&hash)? {
                Some(bytes) => CatalogResponse::Avatar {
                    avatar: base64::engine::general_purpose::STANDARD.encode(bytes),
                },
                None => CatalogResponse::NotFound,
            },
        })
    }

    fn on_event(self: &Arc<Self>, event: Event) {
        match event.kind {
            EventKind::PeerOnline { peer } => {
                let Ok(id) = peer.peer_id.parse::<PeerId>() else {
                    return;
                };
                if let Some(p) = &peer.profile {
                    self.catalog.peer_name(&id, &p.display_name);
                    self.spawn_avatar_fetch(id, p.avatar.as_deref());
                }
                self.catalog.peer_online(id, ips_of(&peer));
                self.spawn_sync(id);
                let me = self.clone();
                self.tracker.spawn(async move { me.send_queue().await });
            }
            EventKind::PeerUpdated { peer } => {
                if let Ok(id) = peer.peer_id.parse::<PeerId>() {
                    if let Some(p) = &peer.profile {
                        self.catalog.peer_name(&id, &p.display_name);
                        if peer.online {
                            self.spawn_avatar_fetch(id, p.avatar.as_deref());
                        }
                    }
                    if peer.online {
                        self.catalog.peer_online(id, ips_of(&peer));
                    }
                }
            }
            EventKind::FollowsChanged { .. } => self.sync_followed(),
            EventKind::PeerOffline { peer_id } => {
                if let Ok(id) = peer_id.parse::<PeerId>() {
                    self.catalog.peer_offline(id);
                }
            }
            EventKind::ProfileChanged { peer_id, profile } => {
                if let Ok(id) = peer_id.parse::<PeerId>() {
                    self.catalog.peer_name(&id, &profile.display_name);
                }
            }
            _ => {}
        }
    }

    /// Gossips queued entries of this node's feed; what gossip takes leaves the queue.
    async fn send_queue(&self) {
        let queued = match self.catalog.queued_announcements(QUEUE_BATCH) {
            Ok(q) => q,
            Err(e) => return tracing::warn!("cannot read the announcement queue: {e}"),
        };
        for (seq, signed) in queued {
            let Ok(bytes) = serde_json::to_vec(&signed) else {
                continue;
            };
            match self.net.gossip(FEED_TOPIC, bytes).await {
                Ok(()) => {
                    if let Err(e) = self.catalog.announced(seq) {
                        tracing::warn!("cannot dequeue announcement: {e}");
                    }
                }
                Err(GossipError::NoPeers) => return,
                Err(e) => return tracing::debug!("announcement not sent: {e}"),
            }
        }
    }

    /// Synchronises with every followed peer that is online.
    fn sync_followed(self: &Arc<Self>) {
        let net = self.net.clone();
        let followed = self.catalog.followed();
        self.tracker.spawn(async move {
            let _ = net.add_known(followed).await;
        });
        for peer in self.catalog.followed_online() {
            self.spawn_sync(peer);
        }
    }

    /// Fetches the profile picture `hash` from `peer` unless it is here or on its way.
    fn spawn_avatar_fetch(self: &Arc<Self>, peer: PeerId, hash: Option<&str>) {
        let Some(hash) = hash else { return };
        if !crate::net::presence::is_avatar_hash(hash) || self.catalog.has_avatar(hash) {
            return;
        }
        if !self
            .fetching_avatars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash.to_owned())
        {
            return;
        }
        let me = self.clone();
        let hash = hash.to_owned();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = me.cancel.cancelled() => {}
                r = me.fetch_avatar(peer, &hash) => if let Err(e) = r {
                    tracing::debug!(%peer, %hash, "profile picture not fetched: {e}");
                }
            }
            me.fetching_avatars
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&hash);
        });
    }

    /// Asks `peer` for the profile picture `hash`; keeps it if it is that picture, within
    /// the size limit, and decodes as an image of sane dimensions.
    async fn fetch_avatar(&self, peer: PeerId, hash: &str) -> Result<(), String> {
        let request = CatalogRequest::Avatar {
            hash: hash.to_owned(),
        };
        let b64 = match self.net.catalog_request(peer, request).await {
            Ok(CatalogResponse::Avatar { avatar }) => avatar,
            Ok(CatalogResponse::NotFound) => return Err("the peer does not have it".into()),
            Ok(_) => return Err("unexpected answer to avatar".into()),
            Err(e) => return Err(e.to_string()),
        };
        let max = crate::infra::thumbnail::MAX_AVATAR_BYTES;
        if b64.len() > max.div_ceil(3) * 4 {
            return Err("picture too large".into());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| "picture is not base64".to_string())?;
        if super::thumbnail_hash(&bytes) != hash {
            return Err("picture does not match its hash".into());
        }
        let bytes = tokio::task::spawn_blocking(move || {
            crate::infra::thumbnail::validate_avatar(&bytes).map(|()| bytes)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("invalid picture: {e}"))?;
        self.catalog
            .put_avatar(&bytes, false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Compares feeds and holdings with `peer`, once at a time per peer.
    fn spawn_sync(self: &Arc<Self>, peer: PeerId) {
        if !self
            .syncing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer)
        {
            return;
        }
        let me = self.clone();
        self.tracker.spawn(async move {
            let _permit = me.permits.clone().acquire_owned().await;
            tokio::select! {
                _ = me.cancel.cancelled() => {}
                r = me.sync_with(peer) => if let Err(e) = r {
                    tracing::debug!(%peer, "sync incomplete: {e}");
                }
            }
            me.syncing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        });
    }

    async fn sync_with(&self, peer: PeerId) -> Result<(), String> {
        match self
            .net
            .catalog_request(peer, CatalogRequest::Holdings)
            .await
        {
            Ok(CatalogResponse::Holdings(h)) => self
                .catalog
                .set_holdings(peer, h)
                .await
                .map_err(|e| e.to_string())?,
            Ok(other) => tracing::debug!(%peer, "unexpected answer to holdings: {other:?}"),
            Err(e) => return Err(e.to_string()),
        }
        let heads = match self.net.catalog_request(peer, CatalogRequest::Heads).await {
            Ok(CatalogResponse::Heads { heads }) => heads,
            Ok(_) => return Err("unexpected answer to heads".into()),
            Err(e) => return Err(e.to_string()),
        };
        for head in heads {
            let have = self.catalog.head_seq(&head.author);
            if head.seq > have && !self.catalog.over_quota(&head.author) {
                self.catch_up(peer, &head.author, have).await?;
            }
        }
        Ok(())
    }

    fn spawn_catch_up(self: &Arc<Self>, peer: PeerId, author: String, have: u64) {
        let me = self.clone();
        self.tracker.spawn(async move {
            let _permit = me.permits.clone().acquire_owned().await;
            tokio::select! {
                _ = me.cancel.cancelled() => {}
                r = me.catch_up(peer, &author, have) => if let Err(e) = r {
                    tracing::debug!(%peer, "catch-up incomplete: {e}");
                }
            }
        });
    }

    /// Fetches `author`'s entries after `after` from `peer`, in order, until it has all.
    async fn catch_up(&self, peer: PeerId, author: &str, mut after: u64) -> Result<(), String> {
        let mut fetched = 0usize;
        // Someone else may have filled the gap meanwhile.
        after = after.max(self.catalog.head_seq(author));
        while fetched < MAX_CATCH_UP {
            let request = CatalogRequest::Entries {
                author: author.to_owned(),
                after,
                limit: MAX_ENTRIES_PER_RESPONSE as u32,
            };
            let entries = match self.net.catalog_request(peer, request).await {
                Ok(CatalogResponse::Entries { entries }) => entries,
                Ok(_) => return Err("unexpected answer to entries".into()),
                Err(e) => return Err(e.to_string()),
            };
            let n = entries.len();
            if n > MAX_ENTRIES_PER_RESPONSE {
                return Err("too many entries in one answer".into());
            }
            for signed in entries {
                let v = match feed::verify(signed) {
                    Ok(v) if v.entry.author == author => v,
                    Ok(_) => return Err("entry of another feed".into()),
                    Err(e) => {
                        self.catalog.count_refused(&e);
                        return Err(format!("refused entry: {e}"));
                    }
                };
                let seq = v.entry.seq;
                match self.catalog.ingest(v).await {
                    Ok(Ingested::Stored | Ingested::Duplicate) => after = after.max(seq),
                    Ok(Ingested::Gap { .. }) => return Err("answer skipped entries".into()),
                    Err(e) => return Err(format!("refused entry: {e}")),
                }
            }
            fetched += n;
            if n < MAX_ENTRIES_PER_RESPONSE {
                break;
            }
        }
        // The author's picture, from whoever gave us the feed (it may be offline).
        if let Some(hash) = self.catalog.author_avatar(author) {
            if !self.catalog.has_avatar(&hash) {
                let _ = self.fetch_avatar(peer, &hash).await;
            }
        }
        Ok(())
    }
}

/// Gossips a change of this node's holdings and updates its DHT provider records.
pub async fn announce_have(net: &NetHandle, have: HaveMessage) {
    for id in have.complete.iter().chain(&have.partial) {
        let _ = net.provide(id.clone(), true).await;
    }
    for id in &have.dropped {
        let _ = net.provide(id.clone(), false).await;
    }
    if let Ok(bytes) = serde_json::to_vec(&have) {
        // Best effort: peers that miss it learn holdings when they next sync with us.
        let _ = net.gossip(HAVE_TOPIC, bytes).await;
    }
}
