//! Hostile and broken peers: malformed, oversized and wrong-version messages on each Hearth
//! protocol fail only their own stream; the node keeps serving. A second process on the
//! same data dir is refused.

mod kit;

use std::time::Duration;

use futures::StreamExt;
use hearth::api::dto::Status;
use kit::raw::RawCodec;
use kit::{eventually, TestNode, FAST_PRESENCE};
use libp2p::request_response::{self, OutboundFailure, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    gossipsub, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder,
};

/// One raw request-response behaviour per protocol, so each attack hits exactly one.
#[derive(NetworkBehaviour)]
struct Attacker {
    profile1: request_response::Behaviour<RawCodec>,
    presence1: request_response::Behaviour<RawCodec>,
    profile2: request_response::Behaviour<RawCodec>,
    catalog1: request_response::Behaviour<RawCodec>,
    chat1: request_response::Behaviour<RawCodec>,
    gossipsub: gossipsub::Behaviour,
}

fn raw(protocol: &'static str) -> request_response::Behaviour<RawCodec> {
    request_response::Behaviour::with_codec(
        RawCodec,
        [(StreamProtocol::new(protocol), ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
    )
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
        .with_behaviour(|key| {
            let gs_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(200))
                .max_transmit_size(1 << 20)
                .build()
                .unwrap();
            Attacker {
                profile1: raw("/hearth/profile/1"),
                presence1: raw("/hearth/presence/1"),
                profile2: raw("/hearth/profile/2"),
                catalog1: raw("/hearth/catalog/1"),
                chat1: raw("/hearth/chat/1"),
                gossipsub: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gs_config,
                )
                .unwrap(),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Sends `bytes` on `protocol` and returns the outcome.
async fn send(
    swarm: &mut Swarm<Attacker>,
    peer: PeerId,
    protocol: &'static str,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, OutboundFailure> {
    let behaviour = swarm.behaviour_mut();
    let id = match protocol {
        "/hearth/profile/1" => behaviour.profile1.send_request(&peer, bytes),
        "/hearth/presence/1" => behaviour.presence1.send_request(&peer, bytes),
        "/hearth/profile/2" => behaviour.profile2.send_request(&peer, bytes),
        "/hearth/catalog/1" => behaviour.catalog1.send_request(&peer, bytes),
        "/hearth/chat/1" => behaviour.chat1.send_request(&peer, bytes),
        other => panic!("no behaviour for {other}"),
    };
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some())
            .await
            .expect("answer in time");
        let SwarmEvent::Behaviour(
            AttackerEvent::Profile1(e)
            | AttackerEvent::Presence1(e)
            | AttackerEvent::Profile2(e)
            | AttackerEvent::Catalog1(e)
            | AttackerEvent::Chat1(e),
        ) = event
        else {
            continue;
        };
        match e {
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } if request_id == id => return Ok(response),
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } if request_id == id => return Err(error),
            _ => {}
        }
    }
}

