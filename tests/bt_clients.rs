//! Hearth and the BitTorrent clients people use, through the real binaries on 127.0.0.1:
//! Transmission 3 (transmission-daemon, driven by transmission-remote), qBittorrent-nox 4.5
//! (driven through its Web API) and aria2. 64 MiB each way, bytes compared, every client
//! with its default settings except what would reach beyond this machine (DHT, local peer
//! discovery, peer exchange, port forwarding, outside trackers: off) and its sockets bound
//! to loopback; after each transfer the client's sockets are checked to lead nowhere else.
//!
//! A client learns Hearth's address from a tracker the test runs on 127.0.0.1 (the magnet
//! names it); Hearth learns a client's with `hearth get MAGNET --peer ADDR`.
//!
//! The client drivers live in `tests/clients` (shared with `benches/clients.rs`). The
//! clients come from Debian (`scripts/setup.sh --test`); a missing one fails its test with
//! the package to install. Processes and folders are removed when a test ends, also
//! when it fails (each process is killed and reaped when dropped).

mod clients;
mod kit;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clients::{aria2, create_torrent, free_port, tracker, url_encode, QBittorrent, Transmission};
use kit::{random_file, Launch, TestNode};

const MIB: usize = 1 << 20;
/// The size of every transfer.
const SIZE: usize = 64 * MIB;
/// The stated time for one 64 MiB transfer, connection set-up included (a debug build of
/// Hearth; they take 2-10 s).
const TRANSFER_LIMIT: Duration = Duration::from_secs(60);

async fn hearth(dir: &Path) -> TestNode {
    Launch::new("hearth", dir).start().await
}

/// Hearth's BitTorrent address.
async fn bt_addr(node: &TestNode) -> SocketAddr {
    let status = node.client.status().await.unwrap();
    SocketAddr::from(([127, 0, 0, 1], status.bt_port))
}

/// Publishes `path` on `node`; returns its content id and magnet link.
fn share(node: &TestNode, path: &Path) -> (String, String) {
    let r = kit::cli(&node.dir, &["share", path.to_str().unwrap()]);
    (
        r["content_id"].as_str().unwrap().to_owned(),
        r["magnet"].as_str().unwrap().to_owned(),
    )
}

/// `hearth get MAGNET --peer PEER` on `node`, within the stated time; returns the file.
fn hearth_get(node: &TestNode, magnet: &str, peer: SocketAddr) -> PathBuf {
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg(TRANSFER_LIMIT.as_secs().to_string())
        .arg(kit::HEARTH)
        .arg("--data-dir")
        .arg(&node.dir)
        .arg("--json")
        .args(["get", magnet, "--peer", &peer.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hearth get failed after {:?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "hearth got 64 MiB in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    PathBuf::from(d["path"].as_str().unwrap())
}

/// Tells `node`, which already has `magnet`, to connect to `peer`.
fn hearth_dials(node: &TestNode, magnet: &str, peer: SocketAddr) {
    let err = kit::cli_fails(&node.dir, &["get", magnet, "--peer", &peer.to_string()]);
    assert!(err.contains("already have"), "{err}");
}

/// `done`, with `node` told to dial `peer` every 2 s until it holds: Transmission drops its
/// connections when it has fetched the metadata (to check the files against it) and, not
/// dialling loopback, waits for Hearth to connect again.
fn redialling<'a>(
    node: &'a TestNode,
    magnet: &'a str,
    peer: SocketAddr,
    mut done: impl FnMut() -> bool + 'a,
) -> impl FnMut() -> bool + 'a {
    let mut last: Option<Instant> = None;
    move || {
        if done() {
            return true;
        }
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
            hearth_dials(node, magnet, peer);
            last = Some(Instant::now());
        }
        false
    }
}

/// Waits until `done` holds, at most the stated time; `what` says what is awaited and
/// `log` what to show when it never comes.
async fn within<F: FnMut() -> bool>(what: &str, mut done: F, log: impl Fn() -> String) -> f64 {
    within_async(what, || std::future::ready(done()), log).await
}

