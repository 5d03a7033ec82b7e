//! Full-text index over the network's catalog of resource records (tantivy 0.27).
//!
//! Every node indexes every resource record it knows of and searches them as the user types.
//! This module is only an index: the record store stays the source of truth, and the index can
//! always be rebuilt from it ([`SearchIndex::clear`] + [`SearchIndex::upsert`] for every record +
//! [`SearchIndex::commit`], or [`SearchIndex::recreate`] when [`SearchIndex::open`] says the
//! on-disk index is from another schema or damaged). Each record also carries a [`RecordRef`],
//! where the caller keeps the record itself, found again by content id with
//! [`SearchIndex::locate`] (changes not yet committed included); and each commit records a
//! checkpoint, how far into the caller's own log the index is ([`SearchIndex::checkpoint`]), so
//! after a crash only what came later has to be indexed again.
//!
//! Design, tuned for a million records on a small machine:
//! - Nothing is stored in tantivy's document store. The content id (20 bytes) lives in three
//!   `u64` fast fields, so a hit's id is read straight from memory-mapped columns (no block
//!   decompression), cheaply enough to call the caller's `accept` filter on thousands of hits.
//!   The id is also indexed as a 20-byte term, used to replace and remove documents.
//! - `title`, `tags` and `description` go into one `text` field (BM25F-style: the title counts
//!   [`TITLE_WEIGHT`] times, each tag [`TAGS_WEIGHT`] times, as if repeated), indexed with term
//!   frequencies but no positions (the input is treated as plain words: there are no phrase
//!   queries). One field, not three, makes each word one posting list: a third of the scorers per
//!   query (block-WAND and intersections stay fast) and a smaller index.
//!   `kind` and `author` are indexed as exact (untokenized) terms and filter through postings.
//!   `created_ms` (sort "newest") and `size` are fast fields, and so is the [`RecordRef`].
//! - Text is split on anything that is not a letter or digit, lower-cased and ASCII-folded
//!   ("Café" finds "cafe"); no stemming, so the index behaves the same for every language.
//! - Query: every word must match (in the title, a tag or the description; title and tags are
//!   boosted). The last word, unless followed by a space or punctuation, also matches as a prefix
//!   ("quant" finds "quantum"), expanded to the most frequent matching terms. User input is never
//!   parsed as query syntax, so no input can produce a parse error.
//! - Relevance ranking uses tantivy's block-WAND pruning; `accept` is called only for hits that
//!   would enter the requested page. The total is counted separately (without scoring) and is
//!   capped: past [`COUNT_CAP`] accepted hits, or [`COUNT_SCAN_BUDGET`] examined hits, counting
//!   stops and [`SearchHits::total_is_lower_bound`] is set.
//! - One indexing thread with tantivy's smallest writer heap (15 MB), one merge thread; the reader
//!   is reloaded by [`SearchIndex::commit`] before it returns (and after background merges).
//!
//! Files: `schema` (fields, analyzer, merge policy), `query` (the user's words to a tantivy
//! query to a page), `collect` (collectors over fast columns); opening, writing, committing and
//! locating are here.
//!
//! **Uses:** tantivy only; no other Hearth module, so it is tested on its own.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tantivy::columnar::ColumnValues;
use tantivy::directory::{MmapDirectory, INDEX_WRITER_LOCK};
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EnableScoring, Occur, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{
    DocId, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher, SegmentReader,
    TantivyDocument, TantivyError, Term, TERMINATED,
};
use tracing::{debug, info, warn};

mod collect;
mod query;
mod schema;
#[cfg(test)]
mod tests;

use collect::*;
use schema::*;

/// Version of the index layout: the schema, the tokenizer, what goes in which field. Bump it on
/// any such change; an index written with another version must be rebuilt from the record store.
pub const SCHEMA_VERSION: u32 = 2;

/// Most ids returned by one search.
pub const MAX_LIMIT: usize = 200;
/// Deepest page offset that can be asked for.
pub const MAX_OFFSET: usize = 10_000;
/// Counting of accepted hits stops here; `total` is then a lower bound.
pub const COUNT_CAP: usize = 10_000;
/// Counting also stops after examining this many matching documents (which bounds the work
/// when `accept` rejects almost everything); `total` is then a lower bound.
pub const COUNT_SCAN_BUDGET: usize = 250_000;

