//! BitTorrent transfers on librqbit 9.1: publish local files and folders (seeded in place),
//! download from .torrent bytes or magnet links with peers learned over libp2p, and survive
//! restarts (fastresume, no rehash).
//!
//! The librqbit session runs with no DHT, no UPnP, no local service discovery and no outside
//! trackers. Peers come only from the caller: as initial peers when a torrent is added, and
//! through a private tracker on 127.0.0.1 (`tracker.rs`) that serves the addresses passed to
//! [`Transfer::add_peers`] — librqbit 9.1 has no other way to reach a running torrent.
//!
//! Every .torrent is validated by [`validate_metainfo`] before librqbit sees it and is handed to
//! librqbit reduced to its info dictionary (announce lists and the like are dropped).
//!
//! State in `state_dir`: `session/` is librqbit's JSON persistence and fastresume bitfields
//! (`<hash>.bitv`, `<hash>.torrent`, `session.json`), `transfers.json` is ours (which torrents
//! are published originals, known peers), `transfer.lock` keeps a second process out.
//!
//! Over 1,200 lines: it is one type, `Transfer`, and its engine state (`Inner`) around one
//! librqbit session; the pieces that stand alone are already apart (`meta`, `bencode`, `state`,
//! `tracker`, `lookup`, `mse`).
//!
//! **Uses:** librqbit only; no other Hearth module, so it is tested on its own. Its tasks run on
//! the task tracker the node passes to [`Transfer::start`].

mod bencode;
mod lookup;
mod meta;
pub mod mse;
mod state;
mod tracker;

#[cfg(test)]
mod tests;

/// The decoders of untrusted bytes, for the fuzz targets.
pub(crate) mod decoders {
    pub(crate) use super::bencode::{parse as bencode, Value as Bencode};
    pub(crate) use super::meta::{parse_magnet, validate_metainfo};
}

use std::{
    collections::HashMap,
    fs::File,
    io::{Seek, SeekFrom, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, Instant},
};

use bytes::Bytes;
use librqbit::{
    api::{Api, TorrentIdOrHash},
    dht::Id20,
    AddTorrent, AddTorrentOptions, ConnectionOptions, ListenerMode, ListenerOptions,
    ManagedTorrent, PeerConnectionOptions, Session, SessionOptions, SessionPersistenceConfig,
    TorrentStatsState,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use meta::{
    validate_metainfo, MetaError, PathProblem, ValidatedMeta, MAX_FILES, MAX_NAME_BYTES,
    MAX_PIECE_LENGTH, MAX_TORRENT_FILE_BYTES, MAX_TOTAL_SIZE, MIN_PIECE_LENGTH,
};
use meta::{FileStamp, Magnet};
use state::{
    acquire_lock, changed_file, have_from_bitfield, load_sidecar, prepare_session_db, write_atomic,
    Record, Sidecar,
};
use tracker::{PeerBook, Tracker};

/// How long [`Transfer::download_magnet`] waits for a peer to send the metadata.
pub const MAGNET_TIMEOUT: Duration = Duration::from_secs(60);
/// Peer socket read/write timeout. librqbit's default (10 s) expires before slow standard
/// clients (Transmission 3) send their first unchoke.
pub const PEER_READ_WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Outgoing TCP connect timeout.
pub const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive interval towards peers (well under the usual 2-minute idle limit).
pub const PEER_KEEP_ALIVE: Duration = Duration::from_secs(60);
/// How often the have-bitfield of running torrents is written for fastresume.
pub const FASTRESUME_INTERVAL: Duration = Duration::from_secs(1);
/// Most peer addresses accepted in one call.
const MAX_PEERS_PER_CALL: usize = tracker::MAX_PEERS_PER_TORRENT;
/// Most peer addresses remembered on disk per torrent.
const MAX_SAVED_PEERS: usize = 50;
/// A stalled download is restarted (to redial known peers) at most this often.
const KICK_INTERVAL: Duration = Duration::from_secs(10);

/// Most file streams open at once (each holds a librqbit blocking permit while open).
pub const MAX_STREAMS: usize = 16;

/// Restoring the session (opening files, not hashing them) must not take longer than this.
const SESSION_START_TIMEOUT: Duration = Duration::from_secs(120);
const SIDECAR: &str = "transfers.json";
const LOCK_FILE: &str = "transfer.lock";
const SESSION_DIR: &str = "session";

#[derive(Clone)]
pub struct TransferConfig {
    /// librqbit session persistence and fastresume data, and our own small state file.
    pub state_dir: PathBuf,
    /// Where downloads are written (created if missing). Must be valid UTF-8.
    pub download_dir: PathBuf,
    /// Address the BitTorrent listener binds (0.0.0.0 by default, 127.0.0.1 in tests).
    pub listen_addr: IpAddr,
    /// TCP port of the BitTorrent listener; 0 picks any free port (see [`Transfer::bt_port`]).
    pub listen_port: u16,
    /// Download speed limit for the whole session, bytes per second (`None`: unlimited).
    pub download_limit_bps: Option<u32>,
    /// Upload speed limit for the whole session, bytes per second (`None`: unlimited).
    pub upload_limit_bps: Option<u32>,
    /// Reaches the peers whose (possibly synthetic) addresses it claims in place of a TCP
    /// dial; the node's carries BitTorrent over libp2p streams. Streams it accepts come in
    /// through [`Transfer::accept_stream`].
    pub connector: Option<Arc<dyn librqbit::ExternalConnector>>,
    /// Encrypted handshakes (MSE/PE): prefer, require or off.
    pub encryption: mse::Encryption,
    /// Listen and dial over uTP as well as TCP (TCP is tried first when dialling).
    pub utp: bool,
    /// Keep librqbit's whole request window (128 chunks) open to every peer, as stock
    /// librqbit does, instead of sizing it by each peer's rate. For measurements only.
    pub stock_request_window: bool,
}

impl std::fmt::Debug for TransferConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferConfig")
            .field("state_dir", &self.state_dir)
            .field("download_dir", &self.download_dir)
            .field("listen_addr", &self.listen_addr)
            .field("listen_port", &self.listen_port)
            .field("connector", &self.connector.is_some())
            .field("encryption", &self.encryption)
            .field("utp", &self.utp)
            .finish_non_exhaustive()
    }
}

