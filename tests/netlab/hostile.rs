//! A hostile crowd for the relay: many libp2p identities, run inside a lab namespace, that
//! take relay reservations and circuits beyond the relay's limits and announce addresses
//! meant to make it dial loopback, private ranges and nowhere.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth::net::presence::Announce;
use hearth::net::protocol::WireProfile;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    gossipsub, identify, multiaddr::Protocol, noise, relay, tcp, yamux, Multiaddr, PeerId, Swarm,
    SwarmBuilder,
};

#[derive(NetworkBehaviour)]
struct Crowd {
    relay: relay::client::Behaviour,
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
}

fn member() -> Swarm<Crowd> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| Crowd {
            relay,
            identify: identify::Behaviour::new(identify::Config::new(
                "/hearth/1.0.0".into(),
                key.public(),
            )),
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(200))
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// What the crowd saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reservations_accepted: usize,
    pub reservations_refused: usize,
    pub circuits_opened: usize,
    pub circuits_failed: usize,
    pub announcements: usize,
    /// The first few reasons circuits failed.
    pub circuit_errors: Vec<String>,
}

/// Runs the crowd against `relay` (its TCP address, ending in `/p2p/ID`) for about
/// `duration`: `reservers` identities each reserve a slot; each of `dialers` identities
/// opens circuits to up to `circuits_each` of the reserved ones; `announcers` identities,
/// connected to `gossip_via` only (so the relay hears them through it, as it would hear a
/// liar elsewhere on the network, and would dial them), announce hostile addresses
/// (loopback, private ranges, a public address nobody has) every 250 ms with fresh ports,
/// and claim thousands of addresses over identify.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    relay: Multiaddr,
    gossip_via: Multiaddr,
    reservers: usize,
    dialers: usize,
    circuits_each: usize,
    announcers: usize,
    duration: Duration,
) -> Outcome {
    let relay_id = match relay.iter().last() {
        Some(Protocol::P2p(id)) => id,
        _ => panic!("the relay address names no peer: {relay}"),
    };
    let circuit_base = relay.clone().with(Protocol::P2pCircuit);
    let deadline = Instant::now() + duration;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();

    // Reservers: listen on the relay, and stay to accept circuits.
    let mut reserved: Vec<PeerId> = Vec::new();
    let (res_tx, mut res_rx) = tokio::sync::mpsc::unbounded_channel::<PeerId>();
    for _ in 0..reservers {
        let mut swarm = member();
        let tx = tx.clone();
        let res_tx = res_tx.clone();
        let circuit_base = circuit_base.clone();
        tokio::spawn(async move {
            let me = *swarm.local_peer_id();
            if swarm.listen_on(circuit_base).is_err() {
                let _ = tx.send("refused".into());
                return;
            }
            let stop = tokio::time::sleep_until(deadline.into());
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::Behaviour(CrowdEvent::Relay(
                            relay::client::Event::ReservationReqAccepted { renewal: false, .. },
                        )) => {
                            let _ = tx.send("accepted".into());
                            let _ = res_tx.send(me);
                        }
                        SwarmEvent::ListenerClosed { .. } => {
                            let _ = tx.send("refused".into());
                        }
                        _ => {}
                    },
                }
            }
        });
    }
    drop(res_tx);

    // Collect who got a slot: until half the reservers have one, at most half the time.
    let settle = Instant::now() + duration / 2;
    while reserved.len() < reservers / 2 {
        match tokio::time::timeout_at(settle.into(), res_rx.recv()).await {
            Ok(Some(peer)) => reserved.push(peer),
            _ => break,
        }
    }

    // Circuit dialers: each opens circuits to reserved identities.
    for i in 0..dialers {
        let mut swarm = member();
        let tx = tx.clone();
        // Distinct destinations per dialer: the relay's per-peer limit is not what stops them.
        let targets: Vec<PeerId> = reserved
            .iter()
            .cycle()
            .skip(i * circuits_each)
            .take(circuits_each.min(reserved.len()))
            .copied()
            .collect();
        let base = circuit_base.clone();
        let relay = relay.clone();
        tokio::spawn(async move {
            // Connected to the relay first, then every circuit at once.
            if swarm.dial(relay).is_err() {
                return;
            }
            let stop = tokio::time::sleep_until(deadline.into());
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. }
                            if peer_id == relay_id && !endpoint.is_relayed() =>
                        {
                            for t in &targets {
                                let addr = base.clone().with(Protocol::P2p(*t));
                                if swarm.dial(addr).is_err() {
                                    let _ = tx.send("circuit_failed dial".into());
                                }
                            }
                        }
                        SwarmEvent::Behaviour(CrowdEvent::Relay(
                            relay::client::Event::OutboundCircuitEstablished { .. },
                        )) => {
                            let _ = tx.send("circuit_opened".into());
                        }
                        SwarmEvent::OutgoingConnectionError { error, .. } => {
                            let _ = tx.send(format!("circuit_failed {error}"));
                        }
                        _ => {}
                    },
                }
            }
        });
    }

    // Announcers: hostile addresses over gossip, and a flood over identify.
    for n in 0..announcers {
        let mut swarm = member();
        let tx = tx.clone();
        let via = gossip_via.clone();
        for i in 0..3000u32 {
            let a: Multiaddr = format!("/ip4/10.{}.{}.1/tcp/{}", i / 250, i % 250, 1000 + i)
                .parse()
                .unwrap();
            swarm.add_external_address(a);
        }
        tokio::spawn(async move {
            let topic = gossipsub::IdentTopic::new(hearth::net::protocol::PRESENCE_TOPIC);
            swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
            if swarm.dial(via).is_err() {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let stop = tokio::time::sleep_until(deadline.into());
            tokio::pin!(stop);
            let mut seq = 1u64;
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tick.tick() => {
                        seq += 1;
                        let port = 2000 + (seq % 60000) as u16;
                        let addrs = vec![
                            format!("/ip4/127.0.0.1/tcp/{port}"),
                            format!("/ip4/127.0.0.1/udp/{port}/quic-v1"),
                            format!("/ip4/10.9.{n}.1/tcp/{port}"),
                            format!("/ip4/192.168.1.1/tcp/{port}"),
                            format!("/ip4/172.16.0.1/tcp/{port}"),
                            format!("/ip4/100.64.0.1/tcp/{port}"),
                            format!("/ip4/169.254.1.1/tcp/{port}"),
                            // Public, and nobody is there.
                            format!("/ip4/203.0.113.200/tcp/{port}"),
                        ];
                        let announce = Announce {
                            seq,
                            profile: WireProfile {
                                display_name: format!("mallory {n}"),
                                ..Default::default()
                            },
                            addrs,
                        };
                        let bytes = serde_json::to_vec(&announce).unwrap();
                        if swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes).is_ok() {
                            let _ = tx.send("announced".into());
                        }
                    }
                    _ = swarm.select_next_some() => {}
                }
            }
        });
    }
    drop(tx);

    let mut out = Outcome::default();
    while let Some(what) = rx.recv().await {
        if let Some(error) = what.strip_prefix("circuit_failed ") {
            if out.circuit_errors.len() < 3 {
                out.circuit_errors.push(error.chars().take(300).collect());
            }
        }
        let what = what.split(' ').next().unwrap_or_default();
        match what {
            "accepted" => {} // counted from `reserved` (and late ones below)
            "refused" => out.reservations_refused += 1,
            "circuit_opened" => out.circuits_opened += 1,
            "circuit_failed" => out.circuits_failed += 1,
            "announced" => out.announcements += 1,
            _ => {}
        }
    }
    while let Ok(peer) = res_rx.try_recv() {
        reserved.push(peer);
    }
    out.reservations_accepted = reserved.len();
    out
}
