//! Chat across real nodes: rooms that survive kill -9 of their host during a burst, an old
//! host that returns and steps down, a member that catches up after being offline, direct
//! messages to an offline peer across a sender restart, membership and deletion rights,
//! encryption at rest and the passphrase.

mod kit;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::api::dto::{
    AnswerRequest, ChatMessage, ChatRequests, ChatStatus, CreateRoomRequest, DmConversation,
    DmHistoryRequest, HistoryPage, HistoryRequest, MessageKind, MessageState, PassphraseRequest,
    RoomIdRequest, RoomInfo, SendDmRequest, SendMessageRequest,
};
use hearth::server::client::Client;
use kit::{accept_request, eventually, TestNode, FAST_PRESENCE, PASSPHRASE};

async fn start_all(dir: &Path, names: &[&str]) -> Vec<TestNode> {
    let first = TestNode::start(names[0], &dir.join(names[0]), &[], FAST_PRESENCE).await;
    let boot = vec![first.addr.clone()];
    let mut nodes = vec![first];
    for name in &names[1..] {
        nodes.push(TestNode::start(name, &dir.join(name), &boot, FAST_PRESENCE).await);
    }
    let n = nodes.len();
    for node in &nodes {
        eventually(Duration::from_secs(30), "everyone connected", || async {
            let connected = node.peers().await.iter().filter(|p| p.connected).count();
            (connected + 1 >= n).then_some(())
        })
        .await;
    }
    nodes
}

/// Creates a room; each member (a stranger to the creator) accepts the invitation.
async fn create_room(node: &TestNode, name: &str, members: &[&TestNode]) -> RoomInfo {
    let r = node
        .client
        .create_room(&CreateRoomRequest {
            name: name.into(),
            members: members.iter().map(|m| m.peer_id.clone()).collect(),
        })
        .await
        .expect("create room");
    for m in members {
        accept_request(&m.client, &node.peer_id).await;
    }
    r
}

async fn room(client: &Client, room_id: &str) -> Option<RoomInfo> {
    client
        .get_room(&RoomIdRequest {
            room_id: room_id.into(),
        })
        .await
        .ok()
}

async fn send(client: &Client, room_id: &str, body: &str) -> Result<ChatMessage, String> {
    client
        .send_message(&SendMessageRequest {
            room_id: room_id.into(),
            body: body.into(),
        })
        .await
        .map_err(|e| e.to_string())
}

/// Every committed message of a room, oldest first (paging back through the history).
async fn history(client: &Client, room_id: &str) -> Vec<ChatMessage> {
    let mut all: Vec<ChatMessage> = Vec::new();
    let mut before = None;
    loop {
        let page: HistoryPage = client
            .room_history(&HistoryRequest {
                room_id: room_id.into(),
                before,
                limit: Some(1000),
            })
            .await
            .expect("history");
        let mut committed: Vec<ChatMessage> = page
            .messages
            .into_iter()
            .filter(|m| m.seq.is_some())
            .collect();
        before = committed.first().and_then(|m| m.seq);
        committed.append(&mut all);
        all = committed;
        if !page.more {
            return all;
        }
    }
}

fn texts(history: &[ChatMessage]) -> Vec<String> {
    history
        .iter()
        .filter(|m| m.kind == MessageKind::Text)
        .map(|m| m.body.clone())
        .collect()
}