impl TransferConfig {
    pub fn new(state_dir: impl Into<PathBuf>, download_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            download_dir: download_dir.into(),
            listen_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            listen_port: 0,
            download_limit_bps: None,
            upload_limit_bps: None,
            connector: None,
            encryption: mse::Encryption::Prefer,
            utp: true,
            stock_request_window: false,
        }
    }
}

#[derive(thiserror::Error, Debug)]
pub enum TransferError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the torrent has no file number {0}")]
    NoSuchFile(usize),
    #[error("invalid transfer settings: {0}")]
    Config(String),
    #[error("the transfer state folder {0} is in use by another Hearth process")]
    StateDirLocked(PathBuf),
    #[error("cannot listen for BitTorrent peers on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("BitTorrent engine error: {0}")]
    Engine(String),
    #[error("invalid torrent: {0}")]
    Meta(#[from] MetaError),
    #[error("invalid magnet link: {0}")]
    Magnet(String),
    #[error("not a valid info hash: {0:?} (expected 40 hex digits)")]
    BadInfoHash(String),
    #[error("no transfer with info hash {0}")]
    NotFound(String),
    #[error("no peer sent the metadata of this torrent within {0} seconds")]
    MetadataTimeout(u64),
    #[error("the peers sent metadata this node refuses: {0}")]
    BadMetadata(String),
    #[error("a peer sent metadata for another torrent (expected {expected}, got {actual})")]
    HashMismatch { expected: String, actual: String },
    #[error("{0} already exists in the download folder; move it away or delete it first")]
    TargetExists(PathBuf),
    #[error("refusing to write outside the download folder: {0}")]
    OutsideDownloadDir(PathBuf),
    #[error("cannot publish {path}: {reason}")]
    Publish { path: PathBuf, reason: String },
    #[error("{0} changed on disk after it was published; publish it again")]
    OriginalChanged(PathBuf),
    #[error("the transfer service has stopped")]
    Stopped,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TransferError {
    let context = context.into();
    move |source| TransferError::Io { context, source }
}

/// Validates untrusted .torrent bytes (up to 32 MiB) on a blocking thread, never on an async
/// worker, and returns the metadata and the torrent reduced to its info dictionary.
async fn validate_off_runtime(torrent: Vec<u8>) -> Result<(ValidatedMeta, Vec<u8>), TransferError> {
    tokio::task::spawn_blocking(move || {
        let (m, span) = meta::validate_with_span(&torrent)?;
        Ok((m, meta::minimal_torrent(&torrent, span)))
    })
    .await
    .map_err(engine)?
}

/// What a failed metadata lookup tells the user: metadata refused by librqbit's own checks
/// (lengths it cannot compute with, paths it will not write) is the torrent's fault, not the
/// engine's.
fn lookup_error(e: &anyhow::Error) -> TransferError {
    if let Some(bad) = e
        .chain()
        .find_map(|c| c.downcast_ref::<librqbit::info_check::InfoLengthsError>())
    {
        return TransferError::BadMetadata(bad.to_string());
    }
    TransferError::Engine(format!("{e:#}"))
}

fn engine(e: impl std::fmt::Display) -> TransferError {
    TransferError::Engine(format!("{e:#}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Relative, '/'-separated.
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// 40 lowercase hex digits.
    pub info_hash: String,
    pub magnet: String,
    /// The .torrent (info dictionary only) to serve to other peers.
    #[serde(with = "bytes_hex")]
    pub torrent: Bytes,
    pub name: String,
    pub files: Vec<FileEntry>,
    pub total_size: u64,
    pub piece_length: u32,
}

mod bytes_hex {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "message")]
pub enum TransferState {
    /// Checking data on disk (after adding, or after a restart).
    Initializing,
    Downloading,
    Seeding,
    Paused,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferStats {
    pub info_hash: String,
    pub name: String,
    pub state: TransferState,
    /// Verified bytes on disk (while initializing: what the fastresume data records).
    pub have_bytes: u64,
    pub total_bytes: u64,
    pub down_bps: u64,
    pub up_bps: u64,
    /// Uploaded since this process started the torrent.
    pub uploaded_bytes: u64,
    pub peers: u32,
    pub eta_secs: Option<u64>,
    pub finished: bool,
}

/// The BitTorrent service. Cheap to clone.
#[derive(Clone)]
pub struct Transfer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("bt_port", &self.inner.bt_port)
            .field("download_dir", &self.inner.download_dir)
            .finish_non_exhaustive()
    }
}

struct Inner {
    session: RwLock<Option<Arc<Session>>>,
    download_dir: PathBuf,
    state_dir: PathBuf,
    session_dir: PathBuf,
    bt_port: u16,
    book: Arc<PeerBook>,
    sidecar: Mutex<Sidecar>,
    metas: RwLock<HashMap<String, Arc<ValidatedMeta>>>,
    adds: tokio::sync::Mutex<()>,
    kicks: Mutex<HashMap<String, Instant>>,
    /// Ours: cancels librqbit, the tracker and our tasks. Cancelled last, on shutdown.
    token: CancellationToken,
    /// The node's tasks: ours run on it, so none outlives the node's shutdown.
    tasks: TaskTracker,
    shutdown: tokio::sync::OnceCell<()>,
    lock_file: Mutex<Option<File>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn id20(hash: &str) -> Option<Id20> {
    let mut b = [0u8; 20];
    hex::decode_to_slice(hash, &mut b).ok()?;
    Some(Id20::new(b))
}

fn clean_peers(peers: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for p in peers {
        if out.len() >= MAX_PEERS_PER_CALL {
            break;
        }
        if tracker::usable(&p) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn utf8(p: &Path) -> Result<String, TransferError> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| TransferError::Config(format!("{} is not valid UTF-8", p.display())))
}

/// `p` must be strictly below `base` and made only of plain components.
fn check_inside(base: &Path, p: &Path) -> Result<(), TransferError> {
    match p.strip_prefix(base) {
        Ok(rel)
            if rel.components().next().is_some()
                && rel.components().all(|c| matches!(c, Component::Normal(_))) =>
        {
            Ok(())
        }
        _ => Err(TransferError::OutsideDownloadDir(p.to_path_buf())),
    }
}

impl Transfer {
    /// Starts the librqbit session: restores every torrent from `state_dir` (fastresume, no
    /// rehash), listens on `listen_addr:listen_port`. Cancelling `cancel` stops everything after
    /// writing the fastresume data; await [`Transfer::shutdown`] to know when that is done.
    /// Every task of the engine's own runs on `tasks`.
    pub async fn start(
        cfg: TransferConfig,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> Result<Self, TransferError> {
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(io_err(format!("cannot create {}", cfg.state_dir.display())))?;
        std::fs::create_dir_all(&cfg.download_dir).map_err(io_err(format!(
            "cannot create {}",
            cfg.download_dir.display()
        )))?;
        let state_dir = std::fs::canonicalize(&cfg.state_dir)
            .map_err(io_err(format!("cannot open {}", cfg.state_dir.display())))?;
        let download_dir = std::fs::canonicalize(&cfg.download_dir).map_err(io_err(format!(
            "cannot open {}",
            cfg.download_dir.display()
        )))?;
        let download_dir_str = utf8(&download_dir)?;
        let session_dir = state_dir.join(SESSION_DIR);
        std::fs::create_dir_all(&session_dir)
            .map_err(io_err(format!("cannot create {}", session_dir.display())))?;

        let lock_file = acquire_lock(&state_dir.join(LOCK_FILE)).await?;

        let mut sidecar = load_sidecar(&state_dir.join(SIDECAR));
        prepare_session_db(&mut sidecar, &session_dir)?;

        let token = CancellationToken::new();
        let book = Arc::new(PeerBook::default());
        for (hash, rec) in &sidecar.torrents {
            if let Some(id) = id20(hash) {
                book.add(id.0, &rec.peers);
            }
        }
        let tracker = Tracker::start(book.clone(), tasks, token.clone())
            .await
            .map_err(io_err("cannot start the local peer tracker"))?;
        let tracker_url: url::Url = tracker
            .url
            .parse()
            .map_err(|e| TransferError::Engine(format!("bad tracker url: {e}")))?;

        let listen = SocketAddr::new(cfg.listen_addr, cfg.listen_port);
        let opts = SessionOptions {
            dht: None,
            // Only our private loopback tracker; announce URLs inside torrents are stripped.
            disable_trackers: false,
            trackers: [tracker_url].into_iter().collect(),
            fastresume: true,
            persistence: Some(SessionPersistenceConfig::Json {
                folder: Some(session_dir.clone()),
            }),
            listen: Some(ListenerOptions {
                mode: if cfg.utp {
                    ListenerMode::TcpAndUtp
                } else {
                    ListenerMode::TcpOnly
                },
                listen_addr: listen,
                enable_upnp_port_forwarding: false,
                ipv4_only: listen.is_ipv4(),
                ..Default::default()
            }),
            connect: Some(ConnectionOptions {
                enable_tcp: true,
                proxy_url: None,
                peer_opts: Some(PeerConnectionOptions {
                    connect_timeout: Some(PEER_CONNECT_TIMEOUT),
                    read_write_timeout: Some(PEER_READ_WRITE_TIMEOUT),
                    keep_alive_interval: Some(PEER_KEEP_ALIVE),
                    fixed_request_window: Some(cfg.stock_request_window),
                    ..Default::default()
                }),
                external: cfg.connector.clone(),
                stream_hook: (cfg.encryption != mse::Encryption::Off).then(|| {
                    Arc::new(mse::MseHook {
                        policy: cfg.encryption,
                    }) as Arc<dyn librqbit::StreamHook>
                }),
            }),
            cancellation_token: Some(token.child_token()),
            disable_local_service_discovery: true,
            // Each open file stream holds one of these permits for its whole life, and chunk
            // writes need one too: leave the writers their default 8.
            runtime_worker_threads: Some(8 + MAX_STREAMS),
            client_name_and_version: Some(format!("Hearth {}", env!("CARGO_PKG_VERSION"))),
            ratelimits: librqbit::limits::LimitsConfig {
                download_bps: cfg.download_limit_bps.and_then(std::num::NonZeroU32::new),
                upload_bps: cfg.upload_limit_bps.and_then(std::num::NonZeroU32::new),
            },
            ..Default::default()
        };
        let created = tokio::time::timeout(
            SESSION_START_TIMEOUT,
            Session::new_with_opts(PathBuf::from(download_dir_str), opts),
        )
        .await
        .map_err(|_| "timed out restoring the saved torrents".to_string())
        .and_then(|r| r.map_err(|e| format!("{e:#}")));
        let session = match created {
            Ok(s) => s,
            Err(reason) => {
                token.cancel();
                return Err(if reason.contains("listen") {
                    TransferError::Listen {
                        addr: listen,
                        reason,
                    }
                } else {
                    TransferError::Engine(reason)
                });
            }
        };
        let bt_port = session.listen_addr().map(|a| a.port()).unwrap_or(0);

        let inner = Arc::new(Inner {
            session: RwLock::new(Some(session.clone())),
            download_dir,
            state_dir,
            session_dir,
            bt_port,
            book,
            sidecar: Mutex::new(sidecar),
            metas: RwLock::new(HashMap::new()),
            adds: tokio::sync::Mutex::new(()),
            kicks: Mutex::new(HashMap::new()),
            token: token.clone(),
            tasks: tasks.clone(),
            shutdown: tokio::sync::OnceCell::new(),
            lock_file: Mutex::new(Some(lock_file)),
        });

        // Re-validate what librqbit restored; forget anything that no longer passes.
        for h in handles(&session) {
            let hash = h.info_hash().as_string();
            let bytes = h.with_metadata(|m| m.torrent_bytes.clone()).ok();
            match bytes.as_deref().map(validate_metainfo) {
                Some(Ok(m)) => {
                    inner.metas_write().insert(hash, Arc::new(m));
                }
                other => {
                    tracing::warn!(%hash, "dropping a restored torrent that fails validation: {other:?}");
                    let _ = session
                        .delete(TorrentIdOrHash::Hash(h.info_hash()), false)
                        .await;
                }
            }
        }
        inner.readd_missing(&session).await;
        inner.save_sidecar();
        let published: Vec<String> = lock(&inner.sidecar)
            .torrents
            .iter()
            .filter(|(_, r)| r.published.is_some() && r.stale.is_none())
            .map(|(h, _)| h.clone())
            .collect();
        for hash in published {
            if let Ok(h) = inner.handle(&hash) {
                Inner::watch_original(&inner, hash, h);
            }
        }

        let t = Transfer { inner };
        t.spawn_tasks(cancel);
        tracing::info!(port = bt_port, "BitTorrent transfers ready");
        Ok(t)
    }

    fn spawn_tasks(&self, cancel: CancellationToken) {
        let token = self.inner.token.clone();
        let weak = Arc::downgrade(&self.inner);
        self.inner.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {
                    if let Some(inner) = weak.upgrade() {
                        inner.shutdown().await;
                    }
                }
                _ = token.cancelled() => {}
            }
        });
        let token = self.inner.token.clone();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        self.inner.tasks.spawn(async move {
            let mut written: HashMap<String, usize> = HashMap::new();
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(FASTRESUME_INTERVAL) => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                inner.write_fastresume(&mut written, false).await;
            }
        });
    }

    /// The TCP port librqbit listens on.
    pub fn bt_port(&self) -> u16 {
        self.inner.bt_port
    }

    /// Changes the speed limits at once (bytes per second; `None` or 0: unlimited).
    pub fn set_limits(
        &self,
        download_bps: Option<u32>,
        upload_bps: Option<u32>,
    ) -> Result<(), TransferError> {
        let session = self.inner.session()?;
        let limit = |bps: Option<u32>| bps.and_then(std::num::NonZeroU32::new);
        session.ratelimits.set_download_bps(limit(download_bps));
        session.ratelimits.set_upload_bps(limit(upload_bps));
        Ok(())
    }

    /// Stops the session after writing fastresume data. Idempotent; also run when the
    /// cancellation token given to [`Transfer::start`] fires.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await
    }

    /// Creates a torrent for a local file or folder and seeds it in place (nothing is copied).
    /// Symbolic links inside a folder are skipped.
    pub async fn publish(&self, path: &Path) -> Result<Published, TransferError> {
        self.publish_with(path, false).await
    }

    /// [`Transfer::publish`] for a file found in a shared folder: `path` must be its real
    /// path (absolute, no symbolic link anywhere on it, also while it is read), so a link
    /// swapped in after the folder was looked at is refused.
    pub async fn publish_no_follow(&self, path: &Path) -> Result<Published, TransferError> {
        self.publish_with(path, true).await
    }

    async fn publish_with(&self, path: &Path, no_follow: bool) -> Result<Published, TransferError> {
        let session = self.inner.session()?;
        let cancel = self.inner.token.clone();
        let p = path.to_path_buf();
        let built =
            tokio::task::spawn_blocking(move || meta::build_torrent_with(&p, no_follow, &cancel))
                .await
                .map_err(engine)?
                .map_err(|reason| TransferError::Publish {
                    path: path.to_path_buf(),
                    reason,
                })?;
        let m = built.meta.clone();
        let hash = m.info_hash.clone();
        let id = id20(&hash).ok_or_else(|| TransferError::BadInfoHash(hash.clone()))?;
        let published = Published {
            magnet: meta::magnet_uri(&hash, &m.name, m.total_size),
            info_hash: hash.clone(),
            torrent: Bytes::from(built.torrent.clone()),
            name: m.name.clone(),
            files: m.files.clone(),
            total_size: m.total_size,
            piece_length: m.piece_length,
        };
        let _guard = self.inner.adds.lock().await;
        if session.get(TorrentIdOrHash::Hash(id)).is_some() {
            return Ok(published);
        }
        // We just hashed every piece: record that for librqbit's fastresume so it only samples
        // a few pieces instead of reading everything a second time.
        let bitv = self.inner.session_dir.join(format!("{hash}.bitv"));
        let mut bits = vec![0u8; (m.piece_count as usize).div_ceil(8)];
        for i in 0..m.piece_count as usize {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        if let Err(e) = write_atomic(&bitv, &bits) {
            tracing::debug!("could not pre-write fastresume for {hash}: {e}");
        }
        let data_path = if m.multi_file {
            built.output_folder.clone()
        } else {
            built.output_folder.join(&m.name)
        };
        let record = Record {
            name: m.name.clone(),
            total_size: m.total_size,
            published: Some(built.stamps.clone()),
            path: data_path.clone(),
            peers: Vec::new(),
            stale: None,
        };
        let handle = self
            .inner
            .add_to_session(
                &session,
                built.torrent.clone(),
                &m,
                record,
                &built.output_folder,
                true,
                Vec::new(),
            )
            .await?;
        drop(_guard);

        // Seeding starts once librqbit has checked the data (a sample, thanks to fastresume).
        let ready = tokio::select! {
            r = handle.wait_until_initialized() => r.map_err(engine),
            _ = self.inner.token.cancelled() => Err(TransferError::Stopped),
        };
        let finished = ready.is_ok() && handle.stats().finished;
        if !finished {
            let _ = self.remove(&hash, false).await;
            return Err(match ready {
                Err(e) => e,
                Ok(()) => TransferError::OriginalChanged(data_path),
            });
        }
        // librqbit's check sets every file's length again, which bumps its mtime.
        self.inner.restamp(&hash);
        Ok(published)
    }

    /// The .torrent bytes (info dictionary only) of a torrent this session has.
    pub fn torrent_bytes(&self, info_hash: &str) -> Option<Bytes> {
        let h = self.inner.handle(info_hash).ok()?;
        h.with_metadata(|m| m.torrent_bytes.clone()).ok()
    }

    /// Starts downloading from .torrent bytes (checked by [`validate_metainfo`] first) with the
    /// given initial peers. Adding a torrent this session already has only adds the peers.
    pub async fn download(
        &self,
        torrent: &[u8],
        peers: Vec<SocketAddr>,
    ) -> Result<String, TransferError> {
        let (m, minimal) = validate_off_runtime(torrent.to_vec()).await?;
        self.add_validated(m, minimal, clean_peers(peers), false)
            .await
    }

    /// Starts from a magnet link: fetches the metadata from `peers` (and any `x.pe` peers in the
    /// link), validates it with [`validate_metainfo`], then downloads.
    pub async fn download_magnet(
        &self,
        magnet: &str,
        peers: Vec<SocketAddr>,
    ) -> Result<String, TransferError> {
        self.download_magnet_with(magnet, peers, |_| true).await
    }

    /// [`Transfer::download_magnet`] using only the link's `x.pe` peers `link_peer` accepts
    /// (`peers` are used as given).
    pub async fn download_magnet_with(
        &self,
        magnet: &str,
        peers: Vec<SocketAddr>,
        link_peer: impl Fn(&SocketAddr) -> bool,
    ) -> Result<String, TransferError> {
        let session = self.inner.session()?;
        let Magnet {
            info_hash,
            peers: magnet_peers,
            ..
        } = meta::parse_magnet(magnet).map_err(TransferError::Magnet)?;
        let hash = hex::encode(info_hash);
        let magnet_peers = magnet_peers.into_iter().filter(|a| link_peer(a));
        let peers = clean_peers(peers.into_iter().chain(magnet_peers));
        if session
            .get(TorrentIdOrHash::Hash(Id20::new(info_hash)))
            .is_some()
        {
            self.add_peers(&hash, peers).await?;
            return Ok(hash);
        }
        self.inner.book.add(info_hash, &peers);

        let (bytes, seen) = lookup::metadata(
            session,
            &self.inner.tasks,
            &self.inner.token,
            &hash,
            peers.clone(),
            MAGNET_TIMEOUT,
        )
        .await?;
        let (m, minimal) = validate_off_runtime(bytes.to_vec()).await?;
        if m.info_hash != hash {
            return Err(TransferError::HashMismatch {
                expected: hash,
                actual: m.info_hash,
            });
        }
        self.add_validated(
            m,
            minimal,
            clean_peers(peers.into_iter().chain(seen)),
            false,
        )
        .await
    }

    async fn add_validated(
        &self,
        m: ValidatedMeta,
        torrent: Vec<u8>,
        peers: Vec<SocketAddr>,
        // Reuse data already at the target (tests build partial seeders this way). Downloads
        // never do: a same-named file of the user's would be overwritten.
        overwrite: bool,
    ) -> Result<String, TransferError> {
        let session = self.inner.session()?;
        let hash = m.info_hash.clone();
        let id = id20(&hash).ok_or_else(|| TransferError::BadInfoHash(hash.clone()))?;
        self.inner.book.add(id.0, &peers);
        let guard = self.inner.adds.lock().await;
        if session.get(TorrentIdOrHash::Hash(id)).is_some() {
            drop(guard);
            self.add_peers(&hash, peers).await?;
            return Ok(hash);
        }
        let base = &self.inner.download_dir;
        let target = base.join(&m.name);
        check_inside(base, &target)?;
        let output_folder = if m.multi_file {
            target.clone()
        } else {
            base.clone()
        };
        if m.multi_file {
            for f in &m.files {
                let p = f
                    .path
                    .split('/')
                    .fold(output_folder.clone(), |p, c| p.join(c));
                check_inside(base, &p)?;
            }
        }
        if !overwrite && std::fs::symlink_metadata(&target).is_ok() {
            return Err(TransferError::TargetExists(target));
        }
        let record = Record {
            name: m.name.clone(),
            total_size: m.total_size,
            published: None,
            path: target,
            peers: peers.iter().take(MAX_SAVED_PEERS).copied().collect(),
            stale: None,
        };
        self.inner
            .add_to_session(
                &session,
                torrent,
                &m,
                record,
                &output_folder,
                overwrite,
                peers,
            )
            .await?;
        Ok(hash)
    }

    /// Gives a torrent more holders (learned later, e.g. over libp2p). New addresses reach
    /// librqbit within a few seconds; passing known addresses again redials them at once when
    /// the download has no usable peer left.
    pub async fn add_peers(
        &self,
        info_hash: &str,
        peers: Vec<SocketAddr>,
    ) -> Result<(), TransferError> {
        let hash = meta::normalize_hash(info_hash)
            .ok_or_else(|| TransferError::BadInfoHash(info_hash.to_string()))?;
        let session = self.inner.session()?;
        let handle = self.inner.handle(&hash)?;
        let peers = clean_peers(peers);
        if let Some(live) = handle.live() {
            live.add_peers(&peers);
        }
        let new = self.inner.book.add(handle.info_hash().0, &peers);
        if new > 0 {
            let mut sc = lock(&self.inner.sidecar);
            if let Some(rec) = sc.torrents.get_mut(&hash) {
                for p in &peers {
                    if !rec.peers.contains(p) {
                        if rec.peers.len() >= MAX_SAVED_PEERS {
                            rec.peers.remove(0);
                        }
                        rec.peers.push(*p);
                    }
                }
            }
            drop(sc);
            self.inner.save_sidecar();
        }
        // A running download whose peers all failed is only retried after librqbit's backoff
        // (10 s, 60 s, 6 min...). Restarting it redials every known holder now.
        let stalled = handle.live().is_some_and(|live| {
            let st = handle.stats();
            let p = live.stats_snapshot().peer_stats;
            !st.finished && p.live == 0 && p.connecting == 0 && p.queued == 0
        });
        if stalled && !peers.is_empty() {
            let due = {
                let mut kicks = lock(&self.inner.kicks);
                let due = kicks
                    .get(&hash)
                    .is_none_or(|t| t.elapsed() >= KICK_INTERVAL);
                if due {
                    kicks.insert(hash.clone(), Instant::now());
                }
                due
            };
            if due {
                tracing::debug!(%hash, "restarting a stalled download to redial its peers");
                session.pause(&handle).await.map_err(engine)?;
                session.unpause(&handle).await.map_err(engine)?;
            }
        }
        Ok(())
    }

    /// Hands a peer connection accepted outside the engine (a libp2p stream) to the torrent
    /// its handshake names; `addr` names the peer (the connector must claim it). Dropped
    /// when no torrent of ours matches. The caller bounds how many it hands over.
    pub fn accept_stream<S>(&self, addr: SocketAddr, stream: S) -> Result<(), TransferError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let session = self.inner.session()?;
        let (read, write) = tokio::io::split(stream);
        session.accept_external(addr, Box::new(read), Box::new(write));
        Ok(())
    }

    pub async fn pause(&self, info_hash: &str) -> Result<(), TransferError> {
        let session = self.inner.session()?;
        let handle = self.inner.handle(info_hash)?;
        if handle.is_paused() {
            return Ok(());
        }
        session.pause(&handle).await.map_err(engine)
    }

    pub async fn resume(&self, info_hash: &str) -> Result<(), TransferError> {
        let session = self.inner.session()?;
        let handle = self.inner.handle(info_hash)?;
        let hash = handle.info_hash().as_string();
        if !handle.is_paused() && handle.live().is_some() {
            return Ok(());
        }
        // A changed original must not be "repaired" (overwritten or truncated) by librqbit.
        let (published, changed) = {
            let sc = lock(&self.inner.sidecar);
            let rec = sc.torrents.get(&hash);
            let published = rec.is_some_and(|r| r.published.is_some());
            let changed = rec.and_then(|r| match (&r.stale, &r.published) {
                (Some(_), _) => Some(r.path.clone()),
                (None, Some(stamps)) => changed_file(stamps),
                (None, None) => None,
            });
            (published, changed)
        };
        if let Some(p) = changed {
            return Err(TransferError::OriginalChanged(p));
        }
        let rechecks =
            handle.live().is_none() && matches!(handle.stats().state, TorrentStatsState::Error);
        session.unpause(&handle).await.map_err(engine)?;
        if published && rechecks {
            Inner::watch_original(&self.inner, hash, handle);
        }
        Ok(())
    }

    /// Stops and forgets a torrent. `delete_files` removes the downloaded data; it is ignored
    /// for published originals (and for anything this node did not download itself).
    pub async fn remove(&self, info_hash: &str, delete_files: bool) -> Result<(), TransferError> {
        let hash = meta::normalize_hash(info_hash)
            .ok_or_else(|| TransferError::BadInfoHash(info_hash.to_string()))?;
        let session = self.inner.session()?;
        let id = id20(&hash).ok_or_else(|| TransferError::BadInfoHash(hash.clone()))?;
        let _guard = self.inner.adds.lock().await;
        let record = lock(&self.inner.sidecar).torrents.get(&hash).cloned();
        let is_download = record.as_ref().is_some_and(|r| r.published.is_none());
        if session.get(TorrentIdOrHash::Hash(id)).is_some() {
            session
                .delete(TorrentIdOrHash::Hash(id), delete_files && is_download)
                .await
                .map_err(engine)?;
        } else if record.is_none() {
            return Err(TransferError::NotFound(hash));
        }
        lock(&self.inner.sidecar).torrents.remove(&hash);
        self.inner.save_sidecar();
        self.inner.book.forget(&id.0);
        self.inner.metas_write().remove(&hash);
        lock(&self.inner.kicks).remove(&hash);
        Ok(())
    }

    pub fn stats(&self, info_hash: &str) -> Option<TransferStats> {
        let hash = meta::normalize_hash(info_hash)?;
        match self.inner.handle(&hash) {
            Ok(h) => Some(self.inner.to_stats(&h)),
            Err(_) => self.inner.stale_stats(&hash),
        }
    }

    pub fn list(&self) -> Vec<TransferStats> {
        let Ok(session) = self.inner.session() else {
            return Vec::new();
        };
        let mut out: Vec<TransferStats> = handles(&session)
            .iter()
            .map(|h| self.inner.to_stats(h))
            .collect();
        let stale: Vec<String> = lock(&self.inner.sidecar)
            .torrents
            .iter()
            .filter(|(h, r)| r.stale.is_some() && !out.iter().any(|s| &s.info_hash == *h))
            .map(|(h, _)| h.clone())
            .collect();
        out.extend(stale.iter().filter_map(|h| self.inner.stale_stats(h)));
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.info_hash.cmp(&b.info_hash)));
        out
    }

    /// A reader of file `index` (in [`ValidatedMeta::files`] order) of a torrent, positioned
    /// at its start, with the file's length and path inside the torrent. Reading a piece that
    /// is not here yet waits for it; the pieces just ahead of every open reader are fetched
    /// before all others. Seek it to read from elsewhere.
    pub async fn stream(
        &self,
        info_hash: &str,
        index: usize,
    ) -> Result<(librqbit::FileStream, u64, String), TransferError> {
        let handle = self.inner.handle(info_hash)?;
        let hash = handle.info_hash().as_string();
        let meta = self
            .inner
            .metas_read()
            .get(&hash)
            .cloned()
            .ok_or_else(|| TransferError::NotFound(hash.clone()))?;
        let file = meta
            .files
            .get(index)
            .ok_or(TransferError::NoSuchFile(index))?;
        // librqbit counts padding files; ours are left out.
        let engine_id = handle
            .with_metadata(|m| {
                m.file_infos
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.attrs.padding)
                    .nth(index)
                    .map(|(i, _)| i)
            })
            .map_err(|e| TransferError::Engine(format!("{e:#}")))?
            .ok_or(TransferError::NoSuchFile(index))?;
        let stream = handle
            .stream(engine_id)
            .await
            .map_err(|e| TransferError::Engine(format!("cannot stream the file: {e:#}")))?;
        Ok((stream, file.size, file.path.clone()))
    }

    /// Where the data lives: the file of a one-file torrent, the folder of a multi-file one.
    pub fn file_path(&self, info_hash: &str) -> Option<PathBuf> {
        let hash = meta::normalize_hash(info_hash)?;
        if let Ok(h) = self.inner.handle(&hash) {
            let m = self.inner.metas_read().get(&hash).cloned()?;
            let folder = h.output_folder().to_path_buf();
            return Some(if m.multi_file {
                folder
            } else {
                folder.join(&m.name)
            });
        }
        lock(&self.inner.sidecar)
            .torrents
            .get(&hash)
            .map(|r| r.path.clone())
    }
}

