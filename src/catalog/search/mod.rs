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

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    id0: Field,
    id1: Field,
    id2: Field,
    text: Field,
    kind: Field,
    author: Field,
    created: Field,
    size: Field,
    ref_author: Field,
    ref_seq: Field,
}

const F_ID0: &str = "id0";
const F_ID1: &str = "id1";
const F_ID2: &str = "id2";
const F_CREATED: &str = "created_ms";
const F_REF_AUTHOR: &str = "ref_author";
const F_REF_SEQ: &str = "ref_seq";

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs)
            .set_fieldnorms(true),
    );
    let exact = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let fast = NumericOptions::default().set_fast();
    let fields = Fields {
        id: b.add_bytes_field("id", BytesOptions::default().set_indexed()),
        id0: b.add_u64_field(F_ID0, fast.clone()),
        id1: b.add_u64_field(F_ID1, fast.clone()),
        id2: b.add_u64_field(F_ID2, fast.clone()),
        text: b.add_text_field("text", words),
        kind: b.add_text_field("kind", exact.clone()),
        author: b.add_text_field("author", exact),
        created: b.add_u64_field(F_CREATED, fast.clone()),
        size: b.add_u64_field("size", fast.clone()),
        ref_author: b.add_u64_field(F_REF_AUTHOR, fast.clone()),
        ref_seq: b.add_u64_field(F_REF_SEQ, fast),
    };
    (b.build(), fields)
}

fn build_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

fn merge_policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    // Reclaim the space of replaced/removed records once a segment is a third deleted.
    policy.set_del_docs_ratio_before_merge(0.33);
    policy
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

    /// Runs a search. `accept` is asked about candidate content ids (e.g. "is a holder online");
    /// rejected ones are left out of `ids` and `total`, and paging applies after it. It is only
    /// asked about the hits that matter (the page's candidates, and up to the counting caps), and
    /// may be asked about an id more than once.
    pub fn search(
        &self,
        q: &SearchQuery,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<SearchHits, SearchError> {
        self.search_with_caps(q, accept, COUNT_CAP, COUNT_SCAN_BUDGET)
    }

    fn search_with_caps(
        &self,
        q: &SearchQuery,
        accept: &dyn Fn(&str) -> bool,
        count_cap: usize,
        scan_budget: usize,
    ) -> Result<SearchHits, SearchError> {
        if q.offset > MAX_OFFSET {
            return Err(SearchError::InvalidQuery(format!(
                "page offset {} is past the deepest page ({MAX_OFFSET}): refine the search",
                q.offset
            )));
        }
        let limit = q.limit.min(MAX_LIMIT);
        let k = q.offset + limit;
        let searcher = self.inner.reader.searcher();
        let words = self.parse_text(&q.text);
        let Some(query) = self.build_query(&searcher, &words, q)? else {
            return Ok(SearchHits::default());
        };
        let relevance = q.sort == SortBy::Relevance && !words.is_empty();
        let mut counter = Counter::new(count_cap, scan_budget);
        let top = if relevance {
            let top = top_by_score(&searcher, query.as_ref(), k, accept)?;
            count_accepted(&searcher, query.as_ref(), accept, &mut counter)?;
            top
        } else {
            newest(&searcher, query.as_ref(), k, accept, &mut counter)?
        };
        let ids: Vec<String> = top
            .into_iter()
            .skip(q.offset)
            .map(|(seg, doc)| {
                let cols = IdColumns::open(&searcher.segment_readers()[seg as usize])?;
                let mut buf = [0u8; 40];
                Ok(cols.hex(doc, &mut buf).to_string())
            })
            .collect::<Result<_, SearchError>>()?;
        // `accept` may change its mind between calls: never report fewer than what is shown.
        let shown = if ids.is_empty() {
            0
        } else {
            q.offset + ids.len()
        };
        let total = counter.count.max(shown);
        Ok(SearchHits {
            total,
            total_is_lower_bound: counter.stopped,
            ids,
        })
    }

    fn lock_writer(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock leaves tantivy's writer usable: carry on.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Splits the user's text into distinct analyzed words, the last one possibly a prefix.
    fn parse_text(&self, text: &str) -> Words {
        let mut end = text.len().min(MAX_QUERY_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let truncated = end < text.len();
        let text = &text[..end];
        let mut analyzer = self.inner.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut tokens: Vec<(String, usize)> = Vec::new();
        while stream.advance() {
            let token = stream.token();
            tokens.push((token.text.clone(), token.offset_to));
        }
        // The last word is still being typed unless something follows it.
        let prefix = match tokens.last() {
            Some((_, end)) if !truncated && *end == text.len() => tokens.pop().map(|t| t.0),
            _ => None,
        };
        let mut seen = HashSet::new();
        let mut exact: Vec<String> = tokens
            .into_iter()
            .map(|t| t.0)
            .filter(|t| seen.insert(t.clone()))
            .collect();
        exact.truncate(MAX_QUERY_WORDS - usize::from(prefix.is_some()));
        Words { exact, prefix }
    }

    /// The query for the words and filters; `None` if nothing can match.
    fn build_query(
        &self,
        searcher: &Searcher,
        words: &Words,
        q: &SearchQuery,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        let f = &self.inner.fields;
        let mut must: Vec<Box<dyn Query>> = Vec::new();
        for word in &words.exact {
            must.push(self.words_clause(std::slice::from_ref(word)));
        }
        if let Some(prefix) = &words.prefix {
            let terms = self.expand_prefix(searcher, prefix)?;
            if terms.is_empty() {
                return Ok(None);
            }
            must.push(self.words_clause(&terms));
        }
        for (field, values) in [(f.kind, &q.kinds), (f.author, &q.authors)] {
            if !values.is_empty() {
                must.push(Box::new(ConstScoreQuery::new(any_of(field, values), 0.0)));
            }
        }
        Ok(Some(match must.len() {
            0 => Box::new(AllQuery),
            1 => must.pop().expect("one clause"),
            _ => Box::new(BooleanQuery::new(
                must.into_iter().map(|q| (Occur::Must, q)).collect(),
            )),
        }))
    }

    /// Any of `terms` (in the title, a tag or the description).
    fn words_clause(&self, terms: &[String]) -> Box<dyn Query> {
        let field = self.inner.fields.text;
        let term_query = |t: &String| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            ))
        };
        if let [single] = terms {
            return term_query(single);
        }
        Box::new(BooleanQuery::new(
            terms
                .iter()
                .map(|t| (Occur::Should, term_query(t)))
                .collect(),
        ))
    }

    /// The most frequent indexed words that start with `prefix` (fewer for short prefixes, whose
    /// expansions would be many and unspecific).
    fn expand_prefix(&self, searcher: &Searcher, prefix: &str) -> Result<Vec<String>, SearchError> {
        let max_terms = match prefix.chars().count() {
            1 => 4,
            2 => 8,
            _ => 16,
        };
        let f = &self.inner.fields;
        let mut freq: HashMap<Vec<u8>, u64> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(f.text)?;
            let mut stream = inverted
                .terms()
                .range()
                .ge(prefix.as_bytes())
                .into_stream()?;
            let mut scanned = 0;
            while scanned < MAX_PREFIX_SCAN && stream.advance() {
                let key = stream.key();
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                *freq.entry(key.to_vec()).or_default() += u64::from(stream.value().doc_freq);
                scanned += 1;
            }
        }
        let mut terms: Vec<(Vec<u8>, u64)> = freq.into_iter().collect();
        terms.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(terms
            .into_iter()
            .take(max_terms)
            .filter_map(|(t, _)| String::from_utf8(t).ok())
            .collect())
    }
}

