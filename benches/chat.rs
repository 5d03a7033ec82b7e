//! `make bench` (chat): real nodes on loopback, chat unlocked.
//!
//! 1. Latency: `HEARTH_BENCH_NODES` (default 20) members in one room. Each sends one
//!    message per second for `HEARTH_BENCH_CHAT_SECS` (default 30) seconds, then the room
//!    takes 50 messages per second in all for `HEARTH_BENCH_BURST_SECS` (default 60)
//!    seconds. Latency of a message = from just before the sender's API call until the
//!    last member's event stream shows it (every member's WebSocket is read by this
//!    process, so one clock measures both ends).
//! 2. Failover: five of the nodes share a second room. `HEARTH_BENCH_FAILOVER_TRIALS`
//!    (default 20) times its host is killed (kill -9) and a survivor sends a message at
//!    once: "serving" = when that message is committed (shown on the sender's stream). The
//!    killed node restarts and must step down before the next trial. Then
//!    `HEARTH_BENCH_STOP_TRIALS` (default 10) trials with the host frozen (SIGSTOP).
//! 3. Backlog: a member is killed, 1,000 messages are sent, it restarts; time from its API
//!    answering until its history holds all 1,000.
//!
//! Baselines in the same run: an API round trip (the `chat_status` command) and the nodes'
//! own ping RTTs, the floor under any latency above.
//!
//! Writes `bench-results/chat.json` and prints a Markdown table.

#[path = "../tests/kit/mod.rs"]
mod kit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth::api::dto::{
    ChatMessage, CreateRoomRequest, Event, EventKind, HistoryPage, HistoryRequest, MessageKind,
    PeerInfo, RoomIdRequest, RoomInfo, SendMessageRequest,
};
use hearth::server::client::Client;
use kit::{percentile, Launch, TestNode};

const PASSPHRASE: &str = "benchmark passphrase";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When each node's event stream showed each message body.
type Seen = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

struct Node {
    proc: TestNode,
    dir: PathBuf,
}

impl Node {
    fn client(&self) -> &Client {
        &self.proc.client
    }
}

async fn start(dir: &Path, boot: &[String]) -> Node {
    let proc = Launch::quiet(dir)
        .bootstrap(boot)
        .passphrase(Some(PASSPHRASE))
        .start()
        .await;
    Node {
        proc,
        dir: dir.into(),
    }
}

async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn room(client: &Client, rid: &str) -> Option<RoomInfo> {
    client
        .get_room(&RoomIdRequest {
            room_id: rid.into(),
        })
        .await
        .ok()
}

async fn send(client: &Client, rid: &str, body: String) -> ChatMessage {
    client
        .send_message(&SendMessageRequest {
            room_id: rid.into(),
            body,
        })
        .await
        .expect("send")
}

/// Reads a node's event stream, noting when each text message of `rid` appears.
fn watch(node: &Node, rid: String, seen: Seen) -> tokio::task::JoinHandle<()> {
    let url = format!(
        "{}/api/events/ws?since={}&token={}",
        node.proc.api.url.replace("http://", "ws://"),
        u64::MAX,
        node.proc.api.token
    );
    tokio::spawn(async move {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            let now = Instant::now();
            let Ok(text) = msg.to_text() else { continue };
            let Ok(event) = serde_json::from_str::<Event>(text) else {
                continue;
            };
            if let EventKind::ChatMessage { message } = event.kind {
                if message.room_id.as_deref() == Some(&rid) && message.kind == MessageKind::Text {
                    seen.lock()
                        .unwrap()
                        .entry(message.body)
                        .or_default()
                        .push(now);
                }
            }
        }
    })
}

struct Load {
    latencies_ms: Vec<f64>,
    delivered: usize,
    sent: usize,
}

