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
    c.peer_offline(holder);
    assert!(!c.resource(&id).unwrap().available);
    let flips: Vec<bool> = kinds(&bus)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::AvailabilityChanged { available, .. } => Some(available),
            _ => None,
        })
        .collect();
    assert_eq!(flips, vec![true, false]);
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
