//! `make bench` (catalog propagation): `HEARTH_BENCH_NODES` (default 20) real nodes on
//! loopback; one publishes `HEARTH_BENCH_PUBLISH` (default 1,000) small files one after
//! another, and every other node is watched until each record is searchable there.
//!
//! A node's searchable record count (`/api/catalog/stats`, which counts committed index
//! documents) is polled; a feed is stored strictly in sequence, so record `i` is searchable
//! on a node once its count reaches `i`. Latency = that moment minus the moment `publish`
//! returned for record `i`. Baseline: the time one polling round over all nodes takes (the
//! resolution of the measurement).
//!
//! Writes `bench-results/propagation.json` and prints a Markdown table.

#[path = "../tests/kit/mod.rs"]
mod kit;

use std::time::{Duration, Instant};

use hearth::api::dto::{PublishRequest, Resource};
use kit::{percentile, quiet_node};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes = env_or("HEARTH_BENCH_NODES", 20);
    let records = env_or("HEARTH_BENCH_PUBLISH", 1000);
    let tmp = tempfile::tempdir().unwrap();
    let publisher = quiet_node(&tmp.path().join("n0"), &[]).await;
    let boot = vec![publisher.addr.clone()];
    let mut others = Vec::new();
    for i in 1..nodes {
        let p = quiet_node(&tmp.path().join(format!("n{i}")), &boot).await;
        others.push(p);
    }
    // Wait until the mesh has formed: every node sees every other online.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ok = 0;
        for p in &others {
            let s: hearth::api::dto::Status = p.client.status().await.unwrap();
            if s.peers_online as usize >= nodes - 1 {
                ok += 1;
            }
        }
        if ok == others.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    for i in 0..records {
        std::fs::write(
            files.join(format!("note-{i}.txt")),
            format!("note number {i}\n"),
        )
        .unwrap();
    }

    // Observers poll every node's searchable count while the publisher publishes.
    let published_at: std::sync::Arc<std::sync::Mutex<Vec<Instant>>> = Default::default();
    let clients: Vec<_> = others.iter().map(|p| p.client.clone()).collect();
    let watch = {
        let published_at = published_at.clone();
        tokio::spawn(async move {
            let mut seen = vec![0usize; clients.len()];
            let mut latencies: Vec<f64> = Vec::new();
            let mut rounds: Vec<f64> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(600);
            while seen.iter().any(|&s| s < records) && Instant::now() < deadline {
                let round = Instant::now();
                for (n, c) in clients.iter().enumerate() {
                    let Ok(s) = c.catalog_stats().await else {
                        continue;
                    };
                    let now = Instant::now();
                    let count = (s.resources as usize).min(records);
                    let times = published_at.lock().unwrap().clone();
                    let upto = count.min(times.len());
                    if upto > seen[n] {
                        for t in &times[seen[n]..upto] {
                            latencies.push((now - *t).as_secs_f64() * 1000.0);
                        }
                        seen[n] = upto;
                    }
                }
                rounds.push(round.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (latencies, rounds, seen)
        })
    };
    let client = publisher.client.clone();
    let started = Instant::now();
    for i in 0..records {
        let _: Resource = client
            .publish(&PublishRequest {
                path: files.join(format!("note-{i}.txt")).display().to_string(),
                title: Some(format!("Field note {i}")),
                ..Default::default()
            })
            .await
            .expect("publish");
        published_at.lock().unwrap().push(Instant::now());
    }
    let publish_secs = started.elapsed().as_secs_f64();
    let (mut lat, mut rounds, seen) = watch.await.unwrap();
    let delivered: usize = seen.iter().sum();
    let expected = records * others.len();
    let result = serde_json::json!({
        "nodes": nodes,
        "records": records,
        "publish_secs": publish_secs,
        "delivered": delivered,
        "expected": expected,
        "p50_ms": percentile(&mut lat, 0.5),
        "p99_ms": percentile(&mut lat, 0.99),
        "max_ms": percentile(&mut lat, 1.0),
        "poll_round_p50_ms": percentile(&mut rounds, 0.5),
    });
    std::fs::create_dir_all("bench-results").ok();
    std::fs::write(
        "bench-results/propagation.json",
        serde_json::to_vec_pretty(&result).unwrap(),
    )
    .unwrap();
    let f = |k: &str| result[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "| {records} records published on 1 node, searchable on {} others | Hearth | baseline |",
        nodes - 1
    );
    println!("|---|---|---|");
    println!(
        "| publish -> searchable, p50 / p99 / max | {:.0} / {:.0} / {:.0} ms | one polling round over all nodes: {:.1} ms |",
        f("p50_ms"),
        f("p99_ms"),
        f("max_ms"),
        f("poll_round_p50_ms")
    );
    println!("| delivered | {delivered} of {expected} | |");
    println!(
        "| publishing rate | {:.0} records/s | |",
        records as f64 / publish_secs
    );
}
