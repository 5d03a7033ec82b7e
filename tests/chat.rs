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
    ChatMessage, ChatStatus, CreateRoomRequest, DmConversation, DmHistoryRequest, HistoryPage,
    HistoryRequest, MessageKind, MessageState, PassphraseRequest, RoomIdRequest, RoomInfo,
    SendDmRequest, SendMessageRequest,
};
use hearth::server::client::Client;
use kit::{eventually, TestNode, FAST_PRESENCE, PASSPHRASE};

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

async fn create_room(node: &TestNode, name: &str, members: &[&TestNode]) -> RoomInfo {
    node.client
        .create_room(&CreateRoomRequest {
            name: name.into(),
            members: members.iter().map(|m| m.peer_id.clone()).collect(),
        })
        .await
        .expect("create room")
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
