//! The catalog against a real store: ingest rules, holders, availability, search.

use super::*;
use crate::api::dto::Event;

fn open(dir: &std::path::Path, key: Keypair) -> (Catalog, EventBus, Store) {
    let store = Store::open(dir).unwrap();
    let bus = EventBus::new();
    let c = Catalog::open(&store, dir, key, bus.clone()).unwrap();
    (c, bus, store)
}

fn publish(n: u8) -> Body {
    Body::Publish {
        resource: feed::tests::resource(n),
    }
}

fn kinds(bus: &EventBus) -> Vec<EventKind> {
    bus.since(0)
        .unwrap()
        .into_iter()
        .map(|e: Event| e.kind)
        .collect()
}

#[tokio::test]
async fn local_publishes_are_searchable_and_replicate_in_order() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a_key = Keypair::generate_ed25519();
    let (a, _, _s1) = open(a_dir.path(), a_key.clone());
    let (b, b_bus, _s2) = open(b_dir.path(), Keypair::generate_ed25519());
    let e1 = a.append_local(publish(1)).await.unwrap();
    let e2 = a.append_local(publish(2)).await.unwrap();
    a.commit().await.unwrap();
    let hits = a
        .search(&SearchRequest {
            text: "topic".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.total, 2);

    // Out of order: the second entry waits for the first.
    assert_eq!(
        b.ingest(e2.clone()).await.unwrap(),
        Ingested::Gap { have: 0 }
    );
    let author = a_key.public().to_peer_id().to_string();
    let missing = a.entries_after(&author, 0, 10).unwrap();
    assert_eq!(missing.len(), 2);
    for s in missing {
        b.ingest(feed::verify(s).unwrap()).await.unwrap();
    }
    assert_eq!(b.ingest(e1).await.unwrap(), Ingested::Duplicate);
    b.commit().await.unwrap();
    assert_eq!(b.stats().resources, 2);
    assert!(kinds(&b_bus)
        .iter()
        .any(|k| matches!(k, EventKind::ResourceAdded { .. })));

    // Retraction by the author removes it everywhere it replicates.
    let un = a
        .append_local(Body::Unpublish {
            content_id: e2.entry.body_content_id().unwrap(),
        })
        .await
        .unwrap();
    b.ingest(un).await.unwrap();
    b.commit().await.unwrap();
    assert_eq!(b.stats().resources, 1);
}

#[tokio::test]
async fn forks_are_counted_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, _s) = open(dir.path(), Keypair::generate_ed25519());
    let author = Keypair::generate_ed25519();
    let first = feed::sign_next(&author, None, 1, publish(1)).unwrap();
    let fork = feed::sign_next(&author, None, 2, publish(2)).unwrap();
    c.ingest(first).await.unwrap();
    assert!(matches!(
        c.ingest(fork).await,
        Err(CatalogError::Feed(FeedError::Fork(1)))
    ));
    c.commit().await.unwrap();
    assert_eq!(c.stats().rejected.fork, 1);
    assert_eq!(c.stats().resources, 1);
}

#[tokio::test]
async fn availability_follows_holders_presence() {
    let dir = tempfile::tempdir().unwrap();
    let (c, bus, _s) = open(dir.path(), Keypair::generate_ed25519());
    let author = Keypair::generate_ed25519();
    let e = feed::sign_next(&author, None, 1, publish(7)).unwrap();
    let id = e.entry.body_content_id().unwrap();
    c.ingest(e).await.unwrap();
    let holder = author.public().to_peer_id();
    c.set_holdings(
        holder,
        Holdings {
            bt_port: 6881,
            complete: vec![id.clone()],
            partial: vec![],
            mirrored: vec![],
        },
    )
    .await
    .unwrap();
    assert!(!c.resource(&id).unwrap().available);
    c.peer_online(holder, vec![std::net::Ipv4Addr::LOCALHOST.into()]);
    let r = c.resource(&id).unwrap();
    assert!(r.available);
    assert_eq!(r.holders_online, 1);
    assert_eq!(
        c.holder_addrs(&id)[0].1,
        vec!["127.0.0.1:6881".parse().unwrap()]
    );
    // The magnet shown names the online holder as a peer hint.
    assert!(r.magnet.ends_with("&x.pe=127.0.0.1:6881"), "{}", r.magnet);
    c.peer_offline(holder);
    let r = c.resource(&id).unwrap();
    assert!(!r.available);
    assert!(!r.magnet.contains("x.pe"), "{}", r.magnet);
    let flips: Vec<bool> = kinds(&bus)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::AvailabilityChanged { available, .. } => Some(available),
            _ => None,
        })
        .collect();
    assert_eq!(flips, vec![true, false]);
    // This node's own copy comes first.
    c.set_local(&id, LocalState::Complete);
    c.set_local_bt_addrs(vec!["192.0.2.7:4712".parse().unwrap()]);
    c.peer_online(holder, vec![std::net::Ipv4Addr::LOCALHOST.into()]);
    let r = c.resource(&id).unwrap();
    assert!(
        r.magnet
            .ends_with("&x.pe=192.0.2.7:4712&x.pe=127.0.0.1:6881"),
        "{}",
        r.magnet
    );
}

