//! Sharing: publishing files (picked, uploaded, or dropped into shared folders) and
//! fetching resources from whoever holds them. Ties the [`Catalog`] (what exists, who
//! holds it) to the [`Transfer`] engine (the bytes).
//!
//! Publishing creates a torrent, seeds the file in place, and appends a signed `publish`
//! entry to this node's feed. Downloading fetches the torrent's metadata over libp2p from
//! an online holder, checks it against the content id, and hands it to the engine with the
//! holders' BitTorrent addresses; every downloader then seeds.
//!
//! Files: `publish` (publish, upload, unpublish, edit, previews), `folders` (shared folders
//! to publish/unpublish), `downloads`, `play` (byte ranges for a player), [`reach`] (which peer-supplied
//! BitTorrent addresses may be dialled), [`media`] (range rules
//! and the streamed body), [`mime`] (MIME type and kind from a file name), [`watcher`] (the
//! shared-folder watcher, on `notify`).
//!
//! **Uses:** `catalog` (records, holders, announcing holdings), `transfer` (the bytes), `net`
//! (handle, protocol types), `infra` (store, events, thumbnails, tokens), the DTOs of
//! `api::dto`. Used by `mirror` and `api`.

pub mod bt_link;
mod downloads;
mod folders;
pub mod media;
pub mod mime;
pub mod play;
mod publish;
pub mod reach;
pub mod watcher;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::dto::{
    Download, DownloadRequest, DownloadRoute, DownloadState, EventKind, Library, LocalState,
    PublishRequest, Resource, UpdateResourceRequest,
};
use crate::catalog::feed::{self, Body, FeedError, ResourceBody};
use crate::catalog::sync::announce_have;
use crate::catalog::{Catalog, CatalogError};
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::infra::thumbnail::ThumbnailError;
use crate::net::protocol::{CatalogRequest, CatalogResponse, HaveMessage};
use crate::net::NetHandle;
use crate::sharing::watcher::{FileInfo, FolderWatcher, WatchError, WatchEvent, WatchOptions};
use crate::transfer::{Transfer, TransferError, TransferState, TransferStats};
use mime::{guess_kind, guess_mime};

