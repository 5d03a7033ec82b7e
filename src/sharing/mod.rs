//! Sharing: publishing files (picked, uploaded, or dropped into shared folders) and
//! fetching resources from whoever holds them. Ties the [`Catalog`] (what exists, who
//! holds it) to the [`Transfer`] engine (the bytes).
//!
//! Publishing creates a torrent, seeds the file in place, and appends a signed `publish`
//! entry to this node's feed. Downloading fetches the torrent's metadata over libp2p from
//! an online holder, checks it against the content id, and hands it to the engine with the
//! holders' BitTorrent addresses; every downloader then seeds.

pub mod media;
pub mod mime;
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

use crate::api::types::{
    Download, DownloadRequest, DownloadState, EventKind, Library, LocalState, PublishRequest,
    Resource, UpdateResourceRequest,
};
use crate::catalog::feed::{self, Body, ResourceBody};
use crate::catalog::sync::announce_have;
use crate::catalog::{Catalog, CatalogError};
use crate::infra::events::{now_ms, EventBus};
use crate::infra::store::{Store, StoreError, Table};
use crate::net::protocol::{CatalogRequest, CatalogResponse, HaveMessage};
use crate::net::NetHandle;
use crate::sharing::watcher::{FileInfo, FolderWatcher, LibraryEvent, WatchOptions};
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
const LIBRARY_CHANNEL: usize = 256;
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
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
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
        let (tx, rx) = mpsc::channel(LIBRARY_CHANNEL);
        let watcher = FolderWatcher::start(WatchOptions::default(), tx, cancel.child_token())
            .map_err(|e| SharingError::BadRequest(e.to_string()))?;
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
        tracker.spawn(async move { me.library_loop(rx).await });
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

    /// Publishes a file or folder on this node's disk.
    pub async fn publish(&self, req: PublishRequest) -> Result<Resource, SharingError> {
        let path = PathBuf::from(req.path.trim());
        if !path.is_absolute() {
            return Err(SharingError::BadRequest(format!(
                "{:?} is not an absolute path",
                req.path
            )));
        }
        let meta = tokio::fs::metadata(&path).await.map_err(|e| {
            SharingError::BadRequest(format!("cannot read {}: {e}", path.display()))
        })?;
        if !(meta.is_file() || meta.is_dir()) {
            return Err(SharingError::BadRequest(format!(
                "{} is not a file or folder",
                path.display()
            )));
        }
        let _guard = self.inner.publishing.lock().await;
        self.publish_locked(&path, req, false).await
    }

    async fn publish_locked(
        &self,
        path: &Path,
        req: PublishRequest,
        from_folder: bool,
    ) -> Result<Resource, SharingError> {
        let i = &self.inner;
        let published = i.transfer.publish(path).await?;
        let id = published.info_hash.clone();
        if let Some(existing) = i.catalog.get(&id)? {
            if existing.author != i.catalog.local_peer().to_string() {
                // The same bytes are already in the catalog under someone else's name:
                // seed them, as a holder, without a second record.
                i.catalog.set_local(&id, LocalState::Complete);
                i.downloads
                    .put(
                        &id,
                        &DownloadRec {
                            title: existing.body.title.clone(),
                            started_ms: now_ms(),
                            complete: true,
                            paused: false,
                            mirror: false,
                        },
                    )
                    .await?;
                self.have(vec![id.clone()], vec![], vec![]);
                return Ok(i.catalog.resource(&id)?);
            }
        }
        let mime = guess_mime(path).to_owned();
        let kind = req.kind.unwrap_or_else(|| guess_kind(&mime));
        let default_title = path
            .file_stem()
            .or(path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| published.name.clone());
        let thumbnail = if kind == crate::api::types::ResourceKind::Image && meta_is_file(path) {
            let p = path.to_owned();
            tokio::task::spawn_blocking(move || crate::infra::thumbnail::image_thumbnail(&p))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
        } else {
            None
        };
        let title: String = req
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or(default_title)
            .chars()
            .take(feed::MAX_TITLE)
            .collect();
        let body = ResourceBody {
            content_id: id.clone(),
            magnet: published.magnet.clone(),
            title,
            description: req.description.unwrap_or_default().trim().to_owned(),
            kind,
            tags: clean_tags(req.tags),
            size: published.total_size,
            mime,
            files: published
                .files
                .iter()
                .take(feed::MAX_RECORD_FILES)
                .map(|f| crate::api::types::FileEntry {
                    path: f.path.clone(),
                    size: f.size,
                })
                .collect(),
            created_ms: now_ms(),
            thumbnail,
            duration_ms: None,
        };
        feed::validate_body(&Body::Publish {
            resource: body.clone(),
        })
        .map_err(|e| SharingError::BadRequest(e.to_string()))?;
        i.published
            .put(
                &id,
                &PublishedRec {
                    path: path.to_owned(),
                    from_folder,
                },
            )
            .await?;
        i.catalog.set_local(&id, LocalState::Published);
        i.catalog
            .append_local(Body::Publish { resource: body })
            .await?;
        self.have(vec![id.clone()], vec![], vec![]);
        tracing::info!(%id, path = %path.display(), "published");
        if matches!(
            kind,
            crate::api::types::ResourceKind::Video | crate::api::types::ResourceKind::Audio
        ) && meta_is_file(path)
            && crate::infra::thumbnail::ffmpeg_available()
        {
            self.spawn_preview(id.clone(), path.to_owned(), kind);
        }
        Ok(i.catalog.resource(&id)?)
    }

    /// Saves an upload into the uploads folder, then publishes it. The file is written to a
    /// hidden temporary name and renamed when complete, so no half file is ever published.
    pub async fn upload<S, E>(
        &self,
        name: &str,
        meta: PublishRequest,
        mut body: S,
    ) -> Result<Resource, SharingError>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let name = safe_file_name(name)?;
        let dir = &self.inner.uploads_dir;
        let tmp = dir.join(format!(
            ".upload-{}.part",
            crate::infra::token::random_token()
        ));
        let io = |source| SharingError::Io {
            path: tmp.clone(),
            source,
        };
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut written: u64 = 0;
        let result: Result<(), SharingError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|e| SharingError::BadRequest(format!("upload interrupted: {e}")))?;
                written += chunk.len() as u64;
                if written > MAX_UPLOAD_BYTES {
                    return Err(SharingError::BadRequest("the file is too large".into()));
                }
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let target = unique_path(dir, &name);
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|source| SharingError::Io {
                path: target.clone(),
                source,
            })?;
        let _guard = self.inner.publishing.lock().await;
        let req = PublishRequest {
            path: target.display().to_string(),
            ..meta
        };
        let result = self.publish_locked(&target, req, false).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&target).await;
        }
        result
    }

    /// Retracts one of my resources and stops seeding it. The file stays on disk.
    pub async fn unpublish(&self, content_id: &str) -> Result<(), SharingError> {
        let _guard = self.inner.publishing.lock().await;
        self.unpublish_locked(content_id).await
    }

    async fn unpublish_locked(&self, content_id: &str) -> Result<(), SharingError> {
        let i = &self.inner;
        let mine = i.catalog.local_peer().to_string();
        let record = i.catalog.get(content_id)?;
        match &record {
            Some(r) if r.author == mine => {}
            Some(_) => return Err(CatalogError::NotMine(content_id.to_owned()).into()),
            None if i.published.contains(content_id)? => {}
            None => return Err(SharingError::NotFound(format!("no resource {content_id}"))),
        }
        if record.is_some() {
            i.catalog
                .append_local(Body::Unpublish {
                    content_id: content_id.to_owned(),
                })
                .await?;
        }
        if let Err(e) = i.transfer.remove(content_id, false).await {
            tracing::debug!(%content_id, "engine had no torrent to stop: {e}");
        }
        if let Some(rec) = i.published.get(content_id)? {
            if rec.from_folder {
                if let Some(mut f) = i.folder_files.get(&key_of(&rec.path))? {
                    f.content_id = None;
                    i.folder_files.put(&key_of(&rec.path), &f).await?;
                }
            }
        }
        i.published.remove(content_id).await?;
        i.catalog.set_local(content_id, LocalState::None);
        self.have(vec![], vec![], vec![content_id.to_owned()]);
        Ok(())
    }

    /// Changes the description of one of my resources (a new `publish` entry).
    pub async fn update(&self, req: UpdateResourceRequest) -> Result<Resource, SharingError> {
        self.redescribe(&req.content_id, |body| {
            body.title = req.title.trim().to_owned();
            body.description = req.description.trim().to_owned();
            body.kind = req.kind;
            body.tags = clean_tags(req.tags);
        })
        .await
    }

    /// Describes one of my resources again: its record as `change` leaves it, in a new
    /// `publish` entry.
    async fn redescribe(
        &self,
        id: &str,
        change: impl FnOnce(&mut ResourceBody),
    ) -> Result<Resource, SharingError> {
        let i = &self.inner;
        let _guard = i.publishing.lock().await;
        let stored = i
            .catalog
            .get(id)?
            .ok_or_else(|| SharingError::NotFound(format!("no resource {id}")))?;
        if stored.author != i.catalog.local_peer().to_string() {
            return Err(CatalogError::NotMine(id.to_owned()).into());
        }
        let mut body = stored.body;
        change(&mut body);
        i.catalog
            .append_local(Body::Publish { resource: body })
            .await
            .map_err(|e| match e {
                CatalogError::Feed(f) => SharingError::BadRequest(f.to_string()),
                e => e.into(),
            })?;
        Ok(i.catalog.resource(id)?)
    }

    /// Makes a video's thumbnail and duration (an audio file's duration) with ffmpeg in the
    /// background, then describes the resource again with them. The record is published
    /// before, never held back by this.
    fn spawn_preview(&self, id: String, path: PathBuf, kind: crate::api::types::ResourceKind) {
        let me = self.clone();
        self.inner.tracker.spawn(async move {
            let video = kind == crate::api::types::ResourceKind::Video;
            let made = tokio::task::spawn_blocking(move || {
                let duration = crate::infra::thumbnail::media_duration_ms(&path).ok();
                let thumb = video
                    .then(|| crate::infra::thumbnail::video_thumbnail(&path, duration))
                    .transpose();
                (duration, thumb)
            });
            let (duration, thumb) = tokio::select! {
                _ = me.inner.cancel.cancelled() => return,
                r = made => match r {
                    Ok(v) => v,
                    Err(_) => return,
                },
            };
            let thumb = match thumb {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(%id, "no video thumbnail: {e}");
                    None
                }
            };
            if duration.is_none() && thumb.is_none() {
                return;
            }
            if let Err(e) = me.describe_preview(&id, thumb, duration).await {
                tracing::warn!(%id, "cannot add the preview: {e}");
            }
        });
    }

    /// Gives one of my resources a thumbnail made elsewhere (by the UI, from a frame in the
    /// player): it is checked, scaled down and recompressed like any other image.
    pub async fn set_preview(
        &self,
        id: &str,
        image: &[u8],
        duration_ms: Option<u64>,
    ) -> Result<Resource, SharingError> {
        let bytes = image.to_vec();
        let thumb =
            tokio::task::spawn_blocking(move || crate::infra::thumbnail::from_image_bytes(&bytes))
                .await
                .map_err(|e| SharingError::BadRequest(e.to_string()))?
                .map_err(|e| SharingError::BadRequest(format!("the preview image: {e}")))?;
        self.describe_preview(id, Some(thumb), duration_ms).await
    }

    async fn describe_preview(
        &self,
        id: &str,
        thumb: Option<Vec<u8>>,
        duration_ms: Option<u64>,
    ) -> Result<Resource, SharingError> {
        self.redescribe(id, |body| {
            if let Some(t) = thumb {
                body.thumbnail = Some(base64::engine::general_purpose::STANDARD.encode(t));
            }
            if duration_ms.is_some() {
                body.duration_ms = duration_ms;
            }
        })
        .await
    }

    // ----- shared folders -----

    pub fn library(&self, folders: Vec<String>) -> Result<Library, SharingError> {
        Ok(Library {
            folders,
            uploads_folder: self.inner.uploads_dir.display().to_string(),
            published: self.inner.catalog.published()?,
        })
    }

    /// Starts watching `folder`; its files get published. (Adding a watch per directory
    /// blocks, so it runs on the blocking pool.)
    pub async fn watch_folder(&self, folder: &Path) -> Result<(), SharingError> {
        let me = self.clone();
        let folder = folder.to_owned();
        tokio::task::spawn_blocking(move || me.inner.watcher.add_folder(&folder))
            .await
            .map_err(|e| SharingError::BadRequest(e.to_string()))?
            .map_err(|e| SharingError::BadRequest(e.to_string()))
    }

    /// Stops watching `folder` and unpublishes what was published from it.
    pub async fn unwatch_folder(&self, folder: &Path) -> Result<(), SharingError> {
        // The watcher reports resolved paths; match them whichever way the folder was named.
        let folder = &folder.canonicalize().unwrap_or_else(|_| folder.to_owned());
        let _ = self.inner.watcher.remove_folder(folder);
        let _guard = self.inner.publishing.lock().await;
        let prefix = key_of(folder);
        for (key, f) in self.inner.folder_files.scan_prefix(&prefix, usize::MAX)? {
            if !Path::new(&key).starts_with(folder) {
                continue;
            }
            if let Some(id) = f.content_id {
                let _ = self.unpublish_locked(&id).await;
            }
            self.inner.folder_files.remove(&key).await?;
        }
        Ok(())
    }

    async fn library_loop(self, mut rx: mpsc::Receiver<LibraryEvent>) {
        loop {
            let event = tokio::select! {
                _ = self.inner.cancel.cancelled() => break,
                e = rx.recv() => match e { Some(e) => e, None => break },
            };
            let _guard = self.inner.publishing.lock().await;
            let result = match event {
                LibraryEvent::Snapshot { folder, files } => self.reconcile(&folder, files).await,
                LibraryEvent::Ready(file) => self.folder_file_ready(file).await,
                LibraryEvent::Removed { path } => self.folder_file_removed(&path).await,
            };
            if let Err(e) = result {
                tracing::warn!("shared folder: {e}");
            }
        }
    }

    async fn reconcile(&self, folder: &Path, files: Vec<FileInfo>) -> Result<(), SharingError> {
        let present: std::collections::HashSet<String> =
            files.iter().map(|f| key_of(&f.path)).collect();
        for (key, _) in self
            .inner
            .folder_files
            .scan_prefix(&key_of(folder), usize::MAX)?
        {
            if Path::new(&key).starts_with(folder) && !present.contains(&key) {
                self.folder_file_removed(Path::new(&key)).await?;
            }
        }
        for file in files {
            self.folder_file_ready(file).await?;
        }
        Ok(())
    }

    async fn folder_file_ready(&self, file: FileInfo) -> Result<(), SharingError> {
        let key = key_of(&file.path);
        let known = self.inner.folder_files.get(&key)?;
        if let Some(k) = &known {
            if k.size == file.size && k.mtime_ms == file.mtime_ms {
                return Ok(()); // unchanged (published, or unpublished on purpose)
            }
            if let Some(old) = &k.content_id {
                let _ = self.unpublish_locked(old).await;
            }
        }
        let resource = self
            .publish_locked(&file.path, PublishRequest::default(), true)
            .await;
        let content_id = match resource {
            Ok(r) => Some(r.content_id),
            Err(e) => {
                tracing::warn!(path = %file.path.display(), "cannot publish: {e}");
                None
            }
        };
        self.inner
            .folder_files
            .put(
                &key,
                &FolderFile {
                    size: file.size,
                    mtime_ms: file.mtime_ms,
                    content_id,
                },
            )
            .await?;
        Ok(())
    }

    async fn folder_file_removed(&self, path: &Path) -> Result<(), SharingError> {
        let key = key_of(path);
        if let Some(f) = self.inner.folder_files.get(&key)? {
            if let Some(id) = f.content_id {
                if let Err(e) = self.unpublish_locked(&id).await {
                    tracing::debug!(%id, "unpublish of removed file: {e}");
                }
            }
            self.inner.folder_files.remove(&key).await?;
        }
        Ok(())
    }

    // ----- downloading -----

    pub async fn start_download(&self, req: DownloadRequest) -> Result<Download, SharingError> {
        self.download_as(req, false).await
    }

    /// Starts downloading `id` as a mirror copy (announced as such).
    pub async fn start_mirror_download(&self, id: &str) -> Result<Download, SharingError> {
        let req = DownloadRequest {
            content_id: Some(id.to_owned()),
            ..Default::default()
        };
        self.download_as(req, true).await
    }

    async fn download_as(
        &self,
        req: DownloadRequest,
        mirror: bool,
    ) -> Result<Download, SharingError> {
        let extra: Vec<std::net::SocketAddr> = req
            .peers
            .iter()
            .map(|p| {
                p.trim().parse().map_err(|_| {
                    SharingError::BadRequest(format!("{p:?} is not an ip:port address"))
                })
            })
            .collect::<Result<_, _>>()?;
        if let Some(magnet) = req.magnet.as_deref().filter(|m| !m.trim().is_empty()) {
            let id = self
                .inner
                .transfer
                .download_magnet(magnet.trim(), extra)
                .await?;
            let title = self
                .inner
                .transfer
                .stats(&id)
                .map(|s| s.name)
                .unwrap_or_else(|| id.clone());
            return self.record_download(&id, title, mirror).await;
        }
        let id = req
            .content_id
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| feed::is_hex(s, 40))
            .ok_or_else(|| {
                SharingError::BadRequest("give a content id (40 hex digits) or a magnet URI".into())
            })?;
        let record =
            self.inner.catalog.get(&id)?.ok_or_else(|| {
                SharingError::NotFound(format!("no resource {id} in the catalog"))
            })?;
        match self.inner.catalog.local_state(&id) {
            LocalState::Published | LocalState::Complete => {
                return Err(SharingError::Conflict(
                    "you already have this resource".into(),
                ))
            }
            LocalState::Downloading => {
                if let Some(d) = self.download(&id)? {
                    return Ok(d);
                }
            }
            LocalState::None => {}
        }
        // The DHT may know holders the catalog does not. When the catalog knows some online,
        // ask it in the background (the progress loop passes new holders on), so a download,
        // and a video's first frame, do not wait for the lookup.
        if self.inner.catalog.holder_addrs(&id).is_empty() {
            self.discover_providers(&id).await;
        } else {
            let me = self.clone();
            let id = id.clone();
            self.inner
                .tracker
                .spawn(async move { me.discover_providers(&id).await });
        }
        let holders = self.inner.catalog.holder_addrs(&id);
        if holders.is_empty() && extra.is_empty() {
            return Err(SharingError::Unavailable(
                "no one who has this resource is online right now".into(),
            ));
        }
        let torrent = self.fetch_torrent(&id, &holders).await?;
        let mut peers: Vec<std::net::SocketAddr> =
            holders.into_iter().flat_map(|(_, a)| a).collect();
        peers.extend(extra);
        let got = self.inner.transfer.download(&torrent, peers).await?;
        if got != id {
            return Err(SharingError::BadRequest(
                "the torrent does not match the resource".into(),
            ));
        }
        self.record_download(&id, record.body.title, mirror).await
    }

    async fn record_download(
        &self,
        id: &str,
        title: String,
        mirror: bool,
    ) -> Result<Download, SharingError> {
        self.inner
            .downloads
            .put(
                id,
                &DownloadRec {
                    title,
                    started_ms: now_ms(),
                    complete: false,
                    paused: false,
                    mirror,
                },
            )
            .await?;
        self.inner.catalog.set_local(id, LocalState::Downloading);
        self.inner.catalog.set_mirrored(id, mirror);
        self.have(vec![], vec![id.to_owned()], vec![]);
        let d = self
            .download(id)?
            .ok_or_else(|| SharingError::NotFound(format!("download {id} vanished")))?;
        self.inner.bus.emit(EventKind::DownloadProgress {
            download: d.clone(),
        });
        Ok(d)
    }

    /// Asks the DHT who provides `id`, and asks those peers what they hold.
    async fn discover_providers(&self, id: &str) {
        let found =
            tokio::time::timeout(PROVIDER_LOOKUP, self.inner.net.providers(id.to_owned())).await;
        let Ok(Ok(providers)) = found else {
            return;
        };
        let known: Vec<libp2p::PeerId> = self
            .inner
            .catalog
            .holder_addrs(id)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for peer in providers {
            if peer == self.inner.catalog.local_peer() || known.contains(&peer) {
                continue;
            }
            if let Ok(CatalogResponse::Holdings(h)) = self
                .inner
                .net
                .catalog_request(peer, CatalogRequest::Holdings)
                .await
            {
                let _ = self.inner.catalog.set_holdings(peer, h).await;
            }
        }
    }

    /// The torrent metadata of `id` from the first holder that has it and gets it right.
    async fn fetch_torrent(
        &self,
        id: &str,
        holders: &[(libp2p::PeerId, Vec<std::net::SocketAddr>)],
    ) -> Result<Vec<u8>, SharingError> {
        let mut last = String::from("no holder answered");
        for (peer, _) in holders {
            let answer = self
                .inner
                .net
                .catalog_request(
                    *peer,
                    CatalogRequest::Torrent {
                        content_id: id.to_owned(),
                    },
                )
                .await;
            let b64 = match answer {
                Ok(CatalogResponse::Torrent { torrent }) => torrent,
                Ok(other) => {
                    last = format!("{peer} answered {other:?}");
                    continue;
                }
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                last = format!("{peer} sent undecodable metadata");
                continue;
            };
            match crate::transfer::validate_metainfo(&bytes) {
                Ok(meta) if meta.info_hash == id => return Ok(bytes),
                Ok(_) => last = format!("{peer} sent metadata of another torrent"),
                Err(e) => last = format!("{peer} sent bad metadata: {e}"),
            }
        }
        Err(SharingError::Unavailable(format!(
            "cannot get the torrent metadata: {last}"
        )))
    }

    // ----- playing -----

    /// Bytes of file `index` of resource `id` (a checked content id) for a player, as the
    /// `Range` header asks. A
    /// resource not on this disk starts downloading (and then seeds, like any download); a
    /// paused one resumes. Ranges not downloaded yet arrive first. With `limit`, for
    /// transports that hold a body in memory, at most that many bytes are answered (206 with
    /// a shorter range, also when the whole file was asked; players ask on from there).
    pub async fn media(
        &self,
        id: &str,
        index: usize,
        range: Option<&str>,
        limit: Option<u64>,
    ) -> Result<crate::sharing::media::Media, SharingError> {
        use crate::sharing::media::{content_type, parse_range, ByteRange, Media, MediaBody};
        let record = self.inner.catalog.get(id)?;
        match self.inner.catalog.local_state(id) {
            LocalState::None => {
                if record.is_none() {
                    return Err(SharingError::NotFound(format!(
                        "no resource {id} in the catalog"
                    )));
                }
                match self
                    .start_download(DownloadRequest {
                        content_id: Some(id.to_owned()),
                        ..Default::default()
                    })
                    .await
                {
                    Ok(_) | Err(SharingError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            LocalState::Downloading => {
                if self.download_rec(id).is_ok_and(|r| r.paused) {
                    self.resume(id).await?;
                }
            }
            LocalState::Published | LocalState::Complete => {}
        }
        let permit = self
            .inner
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                SharingError::Unavailable("too many streams are open; try again".into())
            })?;
        let (stream, len, path) = self.inner.transfer.stream(id, index).await?;
        let one_file = record.as_ref().is_some_and(|r| r.body.files.len() <= 1);
        let mime = record.as_ref().map(|r| r.body.mime.as_str()).unwrap_or("");
        let content_type = content_type(mime, &path, one_file);
        let Ok(asked) = parse_range(range, len) else {
            return Ok(Media::unsatisfiable(len, content_type));
        };
        let (mut status, mut span) = match asked {
            Some(r) => (206, Some(r)),
            None if len == 0 => (200, None),
            None => (
                200,
                Some(ByteRange {
                    first: 0,
                    last: len - 1,
                }),
            ),
        };
        if let (Some(limit), Some(r)) = (limit.filter(|l| *l > 0), span.as_mut()) {
            if r.len() > limit {
                r.last = r.first + limit - 1;
                status = 206;
            }
        }
        let (first, n) = span.map_or((0, 0), |r| (r.first, r.len()));
        let body = MediaBody::new(stream, first, n, Some(permit))
            .await
            .map_err(|e| {
                SharingError::Transfer(TransferError::Engine(format!("cannot read the file: {e}")))
            })?;
        Ok(Media {
            status,
            content_type,
            total: len,
            range: span,
            body,
        })
    }

    pub async fn pause(&self, id: &str) -> Result<(), SharingError> {
        let mut rec = self.download_rec(id)?;
        self.inner.transfer.pause(id).await?;
        rec.paused = true;
        self.inner.downloads.put(id, &rec).await?;
        self.emit_progress(id);
        Ok(())
    }

    pub async fn resume(&self, id: &str) -> Result<(), SharingError> {
        let mut rec = self.download_rec(id)?;
        self.inner.transfer.resume(id).await?;
        rec.paused = false;
        self.inner.downloads.put(id, &rec).await?;
        let peers = self.holder_peers(id);
        if !peers.is_empty() {
            let _ = self.inner.transfer.add_peers(id, peers).await;
        }
        self.emit_progress(id);
        Ok(())
    }

    /// Stops a download and deletes what it wrote.
    pub async fn cancel(&self, id: &str) -> Result<(), SharingError> {
        self.download_rec(id)?;
        if let Err(e) = self.inner.transfer.remove(id, true).await {
            tracing::debug!(%id, "engine had no torrent to remove: {e}");
        }
        self.inner.downloads.remove(id).await?;
        self.inner.catalog.set_local(id, LocalState::None);
        self.inner.catalog.set_mirrored(id, false);
        self.inner
            .last_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.have(vec![], vec![], vec![id.to_owned()]);
        self.inner.bus.emit(EventKind::DownloadRemoved {
            content_id: id.to_owned(),
        });
        Ok(())
    }

    fn download_rec(&self, id: &str) -> Result<DownloadRec, SharingError> {
        self.inner
            .downloads
            .get(id)?
            .ok_or_else(|| SharingError::NotFound(format!("no download {id}")))
    }

    pub fn downloads(&self) -> Result<Vec<Download>, SharingError> {
        let mut out: Vec<Download> = self
            .inner
            .downloads
            .entries()?
            .into_iter()
            .map(|(id, rec)| self.to_download(&id, &rec))
            .collect();
        out.sort_by_key(|d| std::cmp::Reverse(d.started_ms));
        Ok(out)
    }

    pub fn download(&self, id: &str) -> Result<Option<Download>, SharingError> {
        Ok(self
            .inner
            .downloads
            .get(id)?
            .map(|rec| self.to_download(id, &rec)))
    }

    /// Where a resource's data is on this disk.
    pub fn local_path(&self, id: &str) -> Result<PathBuf, SharingError> {
        if let Some(rec) = self.inner.published.get(id)? {
            return Ok(rec.path);
        }
        self.inner
            .transfer
            .file_path(id)
            .ok_or_else(|| SharingError::NotFound("this resource is not on this disk".into()))
    }

    fn to_download(&self, id: &str, rec: &DownloadRec) -> Download {
        let stats = self.inner.transfer.stats(id);
        download_view(id, rec, stats.as_ref(), self.inner.transfer.file_path(id))
    }

    fn holder_peers(&self, id: &str) -> Vec<std::net::SocketAddr> {
        self.inner
            .catalog
            .holder_addrs(id)
            .into_iter()
            .flat_map(|(_, a)| a)
            .collect()
    }

    fn emit_progress(&self, id: &str) {
        let Ok(Some(d)) = self.download(id) else {
            return;
        };
        let mut last = self
            .inner
            .last_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.get(id) != Some(&d) {
            last.insert(id.to_owned(), d.clone());
            drop(last);
            self.inner
                .bus
                .emit(EventKind::DownloadProgress { download: d });
        }
    }

    /// Emits progress, notices completion, and tells running downloads about new holders.
    async fn progress_loop(self) {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_refresh = Duration::ZERO;
        // Holder addresses each download was given, so new ones go out at once.
        let mut given: HashMap<String, std::collections::HashSet<std::net::SocketAddr>> =
            HashMap::new();
        loop {
            tokio::select! {
                _ = self.inner.cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            since_refresh += PROGRESS_EVERY;
            let refresh = since_refresh >= REFRESH_PEERS_EVERY;
            if refresh {
                since_refresh = Duration::ZERO;
            }
            let entries = match self.inner.downloads.entries() {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!("cannot read downloads: {e}");
                    continue;
                }
            };
            given.retain(|id, _| entries.iter().any(|(e, r)| e == id && !r.complete));
            for (id, mut rec) in entries {
                if rec.complete {
                    continue;
                }
                self.emit_progress(&id);
                let finished = self.inner.transfer.stats(&id).is_some_and(|s| s.finished);
                if finished {
                    rec.complete = true;
                    if let Err(e) = self.inner.downloads.put(&id, &rec).await {
                        tracing::error!("cannot record finished download: {e}");
                        continue;
                    }
                    self.inner.catalog.set_local(&id, LocalState::Complete);
                    self.have(vec![id.clone()], vec![], vec![]);
                    self.emit_progress(&id);
                    tracing::info!(%id, "download complete; seeding");
                } else if !rec.paused {
                    let peers = self.holder_peers(&id);
                    let known = given.entry(id.clone()).or_default();
                    let fresh: Vec<_> = peers
                        .iter()
                        .filter(|p| !known.contains(p))
                        .copied()
                        .collect();
                    let pass = if refresh { peers.clone() } else { fresh };
                    if !pass.is_empty() {
                        known.extend(peers);
                        let _ = self.inner.transfer.add_peers(&id, pass).await;
                    }
                }
            }
        }
    }
}

fn meta_is_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn download_view(
    id: &str,
    rec: &DownloadRec,
    stats: Option<&TransferStats>,
    path: Option<PathBuf>,
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
    }
}

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
        return Err(SharingError::BadRequest(format!(
            "{name:?} is not a usable file name"
        )));
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