#[tokio::test]
async fn the_index_catches_up_with_the_log_after_a_crash_or_loss() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::generate_ed25519();
    let other = Keypair::generate_ed25519();
    let first = publish(1);
    let first_id = match &first {
        Body::Publish { resource } => resource.content_id.clone(),
        _ => unreachable!(),
    };
    {
        let (c, _, _s) = open(dir.path(), key.clone());
        c.append_local(first.clone()).await.unwrap();
        c.commit().await.unwrap();
        // Not committed: the index never saw these, as after a crash.
        c.append_local(publish(2)).await.unwrap();
        c.append_local(Body::Unpublish {
            content_id: first_id.clone(),
        })
        .await
        .unwrap();
        // Another author publishing the same bytes later does not take the record.
        c.ingest(feed::sign_next(&other, None, 1, publish(2)).unwrap())
            .await
            .unwrap();
    }
    let count = |c: &Catalog| {
        c.search(&SearchRequest {
            text: "notes".into(),
            ..Default::default()
        })
        .unwrap()
        .total
    };
    let check = |c: &Catalog| {
        assert_eq!(count(c), 1);
        let second = match publish(2) {
            Body::Publish { resource } => resource.content_id,
            _ => unreachable!(),
        };
        let record = c.get(&second).unwrap().unwrap();
        assert_eq!(record.author, key.public().to_peer_id().to_string());
        // Retracted by its author.
        assert!(c.get(&first_id).unwrap().is_none());
    };
    {
        let (c, _, _s) = open(dir.path(), key.clone());
        check(&c);
        assert_eq!(c.inner.search.checkpoint(), 4);
    }
    // The index lost altogether: built again from the log alone.
    std::fs::remove_dir_all(dir.path().join(SEARCH_DIR)).unwrap();
    let (c, _, _s) = open(dir.path(), key.clone());
    check(&c);
}

#[tokio::test]
async fn heads_come_back_from_the_log_and_forks_stay_out() {
    let dir = tempfile::tempdir().unwrap();
    let author = Keypair::generate_ed25519();
    let first = feed::sign_next(&author, None, 1, publish(1)).unwrap();
    let head = Head {
        seq: 1,
        hash: first.hash.clone(),
    };
    let second = feed::sign_next(&author, Some(&head), 2, publish(2)).unwrap();
    {
        let (c, _, store) = open(dir.path(), Keypair::generate_ed25519());
        c.ingest(first.clone()).await.unwrap();
        c.commit().await.unwrap();
        c.ingest(second.clone()).await.unwrap();
        store.flush().await.unwrap(); // no commit after entry 2
    }
    let (c, _, _s) = open(dir.path(), Keypair::generate_ed25519());
    assert_eq!(
        c.head_seq(&first.entry.author),
        2,
        "head moved past stored entries"
    );
    let other_second = feed::sign_next(&author, Some(&head), 3, publish(3)).unwrap();
    assert!(matches!(
        c.ingest(other_second).await,
        Err(CatalogError::Feed(FeedError::Fork(2)))
    ));
    assert_eq!(c.ingest(second).await.unwrap(), Ingested::Duplicate);
}

fn cid(n: u32) -> String {
    format!("{n:040x}")
}

