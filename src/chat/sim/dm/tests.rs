//! Direct messages under the simulator.

use super::*;

#[test]
fn dm_to_offline_peer_is_delivered_when_it_comes_online() {
    let mut sim = DmSim::new(1, 2, NetCfg::clean());
    sim.at(0, DmEv::Crash(1));
    for k in 0..5 {
        sim.at(
            10 + k,
            DmEv::Send {
                from: 0,
                to: 1,
                id: msg_id(k),
            },
        );
    }
    sim.run_until(3_600_000);
    assert!(sim.nodes[1].shown.is_empty());
    assert_eq!(
        sim.nodes[0].states[&msg_id(0)],
        DmState::Queued,
        "waits, no tries burnt"
    );
    sim.at(sim.now + 1, DmEv::Restart(1));
    sim.run_until(sim.now + 5_000);
    sim.check().expect("delivered once");
}

#[test]
fn dm_survives_sender_restart() {
    let mut sim = DmSim::new(2, 2, NetCfg::clean());
    sim.at(0, DmEv::Crash(1));
    sim.at(
        10,
        DmEv::Send {
            from: 0,
            to: 1,
            id: msg_id(1),
        },
    );
    sim.at(
        20,
        DmEv::Send {
            from: 0,
            to: 1,
            id: msg_id(2),
        },
    );
    sim.at(1_000, DmEv::Crash(0));
    sim.at(2_000, DmEv::Restart(1));
    sim.at(60_000, DmEv::Restart(0));
    sim.run_until(59_000);
    assert!(sim.nodes[1].shown.is_empty());
    sim.at(
        61_000,
        DmEv::Send {
            from: 0,
            to: 1,
            id: msg_id(3),
        },
    );
    sim.run_until(70_000);
    sim.check()
        .expect("delivered once after the sender restarted");
    let order: Vec<MsgId> = sim.nodes[1].shown.iter().map(|(_, id)| *id).collect();
    assert_eq!(order, vec![msg_id(1), msg_id(2), msg_id(3)]);
}

#[test]
fn dm_backoff_ten_tries_then_not_delivered_yet_then_retried_online() {
    let mut sim = DmSim::new(3, 2, NetCfg::clean());
    sim.deaf.insert(1); // connected, but nothing gets through
    sim.at(
        0,
        DmEv::Send {
            from: 0,
            to: 1,
            id: msg_id(1),
        },
    );
    sim.run_until(40 * 3_600_000);
    assert_eq!(sim.nodes[0].states[&msg_id(1)], DmState::NotDeliveredYet);
    assert_eq!(
        sim.tries[&0], MAX_TRIES as usize,
        "ten tries, then it stops"
    );
    assert_eq!(
        sim.nodes[0].dm.as_ref().map(|d| d.pending().count()),
        Some(1),
        "still queued"
    );
    // Delays: 1 s, 3 s, 9 s ... capped at an hour.
    assert_eq!(backoff_ms(1), 1_000);
    assert_eq!(backoff_ms(2), 3_000);
    assert_eq!(backoff_ms(5), 81_000);
    assert_eq!(backoff_ms(9), BACKOFF_CAP_MS);
    // The peer is seen online again (new connection): a new round delivers it.
    sim.deaf.clear();
    sim.set_cut(0, 1, true);
    sim.set_cut(0, 1, false);
    sim.run_until(sim.now + 2_000);
    sim.check().expect("delivered");
}

#[test]
fn dm_replays_after_minutes_are_shown_once() {
    let mut sim = DmSim::new(4, 2, NetCfg::clean());
    for k in 0..20 {
        sim.at(
            k * 10,
            DmEv::Send {
                from: 0,
                to: 1,
                id: msg_id(k),
            },
        );
    }
    sim.run_until(5_000);
    sim.check().expect("delivered");
    // Replay every message delivered to node 1, 2 minutes and then a day later.
    let replays: Vec<DmWire> = sim
        .delivered_log
        .iter()
        .filter(|(_, to, _)| *to == 1)
        .map(|(_, _, m)| m.clone())
        .collect();
    for later in [120_000, 86_400_000] {
        sim.run_until(sim.now + later);
        for m in &replays {
            sim.feed(
                1,
                DmEvent::Wire {
                    from: 0,
                    msg: m.clone(),
                },
            );
        }
    }
    sim.check().expect("no message shown twice");
    assert_eq!(sim.nodes[1].shown.len(), 20);
    let mark = &sim.nodes[1].disk.inbox[&0];
    assert_eq!(mark.contiguous, 20);
    assert!(mark.above.is_empty(), "memory stays bounded");
}

#[test]
fn dm_random_runs() {
    let n = seeds("CHAT_DM_SEEDS", 100);
    for seed in 0..n {
        let mut rng = Rng::new(seed + 77);
        let peers = rng.range(2, 4) as usize;
        let mut sim = DmSim::new(seed, peers, NetCfg::lossy());
        let mut id = 0;
        for _ in 0..rng.range(20, 120) {
            let from = rng.below(peers as u64) as usize;
            let to = (from + 1 + rng.below(peers as u64 - 1) as usize) % peers;
            id += 1;
            let t = rng.range(0, 60_000);
            sim.at(
                t,
                DmEv::Send {
                    from,
                    to,
                    id: msg_id(id),
                },
            );
        }
        for _ in 0..rng.range(0, 6) {
            let node = rng.below(peers as u64) as usize;
            let t = rng.range(0, 60_000);
            sim.at(t, DmEv::Crash(node));
            sim.at(t + rng.range(100, 30_000), DmEv::Restart(node));
        }
        sim.run_until(100_000);
        for i in 0..peers {
            sim.at(sim.now + 1, DmEv::Restart(i));
        }
        sim.run_until(sim.now + 400_000);
        if let Err(e) = sim.check() {
            panic!("seed {seed}: {e}");
        }
    }
}
