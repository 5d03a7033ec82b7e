//! Shared folders: watch them (inotify through `notify`) and report which files are there,
//! which appeared or changed (once they stopped growing) and which went away. The consumer
//! turns these events into publish / unpublish.
//!
//! How it works:
//! - One `notify` watcher (recursive, symlinks not followed) per [`FolderWatcher`]. Its
//!   callback runs on notify's thread and never blocks: it drops events that cannot matter
//!   (opens, reads) and `try_send`s the rest into a bounded channel. When that channel is
//!   full, or inotify reports an overflow (`Flag::Rescan`), it only raises a flag: every
//!   folder is rescanned and a fresh [`WatchEvent::Snapshot`] replaces what was lost.
//! - One actor task (a Tokio task on an internal `TaskTracker`) keeps the files *pending*:
//!   every event (create, write, close, attribute change, rename, delete) only marks its
//!   path. A path is examined once no event touched it for `debounce`; a file is
//!   [`WatchEvent::Ready`] once two looks `stable_for` apart saw the same size and mtime
//!   (and they differ from what was last reported); a path that is no longer there (deleted,
//!   renamed, moved out; a directory with all the files under it) is
//!   [`WatchEvent::Removed`], if it had been reported. A rename within a folder is thus
//!   `Removed(old)` followed by `Ready(new)`; an editor's "write a temporary file, rename it
//!   over the original" is just one `Ready` (or nothing, if the content is unchanged).
//! - A new directory (created or moved in) is walked after `debounce`, which also catches the
//!   files written into it before notify's watch on it was in place; its files then follow
//!   the stability rule.
//! - A `Snapshot` lists the files of a folder that are complete: a file whose mtime is less
//!   than `stable_for` old, or that is pending, is left out of it and arrives as `Ready` once
//!   stable (never publish half a copy). Snapshots are sent when a folder is added, after an
//!   overflow, an error from notify, or a full internal channel, and when the folder itself is
//!   moved or deleted (then it is empty).
//! - If the kernel's inotify watch limit (`fs.inotify.max_user_watches`) is reached, some
//!   directories go unwatched: the folder is rescanned at once and then every
//!   [`DEGRADED_RESCAN_INTERVAL`] for as long as it stays shared.
//!
//! What is never reported:
//! - hidden entries (a name starting with `.`), and everything under a hidden directory;
//! - temporary files: `*.part`, `*.crdownload`, `*.tmp`, `*.swp`, `~$*` (case-insensitive);
//! - **symlinks, all of them** (policy): a symlinked file is never reported, a symlinked
//!   directory is never entered (notify is told not to follow links, and our own walks read
//!   entry types without following them), and before a file is reported its parent directory
//!   must canonicalise to itself, so no symlink anywhere between the shared folder and the
//!   file can lead outside. Skipping even links that point inside keeps the rule simple and
//!   avoids publishing one file twice; sockets, FIFOs and devices are skipped too. (A hard
//!   link is an ordinary file and is reported.)
//!
//! Folders are stored canonicalised (symlinks and `..` resolved): `Snapshot::folder`,
//! [`FileInfo::path`] and [`FolderWatcher::folders`] use that form. Two shared folders may
//! not contain one another.
//!
//! **Uses:** notify and tokio only; no other Hearth module, so it is tested on its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod scan;
#[cfg(test)]
mod tests;

use scan::*;

/// Capacity of the channel from notify's callback to the actor. Beyond it: a rescan.
const RAW_CAPACITY: usize = 4096;
/// Most raw events handled before the actor looks at its timers again.
const RAW_BATCH: usize = 512;
/// Most paths examined in one blocking batch.
const PROBE_BATCH: usize = 1024;
/// Directory depth beyond which walks stop (a guard against bind-mount loops).
const MAX_DEPTH: usize = 64;
/// Wakeups are delayed this much past the earliest deadline, so nearby ones are handled
/// in one batch.
const COALESCE: Duration = Duration::from_millis(10);
/// How often a folder that hit the inotify watch limit is rescanned.
pub const DEGRADED_RESCAN_INTERVAL: Duration = Duration::from_secs(60);

#[derive(thiserror::Error, Debug)]
pub enum WatchError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} is already shared", .0.display())]
    AlreadyWatched(PathBuf),
    #[error("{} overlaps the shared folder {}", folder.display(), existing.display())]
    Overlaps { folder: PathBuf, existing: PathBuf },
    #[error("{} is not a shared folder", .0.display())]
    NotWatched(PathBuf),
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("cannot start the file watcher: {0}")]
    Start(#[source] notify::Error),
    #[error("the folder watcher needs a Tokio runtime")]
    NoRuntime,
    #[error("the folder watcher has stopped")]
    Stopped,
}

