//! The watcher against a real file system: stability, renames, symlinks, overflow, limits.

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
    rx: mpsc::Receiver<WatchEvent>,
    seen: Vec<WatchEvent>,
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
    async fn eventually(&mut self, cond: impl Fn(&[WatchEvent]) -> bool) {
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

fn ready_count(seen: &[WatchEvent], path: &Path) -> usize {
    seen.iter()
        .filter(|e| matches!(e, WatchEvent::Ready(info) if info.path == path))
        .count()
}

fn ready_of<'a>(seen: &'a [WatchEvent], path: &Path) -> Option<&'a FileInfo> {
    seen.iter().find_map(|e| match e {
        WatchEvent::Ready(info) if info.path == path => Some(info),
        _ => None,
    })
}

fn position(seen: &[WatchEvent], wanted: impl Fn(&WatchEvent) -> bool) -> Option<usize> {
    seen.iter().position(wanted)
}

fn removed_index(seen: &[WatchEvent], path: &Path) -> Option<usize> {
    position(
        seen,
        |e| matches!(e, WatchEvent::Removed { path: p } if p == path),
    )
}

fn snapshot_of<'a>(seen: &'a [WatchEvent], folder: &Path) -> Option<&'a Vec<FileInfo>> {
    seen.iter().rev().find_map(|e| match e {
        WatchEvent::Snapshot { folder: f, files } if f == folder => Some(files),
        _ => None,
    })
}

fn event_paths(event: &WatchEvent) -> Vec<&Path> {
    match event {
        WatchEvent::Snapshot { folder, files } => std::iter::once(folder.as_path())
            .chain(files.iter().map(|f| f.path.as_path()))
            .collect(),
        WatchEvent::Ready(info) => vec![&info.path],
        WatchEvent::Removed { path } => vec![path],
    }
}

/// Whether the event is about something under `folder`.
fn is_about(event: &WatchEvent, folder: &Path) -> bool {
    event_paths(event).iter().any(|p| p.starts_with(folder))
}

/// Whether a path of the event contains `needle` below `root`.
fn mentions(event: &WatchEvent, root: &Path, needle: &str) -> bool {
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
        |e| matches!(e, WatchEvent::Ready(i) if i.path == new),
    );
    assert!(removed_index(&h.seen, &old) < ready_new);

    // A directory renamed: every file in it moves.
    std::fs::create_dir(h.path("d1")).unwrap();
    let before = h.path("d1/x.bin");
    std::fs::write(&before, b"x").unwrap();
    h.eventually(|seen| ready_count(seen, &before) == 1).await;
    std::fs::rename(h.path("d1"), h.path("d2")).unwrap();
    let after = h.path("d2/x.bin");
    h.eventually(|seen| removed_index(seen, &before).is_some() && ready_count(seen, &after) == 1)
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
            WatchEvent::Ready(info) => info.path == visible,
            WatchEvent::Snapshot { files, .. } => files.is_empty(),
            WatchEvent::Removed { .. } => false,
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
        WatchEvent::Snapshot { folder, files } => {
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
            WatchEvent::Snapshot { folder, files } => {
                assert_eq!(folder, root);
                snapshots += 1;
                ready.extend(files.into_iter().map(|f| f.path));
            }
            WatchEvent::Ready(info) => {
                ready.insert(info.path);
            }
            WatchEvent::Removed { path } => panic!("removed {path:?}"),
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
        Err(WatchError::AlreadyWatched(_))
    ));
    std::fs::create_dir(other.path().join("inner")).unwrap();
    assert!(matches!(
        h.watcher.add_folder(&other.path().join("inner")),
        Err(WatchError::Overlaps { .. })
    ));
    assert!(matches!(
        h.watcher.add_folder(&other.path().join("missing")),
        Err(WatchError::Io { .. })
    ));

    // A file written just before the removal, and one after.
    std::fs::write(other.path().join("before.txt"), b"b").unwrap();
    h.watcher.remove_folder(other.path()).unwrap();
    std::fs::write(other.path().join("after.txt"), b"a").unwrap();
    assert_eq!(h.watcher.folders(), vec![h.root.clone()]);
    assert!(matches!(
        h.watcher.remove_folder(other.path()),
        Err(WatchError::NotWatched(_))
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
        Err(WatchError::Stopped)
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
        Err(WatchError::NoRuntime)
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
