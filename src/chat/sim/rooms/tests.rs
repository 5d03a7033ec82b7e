//! Rooms under the simulator: random faulty runs and the scenarios that once failed.

use super::*;

#[test]
fn random_runs_with_crashes_drops_duplicates_delays() {
    let n = seeds("CHAT_SIM_SEEDS", 200);
    let mut entries = 0;
    let mut failovers = Vec::new();
    for seed in 0..n {
        match random_run(seed, false) {
            Ok(r) => {
                entries += r.entries;
                failovers.extend(r.failovers);
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    assert!(entries > 0);
    failovers.sort_unstable();
    if let (Some(max), false) = (failovers.last(), failovers.is_empty()) {
        let median = failovers[failovers.len() / 2];
        eprintln!(
            "{n} seeds, {entries} entries, {} host crashes: failover median {median} ms, max {max} ms",
            failovers.len()
        );
    }
}

#[test]
fn random_runs_with_partitions_and_simultaneous_crashes() {
    let n = seeds("CHAT_SIM_PARTITION_SEEDS", 100);
    let mut reordered = 0;
    for seed in 0..n {
        match random_run(10_000 + seed, true) {
            Ok(r) => reordered += r.out_of_order_members,
            Err(e) => panic!("seed {}: {e}", 10_000 + seed),
        }
    }
    eprintln!(
        "partition runs: {reordered} member histories showed a split-brain window out of log order"
    );
}

/// 5 members, 3 senders (the host among them), 2,000 messages; the host is killed in
/// the middle of the burst and comes back later with its old epoch.
#[test]
fn host_crash_during_burst_of_2000() {
    let mut sim = Sim::new(42, 5, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    let host = sim.host_index().expect("host");
    let senders = [host, (host + 1) % 5, (host + 2) % 5];
    sim.schedule_messages(&senders, 2_000, start, start + 10_000);
    sim.at(start + 4_000, Ev::Crash(Target::Node(host)));
    sim.run_until(start + 9_000);
    let new_host = sim.host_index().expect("a new host");
    assert_ne!(new_host, host);
    let waits = check_failover(&sim, 5_000).expect("failover");
    assert_eq!(waits.len(), 1);
    // The old host returns with its old epoch and steps down.
    let old_log: Vec<Entry<Peer>> = sim.nodes[host]
        .disk
        .as_ref()
        .map(|d| d.log.clone())
        .unwrap_or_default();
    let old_len = old_log.len();
    let old_term = sim.nodes[host].disk.as_ref().map_or(0, |d| d.meta.term);
    let new_len = sim.room(new_host).log().len();
    sim.at(start + 14_000, Ev::Restart(host));
    sim.run_until(start + 14_001);
    assert_eq!(
        sim.room(host).host().0,
        old_term,
        "it came back with its old epoch"
    );
    eprintln!("burst: old host persisted {old_len} entries (term {old_term}); new host had {new_len} at t+9s");
    sim.run_until(start + 30_000);
    assert!(!sim.room(host).is_host(), "old host stepped down");
    sim.settle(30_000);
    let members: Vec<usize> = (0..5).collect();
    let report = check(&sim, &members, true).expect("invariants");
    // What the old host held beyond what the others had got was handed over and
    // re-sequenced (same ids, new places), not lost and not doubled.
    let final_log = sim.room(0).log();
    let moved = old_log
        .iter()
        .filter(|e| final_log.get(e.seq as usize - 1).map(|f| f.item.id) != Some(e.item.id))
        .filter(|e| e.item.content != Content::HostChange)
        .count();
    eprintln!("burst: {moved} entries of the old host's tail were handed over and re-sequenced");
    assert!(old_log.iter().all(|e| e.item.content == Content::HostChange
        || final_log.iter().any(|f| f.item.id == e.item.id)));
    let texts = final_log
        .iter()
        .filter(|e| matches!(e.item.content, Content::Text(_)))
        .count();
    assert_eq!(texts, sim.trace.sent.len());
    eprintln!(
        "burst: failover in {waits:?} ms, {} entries, {} wire messages",
        report.entries, report.messages
    );
}

/// The same with a clean network and a restarting host that resumes before anyone
/// elected a new one.
#[test]
fn host_restarts_quickly() {
    let mut sim = Sim::new(7, 3, NetCfg::clean());
    sim.setup_room();
    let start = sim.now;
    sim.schedule_messages(&[0, 1, 2], 200, start, start + 5_000);
    sim.at(start + 2_000, Ev::Crash(Target::Node(0)));
    sim.at(start + 2_300, Ev::Restart(0));
    sim.run_until(start + 8_000);
    sim.settle(20_000);
    check(&sim, &[0, 1, 2], true).expect("invariants");
}

#[test]
fn member_offline_during_500_messages_catches_up_in_order() {
    let mut sim = Sim::new(3, 4, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    sim.at(start + 100, Ev::Crash(Target::Node(3)));
    sim.schedule_messages(&[0, 1, 2], 500, start + 500, start + 8_000);
    sim.run_until(start + 10_000);
    let before = sim.nodes[3].shown.len();
    sim.at(start + 10_001, Ev::Restart(3));
    sim.run_until(start + 30_000);
    check(&sim, &[0, 1, 2, 3], true).expect("invariants");
    assert!(sim.nodes[3].shown.len() >= before + 500);
}

/// An old host cut off alone keeps hosting (only itself); the others elect a new host
/// and go on. When the partition heals the old host steps down and hands over what it
/// sequenced meanwhile: everything ends in every log once.
#[test]
fn isolated_old_host_steps_down_and_hands_over() {
    let mut sim = Sim::new(11, 4, NetCfg::clean());
    sim.setup_room();
    let start = sim.now;
    let old = sim.host_index().expect("host");
    let others: Vec<usize> = (0..4).filter(|&i| i != old).collect();
    let groups: Vec<u32> = (0..4).map(|i| u32::from(i == old)).collect();
    sim.at(start, Ev::Partition(groups));
    sim.schedule_messages(&[old], 20, start + 100, start + 6_000);
    sim.schedule_messages(&others, 20, start + 100, start + 6_000);
    sim.run_until(start + 7_000);
    let new_host = sim.host_index().expect("new host");
    assert_ne!(new_host, old);
    assert!(
        sim.room(old).is_host(),
        "the isolated host still hosts itself"
    );
    sim.at(start + 7_001, Ev::Heal);
    sim.run_until(start + 20_000);
    assert!(!sim.room(old).is_host());
    let report = check(&sim, &[0, 1, 2, 3], false).expect("invariants");
    // Only the old host saw its own messages before the others' ones.
    assert!(report.out_of_order_members <= 1);
    let old_epoch_texts = sim
        .room(new_host)
        .log()
        .iter()
        .filter(|e| e.epoch.host == old as Peer && matches!(e.item.content, Content::Text(_)))
        .count();
    assert_eq!(
        old_epoch_texts, 0,
        "messages of the stale epoch were re-sequenced"
    );
}

/// Node 3 has by far the lowest latency to everyone but misses the newest entries (its
/// incoming link from the host silently loses everything). When the host dies, a
/// member with the complete log is elected, not node 3.
#[test]
fn log_completeness_beats_latency() {
    let mut sim = Sim::new(29, 4, NetCfg::clean());
    for (&(a, b), d) in sim.base_delay.iter_mut() {
        *d = if a == 3 || b == 3 { 1 } else { 80 };
    }
    sim.setup_room();
    let start = sim.now;
    let host = sim.host_index().expect("host");
    assert_ne!(host, 3);
    sim.mute.insert((host, 3));
    let others: Vec<usize> = (0..3).filter(|&i| i != host).collect();
    sim.schedule_messages(&others, 30, start, start + 2_000);
    sim.run_until(start + 6_500);
    let lag = sim.room(3).log().len();
    let full = sim.room(host).log().len();
    assert!(lag < full, "node 3 is behind ({lag} < {full})");
    sim.at(start + 6_600, Ev::Crash(Target::Node(host)));
    sim.run_until(start + 12_000);
    let new_host = sim.host_index().expect("new host");
    assert_ne!(
        new_host, 3,
        "the fastest member with an incomplete log did not win"
    );
    sim.mute.clear();
    sim.settle(20_000);
    check(&sim, &[0, 1, 2, 3], true).expect("invariants");
}

#[test]
fn two_member_room_survives_either_side_going_away() {
    let mut sim = Sim::new(5, 2, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    sim.schedule_messages(&[0, 1], 60, start, start + 20_000);
    sim.at(start + 3_000, Ev::Crash(Target::Node(0)));
    sim.at(start + 9_000, Ev::Restart(0));
    sim.at(start + 12_000, Ev::Crash(Target::Node(1)));
    sim.at(start + 16_000, Ev::Restart(1));
    sim.run_until(start + 20_000);
    sim.settle(30_000);
    check(&sim, &[0, 1], true).expect("invariants");
}

/// Five members; three go offline one after the other, then the host too: the two left
/// elect a host and keep chatting.
#[test]
fn minority_keeps_chatting() {
    let mut sim = Sim::new(9, 5, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    let host = sim.host_index().expect("host");
    let rest: Vec<usize> = (0..5).filter(|&i| i != host).collect();
    sim.at(start + 1_000, Ev::Crash(Target::Node(rest[0])));
    sim.at(start + 2_000, Ev::Crash(Target::Node(rest[1])));
    sim.at(start + 3_000, Ev::Crash(Target::Node(host)));
    sim.run_until(start + 8_000);
    let new_host = sim
        .host_index()
        .expect("the two remaining members elected a host");
    assert!(new_host == rest[2] || new_host == rest[3]);
    let first = sim.trace.sent.len();
    sim.schedule_messages(&[rest[2], rest[3]], 30, start + 8_000, start + 12_000);
    sim.run_until(start + 14_000);
    let ids: Vec<MsgId> = sim.trace.sent.keys().copied().collect();
    assert_eq!(ids.len(), first + 30);
    for i in [rest[2], rest[3]] {
        let shown: HashSet<&MsgId> = sim.nodes[i].shown.iter().collect();
        assert!(
            ids.iter().all(|id| shown.contains(id)),
            "node {i} sees the chat"
        );
    }
    sim.settle(30_000);
    check(&sim, &[0, 1, 2, 3, 4], true).expect("invariants");
}

/// A partition that drops every packet between the sides while their connections stay up
/// (as on a real network until the transport times them out): the side without the host
/// elects its own within seconds, as the members it cannot hear stop holding the vote; after
/// the heal nothing is lost or shown twice and every log is the same.
#[test]
fn a_silent_partition_elects_on_both_sides_and_heals() {
    let mut sim = Sim::new(31, 5, NetCfg::clean());
    sim.setup_room();
    let start = sim.now;
    let host = sim.host_index().expect("host");
    let other = (0..5).find(|&i| i != host).unwrap();
    let small = [host, other];
    let large: Vec<usize> = (0..5).filter(|i| !small.contains(i)).collect();
    for &a in &small {
        for &b in &large {
            sim.mute.insert((a, b));
            sim.mute.insert((b, a));
        }
    }
    let everyone: Vec<usize> = (0..5).collect();
    sim.schedule_messages(&everyone, 100, start, start + 12_000);
    sim.run_until(start + 8_000);
    let hosts: Vec<usize> = large
        .iter()
        .copied()
        .filter(|&i| sim.room(i).is_host())
        .collect();
    assert_eq!(
        hosts.len(),
        1,
        "the side without the host has one of its own"
    );
    assert!(sim.room(host).is_host(), "the other side keeps its host");
    sim.run_until(start + 14_000);
    sim.mute.clear();
    sim.settle(30_000);
    check(&sim, &everyone, false).expect("invariants");
}

#[test]
fn non_member_cannot_join_or_read() {
    let mut sim = Sim::new(13, 4, NetCfg::clean());
    // Only nodes 0..3 become members; node 3 forges an invitation.
    sim.create_and_invite("private", 1..3);
    sim.run_until(5_000);
    let mut forged = sim.room(0).invitation();
    forged.members.insert(3);
    sim.nodes[3].invitation = Some(forged);
    sim.join(3);
    let id = sim.fresh_id();
    sim.at(
        5_100,
        Ev::Cmd {
            node: 3,
            event: Event::Send {
                id,
                body: "let me in".into(),
            },
        },
    );
    sim.schedule_messages(&[0, 1, 2], 10, 5_000, 8_000);
    sim.run_until(15_000);
    assert!(sim.nodes[3].denied, "host said no");
    assert!(sim.nodes[3].shown.is_empty(), "nothing readable");
    assert!(sim.room(3).log().is_empty());
    assert!(
        !sim.room(0).log().iter().any(|e| e.item.id == id),
        "its message was not placed"
    );
    assert!(!sim.room(0).members().contains(&3));
    sim.trace.sent.remove(&id);
    check(&sim, &[0, 1, 2], true).expect("invariants");
}

#[test]
fn only_creator_can_delete() {
    let mut sim = Sim::new(17, 3, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    // A member may not delete: refused locally ...
    let id = sim.fresh_id();
    sim.at(
        start,
        Ev::Cmd {
            node: 1,
            event: Event::Delete { id },
        },
    );
    sim.run_until(start + 100);
    assert!(sim
        .trace
        .refused
        .iter()
        .any(|(n, i, e)| *n == 1 && *i == id && *e == RoomError::NotCreator));
    // ... and by the host when forged on the wire.
    let forged = sim.fresh_id();
    let host = sim.host_index().expect("host");
    let term = sim.room(1).host().0;
    let mut item = Item {
        id: forged,
        sender: 1,
        sent_ms: 0,
        content: Content::Delete,
        sig: Sig::NONE,
    };
    item.sig = TestSigner(1).sign(&item_bytes(&sim.room_id, &item));
    let msg = Wire::Submit {
        room: sim.room_id,
        term,
        items: vec![item],
    };
    sim.feed(host, Event::Wire { from: 1, msg });
    sim.run_until(start + 2_000);
    assert!(!sim.nodes.iter().any(|n| n.deleted));
    // The creator (node 0) can, even when it is not the host.
    sim.at(start + 2_100, Ev::Crash(Target::Node(0)));
    sim.at(start + 6_000, Ev::Restart(0));
    sim.schedule_messages(&[1, 2], 10, start + 2_200, start + 5_000);
    let del = sim.fresh_id();
    sim.at(
        start + 9_000,
        Ev::Cmd {
            node: 0,
            event: Event::Delete { id: del },
        },
    );
    sim.run_until(start + 15_000);
    assert!(sim.nodes.iter().all(|n| n.deleted), "everyone was told");
    for i in 0..3 {
        assert!(sim.room(i).log().len() > 3, "history stays");
    }
    // No more sends.
    let late = sim.fresh_id();
    sim.at(
        start + 15_100,
        Ev::Cmd {
            node: 1,
            event: Event::Send {
                id: late,
                body: "x".into(),
            },
        },
    );
    sim.run_until(start + 16_000);
    assert!(sim
        .trace
        .refused
        .iter()
        .any(|(_, i, e)| *i == late && *e == RoomError::RoomDeleted));
    sim.settle(10_000);
    check(&sim, &[0, 1, 2], true).expect("invariants");
}

#[test]
fn leave_removes_member_or_mutes_when_host_unreachable() {
    let mut sim = Sim::new(19, 4, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    let host = sim.host_index().expect("host");
    let a = (host + 1) % 4;
    let b = (host + 2) % 4;
    // a leaves normally.
    let id = sim.fresh_id();
    sim.at(
        start,
        Ev::Cmd {
            node: a,
            event: Event::Leave { id },
        },
    );
    sim.run_until(start + 3_000);
    assert!(sim.nodes[a].left);
    assert!(!sim.nodes[a].muted);
    assert!(!sim.room(host).members().contains(&(a as Peer)));
    // b is cut off from everyone and leaves: muted after the timeout.
    let groups: Vec<u32> = (0..4).map(|i| u32::from(i == b)).collect();
    sim.at(start + 3_000, Ev::Partition(groups));
    let id = sim.fresh_id();
    sim.at(
        start + 3_100,
        Ev::Cmd {
            node: b,
            event: Event::Leave { id },
        },
    );
    sim.run_until(start + 3_100 + LEAVE_TIMEOUT_MS + 500);
    assert!(sim.nodes[b].muted);
    assert!(!sim.nodes[b].left);
    // When it can reach the host again, the leave goes through.
    sim.at(sim.now + 1, Ev::Heal);
    sim.run_until(sim.now + 5_000);
    assert!(sim.nodes[b].left);
    let remaining: Vec<usize> = (0..4).filter(|&i| i != a && i != b).collect();
    for &i in &remaining {
        assert_eq!(sim.room(i).members().len(), 2);
    }
    check(&sim, &remaining, true).expect("invariants");
}

#[test]
fn rename_and_late_invite_are_ordered_and_the_newcomer_reads_history() {
    let mut sim = Sim::new(23, 4, NetCfg::lossy());
    // Members 0..3 first; node 3 is invited later.
    sim.create_and_invite("a", 1..3);
    sim.run_until(3_000);
    sim.schedule_messages(&[0, 1, 2], 40, 3_000, 6_000);
    let r = sim.fresh_id();
    sim.at(
        4_000,
        Ev::Cmd {
            node: 2,
            event: Event::Rename {
                id: r,
                name: "b".into(),
            },
        },
    );
    let inv = sim.fresh_id();
    sim.at(
        7_000,
        Ev::Cmd {
            node: 1,
            event: Event::Invite { id: inv, peer: 3 },
        },
    );
    sim.run_until(15_000);
    sim.settle(10_000);
    check(&sim, &[0, 1, 2, 3], true).expect("invariants");
    for i in 0..4 {
        assert_eq!(sim.room(i).meta().name, "b");
        assert_eq!(sim.room(i).members().len(), 4);
    }
}

#[test]
fn oversized_and_malformed_input_is_refused() {
    let (mut room, _) = Room::create([1; 32], 0u64, "r".into(), 0, signer(0)).expect("create");
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let actions = room.handle(
        Event::Send {
            id: [9; 16],
            body: big,
        },
        1,
    );
    assert!(actions.contains(&Action::Refused {
        id: [9; 16],
        error: RoomError::BodyTooLarge
    }));
    assert!(Room::create([1; 32], 0u64, String::new(), 0, signer(0)).is_err());
    // An append with a gap in its seqs is ignored without a reply.
    let mut inv = room.invitation();
    inv.members.insert(1);
    let (mut member, _) = Room::from_invitation(1u64, inv, 0, signer(1));
    let e = room.log()[0].clone();
    let mut bad = e.clone();
    bad.seq = 5;
    let msg = Wire::Append {
        room: [1; 32],
        epoch: e.epoch.clone(),
        prev: LogPos::zero(),
        entries: vec![bad],
        commit: 1,
        host_last: 1,
        cert: None,
    };
    let actions = member.handle(Event::Wire { from: 0, msg }, 2);
    assert!(actions.iter().all(|a| matches!(a, Action::SetTimer { .. })));
    // A message for another room is ignored.
    let msg = Wire::NotMember { room: [2; 32] };
    let actions = member.handle(Event::Wire { from: 0, msg }, 3);
    assert!(actions.iter().all(|a| matches!(a, Action::SetTimer { .. })));
    // The outbox is capped.
    let mut refused = 0;
    for k in 0..(MAX_OUTBOX + 5) as u64 {
        let id = msg_id(1_000_000 + k);
        let actions = member.handle(
            Event::Send {
                id,
                body: "hi".into(),
            },
            4,
        );
        refused += actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Refused {
                        error: RoomError::OutboxFull,
                        ..
                    }
                )
            })
            .count();
    }
    assert_eq!(refused, 5);
}

#[test]
fn absurd_numbers_on_the_wire_do_not_panic() {
    let (mut host, _) = Room::create([1; 32], 0u64, "r".into(), 0, signer(0)).expect("create");
    let mut inv = host.invitation();
    inv.members.insert(1);
    let (mut member, _) = Room::from_invitation(1u64, inv, 0, signer(1));
    let big = u64::MAX;
    let epoch = Epoch { term: big, host: 0 };
    let pos = LogPos {
        epoch: Some(epoch.clone()),
        seq: big,
    };
    let msgs = vec![
        Wire::Append {
            room: [1; 32],
            epoch: epoch.clone(),
            prev: pos.clone(),
            entries: vec![],
            commit: big,
            host_last: big,
            cert: None,
        },
        Wire::Hello {
            room: [1; 32],
            term: big,
            host: Some(0),
            last: pos.clone(),
            cert: None,
        },
        Wire::VoteRequest {
            room: [1; 32],
            term: big,
            last: pos.clone(),
            pre: false,
            cert: None,
        },
        Wire::AppendReply {
            room: [1; 32],
            epoch: epoch.clone(),
            ok: true,
            seq: big,
            segments: vec![],
        },
    ];
    for (t, msg) in msgs.into_iter().enumerate() {
        member.handle(
            Event::Wire {
                from: 0,
                msg: msg.clone(),
            },
            t as u64,
        );
        host.handle(Event::Wire { from: 1, msg }, t as u64);
    }
    for t in 0..100 {
        member.handle(Event::Tick, 1_000 * t);
        host.handle(Event::Tick, 1_000 * t);
    }
    assert_eq!(member.host().0, 1, "ignored");
    let mut dm: DirectMessages<u64> = DirectMessages::new();
    let msg = DmWire::Message {
        id: [0; 16],
        seq: big,
        low: big,
        body: String::new(),
        sent_ms: 0,
    };
    dm.handle(DmEvent::Wire { from: 5, msg }, 0);
    let msg = DmWire::Message {
        id: [0; 16],
        seq: 3,
        low: big - 1,
        body: String::new(),
        sent_ms: 0,
    };
    dm.handle(DmEvent::Wire { from: 5, msg }, 0);
}

#[test]
fn persist_comes_first_in_every_batch() {
    // `perform` asserts it for every batch of every run; this run just exercises a lot.
    let _ = random_run(123_456, false).expect("run");
}

#[test]
fn snapshots_round_trip_through_serde() {
    let key = SeedSigner::new(7);
    let me = key.peer();
    let (room, _) =
        Room::create([3; 32], me, "n".into(), 0, std::sync::Arc::new(key)).expect("create");
    // The creation entry carries a real ed25519 signature.
    let created = &room.log()[0].item;
    assert!(me.verify(&item_bytes(&[3; 32], created), &created.sig));
    let snap = room.snapshot();
    let json = serde_json::to_string(&snap).expect("ser");
    let back: Snapshot<[u8; 32]> = serde_json::from_str(&json).expect("de");
    assert_eq!(back, snap);
    let w: Wire<[u8; 32]> = Wire::Hello {
        room: [3; 32],
        term: 1,
        host: None,
        last: LogPos::zero(),
        cert: None,
    };
    let json = serde_json::to_string(&w).expect("ser");
    assert_eq!(
        serde_json::from_str::<Wire<[u8; 32]>>(&json).expect("de"),
        w
    );
}