/// A regular file inside a shared folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    /// Absolute, inside the (canonical) folder.
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, milliseconds since the Unix epoch (0 if before it).
    pub mtime_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Full listing of a folder (at start, after add_folder, and after an inotify overflow or
    /// error): the consumer reconciles (publishes new/changed files, unpublishes files no
    /// longer present). Files still being written are left out and follow as `Ready`.
    Snapshot {
        folder: PathBuf,
        files: Vec<FileInfo>,
    },
    /// A file appeared or changed and has stopped growing (same size+mtime for `stable_for`).
    Ready(FileInfo),
    /// A file was deleted or moved out of the folder.
    Removed { path: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after the last event on a path before it is examined.
    pub debounce: Duration,
    /// How long a file's size and mtime must stay the same before it is `Ready`.
    pub stable_for: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(300),
            stable_for: Duration::from_secs(1),
        }
    }
}

/// Watches shared folders; see the module documentation. Dropping it stops it, like
/// cancelling the token given to [`FolderWatcher::start`].
pub struct FolderWatcher {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    watcher: Arc<Mutex<Option<RecommendedWatcher>>>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl FolderWatcher {
    /// Starts the watcher (no folder yet). Must be called within a Tokio runtime; events go to
    /// `events` (bounded: a slow consumer slows the watcher down, and what inotify reports
    /// meanwhile is recovered by a rescan). Everything stops when `cancel` fires.
    pub fn start(
        opts: WatchOptions,
        events: mpsc::Sender<WatchEvent>,
        cancel: CancellationToken,
    ) -> Result<Self, WatchError> {
        Self::start_with_capacity(opts, events, cancel, RAW_CAPACITY)
    }