fn handles(session: &Arc<Session>) -> Vec<Arc<ManagedTorrent>> {
    session.with_torrents(|it| it.map(|(_, h)| h.clone()).collect())
}

impl Inner {
    fn session(&self) -> Result<Arc<Session>, TransferError> {
        self.session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(TransferError::Stopped)
    }

    fn metas_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<ValidatedMeta>>> {
        self.metas.read().unwrap_or_else(|e| e.into_inner())
    }

    fn metas_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<ValidatedMeta>>> {
        self.metas.write().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, info_hash: &str) -> Result<Arc<ManagedTorrent>, TransferError> {
        let hash = meta::normalize_hash(info_hash)
            .ok_or_else(|| TransferError::BadInfoHash(info_hash.to_string()))?;
        let id = id20(&hash).ok_or_else(|| TransferError::BadInfoHash(hash.clone()))?;
        self.session()?
            .get(TorrentIdOrHash::Hash(id))
            .ok_or(TransferError::NotFound(hash))
    }

    fn save_sidecar(&self) {
        let sc = lock(&self.sidecar);
        let data = match serde_json::to_vec_pretty(&*sc) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("cannot serialize transfer state: {e}");
                return;
            }
        };
        if let Err(e) = write_atomic(&self.state_dir.join(SIDECAR), &data) {
            tracing::error!("cannot save transfer state: {e}");
        }
    }

    fn to_stats(&self, h: &Arc<ManagedTorrent>) -> TransferStats {
        let hash = h.info_hash().as_string();
        let meta = self.metas_read().get(&hash).cloned();
        let st = h.stats();
        let (state, have) = match st.state {
            TorrentStatsState::Initializing { .. } => (
                TransferState::Initializing,
                meta.as_deref()
                    .and_then(|m| {
                        let bits =
                            std::fs::read(self.session_dir.join(format!("{hash}.bitv"))).ok()?;
                        Some(have_from_bitfield(&bits, m))
                    })
                    .unwrap_or(0),
            ),
            TorrentStatsState::Paused => (TransferState::Paused, st.progress_bytes),
            TorrentStatsState::Live if st.finished => (TransferState::Seeding, st.progress_bytes),
            TorrentStatsState::Live => (TransferState::Downloading, st.progress_bytes),
            TorrentStatsState::Error => {
                let msg = st.error.clone().unwrap_or_else(|| "unknown error".into());
                let first = msg.lines().next().unwrap_or("").chars().take(500).collect();
                (TransferState::Error(first), st.progress_bytes)
            }
        };
        // A published original found changed is stopped and stays an error until removed.
        let stale = lock(&self.sidecar)
            .torrents
            .get(&hash)
            .and_then(|r| r.stale.clone());
        let state = match stale {
            Some(why) => TransferState::Error(why),
            None => state,
        };
        let total = if st.total_bytes > 0 {
            st.total_bytes
        } else {
            meta.as_ref().map(|m| m.total_size).unwrap_or(0)
        };
        let (down, up, peers) = st
            .live
            .as_ref()
            .map(|l| {
                (
                    l.download_speed.as_bytes(),
                    l.upload_speed.as_bytes(),
                    l.snapshot.peer_stats.live,
                )
            })
            .unwrap_or((0, 0, 0));
        let eta_secs = (!st.finished && down > 0).then(|| total.saturating_sub(have) / down);
        TransferStats {
            info_hash: hash,
            name: meta
                .map(|m| m.name.clone())
                .or_else(|| h.name())
                .unwrap_or_default(),
            state,
            have_bytes: have,
            total_bytes: total,
            down_bps: down,
            up_bps: up,
            uploaded_bytes: st.uploaded_bytes,
            peers,
            eta_secs,
            finished: st.finished,
        }
    }

    fn stale_stats(&self, hash: &str) -> Option<TransferStats> {
        let sc = lock(&self.sidecar);
        let r = sc.torrents.get(hash)?;
        let why = r.stale.clone()?;
        Some(TransferStats {
            info_hash: hash.to_string(),
            name: r.name.clone(),
            state: TransferState::Error(why),
            have_bytes: 0,
            total_bytes: r.total_size,
            down_bps: 0,
            up_bps: 0,
            uploaded_bytes: 0,
            peers: 0,
            eta_secs: None,
            finished: false,
        })
    }

    /// Writes the have-bitfield of every running (or, with `all`, paused) torrent whose count
    /// changed into librqbit's fastresume file, in place. librqbit itself only flushes it every
    /// 16 MiB of completed pieces, so after a kill -9 up to 16 MiB would be fetched again and a
    /// small torrent would restart from zero. Bits only ever get set, and librqbit writes whole
    /// snapshots too, so interleaved writes still record a subset of what is on disk.
    async fn write_fastresume(&self, written: &mut HashMap<String, usize>, all: bool) {
        let Ok(session) = self.session() else { return };
        let api = Api::new(session.clone(), None);
        let mut jobs = Vec::new();
        for h in handles(&session) {
            let running = h.live().is_some();
            if !running && !all {
                continue;
            }
            let hash = h.info_hash().as_string();
            let Ok((bf, _)) = api.api_dump_haves(TorrentIdOrHash::Hash(h.info_hash())) else {
                continue;
            };
            let ones = bf.count_ones();
            if !all && written.get(&hash) == Some(&ones) {
                continue;
            }
            written.insert(hash.clone(), ones);
            jobs.push((
                self.session_dir.join(format!("{hash}.bitv")),
                bf.as_raw_slice().to_vec(),
            ));
        }
        if jobs.is_empty() {
            return;
        }
        let sync = all;
        let _ = tokio::task::spawn_blocking(move || {
            for (path, bits) in jobs {
                let res = (|| -> std::io::Result<()> {
                    let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
                    if f.metadata()?.len() != bits.len() as u64 {
                        return Err(std::io::Error::other("unexpected bitfield length"));
                    }
                    f.seek(SeekFrom::Start(0))?;
                    f.write_all(&bits)?;
                    if sync {
                        f.sync_data()?;
                    }
                    Ok(())
                })();
                if let Err(e) = res {
                    tracing::debug!("fastresume write {}: {e}", path.display());
                }
            }
        })
        .await;
    }

    /// Adds a validated torrent to librqbit. Our record is saved first, so that a crash right
    /// after librqbit persisted the torrent never leaves a published original unmarked.
    #[allow(clippy::too_many_arguments)]
    async fn add_to_session(
        &self,
        session: &Arc<Session>,
        torrent: Vec<u8>,
        m: &ValidatedMeta,
        record: Record,
        output_folder: &Path,
        overwrite: bool,
        peers: Vec<SocketAddr>,
    ) -> Result<Arc<ManagedTorrent>, TransferError> {
        let hash = m.info_hash.clone();
        let opts = AddTorrentOptions {
            overwrite,
            output_folder: Some(utf8(output_folder)?),
            initial_peers: Some(peers),
            ..Default::default()
        };
        lock(&self.sidecar).torrents.insert(hash.clone(), record);
        self.save_sidecar();
        self.metas_write().insert(hash.clone(), Arc::new(m.clone()));
        let added = session
            .add_torrent(AddTorrent::from_bytes(torrent), Some(opts))
            .await
            .map_err(engine)
            .and_then(|r| {
                r.into_handle()
                    .ok_or_else(|| TransferError::Engine("the torrent was not added".into()))
            });
        if added.is_err() {
            lock(&self.sidecar).torrents.remove(&hash);
            self.save_sidecar();
            self.metas_write().remove(&hash);
        }
        added
    }

    /// Re-adds torrents we have a record and a saved .torrent for but librqbit did not
    /// restore (its session file was unreadable, or a crash came between the two saves).
    async fn readd_missing(&self, session: &Arc<Session>) {
        let missing: Vec<(String, Record)> = lock(&self.sidecar)
            .torrents
            .iter()
            .filter(|(h, r)| {
                r.stale.is_none()
                    && id20(h).is_some_and(|id| session.get(TorrentIdOrHash::Hash(id)).is_none())
            })
            .map(|(h, r)| (h.clone(), r.clone()))
            .collect();
        for (hash, rec) in missing {
            let file = self.session_dir.join(format!("{hash}.torrent"));
            let res = match std::fs::read(&file) {
                Ok(bytes) => match meta::validate_with_span(&bytes) {
                    Ok((m, span)) if m.info_hash == hash => {
                        let folder = if m.multi_file {
                            Some(rec.path.clone())
                        } else {
                            rec.path.parent().map(Path::to_path_buf)
                        };
                        match folder {
                            Some(folder) => {
                                let minimal = meta::minimal_torrent(&bytes, span);
                                let peers = rec.peers.clone();
                                self.add_to_session(session, minimal, &m, rec, &folder, true, peers)
                                    .await
                                    .map(|_| ())
                            }
                            None => Err(TransferError::Config("no data folder".into())),
                        }
                    }
                    Ok(_) => Err(TransferError::Config("saved torrent does not match".into())),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(io_err(format!("cannot read {}", file.display()))(e)),
            };
            if let Err(e) = res {
                tracing::warn!(%hash, "cannot restore a transfer, forgetting it: {e}");
                lock(&self.sidecar).torrents.remove(&hash);
                self.save_sidecar();
            }
        }
    }

    /// Records the current size and mtime of a published original's files.
    fn restamp(&self, hash: &str) {
        let mut sc = lock(&self.sidecar);
        let Some(stamps) = sc.torrents.get_mut(hash).and_then(|r| r.published.as_mut()) else {
            return;
        };
        for (p, st) in stamps.iter_mut() {
            if let Ok(now) = FileStamp::of(p) {
                *st = now;
            }
        }
        drop(sc);
        self.save_sidecar();
    }

    /// After librqbit (re)checks a published original: restamp it if it is intact, otherwise
    /// stop it before librqbit fetches pieces from peers and writes them into the user's file.
    fn watch_original(inner: &Arc<Self>, hash: String, handle: Arc<ManagedTorrent>) {
        let weak = Arc::downgrade(inner);
        let token = inner.token.clone();
        inner.tasks.spawn(async move {
            let ready = tokio::select! {
                r = handle.wait_until_initialized() => r.is_ok(),
                _ = token.cancelled() => return,
            };
            let Some(inner) = weak.upgrade() else { return };
            if ready && handle.stats().finished {
                inner.restamp(&hash);
                return;
            }
            tracing::warn!(%hash, "a published original no longer matches its torrent; stopping it");
            if let Ok(session) = inner.session() {
                let _ = session.pause(&handle).await;
            }
            if let Some(r) = lock(&inner.sidecar).torrents.get_mut(&hash) {
                r.stale = Some(format!(
                    "{} changed on disk after it was published; publish it again",
                    r.path.display()
                ));
            }
            inner.save_sidecar();
        });
    }

    async fn shutdown(&self) {
        self.shutdown
            .get_or_init(|| async {
                let mut written = HashMap::new();
                self.write_fastresume(&mut written, true).await;
                let session = self
                    .session
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                self.token.cancel();
                drop(session);
                self.save_sidecar();
                // Let librqbit's tasks see the cancellation and close their sockets and files.
                tokio::time::sleep(Duration::from_millis(100)).await;
                lock(&self.lock_file).take();
                tracing::info!("BitTorrent transfers stopped");
            })
            .await;
    }
}