/// Waits until every node shows every expected text; returns their histories.
async fn converge(nodes: &[&TestNode], room_id: &str, expected: &HashSet<String>) {
    for node in nodes {
        eventually(
            Duration::from_secs(60),
            &format!("{} holds all {} messages", node.name, expected.len()),
            || async {
                let h = texts(&history(&node.client, room_id).await);
                let have: HashSet<&String> = h.iter().collect();
                expected.iter().all(|t| have.contains(t)).then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_survives_host_kill_during_a_burst_and_the_old_host_steps_down() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = start_all(tmp.path(), &["host", "bea", "cai", "dov", "eli"]).await;
    let members: Vec<&TestNode> = nodes[1..].iter().collect();
    let r = create_room(&nodes[0], "Reading group", &members).await;
    let rid = r.room_id.clone();
    for node in &nodes {
        eventually(Duration::from_secs(30), "every member joined", || async {
            room(&node.client, &rid)
                .await
                .filter(|r| r.members.len() == 5)
        })
        .await;
    }

    // Three senders, 2,000 messages in all; the host is killed a quarter of the way in.
    const TOTAL: usize = 2_000;
    let per_sender = TOTAL / 3 + 1;
    let acked = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for (i, node) in nodes[1..4].iter().enumerate() {
        let client = node.client.clone();
        let rid = rid.clone();
        let acked = acked.clone();
        let sent = sent.clone();
        senders.push(tokio::spawn(async move {
            for k in 0..per_sender {
                if sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= TOTAL {
                    return;
                }
                let text = format!("s{i}-m{k}");
                let m = send(&client, &rid, &text).await.expect("send is accepted");
                assert!(m.mine && m.kind == MessageKind::Text);
                acked.lock().unwrap().insert(text);
            }
        }));
    }
    eventually(
        Duration::from_secs(60),
        "a quarter of the burst sent",
        || async { (sent.load(std::sync::atomic::Ordering::SeqCst) >= TOTAL / 4).then_some(()) },
    )
    .await;
    let old_host = nodes[0].peer_id.clone();
    nodes[0].kill();
    let killed_at = Instant::now();

    let survivors: Vec<&TestNode> = nodes[1..].iter().collect();
    let new_host = eventually(Duration::from_secs(10), "a new host", || async {
        let mut hosts = HashSet::new();
        for n in &survivors {
            let h = room(&n.client, &rid).await?.host?;
            hosts.insert(h);
        }
        let h = hosts.into_iter().next().filter(|_| true)?;
        (h != old_host).then_some(h)
    })
    .await;
    let failover = killed_at.elapsed();
    assert!(
        failover < Duration::from_secs(5),
        "a new host took {failover:?}"
    );
    for h in senders {
        h.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), TOTAL);
    converge(&survivors, &rid, &acked).await;

    // The old host comes back with its old epoch: it steps down and catches up.
    let boot = vec![nodes[1].addr.clone()];
    nodes[0].restart(&boot).await;
    let all: Vec<&TestNode> = nodes.iter().collect();
    converge(&all, &rid, &acked).await;
    eventually(Duration::from_secs(20), "the old host follows", || async {
        let r = room(&nodes[0].client, &rid).await?;
        (r.host.as_deref() == Some(new_host.as_str()) && !r.is_host).then_some(())
    })
    .await;

    // Every member has the same history: same entries, same order, each once.
    let reference = history(&nodes[1].client, &rid).await;
    let ids: Vec<&String> = reference.iter().map(|m| &m.id).collect();
    let unique: HashSet<&String> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an entry is shown twice");
    let reference_texts = texts(&reference);
    assert_eq!(reference_texts.len(), TOTAL, "messages lost or duplicated");
    for node in &nodes {
        let h = history(&node.client, &rid).await;
        let node_ids: Vec<&String> = h.iter().map(|m| &m.id).collect();
        assert_eq!(node_ids, ids, "{} shows a different history", node.name);
    }
    // Each sender's messages keep their order.
    for i in 0..3 {
        let mine: Vec<usize> = reference_texts
            .iter()
            .filter_map(|t| t.strip_prefix(&format!("s{i}-m")))
            .map(|k| k.parse().unwrap())
            .collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "sender {i} reordered");
    }

    // Nothing of what was said is readable on disk.
    for node in &nodes {
        assert_no_plaintext(&node.dir, b"s1-m17");
    }
}

fn assert_no_plaintext(dir: &Path, marker: &[u8]) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} holds a message in the clear",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_offline_during_500_messages_receives_them_all_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = start_all(tmp.path(), &["ana", "ben", "cy"]).await;
    let r = create_room(&nodes[0], "Lab", &[&nodes[1], &nodes[2]]).await;
    let rid = r.room_id.clone();
    for node in &nodes {
        eventually(Duration::from_secs(30), "joined", || async {
            room(&node.client, &rid)
                .await
                .filter(|r| r.members.len() == 3)
        })
        .await;
    }
    nodes[2].kill();
    let mut expected = Vec::new();
    for k in 0..500 {
        let who = k % 2;
        let text = format!("while away {k}");
        send(&nodes[who].client, &rid, &text).await.unwrap();
        expected.push(text);
    }
    let boot = vec![nodes[0].addr.clone()];
    nodes[2].restart(&boot).await;
    let started = Instant::now();
    eventually(
        Duration::from_secs(30),
        "all 500 on the returning member",
        || async {
            let h = texts(&history(&nodes[2].client, &rid).await);
            (h.len() >= 500).then_some(())
        },
    )
    .await;
    eprintln!("500-message backlog shown after {:?}", started.elapsed());
    let reference = texts(&history(&nodes[0].client, &rid).await);
    let returned = texts(&history(&nodes[2].client, &rid).await);
    assert_eq!(returned, reference);
    assert_eq!(returned.len(), 500);
    let ordered: HashSet<&String> = returned.iter().collect();
    assert_eq!(ordered.len(), 500);
    // Each author's messages in the order they were sent.
    for who in 0..2 {
        let theirs: Vec<&String> = returned
            .iter()
            .filter(|t| t[11..].parse::<usize>().unwrap() % 2 == who)
            .collect();
        let sent: Vec<&String> = expected
            .iter()
            .filter(|t| t[11..].parse::<usize>().unwrap() % 2 == who)
            .collect();
        assert_eq!(theirs, sent);
    }
}