    fn start_with_capacity(
        opts: WatchOptions,
        events: mpsc::Sender<WatchEvent>,
        cancel: CancellationToken,
        raw_capacity: usize,
    ) -> Result<Self, WatchError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WatchError::NoRuntime)?;
        let shared = Arc::new(Shared::default());
        let (raw_tx, raw_rx) = mpsc::channel(raw_capacity);
        let inbox = Arc::new(Inbox {
            tx: raw_tx,
            shared: shared.clone(),
        });
        let callback_inbox = inbox.clone();
        let watcher = RecommendedWatcher::new(
            move |res| callback_inbox.on_notify(res),
            notify::Config::default().with_follow_symlinks(false),
        )
        .map_err(WatchError::Start)?;
        let watcher = Arc::new(Mutex::new(Some(watcher)));
        let cancel = cancel.child_token();
        let actor = Actor {
            opts,
            shared: shared.clone(),
            watcher: watcher.clone(),
            raw_rx,
            events,
            cancel: cancel.clone(),
            pending: BTreeMap::new(),
            known: BTreeMap::new(),
            outbox: Vec::new(),
            next_degraded_rescan: Instant::now() + DEGRADED_RESCAN_INTERVAL,
        };
        let tracker = TaskTracker::new();
        tracker.spawn_on(actor.run(), &runtime);
        tracker.close();
        Ok(FolderWatcher {
            shared,
            inbox,
            watcher,
            tracker,
            cancel,
        })
    }

    /// Shares `folder` (recursively) and emits a `Snapshot` of it. Blocks while inotify
    /// watches are added, one per directory: for a large tree, call it from
    /// `spawn_blocking`.
    pub fn add_folder(&self, folder: &Path) -> Result<(), WatchError> {
        if self.cancel.is_cancelled() {
            return Err(WatchError::Stopped);
        }
        let folder = std::fs::canonicalize(folder).map_err(|source| WatchError::Io {
            path: folder.to_path_buf(),
            source,
        })?;
        let meta = std::fs::metadata(&folder).map_err(|source| WatchError::Io {
            path: folder.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(WatchError::NotADirectory(folder));
        }
        {
            let mut state = self.shared.lock();
            if state.stopped {
                return Err(WatchError::Stopped);
            }
            for existing in &state.folders {
                if *existing == folder {
                    return Err(WatchError::AlreadyWatched(folder));
                }
                if folder.starts_with(existing) || existing.starts_with(&folder) {
                    return Err(WatchError::Overlaps {
                        folder,
                        existing: existing.clone(),
                    });
                }
            }
            state.folders.push(folder.clone());
        }
        let result = match lock(&self.watcher).as_mut() {
            Some(watcher) => watcher.watch(&folder, RecursiveMode::Recursive),
            None => {
                self.shared.lock().folders.retain(|f| *f != folder);
                return Err(WatchError::Stopped);
            }
        };
        let mut state = self.shared.lock();
        match result {
            Ok(()) => {}
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                tracing::warn!(
                    folder = %folder.display(),
                    "inotify watch limit reached (raise fs.inotify.max_user_watches): \
                     some directories are rescanned periodically instead of watched"
                );
                state.degraded.insert(folder.clone());
            }
            Err(source) => {
                state.folders.retain(|f| *f != folder);
                drop(state);
                if let Some(watcher) = lock(&self.watcher).as_mut() {
                    let _ = watcher.unwatch(&folder);
                }
                return Err(WatchError::Watch {
                    path: folder,
                    source,
                });
            }
        }
        state.rescans.insert(folder, Instant::now());
        drop(state);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Stops sharing `folder`: no event about it follows once this returns. (No `Removed` is
    /// sent for its files: the consumer unpublishes them if it wants to.)
    pub fn remove_folder(&self, folder: &Path) -> Result<(), WatchError> {
        let canonical = std::fs::canonicalize(folder).ok();
        let folder = {
            let mut state = self.shared.lock();
            let index = state
                .folders
                .iter()
                .position(|f| Some(f) == canonical.as_ref() || f == folder)
                .ok_or_else(|| WatchError::NotWatched(folder.to_path_buf()))?;
            let folder = state.folders.remove(index);
            state.rescans.remove(&folder);
            state.degraded.remove(&folder);
            state.removed.push(folder.clone());
            folder
        };
        if let Some(watcher) = lock(&self.watcher).as_mut() {
            // Fails harmlessly if inotify already dropped the watch (folder deleted).
            if let Err(e) = watcher.unwatch(&folder) {
                tracing::debug!(folder = %folder.display(), "unwatch: {e}");
            }
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The shared folders (canonical paths), in the order they were added.
    pub fn folders(&self) -> Vec<PathBuf> {
        self.shared.lock().folders.clone()
    }

    /// Waits until the watcher's task has ended (after cancellation).
    pub async fn stopped(&self) {
        self.tracker.wait().await;
    }

    /// Takes the path of an inotify queue overflow, as if the kernel had reported one: every
    /// folder is rescanned and gets a fresh `Snapshot`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn simulate_overflow(&self) {
        self.inbox.on_notify(Ok(
            Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan)
        ));
    }
}

impl Drop for FolderWatcher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// State shared by the handle, notify's callback and the actor. Locked only briefly, never
/// across an await.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Set by the callback: rescan every folder.
    rescan_all: AtomicBool,
    wake: Notify,
}

#[derive(Default)]
struct State {
    stopped: bool,
    folders: Vec<PathBuf>,
    /// Folder -> when to rescan it.
    rescans: HashMap<PathBuf, Instant>,
    /// Folders removed since the actor last looked: forget what it knows about them.
    removed: Vec<PathBuf>,
    /// Folders that hit the watch limit: rescanned periodically.
    degraded: HashSet<PathBuf>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn folder_of(&self, path: &Path) -> Option<PathBuf> {
        self.lock()
            .folders
            .iter()
            .find(|f| path.starts_with(f))
            .cloned()
    }

