//! In-process nodes: lifecycle, identity, and shutdown that leaves nothing running.

mod kit;

use std::time::Duration;

use hearth::api::dto::AddrRequest;
use hearth::{Config, Node};
use kit::eventually;

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::ephemeral(dir.to_path_buf());
    c.presence.ping_interval_ms = 200;
    c
}

#[test]
fn no_task_outlives_shutdown() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let a = Node::start(config(&tmp.path().join("a"))).await.unwrap();
        let b = Node::start(config(&tmp.path().join("b"))).await.unwrap();
        let addr = a.api().status().await.unwrap().listen_addrs[0].clone();
        b.api().connect(AddrRequest { addr }).await.unwrap();
        eventually(Duration::from_secs(5), "a sees b", || async {
            let peers = a.api().list_peers().await.unwrap();
            peers
                .iter()
                .any(|p| p.peer_id == b.peer_id().to_string() && p.online)
                .then_some(())
        })
        .await;
        let api = a.api();
        assert!(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
                > 0
        );
        a.shutdown().await;
        b.shutdown().await;
        eventually(Duration::from_secs(5), "every task to end", || async {
            (tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
                == 0)
                .then_some(())
        })
        .await;
        // A handle kept past shutdown gets a clear error, not a hang or a panic.
        let err = api.status().await.unwrap_err();
        assert_eq!(err.code, hearth::api::dto::ErrorCode::Unavailable);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_and_profile_survive_a_restart_and_the_lock_is_released() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let node = Node::start(config(&dir)).await.unwrap();
    let id = node.peer_id();
    let profile = hearth::api::dto::Profile {
        display_name: "Rosalind".into(),
        affiliation: "King's College".into(),
        bio: "X-ray crystallography".into(),
        avatar: None,
    };
    node.api().set_profile(profile.clone()).await.unwrap();
    let second = Node::start(config(&dir)).await;
    assert!(
        second.is_err(),
        "the data dir is locked while the node runs"
    );
    node.shutdown().await;

    let again = Node::start(config(&dir)).await.unwrap();
    assert_eq!(again.peer_id(), id);
    assert_eq!(again.api().get_profile().await.unwrap(), profile);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_connect_over_quic() {
    let tmp = tempfile::tempdir().unwrap();
    let quic = |dir: &std::path::Path| {
        let mut c = config(dir);
        c.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
        c
    };
    let a = Node::start(quic(&tmp.path().join("a"))).await.unwrap();
    let b = Node::start(quic(&tmp.path().join("b"))).await.unwrap();
    let addr = a.api().status().await.unwrap().listen_addrs[0].clone();
    assert!(addr.contains("/quic-v1/"), "{addr}");
    b.api().connect(AddrRequest { addr }).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "a and b online over QUIC",
        || async {
            let seen = a.api().list_peers().await.unwrap();
            seen.iter()
                .any(|p| p.peer_id == b.peer_id().to_string() && p.online && p.connected)
                .then_some(())
        },
    )
    .await;
    a.shutdown().await;
    b.shutdown().await;
}
