//! Shared folders: watch them (inotify through `notify`) and report which files are there,
//! which appeared or changed (once they stopped growing) and which went away. The consumer
//! turns these events into publish / unpublish.
//!
//! How it works:
//! - One `notify` watcher (recursive, symlinks not followed) per [`FolderWatcher`]. Its
//!   callback runs on notify's thread and never blocks: it drops events that cannot matter
//!   (opens, reads) and `try_send`s the rest into a bounded channel. When that channel is
//!   full, or inotify reports an overflow (`Flag::Rescan`), it only raises a flag: every
//!   folder is rescanned and a fresh [`LibraryEvent::Snapshot`] replaces what was lost.
//! - One actor task (a Tokio task on an internal `TaskTracker`) keeps the files *pending*:
//!   every event (create, write, close, attribute change, rename, delete) only marks its
//!   path. A path is examined once no event touched it for `debounce`; a file is
//!   [`LibraryEvent::Ready`] once two looks `stable_for` apart saw the same size and mtime
//!   (and they differ from what was last reported); a path that is no longer there (deleted,
//!   renamed, moved out; a directory with all the files under it) is
//!   [`LibraryEvent::Removed`], if it had been reported. A rename within a folder is thus
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
pub enum LibraryError {
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
pub enum LibraryEvent {
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
        events: mpsc::Sender<LibraryEvent>,
        cancel: CancellationToken,
    ) -> Result<Self, LibraryError> {
        Self::start_with_capacity(opts, events, cancel, RAW_CAPACITY)
    }

