//! Peers find each other through one bootstrap node and agree on who is online.

mod kit;

use std::time::Duration;

use hearth::api::dto::PeerIdRequest;
use kit::{cli, cli_fails, eventually, star, TestNode, FAST_PRESENCE};

async fn online_ids(node: &TestNode) -> Vec<String> {
    node.peers()
        .await
        .into_iter()
        .filter(|p| p.online)
        .map(|p| p.peer_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_see_each_other_notice_a_kill_and_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let boot = TestNode::start("n0", &tmp.path().join("n0"), &[], FAST_PRESENCE).await;
    let mut nodes = vec![boot];
    for i in 1..5 {
        let bootstrap = vec![nodes[0].addr.clone()];
        let name = format!("n{i}");
        nodes
            .push(TestNode::start(&name, &tmp.path().join(&name), &bootstrap, FAST_PRESENCE).await);
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.peer_id.clone()).collect();

    for node in &nodes {
        eventually(
            Duration::from_secs(10),
            &format!("{} to list the 4 others online", node.name),
            || async {
                let online = online_ids(node).await;
                ids.iter()
                    .filter(|id| **id != node.peer_id)
                    .all(|id| online.contains(id))
                    .then_some(())
            },
        )
        .await;
    }
    // Profiles travelled too.
    let named = nodes[3].peer(&ids[1]).await.unwrap();
    assert_eq!(named.profile.unwrap().display_name, "n1");

    // kill -9 one node: the others mark it offline within offline_after (3 s) plus a vote.
    let victim = ids[2].clone();
    nodes[2].kill();
    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != 2) {
        eventually(
            Duration::from_secs(6),
            &format!("n{i} to mark n2 offline"),
            || async { (!online_ids(node).await.contains(&victim)).then_some(()) },
        )
        .await;
    }

    // Restart it on the same data dir: same identity, seen online again.
    let dir = nodes[2].dir.clone();
    let bootstrap = vec![nodes[0].addr.clone()];
    nodes[2] = TestNode::start("n2", &dir, &bootstrap, FAST_PRESENCE).await;
    assert_eq!(nodes[2].peer_id, victim, "same PeerId after restart");
    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != 2) {
        eventually(
            Duration::from_secs(10),
            &format!("n{i} to see n2 back"),
            || async { online_ids(node).await.contains(&victim).then_some(()) },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_one_peer_cannot_reach_but_others_can_stays_online() {
    let tmp = tempfile::tempdir().unwrap();
    let [a, b] = star(tmp.path(), ["a", "b"], FAST_PRESENCE).await;
    let mut x = TestNode::start(
        "x",
        &tmp.path().join("x"),
        &[a.addr.clone(), b.addr.clone()],
        FAST_PRESENCE,
    )
    .await;
    for node in [&a, &b] {
        eventually(Duration::from_secs(10), "x connected", || async {
            node.peer(&x.peer_id)
                .await
                .filter(|p| p.connected && p.online)
                .map(|_| ())
        })
        .await;
    }

    // Cut the link between a and x only (a refuses x's connections).
    let () = a
        .client
        .block_peer(&PeerIdRequest {
            peer_id: x.peer_id.clone(),
        })
        .await
        .unwrap();
    eventually(
        Duration::from_secs(5),
        "a to lose its connection to x",
        || async {
            a.peer(&x.peer_id)
                .await
                .filter(|p| !p.connected)
                .map(|_| ())
        },
    )
    .await;
    // a's own connection is gone, but b still reaches x, so a keeps x online: across several
    // offline_after periods (3 s) and the votes they trigger.
    let until = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < until {
        let seen = a.peer(&x.peer_id).await.unwrap();
        assert!(
            seen.online,
            "x must stay online on a while b reaches it: {seen:?}"
        );
        assert!(!seen.connected);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Once x is really gone, b's vote agrees and a marks it offline.
    x.kill();
    eventually(Duration::from_secs(8), "a to mark x offline", || async {
        a.peer(&x.peer_id).await.filter(|p| !p.online).map(|_| ())
    })
    .await;
}

/// Two nodes that know nothing of each other: one prints an invite, the other joins with
/// it from the command line, and both see each other online. Bad invites get clear words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_another_with_an_invite_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start("Ada", &tmp.path().join("a"), &[], FAST_PRESENCE).await;
    let b = TestNode::start("Bea", &tmp.path().join("b"), &[], FAST_PRESENCE).await;

    let invite = cli(&a.dir, &["invite"]);
    let text = invite["text"].as_str().expect("invite text").to_owned();
    assert!(text.starts_with("hearth:invite/"), "{invite}");
    assert_eq!(invite["peer_id"], a.peer_id.as_str());
    // The nodes listen on loopback only: the invite says so.
    assert_eq!(invite["reach"], "this_computer", "{invite}");

    let joined = cli(&b.dir, &["join", &text]);
    assert_eq!(joined["peer_id"], a.peer_id.as_str(), "{joined}");
    assert_eq!(joined["name"], "Ada");
    assert_eq!(joined["already_connected"], false);
    for (node, other) in [(&a, &b), (&b, &a)] {
        eventually(
            Duration::from_secs(10),
            "each to see the other online",
            || async {
                node.peer(&other.peer_id)
                    .await
                    .filter(|p| p.online && p.connected)
                    .map(|_| ())
            },
        )
        .await;
    }
    let again = cli(&b.dir, &["join", &text]);
    assert_eq!(again["already_connected"], true, "{again}");

    let own = cli_fails(&a.dir, &["join", &text]);
    assert!(own.contains("your own"), "{own}");
    let garbage = cli_fails(&b.dir, &["join", "/ip4/127.0.0.1/tcp/1"]);
    assert!(garbage.contains("not a Hearth invite"), "{garbage}");
    let cut = cli_fails(&b.dir, &["join", &text[..text.len() - 9]]);
    assert!(cut.contains("damaged"), "{cut}");

    // An invite whose node is gone: the join says it could not reach it, and why.
    let c = TestNode::start("Cyd", &tmp.path().join("c"), &[], FAST_PRESENCE).await;
    let c_invite = cli(&c.dir, &["invite"])["text"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(c);
    let gone = cli_fails(&b.dir, &["join", &c_invite]);
    assert!(gone.contains("could not reach Cyd"), "{gone}");
}
