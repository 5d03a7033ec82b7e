//! `make bench` (clients part): Hearth beside the BitTorrent clients people use, in one run,
//! on loopback, with the real binaries from Debian (`tests/clients` drives them).
//!
//! 1. `HEARTH_BENCH_CLIENTS_MIB` (default 1024) of random data seeded by qBittorrent-nox:
//!    a fresh Hearth node downloads it with `hearth get MAGNET --peer ADDR`, and a fresh
//!    second qBittorrent downloads it from the same magnet (libtorrent to libtorrent, the
//!    seeder named by a tracker on 127.0.0.1), and a third qBittorrent with uTP off (TCP
//!    only). `HEARTH_BENCH_CLIENTS_TRIALS` (default 3) interleaved trials each. All are
//!    timed from the request (the `hearth get` process started; the magnet added through
//!    the Web API) until the download is complete (Hearth: `get` exited with the file;
//!    qBittorrent: progress 1), polled every 20 ms; first byte is the first poll that shows
//!    downloaded bytes (Hearth's `have_bytes`, qBittorrent's `downloaded`).
//! 2. Time to first byte and to the whole of 64 MiB when each client seeds (Transmission 3,
//!    qBittorrent-nox, aria2): Hearth downloading, and beside it a fresh qBittorrent
//!    downloading from the same seeder.
//!
//! Each client keeps its defaults except what would reach beyond this machine (DHT, local
//! peer discovery, peer exchange, port forwarding: off). Prints a Markdown table.

#[allow(dead_code)] // the benchmark uses some of the drivers the tests use
#[path = "../tests/clients/mod.rs"]
mod clients;
#[path = "../tests/kit/mod.rs"]
mod kit;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clients::{aria2, create_torrent, free_port, tracker, url_encode, QBittorrent, Transmission};
use kit::{percentile, random_file, Launch, TestNode};

const MIB: usize = 1 << 20;
/// How long one transfer may take before the benchmark gives up on it.
const LIMIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(20);
/// A Hearth node that neither offers nor accepts encryption: what MSE's RC4 costs.
const PLAIN: &str = "bt_encryption = \"off\"\n";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One download: seconds to the first byte and to the end.
#[derive(Debug, Clone, Copy)]
struct Timing {
    first_byte: f64,
    total: f64,
}

