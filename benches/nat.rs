//! `make bench` (NAT part): Hearth between homes behind NAT routers, in the network lab
//! (`tests/netlab`, as root), each figure beside a baseline measured in the same run.
//!
//! 1. Start to connected with a peer behind another NAT, `HEARTH_BENCH_NAT_TRIALS` (default
//!    20) trials each, p50 and p95. A public node P (the relay) and a node A in home 1
//!    (endpoint-independent NAT, slot reserved on P) stay up; each trial starts a fresh node
//!    (new identity) bootstrapped from P and times from its launch until A is listed with:
//!    - a direct connection, from a fresh node in another home (endpoint-independent NAT):
//!      hole-punched, or plainly direct when the router still holds the mapping an earlier
//!      trial punched (the trials take four homes in turn); its first connection of any kind
//!      is reported too;
//!    - a relayed connection, from a fresh node in home 3 (symmetric NAT: punching fails);
//!    - baseline: a fresh node on the internet segment connecting to a public node (no NAT).
//! 2. `HEARTH_BENCH_NAT_MIB` (default 200) MiB from home to home: A publishes, a node in home
//!    2 downloads over the hole-punched connection (BitTorrent over `/hearth/bt/1`); timed
//!    from `start_download` until complete. Baseline: the same size between two nodes on the
//!    internet segment (no NAT, BitTorrent over TCP and streams alike).
//! 3. The relay: P's resident memory and CPU with `HEARTH_BENCH_RELAY_CIRCUITS` (default 50)
//!    circuits open and active (a ping each second through each), against P with the same
//!    reservations and no circuit, over 20 s each. P's `relay_max_circuits` is raised to 64.
//!
//! Writes `bench-results/nat.json` and prints a Markdown table.

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../tests/kit/mod.rs"]
mod kit;
#[path = "../tests/netlab/mod.rs"]
mod netlab;

use hearth::api::dto::{DownloadRequest, PublishRequest, SearchRequest};
use kit::{eventually, percentile, random_file, rss_mb, Launch};
use netlab::{Host, Lab, LabNode, Nat};

const RELAY_CONFIG: &str = "relay_max_circuits = 64\n";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) `pid` has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the 1st, utime the 12th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// How `node` reaches `peer` now, if at all.
async fn link(node: &LabNode, peer: &str) -> Option<String> {
    node.peer(peer).await?.connection
}

async fn start(lab: &Lab, host: &Host, dir: &Path, bootstrap: &[String]) -> LabNode {
    lab.start(host, Launch::quiet(dir).bootstrap(bootstrap))
        .await
}

struct Trials {
    first: Vec<f64>,
    wanted: Vec<f64>,
    /// Trials that did not reach the wanted connection within a minute.
    failed: usize,
}

