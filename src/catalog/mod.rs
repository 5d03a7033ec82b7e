//! The network's catalog, as this node holds it: every feed it has replicated, the
//! resource records those feeds describe, a full-text index over them, and who holds a copy
//! of what.
//!
//! Entries reach the catalog from this node ([`Catalog::append_local`]) or from the
//! network ([`Catalog::ingest`]); both go through the same checks and the same append path.
//! Replication (gossip, catch-up, holder exchange) lives in [`sync`].

pub mod feed;
pub mod log;
pub mod search;
pub mod sync;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine as _;
use libp2p::identity::Keypair;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::api::types::{
    EventKind, Holder, LocalState, Profile, RejectCounts, Resource, ResourceKind, SearchRequest,
    SearchResult, SortOrder,
};
use crate::catalog::search::{IndexDoc, RecordRef, SearchError, SearchIndex, SearchQuery, SortBy};
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::net::protocol::{FeedHead, Holdings, MAX_ENTRIES_PER_RESPONSE, MAX_HEADS, MAX_HOLDINGS};
use feed::{Append, Body, FeedError, Head, ResourceBody, SignedEntry, Verified};
use log::{FeedLog, LogError};

/// Folders, inside the data dir, of the feed log and the search index.
pub const FEED_LOG_DIR: &str = "feeds_v1";
pub const SEARCH_DIR: &str = "search_v1";
/// Tables of earlier layouts, deleted on open. Where a resource's record is now lives in the
/// search index ([`RecordRef`]).
const RETIRED_TABLES: [&str; 4] = [
    "feed_entries_v1",
    "feed_heads_v1",
    "resources_v1",
    "resource_refs_v2",
];
const AUTHORS_TABLE: &str = "authors_v1";
const HOLDINGS_TABLE: &str = "holdings_v1";
const QUEUE_TABLE: &str = "announce_queue_v1";
const COUNTERS_TABLE: &str = "catalog_counters_v1";
const COUNTERS_KEY: &str = "rejected";
/// Entries read at a time when indexing the feed log again.
const REPLAY_BATCH: usize = 4096;
/// Indexing the feed log again commits every this many entries, which bounds the index's
/// record of changes since its last commit.
const REPLAY_COMMIT_EVERY: u64 = 64 * 1024;
/// Availability flips beyond this many in one change are sent as one `catalog_changed`.
const MAX_AVAILABILITY_EVENTS: usize = 100;
/// Largest page of search results.
pub const MAX_SEARCH_LIMIT: u32 = 200;

/// Catalog errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("search index: {0}")]
    Search(#[from] SearchError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("no resource {0} in the catalog")]
    NotFound(String),
    #[error("only its publisher can change resource {0}")]
    NotMine(String),
}

/// A resource record as stored: the publisher's description and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResource {
    pub body: ResourceBody,
    pub author: String,
    /// Sequence number of the entry that last described it.
    pub seq: u64,
}

/// The result of offering an entry to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    Duplicate,
    /// Earlier entries of this feed are missing; the caller should fetch them from `have`.
    Gap {
        have: u64,
    },
}

#[derive(Debug, Default)]
struct PeerHoldings {
    bt_port: u16,
    complete: HashSet<String>,
    partial: HashSet<String>,
    /// Copies held as a mirror (a subset of the two above).
    mirrored: HashSet<String>,
}

#[derive(Default)]
struct State {
    heads: HashMap<String, Head>,
    holders: HashMap<PeerId, PeerHoldings>,
    online: HashSet<PeerId>,
    ips: HashMap<PeerId, Vec<IpAddr>>,
    names: HashMap<String, String>,
    local: HashMap<String, LocalState>,
    /// Of `local`, the copies held as a mirror.
    mirrored: HashSet<String>,
    /// Peers I follow: their feeds are fetched from them directly and often.
    followed: HashSet<PeerId>,
    rejected: RejectCounts,
    /// Store writes (profiles) not yet flushed.
    dirty: bool,
    counters_dirty: bool,
}

struct Inner {
    key: Keypair,
    local: PeerId,
    store: Store,
    feeds: FeedLog,
    authors: Table<Profile>,
    holdings: Table<Holdings>,
    queue: Table<u64>,
    counters: Table<RejectCounts>,
    search: SearchIndex,
    state: Mutex<State>,
    /// Serialises appends, so a feed's head never moves under a check.
    append: tokio::sync::Mutex<()>,
    /// Wakes the sync actor when an own entry was queued for announcement.
    queued: tokio::sync::Notify,
    bus: EventBus,
}

/// The catalog. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