/// Memory of the single indexing thread: tantivy's minimum (15 MB).
const WRITER_HEAP_BYTES: usize = 15_000_000;
/// Only this much of the user's text is looked at.
const MAX_QUERY_BYTES: usize = 1024;
/// Only this many distinct words of the user's text are used.
const MAX_QUERY_WORDS: usize = 16;
/// Longer tokens are dropped, at indexing and at query time (hashes, base64 blobs...).
const MAX_TOKEN_BYTES: usize = 40;
/// Terms looked at per segment and field when expanding the last word as a prefix.
const MAX_PREFIX_SCAN: usize = 1024;
/// A word in the title counts as this many occurrences (BM25F-style field weight).
pub const TITLE_WEIGHT: usize = 3;
/// A word in a tag counts as this many occurrences.
pub const TAGS_WEIGHT: usize = 2;

const TOKENIZER: &str = "hearth_words";
const VERSION_FILE: &str = "hearth-search.version";

/// Errors of the search index.
#[derive(thiserror::Error, Debug)]
pub enum SearchError {
    /// The index on disk was written with another layout: rebuild it from the record store
    /// (see [`SearchIndex::recreate`]).
    #[error(
        "the search index in {path} was built with schema version {found}, this build uses \
         version {expected}: it must be rebuilt from the record store"
    )]
    RebuildNeeded {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    /// The index on disk cannot be read: rebuild it from the record store.
    #[error("the search index in {path} is damaged ({reason}): it must be rebuilt from the record store")]
    Corrupt { path: PathBuf, reason: String },
    /// Another `SearchIndex` (in this or another process) has the index open.
    #[error("the search index in {path} is already in use (by this or another process)")]
    Locked { path: PathBuf },
    /// A content id that is not 40 hexadecimal characters.
    #[error("invalid content id {0:?}: expected 40 hexadecimal characters")]
    InvalidContentId(String),
    /// A search that cannot be answered (e.g. a page too deep).
    #[error("invalid search: {0}")]
    InvalidQuery(String),
    #[error("search index I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index error: {0}")]
    Index(#[from] TantivyError),
}

impl SearchError {
    /// True when the index must be rebuilt from the record store ([`SearchIndex::recreate`]).
    pub fn needs_rebuild(&self) -> bool {
        matches!(
            self,
            SearchError::RebuildNeeded { .. } | SearchError::Corrupt { .. }
        )
    }
}

/// Where the caller keeps a record: opaque to the index, returned by [`SearchIndex::locate`].
/// (The catalog stores the feed entry that published it: author number and sequence number.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    pub author: u32,
    pub seq: u64,
}

/// One resource record, as the index sees it.
#[derive(Debug, Clone, Copy)]
pub struct IndexDoc<'a> {
    pub record: RecordRef,
    /// BitTorrent info-hash, 40 hexadecimal characters (either case; ids come back lower-case).
    pub content_id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub tags: &'a [String],
    /// paper | dataset | video | audio | image | other (matched exactly by the kind filter).
    pub kind: &'a str,
    /// The author's peer id (matched exactly by the author filter).
    pub author: &'a str,
    pub created_ms: u64,
    pub size: u64,
}

/// Order of the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    /// Best match first (ties: newest first). With no words to match, same as `Newest`.
    #[default]
    Relevance,
    /// Most recently created first.
    Newest,
}

/// A search, as the user asked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    /// The user's words, any text at all. Empty (or no words in it): every record (browse).
    pub text: String,
    /// Only these kinds (any of); empty: every kind.
    pub kinds: Vec<String>,
    /// Only these authors' peer ids (any of); empty: every author.
    pub authors: Vec<String>,
    pub sort: SortBy,
    /// Accepted hits to skip (at most [`MAX_OFFSET`]).
    pub offset: usize,
    /// Ids to return, capped at [`MAX_LIMIT`].
    pub limit: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: String::new(),
            kinds: Vec::new(),
            authors: Vec::new(),
            sort: SortBy::Relevance,
            offset: 0,
            limit: 20,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchHits {
    /// Matching documents that `accept` accepted (a lower bound if `total_is_lower_bound`).
    pub total: usize,
    /// Counting stopped early (at [`COUNT_CAP`] accepted hits or after [`COUNT_SCAN_BUDGET`]
    /// examined ones): there may be more than `total`.
    pub total_is_lower_bound: bool,
    /// Content ids of the page, best first, lower-case hex.
    pub ids: Vec<String>,
}