    fn is_shared(&self, folder: &Path) -> bool {
        self.lock().folders.iter().any(|f| f == folder)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the notify callback forwards.
#[derive(Debug)]
enum Raw {
    Event(Event),
    Error {
        paths: Vec<PathBuf>,
        watch_limit: bool,
    },
}

/// The receiving end of notify's callback: never blocks.
struct Inbox {
    tx: mpsc::Sender<Raw>,
    shared: Arc<Shared>,
}

impl Inbox {
    fn on_notify(&self, res: notify::Result<Event>) {
        let raw = match res {
            Ok(event) if event.need_rescan() => return self.rescan_all(),
            Ok(event) => {
                if matches!(action(&event.kind), Action::Ignore) {
                    return;
                }
                Raw::Event(event)
            }
            Err(e) => Raw::Error {
                watch_limit: matches!(e.kind, notify::ErrorKind::MaxFilesWatch),
                paths: e.paths,
            },
        };
        match self.tx.try_send(raw) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.rescan_all(),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn rescan_all(&self) {
        self.shared.rescan_all.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

enum Action {
    Ignore,
    /// Look at the path after the debounce; `expand`: if it is a directory, walk it.
    Touch {
        expand: bool,
    },
}

fn action(kind: &EventKind) -> Action {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Action::Touch { expand: false },
        // Opens and reads (ours included: hashing, thumbnails) change nothing.
        EventKind::Access(_) => Action::Ignore,
        EventKind::Create(_) => Action::Touch { expand: true },
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Action::Touch { expand: false },
        EventKind::Modify(ModifyKind::Name(_)) => Action::Touch { expand: true },
        EventKind::Modify(_) => Action::Touch { expand: false },
        EventKind::Remove(_) => Action::Touch { expand: false },
        EventKind::Any | EventKind::Other => Action::Touch { expand: true },
    }
}

/// A path waiting to be examined.
#[derive(Debug, Clone)]
struct Pending {
    folder: PathBuf,
    last_event: Instant,
    expand: bool,
    /// The last look at it, if it was a regular file.
    seen: Option<Seen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    mtime: SystemTime,
    at: Instant,
}

impl Pending {
    fn due(&self, opts: &WatchOptions) -> Instant {
        let quiet = self.last_event + opts.debounce;
        match self.seen {
            Some(seen) => quiet.max(seen.at + opts.stable_for),
            None => quiet,
        }
    }
}

/// A regular file found on disk.
#[derive(Debug, Clone)]
struct Found {
    path: PathBuf,
    size: u64,
    mtime: SystemTime,
}

/// What a look at a pending path found.
#[derive(Debug)]
enum Probe {
    Missing,
    File {
        size: u64,
        mtime: SystemTime,
    },
    /// A directory; its files if it was to be expanded.
    Dir(Option<Vec<Found>>),
    /// There but not reportable: symlink, special file, reached through a symlink.
    Excluded,
}

/// The signal to stop the actor (cancelled, or nobody listens any more).
struct Stop;

struct Actor {
    opts: WatchOptions,
    shared: Arc<Shared>,
    watcher: Arc<Mutex<Option<RecommendedWatcher>>>,
    raw_rx: mpsc::Receiver<Raw>,
    events: mpsc::Sender<WatchEvent>,
    cancel: CancellationToken,
    pending: BTreeMap<PathBuf, Pending>,
    /// What the consumer was told: path -> (size, mtime).
    known: BTreeMap<PathBuf, (u64, SystemTime)>,
    /// Events decided but not sent yet.
    outbox: Vec<WatchEvent>,
    next_degraded_rescan: Instant,
}

impl Actor {
    async fn run(mut self) {
        let _ = self.run_loop().await;
        // Stop notify (its thread ends once the watcher is dropped) and refuse new folders.
        self.shared.lock().stopped = true;
        let watcher = self.watcher.clone();
        let _ = tokio::task::spawn_blocking(move || drop(lock(&watcher).take())).await;
    }

    async fn run_loop(&mut self) -> Result<(), Stop> {
        loop {
            let deadline = self.next_deadline() + COALESCE;
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop),
                _ = self.shared.wake.notified() => {}
                raw = self.raw_rx.recv() => {
                    // The sender lives in the handle: `None` only once everything is going away.
                    let Some(raw) = raw else { return Err(Stop) };
                    self.on_raw(raw);
                    for _ in 0..RAW_BATCH {
                        match self.raw_rx.try_recv() {
                            Ok(raw) => self.on_raw(raw),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
            self.step().await?;
        }
    }

    /// The earliest time something is due (far away if nothing is).
    fn next_deadline(&self) -> Instant {
        let mut next = Instant::now() + Duration::from_secs(3600);
        let state = self.shared.lock();
        if let Some(&at) = state.rescans.values().min() {
            next = next.min(at);
        }
        if !state.degraded.is_empty() {
            next = next.min(self.next_degraded_rescan);
        }
        drop(state);
        for pending in self.pending.values() {
            next = next.min(pending.due(&self.opts));
        }
        next
    }

    fn on_raw(&mut self, raw: Raw) {
        let now = Instant::now();
        match raw {
            Raw::Event(event) => {
                let Action::Touch { expand } = action(&event.kind) else {
                    return;
                };
                for path in event.paths {
                    self.touch(path, expand, now);
                }
            }
            Raw::Error { paths, watch_limit } => {
                let mut state = self.shared.lock();
                let folders: Vec<PathBuf> = state
                    .folders
                    .iter()
                    .filter(|f| paths.is_empty() || paths.iter().any(|p| p.starts_with(f)))
                    .cloned()
                    .collect();
                tracing::warn!(
                    ?paths,
                    watch_limit,
                    "file watcher error: rescanning {} folder(s)",
                    folders.len()
                );
                for folder in folders {
                    if watch_limit {
                        state.degraded.insert(folder.clone());
                    }
                    schedule(&mut state.rescans, folder, now + self.opts.debounce);
                }
            }
        }
    }

    fn touch(&mut self, path: PathBuf, expand: bool, now: Instant) {
        let Some(folder) = self.shared.folder_of(&path) else {
            return;
        };
        if path == folder {
            // The folder itself was moved, deleted or replaced: list it again.
            let mut state = self.shared.lock();
            schedule(&mut state.rescans, folder, now + self.opts.debounce);
            return;
        }
        if is_ignored(&folder, &path) {
            return;
        }
        let entry = self.pending.entry(path).or_insert_with(|| Pending {
            folder,
            last_event: now,
            expand: false,
            seen: None,
        });
        entry.last_event = now;
        entry.expand |= expand;
    }

    async fn step(&mut self) -> Result<(), Stop> {
        self.forget_removed_folders();
        self.flush().await?;
        self.rescans().await?;
        self.probe_due().await?;
        self.flush().await
    }

    fn forget_removed_folders(&mut self) {
        let removed = std::mem::take(&mut self.shared.lock().removed);
        for folder in removed {
            self.pending.retain(|_, p| p.folder != folder);
            let under: Vec<PathBuf> = keys_under(&self.known, &folder);
            for path in under {
                self.known.remove(&path);
            }
            self.outbox.retain(|e| match e {
                WatchEvent::Snapshot { folder: f, .. } => *f != folder,
                WatchEvent::Ready(info) => !info.path.starts_with(&folder),
                WatchEvent::Removed { path } => !path.starts_with(&folder),
            });
        }
    }

    async fn rescans(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        let due: Vec<PathBuf> = {
            let mut state = self.shared.lock();
            if self.shared.rescan_all.swap(false, Ordering::SeqCst) {
                tracing::info!("inotify overflow or busy watcher: rescanning all folders");
                let folders = state.folders.clone();
                for folder in folders {
                    schedule(&mut state.rescans, folder, now + self.opts.debounce);
                }
            }
            if !state.degraded.is_empty() && now >= self.next_degraded_rescan {
                self.next_degraded_rescan = now + DEGRADED_RESCAN_INTERVAL;
                let degraded: Vec<PathBuf> = state.degraded.iter().cloned().collect();
                for folder in degraded {
                    schedule(&mut state.rescans, folder, now);
                }
            }
            let due: Vec<PathBuf> = state
                .rescans
                .iter()
                .filter(|(_, &at)| at <= now)
                .map(|(f, _)| f.clone())
                .collect();
            for folder in &due {
                state.rescans.remove(folder);
            }
            due
        };
        for folder in due {
            self.rescan(folder).await?;
        }
        Ok(())
    }

    /// Lists `folder` again and sends its `Snapshot`.
    async fn rescan(&mut self, folder: PathBuf) -> Result<(), Stop> {
        let started = SystemTime::now();
        let cancel = self.cancel.clone();
        let root = folder.clone();
        let listing = tokio::task::spawn_blocking(move || walk(&root, &cancel))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        if self.cancel.is_cancelled() {
            return Err(Stop);
        }
        if !self.shared.is_shared(&folder) {
            return Ok(());
        }
        let found = match listing {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::warn!(folder = %folder.display(), "shared folder is gone");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(folder = %folder.display(), "cannot list shared folder: {e}");
                return Ok(());
            }
        };
        let settled_before = started
            .checked_sub(self.opts.stable_for)
            .unwrap_or(UNIX_EPOCH);
        for path in keys_under(&self.known, &folder) {
            self.known.remove(&path);
        }
        let now = Instant::now();
        let mut files = Vec::with_capacity(found.len());
        for file in found {
            if self.pending.contains_key(&file.path) {
                continue;
            }
            if file.mtime > settled_before {
                // Possibly still being written: report it once stable.
                self.pending.insert(
                    file.path.clone(),
                    Pending {
                        folder: folder.clone(),
                        last_event: now,
                        expand: false,
                        seen: Some(Seen {
                            size: file.size,
                            mtime: file.mtime,
                            at: now,
                        }),
                    },
                );
                continue;
            }
            self.known
                .insert(file.path.clone(), (file.size, file.mtime));
            files.push(file_info(&file.path, file.size, file.mtime));
        }
        self.outbox.push(WatchEvent::Snapshot { folder, files });
        self.flush().await
    }

    /// Examines the pending paths that are due.
    async fn probe_due(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        let due: Vec<(PathBuf, Pending)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due(&self.opts) <= now)
            .take(PROBE_BATCH)
            .map(|(path, p)| (path.clone(), p.clone()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let cancel = self.cancel.clone();
        let results = tokio::task::spawn_blocking(move || {
            due.into_iter()
                .map(|(path, p)| {
                    let probe = probe(&path, &p.folder, p.expand, &cancel);
                    (path, p, probe)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        if self.cancel.is_cancelled() {
            return Err(Stop);
        }
        let now = Instant::now();
        let folders = self.shared.lock().folders.clone();
        for (path, before, probe) in results {
            match self.pending.get(&path) {
                // Touched again while we looked: look again after the debounce.
                Some(current) if current.last_event == before.last_event => {}
                _ => continue,
            }
            if !folders.contains(&before.folder) {
                self.pending.remove(&path);
                continue;
            }
            match probe {
                Probe::Missing => {
                    self.pending.remove(&path);
                    self.forget_under(&path);
                }
                Probe::Excluded => {
                    self.pending.remove(&path);
                    self.forget_under(&path);
                }
                Probe::Dir(files) => {
                    self.pending.remove(&path);
                    self.forget(&path);
                    for file in files.unwrap_or_default() {
                        self.pending
                            .entry(file.path.clone())
                            .or_insert_with(|| Pending {
                                folder: before.folder.clone(),
                                last_event: now,
                                expand: false,
                                seen: Some(Seen {
                                    size: file.size,
                                    mtime: file.mtime,
                                    at: now,
                                }),
                            });
                    }
                }
                Probe::File { size, mtime } => {
                    let stable =
                        matches!(before.seen, Some(s) if s.size == size && s.mtime == mtime);
                    if !stable {
                        if let Some(p) = self.pending.get_mut(&path) {
                            p.seen = Some(Seen {
                                size,
                                mtime,
                                at: now,
                            });
                        }
                        continue;
                    }
                    self.pending.remove(&path);
                    if self.known.get(&path) != Some(&(size, mtime)) {
                        self.known.insert(path.clone(), (size, mtime));
                        self.outbox
                            .push(WatchEvent::Ready(file_info(&path, size, mtime)));
                    }
                }
            }
        }
        Ok(())
    }

    /// `path` is not a reportable file: if it was reported, it is removed.
    fn forget(&mut self, path: &Path) {
        if self.known.remove(path).is_some() {
            self.outbox.push(WatchEvent::Removed {
                path: path.to_path_buf(),
            });
        }
    }

    /// Like [`Self::forget`], for `path` and everything under it.
    fn forget_under(&mut self, path: &Path) {
        for gone in keys_under(&self.known, path) {
            self.forget(&gone);
        }
    }

    /// Sends what the outbox holds (waiting for room in the bounded channel).
    async fn flush(&mut self) -> Result<(), Stop> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        for event in std::mem::take(&mut self.outbox) {
            let folder = match &event {
                WatchEvent::Snapshot { folder, .. } => folder,
                WatchEvent::Ready(info) => &info.path,
                WatchEvent::Removed { path } => path,
            };
            if self.shared.folder_of(folder).is_none() {
                continue; // removed meanwhile
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop),
                sent = self.events.send(event) => {
                    if sent.is_err() {
                        tracing::debug!("watch events receiver dropped: stopping the watcher");
                        return Err(Stop);
                    }
                }
            }
        }
        Ok(())
    }
}

fn schedule(rescans: &mut HashMap<PathBuf, Instant>, folder: PathBuf, at: Instant) {
    let entry = rescans.entry(folder).or_insert(at);
    *entry = (*entry).min(at);
}

/// `root` and the keys below it (a `BTreeMap` of paths keeps a directory's descendants
/// right after it, since paths order component by component).
fn keys_under<V>(map: &BTreeMap<PathBuf, V>, root: &Path) -> Vec<PathBuf> {
    map.range(root.to_path_buf()..)
        .take_while(|(path, _)| path.starts_with(root))
        .map(|(path, _)| path.clone())
        .collect()
}