impl Catalog {
    /// Opens the catalog: small state in `store`, the feed log and the search index in
    /// folders of `data_dir`.
    pub fn open(
        store: &Store,
        data_dir: &std::path::Path,
        key: Keypair,
        bus: EventBus,
    ) -> Result<Self, CatalogError> {
        let index_dir = &data_dir.join(SEARCH_DIR);
        let (search, rebuild) = match SearchIndex::open(index_dir) {
            Ok(s) => (s, false),
            Err(e) if e.needs_rebuild() => {
                tracing::warn!("{e}");
                (SearchIndex::recreate(index_dir)?, true)
            }
            Err(e) => return Err(e.into()),
        };
        let holdings = store.table::<Holdings>(HOLDINGS_TABLE)?;
        let authors = store.table::<Profile>(AUTHORS_TABLE)?;
        let counters = store.table::<RejectCounts>(COUNTERS_TABLE)?;
        for table in RETIRED_TABLES {
            if store.drop_table(table)? {
                tracing::info!(table, "deleted a table of an earlier layout");
            }
        }
        let mut state = State {
            rejected: counters.get(COUNTERS_KEY)?.unwrap_or_default(),
            ..Default::default()
        };
        // Heads come from the log itself: it holds exactly what was stored.
        let feeds = FeedLog::open(&data_dir.join(FEED_LOG_DIR))?;
        for author in feeds.authors() {
            if let Some(head) = feeds.head(&author)? {
                state.heads.insert(author, head);
            }
        }
        for (peer, h) in holdings.entries()? {
            if let Ok(peer) = peer.parse::<PeerId>() {
                state.holders.insert(peer, peer_holdings(&h));
            }
        }
        for (author, profile) in authors.entries()? {
            if !profile.display_name.is_empty() {
                state.names.insert(author, profile.display_name);
            }
        }
        let catalog = Self {
            inner: Arc::new(Inner {
                local: key.public().to_peer_id(),
                key,
                store: store.clone(),
                feeds,
                authors,
                holdings,
                queue: store.table(QUEUE_TABLE)?,
                counters,
                search,
                state: Mutex::new(state),
                append: tokio::sync::Mutex::new(()),
                queued: tokio::sync::Notify::new(),
                bus,
            }),
        };
        catalog.index_log(rebuild)?;
        Ok(catalog)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update of `State` is a plain field write; a panic cannot leave it torn.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn local_peer(&self) -> PeerId {
        self.inner.local
    }

    /// Brings the search index up to the feed log: applies the entries stored after the
    /// index's checkpoint (those a crash kept out of it), or every entry when `rebuild` (a
    /// new or damaged index) or when the index is ahead of the log.
    fn index_log(&self, mut rebuild: bool) -> Result<(), CatalogError> {
        let search = &self.inner.search;
        let feeds = &self.inner.feeds;
        let count = feeds.count();
        rebuild |= search.checkpoint() > count;
        let mut at = if rebuild { 0 } else { search.checkpoint() };
        if at == count {
            return Ok(());
        }
        let started = Instant::now();
        if rebuild {
            search.clear()?;
        }
        let from = at;
        while at < count {
            let batch = feeds.positions(at, REPLAY_BATCH)?;
            if batch.is_empty() {
                break;
            }
            for (number, seq) in &batch {
                let author = feeds.author(*number);
                let signed = feeds.get_numbered(*number, *seq)?;
                let (Some(author), Some(signed)) = (author, signed) else {
                    return Err(LogError::Corrupt {
                        path: FEED_LOG_DIR.into(),
                        message: format!("entry {seq} of author number {number} is missing"),
                    }
                    .into());
                };
                let entry = decode_stored(&signed)?;
                self.apply(&author, *number, entry.seq, entry.body, false)?;
            }
            at += batch.len() as u64;
            if at % REPLAY_COMMIT_EVERY == 0 {
                search.commit_through(at)?;
            }
        }
        search.commit_through(at)?;
        tracing::info!(
            entries = at - from,
            rebuild,
            took = ?started.elapsed(),
            "search index brought up to the feed log"
        );
        Ok(())
    }

    /// Offers a verified entry from the network. Refusals are counted.
    pub async fn ingest(&self, entry: Verified) -> Result<Ingested, CatalogError> {
        let _guard = self.inner.append.lock().await;
        let result = self.ingest_locked(&entry);
        if let Err(CatalogError::Feed(e)) = &result {
            self.count_refused(e);
        }
        result
    }

    fn ingest_locked(&self, v: &Verified) -> Result<Ingested, CatalogError> {
        let author = v.entry.author.clone();
        let head = self.state().heads.get(&author).cloned();
        let append = feed::check_append(head.as_ref(), v, |seq| {
            self.inner
                .feeds
                .get(&author, seq)
                .ok()
                .flatten()
                .map(|s| feed::hash_of(&s))
        })?;
        match append {
            Append::Duplicate => Ok(Ingested::Duplicate),
            Append::Gap { have } => Ok(Ingested::Gap { have }),
            Append::Next => {
                self.store_entry(v)?;
                Ok(Ingested::Stored)
            }
        }
    }

    /// Writes an entry that extends its feed and applies its body.
    fn store_entry(&self, v: &Verified) -> Result<(), CatalogError> {
        let author = &v.entry.author;
        let head = Head {
            seq: v.entry.seq,
            hash: v.hash.clone(),
        };
        self.inner.feeds.append(author, v.entry.seq, &v.signed)?;
        self.state().heads.insert(author.clone(), head);
        let number = self
            .inner
            .feeds
            .number(author)
            .ok_or_else(|| LogError::Corrupt {
                path: FEED_LOG_DIR.into(),
                message: format!("no number for {author} after appending"),
            })?;
        self.apply(author, number, v.entry.seq, v.entry.body.clone(), true)
    }

    /// Applies a stored entry's body to the index and the small tables: when it is stored,
    /// and again when the index is brought up to the log (`notify` false: nobody listens).
    /// Applying an entry twice changes nothing.
    fn apply(
        &self,
        author: &str,
        number: u32,
        seq: u64,
        body: Body,
        notify: bool,
    ) -> Result<(), CatalogError> {
        let search = &self.inner.search;
        match body {
            Body::Publish { resource } => {
                let existing = search.locate(&resource.content_id)?;
                if existing.is_some_and(|r| r.author != number) {
                    // Someone else published the same bytes first; their record stays.
                    return Ok(());
                }
                let stored = StoredResource {
                    body: resource,
                    author: author.to_owned(),
                    seq,
                };
                search.upsert(&index_doc(
                    &stored,
                    RecordRef {
                        author: number,
                        seq,
                    },
                ))?;
                if notify {
                    let resource = self.to_resource(stored);
                    self.inner.bus.emit(EventKind::ResourceAdded { resource });
                }
            }
            Body::Unpublish { content_id } => {
                let owned = search
                    .locate(&content_id)?
                    .is_some_and(|r| r.author == number);
                if owned {
                    search.remove(&content_id)?;
                    if notify {
                        self.inner
                            .bus
                            .emit(EventKind::ResourceRemoved { content_id });
                    }
                }
            }
            Body::Profile { profile } => {
                self.inner.authors.insert(author, &profile)?;
                let mut state = self.state();
                state.dirty = true;
                if profile.display_name.is_empty() {
                    state.names.remove(author);
                } else {
                    state.names.insert(author.to_owned(), profile.display_name);
                }
            }
        }
        Ok(())
    }

    /// Counts a refused entry, whether the network task or the catalog refused it.
    pub fn count_refused(&self, e: &FeedError) {
        let mut state = self.state();
        let r = &mut state.rejected;
        match e {
            FeedError::Oversize(_) => r.oversize += 1,
            FeedError::Malformed(_) => r.malformed += 1,
            FeedError::BadSignature => r.bad_signature += 1,
            FeedError::InvalidBody(_) => r.invalid += 1,
            FeedError::BrokenChain => r.broken_chain += 1,
            FeedError::Fork(_) => r.fork += 1,
        }
        state.counters_dirty = true;
    }

    /// Writes, signs and stores the next entry of this node's own feed, durably, and queues
    /// its announcement. Returns once it is on disk.
    pub async fn append_local(&self, body: Body) -> Result<Verified, CatalogError> {
        let _guard = self.inner.append.lock().await;
        let local = self.inner.local.to_string();
        let head = self.state().heads.get(&local).cloned();
        let v = feed::sign_next(&self.inner.key, head.as_ref(), now_ms(), body)?;
        self.store_entry(&v)?;
        // Durable before anyone hears of it: after a crash this node must never sign a
        // second entry with a sequence number it already used.
        self.inner.feeds.sync()?;
        self.inner
            .queue
            .insert(&format!("{:020}", v.entry.seq), &v.entry.seq)?;
        self.inner.store.flush().await?;
        self.inner.queued.notify_one();
        Ok(v)
    }

    /// My entries not yet announced, oldest first, with their sequence numbers.
    pub fn queued_announcements(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, SignedEntry)>, CatalogError> {
        let local = self.inner.local.to_string();
        let mut out = Vec::new();
        for (_, seq) in self.inner.queue.scan_prefix("", limit)? {
            if let Some(e) = self.inner.feeds.get(&local, seq)? {
                out.push((seq, e));
            }
        }
        Ok(out)
    }

    /// Resolves when an own entry was queued since the last call.
    pub async fn announcement_queued(&self) {
        self.inner.queued.notified().await
    }

    /// Marks one of my entries as announced.
    pub fn announced(&self, seq: u64) -> Result<(), CatalogError> {
        self.inner.queue.delete(&format!("{seq:020}"))?;
        Ok(())
    }

    /// Makes new records searchable and pending writes durable. Cheap when nothing changed.
    pub async fn commit(&self) -> Result<(), CatalogError> {
        // No entry is stored meanwhile: the index's checkpoint must say exactly which
        // entries it holds.
        let _guard = self.inner.append.lock().await;
        let (dirty, counters) = {
            let mut s = self.state();
            let d = (s.dirty, s.counters_dirty.then(|| s.rejected.clone()));
            s.dirty = false;
            s.counters_dirty = false;
            d
        };
        // Entries first: the index points at them.
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> Result<(), CatalogError> {
            inner.feeds.sync()?;
            inner.search.commit_through(inner.feeds.count())?;
            Ok(())
        })
        .await
        .map_err(|e| SearchError::Io(std::io::Error::other(e.to_string())))??;
        if let Some(c) = &counters {
            self.inner.counters.insert(COUNTERS_KEY, c)?;
        }
        if dirty || counters.is_some() {
            self.inner.store.flush().await?;
        }
        Ok(())
    }

