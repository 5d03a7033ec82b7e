//! Hearth across NAT routers, in the network lab (`tests/netlab`, ARCHITECTURE.md "The
//! network lab"): homes behind masquerading routers, a public node, a LAN, names from a
//! namespace's hosts file. Needs root; fails (never passes) without it.

mod kit;
mod netlab;

use std::path::Path;
use std::time::Duration;

use hearth::api::dto::{DownloadRequest, PublishRequest, SearchRequest};
use kit::{eventually, random_file, Launch, FAST_PRESENCE};
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
    eventually(
        Duration::from_secs(20),
        "home B to find home A's record",
        || async {
            let found = b
                .client
                .search(&SearchRequest {
                    text: "lattice".into(),
                    ..Default::default()
                })
                .await
                .ok()?;
            found
                .items
                .iter()
                .any(|r| r.content_id == published.content_id)
                .then_some(())
        },
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
    eventually(Duration::from_secs(10), "p to mark a offline", || async {
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

/// What happens today to a file between two homes: run with `--ignored` to see it. The
/// holder's BitTorrent engine is behind its NAT and nobody relays, so this waits in vain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "transfers across NAT are the next step (issue: relays and hole punching)"]
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
    random_file(&file, 20 << 20, 9);
    let published = a
        .client
        .publish(&PublishRequest {
            path: file.display().to_string(),
            title: Some("Twenty megabytes".into()),
            ..Default::default()
        })
        .await
        .expect("publish");
    let id = published.content_id.clone();
    eventually(Duration::from_secs(20), "the record in home B", || async {
        let r = b
            .client
            .search(&SearchRequest {
                text: "twenty".into(),
                ..Default::default()
            })
            .await
            .ok()?;
        r.items.iter().any(|r| r.content_id == id).then_some(())
    })
    .await;
    for (name, node) in [("p", &p), ("a", &a), ("b", &b)] {
        let status = node.client.status().await.expect("status");
        eprintln!(
            "{name}: NAT {}, listening on {:?}",
            status.nat, status.listen_addrs
        );
        for peer in node.peers().await {
            eprintln!(
                "{name} sees {}: online {} connected {} addrs {:?}",
                peer.profile.map(|p| p.display_name).unwrap_or_default(),
                peer.online,
                peer.connected,
                peer.addrs
            );
        }
    }
    // Today this fails at once: the torrent's metadata is asked of the holder over a
    // libp2p connection home B cannot open.
    b.client
        .start_download(&DownloadRequest {
            content_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .expect("start download");
    eventually(
        Duration::from_secs(60),
        "the download to finish",
        || async {
            let list = b.client.list_downloads().await.ok()?;
            let d = list.into_iter().find(|d| d.content_id == id)?;
            (d.state == hearth::api::dto::DownloadState::Complete).then_some(())
        },
    )
    .await;
}
