//! The catalog and transfers across real nodes: publish, replicate (also from peers other
//! than the author), search, download from several holders, availability, the offline
//! queue, resuming after kill -9, and shared folders.

mod kit;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hearth::api::dto::{
    CatalogStats, ContentIdRequest, Download, DownloadRequest, Library, PublishRequest, Resource,
    SearchRequest, SearchResult,
};
use kit::{cli, complete, download, eventually, random_file, TestNode, FAST_PRESENCE};

async fn publish(node: &TestNode, path: &Path, title: &str) -> Resource {
    node.client
        .publish(&PublishRequest {
            path: path.display().to_string(),
            title: Some(title.into()),
            description: Some("Measurements from the lattice experiment".into()),
            tags: vec!["physics".into(), "lattice".into()],
            ..Default::default()
        })
        .await
        .expect("publish")
}

async fn search(node: &TestNode, text: &str) -> SearchResult {
    node.client
        .search(&SearchRequest {
            text: text.into(),
            ..Default::default()
        })
        .await
        .expect("search")
}

async fn find(node: &TestNode, text: &str, id: &str) -> Option<Resource> {
    search(node, text)
        .await
        .items
        .into_iter()
        .find(|r| r.content_id == id)
}

async fn start_download(node: &TestNode, id: &str) -> Download {
    node.client
        .start_download(&DownloadRequest {
            content_id: Some(id.into()),
            ..Default::default()
        })
        .await
        .expect("start download")
}

async fn stats(node: &TestNode) -> CatalogStats {
    node.client.catalog_stats().await.expect("stats")
}

