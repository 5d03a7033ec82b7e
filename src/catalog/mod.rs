//! The network's catalog, as this node holds it: every feed it has replicated, the
//! resource records those feeds describe, a full-text index over them, and who holds a copy
//! of what.
//!
//! Entries reach the catalog from this node ([`Catalog::append_local`]) or from the
//! network ([`Catalog::ingest`]); both go through the same checks and the same append path.
//! Replication (gossip, catch-up, holder exchange) lives in [`sync`].
//!
//! Files: [`feed`] (pure signing, verification and chain checks), [`log`] (the append-only
//! feed log on disk), [`search`] (the full-text index), `availability` (holders and the
//! `availability_changed` events), [`sync`] (the replication actor).
//!
//! **Uses:** `net` (handle, protocol types, presence's profile rules), `infra` (store, events,
//! thumbnail checks), the DTOs of `api::dto`. Used by `sharing`, `mirror` and `api`.

mod availability;
pub mod feed;
pub mod log;
pub mod search;
pub mod sync;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine as _;
use libp2p::identity::Keypair;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::api::dto::{
    CatalogQuota, EventKind, Holder, LocalState, RejectCounts, Resource, SearchRequest,
    SearchResult, SortOrder,
};
use crate::catalog::search::{IndexDoc, RecordRef, SearchError, SearchIndex, SearchQuery, SortBy};
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::net::protocol::{FeedHead, Holdings, MAX_ENTRIES_PER_RESPONSE, MAX_HEADS, MAX_HOLDINGS};
use availability::{availability, holder_counts};
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
/// Profile pictures (this node's and peers'), base64, keyed by blake3 hex of their bytes.
const AVATARS_TABLE: &str = "avatars_v1";
/// Most peers' profile pictures kept (64 KiB each at most): 128 MiB at worst.
pub const MAX_CACHED_AVATARS: usize = 2048;
const COUNTERS_KEY: &str = "rejected";

/// Entries refused from the network, by reason: what `catalog_counters_v1` keeps (its own
/// type: stored bytes never follow the UI's `RejectCounts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Refusals {
    bad_signature: u64,
    broken_chain: u64,
    fork: u64,
    oversize: u64,
    malformed: u64,
    invalid: u64,
    /// Valid entries over a quota.
    #[serde(default)]
    quota: u64,
    /// Holder claims dropped over the holdings bounds.
    #[serde(default)]
    holdings_dropped: u64,
}

impl From<Refusals> for RejectCounts {
    fn from(r: Refusals) -> Self {
        Self {
            bad_signature: r.bad_signature,
            broken_chain: r.broken_chain,
            fork: r.fork,
            oversize: r.oversize,
            malformed: r.malformed,
            invalid: r.invalid,
            quota: r.quota,
        }
    }
}
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
    UnknownResource(String),
    #[error("only its publisher can change resource {0}")]
    NotMine(String),
    #[error("over the catalog's quota: {0}")]
    OverQuota(String),
}

/// The default quotas (`[catalog]` in `hearth.toml` changes them). Entries are counted per
/// feed, bytes as stored (compressed) in the feed log. This node's own feed has none.
pub fn default_quota() -> CatalogQuota {
    CatalogQuota {
        entries_per_author: 50_000,
        bytes_per_author: 256 << 20,
        entries: 2_000_000,
        bytes: 8 << 30,
    }
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
    /// Per content id, the peers in `holders` holding it (complete or partial).
    holder_count: HashMap<String, u32>,
    /// Peers whose holdings changed since they were last written, and when that was.
    holdings_dirty: HashSet<PeerId>,
    holdings_written: Option<Instant>,
    online: HashSet<PeerId>,
    ips: HashMap<PeerId, Vec<IpAddr>>,
    /// This node's BitTorrent addresses others can reach, for magnet links' peer hints.
    local_bt: Vec<std::net::SocketAddr>,
    names: HashMap<String, String>,
    local: HashMap<String, LocalState>,
    /// Of `local`, the copies held as a mirror.
    mirrored: HashSet<String>,
    /// Peers I follow: their feeds are fetched from them directly and often.
    followed: HashSet<PeerId>,
    rejected: Refusals,
    quota: CatalogQuota,
    /// Store writes (profiles) not yet flushed.
    dirty: bool,
    counters_dirty: bool,
}