    fn start_with_capacity(
        opts: WatchOptions,
        events: mpsc::Sender<LibraryEvent>,
        cancel: CancellationToken,
        raw_capacity: usize,
    ) -> Result<Self, LibraryError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| LibraryError::NoRuntime)?;
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
        .map_err(LibraryError::Start)?;
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
    pub fn add_folder(&self, folder: &Path) -> Result<(), LibraryError> {
        if self.cancel.is_cancelled() {
            return Err(LibraryError::Stopped);
        }
        let folder = std::fs::canonicalize(folder).map_err(|source| LibraryError::Io {
            path: folder.to_path_buf(),
            source,
        })?;
        let meta = std::fs::metadata(&folder).map_err(|source| LibraryError::Io {
            path: folder.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(LibraryError::NotADirectory(folder));
        }
        {
            let mut state = self.shared.lock();
            if state.stopped {
                return Err(LibraryError::Stopped);
            }
            for existing in &state.folders {
                if *existing == folder {
                    return Err(LibraryError::AlreadyWatched(folder));
                }
                if folder.starts_with(existing) || existing.starts_with(&folder) {
                    return Err(LibraryError::Overlaps {
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
                return Err(LibraryError::Stopped);
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
                return Err(LibraryError::Watch {
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
    pub fn remove_folder(&self, folder: &Path) -> Result<(), LibraryError> {
        let canonical = std::fs::canonicalize(folder).ok();
        let folder = {
            let mut state = self.shared.lock();
            let index = state
                .folders
                .iter()
                .position(|f| Some(f) == canonical.as_ref() || f == folder)
                .ok_or_else(|| LibraryError::NotWatched(folder.to_path_buf()))?;
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
    events: mpsc::Sender<LibraryEvent>,
    cancel: CancellationToken,
    pending: BTreeMap<PathBuf, Pending>,
    /// What the consumer was told: path -> (size, mtime).
    known: BTreeMap<PathBuf, (u64, SystemTime)>,
    /// Events decided but not sent yet.
    outbox: Vec<LibraryEvent>,
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
                LibraryEvent::Snapshot { folder: f, .. } => *f != folder,
                LibraryEvent::Ready(info) => !info.path.starts_with(&folder),
                LibraryEvent::Removed { path } => !path.starts_with(&folder),
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
        self.outbox.push(LibraryEvent::Snapshot { folder, files });
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
                            .push(LibraryEvent::Ready(file_info(&path, size, mtime)));
                    }
                }
            }
        }
        Ok(())
    }

    /// `path` is not a reportable file: if it was reported, it is removed.
    fn forget(&mut self, path: &Path) {
        if self.known.remove(path).is_some() {
            self.outbox.push(LibraryEvent::Removed {
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
                LibraryEvent::Snapshot { folder, .. } => folder,
                LibraryEvent::Ready(info) => &info.path,
                LibraryEvent::Removed { path } => path,
            };
            if self.shared.folder_of(folder).is_none() {
                continue; // removed meanwhile
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop),
                sent = self.events.send(event) => {
                    if sent.is_err() {
                        tracing::debug!("library events receiver dropped: stopping the watcher");
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

fn file_info(path: &Path, size: u64, mtime: SystemTime) -> FileInfo {
    FileInfo {
        path: path.to_path_buf(),
        size,
        mtime_ms: mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    }
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// A temporary file: `*.part`, `*.crdownload`, `*.tmp`, `*.swp`, `~$*`.
fn is_temporary(name: &OsStr) -> bool {
    let name = name.to_string_lossy().to_lowercase();
    name.starts_with("~$")
        || [".part", ".crdownload", ".tmp", ".swp"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// Whether `path` (under `folder`) is never reported: hidden itself or under a hidden
/// directory, or a temporary file. The folder itself counts as ignored.
fn is_ignored(folder: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(folder) else {
        return true;
    };
    let mut components = relative.components().peekable();
    if components.peek().is_none() {
        return true;
    }
    while let Some(component) = components.next() {
        let Component::Normal(name) = component else {
            return true;
        };
        if is_hidden(name) || (components.peek().is_none() && is_temporary(name)) {
            return true;
        }
    }
    false
}

/// Looks at a pending path (blocking).
fn probe(path: &Path, folder: &Path, expand: bool, cancel: &CancellationToken) -> Probe {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        // Not there (or its parent is no longer a directory we can search): gone.
        Err(_) => return Probe::Missing,
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() || !(file_type.is_file() || file_type.is_dir()) {
        return Probe::Excluded;
    }
    // No symlink between the folder and the path: its parent must canonicalise to itself.
    let inside = path
        .parent()
        .and_then(|parent| std::fs::canonicalize(parent).ok().map(|c| c == parent))
        .unwrap_or(false);
    if !inside || !path.starts_with(folder) {
        return Probe::Excluded;
    }
    if file_type.is_dir() {
        if !expand {
            return Probe::Dir(None);
        }
        return match walk(path, cancel) {
            Ok(files) => Probe::Dir(Some(files)),
            Err(_) => Probe::Dir(None),
        };
    }
    Probe::File {
        size: meta.len(),
        mtime: meta.modified().unwrap_or(UNIX_EPOCH),
    }
}

/// The reportable files under `root` (blocking): hidden entries, temporary files, symlinks
/// and special files are skipped, symlinked directories never entered. An error reading
/// `root` itself is returned; unreadable subdirectories are skipped.
fn walk(root: &Path, cancel: &CancellationToken) -> io::Result<Vec<Found>> {
    let mut files = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut first = true;
    while let Some((dir, depth)) = stack.pop() {
        if cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if first => return Err(e),
            Err(e) => {
                tracing::debug!(dir = %dir.display(), "skipping unreadable directory: {e}");
                continue;
            }
        };
        first = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if is_hidden(&name) {
                continue;
            }
            // `DirEntry::file_type` and `metadata` do not follow symlinks.
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((entry.path(), depth + 1));
                }
            } else if file_type.is_file() && !is_temporary(&name) {
                if let Ok(meta) = entry.metadata() {
                    files.push(Found {
                        path: entry.path(),
                        size: meta.len(),
                        mtime: meta.modified().unwrap_or(UNIX_EPOCH),
                    });
                }
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn fast() -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(50),
            stable_for: Duration::from_millis(250),
        }
    }

    struct Harness {
        watcher: FolderWatcher,
        rx: mpsc::Receiver<LibraryEvent>,
        seen: Vec<LibraryEvent>,
        cancel: CancellationToken,
        dir: tempfile::TempDir,
        /// The canonical path of `dir`.
        root: PathBuf,
    }

    impl Harness {
        /// A watcher on a fresh temporary folder, after its (empty) first snapshot.
        async fn new(opts: WatchOptions) -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let mut h = Harness::without_folder(opts, dir);
            h.watcher.add_folder(h.dir.path()).unwrap();
            let root = h.root.clone();
            h.eventually(|seen| snapshot_of(seen, &root).is_some())
                .await;
            h
        }

        fn without_folder(opts: WatchOptions, dir: tempfile::TempDir) -> Harness {
            let (tx, rx) = mpsc::channel(64);
            let cancel = CancellationToken::new();
            let watcher = FolderWatcher::start(opts, tx, cancel.clone()).unwrap();
            let root = dir.path().canonicalize().unwrap();
            Harness {
                watcher,
                rx,
                seen: Vec::new(),
                cancel,
                dir,
                root,
            }
        }

        fn path(&self, relative: &str) -> PathBuf {
            self.root.join(relative)
        }

        /// Collects events until `cond` holds over all of them; panics after [`TIMEOUT`].
        async fn eventually(&mut self, cond: impl Fn(&[LibraryEvent]) -> bool) {
            let start = Instant::now();
            loop {
                while let Ok(event) = self.rx.try_recv() {
                    self.seen.push(event);
                }
                if cond(&self.seen) {
                    return;
                }
                if start.elapsed() > TIMEOUT {
                    panic!(
                        "condition not met within {TIMEOUT:?}; events: {:#?}",
                        self.seen
                    );
                }
                if let Ok(Some(event)) =
                    tokio::time::timeout(Duration::from_millis(20), self.rx.recv()).await
                {
                    self.seen.push(event);
                }
            }
        }

        /// Writes a visible marker file and waits for its `Ready`: every event caused by
        /// earlier changes has been handled by then (they were due earlier).
        async fn barrier(&mut self, name: &str) {
            let marker = self.path(name);
            std::fs::write(&marker, b"marker").unwrap();
            self.eventually(|seen| ready_count(seen, &marker) == 1)
                .await;
        }

        async fn stop(self) {
            self.cancel.cancel();
            tokio::time::timeout(TIMEOUT, self.watcher.stopped())
                .await
                .expect("watcher task ended");
        }
    }

    fn ready_count(seen: &[LibraryEvent], path: &Path) -> usize {
        seen.iter()
            .filter(|e| matches!(e, LibraryEvent::Ready(info) if info.path == path))
            .count()
    }

    fn ready_of<'a>(seen: &'a [LibraryEvent], path: &Path) -> Option<&'a FileInfo> {
        seen.iter().find_map(|e| match e {
            LibraryEvent::Ready(info) if info.path == path => Some(info),
            _ => None,
        })
    }

    fn position(seen: &[LibraryEvent], wanted: impl Fn(&LibraryEvent) -> bool) -> Option<usize> {
        seen.iter().position(wanted)
    }

    fn removed_index(seen: &[LibraryEvent], path: &Path) -> Option<usize> {
        position(
            seen,
            |e| matches!(e, LibraryEvent::Removed { path: p } if p == path),
        )
    }

    fn snapshot_of<'a>(seen: &'a [LibraryEvent], folder: &Path) -> Option<&'a Vec<FileInfo>> {
        seen.iter().rev().find_map(|e| match e {
            LibraryEvent::Snapshot { folder: f, files } if f == folder => Some(files),
            _ => None,
        })
    }

    fn event_paths(event: &LibraryEvent) -> Vec<&Path> {
        match event {
            LibraryEvent::Snapshot { folder, files } => std::iter::once(folder.as_path())
                .chain(files.iter().map(|f| f.path.as_path()))
                .collect(),
            LibraryEvent::Ready(info) => vec![&info.path],
            LibraryEvent::Removed { path } => vec![path],
        }
    }

    /// Whether the event is about something under `folder`.
    fn is_about(event: &LibraryEvent, folder: &Path) -> bool {
        event_paths(event).iter().any(|p| p.starts_with(folder))
    }

    /// Whether a path of the event contains `needle` below `root`.
    fn mentions(event: &LibraryEvent, root: &Path, needle: &str) -> bool {
        event_paths(event).iter().any(|p| {
            p.strip_prefix(root)
                .map(|rel| rel.to_string_lossy().contains(needle))
                .unwrap_or(true)
        })
    }

    fn set_old_mtime(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[tokio::test]
    async fn new_file_is_ready_once() {
        let mut h = Harness::new(fast()).await;
        let file = h.path("paper.pdf");
        std::fs::write(&file, b"hello world").unwrap();
        h.eventually(|seen| ready_count(seen, &file) == 1).await;
        let info = ready_of(&h.seen, &file).unwrap().clone();
        assert_eq!(info.size, 11);
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        assert_eq!(info, file_info(&file, 11, mtime));
        h.barrier("marker").await;
        assert_eq!(ready_count(&h.seen, &file), 1, "{:#?}", h.seen);
        h.stop().await;
    }

    #[tokio::test]
    async fn slowly_written_file_is_ready_once_complete() {
        // The debounce is shorter than the pause between chunks, so the file is looked at
        // while it grows: only the stability rule holds it back.
        let opts = WatchOptions {
            debounce: Duration::from_millis(50),
            stable_for: Duration::from_secs(1),
        };
        let mut h = Harness::new(opts).await;
        let file = h.path("video.mkv");
        let mut out = std::fs::File::create(&file).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..10 {
            out.write_all(&chunk).unwrap();
            out.flush().unwrap();
            assert_eq!(ready_count(&h.seen, &file), 0);
            tokio::time::sleep(Duration::from_millis(150)).await; // the writer's pace
            while let Ok(event) = h.rx.try_recv() {
                h.seen.push(event);
            }
        }
        drop(out);
        let total = 10 * chunk.len() as u64;
        h.eventually(|seen| ready_count(seen, &file) == 1).await;
        assert_eq!(ready_of(&h.seen, &file).unwrap().size, total);
        h.barrier("marker").await;
        assert_eq!(ready_count(&h.seen, &file), 1, "{:#?}", h.seen);
        h.stop().await;
    }

    #[tokio::test]
    async fn deleted_file_and_directory_are_removed() {
        let mut h = Harness::new(fast()).await;
        let file = h.path("a.txt");
        std::fs::create_dir(h.path("dir")).unwrap();
        let inner = [h.path("dir/b.txt"), h.path("dir/c.txt")];
        std::fs::write(&file, b"a").unwrap();
        for p in &inner {
            std::fs::write(p, b"bc").unwrap();
        }
        h.eventually(|seen| {
            ready_count(seen, &file) == 1 && inner.iter().all(|p| ready_count(seen, p) == 1)
        })
        .await;

        std::fs::remove_file(&file).unwrap();
        std::fs::remove_dir_all(h.path("dir")).unwrap();
        h.eventually(|seen| {
            removed_index(seen, &file).is_some()
                && inner.iter().all(|p| removed_index(seen, p).is_some())
        })
        .await;
        h.stop().await;
    }

    #[tokio::test]
    async fn renames_are_removed_then_ready() {
        let mut h = Harness::new(fast()).await;
        let old = h.path("draft.txt");
        let new = h.path("final.txt");
        std::fs::write(&old, b"text").unwrap();
        h.eventually(|seen| ready_count(seen, &old) == 1).await;
        std::fs::rename(&old, &new).unwrap();
        h.eventually(|seen| removed_index(seen, &old).is_some() && ready_count(seen, &new) == 1)
            .await;
        let ready_new = position(
            &h.seen,
            |e| matches!(e, LibraryEvent::Ready(i) if i.path == new),
        );
        assert!(removed_index(&h.seen, &old) < ready_new);

        // A directory renamed: every file in it moves.
        std::fs::create_dir(h.path("d1")).unwrap();
        let before = h.path("d1/x.bin");
        std::fs::write(&before, b"x").unwrap();
        h.eventually(|seen| ready_count(seen, &before) == 1).await;
        std::fs::rename(h.path("d1"), h.path("d2")).unwrap();
        let after = h.path("d2/x.bin");
        h.eventually(|seen| {
            removed_index(seen, &before).is_some() && ready_count(seen, &after) == 1
        })
        .await;

        // Moved out of the folder: removed.
        let outside = tempfile::tempdir_in(h.dir.path().parent().unwrap()).unwrap();
        std::fs::rename(&new, outside.path().join("final.txt")).unwrap();
        h.eventually(|seen| removed_index(seen, &new).is_some())
            .await;
        h.stop().await;
    }

    #[tokio::test]
    async fn new_nested_directories_are_watched() {
        let mut h = Harness::new(fast()).await;
        // Written immediately after mkdir, before notify can watch the new directories.
        std::fs::create_dir_all(h.path("new/deeper")).unwrap();
        let first = h.path("new/deeper/first.txt");
        std::fs::write(&first, b"1").unwrap();
        h.eventually(|seen| ready_count(seen, &first) == 1).await;
        // Written later: seen through the watch on the new directory.
        let second = h.path("new/deeper/second.txt");
        std::fs::write(&second, b"22").unwrap();
        h.eventually(|seen| ready_count(seen, &second) == 1).await;

        // A directory tree moved in from outside.
        let outside = tempfile::tempdir_in(h.dir.path().parent().unwrap()).unwrap();
        std::fs::create_dir_all(outside.path().join("tree/sub")).unwrap();
        std::fs::write(outside.path().join("tree/sub/moved.txt"), b"333").unwrap();
        std::fs::rename(outside.path().join("tree"), h.path("tree")).unwrap();
        let moved = h.path("tree/sub/moved.txt");
        h.eventually(|seen| ready_count(seen, &moved) == 1).await;
        assert_eq!(ready_of(&h.seen, &moved).unwrap().size, 3);
        h.stop().await;
    }

    #[tokio::test]
    async fn symlinks_are_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, b"secret").unwrap();
        std::fs::create_dir(outside.path().join("sub")).unwrap();
        std::fs::write(outside.path().join("sub/deep.txt"), b"deep").unwrap();

        let dir = tempfile::tempdir().unwrap();
        // Links present before the folder is added.
        std::os::unix::fs::symlink(&secret, dir.path().join("link-file.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link-dir")).unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, b"real").unwrap();
        set_old_mtime(&real);
        let mut h = Harness::without_folder(fast(), dir);
        h.watcher.add_folder(h.dir.path()).unwrap();
        let root = h.root.clone();
        h.eventually(|seen| snapshot_of(seen, &root).is_some())
            .await;
        let files = snapshot_of(&h.seen, &root).unwrap();
        assert_eq!(files.len(), 1, "{files:#?}");
        assert_eq!(files[0].path, h.path("real.txt"));

        // Links created while watching, and changes behind the links.
        std::os::unix::fs::symlink(&secret, h.path("link-file-2.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), h.path("link-dir-2")).unwrap();
        std::os::unix::fs::symlink(h.path("real.txt"), h.path("link-inside.txt")).unwrap();
        std::fs::write(&secret, b"secret changed").unwrap();
        std::fs::write(outside.path().join("sub/new.txt"), b"new").unwrap();
        std::fs::write(outside.path().join("new-top.txt"), b"new").unwrap();
        h.barrier("marker").await;
        // The same changes once more after the first look, in case one raced with it.
        std::fs::write(outside.path().join("sub/deep.txt"), b"deep changed").unwrap();
        h.barrier("marker2").await;

        for event in &h.seen {
            for needle in ["link", "secret", "deep", "new"] {
                assert!(!mentions(event, &h.root, needle), "{needle}: {event:?}");
            }
        }
        h.stop().await;
    }

    #[tokio::test]
    async fn hidden_and_temporary_files_are_ignored() {
        let mut h = Harness::new(fast()).await;
        for name in [
            ".hidden",
            "movie.mkv.part",
            "setup.crdownload",
            "report.TMP",
            "~$budget.xlsx",
            ".notes.txt.swp",
            "notes.txt.swp",
        ] {
            std::fs::write(h.path(name), b"junk").unwrap();
        }
        std::fs::create_dir_all(h.path(".git/objects")).unwrap();
        std::fs::write(h.path(".git/objects/abc"), b"object").unwrap();
        std::fs::write(h.path(".git/config"), b"config").unwrap();
        h.barrier("visible.txt").await;
        let visible = h.path("visible.txt");
        assert!(
            h.seen.iter().all(|e| match e {
                LibraryEvent::Ready(info) => info.path == visible,
                LibraryEvent::Snapshot { files, .. } => files.is_empty(),
                LibraryEvent::Removed { .. } => false,
            }),
            "{:#?}",
            h.seen
        );

        // A finished download renamed to its final name is published.
        let done = h.path("movie.mkv");
        std::fs::rename(h.path("movie.mkv.part"), &done).unwrap();
        h.eventually(|seen| ready_count(seen, &done) == 1).await;
        h.stop().await;
    }

    #[tokio::test]
    async fn add_folder_sends_a_snapshot_of_complete_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for (name, content) in [
            ("a.txt", &b"aaa"[..]),
            ("sub/b.txt", b"bb"),
            (".hidden", b"h"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            set_old_mtime(&path);
        }
        // Just written: it may still be growing, so it comes as Ready, not in the snapshot.
        std::fs::write(dir.path().join("fresh.txt"), b"fresh").unwrap();

        let mut h = Harness::without_folder(fast(), dir);
        assert!(h.watcher.folders().is_empty());
        h.watcher.add_folder(h.dir.path()).unwrap();
        assert_eq!(h.watcher.folders(), vec![h.root.clone()]);
        let root = h.root.clone();
        h.eventually(|seen| snapshot_of(seen, &root).is_some())
            .await;
        let mut files = snapshot_of(&h.seen, &root).unwrap().clone();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(paths, vec![h.path("a.txt"), h.path("sub/b.txt")]);
        assert_eq!(files[0].size, 3);
        assert_eq!(files[1].size, 2);

        let fresh = h.path("fresh.txt");
        h.eventually(|seen| ready_count(seen, &fresh) == 1).await;
        h.barrier("marker").await;
        assert!(
            ready_of(&h.seen, &h.path("a.txt")).is_none(),
            "{:#?}",
            h.seen
        );
        h.stop().await;
    }

    #[tokio::test]
    async fn overflow_triggers_a_snapshot() {
        let mut h = Harness::new(fast()).await;
        let file = h.path("kept.txt");
        std::fs::write(&file, b"kept").unwrap();
        set_old_mtime(&file);
        h.eventually(|seen| ready_count(seen, &file) == 1).await;
        h.seen.clear();

        h.watcher.simulate_overflow();
        let root = h.root.clone();
        h.eventually(|seen| snapshot_of(seen, &root).is_some())
            .await;
        let files = snapshot_of(&h.seen, &root).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, file);
        h.stop().await;
    }

    #[tokio::test]
    async fn a_full_internal_channel_asks_for_a_rescan() {
        let shared = Arc::new(Shared::default());
        let (tx, _rx) = mpsc::channel(2);
        let inbox = Inbox {
            tx,
            shared: shared.clone(),
        };
        let event = || {
            Ok(Event::new(EventKind::Create(
                notify::event::CreateKind::File,
            )))
        };
        inbox.on_notify(event());
        inbox.on_notify(event());
        assert!(!shared.rescan_all.load(Ordering::SeqCst));
        // Reads are dropped before the channel, so they never fill it.
        inbox.on_notify(Ok(Event::new(EventKind::Access(AccessKind::Open(
            AccessMode::Any,
        )))));
        assert!(!shared.rescan_all.load(Ordering::SeqCst));
        inbox.on_notify(event());
        assert!(shared.rescan_all.load(Ordering::SeqCst));

        // And the actor turns the flag into snapshots: a watcher whose channel holds one
        // event, flooded with files.
        let (tx, mut rx) = mpsc::channel(1024);
        let cancel = CancellationToken::new();
        let watcher = FolderWatcher::start_with_capacity(fast(), tx, cancel.clone(), 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        watcher.add_folder(dir.path()).unwrap();
        let root = dir.path().canonicalize().unwrap();
        match tokio::time::timeout(TIMEOUT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            LibraryEvent::Snapshot { folder, files } => {
                assert_eq!((folder, files.len()), (root.clone(), 0));
            }
            other => panic!("{other:?}"),
        }
        // On this single-threaded runtime the actor cannot run while the files are written:
        // notify's callback finds the channel full.
        for i in 0..200 {
            std::fs::write(dir.path().join(format!("f{i}")), b"x").unwrap();
        }
        let mut snapshots = 1;
        let mut ready = HashSet::new();
        let deadline = Instant::now() + TIMEOUT;
        // All 200 files end up reported, one way or the other, after a second snapshot.
        while snapshots < 2 || ready.len() < 200 {
            let event = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("events in time")
                .unwrap();
            match event {
                LibraryEvent::Snapshot { folder, files } => {
                    assert_eq!(folder, root);
                    snapshots += 1;
                    ready.extend(files.into_iter().map(|f| f.path));
                }
                LibraryEvent::Ready(info) => {
                    ready.insert(info.path);
                }
                LibraryEvent::Removed { path } => panic!("removed {path:?}"),
            }
        }
        cancel.cancel();
        watcher.stopped().await;
    }

    #[tokio::test]
    async fn remove_folder_stops_its_events() {
        let mut h = Harness::new(fast()).await;
        let other = tempfile::tempdir().unwrap();
        let other_root = other.path().canonicalize().unwrap();
        h.watcher.add_folder(other.path()).unwrap();
        h.eventually(|seen| snapshot_of(seen, &other_root).is_some())
            .await;
        assert_eq!(
            h.watcher.folders(),
            vec![h.root.clone(), other_root.clone()]
        );

        // Nested or repeated folders are refused.
        assert!(matches!(
            h.watcher.add_folder(other.path()),
            Err(LibraryError::AlreadyWatched(_))
        ));
        std::fs::create_dir(other.path().join("inner")).unwrap();
        assert!(matches!(
            h.watcher.add_folder(&other.path().join("inner")),
            Err(LibraryError::Overlaps { .. })
        ));
        assert!(matches!(
            h.watcher.add_folder(&other.path().join("missing")),
            Err(LibraryError::Io { .. })
        ));

        // A file written just before the removal, and one after.
        std::fs::write(other.path().join("before.txt"), b"b").unwrap();
        h.watcher.remove_folder(other.path()).unwrap();
        std::fs::write(other.path().join("after.txt"), b"a").unwrap();
        assert_eq!(h.watcher.folders(), vec![h.root.clone()]);
        assert!(matches!(
            h.watcher.remove_folder(other.path()),
            Err(LibraryError::NotWatched(_))
        ));

        h.seen.clear();
        h.barrier("marker").await;
        assert!(
            h.seen.iter().all(|e| !is_about(e, &other_root)),
            "{:#?}",
            h.seen
        );
        // And it can be shared again.
        h.watcher.add_folder(other.path()).unwrap();
        h.eventually(|seen| snapshot_of(seen, &other_root).is_some())
            .await;
        h.stop().await;
    }

    #[tokio::test]
    async fn cancellation_stops_everything() {
        let mut h = Harness::new(fast()).await;
        let root = h.root.clone();
        h.cancel.cancel();
        tokio::time::timeout(TIMEOUT, h.watcher.stopped())
            .await
            .expect("the task ends");
        // The actor is gone, and with it the events sender.
        assert!(tokio::time::timeout(TIMEOUT, h.rx.recv())
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            h.watcher.add_folder(&root),
            Err(LibraryError::Stopped)
        ));
        assert!(tokio::runtime::Handle::try_current().is_ok());
        drop(h);

        // Dropping the handle stops it too.
        let (tx, mut rx) = mpsc::channel(4);
        let watcher = FolderWatcher::start(fast(), tx, CancellationToken::new()).unwrap();
        drop(watcher);
        assert!(tokio::time::timeout(TIMEOUT, rx.recv())
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn start_needs_a_runtime() {
        let (tx, _rx) = mpsc::channel(1);
        assert!(matches!(
            FolderWatcher::start(WatchOptions::default(), tx, CancellationToken::new()),
            Err(LibraryError::NoRuntime)
        ));
    }

    #[test]
    fn ignore_rules() {
        let folder = Path::new("/share");
        for ignored in [
            "/share",
            "/share/.hidden",
            "/share/.git/config",
            "/share/a/.cache/b.txt",
            "/share/x.part",
            "/share/x.PART",
            "/share/x.crdownload",
            "/share/x.tmp",
            "/share/~$doc.docx",
            "/share/x.swp",
            "/other/file.txt",
        ] {
            assert!(is_ignored(folder, Path::new(ignored)), "{ignored}");
        }
        for kept in [
            "/share/a.txt",
            "/share/dir/b.pdf",
            "/share/partial.txt",
            "/share/tmp/file",
            "/share/x.part/inside.txt",
            "/share/a~$b",
        ] {
            assert!(!is_ignored(folder, Path::new(kept)), "{kept}");
        }
    }

    #[test]
    fn keys_under_a_prefix() {
        let mut map = BTreeMap::new();
        for p in [
            "/a/b", "/a/b/c", "/a/b/d/e", "/a/b.txt", "/a/b2", "/a/a", "/a/bb/x",
        ] {
            map.insert(PathBuf::from(p), ());
        }
        assert_eq!(
            keys_under(&map, Path::new("/a/b")),
            vec![
                PathBuf::from("/a/b"),
                PathBuf::from("/a/b/c"),
                PathBuf::from("/a/b/d/e")
            ]
        );
    }
}