async fn dm_history(client: &Client, peer: &str) -> Vec<ChatMessage> {
    let page: HistoryPage = client
        .dm_history(&DmHistoryRequest {
            peer_id: peer.into(),
            before: None,
            limit: Some(1000),
        })
        .await
        .expect("dm history");
    page.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_to_an_offline_peer_arrives_also_after_the_sender_restarted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = start_all(tmp.path(), &["ada", "bo"]).await;
    let (a, b) = (nodes[0].peer_id.clone(), nodes[1].peer_id.clone());
    nodes[1].kill();
    let m: ChatMessage = nodes[0]
        .client
        .send_dm(&SendDmRequest {
            peer_id: b.clone(),
            body: "first, while you were away".into(),
        })
        .await
        .unwrap();
    assert!(matches!(
        m.state,
        MessageState::Queued | MessageState::Sending
    ));
    // The sender restarts before the peer is back; the outbox survives.
    nodes[0].kill();
    nodes[0].restart(&[]).await;
    let _: ChatMessage = nodes[0]
        .client
        .send_dm(&SendDmRequest {
            peer_id: b.clone(),
            body: "second, after my restart".into(),
        })
        .await
        .unwrap();
    let dms: Vec<DmConversation> = nodes[0].client.list_dms().await.unwrap();
    assert_eq!(dms.len(), 1);
    assert_eq!(dms[0].pending, 2, "both wait in the outbox");

    let boot = vec![nodes[0].addr.clone()];
    nodes[1].restart(&boot).await;
    // Bo has never talked with Ada: her messages wait in Requests until Bo accepts.
    accept_request(&nodes[1].client, &a).await;
    let got = eventually(
        Duration::from_secs(30),
        "both messages delivered",
        || async {
            let h = dm_history(&nodes[1].client, &a).await;
            (h.len() >= 2).then_some(h)
        },
    )
    .await;
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["first, while you were away", "second, after my restart"]
    );
    assert!(got
        .iter()
        .all(|m| !m.mine && m.state == MessageState::Received));
    eventually(Duration::from_secs(20), "sender sees delivered", || async {
        let h = dm_history(&nodes[0].client, &b).await;
        h.iter()
            .all(|m| m.state == MessageState::Delivered)
            .then_some(())
    })
    .await;
    // Shown once, also after the receiver restarts (the sender may retransmit).
    nodes[1].restart(&boot).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(dm_history(&nodes[1].client, &a).await.len(), 2);

    // A wrong passphrase leaves chat locked and changes nothing; the right one opens it.
    nodes[1].kill();
    let dir = nodes[1].dir.clone();
    let config = std::fs::read_to_string(dir.join("hearth.toml")).unwrap();
    let node = TestNode::start_with("bo", &dir, &boot, &config, None).await;
    let wrong = node
        .client
        .unlock_chat(&PassphraseRequest {
            passphrase: "not the passphrase".into(),
        })
        .await;
    assert!(
        wrong
            .as_ref()
            .is_err_and(|e| e.to_string().contains("wrong passphrase")),
        "{wrong:?}"
    );
    let locked = node.client.list_rooms().await;
    assert!(locked.is_err(), "chat stays locked");
    let status: ChatStatus = node
        .client
        .unlock_chat(&PassphraseRequest {
            passphrase: PASSPHRASE.into(),
        })
        .await
        .unwrap();
    assert!(status.unlocked && status.has_passphrase);
    assert_eq!(dm_history(&node.client, &a).await.len(), 2);
    assert_no_plaintext(&dir, b"while you were away");
    assert_no_plaintext(&nodes[0].dir, b"while you were away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_read_a_room_and_only_its_creator_deletes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes = start_all(tmp.path(), &["cora", "dan", "eve"]).await;
    let r = create_room(&nodes[0], "Members only", &[&nodes[1]]).await;
    let rid = r.room_id.clone();
    eventually(Duration::from_secs(30), "dan joined", || async {
        room(&nodes[1].client, &rid).await
    })
    .await;
    send(&nodes[1].client, &rid, "for members").await.unwrap();
    eventually(Duration::from_secs(20), "cora reads it", || async {
        texts(&history(&nodes[0].client, &rid).await)
            .contains(&"for members".to_string())
            .then_some(())
    })
    .await;
    // The command line: send by room name, read the history back as JSON.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
            .arg("--data-dir")
            .arg(&nodes[1].dir)
            .arg("--json")
            .args(args)
            .output()
            .expect("run the CLI");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let sent: ChatMessage =
        serde_json::from_slice(&cli(&["room", "send", "Members only", "via", "the", "cli"]))
            .unwrap();
    assert_eq!(sent.body, "via the cli");
    eventually(
        Duration::from_secs(20),
        "the CLI's message committed",
        || async {
            let page: HistoryPage =
                serde_json::from_slice(&cli(&["room", "history", &rid[..8]])).ok()?;
            page.messages
                .iter()
                .any(|m| m.body == "via the cli" && m.state == MessageState::Delivered)
                .then_some(())
        },
    )
    .await;

    // Eve was never invited: she has no such room and cannot read or write it.
    assert!(room(&nodes[2].client, &rid).await.is_none());
    assert!(send(&nodes[2].client, &rid, "let me in").await.is_err());

    // Dan may not delete; Cora (the creator) may, and Dan is told. History stays.
    let refused = nodes[1]
        .client
        .delete_room(&RoomIdRequest {
            room_id: rid.clone(),
        })
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("creator")),
        "{refused:?}"
    );
    let () = nodes[0]
        .client
        .delete_room(&RoomIdRequest {
            room_id: rid.clone(),
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "dan sees the deletion", || async {
        room(&nodes[1].client, &rid).await.filter(|r| r.deleted)
    })
    .await;
    assert!(texts(&history(&nodes[1].client, &rid).await).contains(&"for members".to_string()));
    assert!(send(&nodes[1].client, &rid, "after deletion")
        .await
        .is_err());
}