struct Inner {
    key: Keypair,
    local: PeerId,
    store: Store,
    feeds: FeedLog,
    authors: Table<feed::FeedProfile>,
    holdings: Table<Holdings>,
    queue: Table<u64>,
    counters: Table<Refusals>,
    avatars: Table<String>,
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
        let authors = store.table::<feed::FeedProfile>(AUTHORS_TABLE)?;
        let counters = store.table::<Refusals>(COUNTERS_TABLE)?;
        for table in RETIRED_TABLES {
            if store.drop_table(table)? {
                tracing::info!(table, "deleted a table of an earlier layout");
            }
        }
        let mut state = State {
            rejected: counters.get(COUNTERS_KEY)?.unwrap_or_default(),
            quota: default_quota(),
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
                state.restore_holdings(peer, h);
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
                avatars: store.table(AVATARS_TABLE)?,
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
                if let Err(why) = self.quota_allows(&author, v.signed.payload.len()) {
                    let mut state = self.state();
                    state.rejected.quota += 1;
                    state.counters_dirty = true;
                    return Err(CatalogError::OverQuota(why));
                }
                self.store_entry(v)?;
                Ok(Ingested::Stored)
            }
        }
    }

    /// Changes the quotas (entries and bytes per author and in all).
    pub fn set_quota(&self, quota: CatalogQuota) {
        self.state().quota = quota;
    }

    /// Whether one more entry of `author`, of about `len` bytes, fits in the quotas; why not.
    fn quota_allows(&self, author: &str, len: usize) -> Result<(), String> {
        if author == self.inner.local.to_string() {
            return Ok(());
        }
        let q = self.state().quota.clone();
        let feeds = &self.inner.feeds;
        let len = len as u64;
        if feeds.len(author) >= q.entries_per_author {
            return Err(format!("{author} has {} entries", q.entries_per_author));
        }
        if feeds.bytes_of(author) + len > q.bytes_per_author {
            return Err(format!("{author} has {} bytes", q.bytes_per_author));
        }
        if feeds.count() >= q.entries {
            return Err(format!("{} entries stored", q.entries));
        }
        if feeds.total_bytes() + len > q.bytes {
            return Err(format!("{} bytes stored", q.bytes));
        }
        Ok(())
    }

    /// Whether `author`'s feed (or the catalog) is full: catch-up does not ask for more.
    pub fn over_quota(&self, author: &str) -> bool {
        self.quota_allows(author, 0).is_err()
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
        let holdings = self.write_holdings(false)?;
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
        if dirty || holdings || counters.is_some() {
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
            .ok_or_else(|| CatalogError::UnknownResource(content_id.to_owned()))?;
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

    pub fn stats(&self) -> crate::api::dto::CatalogStats {
        let s = self.state();
        crate::api::dto::CatalogStats {
            resources: self.inner.search.len(),
            feeds: s.heads.len() as u64,
            entries: s.heads.values().map(|h| h.seq).sum(),
            queued_announcements: self.inner.queue.len() as u64,
            rejected: s.rejected.clone().into(),
            bytes: self.inner.feeds.total_bytes(),
            quota: s.quota.clone(),
            holders_tracked: s.holders.len() as u32,
            holdings_dropped: s.rejected.holdings_dropped,
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

    /// The profile picture whose blake3 (hex) is `hash`, if this node has it.
    pub fn avatar(&self, hash: &str) -> Result<Option<Vec<u8>>, CatalogError> {
        Ok(self
            .inner
            .avatars
            .get(hash)?
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .filter(|bytes| thumbnail_hash(bytes) == hash))
    }

    /// The picture hash of `author`'s latest profile in their feed.
    pub fn author_avatar(&self, author: &str) -> Option<String> {
        self.inner.authors.get(author).ok().flatten()?.avatar
    }

    pub fn has_avatar(&self, hash: &str) -> bool {
        self.inner.avatars.contains(hash).unwrap_or(false)
    }

    /// Keeps a profile picture (already checked) under its hash, and returns the hash.
    /// `own` pictures are written durably and always kept; peers' ones only while fewer
    /// than [`MAX_CACHED_AVATARS`] are kept.
    pub async fn put_avatar(&self, bytes: &[u8], own: bool) -> Result<String, CatalogError> {
        let hash = thumbnail_hash(bytes);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        if own {
            self.inner.avatars.put(&hash, &b64).await?;
        } else if self.inner.avatars.len() < MAX_CACHED_AVATARS {
            self.inner.avatars.insert(&hash, &b64)?;
        }
        Ok(hash)
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
            magnet: availability::with_peer_hints(
                b.magnet,
                &availability::peer_hints(&s, self.inner.local, &b.content_id),
            ),
            content_id: b.content_id,
            title: b.title,
            description: b.description,
            kind: b.kind.into(),
            tags: b.tags,
            size: b.size,
            mime: b.mime,
            files: b.files.into_iter().map(Into::into).collect(),
            created_ms: b.created_ms,
            author: r.author,
        }
    }
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
        kind: crate::api::dto::ResourceKind::from(r.body.kind).as_str(),
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