/// Sends `rate` messages per second in all, round robin over `senders`, for `secs`.
async fn load(nodes: &[Node], rid: &str, seen: &Seen, tag: &str, rate: f64, secs: usize) -> Load {
    let total = (rate * secs as f64) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let mut tasks = Vec::new();
    for k in 0..total {
        tokio::time::sleep_until(start + interval * k as u32).await;
        let client = nodes[k % nodes.len()].client().clone();
        let rid = rid.to_string();
        let body = format!("{tag}-{k}");
        let sent_at = sent_at.clone();
        tasks.push(tokio::spawn(async move {
            sent_at.lock().unwrap().insert(body.clone(), Instant::now());
            send(&client, &rid, body).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = nodes.len();
    let deadline = Instant::now() + Duration::from_secs(15);
    let all_shown = || {
        let s = seen.lock().unwrap();
        (0..total).all(|k| s.get(&format!("{tag}-{k}")).is_some_and(|v| v.len() >= n))
    };
    while Instant::now() < deadline && !all_shown() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = seen.lock().unwrap();
    let sent_at = sent_at.lock().unwrap();
    let mut latencies_ms = Vec::new();
    let mut delivered = 0;
    for k in 0..total {
        let body = format!("{tag}-{k}");
        if let (Some(times), Some(t0)) = (s.get(&body), sent_at.get(&body)) {
            if times.len() >= n {
                delivered += 1;
                let last = times.iter().max().unwrap();
                latencies_ms.push(last.duration_since(*t0).as_secs_f64() * 1000.0);
            }
        }
    }
    Load {
        latencies_ms,
        delivered,
        sent: total,
    }
}

async fn failover_trial(
    nodes: &mut [Node],
    group: &[usize],
    rid: &str,
    seen: &Seen,
    boot: &[String],
    trial: usize,
    freeze: bool,
) -> (f64, f64) {
    let host_id = wait_for("a host", Duration::from_secs(20), || async {
        room(nodes[group[0]].client(), rid).await?.host
    })
    .await;
    let host = *group
        .iter()
        .find(|&&i| nodes[i].proc.peer_id == host_id)
        .expect("host is in the group");
    let survivor = *group.iter().find(|&&i| i != host).unwrap();
    let pid = nodes[host].proc.child.id();
    let t0 = Instant::now();
    if freeze {
        unsafe_signal(pid, "STOP");
    } else {
        let _ = nodes[host].proc.child.kill();
        let _ = nodes[host].proc.child.wait();
    }
    let body = format!("probe-{}-{trial}", if freeze { "stop" } else { "kill" });
    send(nodes[survivor].client(), rid, body.clone()).await;
    let serving = wait_for("the probe committed", Duration::from_secs(30), || async {
        seen.lock()
            .unwrap()
            .get(&body)
            .and_then(|v| v.first().copied())
    })
    .await;
    let new_host = wait_for("a new host known", Duration::from_secs(30), || async {
        let h = room(nodes[survivor].client(), rid).await?.host?;
        (h != host_id).then(Instant::now)
    })
    .await;
    // Bring the old host back; it must step down before the next trial.
    if freeze {
        unsafe_signal(pid, "CONT");
    } else {
        let dir = nodes[host].dir.clone();
        nodes[host] = start(&dir, boot).await;
        watch(&nodes[host], rid.to_string(), seen.clone());
    }
    let old = &nodes[host];
    wait_for("the old host follows", Duration::from_secs(30), || async {
        let r = room(old.client(), rid).await?;
        (!r.is_host && r.host.is_some() && r.host.as_deref() != Some(&host_id)).then_some(())
    })
    .await;
    (
        serving.duration_since(t0).as_secs_f64() * 1000.0,
        new_host.duration_since(t0).as_secs_f64() * 1000.0,
    )
}

fn unsafe_signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid}");
}

fn summary(v: &mut [f64]) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::json!(null);
    }
    serde_json::json!({
        "n": v.len(),
        "p50": percentile(v, 0.5),
        "p95": percentile(v, 0.95),
        "p99": percentile(v, 0.99),
        "max": percentile(v, 1.0),
    })
}