/// The full-text index. Cheap to clone (shared inside); usable from any thread. Searches never
/// wait for writers; writers (upsert, remove, commit, clear) take turns.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    writer: Mutex<WriterState>,
}

struct WriterState {
    writer: IndexWriter,
    /// Every id added (`Some`) or removed (`None`) since the last commit, for
    /// [`SearchIndex::locate`]; also, an upsert whose id is neither here nor in the committed
    /// index needs no delete (deletes are costly at commit time: each one is looked up in every
    /// segment). As large as the changes between two commits.
    pending: HashMap<[u8; 20], Option<RecordRef>>,
    /// `clear` was called since the last commit: the committed documents are going away.
    cleared: bool,
    /// Something changed since the last commit.
    dirty: bool,
    /// The checkpoint of the last commit.
    checkpoint: u64,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (and `dir`) if there is none.
    ///
    /// Fails with [`SearchError::RebuildNeeded`] if the index was written with another
    /// [`SCHEMA_VERSION`], [`SearchError::Corrupt`] if it cannot be read (both:
    /// [`SearchError::needs_rebuild`]), and [`SearchError::Locked`] if it is already open.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let started = Instant::now();
        fs::create_dir_all(dir)?;
        let (schema, fields) = build_schema();
        let mmap = MmapDirectory::open(dir).map_err(|e| SearchError::Corrupt {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let exists = Index::exists(&mmap).map_err(|e| SearchError::Corrupt {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let version_path = dir.join(VERSION_FILE);
        let found_version = match fs::read_to_string(&version_path) {
            Ok(s) => Some(s.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let rebuild_needed = |found: String| SearchError::RebuildNeeded {
            path: dir.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        };
        let index = if exists {
            match found_version {
                Some(v) if v == SCHEMA_VERSION.to_string() => {}
                Some(v) => return Err(rebuild_needed(v)),
                None => return Err(rebuild_needed("unknown".to_string())),
            }
            let index = Index::open(mmap).map_err(|e| SearchError::Corrupt {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
            if index.schema() != schema {
                return Err(rebuild_needed(format!(
                    "{SCHEMA_VERSION} (with another schema)"
                )));
            }
            index
        } else {
            // The version is written first: an index without it is one of another version.
            write_atomically(dir, VERSION_FILE, format!("{SCHEMA_VERSION}\n").as_bytes())?;
            Index::create(mmap, schema, Default::default())?
        };
        let analyzer = build_analyzer();
        index.tokenizers().register(TOKENIZER, analyzer.clone());

        let checkpoint = match index.load_metas()?.payload {
            None => 0,
            Some(p) => p.parse().map_err(|_| SearchError::Corrupt {
                path: dir.to_path_buf(),
                reason: format!("commit checkpoint {p:?} is not a number"),
            })?,
        };
        let writer = new_writer(&index, dir)?;
        let reader = index
            .reader_builder()
            // Commits reload explicitly; this also picks up the segments of background merges.
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .doc_store_cache_num_blocks(0)
            .try_into()
            .map_err(|e| SearchError::Corrupt {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
        let this = SearchIndex {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                reader,
                fields,
                analyzer,
                writer: Mutex::new(WriterState {
                    writer,
                    pending: HashMap::new(),
                    cleared: false,
                    dirty: false,
                    checkpoint,
                }),
            }),
        };
        info!(
            dir = %dir.display(),
            docs = this.len(),
            checkpoint,
            segments = this.inner.reader.searcher().segment_readers().len(),
            ms = started.elapsed().as_millis() as u64,
            "search index open"
        );
        Ok(this)
    }

    /// Deletes the index files in `dir` (only those: other files are left alone) and opens a new,
    /// empty index there, to be rebuilt from the record store. For when [`SearchIndex::open`]
    /// fails with an error that [`SearchError::needs_rebuild`]. Fails with
    /// [`SearchError::Locked`] if the index is open.
    pub fn recreate(dir: &Path) -> Result<Self, SearchError> {
        if dir.is_dir() {
            let mmap = MmapDirectory::open(dir).map_err(|e| SearchError::Corrupt {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
            let lock =
                tantivy::Directory::acquire_lock(&mmap, &INDEX_WRITER_LOCK).map_err(|_| {
                    SearchError::Locked {
                        path: dir.to_path_buf(),
                    }
                })?;
            let mut removed = 0usize;
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if entry.file_type()?.is_file() && is_index_file(name) {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
            drop(lock);
            drop(mmap);
            warn!(dir = %dir.display(), files = removed, "search index deleted, to be rebuilt");
        }
        Self::open(dir)
    }

    /// Adds the record, replacing any record with the same content id. Visible after
    /// [`SearchIndex::commit`].
    pub fn upsert(&self, doc: &IndexDoc) -> Result<(), SearchError> {
        let id = parse_content_id(doc.content_id)?;
        let f = &self.inner.fields;
        let (a, b, c) = split_id(&id);
        let mut d = TantivyDocument::new();
        d.add_bytes(f.id, &id);
        d.add_u64(f.id0, a);
        d.add_u64(f.id1, b);
        d.add_u64(f.id2, c);
        for _ in 0..TITLE_WEIGHT {
            d.add_text(f.text, doc.title);
        }
        for tag in doc.tags {
            for _ in 0..TAGS_WEIGHT {
                d.add_text(f.text, tag);
            }
        }
        d.add_text(f.text, doc.description);
        d.add_text(f.kind, doc.kind);
        d.add_text(f.author, doc.author);
        d.add_u64(f.created, doc.created_ms);
        d.add_u64(f.size, doc.size);
        d.add_u64(f.ref_author, u64::from(doc.record.author));
        d.add_u64(f.ref_seq, doc.record.seq);

        let term = Term::from_field_bytes(f.id, &id);
        let mut st = self.lock_writer();
        let may_exist = st.pending.insert(id, Some(doc.record)).is_some()
            || (!st.cleared && self.inner.reader.searcher().doc_freq(&term)? > 0);
        if may_exist {
            st.writer.delete_term(term);
        }
        st.dirty = true;
        st.writer.add_document(d)?;
        Ok(())
    }

    /// Removes the record with this content id (if any). Effective after [`SearchIndex::commit`].
    pub fn remove(&self, content_id: &str) -> Result<(), SearchError> {
        let id = parse_content_id(content_id)?;
        let term = Term::from_field_bytes(self.inner.fields.id, &id);
        let mut st = self.lock_writer();
        st.pending.insert(id, None);
        st.writer.delete_term(term);
        st.dirty = true;
        Ok(())
    }

    /// Where the record with this content id is kept, as of the last change (committed or not).
    pub fn locate(&self, content_id: &str) -> Result<Option<RecordRef>, SearchError> {
        let id = parse_content_id(content_id)?;
        // The lock keeps `pending` and the reader in step (a commit changes both).
        let st = self.lock_writer();
        if let Some(pending) = st.pending.get(&id) {
            return Ok(*pending);
        }
        if st.cleared {
            return Ok(None);
        }
        let searcher = self.inner.reader.searcher();
        let term = Term::from_field_bytes(self.inner.fields.id, &id);
        for segment in searcher.segment_readers() {
            let postings = segment
                .inverted_index(self.inner.fields.id)?
                .read_postings(&term, IndexRecordOption::Basic)?;
            let Some(mut postings) = postings else {
                continue;
            };
            let alive = segment.alive_bitset();
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    let ff = segment.fast_fields();
                    let author = ff.u64(F_REF_AUTHOR)?.first_or_default_col(0).get_val(doc);
                    let seq = ff.u64(F_REF_SEQ)?.first_or_default_col(0).get_val(doc);
                    return Ok(Some(RecordRef {
                        author: u32::try_from(author).unwrap_or(u32::MAX),
                        seq,
                    }));
                }
                doc = postings.advance();
            }
        }
        Ok(None)
    }

    /// The checkpoint of the last commit (0 for a new index).
    pub fn checkpoint(&self) -> u64 {
        self.lock_writer().checkpoint
    }

    /// Makes every change so far durable (fsync'd) and visible to searches, before returning,
    /// keeping the checkpoint. Does nothing if nothing changed since the last commit.
    pub fn commit(&self) -> Result<(), SearchError> {
        let checkpoint = self.checkpoint();
        self.commit_through(checkpoint)
    }

    /// Like [`SearchIndex::commit`], recording `checkpoint`: how far into its own log the caller
    /// has indexed. Does nothing if nothing changed and the checkpoint is the same.
    pub fn commit_through(&self, checkpoint: u64) -> Result<(), SearchError> {
        let mut st = self.lock_writer();
        if !st.dirty && st.checkpoint == checkpoint {
            return Ok(());
        }
        let started = Instant::now();
        let mut prepared = st.writer.prepare_commit()?;
        prepared.set_payload(&checkpoint.to_string());
        prepared.commit()?;
        self.inner.reader.reload()?;
        st.pending = HashMap::new();
        st.cleared = false;
        st.dirty = false;
        st.checkpoint = checkpoint;
        debug!(
            ms = started.elapsed().as_secs_f64() * 1000.0,
            docs = self.len(),
            "search index commit"
        );
        Ok(())
    }

    /// Removes every record, and discards the changes not yet committed. Takes effect at the next
    /// [`SearchIndex::commit`]: until then searches see the old index, so a rebuild (clear, upsert
    /// every record, commit) replaces it at once, and a crash in between leaves the old index.
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut st = self.lock_writer();
        st.writer.rollback()?;
        // A rollback starts a fresh writer, with the default merge policy.
        st.writer.set_merge_policy(Box::new(merge_policy()));
        st.writer.delete_all_documents()?;
        st.pending = HashMap::new();
        st.cleared = true;
        st.dirty = true;
        Ok(())
    }

    /// Number of records searches see (as of the last commit).
    pub fn len(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// True if searches see no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_writer(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock leaves tantivy's writer usable: carry on.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn new_writer(index: &Index, dir: &Path) -> Result<IndexWriter, SearchError> {
    let options = IndexWriterOptions::builder()
        .memory_budget_per_thread(WRITER_HEAP_BYTES)
        .num_worker_threads(1)
        .num_merge_threads(1)
        .build();
    let writer = index.writer_with_options(options).map_err(|e| match e {
        TantivyError::LockFailure(..) => SearchError::Locked {
            path: dir.to_path_buf(),
        },
        e => SearchError::Index(e),
    })?;
    writer.set_merge_policy(Box::new(merge_policy()));
    Ok(writer)
}

/// Files of a tantivy index (and ours), the only ones `recreate` deletes.
fn is_index_file(name: &str) -> bool {
    let segment_file = name.len() > 33
        && name.as_bytes()[32] == b'.'
        && name.as_bytes()[..32].iter().all(u8::is_ascii_hexdigit);
    segment_file
        || matches!(
            name,
            "meta.json" | ".managed.json" | VERSION_FILE | "hearth-search.version.tmp"
        )
}

fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    // Make the rename durable (not possible on every platform: best effort).
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn parse_content_id(s: &str) -> Result<[u8; 20], SearchError> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let invalid = || {
        let shown: String = s.chars().take(64).collect();
        SearchError::InvalidContentId(shown)
    };
    let bytes = s.as_bytes();
    if bytes.len() != 40 {
        return Err(invalid());
    }
    let mut id = [0u8; 20];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0]).ok_or_else(invalid)?;
        let lo = nibble(pair[1]).ok_or_else(invalid)?;
        id[i] = (hi << 4) | lo;
    }
    Ok(id)
}

fn split_id(id: &[u8; 20]) -> (u64, u64, u64) {
    let a = u64::from_be_bytes(id[0..8].try_into().expect("8 bytes"));
    let b = u64::from_be_bytes(id[8..16].try_into().expect("8 bytes"));
    let c = u64::from(u32::from_be_bytes(id[16..20].try_into().expect("4 bytes")));
    (a, b, c)
}
