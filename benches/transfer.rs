//! `make bench` (transfer part): throughput and swarm behaviour of real `hearth run`
//! processes on loopback, each beside baselines measured in the same run. It is longer than
//! 1,200 lines because each scenario keeps its baseline (stock librqbit, aria2, iperf3)
//! beside it, so a figure and what it is compared with are read in one place.
//!
//! 1. One seeder -> one downloader, `HEARTH_BENCH_TRANSFER_MIB` (default 1024) of random data:
//!    node A publishes the file, a fresh node B (one per trial) bootstraps from A and waits
//!    until its search shows the resource available; the time runs from `POST /api/downloads`
//!    until B's `GET /api/downloads` says `complete` (polled every 20 ms). Beside it:
//!    - stock librqbit 9.1 (the engine of the `rqbit` CLI): default `SessionOptions` except no
//!      DHT, no persistence, no local service discovery and a TCP listener on 127.0.0.1; the
//!      torrent is made by `librqbit::create_torrent` (its default 2 MiB pieces, and again
//!      with Hearth's piece length to separate that effect); one process seeds, a fresh
//!      process downloads with the seeder as initial peer; timed from the add command until
//!      its stats say finished (polled every 20 ms). Each librqbit session runs in its own
//!      process, like the Hearth nodes: `benches/rqbit-stock`, a separate crate linking the
//!      registry's librqbit 9.1.0 (Hearth links its patched copy in `vendor/librqbit`), built
//!      by `scripts/bench.sh` and passed as `HEARTH_BENCH_RQBIT_STOCK` (built here if unset);
//!    - iperf3, one TCP stream on loopback, 1 GiB.
//!
//!    `HEARTH_BENCH_TRANSFER_TRIALS` (default 5) interleaved trials; best and median, and the
//!    CPU time the seeder and the downloader used (from /proc/PID/stat).
//! 2. One seeder + three downloaders starting together, `HEARTH_BENCH_SWARM_MIB` (default 512),
//!    once with the seeder's upload unlimited and once capped at `HEARTH_BENCH_SWARM_CAP_MBS`
//!    (default 100 MB/s; 0 skips it), the same cap for Hearth (`bt_upload_limit_bps` in the
//!    seeder's hearth.toml) and librqbit (`SessionOptions::ratelimits`). Seeder share = bytes
//!    the seeder sent / bytes all downloaders received (= seeder sent + what the downloaders
//!    sent each other, their `uploaded_bytes`). Hearth exposes no upload counter for a
//!    published file, so its seeder's bytes are read from the kernel: `bytes_acked` of the
//!    seeder's BitTorrent TCP sockets (`ss -tin`, plus `ss -E` for sockets closed during the
//!    run); the estimate 3 x size - sum(downloaders' uploaded_bytes) is reported beside it.
//!    Baseline: the same topology in stock librqbit processes, every downloader given the
//!    seeder and the other two as initial peers; share from librqbit's own `uploaded_bytes`
//!    (the kernel count beside it as a cross-check of the method).
//!
//! Needs `iperf3`, `ss` and `stdbuf` (`scripts/setup.sh --bench`). Writes
//! `bench-results/transfer.json` and prints a Markdown table.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "../tests/kit/mod.rs"]
mod kit;

use hearth::api::dto::{
    Download, DownloadRequest, DownloadState, PublishRequest, Resource, SearchRequest, Status,
};
use kit::{quiet_node, TestNode};

const MIB: u64 = 1 << 20;
/// Poll interval for completion, for Hearth and for librqbit alike.
const POLL: Duration = Duration::from_millis(20);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

/// `size` bytes from a xorshift64* generator (incompressible, nothing like a zero page).
fn write_random_file(path: &Path, size: u64, seed: u64) {
    let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(path).unwrap());
    let mut x = seed | 1;
    let mut buf = vec![0u8; 4 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.into_inner().unwrap().sync_all().unwrap();
}

fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0 / 1024.0);
    let out = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "Machine: {cores} cores, {mem_gib:.0} GiB, {}; date {}. Loopback only.",
        out("uname", &["-sr"]),
        out("date", &["-u", "+%F"])
    )
}

// ----- Hearth nodes -----

fn client(p: &TestNode) -> &hearth::server::client::Client {
    &p.client
}

async fn status(p: &TestNode) -> Status {
    client(p).status().await.expect("GET /api/status")
}