fn have(complete: impl IntoIterator<Item = u32>) -> crate::net::protocol::HaveMessage {
    crate::net::protocol::HaveMessage {
        bt_port: 1,
        complete: complete.into_iter().map(cid).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn have_gossip_is_bounded_per_peer_per_resource_and_in_peers_and_written_coalesced() {
    use availability::{MAX_HOLDERS_PER_RESOURCE, MAX_HOLDER_PEERS, MAX_PEER_HOLDINGS};
    let dir = tempfile::tempdir().unwrap();
    let (c, _, store) = open(dir.path(), Keypair::generate_ed25519());
    // One peer claims ever more content ids, 256 a message: it keeps MAX_PEER_HOLDINGS.
    let flooder = Keypair::generate_ed25519().public().to_peer_id();
    let messages = (MAX_PEER_HOLDINGS as u32 + 5_000) / 256;
    for m in 0..messages {
        c.apply_have(flooder, have(m * 256..(m + 1) * 256))
            .await
            .unwrap();
    }
    let total = messages as u64 * 256;
    let stats = c.stats();
    assert_eq!(stats.holdings_dropped, total - MAX_PEER_HOLDINGS as u64);
    let held = c.state().holders[&flooder].complete.len();
    assert_eq!(held, MAX_PEER_HOLDINGS);
    // Many messages, few writes: the snapshot is written once the interval has passed.
    c.commit().await.unwrap();
    let written = store.table::<Holdings>(HOLDINGS_TABLE).unwrap();
    assert_eq!(
        written
            .get(&flooder.to_string())
            .unwrap()
            .unwrap()
            .complete
            .len(),
        held
    );

    // Many peers claim one content id: MAX_HOLDERS_PER_RESOURCE of them are kept.
    let before = c.stats().holdings_dropped;
    for _ in 0..MAX_HOLDERS_PER_RESOURCE + 10 {
        let p = Keypair::generate_ed25519().public().to_peer_id();
        c.apply_have(p, have([1_000_000])).await.unwrap();
    }
    assert_eq!(c.stats().holdings_dropped - before, 10);
    assert_eq!(
        c.state().holder_count[&cid(1_000_000)],
        MAX_HOLDERS_PER_RESOURCE
    );

    // Sybil holders: the table keeps at most MAX_HOLDER_PEERS, never evicting an online or
    // followed one.
    let friend = Keypair::generate_ed25519().public().to_peer_id();
    c.set_followed([friend]);
    c.apply_have(friend, have([3_000_000])).await.unwrap();
    for i in 0..MAX_HOLDER_PEERS as u32 + 50 {
        let p = Keypair::generate_ed25519().public().to_peer_id();
        c.apply_have(p, have([2_000_000 + i])).await.unwrap();
    }
    let s = c.stats();
    assert!(s.holders_tracked as usize <= MAX_HOLDER_PEERS, "{s:?}");
    assert!(c.state().holders.contains_key(&friend));
    assert_eq!(c.holders(&cid(3_000_000)).len(), 1);

    // The bounds hold across a restart, and evicted peers' records are gone.
    c.write_holdings(true).unwrap();
    store.flush().await.unwrap();
    drop(c);
    let c = Catalog::open(
        &store,
        dir.path(),
        Keypair::generate_ed25519(),
        EventBus::new(),
    )
    .unwrap();
    assert!(c.state().holders.len() <= MAX_HOLDER_PEERS);
    assert!(written.len() <= MAX_HOLDER_PEERS);
}

#[tokio::test]
async fn entries_over_the_quota_per_author_or_in_all_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let me = Keypair::generate_ed25519();
    let (c, _, _s) = open(dir.path(), me.clone());
    c.set_quota(CatalogQuota {
        entries_per_author: 5,
        bytes_per_author: 1 << 20,
        entries: 12,
        bytes: 1 << 20,
    });
    let profile = |n: u32| Body::Profile {
        profile: feed::FeedProfile {
            display_name: format!("name {n}"),
            ..Default::default()
        },
    };
    // An author changing its profile again and again keeps 5 entries.
    let spammer = Keypair::generate_ed25519();
    let mut head = None;
    let mut refused = 0;
    for n in 0..20 {
        let e = feed::sign_next(&spammer, head.as_ref(), n as u64, profile(n)).unwrap();
        let next = Head {
            seq: e.entry.seq,
            hash: e.hash.clone(),
        };
        match c.ingest(e).await {
            Ok(Ingested::Stored) => head = Some(next),
            Err(CatalogError::OverQuota(_)) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    let spam = spammer.public().to_peer_id().to_string();
    assert_eq!(c.head_seq(&spam), 5);
    assert_eq!(refused, 15);
    assert!(c.over_quota(&spam));
    assert_eq!(c.stats().rejected.quota, 15);

    // Bytes per author.
    c.set_quota(CatalogQuota {
        entries_per_author: 100,
        bytes_per_author: 600,
        entries: 100,
        bytes: 1 << 20,
    });
    let big = Keypair::generate_ed25519();
    let mut head = None;
    for n in 0..10u8 {
        let e = feed::sign_next(&big, head.as_ref(), 1, publish(n)).unwrap();
        let next = Head {
            seq: e.entry.seq,
            hash: e.hash.clone(),
        };
        if c.ingest(e).await.is_ok() {
            head = Some(next);
        }
    }
    let big_id = big.public().to_peer_id().to_string();
    let stored = c.head_seq(&big_id);
    assert!((1..10).contains(&stored), "{stored}");
    assert!(c.inner.feeds.bytes_of(&big_id) <= 600);

    // In all: other authors stop at the total; this node's own feed is never refused.
    c.set_quota(CatalogQuota {
        entries_per_author: 100,
        bytes_per_author: 1 << 20,
        entries: c.inner.feeds.count(),
        bytes: 1 << 20,
    });
    let other = Keypair::generate_ed25519();
    let e = feed::sign_next(&other, None, 1, publish(50)).unwrap();
    assert!(matches!(c.ingest(e).await, Err(CatalogError::OverQuota(_))));
    c.append_local(publish(51)).await.unwrap();
    c.commit().await.unwrap();

    // Per-author bytes survive a reopen (computed from the log).
    let bytes = c.inner.feeds.bytes_of(&big_id);
    let total = c.inner.feeds.total_bytes();
    drop(c);
    let (c, _, _s2) = (
        Catalog::open(&_s, dir.path(), me, EventBus::new()).unwrap(),
        (),
        (),
    );
    assert_eq!(c.inner.feeds.bytes_of(&big_id), bytes);
    assert_eq!(c.inner.feeds.total_bytes(), total);
}
