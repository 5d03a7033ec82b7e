//! Hostile peers against the node's limits, measured: a raw libp2p peer opens more
//! connections than one peer may have, floods chat streams, claims ever more holdings, and
//! writes its profile a thousand times through gossip faster than a neighbour may send.
//! Memory and the data dir stay under stated bounds, every refusal is counted in `status`
//! and `catalog_stats`, and an honest peer's record still arrives.

mod kit;

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth::api::dto::{CatalogStats, PublishRequest, SearchRequest, Status};
use kit::raw::RawCodec;
use kit::{eventually, rss_mb, TestNode, FAST_PRESENCE};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, NetworkBehaviour, SwarmEvent};
use libp2p::{
    gossipsub, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder,
};

/// How long the attacker waits for an answer to one request.
const ATTACK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(NetworkBehaviour)]
struct Attacker {
    chat: request_response::Behaviour<RawCodec>,
    gossipsub: gossipsub::Behaviour,
}

fn attacker() -> Swarm<Attacker> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| Attacker {
            chat: request_response::Behaviour::with_codec(
                RawCodec,
                [(
                    StreamProtocol::new("/hearth/chat/1"),
                    ProtocolSupport::Outbound,
                )],
                request_response::Config::default()
                    .with_request_timeout(ATTACK_TIMEOUT)
                    .with_max_concurrent_streams(256),
            ),
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(200))
                    .max_transmit_size(1 << 20)
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

async fn connect(swarm: &mut Swarm<Attacker>, addr: &str) -> PeerId {
    let addr: Multiaddr = addr.parse().unwrap();
    swarm.dial(addr).unwrap();
    loop {
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = swarm.select_next_some().await {
            return peer_id;
        }
    }
}

/// Lets the swarm run for `d`.
async fn drive(swarm: &mut Swarm<Attacker>, d: Duration) {
    let _ = tokio::time::timeout(d, async {
        loop {
            swarm.select_next_some().await;
        }
    })
    .await;
}