const PUBLISHED_TABLE: &str = "published_v1";
const FOLDER_FILES_TABLE: &str = "folder_files_v1";
const DOWNLOADS_TABLE: &str = "downloads_v1";
/// How often download progress is looked at (and events emitted when it changed).
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often running downloads are given every holder address again (so holders that came
/// back are redialled). Addresses never given before are passed on at every progress tick.
const REFRESH_PEERS_EVERY: Duration = Duration::from_secs(3);
/// How long a DHT provider lookup may take when starting a download.
const PROVIDER_LOOKUP: Duration = Duration::from_secs(3);
/// Pending events from the folder watcher.
const WATCH_CHANNEL: usize = 256;
/// Largest upload accepted through the API (the file is streamed to disk).
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// Sharing errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharingError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("{0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a file or folder", .0.display())]
    NotAFileOrFolder(PathBuf),
    /// The record described would not pass the feed's checks.
    #[error("{0}")]
    InvalidRecord(FeedError),
    #[error("upload interrupted: {0}")]
    UploadInterrupted(String),
    #[error("the file is too large")]
    UploadTooLarge,
    #[error("{0:?} is not a usable file name")]
    BadFileName(String),
    #[error("the preview image: {0}")]
    BadPreview(ThumbnailError),
    #[error("{0:?} is not an ip:port address")]
    BadPeerAddress(String),
    #[error("give a content id (40 hex digits) or a magnet URI")]
    BadContentId,
    #[error("the torrent does not match the resource")]
    TorrentMismatch,
    /// A blocking task (watching a folder, decoding an image) panicked or was cancelled.
    #[error("{0}")]
    BlockingTask(String),
    /// Not a resource this node published, nor one in the catalog.
    #[error("no resource {content_id}")]
    NotPublished { content_id: String },
    /// Not a resource of this node's catalog.
    #[error("no resource {content_id}")]
    UnknownResource { content_id: String },
    #[error("no resource {content_id} in the catalog")]
    NotInCatalog { content_id: String },
    #[error("download {content_id} vanished")]
    DownloadVanished { content_id: String },
    #[error("no download {content_id}")]
    NoSuchDownload { content_id: String },
    #[error("this resource is not on this disk")]
    NotOnDisk,
    #[error("you already have this resource")]
    AlreadyHere,
    #[error("no one who has this resource is online right now")]
    NoHolders,
    #[error("cannot get the torrent metadata: {0}")]
    NoMetadata(String),
    #[error("too many streams are open; try again")]
    TooManyStreams,
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One of my resources and where its bytes are.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PublishedRec {
    path: PathBuf,
    /// Published because it lies in a shared folder.
    from_folder: bool,
}

/// What is known of a file in a shared folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FolderFile {
    size: u64,
    mtime_ms: u64,
    /// `None` when the person unpublished it: it stays unpublished until it changes.
    content_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DownloadRec {
    title: String,
    started_ms: u64,
    complete: bool,
    paused: bool,
    /// Fetched automatically for a mirror.
    #[serde(default)]
    mirror: bool,
}

struct Inner {
    catalog: Catalog,
    transfer: Transfer,
    net: NetHandle,
    bus: EventBus,
    published: Table<PublishedRec>,
    folder_files: Table<FolderFile>,
    downloads: Table<DownloadRec>,
    uploads_dir: PathBuf,
    watcher: FolderWatcher,
    /// Places for file streams open at once (see [`crate::transfer::MAX_STREAMS`]).
    streams: Arc<tokio::sync::Semaphore>,
    /// Publishing and unpublishing happen one at a time.
    publishing: tokio::sync::Mutex<()>,
    /// Last progress emitted per download, to emit only changes.
    last_progress: std::sync::Mutex<HashMap<String, Download>>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Sharing {
    inner: Arc<Inner>,
}

impl Sharing {
    /// Starts sharing: restores what this node publishes and downloads, watches the shared
    /// folders and follows download progress.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        catalog: Catalog,
        transfer: Transfer,
        net: NetHandle,
        bus: EventBus,
        store: &Store,
        uploads_dir: PathBuf,
        folders: Vec<PathBuf>,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Result<Self, SharingError> {
        let (tx, rx) = mpsc::channel(WATCH_CHANNEL);
        let watcher = FolderWatcher::start(WatchOptions::default(), tx, cancel.child_token())?;
        std::fs::create_dir_all(&uploads_dir).map_err(|source| SharingError::Io {
            path: uploads_dir.clone(),
            source,
        })?;
        let sharing = Self {
            inner: Arc::new(Inner {
                catalog,
                transfer,
                net,
                bus,
                published: store.table(PUBLISHED_TABLE)?,
                folder_files: store.table(FOLDER_FILES_TABLE)?,
                downloads: store.table(DOWNLOADS_TABLE)?,
                uploads_dir,
                watcher,
                streams: Arc::new(tokio::sync::Semaphore::new(crate::transfer::MAX_STREAMS)),
                publishing: tokio::sync::Mutex::new(()),
                last_progress: Default::default(),
                tracker: tracker.clone(),
                cancel: cancel.clone(),
            }),
        };
        sharing.restore().await?;
        for folder in folders {
            if let Err(e) = sharing.watch_folder(&folder).await {
                tracing::warn!(folder = %folder.display(), "cannot watch shared folder: {e}");
            }
        }
        let me = sharing.clone();
        tracker.spawn(async move { me.watch_loop(rx).await });
        let me = sharing.clone();
        tracker.spawn(async move { me.progress_loop().await });
        Ok(sharing)
    }

    /// Marks what this node holds in the catalog, and re-seeds published files the engine
    /// no longer knows (its state was lost).
    async fn restore(&self) -> Result<(), SharingError> {
        let i = &self.inner;
        for (id, rec) in i.published.entries()? {
            if i.transfer.stats(&id).is_none() {
                match i.transfer.publish(&rec.path).await {
                    Ok(p) if p.info_hash == id => {}
                    Ok(_) | Err(_) => {
                        tracing::warn!(path = %rec.path.display(), "published file changed or vanished; unpublishing");
                        let _ = self.unpublish_locked(&id).await;
                        continue;
                    }
                }
            }
            i.catalog.set_local(&id, LocalState::Published);
        }
        for (id, rec) in i.downloads.entries()? {
            i.catalog.set_mirrored(&id, rec.mirror);
            let state = if rec.complete {
                LocalState::Complete
            } else {
                LocalState::Downloading
            };
            i.catalog.set_local(&id, state);
        }
        Ok(())
    }

    /// Changes the BitTorrent speed limits at once (bytes per second; `None` or 0: none).
    pub fn set_rate_limits(
        &self,
        download_bps: Option<u32>,
        upload_bps: Option<u32>,
    ) -> Result<(), SharingError> {
        Ok(self.inner.transfer.set_limits(download_bps, upload_bps)?)
    }

    fn have(&self, complete: Vec<String>, partial: Vec<String>, dropped: Vec<String>) {
        let net = self.inner.net.clone();
        let mirrored = complete
            .iter()
            .chain(&partial)
            .filter(|id| self.inner.catalog.is_mirrored(id))
            .cloned()
            .collect();
        let have = HaveMessage {
            bt_port: self.inner.transfer.bt_port(),
            complete,
            partial,
            dropped,
            mirrored,
        };
        self.inner
            .tracker
            .spawn(async move { announce_have(&net, have).await });
    }

    // ----- publishing -----

    // ----- shared folders -----

    // ----- downloading -----

    // ----- playing -----
}

fn meta_is_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn download_view(
    id: &str,
    rec: &DownloadRec,
    stats: Option<&TransferStats>,
    path: Option<PathBuf>,
    route: Option<DownloadRoute>,
) -> Download {
    let (state, error) = match stats.map(|s| &s.state) {
        _ if rec.complete => (DownloadState::Complete, None),
        None => (DownloadState::Starting, None),
        Some(TransferState::Error(e)) => (DownloadState::Failed, Some(e.clone())),
        Some(_) if rec.paused => (DownloadState::Paused, None),
        Some(TransferState::Paused) => (DownloadState::Paused, None),
        Some(TransferState::Initializing) => (DownloadState::Starting, None),
        Some(_) if stats.is_some_and(|s| s.finished) => (DownloadState::Complete, None),
        Some(_) => (DownloadState::Downloading, None),
    };
    let (have, total) = stats.map_or((0, 0), |s| (s.have_bytes, s.total_bytes));
    Download {
        content_id: id.to_owned(),
        title: rec.title.clone(),
        state,
        have_bytes: have,
        total_bytes: total,
        progress: if total == 0 {
            if state == DownloadState::Complete {
                1.0
            } else {
                0.0
            }
        } else {
            have as f64 / total as f64
        },
        down_bps: stats.map_or(0, |s| s.down_bps),
        up_bps: stats.map_or(0, |s| s.up_bps),
        uploaded_bytes: stats.map_or(0, |s| s.uploaded_bytes),
        peers: stats.map_or(0, |s| s.peers),
        eta_secs: stats.and_then(|s| s.eta_secs),
        path: path.map(|p| p.display().to_string()).unwrap_or_default(),
        error,
        started_ms: rec.started_ms,
        mirror: rec.mirror,
        route: route.filter(|_| state != DownloadState::Complete),
        note: match route {
            Some(DownloadRoute::RelayOnly) if state != DownloadState::Complete => {
                Some(RELAY_ONLY_NOTE.to_owned())
            }
            None if state == DownloadState::Downloading && stats.is_none_or(|s| s.peers == 0) => {
                Some(NO_HOLDER_NOTE.to_owned())
            }
            _ => None,
        },
    }
}

/// What a download says while no holder is connected (none online yet, or between two
/// relay circuits).
pub const NO_HOLDER_NOTE: &str = "waiting for a holder: none is connected right now; the \
     download goes on as soon as one is";

/// What a download whose holders are reached only through relays says.
pub const RELAY_ONLY_NOTE: &str = "relay only: the holders are reachable only through a relay, \
     which carries a limited number of bytes per connection; the download goes on when a \
     direct connection opens";

fn key_of(path: &Path) -> String {
    path.display().to_string()
}

fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t: String = t.trim().chars().take(feed::MAX_TAG).collect();
        if !t.is_empty() && !out.contains(&t) && out.len() < feed::MAX_TAGS {
            out.push(t);
        }
    }
    out
}

