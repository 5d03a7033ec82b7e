//! Hearth across NAT routers, in the network lab (`tests/netlab`, ARCHITECTURE.md "The
//! network lab"): homes behind masquerading routers, a public node, a LAN, names from a
//! namespace's hosts file. Needs root; fails (never passes) without it.

mod kit;
mod netlab;

use std::path::Path;
use std::time::{Duration, Instant};

use hearth::api::dto::{
    ChatMessage, CreateRoomRequest, DownloadRequest, DownloadRoute, DownloadState, HistoryRequest,
    JoinRequest, MessageKind, PeerIdRequest, PublishRequest, RoomIdRequest, SearchRequest,
    SendMessageRequest,
};
use kit::{complete, download, eventually, random_file, Launch, FAST_PRESENCE};
use netlab::{Lab, LabNode, Nat};

/// The ids `node` lists online.
async fn online(node: &LabNode) -> Vec<String> {
    node.peers()
        .await
        .into_iter()
        .filter(|p| p.online)
        .map(|p| p.peer_id)
        .collect()
}

/// Waits until every node lists every other online.
async fn all_see_each_other(nodes: &[&LabNode], timeout: Duration) {
    for node in nodes {
        let others: Vec<&str> = nodes
            .iter()
            .filter(|n| n.peer_id != node.peer_id)
            .map(|n| n.peer_id.as_str())
            .collect();
        eventually(
            timeout,
            &format!("{} to list {} others online", node.name, others.len()),
            || async {
                let online = online(node).await;
                others
                    .iter()
                    .all(|id| online.iter().any(|o| o == id))
                    .then_some(())
            },
        )
        .await;
    }
}