async fn wait_available(p: &TestNode, title: &str, content_id: &str, timeout: Duration) {
    let t = Instant::now();
    loop {
        let req = SearchRequest {
            text: title.to_owned(),
            ..Default::default()
        };
        if let Ok(r) = client(p).search(&req).await {
            if r.items
                .iter()
                .any(|i| i.content_id == content_id && i.available)
            {
                return;
            }
        }
        assert!(
            t.elapsed() < timeout,
            "the downloader's search did not show {title:?} ({content_id}) available within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(p: &TestNode, path: &Path, title: &str) -> Resource {
    let req = PublishRequest {
        path: path.display().to_string(),
        title: Some(title.to_owned()),
        ..Default::default()
    };
    client(p)
        .publish(&req)
        .await
        .unwrap_or_else(|e| panic!("publish {}: {e}", path.display()))
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Timing {
    /// From the start command until the download was accepted (Hearth: POST returned).
    accepted_s: f64,
    /// Until the first verified bytes were reported.
    first_byte_s: f64,
    /// Until complete.
    done_s: f64,
}

/// Starts the download of `content_id` on every node at once, polls `GET /api/downloads`
/// every 20 ms until all are complete, and returns each one's timing and final view.
async fn hearth_downloads(
    nodes: &[&TestNode],
    content_id: &str,
    timeout: Duration,
) -> Vec<(Timing, Download)> {
    let t0 = Instant::now();
    let posts = nodes.iter().map(|n| async move {
        let req = DownloadRequest {
            content_id: Some(content_id.to_owned()),
            ..Default::default()
        };
        let d: Download = client(n)
            .start_download(&req)
            .await
            .unwrap_or_else(|e| panic!("POST /api/downloads: {e}"));
        (t0.elapsed().as_secs_f64(), d)
    });
    let accepted: Vec<f64> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let mut first: Vec<Option<f64>> = vec![None; nodes.len()];
    let mut done: Vec<Option<(f64, Download)>> = vec![None; nodes.len()];
    while done.iter().any(Option::is_none) {
        let polls = nodes.iter().enumerate().map(|(i, n)| async move {
            let list: Vec<Download> = client(n)
                .list_downloads()
                .await
                .unwrap_or_else(|e| panic!("GET /api/downloads: {e}"));
            (i, t0.elapsed().as_secs_f64(), list)
        });
        for (i, t, list) in futures::future::join_all(polls).await {
            if done[i].is_some() {
                continue;
            }
            let Some(d) = list.into_iter().find(|d| d.content_id == content_id) else {
                continue;
            };
            assert!(
                d.state != DownloadState::Failed,
                "download on node {i} failed: {:?}",
                d.error
            );
            if first[i].is_none() && d.have_bytes > 0 {
                first[i] = Some(t);
            }
            if d.state == DownloadState::Complete {
                done[i] = Some((t, d));
            }
        }
        assert!(
            t0.elapsed() < timeout,
            "Hearth downloads not complete within {timeout:?}: {:?}",
            done.iter().map(Option::is_some).collect::<Vec<_>>()
        );
        tokio::time::sleep(POLL).await;
    }
    done.into_iter()
        .zip(first)
        .zip(accepted)
        .map(|((d, f), a)| {
            let (t, d) = d.unwrap();
            let timing = Timing {
                accepted_s: a,
                first_byte_s: f.unwrap_or(t),
                done_s: t,
            };
            (timing, d)
        })
        .collect()
}

// ----- stock librqbit, one session per process -----

struct Rqbit {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Drop for Rqbit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stock librqbit binary (`benches/rqbit-stock`): `HEARTH_BENCH_RQBIT_STOCK`, else built
/// now the way `scripts/bench.sh` builds it.
fn rqbit_stock() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HEARTH_BENCH_RQBIT_STOCK") {
            return PathBuf::from(p);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("rqbit-stock");
        eprintln!("building the stock librqbit baseline (benches/rqbit-stock)…");
        let ok = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(root.join("benches/rqbit-stock/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "building benches/rqbit-stock failed");
        target.join("release/rqbit-stock")
    })
}

impl Rqbit {
    fn spawn(upload_limit_bps: Option<u32>) -> Self {
        let mut child = Command::new(rqbit_stock())
            .arg("node")
            .args(upload_limit_bps.map(|b| b.to_string()))
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn librqbit node");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut me = Rqbit {
            child,
            stdin,
            stdout,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let line = me.line();
        me.addr = line
            .strip_prefix("listen ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("librqbit node said {line:?}"));
        me
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self.stdout.read_line(&mut s).expect("librqbit node stdout");
        assert!(n > 0, "the librqbit node exited");
        s.trim().to_owned()
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("librqbit node stdin");
        self.stdin.flush().unwrap();
    }

    fn seed(&mut self, torrent: &Path, folder: &Path) {
        self.send(&format!("seed {} {}", torrent.display(), folder.display()));
        let l = self.line();
        assert_eq!(l, "ready", "librqbit seeder");
    }

    fn get(&mut self, torrent: &Path, folder: &Path, peers: &[SocketAddr]) {
        let peers: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        self.send(&format!(
            "get {} {} {}",
            torrent.display(),
            folder.display(),
            peers.join(",")
        ));
    }

    /// Blocks until the `get` finished; (first byte, finished) as unix nanoseconds.
    fn wait_done(&mut self) -> (u128, u128) {
        let l = self.line();
        let w: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(w.first(), Some(&"done"), "librqbit node said {l:?}");
        (w[1].parse().unwrap(), w[2].parse().unwrap())
    }

    /// (uploaded bytes, have bytes, finished, live peers)
    fn stats(&mut self) -> (u64, u64, bool, u32) {
        self.send("stats");
        let l = self.line();
        let w: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(w.first(), Some(&"stats"), "librqbit node said {l:?}");
        (
            w[1].parse().unwrap(),
            w[2].parse().unwrap(),
            w[3] == "true",
            w[4].parse().unwrap(),
        )
    }
}

/// Runs `get` on every downloader at once (blocking; call from `spawn_blocking`), waits for
/// all, and returns each one's timing relative to the moment the commands were sent.
fn rqbit_downloads(
    downloaders: &mut [Rqbit],
    torrent: &Path,
    folders: &[PathBuf],
    peers: &[Vec<SocketAddr>],
    timeout: Duration,
) -> Vec<Timing> {
    let t0 = now_ns();
    for ((d, f), p) in downloaders.iter_mut().zip(folders).zip(peers) {
        d.get(torrent, f, p);
    }
    let accepted = (now_ns() - t0) as f64 / 1e9;
    // Watchdog: a stuck download kills the children so the blocking reads below fail.
    let pids: Vec<u32> = downloaders.iter().map(|d| d.child.id()).collect();
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            while t.elapsed() < timeout {
                if finished.load(std::sync::atomic::Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            for pid in pids {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
            true
        })
    };
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        downloaders
            .iter_mut()
            .map(|d| d.wait_done())
            .collect::<Vec<_>>()
    }));
    finished.store(true, std::sync::atomic::Ordering::Relaxed);
    let timed_out = watchdog.join().unwrap();
    assert!(
        !timed_out,
        "librqbit downloads not complete within {timeout:?}"
    );
    let res = res.unwrap_or_else(|e| std::panic::resume_unwind(e));
    res.into_iter()
        .map(|(first, done)| Timing {
            accepted_s: accepted,
            first_byte_s: first.saturating_sub(t0) as f64 / 1e9,
            done_s: done.saturating_sub(t0) as f64 / 1e9,
        })
        .collect()
}

/// Stock `librqbit::create_torrent` with its defaults (2 MiB pieces) unless `piece_length` is
/// given (`rqbit-stock create`).
async fn rqbit_create_torrent(file: &Path, out: &Path, piece_length: Option<u32>) {
    let (file, out) = (file.to_owned(), out.to_owned());
    blocking(move || {
        let st = Command::new(rqbit_stock())
            .arg("create")
            .arg(&file)
            .arg(&out)
            .args(piece_length.map(|p| p.to_string()))
            .stdout(Stdio::null())
            .status()
            .expect("run rqbit-stock create");
        assert!(st.success(), "rqbit-stock create {}", file.display());
    })
    .await
}

// ----- kernel byte counts (ss) -----

#[derive(Debug, Clone)]
struct Sock {
    local: String,
    peer: String,
    pid: Option<u32>,
    acked: u64,
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit(':').next()?.parse().ok()
}

fn parse_ss_state(line: &str) -> Option<Sock> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 5 {
        return None;
    }
    let pid = line
        .split("pid=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok());
    Some(Sock {
        local: f[3].to_owned(),
        peer: f[4].to_owned(),
        pid,
        acked: 0,
    })
}

fn parse_ss_info(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("bytes_acked:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn parse_ss(text: &str) -> Vec<Sock> {
    let mut out: Vec<Sock> = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = out.last_mut() {
                last.acked = parse_ss_info(line);
            }
        } else if let Some(s) = parse_ss_state(line) {
            out.push(s);
        }
    }
    out
}

