//! `make bench` (catalog part): a catalog of `HEARTH_BENCH_RECORDS` (default 1,000,000)
//! synthetic resource records from 1,000 authors, through the real [`Catalog`] (sled store +
//! search index), each figure beside a baseline from the same run:
//!
//! - ingest time of verified entries (in catch-up order: feed by feed), beside writing the
//!   same records as JSON into a bare sled tree (no index), and signature verification
//!   throughput on every core;
//! - disk use of the data dir;
//! - open time of the existing catalog, in a fresh process;
//! - search latency p50/p95/p99 over 1,000 mixed queries, beside a linear scan of the titles
//!   held in memory for the same queries (what a catalog without an index would do);
//! - RSS of the process that opened the catalog and ran the queries.
//!
//! Writes `bench-results/catalog.json` and prints a Markdown table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use hearth::api::dto::{ResourceKind, SearchRequest, SortOrder};
use hearth::catalog::feed::RecordFile;
use hearth::catalog::feed::{self, Body, Head, ResourceBody, Verified};
use hearth::catalog::Catalog;
use hearth::infra::events::EventBus;
use hearth::infra::store::Store;
use libp2p::identity::Keypair;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const AUTHORS: usize = 1000;
const VOCABULARY: usize = 20_000;
const QUERIES: usize = 1000;