struct Words {
    exact: Vec<String>,
    prefix: Option<String>,
}

impl Words {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefix.is_none()
    }
}

/// A document matching any of `values` exactly in `field`.
fn any_of(field: Field, values: &[String]) -> Box<dyn Query> {
    let mut terms: Vec<Term> = values
        .iter()
        .map(|v| Term::from_field_text(field, v))
        .collect();
    terms.sort();
    terms.dedup();
    if terms.len() <= 8 {
        Box::new(BooleanQuery::new_multiterms_query(terms))
    } else {
        Box::new(TermSetQuery::new(terms))
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

/// The content id columns of one segment.
struct IdColumns {
    a: Arc<dyn ColumnValues<u64>>,
    b: Arc<dyn ColumnValues<u64>>,
    c: Arc<dyn ColumnValues<u64>>,
}

impl IdColumns {
    fn open(segment: &SegmentReader) -> Result<Self, SearchError> {
        let ff = segment.fast_fields();
        Ok(IdColumns {
            a: ff.u64(F_ID0)?.first_or_default_col(0),
            b: ff.u64(F_ID1)?.first_or_default_col(0),
            c: ff.u64(F_ID2)?.first_or_default_col(0),
        })
    }

    /// The content id of `doc` as lower-case hex, written into `buf`.
    fn hex<'b>(&self, doc: DocId, buf: &'b mut [u8; 40]) -> &'b str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let parts = [
            (self.a.get_val(doc), 16),
            (self.b.get_val(doc), 16),
            (self.c.get_val(doc), 8),
        ];
        let mut at = 0;
        for (value, digits) in parts {
            for i in (0..digits).rev() {
                buf[at] = HEX[((value >> (i * 4)) & 0xf) as usize];
                at += 1;
            }
        }
        std::str::from_utf8(&buf[..]).expect("hex is ascii")
    }
}

/// Counts accepted hits, up to the caps.
struct Counter {
    count: usize,
    examined: usize,
    cap: usize,
    budget: usize,
    stopped: bool,
}

impl Counter {
    fn new(cap: usize, budget: usize) -> Self {
        Counter {
            count: 0,
            examined: 0,
            cap,
            budget,
            stopped: false,
        }
    }

    fn counting(&self) -> bool {
        !self.stopped
    }

    fn add(&mut self, accepted: bool) {
        self.examined += 1;
        self.count += usize::from(accepted);
        if self.count >= self.cap || self.examined >= self.budget {
            self.stopped = true;
        }
    }
}

/// The best `k` hits by a `u64` key, then a `u64` tie-breaker (higher is better; then the
/// earlier address).
struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

/// Ordered worst-first, so that the max-heap's top is the worst kept hit.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: u64,
    tie: u64,
    addr: (u32, DocId),
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.key, other.tie)
            .cmp(&(self.key, self.tie))
            .then_with(|| self.addr.cmp(&other.addr))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
        }
    }

    fn would_enter(&self, key: u64, tie: u64, addr: (u32, DocId)) -> bool {
        if self.heap.len() < self.k {
            return true;
        }
        match self.heap.peek() {
            Some(worst) => Entry { key, tie, addr } < *worst,
            None => false,
        }
    }

    fn push(&mut self, key: u64, tie: u64, addr: (u32, DocId)) {
        self.heap.push(Entry { key, tie, addr });
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// The key a hit must beat to enter, once full.
    fn threshold(&self) -> Option<u64> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|e| e.key)
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<(u32, DocId)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.addr)
            .collect()
    }
}

/// An order-preserving map of scores to `u64`.
fn score_key(score: Score) -> u64 {
    let bits = score.to_bits();
    u64::from(if bits & 0x8000_0000 == 0 {
        bits | 0x8000_0000
    } else {
        !bits
    })
}

fn key_score(key: u64) -> Score {
    let bits = key as u32;
    Score::from_bits(if bits & 0x8000_0000 != 0 {
        bits & 0x7fff_ffff
    } else {
        !bits
    })
}

/// The best `k` accepted hits by relevance (equal scores: newest first), with block-WAND pruning:
/// only hits that would enter the page are shown to `accept`.
fn top_by_score(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
    accept: &dyn Fn(&str) -> bool,
) -> Result<Vec<(u32, DocId)>, SearchError> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let mut top = TopK::new(k);
    let mut buf = [0u8; 40];
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as u32;
        let ids = IdColumns::open(segment)?;
        let created = segment
            .fast_fields()
            .u64(F_CREATED)?
            .first_or_default_col(0);
        let alive = segment.alive_bitset();
        // Pruning passes only scores above the threshold: just below the worst kept score, so
        // that equal scores still compete on the tie-breaker.
        let threshold = |top: &TopK| {
            top.threshold()
                .map(|key| key_score(key).next_down())
                .unwrap_or(Score::MIN)
        };
        weight.for_each_pruning(threshold(&top), segment, &mut |doc, score| {
            let key = score_key(score);
            let deleted = alive.is_some_and(|a| a.is_deleted(doc));
            if !deleted {
                let tie = created.get_val(doc);
                if top.would_enter(key, tie, (ord, doc)) && accept(ids.hex(doc, &mut buf)) {
                    top.push(key, tie, (ord, doc));
                }
            }
            threshold(&top)
        })?;
    }
    Ok(top.into_sorted())
}