fn downloaded_file(d: &Download) -> PathBuf {
    PathBuf::from(&d.path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_publish_replicate_download_and_track_availability() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start("alice", &tmp.path().join("a"), &[], FAST_PRESENCE).await;
    let boot = [a.addr.clone()];
    let b = TestNode::start("bob", &tmp.path().join("b"), &boot, FAST_PRESENCE).await;
    let mut c = TestNode::start("carol", &tmp.path().join("c"), &boot, FAST_PRESENCE).await;
    for n in [&b, &c] {
        let id = a.peer_id.clone();
        eventually(Duration::from_secs(10), "peers online", || async {
            n.peer(&id).await.filter(|p| p.online)
        })
        .await;
    }

    let original = random_file(&tmp.path().join("files/lattice.bin"), 20 << 20, 1);
    let published = publish(
        &a,
        &tmp.path().join("files/lattice.bin"),
        "Quantum lattice data",
    )
    .await;
    let id = published.content_id.clone();
    assert_eq!(published.size, 20 << 20);

    // B and C find it by a word of its title within 5 s.
    let t0 = Instant::now();
    for n in [&b, &c] {
        let r = eventually(Duration::from_secs(5), "record replicated", || async {
            find(n, "quantum", &id).await
        })
        .await;
        assert!(r.available, "alice is online and holds it: {r:?}");
        assert_eq!(r.author, a.peer_id);
    }
    eprintln!("replicated to 2 nodes in {:?}", t0.elapsed());

    // B and C download it; the bytes match.
    start_download(&b, &id).await;
    start_download(&c, &id).await;
    for n in [&b, &c] {
        let d = complete(n, &id, Duration::from_secs(60)).await;
        assert_eq!(std::fs::read(downloaded_file(&d)).unwrap(), original);
    }

    // Alice goes away; Dave joins later through Bob and gets the record from Bob or Carol.
    drop(a);
    let mut d = TestNode::start(
        "dave",
        &tmp.path().join("d"),
        std::slice::from_ref(&b.addr),
        FAST_PRESENCE,
    )
    .await;
    let r = eventually(Duration::from_secs(15), "record reaches dave", || async {
        find(&d, "lattice", &id).await.filter(|r| r.available)
    })
    .await;
    assert!(r.holders_online >= 1, "{r:?}");
    eventually(
        Duration::from_secs(15),
        "dave sees both holders",
        || async {
            let r = find(&d, "lattice", &id).await?;
            (r.holders_online >= 2).then_some(())
        },
    )
    .await;
    start_download(&d, &id).await;
    let got = complete(&d, &id, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(downloaded_file(&got)).unwrap(), original);
    // Both holders served part of it.
    for n in [&b, &c] {
        let up = download(n, &id).await.unwrap().uploaded_bytes;
        assert!(up > 0, "{} uploaded nothing to dave", n.name);
    }

    // Dave drops his copy; as holders leave, availability follows.
    let () = d
        .client
        .cancel_download(&ContentIdRequest {
            content_id: id.clone(),
        })
        .await
        .unwrap();
    drop(b);
    c.kill();
    let r = eventually(
        Duration::from_secs(20),
        "unavailable with no holder online",
        || async { find(&d, "lattice", &id).await.filter(|r| !r.available) },
    )
    .await;
    assert_eq!(r.holders_online, 0);
    let only_available: SearchResult = d
        .client
        .search(&SearchRequest {
            text: "lattice".into(),
            available_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(only_available.items.is_empty(), "{only_available:?}");
    d.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_offline_is_queued_and_sent_on_reconnect() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start("alice", &tmp.path().join("a"), &[], FAST_PRESENCE).await;
    let file = tmp.path().join("notes.pdf");
    random_file(&file, 100_000, 2);
    let r = publish(&a, &file, "Offline notes").await;
    assert_eq!(stats(&a).await.queued_announcements, 1);

    let b = TestNode::start("bob", &tmp.path().join("b"), &[], FAST_PRESENCE).await;
    let () = a
        .client
        .connect(&hearth::api::dto::AddrRequest {
            addr: b.addr.clone(),
        })
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "bob receives the offline entry",
        || async { find(&b, "offline", &r.content_id).await },
    )
    .await;
    eventually(Duration::from_secs(10), "alice's queue drains", || async {
        (stats(&a).await.queued_announcements == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_killed_midway_resumes_without_starting_over() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start("alice", &tmp.path().join("a"), &[], FAST_PRESENCE).await;
    // Bob's engine is slowed down so the kill lands mid-way.
    let slow = format!("bt_download_limit_bps = 6000000\n{FAST_PRESENCE}");
    let mut b = TestNode::start(
        "bob",
        &tmp.path().join("b"),
        std::slice::from_ref(&a.addr),
        &slow,
    )
    .await;
    let file = tmp.path().join("big.bin");
    let original = random_file(&file, 48 << 20, 3);
    let r = publish(&a, &file, "Big dataset").await;
    eventually(Duration::from_secs(10), "record at bob", || async {
        find(&b, "dataset", &r.content_id)
            .await
            .filter(|r| r.available)
    })
    .await;
    start_download(&b, &r.content_id).await;
    let before = eventually(Duration::from_secs(30), "a third downloaded", || async {
        download(&b, &r.content_id)
            .await
            .filter(|d| d.progress > 0.3 && d.progress < 0.9)
    })
    .await;
    b.kill();

    let b = TestNode::start(
        "bob",
        &tmp.path().join("b"),
        std::slice::from_ref(&a.addr),
        FAST_PRESENCE,
    )
    .await;
    // Right after the restart the engine already knows most of what it had: fast resume,
    // not a rehash from zero, and not a fresh download.
    let resumed = eventually(Duration::from_secs(10), "resumed state", || async {
        download(&b, &r.content_id)
            .await
            .filter(|d| d.have_bytes > 0)
    })
    .await;
    assert!(
        resumed.have_bytes * 2 >= before.have_bytes,
        "kept most pieces: before {} after restart {}",
        before.have_bytes,
        resumed.have_bytes
    );
    let done = complete(&b, &r.content_id, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(downloaded_file(&done)).unwrap(), original);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_folders_publish_unpublish_and_never_follow_symlinks_out() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let outside = tmp.path().join("private");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"not for sharing").unwrap();
    let config = format!(
        "shared_folders = [{:?}]\n{FAST_PRESENCE}",
        shared.display().to_string()
    );
    let a = TestNode::start("alice", &tmp.path().join("a"), &[], &config).await;
    let b = TestNode::start(
        "bob",
        &tmp.path().join("b"),
        std::slice::from_ref(&a.addr),
        FAST_PRESENCE,
    )
    .await;

    std::os::unix::fs::symlink(outside.join("secret.txt"), shared.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, shared.join("linked-dir")).unwrap();
    random_file(&shared.join("report.pdf"), 50_000, 4);

    let r = eventually(
        Duration::from_secs(15),
        "dropped file published and replicated",
        || async { search(&b, "report").await.items.into_iter().next() },
    )
    .await;
    let lib: Library = a.client.get_library().await.unwrap();
    assert_eq!(lib.published.len(), 1, "only the real file: {lib:?}");
    assert!(search(&a, "secret").await.items.is_empty());
    assert!(search(&a, "link").await.items.is_empty());

    std::fs::remove_file(shared.join("report.pdf")).unwrap();
    eventually(
        Duration::from_secs(15),
        "deleted file unpublished everywhere",
        || async {
            find(&b, "report", &r.content_id)
                .await
                .is_none()
                .then_some(())
        },
    )
    .await;
    let lib: Library = a.client.get_library().await.unwrap();
    assert!(lib.published.is_empty(), "{lib:?}");
}

/// Runs the `hearth` CLI against the node on `dir` and parses its `--json` output.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shares_searches_gets_and_unshares() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start("alice", &tmp.path().join("a"), &[], FAST_PRESENCE).await;
    let b = TestNode::start(
        "bob",
        &tmp.path().join("b"),
        std::slice::from_ref(&a.addr),
        FAST_PRESENCE,
    )
    .await;
    let file = tmp.path().join("survey.csv");
    let original = random_file(&file, 3 << 20, 5);

    let shared = cli(
        &a.dir,
        &[
            "share",
            file.to_str().unwrap(),
            "--title",
            "Bird survey 2026",
            "--tag",
            "birds",
        ],
    );
    let id = shared["content_id"].as_str().unwrap().to_owned();
    assert_eq!(shared["kind"], "dataset", "guessed from .csv");

    let found = eventually(Duration::from_secs(10), "cli search finds it", || async {
        let r = cli(
            &b.dir,
            &["search", "bird", "--kind", "dataset", "--available"],
        );
        (r["items"].as_array()?.len() == 1).then_some(r)
    })
    .await;
    assert_eq!(found["items"][0]["content_id"], id.as_str());

    let got = cli(&b.dir, &["get", &id]);
    assert_eq!(got["state"], "complete");
    assert_eq!(
        std::fs::read(got["path"].as_str().unwrap()).unwrap(),
        original
    );
    let list = cli(&b.dir, &["downloads"]);
    assert_eq!(list[0]["content_id"], id.as_str());

    cli(&a.dir, &["unshare", &id]);
    eventually(Duration::from_secs(10), "unshared everywhere", || async {
        let r = cli(&b.dir, &["search", "bird"]);
        r["items"].as_array()?.is_empty().then_some(())
    })
    .await;
}