/// Like [`within`], for an async condition.
async fn within_async<F, Fut>(what: &str, mut done: F, log: impl Fn() -> String) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        if started.elapsed() > TRANSFER_LIMIT {
            panic!(
                "{what}: not done within {TRANSFER_LIMIT:?}\n--- client log ---\n{}",
                log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed().as_secs_f64()
}

fn same_bytes(a: &Path, b: &[u8], what: &str) {
    let got = std::fs::read(a).unwrap_or_else(|e| panic!("{what}: {}: {e}", a.display()));
    assert!(got.len() == b.len() && got == b, "{what}: the bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmission_downloads_from_hearth() {
    let tmp = tempfile::tempdir().unwrap();
    let node = hearth(&tmp.path().join("hearth")).await;
    let file = tmp.path().join("to transmission.bin");
    let data = random_file(&file, SIZE, 181);
    let (_, magnet) = share(&node, &file);
    let (announce, tr) = tracker(bt_addr(&node).await).await;

    let t = Transmission::start(tmp.path(), 1).await;
    let link = format!("{magnet}&tr={}", url_encode(&announce));
    t.remote(&["-a", &link]).expect("transmission-remote -a");
    // Transmission 3 never dials a loopback peer (it takes 127/8 for a martian address), so
    // Hearth dials it: `hearth get` of what the node seeds passes the peer to its engine.
    let secs = within(
        "Transmission downloading from Hearth",
        redialling(&node, &magnet, t.peer_addr(), || t.complete()),
        || t.log(),
    )
    .await;
    eprintln!("Transmission got 64 MiB from Hearth in {secs:.1} s");
    same_bytes(
        &t.downloads.join("to transmission.bin"),
        &data,
        "Transmission's copy",
    );
    assert_eq!(t.proc.off_loopback(), Vec::<String>::new());
    tr.abort();
}

/// Transmission seeding `data` as `name` from its download folder; returns the magnet.
async fn transmission_seeds(
    t: &Transmission,
    root: &Path,
    name: &str,
    data_seed: u64,
) -> (String, Vec<u8>) {
    let file = t.downloads.join(name);
    let data = random_file(&file, SIZE, data_seed);
    let torrent = root.join("seed.torrent");
    let (_, hash) = create_torrent(&file, &torrent);
    t.remote(&["-a", torrent.to_str().unwrap()])
        .expect("transmission-remote -a");
    t.remote(&["-t", "1", "-v"]);
    within(
        "Transmission checking its copy",
        || t.complete(),
        || t.log(),
    )
    .await;
    (format!("magnet:?xt=urn:btih:{hash}"), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_downloads_from_transmission() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Transmission::start(tmp.path(), 1).await;
    let (magnet, data) = transmission_seeds(&t, tmp.path(), "from transmission.bin", 182).await;
    let node = hearth(&tmp.path().join("hearth")).await;
    let got = hearth_get(&node, &magnet, t.peer_addr());
    same_bytes(&got, &data, "Hearth's copy");
    assert_eq!(t.proc.off_loopback(), Vec::<String>::new());
}

// A client that accepts encrypted connections only (Transmission, "encryption": 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_requires_encryption_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Transmission::start(tmp.path(), 2).await;
    let (magnet, data) = transmission_seeds(&t, tmp.path(), "encrypted.bin", 183).await;
    let node = hearth(&tmp.path().join("hearth")).await;
    let got = hearth_get(&node, &magnet, t.peer_addr());
    same_bytes(&got, &data, "Hearth's copy from an encryption-only seeder");

    let file = tmp.path().join("to the encrypted one.bin");
    let data = random_file(&file, 8 * MIB, 184);
    let (_, magnet) = share(&node, &file);
    let (announce, tr) = tracker(bt_addr(&node).await).await;
    t.remote(&["-a", &format!("{magnet}&tr={}", url_encode(&announce))])
        .expect("transmission-remote -a");
    let done = || {
        t.remote(&["-t", "2", "-i"])
            .is_some_and(|i| i.contains("Percent Done: 100%"))
    };
    within(
        "the encryption-only client downloading from Hearth",
        redialling(&node, &magnet, t.peer_addr(), done),
        || t.remote(&["-t", "2", "-i"]).unwrap_or_default() + &t.proc.log(),
    )
    .await;
    same_bytes(
        &t.downloads.join("to the encrypted one.bin"),
        &data,
        "the encryption-only client's copy",
    );
    tr.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbittorrent_downloads_from_hearth() {
    let tmp = tempfile::tempdir().unwrap();
    let node = hearth(&tmp.path().join("hearth")).await;
    let file = tmp.path().join("to qbittorrent.bin");
    let data = random_file(&file, SIZE, 191);
    let (hash, magnet) = share(&node, &file);
    let (announce, tr) = tracker(bt_addr(&node).await).await;

    let q = QBittorrent::start(tmp.path()).await;
    let link = format!("{magnet}&tr={}", url_encode(&announce));
    q.post("torrents/add", &[("urls", "", link.as_bytes())])
        .await;
    let secs = within_async(
        "qBittorrent downloading from Hearth",
        || q.done(&hash),
        || q.proc.log(),
    )
    .await;
    eprintln!("qBittorrent got 64 MiB from Hearth in {secs:.1} s");
    same_bytes(
        &q.downloads.join("to qbittorrent.bin"),
        &data,
        "qBittorrent's copy",
    );
    assert_eq!(q.proc.off_loopback(), Vec::<String>::new());
    tr.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_downloads_from_qbittorrent() {
    let tmp = tempfile::tempdir().unwrap();
    let q = QBittorrent::start(tmp.path()).await;
    let file = q.downloads.join("from qbittorrent.bin");
    let data = random_file(&file, SIZE, 192);
    let (bytes, hash) = create_torrent(&file, &tmp.path().join("q.torrent"));
    q.post("torrents/add", &[("torrents", "q.torrent", &bytes)])
        .await;
    within_async(
        "qBittorrent checking its copy",
        || q.seeding(&hash),
        || q.proc.log(),
    )
    .await;

    let node = hearth(&tmp.path().join("hearth")).await;
    let got = hearth_get(&node, &format!("magnet:?xt=urn:btih:{hash}"), q.peer_addr());
    same_bytes(&got, &data, "Hearth's copy from qBittorrent");
    assert_eq!(q.proc.off_loopback(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2_downloads_from_hearth() {
    let tmp = tempfile::tempdir().unwrap();
    let node = hearth(&tmp.path().join("hearth")).await;
    let file = tmp.path().join("to aria2.bin");
    let data = random_file(&file, SIZE, 201);
    let (_, magnet) = share(&node, &file);
    let (announce, tr) = tracker(bt_addr(&node).await).await;
    let out = tmp.path().join("aria2-out");
    let mut a = aria2(
        tmp.path(),
        &[
            &format!("--dir={}", out.display()),
            &format!("--bt-tracker={announce}"),
            &format!("--listen-port={}", free_port()),
            "--seed-time=0",
            "--bt-save-metadata=false",
            &magnet,
        ],
        "aria2.log",
    );
    let started = Instant::now();
    let status = loop {
        if let Some(st) = a.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < TRANSFER_LIMIT,
            "aria2 downloading from Hearth: not done within {TRANSFER_LIMIT:?}\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "aria2c failed:\n{}", a.log());
    eprintln!(
        "aria2 got 64 MiB from Hearth in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    same_bytes(&out.join("to aria2.bin"), &data, "aria2's copy");
    tr.abort();
}

// `hearth get MAGNET --peer ADDR` whose peer starts listening 2 s after the get began (the
// first connections are refused): metadata lookups are retried until the get's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_gets_from_a_peer_that_starts_two_seconds_later() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("aria2-seed");
    let file = seed_dir.join("late.bin");
    let data = random_file(&file, SIZE, 202);
    let torrent = tmp.path().join("late.torrent");
    let (_, hash) = create_torrent(&file, &torrent);
    let node = hearth(&tmp.path().join("hearth")).await;
    let port = free_port();
    let peer = SocketAddr::from(([127, 0, 0, 1], port));

    let get = {
        let dir = node.dir.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let out = Command::new("timeout")
                .arg(TRANSFER_LIMIT.as_secs().to_string())
                .arg(kit::HEARTH)
                .arg("--data-dir")
                .arg(&dir)
                .arg("--json")
                .args(["get", &format!("magnet:?xt=urn:btih:{hash}")])
                .args(["--peer", &peer.to_string()])
                .output()
                .unwrap();
            (out, started.elapsed())
        })
    };
    // The scenario itself: the seeder comes up 2 s after the get started.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _seeder = aria2(
        tmp.path(),
        &[
            &format!("--dir={}", seed_dir.display()),
            &format!("--listen-port={port}"),
            "-V",
            "--seed-ratio=0.0",
            torrent.to_str().unwrap(),
        ],
        "aria2-seed.log",
    );
    let (out, took) = tokio::task::spawn_blocking(move || get.join().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "hearth get failed after {took:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "hearth got 64 MiB from a late seeder in {:.1} s",
        took.as_secs_f64()
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    same_bytes(
        Path::new(d["path"].as_str().unwrap()),
        &data,
        "Hearth's copy",
    );
}