fn row(name: &str, v: &serde_json::Value, goal: &str) -> String {
    if v.is_null() {
        return format!("| {name} | - | - | - | - | {goal} |\n");
    }
    format!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} | {goal} |\n",
        v["n"],
        v["p50"].as_f64().unwrap(),
        v["p95"].as_f64().unwrap(),
        v["p99"].as_f64().unwrap()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_or("HEARTH_BENCH_NODES", 20).max(6);
    let secs = env_or("HEARTH_BENCH_CHAT_SECS", 30);
    let burst_secs = env_or("HEARTH_BENCH_BURST_SECS", 60);
    let kill_trials = env_or("HEARTH_BENCH_FAILOVER_TRIALS", 20);
    let stop_trials = env_or("HEARTH_BENCH_STOP_TRIALS", 10);
    let backlog = env_or("HEARTH_BENCH_BACKLOG", 1000);
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = vec![start(&tmp.path().join("n0"), &[]).await];
    let boot = vec![nodes[0].proc.addr.clone()];
    for i in 1..n {
        nodes.push(start(&tmp.path().join(format!("n{i}")), &boot).await);
    }
    wait_for("a connected mesh", Duration::from_secs(120), || async {
        for node in &nodes {
            let peers: Vec<PeerInfo> = node.client().list_peers().await.ok()?;
            if peers.iter().filter(|p| p.connected).count() + 1 < n {
                return None;
            }
        }
        Some(())
    })
    .await;
    let members: Vec<String> = nodes[1..].iter().map(|n| n.proc.peer_id.clone()).collect();
    let big: RoomInfo = nodes[0]
        .client()
        .create_room(&CreateRoomRequest {
            name: "everyone".into(),
            members,
        })
        .await
        .expect("create room");
    for node in &nodes[1..] {
        kit::accept_request(node.client(), &nodes[0].proc.peer_id).await;
    }
    let rid = big.room_id.clone();
    for node in &nodes {
        wait_for("every member joined", Duration::from_secs(60), || async {
            room(node.client(), &rid)
                .await
                .filter(|r| r.members.len() == n)
        })
        .await;
    }
    let seen: Seen = Default::default();
    for node in &nodes {
        watch(node, rid.clone(), seen.clone());
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // streams connected

    // Baselines: an API round trip, and the nodes' ping RTTs.
    let mut api_rtt = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let _ = nodes[1].client().chat_status().await.unwrap();
        api_rtt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let peers: Vec<PeerInfo> = nodes[1].client().list_peers().await.unwrap();
    let mut ping: Vec<f64> = peers.iter().filter_map(|p| p.rtt_ms).collect();

    eprintln!("chat bench: {n} nodes, steady load");
    let mut steady = load(&nodes, &rid, &seen, "steady", n as f64, secs).await;
    eprintln!("chat bench: 50 msg/s");
    let mut burst = load(&nodes, &rid, &seen, "burst", 50.0, burst_secs).await;

    // Failover in a room of five.
    let group: Vec<usize> = (n - 5..n).collect();
    let five: RoomInfo = nodes[group[0]]
        .client()
        .create_room(&CreateRoomRequest {
            name: "five".into(),
            members: group[1..]
                .iter()
                .map(|&i| nodes[i].proc.peer_id.clone())
                .collect(),
        })
        .await
        .unwrap();
    let fid = five.room_id.clone();
    for &i in &group {
        wait_for("five joined", Duration::from_secs(30), || async {
            room(nodes[i].client(), &fid)
                .await
                .filter(|r| r.members.len() == 5)
        })
        .await;
        watch(&nodes[i], fid.clone(), seen.clone());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut kill_serving, mut kill_known) = (Vec::new(), Vec::new());
    for t in 0..kill_trials {
        let (s, k) = failover_trial(&mut nodes, &group, &fid, &seen, &boot, t, false).await;
        eprintln!("kill trial {t}: serving after {s:.0} ms (new host known {k:.0} ms)");
        kill_serving.push(s);
        kill_known.push(k);
    }
    let (mut stop_serving, mut stop_known) = (Vec::new(), Vec::new());
    for t in 0..stop_trials {
        let (s, k) = failover_trial(&mut nodes, &group, &fid, &seen, &boot, t, true).await;
        eprintln!("stop trial {t}: serving after {s:.0} ms (new host known {k:.0} ms)");
        stop_serving.push(s);
        stop_known.push(k);
    }

    // Backlog: a member away while `backlog` messages are sent.
    let away = group[1];
    let _ = nodes[away].proc.child.kill();
    let _ = nodes[away].proc.child.wait();
    let sender = nodes[group[2]].client().clone();
    for k in 0..backlog {
        send(&sender, &fid, format!("backlog-{k}")).await;
    }
    let dir = nodes[away].dir.clone();
    nodes[away] = start(&dir, &boot).await;
    let back = Instant::now();
    let client = nodes[away].client().clone();
    wait_for("the backlog shown", Duration::from_secs(60), || async {
        let page: HistoryPage = client
            .room_history(&HistoryRequest {
                room_id: fid.clone(),
                before: None,
                limit: Some(1000),
            })
            .await
            .ok()?;
        page.messages
            .iter()
            .any(|m| m.body == format!("backlog-{}", backlog - 1))
            .then_some(())
    })
    .await;
    let backlog_ms = back.elapsed().as_secs_f64() * 1000.0;

    let steady_s = summary(&mut steady.latencies_ms);
    let burst_s = summary(&mut burst.latencies_ms);
    let results = serde_json::json!({
        "nodes": n,
        "steady": { "rate_per_s": n, "secs": secs, "sent": steady.sent,
                     "delivered_everywhere": steady.delivered, "latency_ms": steady_s },
        "burst": { "rate_per_s": 50, "secs": burst_secs, "sent": burst.sent,
                    "delivered_everywhere": burst.delivered, "latency_ms": burst_s },
        "failover_kill_ms": { "serving": summary(&mut kill_serving), "new_host_known": summary(&mut kill_known) },
        "failover_stop_ms": { "serving": summary(&mut stop_serving), "new_host_known": summary(&mut stop_known) },
        "backlog": { "messages": backlog, "shown_after_ms": backlog_ms },
        "baseline": { "api_round_trip_ms": summary(&mut api_rtt), "ping_rtt_ms": summary(&mut ping) },
    });
    std::fs::create_dir_all("bench-results").unwrap();
    std::fs::write(
        "bench-results/chat.json",
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    let mut md =
        String::from("| chat | n | p50 ms | p95 ms | p99 ms | goal |\n|---|---|---|---|---|---|\n");
    md += &row(
        &format!(
            "{n} nodes, 1 msg/s each: send -> shown on every member ({}/{} delivered)",
            steady.delivered, steady.sent
        ),
        &results["steady"]["latency_ms"],
        "p50 <= 10, p99 <= 50, 100%",
    );
    md += &row(
        &format!(
            "50 msg/s for {burst_secs} s ({}/{} delivered)",
            burst.delivered, burst.sent
        ),
        &results["burst"]["latency_ms"],
        "p99 <= 100",
    );
    md += &row(
        "host kill -9 -> new host serving",
        &results["failover_kill_ms"]["serving"],
        "p99 <= 1000",
    );
    md += &row(
        "host SIGSTOP -> new host serving",
        &results["failover_stop_ms"]["serving"],
        "<= 2000",
    );
    md += &row(
        "baseline: API round trip",
        &results["baseline"]["api_round_trip_ms"],
        "",
    );
    md += &row(
        "baseline: ping RTT between nodes",
        &results["baseline"]["ping_rtt_ms"],
        "",
    );
    md += &format!("\n{backlog}-message backlog shown {backlog_ms:.0} ms after the member's API answered (goal <= 2000)\n");
    println!("{md}");
}