/// A raw libp2p peer speaking `/hearth/chat/1` with its own identity: a room member whose
/// node is modified to forge.
mod forger {
    use std::time::Duration;

    use futures::StreamExt;
    use libp2p::identity::Keypair;
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;
    use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder};

    use crate::kit::raw::RawCodec;

    pub type Forger = Swarm<request_response::Behaviour<RawCodec>>;

    pub fn swarm(key: Keypair) -> Forger {
        SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| {
                request_response::Behaviour::with_codec(
                    RawCodec,
                    [(
                        StreamProtocol::new("/hearth/chat/1"),
                        ProtocolSupport::Outbound,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(5)),
                )
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build()
    }

    pub async fn connect(swarm: &mut Forger, addr: &str) -> PeerId {
        let addr: Multiaddr = addr.parse().unwrap();
        swarm.dial(addr).unwrap();
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
            {
                return peer_id;
            }
        }
    }

    /// Sends one chat message; true if the node acknowledged it (it decoded).
    pub async fn send(swarm: &mut Forger, peer: PeerId, bytes: Vec<u8>) -> bool {
        let id = swarm.behaviour_mut().send_request(&peer, bytes);
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some())
                .await
                .expect("answer in time");
            match event {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, .. },
                    ..
                }) if request_id == id => return true,
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    ..
                }) if request_id == id => return false,
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_forge_deletion_leaves_or_texts_over_the_wire() {
    use hearth::chat::room::{item_bytes, Content, Item, Sig, Signer, Wire};
    use hearth::chat::ChatWire;
    use libp2p::PeerId;

    let tmp = tempfile::tempdir().unwrap();
    let nodes = start_all(tmp.path(), &["fay", "gus"]).await;
    let (fay, gus) = (&nodes[0], &nodes[1]);
    // The forger is a real member: fay invites its peer id.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut swarm = forger::swarm(key.clone());
    let host = forger::connect(&mut swarm, &fay.addr).await;
    let r = fay
        .client
        .create_room(&CreateRoomRequest {
            name: "Signed".into(),
            members: vec![gus.peer_id.clone(), me.to_string()],
        })
        .await
        .expect("create room");
    accept_request(&gus.client, &fay.peer_id).await;
    let rid = r.room_id.clone();
    eventually(
        Duration::from_secs(30),
        "gus joined, three members",
        || async {
            let info = room(&gus.client, &rid).await?;
            (info.members.len() == 3).then_some(())
        },
    )
    .await;
    let mut room_id = [0u8; 32];
    hex::decode_to_slice(&rid, &mut room_id).expect("hex room id");
    let fay_id: PeerId = fay.peer_id.parse().unwrap();
    let gus_id: PeerId = gus.peer_id.parse().unwrap();
    let item = |n: u8, sender: PeerId, content: Content<PeerId>| {
        let mut item = Item {
            id: [n; 16],
            sender,
            sent_ms: 1,
            content,
            sig: Sig::NONE,
        };
        item.sig = Signer::sign(&key, &item_bytes(&room_id, &item));
        item
    };
    let items = vec![
        // In the creator's name: delete the room.
        item(1, fay_id, Content::Delete),
        // In gus's name: gus leaves; and words gus never wrote.
        item(2, gus_id, Content::Left(gus_id)),
        item(3, gus_id, Content::Text("forged by a member".into())),
        // In its own name, but not its to ask: deletion, and gus's leave.
        item(4, me, Content::Delete),
        item(5, me, Content::Left(gus_id)),
    ];
    let msg = ChatWire::Room(Wire::Submit {
        room: room_id,
        term: r.term,
        items,
    });
    let bytes = serde_json::to_vec(&msg).unwrap();
    assert!(
        forger::send(&mut swarm, host, bytes).await,
        "the node read it"
    );
    // The room carries on: gus still writes, nothing forged shows, nobody left.
    send(&gus.client, &rid, "still here").await.unwrap();
    for node in [fay, gus] {
        eventually(
            Duration::from_secs(20),
            "the real message arrives",
            || async {
                texts(&history(&node.client, &rid).await)
                    .contains(&"still here".to_string())
                    .then_some(())
            },
        )
        .await;
        let info = room(&node.client, &rid).await.expect("room");
        assert!(!info.deleted, "not deleted");
        assert_eq!(info.members.len(), 3, "nobody removed");
        let all = texts(&history(&node.client, &rid).await);
        assert!(!all.iter().any(|t| t.contains("forged")), "{all:?}");
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

async fn requests(client: &Client) -> ChatRequests {
    client.list_requests().await.expect("list requests")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_wait_in_requests_until_accepted_declined_ones_are_dropped_and_requests_are_capped(
) {
    use hearth::chat::actor::{MAX_REQUESTS, MAX_REQUEST_ITEMS};

    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = start_all(tmp.path(), &["ida", "jon", "kim"]).await;
    let (ida, jon, kim) = (
        nodes[0].peer_id.clone(),
        nodes[1].peer_id.clone(),
        nodes[2].peer_id.clone(),
    );
    let dm = |client: Client, peer: String, body: &'static str| async move {
        let _: ChatMessage = client
            .send_dm(&SendDmRequest {
                peer_id: peer,
                body: body.into(),
            })
            .await
            .expect("send dm");
    };

    // A stranger's message waits in Requests, not in the conversations.
    dm(
        nodes[1].client.clone(),
        ida.clone(),
        "hello, we have not met",
    )
    .await;
    let r = eventually(Duration::from_secs(30), "jon's request", || async {
        let list = requests(&nodes[0].client).await;
        list.requests.into_iter().find(|r| r.peer_id == jon)
    })
    .await;
    assert_eq!(texts(&r.messages), ["hello, we have not met"]);
    assert!(nodes[0].client.list_dms().await.unwrap().is_empty());
    assert!(dm_history(&nodes[0].client, &jon).await.is_empty());

    // Accepting makes it a conversation; what jon sends next goes straight through.
    nodes[0]
        .client
        .answer_request(&AnswerRequest {
            peer_id: jon.clone(),
            accept: true,
        })
        .await
        .unwrap();
    assert!(requests(&nodes[0].client).await.requests.is_empty());
    let dms: Vec<DmConversation> = nodes[0].client.list_dms().await.unwrap();
    assert_eq!(dms.len(), 1);
    assert_eq!(dms[0].peer_id, jon);
    dm(nodes[1].client.clone(), ida.clone(), "glad you said yes").await;
    eventually(Duration::from_secs(30), "jon's second message", || async {
        let h = texts(&dm_history(&nodes[0].client, &jon).await);
        (h == ["hello, we have not met", "glad you said yes"]).then_some(())
    })
    .await;
    assert!(requests(&nodes[0].client).await.requests.is_empty());

    // A peer I wrote to first is known: its answer goes straight through. To kim, I am the
    // stranger.
    dm(nodes[0].client.clone(), kim.clone(), "hi kim, ida here").await;
    eventually(Duration::from_secs(30), "ida's request at kim", || async {
        let list = requests(&nodes[2].client).await;
        list.requests.iter().any(|r| r.peer_id == ida).then_some(())
    })
    .await;
    dm(nodes[2].client.clone(), ida.clone(), "hi ida").await;
    eventually(Duration::from_secs(30), "kim's answer", || async {
        let h = texts(&dm_history(&nodes[0].client, &kim).await);
        (h == ["hi kim, ida here", "hi ida"]).then_some(())
    })
    .await;
    assert!(requests(&nodes[0].client).await.requests.is_empty());

    // A stranger's room invitation waits too: no room until it is accepted.
    let r: RoomInfo = nodes[1]
        .client
        .create_room(&CreateRoomRequest {
            name: "Book club".into(),
            members: vec![kim.clone()],
        })
        .await
        .unwrap();
    let held = eventually(Duration::from_secs(30), "jon's invitation", || async {
        let list = requests(&nodes[2].client).await;
        list.requests.into_iter().find(|r| r.peer_id == jon)
    })
    .await;
    assert_eq!(held.invites.len(), 1);
    assert_eq!(held.invites[0].name, "Book club");
    assert!(nodes[2].client.list_rooms().await.unwrap().is_empty());
    // From the command line: list, then accept.
    let listed = kit::cli(&nodes[2].dir, &["requests"]);
    assert!(
        listed["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["peer_id"] == jon.as_str() && r["invites"][0]["name"] == "Book club"),
        "{listed}"
    );
    let accepted = kit::cli(&nodes[2].dir, &["requests", "accept", &jon]);
    assert_eq!(accepted["accepted"], jon.as_str());
    eventually(Duration::from_secs(30), "kim joined", || async {
        room(&nodes[2].client, &r.room_id)
            .await
            .filter(|r| r.members.len() == 2)
    })
    .await;

    // Raw peers: one sends more than a request keeps, and is declined.
    let mut forgers = Vec::new();
    for _ in 0..MAX_REQUESTS + 2 {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let id = key.public().to_peer_id();
        let mut swarm = forger::swarm(key);
        let node = forger::connect(&mut swarm, &nodes[0].addr).await;
        forgers.push((swarm, id, node));
    }
    let (swarm, pest, node) = &mut forgers[0];
    let extra = 5;
    for seq in 1..=(MAX_REQUEST_ITEMS + extra) as u64 {
        assert!(
            forger::send(
                swarm,
                *node,
                dm_wire(seq as u8, seq, &format!("spam {seq}"))
            )
            .await
        );
    }
    let list = eventually(Duration::from_secs(10), "the spam is held", || async {
        let list = requests(&nodes[0].client).await;
        (list.refused >= extra as u64).then_some(list)
    })
    .await;
    let held = list.requests.iter().find(|r| r.peer_id == pest.to_string());
    assert_eq!(held.unwrap().messages.len(), MAX_REQUEST_ITEMS);
    assert_eq!(list.refused, extra as u64);
    nodes[0]
        .client
        .answer_request(&AnswerRequest {
            peer_id: pest.to_string(),
            accept: false,
        })
        .await
        .unwrap();
    let seq = (MAX_REQUEST_ITEMS + extra + 1) as u64;
    assert!(forger::send(swarm, *node, dm_wire(99, seq, "let me in")).await);
    let list = eventually(Duration::from_secs(10), "dropped after decline", || async {
        let list = requests(&nodes[0].client).await;
        (list.dropped == 1).then_some(list)
    })
    .await;
    assert!(list.requests.is_empty());
    assert!(dm_history(&nodes[0].client, &pest.to_string())
        .await
        .is_empty());

    // Many strangers: MAX_REQUESTS wait, the next is refused.
    for (swarm, _, node) in &mut forgers[1..] {
        assert!(forger::send(swarm, *node, dm_wire(1, 1, "hello from a crowd")).await);
    }
    let list = eventually(Duration::from_secs(20), "the crowd is held", || async {
        let list = requests(&nodes[0].client).await;
        (list.refused == extra as u64 + 1).then_some(list)
    })
    .await;
    assert_eq!(list.requests.len(), MAX_REQUESTS);

    // Requests survive a restart; nothing of them is readable on disk.
    nodes[0].kill();
    nodes[0].restart(&[]).await;
    let list = eventually(Duration::from_secs(30), "chat unlocked again", || async {
        nodes[0].client.list_requests().await.ok()
    })
    .await;
    assert_eq!(list.requests.len(), MAX_REQUESTS);
    assert!(list
        .requests
        .iter()
        .all(|r| texts(&r.messages) == ["hello from a crowd"]));
    assert_no_plaintext(&nodes[0].dir, b"hello from a crowd");
}