/// Every TCP socket now, with owner and `bytes_acked`.
fn ss_snapshot() -> Vec<Sock> {
    let out = Command::new("ss")
        .args(["-tinpH"])
        .output()
        .expect("run ss (iproute2)");
    parse_ss(&String::from_utf8_lossy(&out.stdout))
}

/// `ss -E`: the final figures of every TCP socket closed while it runs.
struct SsEvents {
    child: Child,
    closed: Arc<Mutex<Vec<Sock>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl SsEvents {
    fn start() -> Self {
        let mut child = Command::new("stdbuf")
            .args(["-oL", "ss", "-tinHE"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run stdbuf ss -E");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let closed: Arc<Mutex<Vec<Sock>>> = Default::default();
        let sink = closed.clone();
        let reader = std::thread::spawn(move || {
            let mut pending: Option<Sock> = None;
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if line.starts_with(char::is_whitespace) {
                    if let Some(mut s) = pending.take() {
                        s.acked = parse_ss_info(&line);
                        sink.lock().unwrap().push(s);
                    }
                } else {
                    pending = parse_ss_state(&line);
                }
            }
        });
        // Let ss subscribe before anything it must see happens.
        std::thread::sleep(Duration::from_millis(300));
        SsEvents {
            child,
            closed,
            reader: Some(reader),
        }
    }

    fn stop(mut self) -> Vec<Sock> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.closed.lock().unwrap().clone()
    }
}

impl Drop for SsEvents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts what one process sent over its BitTorrent connections during a run: sockets on
/// 127.0.0.1:`bt_port` (accepted), plus sockets it owns towards `peer_ports` (dialled), as
/// seen by periodic snapshots. Bytes of sockets that existed before the run are subtracted.
struct SentCounter {
    bt_port: u16,
    pid: u32,
    peer_ports: HashSet<u16>,
    before: HashMap<(String, String), u64>,
    seen: HashMap<(String, String), u64>,
    dialled: HashSet<(String, String)>,
    events: Option<SsEvents>,
}

impl SentCounter {
    fn start(pid: u32, bt_port: u16, peer_ports: &[u16]) -> Self {
        let mut me = SentCounter {
            bt_port,
            pid,
            peer_ports: peer_ports.iter().copied().collect(),
            before: HashMap::new(),
            seen: HashMap::new(),
            dialled: HashSet::new(),
            events: Some(SsEvents::start()),
        };
        for s in ss_snapshot() {
            if me.matches(&s) {
                me.before.insert((s.local, s.peer), s.acked);
            }
        }
        me
    }