fn records() -> usize {
    std::env::var("HEARTH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A line of /proc/self/status in MB (`VmRSS`, `RssAnon`, `RssFile`).
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            total += if meta.is_dir() {
                dir_size(&e.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

/// Pronounceable synthetic words: "ka", "lomi", "sutera"...
fn vocabulary() -> Vec<String> {
    const SYL: [&str; 24] = [
        "ka", "lo", "mi", "su", "te", "ra", "no", "vi", "pe", "du", "zo", "ha", "ri", "be", "fa",
        "gu", "ne", "to", "li", "mo", "sa", "ke", "po", "xu",
    ];
    let mut rng = StdRng::seed_from_u64(11);
    let mut words = std::collections::HashSet::new();
    while words.len() < VOCABULARY {
        let n = rng.gen_range(2..=4);
        let w: String = (0..n).map(|_| SYL[rng.gen_range(0..SYL.len())]).collect();
        words.insert(w);
    }
    let mut v: Vec<String> = words.into_iter().collect();
    v.sort();
    v
}

fn sentence(rng: &mut StdRng, vocab: &[String], min: usize, max: usize) -> String {
    let n = rng.gen_range(min..=max);
    // Zipf-like: low indices are common words.
    (0..n)
        .map(|_| {
            let r: f64 = rng.gen();
            vocab[((r * r * r) * vocab.len() as f64) as usize % vocab.len()].as_str()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn body(rng: &mut StdRng, vocab: &[String], i: usize) -> Body {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    rng.fill(&mut id[8..]);
    let content_id = hex::encode(id);
    let kind = ResourceKind::ALL[i % ResourceKind::ALL.len()];
    let tags = (0..rng.gen_range(0..=5))
        .map(|_| vocab[rng.gen_range(0..200)].clone())
        .collect();
    Body::Publish {
        resource: ResourceBody {
            magnet: format!("magnet:?xt=urn:btih:{content_id}"),
            content_id,
            title: sentence(rng, vocab, 3, 10),
            description: sentence(rng, vocab, 20, 60),
            kind: kind.into(),
            tags,
            size: rng.gen_range(1_000..10_000_000_000),
            mime: "application/octet-stream".into(),
            files: vec![RecordFile {
                path: format!("file-{i}.bin"),
                size: 1_000,
            }],
            created_ms: 1_700_000_000_000 + i as u64,
            thumbnail: None,
            duration_ms: None,
        },
    }
}

/// Signed entries in the order catch-up delivers them: feed by feed, in sequence (a node
/// joining a community fetches each feed it lacks from a peer, 64 entries at a time).
/// Generation is not timed.
fn generate(n: usize, vocab: &[String]) -> Vec<Verified> {
    let keys: Vec<Keypair> = (0..AUTHORS).map(|_| Keypair::generate_ed25519()).collect();
    let mut heads: Vec<Option<Head>> = vec![None; AUTHORS];
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let a = i % AUTHORS;
        let v = feed::sign_next(
            &keys[a],
            heads[a].as_ref(),
            1_700_000_000_000,
            body(&mut rng, vocab, i),
        )
        .expect("valid synthetic entry");
        heads[a] = Some(Head {
            seq: v.entry.seq,
            hash: v.hash.clone(),
        });
        out.push(v);
    }
    out.sort_by(|a, b| (&a.entry.author, a.entry.seq).cmp(&(&b.entry.author, b.entry.seq)));
    out
}

fn queries(vocab: &[String]) -> Vec<SearchRequest> {
    let mut rng = StdRng::seed_from_u64(5);
    (0..QUERIES)
        .map(|i| {
            let words = rng.gen_range(1..=3);
            let mut text = sentence(&mut rng, vocab, words, words);
            let kinds = if i % 4 == 0 {
                vec![ResourceKind::ALL[i % 6]]
            } else {
                vec![]
            };
            if i % 5 == 0 {
                // Search-as-you-type: a prefix of the last word.
                let keep = text.len().saturating_sub(2).max(1);
                text.truncate(keep);
            }
            if i % 10 == 0 {
                text.clear(); // browse one kind, newest first
            }
            SearchRequest {
                text,
                kinds: if i % 10 == 0 {
                    vec![ResourceKind::ALL[i % 6]]
                } else {
                    kinds
                },
                sort: SortOrder::Relevance,
                limit: 50,
                ..Default::default()
            }
        })
        .collect()
}

fn open(dir: &Path) -> (Catalog, Store) {
    let store = Store::open(dir).expect("store");
    let catalog =
        Catalog::open(&store, dir, Keypair::generate_ed25519(), EventBus::new()).expect("catalog");
    (catalog, store)
}

/// Phase 1 (own process): generate, ingest, and the ingest baselines.
fn ingest_phase(dir: &Path) -> serde_json::Value {
    let n = records();
    let vocab = vocabulary();
    let t = Instant::now();
    let entries = generate(n, &vocab);
    eprintln!("generated {n} signed entries in {:?}", t.elapsed());

    // Baseline: signature verification of every entry, on every core.
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for chunk in entries.chunks(n.div_ceil(threads)) {
            s.spawn(move || {
                for v in chunk {
                    feed::verify(v.signed.clone()).expect("verifies");
                }
            });
        }
    });
    let verify_secs = t.elapsed().as_secs_f64();

    // Baseline: the same records as JSON into a bare sled tree, no index.
    let bare = dir.with_extension("bare-sled");
    let t = Instant::now();
    {
        let db = sled::Config::new()
            .path(&bare)
            .cache_capacity(16 << 20)
            .open()
            .expect("sled");
        for v in &entries {
            db.insert(v.hash.as_bytes(), serde_json::to_vec(&v.signed).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
    }
    let bare_secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&bare);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ingest_secs, disk) = rt.block_on(async {
        let (catalog, store) = open(dir);
        let t = Instant::now();
        for v in entries {
            catalog.ingest(v).await.expect("ingest");
        }
        catalog.commit().await.expect("commit");
        store.flush().await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        drop(catalog);
        drop(store);
        (secs, dir_size(dir))
    });
    serde_json::json!({
        "records": n,
        "ingest_secs": ingest_secs,
        "bare_sled_secs": bare_secs,
        "verify_all_cores_secs": verify_secs,
        "disk_bytes": disk,
    })
}

/// Phase 2 (fresh process): open, search, memory.
fn query_phase(dir: &Path) -> serde_json::Value {
    let vocab = vocabulary();
    let qs = queries(&vocab);
    let t = Instant::now();
    let (catalog, _store) = open(dir);
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut lat = Vec::with_capacity(qs.len());
    let mut hits = 0u64;
    for q in &qs {
        let t = Instant::now();
        let r = catalog.search(q).expect("search");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        hits += r.items.len() as u64;
    }
    let rss = status_mb("VmRSS");
    let anon = status_mb("RssAnon");
    let file = status_mb("RssFile");
    let (p50, p95, p99) = (
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.95),
        percentile(&mut lat, 0.99),
    );
    serde_json::json!({
        "open_ms": open_ms,
        "search_p50_ms": p50,
        "search_p95_ms": p95,
        "search_p99_ms": p99,
        "hits": hits,
        "rss_mb": rss,
        "rss_anon_mb": anon,
        "rss_file_mb": file,
    })
}

/// Baseline for search: a linear scan of every title in memory, same queries.
fn scan_phase() -> serde_json::Value {
    let n = records();
    let vocab = vocabulary();
    let mut rng = StdRng::seed_from_u64(7);
    let titles: Vec<String> = (0..n)
        .map(|i| match body(&mut rng, &vocab, i) {
            Body::Publish { resource } => resource.title,
            _ => unreachable!(),
        })
        .collect();
    let qs = queries(&vocab);
    let mut lat = Vec::new();
    for q in qs.iter().take(100) {
        let words: Vec<&str> = q.text.split_whitespace().collect();
        let t = Instant::now();
        let found = titles
            .iter()
            .filter(|t| words.iter().all(|w| t.contains(w)))
            .take(50)
            .count();
        std::hint::black_box(found);
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    serde_json::json!({
        "scan_p50_ms": percentile(&mut lat, 0.5),
        "scan_p95_ms": percentile(&mut lat, 0.95),
    })
}

fn child(phase: &str, dir: &Path) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--phase")
        .arg(phase)
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run bench phase");
    assert!(out.status.success(), "phase {phase} failed");
    serde_json::from_slice(&out.stdout).expect("phase output")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let dir = PathBuf::from(&args[i + 2]);
        let v = match args[i + 1].as_str() {
            "ingest" => ingest_phase(&dir),
            "query" => query_phase(&dir),
            "scan" => scan_phase(),
            other => panic!("unknown phase {other}"),
        };
        println!("{v}");
        return;
    }
    if args.iter().any(|a| a == "--bench") || args.len() == 1 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("catalog");
        let ingest = child("ingest", &dir);
        let query = child("query", &dir);
        let scan = child("scan", &dir);
        let n = ingest["records"].as_u64().unwrap_or(0);
        let result = serde_json::json!({"ingest": ingest, "query": query, "scan": scan});
        std::fs::create_dir_all("bench-results").ok();
        std::fs::write(
            "bench-results/catalog.json",
            serde_json::to_vec_pretty(&result).unwrap(),
        )
        .unwrap();
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        println!("| catalog of {n} records | Hearth | baseline |");
        println!("|---|---|---|");
        println!(
            "| ingest (store + index) | {:.1} s | bare sled, no index: {:.1} s; verifying all signatures on every core: {:.1} s |",
            f(&ingest["ingest_secs"]),
            f(&ingest["bare_sled_secs"]),
            f(&ingest["verify_all_cores_secs"])
        );
        println!(
            "| disk (store + index) | {:.0} MB | |",
            f(&ingest["disk_bytes"]) / 1e6
        );
        println!("| open | {:.0} ms | |", f(&query["open_ms"]));
        println!(
            "| search p50 / p95 / p99 | {:.2} / {:.2} / {:.2} ms | linear scan of titles in memory: p50 {:.0} ms, p95 {:.0} ms |",
            f(&query["search_p50_ms"]),
            f(&query["search_p95_ms"]),
            f(&query["search_p99_ms"]),
            f(&scan["scan_p50_ms"]),
            f(&scan["scan_p95_ms"])
        );
        println!(
            "| RSS after open + 1,000 searches | {:.1} MB: {:.1} MB process memory + {:.1} MB mapped index and binary pages | |",
            f(&query["rss_mb"]),
            f(&query["rss_anon_mb"]),
            f(&query["rss_file_mb"])
        );
    }
}