/// A fresh Hearth node with `config` (hearth.toml) gets `hash` from `peer` with `hearth get`.
async fn hearth_gets(
    root: &Path,
    tag: &str,
    hash: &str,
    peer: SocketAddr,
    config: &str,
) -> Option<Timing> {
    let dir = root.join(format!("hearth-{tag}"));
    let node: TestNode = Launch::quiet(&dir).config(config).start().await;
    let started = Instant::now();
    let mut get: Child = Command::new(kit::HEARTH)
        .arg("--data-dir")
        .arg(&node.dir)
        .arg("--json")
        .args(["get", &format!("magnet:?xt=urn:btih:{hash}")])
        .args(["--peer", &peer.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hearth get");
    let mut first_byte = None;
    let result = loop {
        if first_byte.is_none()
            && kit::download(&node, hash)
                .await
                .is_some_and(|d| d.have_bytes > 0)
        {
            first_byte = Some(started.elapsed().as_secs_f64());
        }
        if let Some(status) = get.try_wait().unwrap() {
            let total = started.elapsed().as_secs_f64();
            if !status.success() {
                let out = get.wait_with_output().unwrap();
                eprintln!(
                    "hearth get {tag} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                break None;
            }
            break Some(Timing {
                first_byte: first_byte.unwrap_or(total),
                total,
            });
        }
        if started.elapsed() > LIMIT {
            let _ = get.kill();
            let _ = get.wait();
            eprintln!("hearth get {tag}: not done within {LIMIT:?}");
            break None;
        }
        tokio::time::sleep(POLL).await;
    };
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// qBittorrent's `downloaded` bytes and progress of `hash`.
async fn qb_state(q: &QBittorrent, hash: &str) -> (u64, f64) {
    let info = q
        .get(&format!("torrents/info?hashes={hash}"))
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&info).unwrap_or_default();
    (
        v[0]["downloaded"].as_u64().unwrap_or(0),
        v[0]["progress"].as_f64().unwrap_or(0.0),
    )
}

/// Which transports a downloading qBittorrent may use.
#[derive(Clone, Copy, PartialEq)]
enum Transports {
    /// Its defaults: uTP first, then TCP.
    Default,
    /// uTP off.
    TcpOnly,
}

/// A fresh qBittorrent gets `hash` from `peer`, which a tracker on 127.0.0.1 names.
async fn qbittorrent_gets(
    root: &Path,
    tag: &str,
    hash: &str,
    peer: SocketAddr,
    transports: Transports,
) -> Option<Timing> {
    let dir = root.join(format!("qb-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let q = QBittorrent::start(&dir).await;
    if transports == Transports::TcpOnly {
        q.tcp_only().await;
    }
    let (announce, tr) = tracker(peer).await;
    let link = format!("magnet:?xt=urn:btih:{hash}&tr={}", url_encode(&announce));
    let started = Instant::now();
    q.post("torrents/add", &[("urls", "", link.as_bytes())])
        .await;
    let mut first_byte = None;
    let result = loop {
        let (downloaded, progress) = qb_state(&q, hash).await;
        if first_byte.is_none() && downloaded > 0 {
            first_byte = Some(started.elapsed().as_secs_f64());
        }
        if progress >= 1.0 {
            let total = started.elapsed().as_secs_f64();
            break Some(Timing {
                first_byte: first_byte.unwrap_or(total),
                total,
            });
        }
        if started.elapsed() > LIMIT {
            eprintln!("qBittorrent {tag}: not done within {LIMIT:?}");
            break None;
        }
        tokio::time::sleep(POLL).await;
    };
    tr.abort();
    drop(q);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `root/seed-*`'s qBittorrent seeding a new file of `size` bytes; returns its info hash.
async fn qb_seeds(q: &QBittorrent, root: &Path, name: &str, size: usize, seed: u64) -> String {
    let file = q.downloads.join(name);
    random_file(&file, size, seed);
    let (bytes, hash) = create_torrent(&file, &root.join(format!("{name}.torrent")));
    q.post("torrents/add", &[("torrents", "t.torrent", &bytes)])
        .await;
    let started = Instant::now();
    while !q.seeding(&hash).await {
        assert!(
            started.elapsed() < LIMIT,
            "qBittorrent never seeded {name}:\n{}",
            q.proc.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    hash
}

fn mbs(bytes: usize, t: &Timing) -> f64 {
    bytes as f64 / 1e6 / t.total
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    percentile(&mut v, 0.5)
}

fn cell(t: Option<Timing>, bytes: usize) -> String {
    match t {
        Some(t) => format!(
            "first byte {:.2} s, all {:.1} s ({:.0} MB/s)",
            t.first_byte,
            t.total,
            mbs(bytes, &t)
        ),
        None => "failed".into(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let size = env_usize("HEARTH_BENCH_CLIENTS_MIB", 1024) * MIB;
    let trials = env_usize("HEARTH_BENCH_CLIENTS_TRIALS", 3);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // 1. The large file from qBittorrent: Hearth against libtorrent itself.
    let seed_root = root.join("seed");
    std::fs::create_dir_all(&seed_root).unwrap();
    let seeder = QBittorrent::start(&seed_root).await;
    eprintln!("qBittorrent checks {} MiB…", size / MIB);
    let big = qb_seeds(&seeder, &seed_root, "big.bin", size, 301).await;
    let (mut hearth_runs, mut plain_runs) = (Vec::new(), Vec::new());
    let (mut qb_runs, mut qb_tcp_runs) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let at = seeder.peer_addr();
        let h = hearth_gets(root, &format!("big{trial}"), &big, at, "").await;
        eprintln!("trial {trial}: Hearth {h:?}");
        let hp = hearth_gets(root, &format!("plain{trial}"), &big, at, PLAIN).await;
        eprintln!("trial {trial}: Hearth, encryption off {hp:?}");
        let q = qbittorrent_gets(root, &format!("big{trial}"), &big, at, Transports::Default).await;
        eprintln!("trial {trial}: qBittorrent {q:?}");
        let qt =
            qbittorrent_gets(root, &format!("tcp{trial}"), &big, at, Transports::TcpOnly).await;
        eprintln!("trial {trial}: qBittorrent, TCP only {qt:?}");
        hearth_runs.extend(h);
        plain_runs.extend(hp);
        qb_runs.extend(q);
        qb_tcp_runs.extend(qt);
    }

    // 2. First byte from each client, 64 MiB.
    let small = 64 * MIB;
    let mut per_client = Vec::new();
    let qb_small = qb_seeds(&seeder, &seed_root, "small.bin", small, 302).await;
    per_client.push((
        "qBittorrent-nox 4.5",
        hearth_gets(root, "from-qb", &qb_small, seeder.peer_addr(), "").await,
        qbittorrent_gets(
            root,
            "from-qb",
            &qb_small,
            seeder.peer_addr(),
            Transports::Default,
        )
        .await,
    ));
    drop(seeder);

    let t_root = root.join("transmission");
    std::fs::create_dir_all(&t_root).unwrap();
    let t = Transmission::start(&t_root, 1).await;
    let file = t.downloads.join("from transmission.bin");
    random_file(&file, small, 303);
    let torrent = t_root.join("t.torrent");
    let (_, t_hash) = create_torrent(&file, &torrent);
    t.remote(&["-a", torrent.to_str().unwrap()])
        .expect("transmission-remote -a");
    t.remote(&["-t", "1", "-v"]);
    let started = Instant::now();
    while !t.complete() {
        assert!(started.elapsed() < LIMIT, "Transmission never seeded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    per_client.push((
        "Transmission 3.00",
        hearth_gets(root, "from-tr", &t_hash, t.peer_addr(), "").await,
        qbittorrent_gets(root, "from-tr", &t_hash, t.peer_addr(), Transports::Default).await,
    ));
    drop(t);

    let a_root = root.join("aria2-seed");
    let file = a_root.join("from aria2.bin");
    random_file(&file, small, 304);
    let torrent = root.join("a.torrent");
    let (_, a_hash) = create_torrent(&file, &torrent);
    let port = free_port();
    let _aria2 = aria2(
        root,
        &[
            &format!("--dir={}", a_root.display()),
            &format!("--listen-port={port}"),
            "-V",
            "--seed-ratio=0.0",
            torrent.to_str().unwrap(),
        ],
        "aria2-seed.log",
    );
    let aria2_addr = SocketAddr::from(([127, 0, 0, 1], port));
    per_client.push((
        "aria2 1.36",
        hearth_gets(root, "from-aria2", &a_hash, aria2_addr, "").await,
        qbittorrent_gets(root, "from-aria2", &a_hash, aria2_addr, Transports::Default).await,
    ));

    // The table.
    let rows = [
        (
            "Hearth (defaults: MSE, RC4 when the seeder picks it)",
            &hearth_runs,
        ),
        ("Hearth, `bt_encryption = \"off\"`", &plain_runs),
        ("qBittorrent (libtorrent), defaults: uTP first", &qb_runs),
        ("qBittorrent (libtorrent), uTP off", &qb_tcp_runs),
    ];
    println!(
        "machine: {} cores; {} MiB seeded by qBittorrent-nox; medians of {} trials each",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        size / MIB,
        trials,
    );
    println!();
    println!("| downloader | completed | from the request | from the first byte on | first byte |");
    println!("|---|---|---|---|---|");
    let mut medians = Vec::new();
    for (name, runs) in rows {
        let from_request: Vec<f64> = runs.iter().map(|t| mbs(size, t)).collect();
        let from_first: Vec<f64> = runs
            .iter()
            .map(|t| size as f64 / 1e6 / (t.total - t.first_byte).max(1e-3))
            .collect();
        let first: Vec<f64> = runs.iter().map(|t| t.first_byte).collect();
        if runs.is_empty() {
            println!("| {name} | 0 of {trials} | | | |");
            medians.push(None);
            continue;
        }
        let m = median(&from_request);
        println!(
            "| {name} | {} of {trials} | {m:.0} MB/s | {:.0} MB/s | {:.2} s |",
            runs.len(),
            median(&from_first),
            median(&first)
        );
        medians.push(Some(m));
    }
    if let [Some(h), _, Some(q), Some(qt)] = medians[..] {
        println!();
        println!(
            "Goal Hearth ≥ 1.0× libtorrent, from the request: {:.2}× qBittorrent's defaults, \
             {:.2}× with its uTP off.",
            h / q,
            h / qt
        );
    }
    println!();
    println!("| 64 MiB, each client seeding | Hearth | qBittorrent, defaults (same seeder) |");
    println!("|---|---|---|");
    for (client, h, q) in &per_client {
        println!(
            "| from {client} | {} | {} |",
            cell(*h, small),
            cell(*q, small)
        );
    }
}