    fn accepted(&self, s: &Sock) -> bool {
        s.local == format!("127.0.0.1:{}", self.bt_port) && port_of(&s.peer).is_some()
    }

    fn matches(&self, s: &Sock) -> bool {
        self.accepted(s)
            || (s.pid == Some(self.pid)
                && port_of(&s.peer).is_some_and(|p| self.peer_ports.contains(&p)))
            || self.dialled.contains(&(s.local.clone(), s.peer.clone()))
    }

    fn observe(&mut self, socks: Vec<Sock>) {
        for s in socks {
            if !self.matches(&s) {
                continue;
            }
            if !self.accepted(&s) {
                self.dialled.insert((s.local.clone(), s.peer.clone()));
            }
            let e = self.seen.entry((s.local, s.peer)).or_insert(0);
            *e = (*e).max(s.acked);
        }
    }

    fn sample(&mut self) {
        self.observe(ss_snapshot());
    }

    /// (bytes sent, connections accepted, connections dialled)
    fn finish(mut self) -> (u64, usize, usize) {
        self.sample();
        let closed = self.events.take().unwrap().stop();
        self.observe(closed);
        let mut sent = 0;
        let (mut acc, mut dial) = (0, 0);
        for (k, v) in &self.seen {
            sent += v.saturating_sub(*self.before.get(k).unwrap_or(&0));
            if self.dialled.contains(k) {
                dial += 1;
            } else {
                acc += 1;
            }
        }
        (sent, acc, dial)
    }
}

/// Samples `counter` every `every` until `stop` is set, on a blocking thread.
fn sample_until(
    counter: SentCounter,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<SentCounter> {
    std::thread::spawn(move || {
        let mut c = counter;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            c.sample();
            std::thread::sleep(every);
        }
        c
    })
}

// ----- iperf3 -----

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One single-stream TCP test of 1 GiB on loopback; bytes per second received.
fn iperf3() -> f64 {
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let port = free_port().to_string();
    let _server = Kill(
        Command::new("iperf3")
            .args(["-s", "-1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 is missing: run scripts/setup.sh --bench (apt-get install iperf3)"),
    );
    let t = Instant::now();
    loop {
        let out = Command::new("iperf3")
            .args(["-c", "127.0.0.1", "-p", &port, "-n", "1G", "-J"])
            .output()
            .expect("run iperf3 client");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
            return bps / 8.0;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "iperf3 failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ----- CPU -----

/// User + system CPU seconds a process has used so far (all its threads).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

/// Hearth's piece length for `total` bytes (src/transfer/meta.rs `choose_piece_length`):
/// 256 KiB, doubled until there are at most 2048 pieces, at most 16 MiB.
fn hearth_piece_length(total: u64) -> u32 {
    let mut pl: u64 = 256 << 10;
    while total.div_ceil(pl) > 2048 && pl < (16 << 20) {
        pl *= 2;
    }
    pl as u32
}

#[derive(Debug, Clone, serde::Serialize)]
struct OneToOne {
    timing: Timing,
    mb_s: f64,
    /// From the first verified bytes to complete: the rate without the start-up delay.
    after_first_byte_mb_s: f64,
    /// CPU seconds used during the transfer.
    cpu_seeder_s: f64,
    cpu_downloader_s: f64,
}

impl OneToOne {
    fn new(size: u64, timing: Timing, cpu_seeder_s: f64, cpu_downloader_s: f64) -> Self {
        OneToOne {
            timing,
            mb_s: mb_s(size, timing.done_s),
            after_first_byte_mb_s: mb_s(size, timing.done_s - timing.first_byte_s),
            cpu_seeder_s,
            cpu_downloader_s,
        }
    }
}

fn summary(runs: &[OneToOne]) -> serde_json::Value {
    let v: Vec<f64> = runs.iter().map(|r| r.mb_s).collect();
    let w: Vec<f64> = runs.iter().map(|r| r.after_first_byte_mb_s).collect();
    serde_json::json!({"best_mb_s": max(&v), "median_mb_s": median(&v), "after_first_byte_median_mb_s": median(&w), "runs": runs})
}

#[derive(Debug, Clone, serde::Serialize)]
struct Swarm {
    upload_cap_bps: Option<u32>,
    done_secs: Vec<f64>,
    first_byte_secs: Vec<f64>,
    /// Kernel count: `bytes_acked` of the seeder's BitTorrent sockets.
    seeder_sent_kernel: u64,
    /// The engine's own counter, where it can be read (librqbit: yes; Hearth: not exposed).
    seeder_uploaded: Option<u64>,
    seeder_connections_accepted: usize,
    seeder_connections_dialled: usize,
    downloaders_uploaded: Vec<u64>,
    /// Live peers of each downloader when all were complete.
    downloaders_peers: Vec<u32>,
    seeder_share: f64,
    seeder_share_kernel: f64,
    /// (3 x size - sum of downloaders' uploaded) / (3 x size)
    seeder_share_estimate: f64,
}

impl Swarm {
    #[allow(clippy::too_many_arguments)]
    fn new(
        size: u64,
        cap: Option<u32>,
        done_secs: Vec<f64>,
        first_byte_secs: Vec<f64>,
        kernel: (u64, usize, usize),
        seeder_uploaded: Option<u64>,
        downloaders_uploaded: Vec<u64>,
        downloaders_peers: Vec<u32>,
    ) -> Self {
        let up: u64 = downloaders_uploaded.iter().sum();
        let share = |sent: u64| sent as f64 / (sent + up) as f64;
        let n = downloaders_uploaded.len() as u64;
        Swarm {
            upload_cap_bps: cap,
            done_secs,
            first_byte_secs,
            seeder_sent_kernel: kernel.0,
            seeder_uploaded,
            seeder_connections_accepted: kernel.1,
            seeder_connections_dialled: kernel.2,
            seeder_share: share(seeder_uploaded.unwrap_or(kernel.0)),
            seeder_share_kernel: share(kernel.0),
            seeder_share_estimate: (n * size).saturating_sub(up) as f64 / (n * size) as f64,
            downloaders_uploaded,
            downloaders_peers,
        }
    }
}

/// One Hearth seeder (upload capped at `cap` bytes/s if given) and three fresh downloaders
/// that all start at once.
async fn hearth_swarm(
    root: &Path,
    tag: &str,
    file: &Path,
    size: u64,
    cap: Option<u32>,
    timeout: Duration,
) -> Swarm {
    let sdir = root.join(format!("{tag}-s"));
    std::fs::create_dir_all(&sdir).unwrap();
    if let Some(bps) = cap {
        std::fs::write(
            sdir.join("hearth.toml"),
            format!("bt_upload_limit_bps = {bps}\n"),
        )
        .unwrap();
    }
    let s = quiet_node(&sdir, &[]).await;
    let title = format!("benchtransfer {tag}");
    let res = publish(&s, file, &title).await;
    let mut ds: Vec<TestNode> = Vec::new();
    for i in 0..3 {
        let boot = vec![s.addr.clone()];
        ds.push(quiet_node(&root.join(format!("{tag}-d{i}")), &boot).await);
    }
    for d in &ds {
        wait_available(d, &title, &res.content_id, Duration::from_secs(60)).await;
    }
    let s_bt = status(&s).await.bt_port;
    let mut d_bt = Vec::new();
    for d in &ds {
        d_bt.push(status(d).await.bt_port);
    }
    let counter = blocking({
        let pid = s.child.id();
        move || SentCounter::start(pid, s_bt, &d_bt)
    })
    .await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_until(counter, Duration::from_millis(500), stop.clone());
    let refs: Vec<&TestNode> = ds.iter().collect();
    let results = hearth_downloads(&refs, &res.content_id, timeout).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let counter = sampler.join().unwrap();
    let kernel = blocking(move || counter.finish()).await;
    let (mut up, mut peers) = (Vec::new(), Vec::new());
    for d in &ds {
        let list: Vec<Download> = client(d).list_downloads().await.unwrap();
        let dl = list
            .into_iter()
            .find(|x| x.content_id == res.content_id)
            .unwrap();
        assert_eq!(dl.have_bytes, size, "Hearth downloader incomplete");
        up.push(dl.uploaded_bytes);
        peers.push(dl.peers);
    }
    drop(ds);
    drop(s);
    for i in 0..3 {
        let _ = std::fs::remove_dir_all(root.join(format!("{tag}-d{i}")));
    }
    let _ = std::fs::remove_dir_all(&sdir);
    Swarm::new(
        size,
        cap,
        results.iter().map(|(t, _)| t.done_s).collect(),
        results.iter().map(|(t, _)| t.first_byte_s).collect(),
        kernel,
        None,
        up,
        peers,
    )
}

/// The same topology in stock librqbit processes; every downloader is given the seeder and
/// the other two downloaders as initial peers. Blocking.
fn stock_swarm(
    root: &Path,
    tag: &str,
    torrent: &Path,
    src_dir: &Path,
    size: u64,
    cap: Option<u32>,
    timeout: Duration,
) -> Swarm {
    let mut seed = Rqbit::spawn(cap);
    seed.seed(torrent, src_dir);
    let mut ds: Vec<Rqbit> = (0..3).map(|_| Rqbit::spawn(None)).collect();
    let addrs: Vec<SocketAddr> = ds.iter().map(|d| d.addr).collect();
    let peers: Vec<Vec<SocketAddr>> = (0..3)
        .map(|i| {
            std::iter::once(seed.addr)
                .chain(
                    addrs
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, a)| *a),
                )
                .collect()
        })
        .collect();
    let folders: Vec<PathBuf> = (0..3)
        .map(|i| {
            let f = root.join(format!("{tag}-d{i}"));
            std::fs::create_dir_all(&f).unwrap();
            f
        })
        .collect();
    let d_ports: Vec<u16> = addrs.iter().map(|a| a.port()).collect();
    let counter = SentCounter::start(seed.child.id(), seed.addr.port(), &d_ports);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_until(counter, Duration::from_millis(500), stop.clone());
    let t = rqbit_downloads(&mut ds, torrent, &folders, &peers, timeout);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kernel = sampler.join().unwrap().finish();
    let (seeder_up, _, _, _) = seed.stats();
    let (mut up, mut live) = (Vec::new(), Vec::new());
    for d in ds.iter_mut() {
        let (u, have, fin, l) = d.stats();
        assert!(fin && have == size, "librqbit downloader incomplete");
        up.push(u);
        live.push(l);
    }
    drop(ds);
    for f in &folders {
        let _ = std::fs::remove_dir_all(f);
    }
    Swarm::new(
        size,
        cap,
        t.iter().map(|t| t.done_s).collect(),
        t.iter().map(|t| t.first_byte_s).collect(),
        kernel,
        Some(seeder_up),
        up,
        live,
    )
}

// ----- the run -----

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn size_label(size: u64) -> String {
    if size.is_multiple_of(1 << 30) {
        format!("{} GiB", size >> 30)
    } else {
        format!("{} MiB", size >> 20)
    }
}

async fn run() {
    let size = env_u64("HEARTH_BENCH_TRANSFER_MIB", 1024) * MIB;
    let swarm_size = env_u64("HEARTH_BENCH_SWARM_MIB", 512) * MIB;
    let trials = env_u64("HEARTH_BENCH_TRANSFER_TRIALS", 5).max(1) as usize;
    let cap_mbs = env_u64("HEARTH_BENCH_SWARM_CAP_MBS", 100);
    let cap = (cap_mbs > 0).then(|| (cap_mbs * 1_000_000).min(u32::MAX as u64) as u32);
    let timeout = Duration::from_secs(env_u64("HEARTH_BENCH_TRANSFER_TIMEOUT_SECS", 900));
    let out_dir =
        PathBuf::from(std::env::var("HEARTH_BENCH_OUT").unwrap_or_else(|_| "bench-results".into()));
    let machine = machine_line();
    eprintln!("{machine}");
    let tmp = tempfile::Builder::new()
        .prefix("hearth-bench-transfer")
        .tempdir()
        .unwrap();
    let root = tmp.path().to_path_buf();
    let label = size_label(size);

    // ---------- 1. one seeder -> one downloader ----------
    let src_dir = root.join("src");
    std::fs::create_dir_all(&src_dir).unwrap();
    let file = src_dir.join("random.bin");
    eprintln!("writing {label} of random data…");
    {
        let file = file.clone();
        blocking(move || write_random_file(&file, size, 0x9E37_79B9_7F4A_7C15)).await;
    }

    let seeder = quiet_node(&root.join("hearth-a"), &[]).await;
    let title = "benchtransfer one";
    let t = Instant::now();
    let res = publish(&seeder, &file, title).await;
    let publish_s = t.elapsed().as_secs_f64();
    eprintln!(
        "Hearth published {label} in {publish_s:.1} s (content id {})",
        res.content_id
    );

    // Stock torrents: librqbit's default piece length, and Hearth's piece length.
    let hearth_pl = hearth_piece_length(size);
    let mut stock: Vec<(String, PathBuf, Rqbit)> = Vec::new();
    for (name, pl) in [("default", None), ("hearth_pieces", Some(hearth_pl))] {
        let torrent = root.join(format!("stock-{name}.torrent"));
        rqbit_create_torrent(&file, &torrent, pl).await;
        let s = blocking({
            let (torrent, src_dir) = (torrent.clone(), src_dir.clone());
            move || {
                let mut s = Rqbit::spawn(None);
                s.seed(&torrent, &src_dir);
                s
            }
        })
        .await;
        stock.push((name.to_owned(), torrent, s));
    }

    let mut hearth_runs: Vec<OneToOne> = Vec::new();
    let mut stock_runs: Vec<Vec<OneToOne>> = vec![Vec::new(); stock.len()];
    let mut iperf_mbs: Vec<f64> = Vec::new();
    for trial in 0..trials {
        // Hearth: a fresh downloader each trial, so the seeder is its only source.
        let dir = root.join(format!("hearth-b{trial}"));
        let b = quiet_node(&dir, std::slice::from_ref(&seeder.addr)).await;
        wait_available(&b, title, &res.content_id, Duration::from_secs(60)).await;
        let (cs, cd) = (cpu_secs(seeder.child.id()), cpu_secs(b.child.id()));
        let (tm, d) = hearth_downloads(&[&b], &res.content_id, timeout)
            .await
            .remove(0);
        let run = OneToOne::new(
            size,
            tm,
            cpu_secs(seeder.child.id()) - cs,
            cpu_secs(b.child.id()) - cd,
        );
        let got = std::fs::metadata(&d.path).map(|m| m.len()).unwrap_or(0);
        assert_eq!(got, size, "Hearth download has the wrong size: {}", d.path);
        eprintln!(
            "trial {trial}: Hearth {:.0} MB/s ({:.3} s; POST answered at {:.3} s, first bytes at {:.3} s; CPU seeder {:.2} s, downloader {:.2} s)",
            run.mb_s, tm.done_s, tm.accepted_s, tm.first_byte_s, run.cpu_seeder_s, run.cpu_downloader_s
        );
        hearth_runs.push(run);
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);

        // Stock librqbit: a fresh downloader process each trial, for each torrent.
        for (k, (name, torrent, s)) in stock.iter().enumerate() {
            let dir = root.join(format!("stock-{name}-b{trial}"));
            std::fs::create_dir_all(&dir).unwrap();
            let spid = s.child.id();
            let run = blocking({
                let (torrent, dir, peer) = (torrent.clone(), dir.clone(), s.addr);
                move || {
                    let mut d = [Rqbit::spawn(None)];
                    let (cs, cd) = (cpu_secs(spid), cpu_secs(d[0].child.id()));
                    let tm =
                        rqbit_downloads(&mut d, &torrent, &[dir], &[vec![peer]], timeout).remove(0);
                    OneToOne::new(
                        size,
                        tm,
                        cpu_secs(spid) - cs,
                        cpu_secs(d[0].child.id()) - cd,
                    )
                }
            })
            .await;
            let got = std::fs::metadata(dir.join("random.bin")).map_or(0, |m| m.len());
            assert_eq!(got, size, "librqbit download has the wrong size");
            eprintln!(
                "trial {trial}: librqbit ({name}) {:.0} MB/s ({:.3} s; first bytes at {:.3} s; CPU seeder {:.2} s, downloader {:.2} s)",
                run.mb_s, run.timing.done_s, run.timing.first_byte_s, run.cpu_seeder_s, run.cpu_downloader_s
            );
            stock_runs[k].push(run);
            let _ = std::fs::remove_dir_all(&dir);
        }

        let bps = blocking(iperf3).await;
        eprintln!("trial {trial}: iperf3 {:.0} MB/s", bps / 1e6);
        iperf_mbs.push(bps / 1e6);
    }
    drop(seeder);
    drop(stock);
    let _ = std::fs::remove_file(&file);

    // ---------- 2. one seeder + three downloaders ----------
    let swarm_label = size_label(swarm_size);
    let file2 = src_dir.join("swarm.bin");
    eprintln!("writing {swarm_label} of random data…");
    {
        let file2 = file2.clone();
        blocking(move || write_random_file(&file2, swarm_size, 0xD1B5_4A32_D192_ED03)).await;
    }
    let torrent2 = root.join("swarm.torrent");
    rqbit_create_torrent(&file2, &torrent2, None).await;
    let mut swarms: Vec<(Option<u32>, Swarm, Swarm)> = Vec::new();
    for (i, c) in [None, cap].into_iter().enumerate() {
        if i > 0 && c.is_none() {
            continue;
        }
        let h = hearth_swarm(&root, &format!("swarm{i}"), &file2, swarm_size, c, timeout).await;
        eprintln!("Hearth swarm (cap {c:?}): {h:?}");
        let s = blocking({
            let (root, torrent2, src_dir) = (root.clone(), torrent2.clone(), src_dir.clone());
            move || {
                stock_swarm(
                    &root,
                    &format!("stock-swarm{i}"),
                    &torrent2,
                    &src_dir,
                    swarm_size,
                    c,
                    timeout,
                )
            }
        })
        .await;
        eprintln!("librqbit swarm (cap {c:?}): {s:?}");
        swarms.push((c, h, s));
    }

    // ---------- report ----------
    let mbs = |runs: &[OneToOne]| runs.iter().map(|r| r.mb_s).collect::<Vec<f64>>();
    let h_mbs = mbs(&hearth_runs);
    let s_mbs = mbs(&stock_runs[0]);
    let s2_mbs = mbs(&stock_runs[1]);
    let vs_stock = max(&h_mbs) / max(&s_mbs);
    let vs_stock_median = median(&h_mbs) / median(&s_mbs);
    let vs_iperf = max(&h_mbs) / max(&iperf_mbs);
    let cpu_per_gib = |runs: &[OneToOne]| {
        let v: Vec<f64> = runs
            .iter()
            .map(|r| (r.cpu_seeder_s + r.cpu_downloader_s) / (size as f64 / (1u64 << 30) as f64))
            .collect();
        median(&v)
    };
    let busy = |runs: &[OneToOne]| {
        let v: Vec<f64> = runs
            .iter()
            .map(|r| (r.cpu_seeder_s + r.cpu_downloader_s) / r.timing.done_s)
            .collect();
        median(&v)
    };
    let result = serde_json::json!({
        "machine": machine,
        "one_to_one": {
            "bytes": size,
            "trials": trials,
            "hearth": {
                "summary": summary(&hearth_runs),
                "publish_secs": publish_s,
                "piece_length": hearth_pl,
                "note": "time from POST /api/downloads until GET /api/downloads says complete (20 ms polling); a fresh downloader node per trial",
            },
            "stock_librqbit": {
                "summary": summary(&stock_runs[0]),
                "piece_length": 2 << 20,
                "note": "librqbit 9.1 sessions in separate processes, create_torrent defaults, no DHT/persistence/LSD, TCP on 127.0.0.1; timed from the add command until stats say finished (20 ms polling)",
            },
            "stock_librqbit_hearth_piece_length": {
                "summary": summary(&stock_runs[1]),
                "piece_length": hearth_pl,
            },
            "iperf3_single_stream": {"mb_s": iperf_mbs, "best_mb_s": max(&iperf_mbs), "median_mb_s": median(&iperf_mbs)},
            "hearth_vs_stock_best": vs_stock,
            "hearth_vs_stock_median": vs_stock_median,
            "hearth_vs_iperf3_best": vs_iperf,
            "cpu_core_secs_per_gib_median": {"hearth": cpu_per_gib(&hearth_runs), "stock": cpu_per_gib(&stock_runs[0])},
            "cores_busy_median": {"hearth": busy(&hearth_runs), "stock": busy(&stock_runs[0])},
            "goal": {"vs_stock_min": 1.0, "vs_iperf3_min": 0.2},
        },
        "one_seeder_three_downloaders": {
            "bytes": swarm_size,
            "runs": swarms.iter().map(|(c, h, s)| serde_json::json!({"seeder_upload_cap_bps": c, "hearth": h, "stock_librqbit": s})).collect::<Vec<_>>(),
            "note": "seeder share = bytes the seeder sent / (that + downloaders' uploaded_bytes). Hearth's seeder counter is not exposed: its bytes are the kernel's bytes_acked of the seeder's BitTorrent sockets (ss); librqbit's are its own uploaded_bytes (kernel count beside it). estimate = (3 x size - sum of downloaders' uploaded_bytes) / (3 x size)",
            "goal": {"seeder_share_max": 0.5},
        },
    });
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(
        out_dir.join("transfer.json"),
        serde_json::to_string_pretty(&result).unwrap(),
    )
    .unwrap();

    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let secs = |runs: &[OneToOne]| runs.iter().map(|r| r.timing.done_s).collect::<Vec<f64>>();
    let post = median(
        &hearth_runs
            .iter()
            .map(|r| r.timing.accepted_s)
            .collect::<Vec<_>>(),
    );
    let first = |runs: &[OneToOne]| {
        median(
            &runs
                .iter()
                .map(|r| r.timing.first_byte_s)
                .collect::<Vec<_>>(),
        )
    };
    println!("{machine}");
    println!();
    println!("| measure | Hearth | baseline (same run) | goal |");
    println!("|---|---|---|---|");
    println!(
        "| {label}, 1 seeder -> 1 downloader ({trials} trials) | best {:.0} MB/s ({:.2} s), median {:.0} MB/s; POST answered in {:.0} ms, first bytes at {:.0} ms (medians) | stock librqbit 9.1 (2 MiB pieces): best {:.0} MB/s ({:.2} s), median {:.0} MB/s, first bytes at {:.0} ms; same with Hearth's {} KiB pieces: best {:.0} MB/s, median {:.0} MB/s; iperf3 1 TCP stream: best {:.0} MB/s, median {:.0} MB/s | >= 1.0x librqbit: best {:.2}x / median {:.2}x, {}; >= 20% of iperf3: {:.1}%, {} |",
        max(&h_mbs),
        min(&secs(&hearth_runs)),
        median(&h_mbs),
        post * 1000.0,
        first(&hearth_runs) * 1000.0,
        max(&s_mbs),
        min(&secs(&stock_runs[0])),
        median(&s_mbs),
        first(&stock_runs[0]) * 1000.0,
        hearth_pl >> 10,
        max(&s2_mbs),
        median(&s2_mbs),
        max(&iperf_mbs),
        median(&iperf_mbs),
        vs_stock,
        vs_stock_median,
        verdict(vs_stock >= 1.0),
        vs_iperf * 100.0,
        verdict(vs_iperf >= 0.2),
    );
    for (c, h, s) in &swarms {
        let what = match c {
            None => "seeder upload unlimited".to_owned(),
            Some(b) => format!("seeder upload capped at {} MB/s (both)", b / 1_000_000),
        };
        println!(
            "| {swarm_label}, 1 seeder + 3 downloaders starting together, {what} | seeder share {:.0}% (kernel count; 3 x size - downloaders' uploads gives {:.0}%); downloaders sent each other {:.0} MiB; all complete in {:.1} s | stock librqbit 9.1, each downloader also given the other two: seeder share {:.0}% (its uploaded_bytes; kernel {:.0}%); downloaders sent each other {:.0} MiB; all complete in {:.1} s | <= 50%: {} |",
            h.seeder_share * 100.0,
            h.seeder_share_estimate * 100.0,
            h.downloaders_uploaded.iter().sum::<u64>() as f64 / MIB as f64,
            max(&h.done_secs),
            s.seeder_share * 100.0,
            s.seeder_share_kernel * 100.0,
            s.downloaders_uploaded.iter().sum::<u64>() as f64 / MIB as f64,
            max(&s.done_secs),
            verdict(h.seeder_share <= 0.5),
        );
    }
    let after = |runs: &[OneToOne]| {
        median(
            &runs
                .iter()
                .map(|r| r.after_first_byte_mb_s)
                .collect::<Vec<_>>(),
        )
    };
    println!();
    println!(
        "1 -> 1 from the first verified bytes to complete (medians): Hearth {:.0} MB/s, stock librqbit {:.0} MB/s ({:.2}x).",
        after(&hearth_runs),
        after(&stock_runs[0]),
        after(&hearth_runs) / after(&stock_runs[0]),
    );
    println!(
        "CPU during 1 -> 1 (seeder + downloader, medians): Hearth {:.2} core-s per GiB, {:.2} of {} cores busy; stock librqbit {:.2} core-s per GiB, {:.2} cores busy.",
        cpu_per_gib(&hearth_runs),
        busy(&hearth_runs),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_per_gib(&stock_runs[0]),
        busy(&stock_runs[0]),
    );
    println!("MB = 10^6 bytes. Seeder share = bytes the seeder sent / bytes all downloaders received (= seeder sent + downloaders' uploaded_bytes); Hearth's seeder bytes are the kernel's bytes_acked of its BitTorrent sockets (ss), since Hearth exposes no upload counter for a published file.");
}