/// Publishes every message on `topic`, letting the swarm run until the node has subscribed
/// to it (gossipsub refuses to publish to nobody); fails after 10 s.
async fn publish_all(
    swarm: &mut Swarm<Attacker>,
    topic: &gossipsub::IdentTopic,
    messages: &[Vec<u8>],
) {
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sent < messages.len() && tokio::time::Instant::now() < deadline {
        match swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), messages[sent].clone())
        {
            Ok(_) => sent += 1,
            Err(_) => {
                let _ = tokio::time::timeout(Duration::from_millis(100), swarm.select_next_some())
                    .await;
            }
        }
    }
    assert_eq!(sent, messages.len(), "every message published");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_unknown_version_messages_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("target", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let mut swarm = attacker();
    let peer = connect(&mut swarm, &node.addr).await;

    // A well-formed request is answered: the baseline.
    let ok = send(&mut swarm, peer, "/hearth/profile/1", b"{}".to_vec())
        .await
        .expect("valid request answered");
    let profile: serde_json::Value = serde_json::from_slice(&ok).unwrap();
    assert_eq!(profile["display_name"], "target");

    let attacks: Vec<(&'static str, Vec<u8>)> = vec![
        ("/hearth/profile/1", b"\xff\xfe not json".to_vec()),
        ("/hearth/profile/1", vec![b'{'; 100_000]),
        ("/hearth/profile/1", br#"{"unexpected": 1}"#.to_vec()),
        ("/hearth/presence/1", b"[[[[".to_vec()),
        (
            "/hearth/presence/1",
            format!(r#"{{"about":"{}"}}"#, "x".repeat(500_000)).into_bytes(),
        ),
        ("/hearth/presence/1", br#"{"about": 12}"#.to_vec()),
        ("/hearth/catalog/1", b"{{{{".to_vec()),
        (
            "/hearth/catalog/1",
            br#"{"type":"entries","author":1}"#.to_vec(),
        ),
        ("/hearth/catalog/1", vec![b' '; 100_000]),
    ];
    for (protocol, bytes) in attacks {
        let len = bytes.len();
        let outcome = send(&mut swarm, peer, protocol, bytes).await;
        assert!(
            outcome.is_err(),
            "{protocol}: {len}-byte bad request must not be answered: {outcome:?}"
        );
    }
    // An unknown major version is refused at negotiation.
    let outcome = send(&mut swarm, peer, "/hearth/profile/2", b"{}".to_vec()).await;
    assert!(
        matches!(outcome, Err(OutboundFailure::UnsupportedProtocols)),
        "{outcome:?}"
    );

    // A vote about a garbage peer id is answered "unreachable" rather than failing.
    let answer = send(
        &mut swarm,
        peer,
        "/hearth/presence/1",
        br#"{"about":"not-a-peer"}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&answer).unwrap()["reachable"],
        false
    );

    // Garbage on the presence topic is rejected, never shown as a profile.
    let topic = gossipsub::IdentTopic::new("/hearth/presence/1");
    swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    let me = *swarm.local_peer_id();
    let bad_announcements = [
        b"not json at all".to_vec(),
        serde_json::to_vec(&serde_json::json!({"seq": 1, "profile": {"display_name": "x".repeat(5000), "affiliation": "", "bio": ""}, "addrs": []})).unwrap(),
        vec![b' '; 200_000],
    ];
    publish_all(&mut swarm, &topic, &bad_announcements).await;
    let drive = async {
        loop {
            swarm.select_next_some().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), drive).await;

    // The node is alive, still answers, and took none of it in.
    let status: Status = node
        .client
        .status()
        .await
        .expect("node still serves its API");
    assert_eq!(status.profile.display_name, "target");
    let seen = node.peer(&me.to_string()).await;
    assert!(
        seen.as_ref().and_then(|p| p.profile.as_ref()).is_none(),
        "no profile from garbage: {seen:?}"
    );
    let ok = send(&mut swarm, peer, "/hearth/profile/1", b"{}".to_vec()).await;
    assert!(
        ok.is_ok(),
        "still answers well-formed requests after the attack: {ok:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let node = TestNode::start("first", &dir, &[], FAST_PRESENCE).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("run")
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http",
            "127.0.0.1:0",
            "--no-mdns",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by another Hearth process"),
        "clear error expected, got: {stderr}"
    );
    assert!(
        stderr.contains(&node.child.id().to_string()),
        "names the pid: {stderr}"
    );
    // The first node is untouched.
    eventually(
        Duration::from_secs(2),
        "first node still serving",
        || async { node.client.status().await.ok() },
    )
    .await;
}

fn resource_body(title: &str, n: u8) -> hearth::catalog::feed::Body {
    use hearth::catalog::feed::{Kind, RecordFile};
    let id = hex::encode([n; 20]);
    hearth::catalog::feed::Body::Publish {
        resource: hearth::catalog::feed::ResourceBody {
            magnet: format!("magnet:?xt=urn:btih:{id}"),
            content_id: id,
            title: title.into(),
            description: String::new(),
            kind: Kind::Paper,
            tags: vec![],
            size: 10,
            mime: "application/pdf".into(),
            files: vec![RecordFile {
                path: "a.pdf".into(),
                size: 10,
            }],
            created_ms: 1,
            thumbnail: None,
            duration_ms: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_broken_forked_and_oversize_feed_entries_are_refused_counted_and_not_stored() {
    use hearth::api::dto::{CatalogStats, SearchRequest, SearchResult};
    use hearth::catalog::feed::{sign_next, Head, SignedEntry};

    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("target", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let mut swarm = attacker();
    connect(&mut swarm, &node.addr).await;
    let topic = gossipsub::IdentTopic::new("/hearth/feed/1");
    swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();

    // Entries of some author, relayed by the attacker.
    let author = libp2p::identity::Keypair::generate_ed25519();
    let now = 1_700_000_000_000;
    let genuine = sign_next(&author, None, now, resource_body("Genuine first", 1)).unwrap();
    let fork = sign_next(&author, None, now + 1, resource_body("Forked first", 2)).unwrap();
    let wrong_prev = Head {
        seq: 1,
        hash: "0".repeat(64),
    };
    let broken = sign_next(
        &author,
        Some(&wrong_prev),
        now + 2,
        resource_body("Broken second", 3),
    )
    .unwrap();
    let mut forged = sign_next(&author, None, now, resource_body("Honest words", 4))
        .unwrap()
        .signed;
    forged.payload = forged.payload.replace("Honest words", "Forged words");
    let oversize = SignedEntry {
        payload: format!("{{\"pad\":\"{}\"}}", "x".repeat(52 * 1024)),
        sig: "AAAA".into(),
    };
    let wire = |e: &SignedEntry| serde_json::to_vec(e).unwrap();
    let messages = [
        wire(&genuine.signed),
        wire(&forged),
        wire(&fork.signed),
        wire(&broken.signed),
        wire(&oversize),
    ];
    publish_all(&mut swarm, &topic, &messages).await;
    let client = node.client.clone();
    let counted = async {
        eventually(Duration::from_secs(10), "every refusal counted", || async {
            let s: CatalogStats = client.catalog_stats().await.ok()?;
            let r = &s.rejected;
            let all = r.bad_signature >= 1 && r.fork >= 1 && r.broken_chain >= 1 && r.oversize >= 1;
            // `resources` counts searchable records: the genuine one once it is committed.
            (all && s.resources >= 1).then_some(s)
        })
        .await
    };
    let drive = async {
        loop {
            swarm.select_next_some().await;
        }
    };
    let stats = tokio::select! {
        s = counted => s,
        _ = drive => unreachable!("the swarm never ends"),
    };
    assert_eq!(
        stats.resources, 1,
        "only the genuine entry is stored: {stats:?}"
    );
    for (word, hits) in [("genuine", 1), ("forked", 0), ("broken", 0), ("forged", 0)] {
        let r: SearchResult = node
            .client
            .search(&SearchRequest {
                text: word.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(r.items.len(), hits, "{word}: {r:?}");
    }
}

/// A direct message as a peer's chat protocol sends it.
fn dm_wire(id: u8, seq: u64, text: &str) -> Vec<u8> {
    let body = serde_json::json!({ "text": text }).to_string();
    serde_json::to_vec(&serde_json::json!({
        "dm": { "Message": { "id": vec![id; 16], "seq": seq, "low": 1, "body": body, "sent_ms": 1 } }
    }))
    .unwrap()
}

/// What `peer` said to `node`: the attacker is a stranger, so its messages wait in its
/// request (listed the same way, once each) rather than in a conversation.
async fn dm_texts(node: &TestNode, peer: &PeerId) -> Vec<String> {
    let requests: hearth::api::dto::ChatRequests =
        node.client.list_requests().await.expect("requests");
    let held = requests
        .requests
        .into_iter()
        .filter(|r| r.peer_id == peer.to_string())
        .flat_map(|r| r.messages.into_iter().map(|m| m.body));
    let page: hearth::api::dto::HistoryPage = node
        .client
        .dm_history(&hearth::api::dto::DmHistoryRequest {
            peer_id: peer.to_string(),
            before: None,
            limit: Some(100),
        })
        .await
        .expect("dm history");
    held.chain(page.messages.into_iter().map(|m| m.body))
        .collect()
}

/// Sends `bytes` as a chat message and expects the bare acknowledgement.
async fn chat(swarm: &mut Swarm<Attacker>, peer: PeerId, bytes: Vec<u8>) {
    let answer = send(swarm, peer, "/hearth/chat/1", bytes)
        .await
        .expect("chat message acknowledged");
    assert_eq!(answer, b"{}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_forged_and_malformed_chat_messages_are_shown_once_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = TestNode::start("target", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let mut swarm = attacker();
    let me = *swarm.local_peer_id();
    let mut peer = connect(&mut swarm, &node.addr).await;

    // One direct message, then the same bytes again and again, and a forged copy that
    // reuses its sequence number: shown once. (Each message goes through one queue, so
    // once a later one shows, every earlier one has been handled.)
    chat(&mut swarm, peer, dm_wire(1, 1, "hello once")).await;
    for _ in 0..3 {
        chat(&mut swarm, peer, dm_wire(1, 1, "hello once")).await;
    }
    chat(&mut swarm, peer, dm_wire(9, 1, "forged replay")).await;
    chat(&mut swarm, peer, dm_wire(2, 2, "second")).await;
    let texts = eventually(Duration::from_secs(10), "second message", || async {
        let t = dm_texts(&node, &me).await;
        t.contains(&"second".to_string()).then_some(t)
    })
    .await;
    assert_eq!(texts, ["hello once", "second"]);

    // The duplicate filter is on disk, not a time window: replays after a crash and
    // restart (the "more than a minute later" case) are still recognised.
    node.kill();
    node.restart(&[]).await;
    peer = connect(&mut swarm, &node.addr).await;
    chat(&mut swarm, peer, dm_wire(1, 1, "hello once")).await;
    chat(&mut swarm, peer, dm_wire(2, 2, "second")).await;
    chat(&mut swarm, peer, dm_wire(3, 3, "third")).await;
    let texts = eventually(Duration::from_secs(10), "third message", || async {
        let t = dm_texts(&node, &me).await;
        t.contains(&"third".to_string()).then_some(t)
    })
    .await;
    assert_eq!(texts, ["hello once", "second", "third"]);

    // A stranger cannot write into a room, not even in the name of its creator.
    let room: hearth::api::dto::RoomInfo = node
        .client
        .create_room(&hearth::api::dto::CreateRoomRequest {
            name: "private".into(),
            members: vec![],
        })
        .await
        .unwrap();
    let room_bytes = hex::decode(&room.room_id).unwrap();
    for (sender, text) in [
        (me.to_string(), "intruder"),
        (node.peer_id.clone(), "forged"),
    ] {
        let item = serde_json::json!({
            "id": vec![7u8; 16], "sender": sender, "sent_ms": 1, "content": { "Text": text }
        });
        let submit = serde_json::json!({
            "room": { "Submit": { "room": room_bytes, "term": 1, "items": [item] } }
        });
        // Items carry their author's signature now: an unsigned one is not even
        // acknowledged; whatever the answer, nothing of it may show.
        let _ = send(
            &mut swarm,
            peer,
            "/hearth/chat/1",
            serde_json::to_vec(&submit).unwrap(),
        )
        .await;
    }
    let hello = serde_json::json!({ "room": { "Hello": { "room": room_bytes, "term": 1,
        "host": node.peer_id, "last": { "epoch": null, "seq": 0 } } } });
    let _ = send(
        &mut swarm,
        peer,
        "/hearth/chat/1",
        serde_json::to_vec(&hello).unwrap(),
    )
    .await;

    // Malformed and oversized chat messages are not acknowledged.
    for bad in [
        b"{{{{".to_vec(),
        br#"{"dm":{"Message":{"id":"x"}}}"#.to_vec(),
        br#"{"room":{"Submit":{"room":[1,2],"term":1,"items":[]}}}"#.to_vec(),
        vec![b' '; 5 * 1024 * 1024],
    ] {
        let len = bad.len();
        let outcome = send(&mut swarm, peer, "/hearth/chat/1", bad).await;
        assert!(outcome.is_err(), "{len}-byte bad chat message answered");
    }
    chat(&mut swarm, peer, dm_wire(4, 4, "fourth")).await;
    eventually(Duration::from_secs(10), "fourth message", || async {
        dm_texts(&node, &me)
            .await
            .contains(&"fourth".to_string())
            .then_some(())
    })
    .await;
    let history: hearth::api::dto::HistoryPage = node
        .client
        .room_history(&hearth::api::dto::HistoryRequest {
            room_id: room.room_id.clone(),
            before: None,
            limit: None,
        })
        .await
        .unwrap();
    let kinds: Vec<_> = history.messages.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [hearth::api::dto::MessageKind::Created],
        "{history:?}"
    );
}