/// Publishes every message as fast as gossipsub takes them; returns how many it took.
async fn flood(swarm: &mut Swarm<Attacker>, topic: &gossipsub::IdentTopic, msgs: Vec<Vec<u8>>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    while sent < msgs.len() && tokio::time::Instant::now() < deadline {
        match swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), msgs[sent].clone())
        {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => sent += 1,
            Err(_) => drive(swarm, Duration::from_millis(50)).await,
        }
        if sent % 64 == 0 {
            drive(swarm, Duration::from_millis(1)).await;
        }
    }
    assert_eq!(sent, msgs.len(), "every message published");
    drive(swarm, Duration::from_secs(2)).await;
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(m) = e.metadata() else { continue };
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_floods_stay_within_memory_disk_and_rate_bounds_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let config = format!("{FAST_PRESENCE}\n[catalog]\nmax_entries_per_author = 200\n");
    let node = TestNode::start("target", &dir, &[], &config).await;
    let pid = node.child.id();
    let rss0 = rss_mb(pid);
    let disk0 = dir_bytes(&dir);

    // 1. Ten connections from one peer: four are kept, the rest refused and counted.
    let mut a = attacker();
    let target = connect(&mut a, &node.addr).await;
    let addr: Multiaddr = node.addr.parse().unwrap();
    for _ in 0..9 {
        a.dial(
            DialOpts::peer_id(target)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
        )
        .unwrap();
    }
    // Driven until the node has counted the refusals (a loaded machine is slow to).
    let deadline = Instant::now() + ATTACK_TIMEOUT;
    let status = loop {
        drive(&mut a, Duration::from_millis(200)).await;
        let status: Status = node.client.status().await.unwrap();
        if status.refused.connections >= 5 || Instant::now() > deadline {
            break status;
        }
    };
    assert!(
        status.refused.connections >= 5,
        "connections over the per-peer limit refused: {:?}",
        status.refused
    );

    // 2. 64 chat requests of 1 MiB at once on one connection: the node reads at most 16 at
    //    a time; the rest are dropped. None of it is valid, none is answered: every request
    //    ends in a failure (a dropped stream, or the attacker's own request timeout).
    for _ in 0..64 {
        a.behaviour_mut()
            .chat
            .send_request(&target, vec![b'['; 1 << 20]);
    }
    let (mut failed, mut answered) = (0, 0);
    let settled = tokio::time::timeout(ATTACK_TIMEOUT * 3, async {
        while failed + answered < 64 {
            match a.select_next_some().await {
                SwarmEvent::Behaviour(AttackerEvent::Chat(
                    request_response::Event::OutboundFailure { .. },
                )) => failed += 1,
                SwarmEvent::Behaviour(AttackerEvent::Chat(request_response::Event::Message {
                    message: request_response::Message::Response { .. },
                    ..
                })) => answered += 1,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "every garbage chat request ended: {failed} failed, {answered} answered"
    );
    assert_eq!(answered, 0, "no garbage chat request answered");

    // 3. Holdings: 100 messages of 256 new content ids from one holder (25,600 claims),
    //    from another identity (the first one's connections were cut short above).
    drop(a);
    let mut a = attacker();
    connect(&mut a, &node.addr).await;
    let have_topic = gossipsub::IdentTopic::new("/hearth/have/1");
    let feed_topic = gossipsub::IdentTopic::new("/hearth/feed/1");
    a.behaviour_mut().gossipsub.subscribe(&have_topic).unwrap();
    a.behaviour_mut().gossipsub.subscribe(&feed_topic).unwrap();
    drive(&mut a, Duration::from_secs(2)).await;
    let haves: Vec<Vec<u8>> = (0..100u32)
        .map(|m| {
            let ids: Vec<String> = (0..256u32)
                .map(|i| format!("{:040x}", m * 256 + i))
                .collect();
            serde_json::to_vec(&serde_json::json!({
                "bt_port": 1, "complete": ids, "partial": [], "dropped": []
            }))
            .unwrap()
        })
        .collect();
    flood(&mut a, &have_topic, haves).await;

    // 4. A thousand profile changes as fast as gossip takes them: the rate limit drops the
    //    excess, the quota (200 entries per author here) refuses the rest.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut head: Option<hearth::catalog::feed::Head> = None;
    let mut entries = Vec::new();
    for n in 0..1000u64 {
        let body = hearth::catalog::feed::Body::Profile {
            profile: hearth::catalog::feed::FeedProfile {
                display_name: format!("name {n}"),
                affiliation: String::new(),
                bio: "x".repeat(500),
                avatar: None,
            },
        };
        let v = hearth::catalog::feed::sign_next(&key, head.as_ref(), 1_700_000_000_000 + n, body)
            .unwrap();
        head = Some(hearth::catalog::feed::Head {
            seq: v.entry.seq,
            hash: v.hash.clone(),
        });
        entries.push(serde_json::to_vec(&v.signed).unwrap());
    }
    flood(&mut a, &feed_topic, entries).await;

    let stats = eventually(Duration::from_secs(20), "refusals counted", || async {
        let s: CatalogStats = node.client.catalog_stats().await.ok()?;
        (s.holdings_dropped > 0 && s.rejected.quota > 0).then_some(s)
    })
    .await;
    let status: Status = node.client.status().await.unwrap();
    let rss1 = rss_mb(pid);
    let disk1 = dir_bytes(&dir);
    eprintln!(
        "limits: RSS {rss0:.1} -> {rss1:.1} MB, data dir {:.1} -> {:.1} MB; refused {:?}; \
         catalog: {} entries, {} bytes, quota refused {}, holders {}, holder claims dropped {}",
        disk0 as f64 / 1e6,
        disk1 as f64 / 1e6,
        status.refused,
        stats.entries,
        stats.bytes,
        stats.rejected.quota,
        stats.holders_tracked,
        stats.holdings_dropped,
    );
    assert!(
        stats.entries <= 200 + 1,
        "one author keeps at most its quota: {stats:?}"
    );
    assert!(
        stats.holdings_dropped >= 25_600 - 20_000 || status.refused.gossip_throttled > 0,
        "claims over 20,000 per holder dropped: {stats:?}"
    );
    assert!(status.refused.gossip_throttled > 0, "{:?}", status.refused);
    assert!(rss1 - rss0 < 150.0, "RSS grew {:.1} MB", rss1 - rss0);
    assert!(
        disk1.saturating_sub(disk0) < 32 << 20,
        "data dir grew {} bytes",
        disk1 - disk0
    );

    // 5. Honest traffic still works: a peer's record arrives and is found.
    let honest = TestNode::start(
        "honest",
        &tmp.path().join("h"),
        std::slice::from_ref(&node.addr),
        FAST_PRESENCE,
    )
    .await;
    let file = tmp.path().join("honest-notes.pdf");
    kit::random_file(&file, 10_000, 7);
    honest
        .client
        .publish(&PublishRequest {
            path: file.to_string_lossy().into_owned(),
            title: Some("Honest notes".into()),
            description: None,
            kind: None,
            tags: vec![],
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the honest record", || async {
        let r = node
            .client
            .search(&SearchRequest {
                text: "honest".into(),
                ..Default::default()
            })
            .await
            .ok()?;
        (r.items.len() == 1).then_some(())
    })
    .await;
}