/// Counts the accepted hits (up to the caps), without scoring.
fn count_accepted(
    searcher: &Searcher,
    query: &dyn Query,
    accept: &dyn Fn(&str) -> bool,
    counter: &mut Counter,
) -> Result<(), SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut buf = [0u8; 40];
    for segment in searcher.segment_readers() {
        if !counter.counting() {
            break;
        }
        let ids = IdColumns::open(segment)?;
        let alive = segment.alive_bitset();
        let mut scorer = weight.scorer(segment, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED && counter.counting() {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                counter.add(accept(ids.hex(doc, &mut buf)));
            }
            doc = scorer.advance();
        }
    }
    Ok(())
}

/// The `k` newest accepted hits, counting accepted hits on the way (up to the caps).
fn newest(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
    accept: &dyn Fn(&str) -> bool,
    counter: &mut Counter,
) -> Result<Vec<(u32, DocId)>, SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut top = TopK::new(k);
    let mut buf = [0u8; 40];
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        if k == 0 && !counter.counting() {
            break;
        }
        let ord = ord as u32;
        let ids = IdColumns::open(segment)?;
        let created = segment
            .fast_fields()
            .u64(F_CREATED)?
            .first_or_default_col(0);
        let alive = segment.alive_bitset();
        let mut scorer = weight.scorer(segment, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                let key = created.get_val(doc);
                let competitive = top.would_enter(key, 0, (ord, doc));
                let counting = counter.counting();
                if competitive || counting {
                    let accepted = accept(ids.hex(doc, &mut buf));
                    if counting {
                        counter.add(accepted);
                    }
                    if accepted && competitive {
                        top.push(key, 0, (ord, doc));
                    }
                } else if k == 0 {
                    break;
                }
            }
            doc = scorer.advance();
        }
    }
    Ok(top.into_sorted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn id(n: u32) -> String {
        format!("{n:08x}{}", "ab".repeat(16))
    }

    struct Rec {
        id: String,
        title: &'static str,
        description: &'static str,
        tags: Vec<String>,
        kind: &'static str,
        author: &'static str,
        created_ms: u64,
    }

    fn rec(n: u32, title: &'static str, description: &'static str) -> Rec {
        Rec {
            id: id(n),
            title,
            description,
            tags: Vec::new(),
            kind: "paper",
            author: "peer-a",
            created_ms: 1_000 + u64::from(n),
        }
    }

    fn put(index: &SearchIndex, r: &Rec) {
        put_at(index, r, RecordRef { author: 7, seq: 1 });
    }

    fn put_at(index: &SearchIndex, r: &Rec, record: RecordRef) {
        index
            .upsert(&IndexDoc {
                record,
                content_id: &r.id,
                title: r.title,
                description: r.description,
                tags: &r.tags,
                kind: r.kind,
                author: r.author,
                created_ms: r.created_ms,
                size: 42,
            })
            .unwrap();
    }

    fn open() -> (TempDir, SearchIndex) {
        let dir = TempDir::new().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        (dir, index)
    }

    fn query(text: &str) -> SearchQuery {
        SearchQuery {
            text: text.to_string(),
            ..Default::default()
        }
    }

    fn all(_: &str) -> bool {
        true
    }

    fn ids(index: &SearchIndex, q: &SearchQuery) -> Vec<String> {
        index.search(q, &all).unwrap().ids
    }

    #[test]
    fn is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<SearchIndex>();
    }

    #[test]
    fn add_and_search() {
        let (_dir, index) = open();
        put(
            &index,
            &rec(1, "Quantum computing for beginners", "qubits and gates"),
        );
        put(&index, &rec(2, "A history of Rome", "emperors and legions"));
        // Not visible before commit.
        assert!(ids(&index, &query("quantum")).is_empty());
        assert_eq!(index.len(), 0);
        index.commit().unwrap();
        assert_eq!(index.len(), 2);
        let hits = index.search(&query("quantum"), &all).unwrap();
        assert_eq!(hits.ids, vec![id(1)]);
        assert_eq!(hits.total, 1);
        assert!(!hits.total_is_lower_bound);
        assert_eq!(ids(&index, &query("LEGIONS")), vec![id(2)]);
        assert!(ids(&index, &query("nothing-like-this")).is_empty());
    }

    #[test]
    fn all_words_must_match_and_title_and_tags_rank_higher() {
        let (_dir, index) = open();
        put(
            &index,
            &rec(1, "Currents", "a survey of ocean data and climate models"),
        );
        put(&index, &rec(2, "Climate models", "a survey of ocean data"));
        let mut tagged = rec(3, "Untitled", "something about data");
        tagged.tags = vec!["Climate Science".into()];
        put(&index, &tagged);
        put(&index, &rec(4, "Climate", "nothing else"));
        index.commit().unwrap();
        // Both words required: 4 has no "ocean".
        let hits = ids(&index, &query("climate ocean "));
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0], id(2), "title match first");
        // A tag beats the description.
        let hits = ids(&index, &query("science data "));
        assert_eq!(hits, vec![id(3)]);
        let hits = ids(&index, &query("climate "));
        assert_eq!(hits.len(), 4);
        assert_eq!(hits.last().unwrap(), &id(1), "description-only match last");
    }

    #[test]
    fn upsert_replaces() {
        let (_dir, index) = open();
        put(&index, &rec(1, "alpha", ""));
        index.commit().unwrap();
        put(&index, &rec(1, "beta", ""));
        index.commit().unwrap();
        assert_eq!(index.len(), 1);
        assert!(ids(&index, &query("alpha ")).is_empty());
        assert_eq!(ids(&index, &query("beta")), vec![id(1)]);
        // Twice in one batch, and with the id in upper case.
        put(&index, &rec(1, "gamma", ""));
        let mut upper = rec(1, "delta", "");
        upper.id = upper.id.to_uppercase();
        put(&index, &upper);
        index.commit().unwrap();
        assert_eq!(index.len(), 1);
        assert!(ids(&index, &query("gamma")).is_empty());
        assert_eq!(ids(&index, &query("delta")), vec![id(1)]);
    }

    #[test]
    fn remove_deletes() {
        let (_dir, index) = open();
        put(&index, &rec(1, "alpha", ""));
        put(&index, &rec(2, "alpha", ""));
        index.commit().unwrap();
        index.remove(&id(1)).unwrap();
        index.remove(&id(99)).unwrap(); // unknown: fine
        index.commit().unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(ids(&index, &query("alpha")), vec![id(2)]);
        // Remove then re-add in one batch: the re-add wins.
        index.remove(&id(2)).unwrap();
        put(&index, &rec(2, "omega", ""));
        index.commit().unwrap();
        assert_eq!(ids(&index, &query("omega")), vec![id(2)]);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn invalid_content_ids_are_refused() {
        let (_dir, index) = open();
        for bad in ["", "abc", &"g".repeat(40), &"a".repeat(41), &"é".repeat(20)] {
            let err = index.remove(bad).unwrap_err();
            assert!(matches!(err, SearchError::InvalidContentId(_)), "{bad}");
            let mut r = rec(1, "x", "");
            r.id = bad.to_string();
            let err = index
                .upsert(&IndexDoc {
                    record: RecordRef { author: 0, seq: 0 },
                    content_id: &r.id,
                    title: "x",
                    description: "",
                    tags: &[],
                    kind: "paper",
                    author: "a",
                    created_ms: 0,
                    size: 0,
                })
                .unwrap_err();
            assert!(err.to_string().contains("40 hexadecimal"), "{err}");
        }
    }

    #[test]
    fn prefix_matches_the_last_word_only() {
        let (_dir, index) = open();
        put(&index, &rec(1, "Quantum field theory", ""));
        put(&index, &rec(2, "Quantile regression", "field notes"));
        put(&index, &rec(3, "Café culture", "in Paris"));
        index.commit().unwrap();
        let mut hits = ids(&index, &query("quant"));
        hits.sort();
        assert_eq!(hits, vec![id(1), id(2)]);
        assert_eq!(ids(&index, &query("quantu")), vec![id(1)]);
        assert_eq!(ids(&index, &query("q")).len(), 2);
        // A finished word (followed by a space or punctuation) is matched exactly.
        assert!(ids(&index, &query("quant ")).is_empty());
        assert!(ids(&index, &query("quant.")).is_empty());
        // Only the last word is a prefix.
        assert!(ids(&index, &query("quant field")).is_empty());
        assert_eq!(ids(&index, &query("field quantu")), vec![id(1)]);
        // Case and accents.
        assert_eq!(ids(&index, &query("CAFE")), vec![id(3)]);
        assert_eq!(ids(&index, &query("café cult")), vec![id(3)]);
    }

    #[test]
    fn kind_and_author_filters() {
        let (_dir, index) = open();
        let mut a = rec(1, "river data", "");
        a.kind = "dataset";
        a.author = "peer-x";
        let mut b = rec(2, "river film", "");
        b.kind = "video";
        b.author = "peer-y";
        let mut c = rec(3, "river paper", "");
        c.kind = "paper";
        c.author = "peer-x";
        for r in [&a, &b, &c] {
            put(&index, r);
        }
        index.commit().unwrap();
        let q = |text: &str, kinds: &[&str], authors: &[&str]| {
            let mut ids = ids(
                &index,
                &SearchQuery {
                    text: text.into(),
                    kinds: kinds.iter().map(|s| s.to_string()).collect(),
                    authors: authors.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                },
            );
            ids.sort();
            ids
        };
        assert_eq!(q("river", &["dataset"], &[]), vec![id(1)]);
        assert_eq!(q("river", &["dataset", "video"], &[]), vec![id(1), id(2)]);
        assert_eq!(q("river", &[], &["peer-x"]), vec![id(1), id(3)]);
        assert_eq!(q("river", &["paper"], &["peer-x"]), vec![id(3)]);
        assert_eq!(q("", &["video"], &[]), vec![id(2)]);
        assert_eq!(q("", &[], &["peer-y", "peer-z"]), vec![id(2)]);
        // Exact: no partial or case-folded match.
        assert!(q("river", &["Video"], &[]).is_empty());
        assert!(q("", &[], &["peer"]).is_empty());
        assert!(q("river", &["audio"], &[]).is_empty());
        // Many authors (set query path).
        let many: Vec<String> = (0..50)
            .map(|i| format!("peer-{i}"))
            .chain(["peer-y".into()])
            .collect();
        let hits = index
            .search(
                &SearchQuery {
                    authors: many,
                    ..Default::default()
                },
                &all,
            )
            .unwrap();
        assert_eq!(hits.ids, vec![id(2)]);
    }

    #[test]
    fn accept_filter_and_paging() {
        let (_dir, index) = open();
        for n in 0..30 {
            put(&index, &rec(n, "common words here", "more common text"));
        }
        index.commit().unwrap();
        let even = |cid: &str| {
            u32::from_str_radix(&cid[..8], 16)
                .unwrap()
                .is_multiple_of(2)
        };
        for sort in [SortBy::Relevance, SortBy::Newest] {
            for text in ["common", ""] {
                let mut seen = Vec::new();
                for page in 0..5 {
                    let hits = index
                        .search(
                            &SearchQuery {
                                text: text.into(),
                                sort,
                                offset: page * 4,
                                limit: 4,
                                ..Default::default()
                            },
                            &even,
                        )
                        .unwrap();
                    assert_eq!(hits.total, 15, "{sort:?} {text:?}");
                    assert!(!hits.total_is_lower_bound);
                    assert!(hits.ids.iter().all(|i| even(i)));
                    seen.extend(hits.ids);
                }
                let mut expected: Vec<String> = (0..30).filter(|n| n % 2 == 0).map(id).collect();
                if sort == SortBy::Newest || text.is_empty() {
                    expected.reverse();
                    assert_eq!(seen, expected, "newest first");
                } else {
                    seen.sort();
                    assert_eq!(seen, expected, "every accepted doc exactly once");
                }
            }
        }
        // limit 0: only the total.
        let hits = index
            .search(
                &SearchQuery {
                    limit: 0,
                    ..query("common")
                },
                &even,
            )
            .unwrap();
        assert_eq!((hits.total, hits.ids.len()), (15, 0));
        // Limit capped, offset bounded.
        let hits = index
            .search(
                &SearchQuery {
                    limit: 1_000_000,
                    ..query("")
                },
                &all,
            )
            .unwrap();
        assert_eq!(hits.ids.len(), 30);
        let err = index
            .search(
                &SearchQuery {
                    offset: MAX_OFFSET + 1,
                    ..query("")
                },
                &all,
            )
            .unwrap_err();
        assert!(matches!(err, SearchError::InvalidQuery(_)));
        let hits = index
            .search(
                &SearchQuery {
                    offset: 100,
                    ..query("")
                },
                &all,
            )
            .unwrap();
        assert!(hits.ids.is_empty());
        assert_eq!(hits.total, 30);
    }

    #[test]
    fn count_stops_at_the_caps() {
        let (_dir, index) = open();
        for n in 0..40 {
            put(&index, &rec(n, "word", ""));
        }
        index.commit().unwrap();
        let even = |cid: &str| {
            u32::from_str_radix(&cid[..8], 16)
                .unwrap()
                .is_multiple_of(2)
        };
        for sort in [SortBy::Relevance, SortBy::Newest] {
            let q = SearchQuery {
                text: "word".into(),
                sort,
                limit: 5,
                ..Default::default()
            };
            let hits = index.search_with_caps(&q, &even, 10, 1000).unwrap();
            assert_eq!((hits.total, hits.total_is_lower_bound), (10, true));
            assert_eq!(hits.ids.len(), 5);
            let hits = index.search_with_caps(&q, &even, 1000, 8).unwrap();
            assert_eq!((hits.total, hits.total_is_lower_bound), (5, true));
            let hits = index.search_with_caps(&q, &even, 1000, 1000).unwrap();
            assert_eq!((hits.total, hits.total_is_lower_bound), (20, false));
            // The page is right even when counting stopped early.
            let deep = SearchQuery {
                offset: 15,
                ..q.clone()
            };
            let hits = index.search_with_caps(&deep, &even, 4, 4).unwrap();
            assert_eq!(hits.ids.len(), 5);
            assert!(hits.total >= 20 && hits.total_is_lower_bound);
        }
    }

    #[test]
    fn hostile_queries_are_plain_words() {
        let (_dir, index) = open();
        put(
            &index,
            &rec(
                1,
                "title: AND OR NOT (x) \"quoted\" a*b",
                "+must -not field:value ~2 ^3",
            ),
        );
        put(&index, &rec(2, "plain", ""));
        index.commit().unwrap();
        let long = "word ".repeat(10_000);
        let unicode = "日本語 ✓ \u{0} \u{202e} e\u{301} 🦀".repeat(100);
        let hostile = [
            "\"",
            "\"unbalanced",
            "(",
            ")",
            "((((",
            "title:",
            ":",
            "a:b:c",
            "*",
            "?",
            "\\",
            "AND",
            "OR NOT",
            "-",
            "+",
            "~",
            "^",
            "[",
            "]",
            "{}",
            "[a TO b]",
            "field:value",
            "\u{0}",
            "  ",
            "\t\n",
            "'; DROP TABLE--",
            &long,
            &unicode,
            "ab*",
            "a~2",
            "x^10",
            "\u{fffd}",
            "🦀",
            "ÅÄÖ",
            "-not",
            "title:(quoted",
        ];
        for text in hostile {
            for sort in [SortBy::Relevance, SortBy::Newest] {
                let q = SearchQuery {
                    text: text.to_string(),
                    sort,
                    kinds: vec![text.to_string()],
                    ..Default::default()
                };
                index.search(&q, &all).unwrap();
                index.search(&query(text), &all).unwrap();
            }
        }
        assert_eq!(ids(&index, &query("title:(quoted")), vec![id(1)]);
        assert_eq!(ids(&index, &query("\"field:value\"")), vec![id(1)]);
        assert_eq!(ids(&index, &query("NOT AND")), vec![id(1)]);
        // No word at all: browse everything.
        assert_eq!(ids(&index, &query("!!! ::: ((")).len(), 2);
    }

    #[test]
    fn equal_scores_newest_first() {
        let (_dir, index) = open();
        for (n, c) in [(1u32, 50u64), (2, 90), (3, 10), (4, 70)] {
            let mut r = rec(n, "same title", "");
            r.created_ms = c;
            put(&index, &r);
            index.commit().unwrap(); // one segment each
        }
        let expected = vec![id(2), id(4), id(1), id(3)];
        assert_eq!(ids(&index, &query("same")), expected);
        let page = |offset| {
            index
                .search(
                    &SearchQuery {
                        offset,
                        limit: 1,
                        ..query("title ")
                    },
                    &all,
                )
                .unwrap()
                .ids
        };
        let paged: Vec<String> = (0..4).flat_map(page).collect();
        assert_eq!(paged, expected);
    }

    #[test]
    fn newest_sort_and_browse() {
        let (_dir, index) = open();
        let created = [5_000u64, 1_000, 9_000, 3_000];
        for (n, c) in created.iter().enumerate() {
            let mut r = rec(
                n as u32,
                "report",
                if n == 2 { "" } else { "report report report" },
            );
            r.created_ms = *c;
            put(&index, &r);
        }
        index.commit().unwrap();
        let newest = vec![id(2), id(0), id(3), id(1)];
        let q = SearchQuery {
            text: "report".into(),
            sort: SortBy::Newest,
            ..Default::default()
        };
        assert_eq!(ids(&index, &q), newest);
        // Empty text: newest first whatever the sort.
        assert_eq!(ids(&index, &query("")), newest);
        // Relevance puts the doc without the word in its description last.
        assert_eq!(ids(&index, &query("report")).last().unwrap(), &id(2));
    }

    #[test]
    fn locate_sees_uncommitted_changes_and_survives_reopen() {
        let dir = TempDir::new().unwrap();
        let at = |author, seq| Some(RecordRef { author, seq });
        {
            let index = SearchIndex::open(dir.path()).unwrap();
            assert_eq!(index.checkpoint(), 0);
            put_at(&index, &rec(1, "one", ""), RecordRef { author: 1, seq: 10 });
            put_at(&index, &rec(2, "two", ""), RecordRef { author: 2, seq: 20 });
            assert_eq!(index.locate(&id(1)).unwrap(), at(1, 10));
            index.commit_through(2).unwrap();
            assert_eq!(index.locate(&id(1)).unwrap(), at(1, 10));
            // Replaced and removed before the next commit, and after it.
            put_at(
                &index,
                &rec(1, "one again", ""),
                RecordRef { author: 1, seq: 11 },
            );
            index.remove(&id(2)).unwrap();
            assert_eq!(index.locate(&id(1)).unwrap(), at(1, 11));
            assert_eq!(index.locate(&id(2)).unwrap(), None);
            index.commit_through(4).unwrap();
            assert_eq!(index.locate(&id(1)).unwrap(), at(1, 11));
            assert_eq!(index.locate(&id(2)).unwrap(), None);
            // Never committed: lost with the process, and the checkpoint says so.
            put_at(
                &index,
                &rec(3, "three", ""),
                RecordRef { author: 3, seq: 1 },
            );
            assert_eq!(index.locate(&id(3)).unwrap(), at(3, 1));
        }
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.checkpoint(), 4);
        assert_eq!(index.locate(&id(1)).unwrap(), at(1, 11));
        assert_eq!(index.locate(&id(2)).unwrap(), None);
        assert_eq!(index.locate(&id(3)).unwrap(), None);
        // A clear hides committed records from `locate` at once, as a rebuild needs.
        index.clear().unwrap();
        assert_eq!(index.locate(&id(1)).unwrap(), None);
        put_at(&index, &rec(4, "four", ""), RecordRef { author: 4, seq: 1 });
        assert_eq!(index.locate(&id(4)).unwrap(), at(4, 1));
        // The checkpoint moves even when no record changed.
        index.commit_through(4).unwrap();
        index.commit_through(9).unwrap();
        drop(index);
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.checkpoint(), 9);
        assert_eq!(index.locate(&id(4)).unwrap(), at(4, 1));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn reopen_persists_committed_only() {
        let dir = TempDir::new().unwrap();
        {
            let index = SearchIndex::open(dir.path()).unwrap();
            put(&index, &rec(1, "persistent", ""));
            index.commit().unwrap();
            put(&index, &rec(2, "persistent uncommitted", ""));
        }
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(ids(&index, &query("persistent")), vec![id(1)]);
        // The reopened index replaces documents of earlier sessions.
        put(&index, &rec(1, "renamed", ""));
        index.commit().unwrap();
        assert_eq!(index.len(), 1);
        assert!(ids(&index, &query("persistent ")).is_empty());
    }

    #[test]
    fn second_open_is_locked() {
        let (dir, _index) = open();
        let err = SearchIndex::open(dir.path()).unwrap_err();
        assert!(matches!(err, SearchError::Locked { .. }), "{err}");
        let err = SearchIndex::recreate(dir.path()).unwrap_err();
        assert!(matches!(err, SearchError::Locked { .. }), "{err}");
    }

    #[test]
    fn schema_version_is_checked() {
        let dir = TempDir::new().unwrap();
        let keep = dir.path().join("not-ours.txt");
        fs::write(&keep, "keep me").unwrap();
        {
            let index = SearchIndex::open(dir.path()).unwrap();
            put(&index, &rec(1, "old", ""));
            index.commit().unwrap();
        }
        fs::write(dir.path().join(VERSION_FILE), "0\n").unwrap();
        let err = SearchIndex::open(dir.path()).unwrap_err();
        assert!(err.needs_rebuild(), "{err}");
        assert!(err.to_string().contains("rebuilt"), "{err}");
        fs::remove_file(dir.path().join(VERSION_FILE)).unwrap();
        assert!(SearchIndex::open(dir.path()).unwrap_err().needs_rebuild());
        let index = SearchIndex::recreate(dir.path()).unwrap();
        assert_eq!(index.len(), 0);
        put(&index, &rec(2, "new", ""));
        index.commit().unwrap();
        assert_eq!(ids(&index, &query("new")), vec![id(2)]);
        assert!(keep.exists());
        drop(index);
        assert_eq!(SearchIndex::open(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn corrupt_meta_needs_rebuild() {
        let dir = TempDir::new().unwrap();
        drop(SearchIndex::open(dir.path()).unwrap());
        fs::write(dir.path().join("meta.json"), "{ not json").unwrap();
        let err = SearchIndex::open(dir.path()).unwrap_err();
        assert!(matches!(err, SearchError::Corrupt { .. }), "{err}");
        assert_eq!(SearchIndex::recreate(dir.path()).unwrap().len(), 0);
    }

    #[test]
    fn clear_takes_effect_at_commit() {
        let (_dir, index) = open();
        put(&index, &rec(1, "old", ""));
        put(&index, &rec(2, "old", ""));
        index.commit().unwrap();
        put(&index, &rec(3, "uncommitted", ""));
        index.clear().unwrap();
        put(&index, &rec(4, "new", ""));
        put(&index, &rec(1, "new", ""));
        // Searches still see the old index until the commit.
        assert_eq!(index.len(), 2);
        assert_eq!(ids(&index, &query("old")).len(), 2);
        index.commit().unwrap();
        assert_eq!(index.len(), 2);
        assert!(ids(&index, &query("old")).is_empty());
        assert!(ids(&index, &query("uncommitted")).is_empty());
        let mut hits = ids(&index, &query("new"));
        hits.sort();
        assert_eq!(hits, vec![id(1), id(4)]);
        // The writer still works after the clear.
        put(&index, &rec(1, "again", ""));
        index.commit().unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(ids(&index, &query("again")), vec![id(1)]);
    }

    #[test]
    fn shared_across_threads() {
        let (_dir, index) = open();
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let index = index.clone();
                s.spawn(move || {
                    for n in 0..50 {
                        put(&index, &rec(t * 1000 + n, "threaded", ""));
                    }
                    index.commit().unwrap();
                    index.search(&query("threaded"), &all).unwrap();
                });
            }
        });
        index.commit().unwrap();
        assert_eq!(index.len(), 200);
        assert_eq!(index.search(&query("thread"), &all).unwrap().total, 200);
    }

    #[test]
    fn score_keys_preserve_order() {
        let scores = [
            Score::MIN,
            -3.5,
            -0.0,
            0.0,
            1e-9,
            0.5,
            1.0,
            7.25,
            Score::MAX,
        ];
        for w in scores.windows(2) {
            assert!(score_key(w[0]) <= score_key(w[1]), "{w:?}");
        }
        for s in scores {
            assert_eq!(key_score(score_key(s)), s);
        }
    }

    /// Synthetic catalog for the benchmarks below.
    mod synthetic {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        pub const KINDS: [&str; 6] = ["paper", "dataset", "video", "audio", "image", "other"];

        pub struct Corpus {
            pub words: Vec<String>,
            cumulative: Vec<f64>,
            pub tags: Vec<String>,
            pub authors: Vec<String>,
        }

        impl Corpus {
            pub fn new(seed: u64) -> Self {
                let mut rng = StdRng::seed_from_u64(seed);
                let syllables = [
                    "ka", "lo", "mi", "ne", "ra", "tu", "sa", "qu", "an", "tum", "dor", "el", "is",
                    "gra", "phy", "ton", "ve", "ber", "ix", "ol", "ur", "sen", "mo", "ly", "ta",
                    "ri", "po", "cy", "de", "fa", "gu", "ho", "ji", "ze", "wo", "ex",
                ];
                let mut seen = std::collections::HashSet::new();
                let mut words = Vec::new();
                while words.len() < 20_000 {
                    let n = rng.gen_range(1..=4);
                    let w: String = (0..n)
                        .map(|_| syllables[rng.gen_range(0..syllables.len())])
                        .collect();
                    if seen.insert(w.clone()) {
                        words.push(w);
                    }
                }
                // Zipf (s = 1) over the vocabulary.
                let mut acc = 0.0;
                let cumulative = (1..=words.len())
                    .map(|r| {
                        acc += 1.0 / r as f64;
                        acc
                    })
                    .collect();
                let tags = (0..500)
                    .map(|i| format!("{} {}", words[i * 7 % 2000], words[i + 100]))
                    .collect();
                let b58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
                let authors = (0..1000)
                    .map(|_| {
                        let tail: String = (0..44)
                            .map(|_| b58[rng.gen_range(0..b58.len())] as char)
                            .collect();
                        format!("12D3KooW{tail}")
                    })
                    .collect();
                Corpus {
                    words,
                    cumulative,
                    tags,
                    authors,
                }
            }

            pub fn word(&self, rng: &mut StdRng) -> &str {
                let x = rng.gen::<f64>() * self.cumulative.last().unwrap();
                let i = self.cumulative.partition_point(|c| *c < x);
                &self.words[i.min(self.words.len() - 1)]
            }

            pub fn text(&self, rng: &mut StdRng, n: usize, out: &mut String) {
                out.clear();
                for i in 0..n {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(self.word(rng));
                }
            }
        }

        pub struct Record {
            pub id: String,
            pub title: String,
            pub description: String,
            pub tags: Vec<String>,
            pub kind: &'static str,
            pub author: usize,
            pub created_ms: u64,
            pub size: u64,
        }

        impl Record {
            pub fn new() -> Self {
                Record {
                    id: String::new(),
                    title: String::new(),
                    description: String::new(),
                    tags: Vec::new(),
                    kind: "",
                    author: 0,
                    created_ms: 0,
                    size: 0,
                }
            }

            pub fn fill(&mut self, corpus: &Corpus, rng: &mut StdRng) {
                let id: [u8; 20] = rng.gen();
                self.id.clear();
                for b in id {
                    self.id.push_str(&format!("{b:02x}"));
                }
                let n = rng.gen_range(3..=10);
                corpus.text(rng, n, &mut self.title);
                let n = rng.gen_range(20..=60);
                corpus.text(rng, n, &mut self.description);
                self.tags.clear();
                for _ in 0..rng.gen_range(0..=5) {
                    let t = &corpus.tags[rng.gen_range(0..corpus.tags.len())];
                    self.tags.push(t.clone());
                }
                self.kind = KINDS[rng.gen_range(0..KINDS.len())];
                self.author = rng.gen_range(0..corpus.authors.len());
                self.created_ms = 1_600_000_000_000 + rng.gen_range(0..100_000_000_000u64);
                self.size = rng.gen_range(1_000..10_000_000_000u64);
            }
        }
    }

    fn bench_dir() -> std::path::PathBuf {
        std::env::var_os("HEARTH_SEARCH_BENCH_DIR")
            .map(Into::into)
            .unwrap_or_else(|| std::env::temp_dir().join("hearth-search-bench"))
    }

    fn bench_records() -> u64 {
        std::env::var("HEARTH_SEARCH_BENCH_RECORDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000)
    }

    fn proc_status() -> String {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .filter(|l| {
                ["VmRSS", "VmHWM", "RssAnon", "RssFile"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn dir_size(dir: &Path) -> u64 {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }

    fn upsert_record(index: &SearchIndex, corpus: &synthetic::Corpus, r: &synthetic::Record) {
        index
            .upsert(&IndexDoc {
                record: RecordRef { author: 7, seq: 1 },
                content_id: &r.id,
                title: &r.title,
                description: &r.description,
                tags: &r.tags,
                kind: r.kind,
                author: &corpus.authors[r.author],
                created_ms: r.created_ms,
                size: r.size,
            })
            .unwrap();
    }

    /// Builds the benchmark index (1M synthetic records by default) from scratch.
    /// `cargo test --release -- --ignored --nocapture bench_ingest` then `bench_search`.
    #[test]
    #[ignore]
    fn bench_ingest() {
        use rand::SeedableRng;
        let n = bench_records();
        let dir = bench_dir();
        let _ = fs::remove_dir_all(&dir);
        let corpus = synthetic::Corpus::new(7);
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let mut r = synthetic::Record::new();
        // The cost of making the records, to subtract.
        let t = Instant::now();
        for _ in 0..n {
            r.fill(&corpus, &mut rng);
        }
        let generation = t.elapsed();

        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let index = SearchIndex::open(&dir).unwrap();
        let t = Instant::now();
        for _ in 0..n {
            r.fill(&corpus, &mut rng);
            upsert_record(&index, &corpus, &r);
        }
        let upserts = t.elapsed();
        let tc = Instant::now();
        index.commit().unwrap();
        let commit = tc.elapsed();
        let total = t.elapsed();
        println!(
            "ingest {n} records: {:.1} s total (upserts {:.1} s, of which generating records {:.1} s; final commit {:.2} s)",
            total.as_secs_f64(),
            upserts.as_secs_f64(),
            generation.as_secs_f64(),
            commit.as_secs_f64()
        );
        println!(
            "after ingest: docs {}, segments {}, disk {:.1} MB, {}",
            index.len(),
            index.inner.reader.searcher().segment_readers().len(),
            dir_size(&dir) as f64 / 1e6,
            proc_status()
        );
        // Let background merges finish, as a node left running would (dropping the writer would
        // cancel them). The writer is consumed: an in-RAM index's stands in for it.
        let t = Instant::now();
        let writer = {
            let (schema, _) = build_schema();
            let stand_in = Index::create_in_ram(schema)
                .writer_with_num_threads(1, WRITER_HEAP_BYTES)
                .unwrap();
            std::mem::replace(&mut index.lock_writer().writer, stand_in)
        };
        writer.wait_merging_threads().unwrap();
        println!(
            "merges finished after {:.1} s more; disk {:.1} MB",
            t.elapsed().as_secs_f64(),
            dir_size(&dir) as f64 / 1e6
        );
    }

    /// Opens the benchmark index and measures searches and commits.
    #[test]
    #[ignore]
    fn bench_search() {
        use rand::{Rng, SeedableRng};
        use std::hash::{Hash, Hasher};
        let dir = bench_dir();
        let before = proc_status();
        let t = Instant::now();
        let index = SearchIndex::open(&dir).unwrap();
        let open = t.elapsed();
        println!(
            "open: {:.1} ms, docs {}, segments {}, disk {:.1} MB; RSS before open: {before}; after open: {}",
            open.as_secs_f64() * 1000.0,
            index.len(),
            index.inner.reader.searcher().segment_readers().len(),
            dir_size(&dir) as f64 / 1e6,
            proc_status()
        );
        let corpus = synthetic::Corpus::new(7);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut queries = Vec::new();
        for i in 0..1000 {
            let mut q = SearchQuery {
                limit: 20,
                ..Default::default()
            };
            let n = rng.gen_range(1..=3);
            let words: Vec<&str> = (0..n).map(|_| corpus.word(&mut rng)).collect();
            let category = i % 10;
            q.text = match category {
                // Prefix: the last word half typed.
                0 | 1 => {
                    let mut t = words.join(" ");
                    let last = words.last().unwrap();
                    let cut = rng.gen_range(1..=last.len().min(5));
                    t.truncate(t.len() - last.len() + cut);
                    t
                }
                // Empty text with a filter.
                2 => String::new(),
                _ => format!("{} ", words.join(" ")),
            };
            if (2..=4).contains(&category) {
                q.kinds = vec![synthetic::KINDS[rng.gen_range(0..6)].to_string()];
            }
            if category == 5 || (category == 2 && i % 20 == 2) {
                q.authors = vec![corpus.authors[rng.gen_range(0..1000)].clone()];
            }
            if i % 3 == 0 {
                q.sort = SortBy::Newest;
            }
            if i % 17 == 0 {
                q.offset = 40;
            }
            queries.push(q);
        }
        let half = |id: &str| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut h);
            h.finish() & 1 == 0
        };
        let all = |_: &str| true;
        let few = |id: &str| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut h);
            h.finish().is_multiple_of(100)
        };
        // Warm up the page cache (a node that has been running has it warm).
        for q in &queries {
            index.search(q, &all).unwrap();
        }
        for (name, accept) in [
            ("accept all", &all as &dyn Fn(&str) -> bool),
            ("accept half", &half),
            ("accept 1%", &few),
        ] {
            let mut lat = Vec::new();
            let mut by_cat: Vec<Vec<f64>> = vec![Vec::new(); 10];
            let mut lower_bounds = 0;
            let mut hits = 0;
            for (i, q) in queries.iter().enumerate() {
                let t = Instant::now();
                let res = index.search(q, accept).unwrap();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                lat.push(ms);
                by_cat[i % 10].push(ms);
                lower_bounds += usize::from(res.total_is_lower_bound);
                hits += res.total;
            }
            let pct = |v: &mut Vec<f64>, p: f64| {
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
            };
            println!(
                "{name}: 1000 queries p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; mean total {}, {} totals capped",
                pct(&mut lat, 0.50),
                pct(&mut lat, 0.95),
                pct(&mut lat, 0.99),
                pct(&mut lat, 1.0),
                hits / 1000,
                lower_bounds
            );
            if std::env::var_os("HEARTH_SEARCH_BENCH_SLOWEST").is_some() {
                let mut timed = Vec::new();
                for (i, q) in queries.iter().enumerate() {
                    let t = Instant::now();
                    let res = index.search(q, accept).unwrap();
                    timed.push((t.elapsed().as_secs_f64() * 1000.0, i, res.total));
                }
                timed.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
                for (ms, i, total) in timed.iter().take(15) {
                    let q = &queries[*i];
                    println!("    slow {ms:.2} ms {:?} {:?} kinds {:?} authors {} offset {} total {total}", q.text, q.sort, q.kinds, q.authors.len(), q.offset);
                }
            }
            let names = [
                "prefix",
                "prefix",
                "empty+filter",
                "words+kind",
                "words+kind",
                "words+author",
                "words",
                "words",
                "words",
                "words",
            ];
            for (c, v) in by_cat.iter_mut().enumerate() {
                if c == 1 || c == 4 || c >= 7 {
                    continue;
                }
                println!(
                    "    {:<13} p50 {:.2} ms p95 {:.2} ms max {:.2} ms",
                    names[c],
                    pct(v, 0.5),
                    pct(v, 0.95),
                    pct(v, 1.0)
                );
            }
        }
        println!("after searching: {}", proc_status());

        // Commit cost on the big index: new records, then replaced ones (their deletes are
        // applied at commit). Seeded so that a rerun replaces the records of the previous run.
        let mut r = synthetic::Record::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        for (label, batch, rounds, reseed) in [
            ("1 new", 1usize, 10, false),
            ("1000 new", 1000, 5, false),
            ("1000 replacing", 1000, 3, true),
        ] {
            if reseed {
                rng = rand::rngs::StdRng::seed_from_u64(99);
            }
            let (mut upserts, mut commits) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                let t = Instant::now();
                for _ in 0..batch {
                    r.fill(&corpus, &mut rng);
                    upsert_record(&index, &corpus, &r);
                }
                upserts.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                index.commit().unwrap();
                commits.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                (v[v.len() / 2], v[v.len() - 1])
            };
            let (cm, cx) = median(&mut commits);
            let (um, _) = median(&mut upserts);
            println!(
                "commit after {label} upserts ({rounds} rounds): median {cm:.1} ms, max {cx:.1} ms (the upserts themselves: median {um:.1} ms)"
            );
        }
        println!("at the end: {}", proc_status());
    }
}