/// The last component of an uploaded file's name, refused if it could escape the folder.
fn safe_file_name(name: &str) -> Result<String, SharingError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let bad = base.is_empty()
        || base == "."
        || base == ".."
        || base.starts_with('.')
        || base.len() > 255
        || base.chars().any(|c| c.is_control());
    if bad {
        return Err(SharingError::BadFileName(name.to_owned()));
    }
    Ok(base.to_owned())
}

/// `dir/name`, or `dir/name (2)` and so on when taken.
fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let p = Path::new(name);
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|c| !c.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_cannot_escape() {
        assert_eq!(safe_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(safe_file_name("C:\\x\\report.pdf").unwrap(), "report.pdf");
        for bad in ["", "..", ".hidden", "a/", "bad\u{0}name"] {
            assert!(safe_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn taken_names_get_a_number() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pdf"), b"x").unwrap();
        assert_eq!(
            unique_path(dir.path(), "a.pdf"),
            dir.path().join("a (2).pdf")
        );
        assert_eq!(unique_path(dir.path(), "b.pdf"), dir.path().join("b.pdf"));
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_capped() {
        let tags = clean_tags(vec![" a ".into(), "a".into(), "".into(), "b".into()]);
        assert_eq!(tags, vec!["a", "b"]);
        assert_eq!(clean_tags(vec!["x".repeat(80)])[0].len(), feed::MAX_TAG);
    }
}
