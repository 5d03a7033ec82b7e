//! `make bench` (presence part): cold start, join latency and idle memory of real
//! `hearth run` processes on loopback, each beside a baseline measured in the same run.
//!
//! - cold start to API ready, beside the same binary's bare process start (`--version`);
//! - a new node listed online by 4 others, beside 4 raw TCP connects on loopback;
//! - idle RSS of 5 connected nodes after `HEARTH_BENCH_IDLE_SECS` (default 60), beside 5
//!   bare libp2p processes (TCP+Noise+Yamux, identify, ping) connected the same way.
//!
//! Writes `bench-results/presence.json` and prints a Markdown table.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/kit/mod.rs"]
mod kit;

use hearth::api::dto::PeerInfo;
use kit::{percentile, quiet_node, rss_mb, TestNode, HEARTH};

const TRIALS: usize = 10;

async fn lists_online(observer: &TestNode, peer: &str) -> bool {
    let peers: Vec<PeerInfo> = observer.client.list_peers().await.unwrap_or_default();
    peers.iter().any(|p| p.peer_id == peer && p.online)
}

/// A bare libp2p node for the memory baseline: the transports and the two protocols every
/// libp2p application has, nothing of Hearth.
async fn bare_swarm(dial: Vec<String>) {
    use futures::StreamExt;
    use libp2p::{identify, noise, ping, swarm::NetworkBehaviour, tcp, yamux};
    #[derive(NetworkBehaviour)]
    struct Bare {
        identify: identify::Behaviour,
        ping: ping::Behaviour,
    }
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| Bare {
            identify: identify::Behaviour::new(identify::Config::new(
                "/bare/1".into(),
                key.public(),
            )),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(5))),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    for d in dial {
        swarm.dial(d.parse::<libp2p::Multiaddr>().unwrap()).unwrap();
    }
    loop {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
            swarm.select_next_some().await
        {
            println!("{address}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
    }
}

fn spawn_bare(dial: &[String]) -> (Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("bare-swarm")
        .args(dial)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bare-swarm") {
        return bare_swarm(args[1..].to_vec()).await;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    let idle_secs: u64 = std::env::var("HEARTH_BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let out_dir =
        PathBuf::from(std::env::var("HEARTH_BENCH_OUT").unwrap_or_else(|_| "bench-results".into()));
    let tmp = tempfile::tempdir().unwrap();

    // 1. Cold start to API ready, beside bare process start.
    let mut cold = Vec::new();
    let mut exec = Vec::new();
    for i in 0..TRIALS {
        let proc = quiet_node(&tmp.path().join(format!("cold{i}")), &[]).await;
        cold.push(proc.ready.duration_since(proc.started).as_secs_f64() * 1000.0);
        drop(proc);
        let t = Instant::now();
        Command::new(HEARTH)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        exec.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // 2. A new node listed by 4 others, beside 4 raw TCP connects.
    let boot = quiet_node(&tmp.path().join("n0"), &[]).await;
    let mut nodes = vec![boot];
    for i in 1..4 {
        let b = vec![nodes[0].addr.clone()];
        nodes.push(quiet_node(&tmp.path().join(format!("n{i}")), &b).await);
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.peer_id.clone()).collect();
    for n in &nodes {
        for id in ids.iter().filter(|id| **id != n.peer_id) {
            let t = Instant::now();
            while !lists_online(n, id).await {
                assert!(t.elapsed() < Duration::from_secs(20), "mesh did not form");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let mut join = Vec::new();
    let mut tcp = Vec::new();
    let listeners: Vec<std::net::TcpListener> = (0..4)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    for trial in 0..TRIALS {
        let b = vec![nodes[0].addr.clone()];
        let newcomer = quiet_node(&tmp.path().join(format!("join{trial}")), &b).await;
        let ready = newcomer.ready;
        let mut pending: Vec<&TestNode> = nodes.iter().collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for n in pending {
                if !lists_online(n, &newcomer.peer_id).await {
                    still.push(n);
                }
            }
            pending = still;
            assert!(
                ready.elapsed() < Duration::from_secs(20),
                "newcomer not listed"
            );
        }
        join.push(ready.elapsed().as_secs_f64() * 1000.0);
        drop(newcomer);
        let t = Instant::now();
        let conns: Vec<_> = listeners
            .iter()
            .map(|l| tokio::net::TcpStream::connect(l.local_addr().unwrap()))
            .collect();
        for c in futures::future::join_all(conns).await {
            c.unwrap();
        }
        tcp.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // 3. Idle memory of 5 connected nodes, beside 5 connected bare libp2p processes.
    let b = vec![nodes[0].addr.clone()];
    nodes.push(quiet_node(&tmp.path().join("n4"), &b).await);
    let mut bare = Vec::new();
    let (first, first_addr) = spawn_bare(&[]);
    bare.push(first);
    for _ in 1..5 {
        bare.push(spawn_bare(std::slice::from_ref(&first_addr)).0);
    }
    eprintln!("idling {idle_secs} s with 5 nodes…");
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let mut rss: Vec<f64> = nodes.iter().map(|n| rss_mb(n.child.id())).collect();
    let mut bare_rss: Vec<f64> = bare.iter().map(|c| rss_mb(c.id())).collect();
    for mut c in bare {
        let _ = c.kill();
        let _ = c.wait();
    }

    let (cold50, cold95) = (percentile(&mut cold, 0.5), percentile(&mut cold, 0.95));
    let (exec50, exec95) = (percentile(&mut exec, 0.5), percentile(&mut exec, 0.95));
    let (join50, join95) = (percentile(&mut join, 0.5), percentile(&mut join, 0.95));
    let (tcp50, tcp95) = (percentile(&mut tcp, 0.5), percentile(&mut tcp, 0.95));
    let rss_max = percentile(&mut rss, 1.0);
    let bare_max = percentile(&mut bare_rss, 1.0);
    let result = serde_json::json!({
        "cold_start_ms": {"p50": cold50, "p95": cold95, "goal": 300, "baseline_process_start_ms": {"p50": exec50, "p95": exec95}},
        "join_listed_by_4_ms": {"p50": join50, "p95": join95, "goal": 1000, "baseline_4_tcp_connects_ms": {"p50": tcp50, "p95": tcp95}},
        "idle_rss_mb": {"idle_secs": idle_secs, "max": rss_max, "all": rss, "goal": 80, "baseline_bare_libp2p_max": bare_max},
    });
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(
        out_dir.join("presence.json"),
        serde_json::to_string_pretty(&result).unwrap(),
    )
    .unwrap();
    println!("| measure | Hearth | baseline (same run) | goal |");
    println!("|---|---|---|---|");
    println!("| cold start to API ready | p50 {cold50:.0} ms, p95 {cold95:.0} ms | process start (`hearth --version`): p50 {exec50:.1} ms | <= 300 ms |");
    println!("| new node listed online by 4 others | p50 {join50:.0} ms, p95 {join95:.0} ms | 4 raw TCP connects: p50 {tcp50:.2} ms | <= 1 s |");
    println!("| idle RSS after {idle_secs} s, 5 peers | max {rss_max:.1} MB | bare libp2p node (TCP+Noise+Yamux, identify, ping): max {bare_max:.1} MB | <= 80 MB |");
}