fn launch<'a>(name: &'a str, dir: &'a Path, bootstrap: &'a [String]) -> Launch<'a> {
    Launch::new(name, dir)
        .bootstrap(bootstrap)
        .config(FAST_PRESENCE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_homes_behind_nat_and_a_public_node_see_each_other_and_search_across() {
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let home_a = lab.home("ha", Nat::EndpointIndependent, 1);
    let home_b = lab.home("hb", Nat::EndpointIndependent, 1);
    let tmp = tempfile::tempdir().unwrap();

    let p = lab
        .start(&public, launch("public", &tmp.path().join("p"), &[]))
        .await;
    let boot = vec![p.tcp_addr()];
    let a = lab
        .start(&home_a.hosts[0], launch("a", &tmp.path().join("a"), &boot))
        .await;
    let b = lab
        .start(&home_b.hosts[0], launch("b", &tmp.path().join("b"), &boot))
        .await;
    all_see_each_other(&[&p, &a, &b], Duration::from_secs(20)).await;

    // A record published in home A reaches home B through the public node.
    let file = tmp.path().join("files/lattice.bin");
    random_file(&file, 64 << 10, 7);
    let published = a
        .client
        .publish(&PublishRequest {
            path: file.display().to_string(),
            title: Some("Lattice measurements".into()),
            tags: vec!["physics".into()],
            ..Default::default()
        })
        .await
        .expect("publish");
    finds(
        &b,
        "lattice",
        &published.content_id,
        Duration::from_secs(20),
    )
    .await;

    // Home A's traffic really went through its router's masquerade.
    let rules = lab.output(
        &home_a.router,
        "iptables",
        &["-t", "nat", "-L", "POSTROUTING", "-v", "-n", "-x"],
    );
    let translated: u64 = rules
        .lines()
        .find(|l| l.contains("MASQUERADE"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        translated > 0,
        "home A's router masqueraded nothing: {rules}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_a_lan_find_each_other_by_mdns() {
    let mut lab = Lab::new();
    let home = lab.home("lan", Nat::EndpointIndependent, 2);
    let tmp = tempfile::tempdir().unwrap();
    let a = lab
        .start(
            &home.hosts[0],
            launch("a", &tmp.path().join("a"), &[]).mdns(true),
        )
        .await;
    let b = lab
        .start(
            &home.hosts[1],
            launch("b", &tmp.path().join("b"), &[]).mdns(true),
        )
        .await;
    all_see_each_other(&[&a, &b], Duration::from_secs(20)).await;
    let seen = a.peer(&b.peer_id).await.expect("b listed");
    assert!(seen.connected, "a is connected to b: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_by_a_dns4_name_from_the_hosts_file() {
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let home = lab.home("h", Nat::EndpointIndependent, 1);
    lab.hosts(&home.hosts[0].ns, &[("hearth.lab", public.ip)]);
    let tmp = tempfile::tempdir().unwrap();
    let p = lab
        .start(&public, launch("public", &tmp.path().join("p"), &[]))
        .await;
    let boot = vec![format!(
        "/dns4/hearth.lab/tcp/{}/p2p/{}",
        netlab::P2P_PORT,
        p.peer_id
    )];
    let a = lab
        .start(&home.hosts[0], launch("a", &tmp.path().join("a"), &boot))
        .await;
    all_see_each_other(&[&p, &a], Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_home_node_rejoins_from_its_peer_book_alone() {
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let home_a = lab.home("ha", Nat::EndpointIndependent, 1);
    let home_b = lab.home("hb", Nat::EndpointIndependent, 1);
    let tmp = tempfile::tempdir().unwrap();
    let p = lab
        .start(&public, launch("public", &tmp.path().join("p"), &[]))
        .await;
    let boot = vec![p.tcp_addr()];
    let mut a = lab
        .start(&home_a.hosts[0], launch("a", &tmp.path().join("a"), &boot))
        .await;
    let b = lab
        .start(&home_b.hosts[0], launch("b", &tmp.path().join("b"), &boot))
        .await;
    all_see_each_other(&[&p, &a, &b], Duration::from_secs(20)).await;

    // kill -9, noticed by the others; then a start with no bootstrap at all.
    a.kill();
    let a_id = a.peer_id.clone();
    // a's QUIC connection to its relay (p) ends by QUIC's 10 s idle timeout after a kill -9.
    eventually(Duration::from_secs(20), "p to mark a offline", || async {
        (!online(&p).await.contains(&a_id)).then_some(())
    })
    .await;
    drop(a);
    // Written without a bootstrap entry: the file of the first start named none either.
    let started = std::time::Instant::now();
    a = lab
        .start(&home_a.hosts[0], launch("a", &tmp.path().join("a"), &[]))
        .await;
    assert_eq!(a.peer_id, a_id, "same identity after the restart");
    all_see_each_other(&[&p, &a, &b], Duration::from_secs(10)).await;
    eprintln!(
        "a back online with both others {:?} after its start",
        started.elapsed()
    );
}

#[test]
fn a_lab_leaves_no_namespace_behind_also_after_a_panic() {
    let mut names = Vec::new();
    {
        let mut lab = Lab::new();
        lab.public("pub");
        lab.home("h", Nat::Symmetric, 2);
        names.extend(lab.namespaces().iter().cloned());
        let listed = netlab::namespaces();
        for ns in &names {
            assert!(listed.contains(ns), "{ns} was created");
            assert!(Path::new("/etc/netns").join(ns).is_dir());
        }
    }
    // A test that panics midway drops its lab while unwinding.
    let panicked = std::thread::spawn(|| {
        let mut lab = Lab::new();
        lab.home("h", Nat::EndpointIndependent, 1);
        let names = lab.namespaces().to_vec();
        std::fs::write(
            std::env::temp_dir().join(format!("hearth-lab-{}", std::process::id())),
            names.join("\n"),
        )
        .unwrap();
        panic!("a failing lab test");
    })
    .join();
    assert!(panicked.is_err());
    let record = std::env::temp_dir().join(format!("hearth-lab-{}", std::process::id()));
    let text = std::fs::read_to_string(&record).unwrap();
    let _ = std::fs::remove_file(&record);
    names.extend(text.lines().map(str::to_owned));

    let listed = netlab::namespaces();
    for ns in &names {
        assert!(!listed.contains(ns), "{ns} is still listed: {listed:?}");
        assert!(
            !Path::new("/etc/netns").join(ns).exists(),
            "{ns}'s /etc/netns"
        );
    }
}

/// Publishes `size` random bytes on `from` under `title` and waits until `to` finds the
/// record (by the title's first word); returns its content id and the bytes.
async fn share(
    from: &LabNode,
    to: &LabNode,
    dir: &Path,
    title: &str,
    size: usize,
) -> (String, Vec<u8>) {
    let file = dir.join(format!("files/{}.bin", title.replace(' ', "-")));
    let bytes = random_file(&file, size, size as u64);
    let published = from
        .client
        .publish(&PublishRequest {
            path: file.display().to_string(),
            title: Some(title.into()),
            ..Default::default()
        })
        .await
        .expect("publish");
    let word = title.split(' ').next().unwrap_or(title).to_lowercase();
    finds(to, &word, &published.content_id, Duration::from_secs(20)).await;
    (published.content_id, bytes)
}

/// Starts `node`'s download of `id`.
async fn fetch(node: &LabNode, id: &str) {
    node.client
        .start_download(&DownloadRequest {
            content_id: Some(id.into()),
            ..Default::default()
        })
        .await
        .expect("start download");
}

/// Waits until `node`'s search for `word` finds the record `content_id`.
async fn finds(node: &LabNode, word: &str, content_id: &str, timeout: Duration) {
    eventually(
        timeout,
        &format!("{} to find {content_id}", node.name),
        || async {
            let found = node
                .client
                .search(&SearchRequest {
                    text: word.into(),
                    ..Default::default()
                })
                .await
                .ok()?;
            found
                .items
                .iter()
                .any(|r| r.content_id == content_id)
                .then_some(())
        },
    )
    .await;
}

/// How `node` reaches `peer` now (`lan`, `direct`, `hole_punched`, `relayed`), if at all.
async fn link(node: &LabNode, peer: &LabNode) -> Option<String> {
    node.peer(&peer.peer_id).await?.connection
}

/// Waits for `node`'s AutoNAT verdict.
async fn nat_becomes(node: &LabNode, want: &str, timeout: Duration) {
    eventually(
        timeout,
        &format!("{} to find its NAT {want}", node.name),
        || async {
            let s = node.client.status().await.ok()?;
            (s.nat == want).then_some(())
        },
    )
    .await;
}

/// Waits until `node` holds a relay slot on `relay`.
async fn reserved_on(node: &LabNode, relay: &LabNode, timeout: Duration) {
    eventually(
        timeout,
        &format!("{} to reserve a slot on {}", node.name, relay.name),
        || async {
            let s = node.client.status().await.ok()?;
            let relayed = s.listen_addrs.iter().any(|a| a.contains("/p2p-circuit"));
            (s.relay_reservations.contains(&relay.peer_id) && relayed).then_some(())
        },
    )
    .await;
}

/// Waits until `a` and `b` reach each other over a hole-punched connection, each by its
/// own account. DCUtR makes three attempts on a relayed connection; when all three miss,
/// the node tries again on a new one 3 s later (`PUNCH_RETRIES`): the waits leave room.
async fn punched(a: &LabNode, b: &LabNode, timeout: Duration) {
    eventually(
        timeout,
        &format!("{} and {} hole-punched", a.name, b.name),
        || async {
            (link(a, b).await.as_deref() == Some("hole_punched")
                && link(b, a).await.as_deref() == Some("hole_punched"))
            .then_some(())
        },
    )
    .await;
}

/// Creates a room on `host` with `members`, and waits until every member has joined.
async fn room_of(host: &LabNode, members: &[&LabNode]) -> String {
    let room = host
        .client
        .create_room(&CreateRoomRequest {
            name: "Across NAT".into(),
            members: members.iter().map(|m| m.peer_id.clone()).collect(),
        })
        .await
        .expect("create room");
    for m in members {
        kit::accept_request(&m.client, &host.peer_id).await;
    }
    let n = members.len() + 1;
    for node in std::iter::once(&host).chain(members) {
        eventually(
            Duration::from_secs(15),
            &format!("{} joined", node.name),
            || async {
                let r = node
                    .client
                    .get_room(&RoomIdRequest {
                        room_id: room.room_id.clone(),
                    })
                    .await
                    .ok()?;
                (r.members.len() == n).then_some(())
            },
        )
        .await;
    }
    room.room_id
}

/// Each node says something; every node's history ends up with every line.
async fn everyone_says_something(room: &str, nodes: &[&LabNode], tag: &str) {
    for node in nodes {
        node.client
            .send_message(&SendMessageRequest {
                room_id: room.into(),
                body: format!("{tag} from {}", node.name),
            })
            .await
            .expect("send");
    }
    for node in nodes {
        eventually(
            Duration::from_secs(15),
            &format!("{} to see every {tag} message", node.name),
            || async {
                let page = node
                    .client
                    .room_history(&HistoryRequest {
                        room_id: room.into(),
                        before: None,
                        limit: Some(1000),
                    })
                    .await
                    .ok()?;
                let texts: Vec<&ChatMessage> = page
                    .messages
                    .iter()
                    .filter(|m| m.kind == MessageKind::Text && m.seq.is_some())
                    .collect();
                nodes
                    .iter()
                    .all(|n| {
                        let line = format!("{tag} from {}", n.name);
                        texts.iter().any(|m| m.body == line)
                    })
                    .then_some(())
            },
        )
        .await;
    }
}

/// A public node and two homes behind NAT routers, started together; the clock starts
/// when the homes are launched.
async fn three(
    lab: &mut Lab,
    tmp: &Path,
    nat_a: Nat,
    nat_b: Nat,
) -> (LabNode, LabNode, LabNode, Instant) {
    let public = lab.public("pub");
    let home_a = lab.home("ha", nat_a, 1);
    let home_b = lab.home("hb", nat_b, 1);
    let p = lab
        .start(&public, launch("public", &tmp.join("p"), &[]))
        .await;
    let boot = vec![p.tcp_addr()];
    let started = Instant::now();
    let a = lab
        .start(&home_a.hosts[0], launch("a", &tmp.join("a"), &boot))
        .await;
    let b = lab
        .start(&home_b.hosts[0], launch("b", &tmp.join("b"), &boot))
        .await;
    (p, a, b, started)
}

/// Waits until `a` has any connection to `b` and returns its kind, first seen.
async fn first_link(a: &LabNode, b: &LabNode, timeout: Duration) -> String {
    eventually(timeout, "a to connect to b", || link(a, b)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_homes_connect_through_the_relay_then_punch_a_direct_connection_and_chat() {
    let mut lab = Lab::new();
    let tmp = tempfile::tempdir().unwrap();
    let (p, a, b, started) = three(
        &mut lab,
        tmp.path(),
        Nat::EndpointIndependent,
        Nat::EndpointIndependent,
    )
    .await;
    nat_becomes(&p, "public", Duration::from_secs(15)).await;
    reserved_on(&a, &p, Duration::from_secs(15)).await;
    reserved_on(&b, &p, Duration::from_secs(15)).await;
    let reserved = started.elapsed();
    // Each home announces its relayed address; the other one learns it.
    eventually(
        Duration::from_secs(10),
        "a to learn b's relayed address",
        || async {
            let peer = a.peer(&b.peer_id).await?;
            peer.addrs
                .iter()
                .any(|x| x.contains(&format!("/p2p/{}/p2p-circuit", p.peer_id)))
                .then_some(())
        },
    )
    .await;
    let first = first_link(&a, &b, Duration::from_secs(15)).await;
    let connected = started.elapsed();
    punched(&a, &b, Duration::from_secs(30)).await;
    let punched = started.elapsed();
    eprintln!(
        "measured: reserved {reserved:?}, a-b connected {connected:?} (first seen {first}), \
         hole-punched {punched:?} after the homes' start"
    );
    // The public node reaches the homes over their own outbound connections: direct.
    assert_eq!(link(&p, &a).await.as_deref(), Some("direct"));
    let doctor = a
        .client
        .doctor(&PeerIdRequest {
            peer_id: b.peer_id.clone(),
        })
        .await
        .expect("doctor");
    assert!(doctor.reachable, "{doctor:?}");
    assert_eq!(doctor.connection.as_deref(), Some("hole_punched"));
    nat_becomes(&a, "private", Duration::from_secs(15)).await;

    let room = room_of(&a, &[&b, &p]).await;
    everyone_says_something(&room, &[&a, &b, &p], "hello").await;
    eprintln!(
        "measured: room chat done {:?} after start",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_behind_symmetric_nat_stays_relayed_and_catalog_and_chat_work() {
    let mut lab = Lab::new();
    let tmp = tempfile::tempdir().unwrap();
    let (p, a, b, started) = three(
        &mut lab,
        tmp.path(),
        Nat::EndpointIndependent,
        Nat::Symmetric,
    )
    .await;
    reserved_on(&a, &p, Duration::from_secs(15)).await;
    reserved_on(&b, &p, Duration::from_secs(15)).await;
    let first = first_link(&a, &b, Duration::from_secs(15)).await;
    eprintln!(
        "measured: a-b connected {:?} after the homes' start ({first})",
        started.elapsed()
    );
    assert_eq!(first, "relayed");
    // The catalog: home A's record reaches home B.
    let file = tmp.path().join("files/notes.bin");
    random_file(&file, 32 << 10, 3);
    let published = a
        .client
        .publish(&PublishRequest {
            path: file.display().to_string(),
            title: Some("Field notes".into()),
            ..Default::default()
        })
        .await
        .expect("publish");
    finds(&b, "field", &published.content_id, Duration::from_secs(15)).await;
    // Chat between the two homes goes through the relay.
    let room = room_of(&a, &[&b]).await;
    everyone_says_something(&room, &[&a, &b], "relayed").await;

    // Punching through a symmetric NAT fails (DCUtR tries three times, each up to the
    // connection timeout); meanwhile, and after, the relay carries the pair.
    let peer = a.peer(&b.peer_id).await.expect("b listed");
    assert_eq!(peer.connection.as_deref(), Some("relayed"), "{peer:?}");
    assert_eq!(peer.relay.as_deref(), Some(p.peer_id.as_str()), "{peer:?}");
    let doctor = b
        .client
        .doctor(&PeerIdRequest {
            peer_id: a.peer_id.clone(),
        })
        .await
        .expect("doctor");
    assert_eq!(doctor.summary, "relayed only", "{doctor:?}");
    assert!(!doctor.fixes.is_empty(), "{doctor:?}");
    eprintln!("doctor: {doctor:#?}");

    // Transfers over the relay only. A small file fits the relay's budget per circuit and
    // arrives; a file several times that budget is shown as "relay only" while it lasts,
    // in the API and the CLI, and never just hangs: it finishes or keeps saying why not.
    let (small, small_bytes) = share(&a, &b, tmp.path(), "Small relayed", 1 << 20).await;
    fetch(&b, &small).await;
    let t = Instant::now();
    let done = complete(&b, &small, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(&done.path).unwrap(), small_bytes);
    eprintln!("measured: 1 MiB over the relay in {:?}", t.elapsed());

    let (big, big_bytes) = share(&a, &b, tmp.path(), "Large relayed", 24 << 20).await;
    fetch(&b, &big).await;
    let t = Instant::now();
    let shown = eventually(
        Duration::from_secs(30),
        "the large download to say it is relay only",
        || async {
            let d = download(&b, &big).await?;
            (d.route == Some(DownloadRoute::RelayOnly) && d.note.is_some()).then_some(d)
        },
    )
    .await;
    assert!(
        shown.note.as_deref().unwrap().starts_with("relay only"),
        "{shown:?}"
    );
    let listed = kit::cli(&b.dir, &["downloads"]);
    let row = listed
        .as_array()
        .and_then(|l| l.iter().find(|d| d["content_id"] == big.as_str()))
        .cloned()
        .expect("the download is listed");
    if row["state"] != "complete" {
        assert_eq!(row["route"], "relay_only", "{row}");
    }
    // Until it ends, it says why it is slow: relay only while a circuit carries it, and
    // waiting for a holder between two circuits (a circuit ends after 8 MiB and presence
    // dials a fresh one). It never fails, and never goes silent.
    let end = eventually(
        Duration::from_secs(120),
        "the large download to finish",
        || async {
            let d = download(&b, &big).await?;
            assert_ne!(d.state, DownloadState::Failed, "{d:?}");
            if d.state != DownloadState::Complete {
                let said = d.note.as_deref().unwrap_or_default();
                assert!(
                    said.starts_with("relay only")
                        || said.starts_with("waiting for a holder")
                        || d.peers > 0,
                    "an unfinished download says why: {d:?}"
                );
                assert_ne!(d.route, Some(DownloadRoute::Direct), "{d:?}");
            }
            (d.state == DownloadState::Complete).then_some(d)
        },
    )
    .await;
    assert_eq!(std::fs::read(&end.path).unwrap(), big_bytes);
    eprintln!(
        "measured: 24 MiB over the relay (8 MiB per circuit) in {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_punching_the_homes_keep_chatting_without_the_public_node() {
    let mut lab = Lab::new();
    let tmp = tempfile::tempdir().unwrap();
    let (mut p, a, b, _) = three(
        &mut lab,
        tmp.path(),
        Nat::EndpointIndependent,
        Nat::EndpointIndependent,
    )
    .await;
    punched(&a, &b, Duration::from_secs(30)).await;
    let room = room_of(&a, &[&b]).await;
    everyone_says_something(&room, &[&a, &b], "before").await;
    p.kill();
    // Its QUIC connections end by QUIC's 10 s idle timeout after a kill -9.
    eventually(
        Duration::from_secs(20),
        "a to lose the public node",
        || async {
            let peer = a.peer(&p.peer_id).await?;
            (!peer.connected).then_some(())
        },
    )
    .await;
    everyone_says_something(&room, &[&a, &b], "after").await;
    assert_eq!(link(&a, &b).await.as_deref(), Some("hole_punched"));
    assert_eq!(link(&b, &a).await.as_deref(), Some("hole_punched"));
    // A file published after the public node is gone still reaches the other home, and
    // moves over the hole-punched connection.
    let (id, bytes) = share(&a, &b, tmp.path(), "After public", 8 << 20).await;
    fetch(&b, &id).await;
    let done = complete(&b, &id, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(&done.path).unwrap(), bytes);
    assert_eq!(link(&b, &a).await.as_deref(), Some("hole_punched"));
}

/// A home node that knows nobody (no bootstrap, no mDNS) joins a friend in another home
/// with the friend's invite alone: the invite carries the friend's relayed address, the
/// joiner connects through the relay, the two punch a direct connection, and the joiner
/// meets the rest of the community through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_node_joins_a_friend_behind_another_nat_with_an_invite() {
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let home_a = lab.home("ha", Nat::EndpointIndependent, 1);
    let home_b = lab.home("hb", Nat::EndpointIndependent, 1);
    let tmp = tempfile::tempdir().unwrap();
    let p = lab
        .start(&public, launch("public", &tmp.path().join("p"), &[]))
        .await;
    let boot = vec![p.tcp_addr()];
    let a = lab
        .start(&home_a.hosts[0], launch("a", &tmp.path().join("a"), &boot))
        .await;
    let b = lab
        .start(&home_b.hosts[0], launch("b", &tmp.path().join("b"), &[]))
        .await;
    reserved_on(&a, &p, Duration::from_secs(15)).await;
    let invite = a.client.create_invite().await.expect("invite");
    assert_eq!(invite.reach, "relayed", "{invite:?}");
    assert!(
        invite.addrs[0].contains(&format!("/p2p/{}/p2p-circuit", p.peer_id)),
        "the relayed address comes first: {invite:?}"
    );
    assert!(
        b.peers().await.is_empty(),
        "b knows nobody before the invite"
    );

    // The invite goes by mail, wrapped.
    let mailed = format!("{}\n{}", &invite.text[..50], &invite.text[50..]);
    let joined = b
        .client
        .join(&JoinRequest { invite: mailed })
        .await
        .expect("join");
    assert_eq!(joined.peer_id, a.peer_id);
    assert_eq!(joined.name, "a");
    punched(&a, &b, Duration::from_secs(30)).await;
    all_see_each_other(&[&p, &a, &b], Duration::from_secs(20)).await;
}

/// The packet counters of `ns`'s OUTPUT chain, one per rule, in order.
fn output_counters(lab: &Lab, ns: &str) -> Vec<u64> {
    lab.output(ns, "iptables", &["-L", "OUTPUT", "-v", "-n", "-x"])
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_crowd_cannot_exhaust_the_relay_or_make_it_dial_without_bounds() {
    use hearth::net::nat::{RELAY_MAX_CIRCUITS, RELAY_MAX_RESERVATIONS};
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let public2 = lab.public("pub2");
    let evil = lab.public("evil");
    let home = lab.home("h", Nat::EndpointIndependent, 1);
    let tmp = tempfile::tempdir().unwrap();
    let p = lab
        .start(&public, launch("public", &tmp.path().join("p"), &[]))
        .await;
    // An honest home: AutoNAT on the public node needs someone to dial it back.
    let w = lab
        .start(
            &home.hosts[0],
            launch("w", &tmp.path().join("w"), &[p.tcp_addr()]),
        )
        .await;
    // Another public node, through which the liars' announcements reach the relay.
    let q = lab
        .start(
            &public2,
            launch("q", &tmp.path().join("q"), &[p.tcp_addr()]),
        )
        .await;
    nat_becomes(&p, "public", Duration::from_secs(15)).await;
    reserved_on(&w, &p, Duration::from_secs(15)).await;

    // Count every connection the relay starts. A default route onto the lab's bridge makes
    // even a dial to a private range reach OUTPUT (and die there: nobody answers ARP).
    lab.ip(&public.ns, &["route", "add", "default", "dev", "eth0"]);
    let new = ["-m", "conntrack", "--ctstate", "NEW"];
    let api_port = p.forwarder.port.to_string();
    let rules: Vec<Vec<&str>> = vec![
        vec!["-o", "eth0"],
        vec!["-o", "lo", "-p", "tcp", "!", "--dport", &api_port],
        vec!["-o", "lo", "-p", "udp"],
        vec!["-d", "10.0.0.0/8"],
        vec!["-d", "172.16.0.0/12"],
        vec!["-d", "192.168.0.0/16"],
        vec!["-d", "100.64.0.0/10"],
        vec!["-d", "169.254.0.0/16"],
        vec!["-d", "203.0.113.200"],
    ];
    for r in &rules {
        let mut args = vec!["-A", "OUTPUT"];
        args.extend(r);
        args.extend(new);
        lab.exec(&public.ns, "iptables", &args);
    }
    let pid = p.child.id();
    let rss_before = kit::rss_mb(pid);

    let relay: libp2p::Multiaddr = p.tcp_addr().parse().unwrap();
    let via: libp2p::Multiaddr = q.tcp_addr().parse().unwrap();
    let crowd = netlab::in_namespace(&evil.ns, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(netlab::hostile::run(
                relay,
                via,
                RELAY_MAX_RESERVATIONS + 16,
                12,
                8,
                8,
                Duration::from_secs(12),
            ))
    });
    let outcome = tokio::task::spawn_blocking(move || crowd.join().expect("the crowd"))
        .await
        .unwrap();
    let status = p.client.status().await.expect("status");
    let counters = output_counters(&lab, &public.ns);
    let rss_after = kit::rss_mb(pid);
    eprintln!(
        "measured: crowd {outcome:?}; relay {:?}; relay RSS {rss_before:.1} -> {rss_after:.1} MB; \
         new outbound flows {counters:?}",
        status.relay_service
    );

    // Reservations and circuits stop at the limits, and the refusals are counted.
    assert!(
        outcome.reservations_accepted <= RELAY_MAX_RESERVATIONS,
        "{outcome:?}"
    );
    assert!(outcome.reservations_refused > 0, "{outcome:?}");
    assert!(outcome.circuits_opened <= RELAY_MAX_CIRCUITS, "{outcome:?}");
    let served = &status.relay_service;
    assert!(served.active);
    assert!(
        served.reservations as usize <= RELAY_MAX_RESERVATIONS,
        "{served:?}"
    );
    assert!(served.circuits as usize <= RELAY_MAX_CIRCUITS, "{served:?}");
    assert!(served.refused_reservations > 0, "{served:?}");
    assert!(served.refused_circuits > 0, "{served:?}");
    assert!(outcome.announcements > 100, "{outcome:?}");
    // Not one dial to loopback or a private range; to the public decoy, at most one per
    // announcer per second (each a SYN and its retransmissions); overall bounded.
    assert_eq!(counters.len(), rules.len(), "{counters:?}");
    assert_eq!(
        &counters[1..8],
        &[0; 7],
        "dials to loopback or private ranges"
    );
    assert!(
        counters[8] <= 8 * 12 * 3,
        "dials to the decoy: {}",
        counters[8]
    );
    assert!(counters[0] <= 400, "new outbound flows: {}", counters[0]);
    assert!(
        rss_after - rss_before < 64.0,
        "relay memory grew from {rss_before:.1} to {rss_after:.1} MB"
    );
    // The liars are online for the relay (heard through q), so their claims were weighed.
    let liars = p
        .peers()
        .await
        .into_iter()
        .filter(|x| {
            x.profile
                .as_ref()
                .is_some_and(|pr| pr.display_name.starts_with("mallory"))
        })
        .count();
    assert!(liars > 0, "the relay never heard the liars");
    // The relay still serves the honest home.
    let s = w.client.status().await.expect("status");
    assert!(s.relay_reservations.contains(&p.peer_id), "{s:?}");
}

/// Two homes behind endpoint-independent NAT: once the homes have punched a direct
/// connection, a file published in one is downloaded in the other over it (BitTorrent rides
/// the libp2p connection, since neither home's BitTorrent port can be reached), bytes equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_moves_from_home_to_home() {
    let mut lab = Lab::new();
    let public = lab.public("pub");
    let home_a = lab.home("ha", Nat::EndpointIndependent, 1);
    let home_b = lab.home("hb", Nat::EndpointIndependent, 1);
    let tmp = tempfile::tempdir().unwrap();
    let p = lab
        .start(&public, launch("public", &tmp.path().join("p"), &[]))
        .await;
    let boot = vec![p.tcp_addr()];
    let a = lab
        .start(&home_a.hosts[0], launch("a", &tmp.path().join("a"), &boot))
        .await;
    let b = lab
        .start(&home_b.hosts[0], launch("b", &tmp.path().join("b"), &boot))
        .await;
    all_see_each_other(&[&p, &a, &b], Duration::from_secs(20)).await;
    let file = tmp.path().join("files/big.bin");
    let original = random_file(&file, 50 << 20, 9);
    let published = a
        .client
        .publish(&PublishRequest {
            path: file.display().to_string(),
            title: Some("Fifty megabytes".into()),
            ..Default::default()
        })
        .await
        .expect("publish");
    let id = published.content_id.clone();
    finds(&b, "fifty", &id, Duration::from_secs(20)).await;
    punched(&a, &b, Duration::from_secs(30)).await;
    b.client
        .start_download(&DownloadRequest {
            content_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .expect("start download");
    let done = eventually(
        Duration::from_secs(60),
        "the download to finish",
        || async {
            let list = b.client.list_downloads().await.ok()?;
            let d = list.into_iter().find(|d| d.content_id == id)?;
            (d.state == hearth::api::dto::DownloadState::Complete).then_some(d)
        },
    )
    .await;
    assert_eq!(
        std::fs::read(&done.path).expect("the downloaded file"),
        original,
        "the bytes in home B are the bytes published in home A"
    );
    let streams = b.client.status().await.expect("status").bt_streams_total;
    assert!(streams > 0, "the pieces came over /hearth/bt/1 streams");
}