    /// The tip of every feed held (at most [`MAX_HEADS`]).
    pub fn heads(&self) -> Vec<FeedHead> {
        self.state()
            .heads
            .iter()
            .take(MAX_HEADS)
            .map(|(author, h)| FeedHead {
                author: author.clone(),
                seq: h.seq,
            })
            .collect()
    }

    pub fn head_seq(&self, author: &str) -> u64 {
        self.state().heads.get(author).map_or(0, |h| h.seq)
    }

    /// Entries of `author`'s feed after `after`, in order.
    pub fn entries_after(
        &self,
        author: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, CatalogError> {
        let limit = limit.clamp(1, MAX_ENTRIES_PER_RESPONSE);
        Ok(self.inner.feeds.after(author, after, limit)?)
    }

    // ----- holders and availability -----

    /// Records what `peer` holds, replacing what was known.
    pub async fn set_holdings(&self, peer: PeerId, h: Holdings) -> Result<(), CatalogError> {
        let mut h = h;
        h.complete.truncate(MAX_HOLDINGS);
        h.partial.truncate(MAX_HOLDINGS);
        h.mirrored.truncate(MAX_HOLDINGS);
        h.complete.retain(|id| feed::is_hex(id, 40));
        h.partial.retain(|id| feed::is_hex(id, 40));
        h.mirrored.retain(|id| feed::is_hex(id, 40));
        let new = peer_holdings(&h);
        let changed = {
            let mut s = self.state();
            let online = s.online.contains(&peer);
            let old = s.holders.insert(peer, new);
            let now = &s.holders[&peer];
            let mut ids: Vec<String> = Vec::new();
            if online {
                let before = old.map(|o| o.complete).unwrap_or_default();
                ids.extend(before.symmetric_difference(&now.complete).cloned());
            }
            ids
        };
        self.inner.holdings.insert(&peer.to_string(), &h)?;
        self.emit_availability(changed);
        Ok(())
    }

    /// Applies a gossiped change of `peer`'s holdings.
    pub async fn apply_have(
        &self,
        peer: PeerId,
        have: crate::net::protocol::HaveMessage,
    ) -> Result<(), CatalogError> {
        let (snapshot, changed) = {
            let mut s = self.state();
            let online = s.online.contains(&peer);
            let entry = s.holders.entry(peer).or_default();
            entry.bt_port = have.bt_port;
            let mut changed = Vec::new();
            for id in have.complete {
                entry.partial.remove(&id);
                if entry.complete.insert(id.clone()) && online {
                    changed.push(id);
                }
            }
            for id in have.partial {
                if !entry.complete.contains(&id) {
                    entry.partial.insert(id);
                }
            }
            for id in have.mirrored {
                if entry.mirrored.len() < MAX_HOLDINGS {
                    entry.mirrored.insert(id);
                }
            }
            for id in have.dropped {
                entry.mirrored.remove(&id);
                entry.partial.remove(&id);
                if entry.complete.remove(&id) && online {
                    changed.push(id);
                }
            }
            (holdings_of(entry), changed)
        };
        self.inner.holdings.insert(&peer.to_string(), &snapshot)?;
        self.emit_availability(changed);
        Ok(())
    }

    /// Presence says `peer` is online, reachable at `ips`.
    pub fn peer_online(&self, peer: PeerId, ips: Vec<IpAddr>) {
        let changed = {
            let mut s = self.state();
            if !ips.is_empty() {
                s.ips.insert(peer, ips);
            }
            if !s.online.insert(peer) {
                return;
            }
            s.holders
                .get(&peer)
                .map(|h| h.complete.iter().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        self.emit_availability(changed);
    }

    pub fn peer_offline(&self, peer: PeerId) {
        let changed = {
            let mut s = self.state();
            if !s.online.remove(&peer) {
                return;
            }
            s.holders
                .get(&peer)
                .map(|h| h.complete.iter().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        self.emit_availability(changed);
    }

    /// Remembers a peer's display name (from presence) for showing authors.
    pub fn peer_name(&self, peer: &PeerId, name: &str) {
        if !name.is_empty() {
            self.state().names.insert(peer.to_string(), name.to_owned());
        }
    }

    /// Emits availability events for `ids` (or one `catalog_changed` when there are many).
    fn emit_availability(&self, mut ids: Vec<String>) {
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        if ids.len() > MAX_AVAILABILITY_EVENTS {
            self.inner.bus.emit(EventKind::CatalogChanged);
            return;
        }
        for id in ids {
            let (available, holders_online) = {
                let s = self.state();
                let (_, online) = holder_counts(&s, &id);
                (availability(&s, self.inner.local, &id), online)
            };
            self.inner.bus.emit(EventKind::AvailabilityChanged {
                content_id: id,
                available,
                holders_online,
            });
        }
    }

    /// What this node has of `content_id`.
    pub fn set_local(&self, content_id: &str, local: LocalState) {
        // Holding a copy or not changes the holder count even when availability stays.
        let changed = {
            let mut s = self.state();
            let view = |s: &State| {
                (
                    availability(s, self.inner.local, content_id),
                    holder_counts(s, content_id),
                )
            };
            let before = view(&s);
            if local == LocalState::None {
                s.local.remove(content_id);
            } else {
                s.local.insert(content_id.to_owned(), local);
            }
            before != view(&s)
        };
        if changed {
            self.emit_availability(vec![content_id.to_owned()]);
        }
    }

    /// Marks a copy of `content_id` as held for a mirror (or not).
    pub fn set_mirrored(&self, content_id: &str, mirrored: bool) {
        let mut s = self.state();
        if mirrored {
            s.mirrored.insert(content_id.to_owned());
        } else {
            s.mirrored.remove(content_id);
        }
    }

    pub fn is_mirrored(&self, content_id: &str) -> bool {
        self.state().mirrored.contains(content_id)
    }

    /// The peers I follow (their feeds are synchronised with them eagerly).
    pub fn set_followed(&self, peers: impl IntoIterator<Item = PeerId>) {
        self.state().followed = peers.into_iter().collect();
    }

    /// The followed peers that are online now.
    pub fn followed_online(&self) -> Vec<PeerId> {
        let s = self.state();
        s.followed
            .iter()
            .filter(|p| s.online.contains(p))
            .copied()
            .collect()
    }

    pub fn is_followed(&self, peer: &PeerId) -> bool {
        self.state().followed.contains(peer)
    }

    pub fn is_online(&self, peer: &PeerId) -> bool {
        self.state().online.contains(peer)
    }

    /// A peer's display name, when known.
    pub fn name_of(&self, peer: &str) -> Option<String> {
        self.state().names.get(peer).cloned()
    }

    pub fn local_state(&self, content_id: &str) -> LocalState {
        self.state()
            .local
            .get(content_id)
            .copied()
            .unwrap_or(LocalState::None)
    }

    /// What this node holds, as told to peers.
    pub fn local_holdings(&self, bt_port: u16) -> Holdings {
        let s = self.state();
        let mut h = Holdings {
            bt_port,
            ..Default::default()
        };
        for (id, state) in &s.local {
            match state {
                LocalState::Published | LocalState::Complete => h.complete.push(id.clone()),
                LocalState::Downloading => h.partial.push(id.clone()),
                LocalState::None => {}
            }
        }
        h.complete.truncate(MAX_HOLDINGS);
        h.partial.truncate(MAX_HOLDINGS);
        h.mirrored = h
            .complete
            .iter()
            .chain(&h.partial)
            .filter(|id| s.mirrored.contains(*id))
            .cloned()
            .collect();
        h
    }

    /// BitTorrent addresses of the online peers holding `content_id` (complete first),
    /// and the peers themselves.
    pub fn holder_addrs(&self, content_id: &str) -> Vec<(PeerId, Vec<std::net::SocketAddr>)> {
        let s = self.state();
        let mut out: Vec<(bool, PeerId, Vec<std::net::SocketAddr>)> = Vec::new();
        for (peer, h) in &s.holders {
            if *peer == self.inner.local || !s.online.contains(peer) || h.bt_port == 0 {
                continue;
            }
            let complete = h.complete.contains(content_id);
            if !complete && !h.partial.contains(content_id) {
                continue;
            }
            let addrs = s
                .ips
                .get(peer)
                .map(|ips| {
                    ips.iter()
                        .map(|ip| std::net::SocketAddr::new(*ip, h.bt_port))
                        .collect()
                })
                .unwrap_or_default();
            out.push((!complete, *peer, addrs));
        }
        out.sort_by_key(|(partial, _, _)| *partial);
        out.into_iter().map(|(_, p, a)| (p, a)).collect()
    }

    /// Everyone known to hold a complete copy of `content_id`, this node included.
    pub fn holders(&self, content_id: &str) -> Vec<Holder> {
        let s = self.state();
        let mut out = Vec::new();
        if matches!(
            s.local.get(content_id),
            Some(LocalState::Published | LocalState::Complete)
        ) {
            out.push(Holder {
                peer_id: self.inner.local.to_string(),
                name: s.names.get(&self.inner.local.to_string()).cloned(),
                online: true,
                is_self: true,
                bt_addr: None,
                mirror: s.mirrored.contains(content_id),
            });
        }
        for (peer, h) in &s.holders {
            if *peer == self.inner.local || !h.complete.contains(content_id) {
                continue;
            }
            let id = peer.to_string();
            out.push(Holder {
                name: s.names.get(&id).cloned(),
                online: s.online.contains(peer),
                is_self: false,
                bt_addr: s
                    .ips
                    .get(peer)
                    .and_then(|ips| ips.first())
                    .filter(|_| h.bt_port != 0)
                    .map(|ip| std::net::SocketAddr::new(*ip, h.bt_port).to_string()),
                mirror: h.mirrored.contains(content_id),
                peer_id: id,
            });
        }
        out.sort_by_key(|h| std::cmp::Reverse((h.is_self, h.online)));
        out
    }

    // ----- reading the catalog -----

    pub fn get(&self, content_id: &str) -> Result<Option<StoredResource>, CatalogError> {
        match self.inner.search.locate(content_id) {
            Ok(Some(r)) => self.load(content_id, r),
            Ok(None) | Err(SearchError::InvalidContentId(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The record `r` points at, read from its feed entry, if it is the publish entry of
    /// `content_id`.
    fn load(&self, content_id: &str, r: RecordRef) -> Result<Option<StoredResource>, CatalogError> {
        let Some(signed) = self.inner.feeds.get_numbered(r.author, r.seq)? else {
            return Ok(None);
        };
        let entry = decode_stored(&signed)?;
        Ok(match entry.body {
            Body::Publish { resource } if resource.content_id == content_id => {
                Some(StoredResource {
                    body: resource,
                    author: entry.author,
                    seq: entry.seq,
                })
            }
            _ => None,
        })
    }

    pub fn resource(&self, content_id: &str) -> Result<Resource, CatalogError> {
        let stored = self
            .get(content_id)?
            .ok_or_else(|| CatalogError::NotFound(content_id.to_owned()))?;
        Ok(self.to_resource(stored))
    }

    /// The resources this node published.
    pub fn published(&self) -> Result<Vec<Resource>, CatalogError> {
        let ids: Vec<String> = self
            .state()
            .local
            .iter()
            .filter(|(_, s)| **s == LocalState::Published)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = self.get(&id)? {
                out.push(self.to_resource(r));
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
        Ok(out)
    }

    pub fn search(&self, req: &SearchRequest) -> Result<SearchResult, CatalogError> {
        let started = Instant::now();
        let limit = match req.limit {
            0 => 50,
            n => n.min(MAX_SEARCH_LIMIT),
        };
        let sort = match (req.sort, req.text.trim().is_empty()) {
            (SortOrder::Newest, _) | (SortOrder::Relevance, true) => SortBy::Newest,
            (SortOrder::Relevance, false) => SortBy::Relevance,
        };
        let query = SearchQuery {
            text: req.text.clone(),
            kinds: req.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            authors: req.author.iter().cloned().collect(),
            sort,
            offset: req.offset as usize,
            limit: limit as usize,
        };
        // The ids some online holder has, gathered once instead of per candidate.
        let available: Option<HashSet<String>> = req.available_only.then(|| {
            let s = self.state();
            let mine = s
                .local
                .iter()
                .filter(|(_, l)| matches!(l, LocalState::Published | LocalState::Complete));
            let theirs = s
                .online
                .iter()
                .filter(|p| **p != self.inner.local)
                .filter_map(|p| s.holders.get(p))
                .flat_map(|h| h.complete.iter());
            mine.map(|(id, _)| id).chain(theirs).cloned().collect()
        });
        let accept = |id: &str| available.as_ref().is_none_or(|set| set.contains(id));
        let hits = self.inner.search.search(&query, &accept)?;
        let mut items = Vec::with_capacity(hits.ids.len());
        for id in &hits.ids {
            if let Some(r) = self.get(id)? {
                items.push(self.to_resource(r));
            }
        }
        Ok(SearchResult {
            total: hits.total as u32,
            total_is_lower_bound: hits.total_is_lower_bound,
            items,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    pub fn stats(&self) -> crate::api::types::CatalogStats {
        let s = self.state();
        crate::api::types::CatalogStats {
            resources: self.inner.search.len(),
            feeds: s.heads.len() as u64,
            entries: s.heads.values().map(|h| h.seq).sum(),
            queued_announcements: self.inner.queue.len() as u64,
            rejected: s.rejected.clone(),
        }
    }

    /// The thumbnail of `content_id` whose hash is `hash`, and its image type. Asking by
    /// hash makes the answer the same forever, so it can be cached without checking.
    pub fn thumbnail(
        &self,
        content_id: &str,
        hash: &str,
    ) -> Result<Option<(Vec<u8>, &'static str)>, CatalogError> {
        let Some(r) = self.get(content_id)? else {
            return Ok(None);
        };
        Ok(r.body
            .thumbnail
            .as_deref()
            .and_then(thumbnail_bytes)
            .filter(|(bytes, _)| thumbnail_hash(bytes) == hash))
    }

    fn to_resource(&self, r: StoredResource) -> Resource {
        let s = self.state();
        let (known, online) = holder_counts(&s, &r.body.content_id);
        let available = availability(&s, self.inner.local, &r.body.content_id);
        let b = r.body;
        Resource {
            local: s
                .local
                .get(&b.content_id)
                .copied()
                .unwrap_or(LocalState::None),
            author_name: s.names.get(&r.author).cloned(),
            thumbnail_hash: b
                .thumbnail
                .as_deref()
                .and_then(thumbnail_bytes)
                .map(|(t, _)| thumbnail_hash(&t)),
            duration_ms: b.duration_ms,
            holders_known: known,
            holders_online: online,
            available,
            content_id: b.content_id,
            magnet: b.magnet,
            title: b.title,
            description: b.description,
            kind: b.kind,
            tags: b.tags,
            size: b.size,
            mime: b.mime,
            files: b.files,
            created_ms: b.created_ms,
            author: r.author,
        }
    }
}

fn peer_holdings(h: &Holdings) -> PeerHoldings {
    PeerHoldings {
        bt_port: h.bt_port,
        complete: h.complete.iter().take(MAX_HOLDINGS).cloned().collect(),
        partial: h.partial.iter().take(MAX_HOLDINGS).cloned().collect(),
        mirrored: h.mirrored.iter().take(MAX_HOLDINGS).cloned().collect(),
    }
}

fn holdings_of(h: &PeerHoldings) -> Holdings {
    Holdings {
        bt_port: h.bt_port,
        complete: h.complete.iter().cloned().collect(),
        partial: h.partial.iter().cloned().collect(),
        mirrored: h.mirrored.iter().cloned().collect(),
    }
}

/// (known, online) holders of a complete copy, this node included.
fn holder_counts(s: &State, id: &str) -> (u32, u32) {
    let mine = matches!(
        s.local.get(id),
        Some(LocalState::Published | LocalState::Complete)
    ) as u32;
    let mut known = mine;
    let mut online = mine;
    for (peer, h) in &s.holders {
        if h.complete.contains(id) {
            known += 1;
            online += s.online.contains(peer) as u32;
        }
    }
    (known, online)
}

fn availability(s: &State, local: PeerId, id: &str) -> bool {
    if matches!(
        s.local.get(id),
        Some(LocalState::Published | LocalState::Complete)
    ) {
        return true;
    }
    s.online
        .iter()
        .any(|p| *p != local && s.holders.get(p).is_some_and(|h| h.complete.contains(id)))
}

/// A stored entry's content (it was verified when it was stored).
fn decode_stored(signed: &SignedEntry) -> Result<feed::Entry, CatalogError> {
    serde_json::from_str(&signed.payload).map_err(|e| {
        StoreError::Corrupt {
            table: FEED_LOG_DIR,
            message: e.to_string(),
        }
        .into()
    })
}

fn index_doc(r: &StoredResource, record: RecordRef) -> IndexDoc<'_> {
    IndexDoc {
        record,
        content_id: &r.body.content_id,
        title: &r.body.title,
        description: &r.body.description,
        tags: &r.body.tags,
        kind: r.body.kind.as_str(),
        author: &r.author,
        created_ms: r.body.created_ms,
        size: r.body.size,
    }
}

/// Thumbnail bytes (base64 in a record) and their image type, from their magic bytes.
fn thumbnail_bytes(b64: &str) -> Option<(Vec<u8>, &'static str)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let mime = if bytes.starts_with(&[0xFF, 0xD8]) {
        "image/jpeg"
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else if bytes.starts_with(b"RIFF") {
        "image/webp"
    } else {
        return None;
    };
    Some((bytes, mime))
}

/// The name a thumbnail is served under: blake3 of its bytes, hex.
pub fn thumbnail_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The MIME type of a file, from its extension.
pub fn guess_mime(path: &std::path::Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "epub" => "application/epub+zip",
        "djvu" => "image/vnd.djvu",
        "ps" => "application/postscript",
        "tex" => "application/x-tex",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "odt" => "application/vnd.oasis.opendocument.text",
        "md" => "text/markdown",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "parquet" => "application/vnd.apache.parquet",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "h5" | "hdf5" => "application/x-hdf5",
        "nc" => "application/x-netcdf",
        "sqlite" | "db" => "application/vnd.sqlite3",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "ogv" => "video/ogg",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "tif" | "tiff" => "image/tiff",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

/// The kind a MIME type suggests.
pub fn guess_kind(mime: &str) -> ResourceKind {
    let (top, sub) = mime.split_once('/').unwrap_or((mime, ""));
    match top {
        "video" => ResourceKind::Video,
        "audio" => ResourceKind::Audio,
        "image" if sub != "vnd.djvu" => ResourceKind::Image,
        _ => match mime {
            "application/pdf"
            | "application/epub+zip"
            | "image/vnd.djvu"
            | "application/postscript"
            | "application/x-tex"
            | "application/msword"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.oasis.opendocument.text"
            | "text/markdown" => ResourceKind::Paper,
            "text/csv"
            | "text/tab-separated-values"
            | "application/json"
            | "application/x-ndjson"
            | "application/vnd.apache.parquet"
            | "application/vnd.ms-excel"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.oasis.opendocument.spreadsheet"
            | "application/x-hdf5"
            | "application/x-netcdf"
            | "application/vnd.sqlite3" => ResourceKind::Dataset,
            _ => ResourceKind::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Event;

    fn open(dir: &std::path::Path, key: Keypair) -> (Catalog, EventBus, Store) {
        let store = Store::open(dir).unwrap();
        let bus = EventBus::new();
        let c = Catalog::open(&store, dir, key, bus.clone()).unwrap();
        (c, bus, store)
    }

    fn publish(n: u8) -> Body {
        Body::Publish {
            resource: feed::tests::resource(n),
        }
    }

    fn kinds(bus: &EventBus) -> Vec<EventKind> {
        bus.since(0)
            .unwrap()
            .into_iter()
            .map(|e: Event| e.kind)
            .collect()
    }

    #[tokio::test]
    async fn local_publishes_are_searchable_and_replicate_in_order() {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let a_key = Keypair::generate_ed25519();
        let (a, _, _s1) = open(a_dir.path(), a_key.clone());
        let (b, b_bus, _s2) = open(b_dir.path(), Keypair::generate_ed25519());
        let e1 = a.append_local(publish(1)).await.unwrap();
        let e2 = a.append_local(publish(2)).await.unwrap();
        a.commit().await.unwrap();
        let hits = a
            .search(&SearchRequest {
                text: "topic".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.total, 2);

        // Out of order: the second entry waits for the first.
        assert_eq!(
            b.ingest(e2.clone()).await.unwrap(),
            Ingested::Gap { have: 0 }
        );
        let author = a_key.public().to_peer_id().to_string();
        let missing = a.entries_after(&author, 0, 10).unwrap();
        assert_eq!(missing.len(), 2);
        for s in missing {
            b.ingest(feed::verify(s).unwrap()).await.unwrap();
        }
        assert_eq!(b.ingest(e1).await.unwrap(), Ingested::Duplicate);
        b.commit().await.unwrap();
        assert_eq!(b.stats().resources, 2);
        assert!(kinds(&b_bus)
            .iter()
            .any(|k| matches!(k, EventKind::ResourceAdded { .. })));

        // Retraction by the author removes it everywhere it replicates.
        let un = a
            .append_local(Body::Unpublish {
                content_id: e2.entry.body_content_id().unwrap(),
            })
            .await
            .unwrap();
        b.ingest(un).await.unwrap();
        b.commit().await.unwrap();
        assert_eq!(b.stats().resources, 1);
    }

    #[tokio::test]
    async fn forks_are_counted_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _, _s) = open(dir.path(), Keypair::generate_ed25519());
        let author = Keypair::generate_ed25519();
        let first = feed::sign_next(&author, None, 1, publish(1)).unwrap();
        let fork = feed::sign_next(&author, None, 2, publish(2)).unwrap();
        c.ingest(first).await.unwrap();
        assert!(matches!(
            c.ingest(fork).await,
            Err(CatalogError::Feed(FeedError::Fork(1)))
        ));
        c.commit().await.unwrap();
        assert_eq!(c.stats().rejected.fork, 1);
        assert_eq!(c.stats().resources, 1);
    }

    #[tokio::test]
    async fn availability_follows_holders_presence() {
        let dir = tempfile::tempdir().unwrap();
        let (c, bus, _s) = open(dir.path(), Keypair::generate_ed25519());
        let author = Keypair::generate_ed25519();
        let e = feed::sign_next(&author, None, 1, publish(7)).unwrap();
        let id = e.entry.body_content_id().unwrap();
        c.ingest(e).await.unwrap();
        let holder = author.public().to_peer_id();
        c.set_holdings(
            holder,
            Holdings {
                bt_port: 6881,
                complete: vec![id.clone()],
                partial: vec![],
                mirrored: vec![],
            },
        )
        .await
        .unwrap();
        assert!(!c.resource(&id).unwrap().available);
        c.peer_online(holder, vec![std::net::Ipv4Addr::LOCALHOST.into()]);
        let r = c.resource(&id).unwrap();
        assert!(r.available);
        assert_eq!(r.holders_online, 1);
        assert_eq!(
            c.holder_addrs(&id)[0].1,
            vec!["127.0.0.1:6881".parse().unwrap()]
        );
        c.peer_offline(holder);
        assert!(!c.resource(&id).unwrap().available);
        let flips: Vec<bool> = kinds(&bus)
            .into_iter()
            .filter_map(|k| match k {
                EventKind::AvailabilityChanged { available, .. } => Some(available),
                _ => None,
            })
            .collect();
        assert_eq!(flips, vec![true, false]);
    }

    #[tokio::test]
    async fn the_index_catches_up_with_the_log_after_a_crash_or_loss() {
        let dir = tempfile::tempdir().unwrap();
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let first = publish(1);
        let first_id = match &first {
            Body::Publish { resource } => resource.content_id.clone(),
            _ => unreachable!(),
        };
        {
            let (c, _, _s) = open(dir.path(), key.clone());
            c.append_local(first.clone()).await.unwrap();
            c.commit().await.unwrap();
            // Not committed: the index never saw these, as after a crash.
            c.append_local(publish(2)).await.unwrap();
            c.append_local(Body::Unpublish {
                content_id: first_id.clone(),
            })
            .await
            .unwrap();
            // Another author publishing the same bytes later does not take the record.
            c.ingest(feed::sign_next(&other, None, 1, publish(2)).unwrap())
                .await
                .unwrap();
        }
        let count = |c: &Catalog| {
            c.search(&SearchRequest {
                text: "notes".into(),
                ..Default::default()
            })
            .unwrap()
            .total
        };
        let check = |c: &Catalog| {
            assert_eq!(count(c), 1);
            let second = match publish(2) {
                Body::Publish { resource } => resource.content_id,
                _ => unreachable!(),
            };
            let record = c.get(&second).unwrap().unwrap();
            assert_eq!(record.author, key.public().to_peer_id().to_string());
            // Retracted by its author.
            assert!(c.get(&first_id).unwrap().is_none());
        };
        {
            let (c, _, _s) = open(dir.path(), key.clone());
            check(&c);
            assert_eq!(c.inner.search.checkpoint(), 4);
        }
        // The index lost altogether: built again from the log alone.
        std::fs::remove_dir_all(dir.path().join(SEARCH_DIR)).unwrap();
        let (c, _, _s) = open(dir.path(), key.clone());
        check(&c);
    }

    #[tokio::test]
    async fn heads_come_back_from_the_log_and_forks_stay_out() {
        let dir = tempfile::tempdir().unwrap();
        let author = Keypair::generate_ed25519();
        let first = feed::sign_next(&author, None, 1, publish(1)).unwrap();
        let head = Head {
            seq: 1,
            hash: first.hash.clone(),
        };
        let second = feed::sign_next(&author, Some(&head), 2, publish(2)).unwrap();
        {
            let (c, _, store) = open(dir.path(), Keypair::generate_ed25519());
            c.ingest(first.clone()).await.unwrap();
            c.commit().await.unwrap();
            c.ingest(second.clone()).await.unwrap();
            store.flush().await.unwrap(); // no commit after entry 2
        }
        let (c, _, _s) = open(dir.path(), Keypair::generate_ed25519());
        assert_eq!(
            c.head_seq(&first.entry.author),
            2,
            "head moved past stored entries"
        );
        let other_second = feed::sign_next(&author, Some(&head), 3, publish(3)).unwrap();
        assert!(matches!(
            c.ingest(other_second).await,
            Err(CatalogError::Feed(FeedError::Fork(2)))
        ));
        assert_eq!(c.ingest(second).await.unwrap(), Ingested::Duplicate);
    }

    #[test]
    fn kinds_are_guessed_from_file_names() {
        let k = |name: &str| guess_kind(guess_mime(std::path::Path::new(name)));
        assert_eq!(k("paper.PDF"), ResourceKind::Paper);
        assert_eq!(k("data.csv"), ResourceKind::Dataset);
        assert_eq!(k("talk.mp4"), ResourceKind::Video);
        assert_eq!(k("song.flac"), ResourceKind::Audio);
        assert_eq!(k("photo.jpeg"), ResourceKind::Image);
        assert_eq!(k("archive.bin"), ResourceKind::Other);
    }
}