/// `trials` fresh nodes, taking `hosts` in turn, each timed from launch until it reaches
/// `target` over a connection of one of the kinds `want` (and, first, of any kind). The hosts are in
/// different homes so that the relay's rate limit per IP address (60 circuits a minute,
/// libp2p's default) is not what the trials measure.
#[allow(clippy::too_many_arguments)] // one benchmark's parameters, named at the call
async fn connect_trials(
    lab: &Lab,
    hosts: &[&Host],
    tmp: &Path,
    tag: &str,
    bootstrap: &[String],
    target: &str,
    want: &[&str],
    trials: usize,
) -> Trials {
    let mut out = Trials {
        first: Vec::new(),
        wanted: Vec::new(),
        failed: 0,
    };
    for i in 0..trials {
        let dir = tmp.join(format!("{tag}{i}"));
        let t = Instant::now();
        let node = start(lab, hosts[i % hosts.len()], &dir, bootstrap).await;
        let mut first = None;
        let mut reached = None;
        while t.elapsed() < Duration::from_secs(60) {
            let l = link(&node, target).await;
            if l.is_some() && first.is_none() {
                first = Some(t.elapsed());
            }
            if l.as_deref().is_some_and(|l| want.contains(&l)) {
                reached = Some(t.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("{tag} trial {i}: first {first:?}, wanted {reached:?}");
        match (reached, first) {
            (Some(r), Some(f)) => {
                out.wanted.push(r.as_secs_f64());
                out.first.push(f.as_secs_f64());
            }
            _ => {
                eprintln!("{tag} trial {i}: no {want:?} connection within 60 s (first: {first:?})");
                out.failed += 1;
            }
        }
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

fn p50_p95(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut v = v.to_vec();
    (percentile(&mut v, 0.5), percentile(&mut v, 0.95))
}

/// Publishes `mib` MiB on `from`, waits until `to` finds it, and times `to`'s download.
async fn transfer(from: &LabNode, to: &LabNode, dir: &Path, title: &str, mib: usize) -> f64 {
    let file = dir.join(format!("{title}.bin"));
    random_file(&file, mib << 20, mib as u64);
    let published = from
        .client
        .publish(&PublishRequest {
            path: file.display().to_string(),
            title: Some(title.into()),
            ..Default::default()
        })
        .await
        .expect("publish");
    let id = published.content_id.clone();
    eventually(Duration::from_secs(60), "the record to arrive", || async {
        let found = to
            .client
            .search(&SearchRequest {
                text: title.into(),
                ..Default::default()
            })
            .await
            .ok()?;
        found
            .items
            .iter()
            .any(|r| r.content_id == id && r.available)
            .then_some(())
    })
    .await;
    let t = Instant::now();
    to.client
        .start_download(&DownloadRequest {
            content_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .expect("start download");
    kit::complete(to, &id, Duration::from_secs(600)).await;
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    (mib as f64 * 1.048_576) / secs
}

/// Samples `pid`'s RSS and CPU share over `window`.
async fn usage(pid: u32, window: Duration) -> (f64, f64) {
    let cpu0 = cpu_secs(pid);
    let t = Instant::now();
    let mut rss = Vec::new();
    while t.elapsed() < window {
        rss.push(rss_mb(pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu = (cpu_secs(pid) - cpu0) / t.elapsed().as_secs_f64() * 100.0;
    (percentile(&mut rss, 0.5), cpu)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let trials = env_usize("HEARTH_BENCH_NAT_TRIALS", 20);
    let mib = env_usize("HEARTH_BENCH_NAT_MIB", 200);
    let circuits = env_usize("HEARTH_BENCH_RELAY_CIRCUITS", 50);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let public2 = lab.public("pub2");
    let public3 = lab.public("pub3");
    let crowd = lab.public("crowd");
    let home1 = lab.home("h1", Nat::EndpointIndependent, 1);
    let eim: Vec<_> = (0..4)
        .map(|i| lab.home(&format!("e{i}"), Nat::EndpointIndependent, 1))
        .collect();
    let sym: Vec<_> = (0..4)
        .map(|i| lab.home(&format!("s{i}"), Nat::Symmetric, 1))
        .collect();
    let eim_hosts: Vec<&Host> = eim.iter().map(|h| &h.hosts[0]).collect();
    let sym_hosts: Vec<&Host> = sym.iter().map(|h| &h.hosts[0]).collect();

    let p = lab
        .start(&public, Launch::quiet(&root.join("p")).config(RELAY_CONFIG))
        .await;
    let boot = vec![p.tcp_addr()];
    let a = start(&lab, &home1.hosts[0], &root.join("a"), &boot).await;
    eventually(
        Duration::from_secs(30),
        "a to reserve a slot on p",
        || async {
            let s = a.client.status().await.ok()?;
            s.relay_reservations.contains(&p.peer_id).then_some(())
        },
    )
    .await;

    // 1. Start to connected.
    let punched = connect_trials(
        &lab,
        &eim_hosts,
        root,
        "b",
        &boot,
        &a.peer_id,
        &["hole_punched", "direct"],
        trials,
    )
    .await;
    let relayed = connect_trials(
        &lab,
        &sym_hosts,
        root,
        "c",
        &boot,
        &a.peer_id,
        &["relayed"],
        trials,
    )
    .await;
    let q = start(&lab, &public2, &root.join("q"), &[]).await;
    let direct = connect_trials(
        &lab,
        &[&public3],
        root,
        "e",
        &[q.tcp_addr()],
        &q.peer_id,
        &["direct"],
        trials,
    )
    .await;

    // 2. Home to home, and the same without NAT.
    let b = start(&lab, eim_hosts[0], &root.join("b"), &boot).await;
    eventually(Duration::from_secs(60), "a and b hole-punched", || async {
        (link(&b, &a.peer_id).await.as_deref() == Some("hole_punched")).then_some(())
    })
    .await;
    let through_nat = transfer(&a, &b, root, "homeward", mib).await;
    let e = start(&lab, &public3, &root.join("e"), &[q.tcp_addr()]).await;
    eventually(Duration::from_secs(30), "e and q connected", || async {
        link(&e, &q.peer_id).await.map(|_| ())
    })
    .await;
    let no_nat = transfer(&q, &e, root, "openfield", mib).await;
    drop(e);
    drop(b);

    // 3. The relay under circuits.
    let pid = p.child.id();
    let relay_addr: libp2p::Multiaddr = p.tcp_addr().parse().unwrap();
    let (signal, signals) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (report, mut reports) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let load = netlab::in_namespace(&crowd.ns, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(relay_load::run(relay_addr, circuits, signals, report))
    });
    let reserved = reports.recv().await.unwrap_or(0);
    let (rss_idle, cpu_idle) = usage(pid, Duration::from_secs(20)).await;
    signal.send(()).ok();
    let opened = reports.recv().await.unwrap_or(0);
    let status = p.client.status().await.expect("status");
    let (rss_busy, cpu_busy) = usage(pid, Duration::from_secs(20)).await;
    let still_open = p
        .client
        .status()
        .await
        .expect("status")
        .relay_service
        .circuits;
    signal.send(()).ok();
    let _ = tokio::task::spawn_blocking(move || load.join()).await;

    let (pf50, pf95) = p50_p95(&punched.first);
    let (pp50, pp95) = p50_p95(&punched.wanted);
    let (r50, r95) = p50_p95(&relayed.wanted);
    let (d50, d95) = p50_p95(&direct.wanted);
    let per_circuit_kb = (rss_busy - rss_idle) * 1024.0 / opened.max(1) as f64;
    let per_circuit_cpu = (cpu_busy - cpu_idle) / opened.max(1) as f64;
    let json = serde_json::json!({
        "trials": trials,
        "failed": {"hole_punched": punched.failed, "relayed": relayed.failed, "no_nat": direct.failed},
        "hole_punched_first_connection_s": {"p50": pf50, "p95": pf95},
        "hole_punched_s": {"p50": pp50, "p95": pp95},
        "relayed_s": {"p50": r50, "p95": r95},
        "no_nat_direct_s": {"p50": d50, "p95": d95},
        "transfer_mib": mib,
        "through_nat_mb_s": through_nat,
        "no_nat_mb_s": no_nat,
        "relay": {
            "reservations": reserved,
            "circuits_opened": opened,
            "circuits_reported": status.relay_service.circuits,
            "circuits_open_at_end": still_open,
            "rss_mb_idle": rss_idle,
            "rss_mb_busy": rss_busy,
            "cpu_pct_idle": cpu_idle,
            "cpu_pct_busy": cpu_busy,
            "rss_kb_per_circuit": per_circuit_kb,
            "cpu_pct_per_circuit": per_circuit_cpu,
        },
    });
    std::fs::create_dir_all("bench-results").ok();
    std::fs::write(
        "bench-results/nat.json",
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .ok();

    println!("## Across NAT (network lab, {trials} trials each)\n");
    println!(
        "Trials that failed within 60 s: hole-punched {}, relayed {}, no NAT {}.\n",
        punched.failed, relayed.failed, direct.failed
    );
    println!("| measure | p50 | p95 | goal |");
    println!("|---|---|---|---|");
    println!(
        "| start → first connection, peer behind another EIM NAT | {pf50:.2} s | {pf95:.2} s | |"
    );
    println!(
        "| start → direct connection (hole-punched) | {pp50:.2} s | {pp95:.2} s | p95 ≤ 3 s |"
    );
    println!(
        "| start → relayed connection (symmetric NAT) | {r50:.2} s | {r95:.2} s | p95 ≤ 2 s |"
    );
    println!("| baseline: start → direct connection, no NAT | {d50:.2} s | {d95:.2} s | |");
    println!();
    println!("| {mib} MiB home to home | MB/s |");
    println!("|---|---|");
    println!(
        "| through two NATs (hole-punched, BitTorrent over /hearth/bt/1) | {through_nat:.1} |"
    );
    println!("| baseline: the same without NAT | {no_nat:.1} |");
    println!(
        "| ratio | {:.0} % (goal ≥ 80 %) |",
        through_nat / no_nat * 100.0
    );
    println!();
    println!("| relay (public node) | RSS MB | CPU % of a core |");
    println!("|---|---|---|");
    println!("| {reserved} reservations, no circuit | {rss_idle:.1} | {cpu_idle:.2} |");
    println!("| {opened} active circuits (1 ping/s each) | {rss_busy:.1} | {cpu_busy:.2} |");
    println!("| per circuit | {per_circuit_kb:.0} KB | {per_circuit_cpu:.3} |");
}

/// Raw libp2p peers that load the relay: `n` listeners reserve a slot each, then, on the
/// bench's signal, `n` dialers open one circuit each to a listener, and ping through it
/// every second until the second signal.
mod relay_load {
    use std::time::Duration;

    use futures::stream::SelectAll;
    use futures::StreamExt;
    use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
    use libp2p::{multiaddr::Protocol, noise, ping, relay, tcp, yamux, Multiaddr, PeerId, Swarm};
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

    #[derive(NetworkBehaviour)]
    pub struct Load {
        relay: relay::client::Behaviour,
        ping: ping::Behaviour,
    }

    fn member() -> Swarm<Load> {
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_, relay| Load {
                relay,
                ping: ping::Behaviour::new(
                    ping::Config::new().with_interval(Duration::from_secs(1)),
                ),
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build()
    }

    /// Reports the reservations taken, waits for a signal, opens the circuits, reports
    /// how many opened, and keeps everything running until a second signal.
    pub async fn run(
        relay: Multiaddr,
        n: usize,
        mut signals: UnboundedReceiver<()>,
        report: UnboundedSender<usize>,
    ) {
        let base = relay.clone().with(Protocol::P2pCircuit);
        let mut listeners = Vec::new();
        for _ in 0..n {
            let mut s = member();
            s.listen_on(base.clone()).expect("listen on the relay");
            listeners.push(s);
        }
        let ids: Vec<PeerId> = listeners.iter().map(|s| *s.local_peer_id()).collect();
        let mut all = SelectAll::new();
        for s in listeners {
            all.push(drive(s));
        }
        let mut reserved = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while reserved < n {
            tokio::select! {
                Some(e) = all.next() => {
                    if let SwarmEvent::Behaviour(LoadEvent::Relay(
                        relay::client::Event::ReservationReqAccepted { renewal: false, .. },
                    )) = e
                    {
                        reserved += 1;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        report.send(reserved).ok();
        loop {
            tokio::select! {
                _ = signals.recv() => break,
                _ = all.next() => {}
            }
        }
        for id in &ids {
            let mut s = member();
            s.dial(base.clone().with(Protocol::P2p(*id))).ok();
            all.push(drive(s));
        }
        let mut opened = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while opened < ids.len() {
            tokio::select! {
                Some(e) = all.next() => {
                    if let SwarmEvent::Behaviour(LoadEvent::Relay(
                        relay::client::Event::OutboundCircuitEstablished { .. },
                    )) = e
                    {
                        opened += 1;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        report.send(opened).ok();
        loop {
            tokio::select! {
                _ = signals.recv() => return,
                _ = all.next() => {}
            }
        }
    }

    type Events = std::pin::Pin<Box<dyn futures::Stream<Item = SwarmEvent<LoadEvent>>>>;

    /// A swarm as a stream of its events.
    fn drive(s: Swarm<Load>) -> Events {
        Box::pin(futures::stream::unfold(s, |mut s| async move {
            let e = s.select_next_some().await;
            Some((e, s))
        }))
    }
}
