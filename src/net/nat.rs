//! Across NAT: the relay service this node offers, the relay slots it reserves, how each
//! connection is classified (LAN, direct, hole-punched, relayed), and the plain-words
//! diagnosis of a peer that cannot be reached (ARCHITECTURE.md, "Across NAT").
//!
//! The state lives in [`Traversal`], owned by the network task next to the swarm; it is
//! driven by swarm events and by the presence tick. The decisions are plain functions, so
//! they are tested without a network.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{
    autonat, core::ConnectedPoint, dcutr, identify, multiaddr::Protocol, relay,
    swarm::ConnectionId, Multiaddr, PeerId, Swarm,
};

use super::peer_book::is_public;
use super::Behaviour;
use crate::api::dto::{Diagnosis, PeerInfo, RelayService};

/// Reservations this node holds for others at once. Each costs one open connection and a
/// few hundred bytes; 64 homes behind one friendly node is plenty for a community.
pub const RELAY_MAX_RESERVATIONS: usize = 64;
/// Reservations per peer connection (a peer may reserve over TCP and QUIC).
pub const RELAY_MAX_RESERVATIONS_PER_PEER: usize = 2;
/// How long a reservation lasts; clients renew it before it ends.
pub const RELAY_RESERVATION_DURATION: Duration = Duration::from_secs(30 * 60);
/// Circuits (relayed connections) at once (the default of `relay_max_circuits`, defined
/// with the configuration). Each buffers at most two yamux windows.
pub use crate::config::{RELAY_MAX_CIRCUITS, RELAY_MAX_CIRCUITS_CEILING};
/// Circuits one peer may take part in at once.
pub const RELAY_MAX_CIRCUITS_PER_PEER: usize = 4;
/// One circuit's lifetime. Hole punching replaces it within seconds when the NATs allow;
/// when they do not, presence redials a fresh circuit after it ends.
pub const RELAY_MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(10 * 60);
/// Bytes one circuit may carry (both directions): enough for presence, catalog catch-up
/// (a response is at most 4 MiB) and chat (an append carries at most 256 KiB), not for
/// bulk transfers, which want the direct path. Worst case for the relay: 32 circuits x
/// 8 MiB per 10 minutes.
pub const RELAY_MAX_CIRCUIT_BYTES: u64 = 8 << 20;

/// Relays this node reserves slots on at once (one may go away; two keep it reachable).
pub const MAX_RELAYS_USED: usize = 2;
/// Peers remembered as possible relays.
const MAX_RELAY_CANDIDATES: usize = 32;
/// A relay that refused or went away is not asked again before this.
const RELAY_RETRY: Duration = Duration::from_secs(30);
/// How long a reservation waits for the QUIC connection to its relay.
const QUIC_WAIT: Duration = Duration::from_secs(3);
/// Peers whose last dial error and hole-punch error are remembered.
const MAX_ERRORS: usize = 1024;
/// Longest error text kept.
const MAX_ERROR_LEN: usize = 300;

/// Builds the relay service's configuration from the limits above, with `max_circuits`
/// circuits at once (libp2p's default rate limiters stay: per peer and per IP address, for
/// reservations and circuits). Reservations allow two per circuit, at least the default.
pub fn relay_config(max_circuits: usize) -> relay::Config {
    let max_circuits = max_circuits.clamp(1, RELAY_MAX_CIRCUITS_CEILING);
    relay::Config {
        max_reservations: RELAY_MAX_RESERVATIONS.max(2 * max_circuits),
        max_reservations_per_peer: RELAY_MAX_RESERVATIONS_PER_PEER,
        reservation_duration: RELAY_RESERVATION_DURATION,
        max_circuits,
        max_circuits_per_peer: RELAY_MAX_CIRCUITS_PER_PEER,
        max_circuit_duration: RELAY_MAX_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_MAX_CIRCUIT_BYTES,
        ..relay::Config::default()
    }
}

/// libp2p's relay server, shielded from two things it mishandles (libp2p-relay 0.22):
/// - it records relayed connections too (whose handler is a dummy), and when its status
///   flips it sends every recorded connection a message only its real handler knows,
///   which panics that connection's task;
/// - it starts serving as soon as any external address is confirmed, including the
///   relayed address this node's own relay client confirms after a reservation, so a
///   node behind NAT would advertise a relay nobody can reach.
///
/// It therefore never hears of relayed connections nor of relayed external addresses; a
/// confirmed direct address (AutoNAT's verdict "public") is what turns it on.
pub struct RelayServer(relay::Behaviour);

impl RelayServer {
    pub fn new(local: PeerId, max_circuits: usize) -> Self {
        Self(relay::Behaviour::new(local, relay_config(max_circuits)))
    }
}

impl libp2p::swarm::NetworkBehaviour for RelayServer {
    type ConnectionHandler =
        <relay::Behaviour as libp2p::swarm::NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = relay::Event;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        self.0
            .handle_established_inbound_connection(id, peer, local_addr, remote_addr)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: libp2p::core::Endpoint,
        port_use: libp2p::core::transport::PortUse,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        self.0
            .handle_established_outbound_connection(id, peer, addr, role_override, port_use)
    }

    fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm) {
        use libp2p::swarm::FromSwarm;
        let relayed = match &event {
            FromSwarm::ConnectionEstablished(e) => e.endpoint.is_relayed(),
            FromSwarm::ConnectionClosed(e) => e.endpoint.is_relayed(),
            FromSwarm::ExternalAddrConfirmed(e) => is_relayed(e.addr),
            FromSwarm::ExternalAddrExpired(e) => is_relayed(e.addr),
            FromSwarm::NewExternalAddrCandidate(e) => is_relayed(e.addr),
            _ => false,
        };
        if !relayed {
            self.0.on_swarm_event(event);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: libp2p::swarm::THandlerOutEvent<Self>,
    ) {
        self.0.on_connection_handler_event(peer, id, event)
    }

    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<libp2p::swarm::ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>>
    {
        self.0.poll(cx)
    }
}

/// AutoNAT as Hearth runs it: quick first answers (a node should know within seconds
/// whether others can reach it), and Hearth's own notion of "public" (anything but
/// loopback, RFC 1918, CGNAT, link-local and ULA), enforced by choosing the servers
/// ([`Traversal::on_established`]) instead of libp2p's `only_global_ips`, which would also
/// reject documentation and benchmark ranges.
pub fn autonat_config() -> autonat::Config {
    autonat::Config {
        boot_delay: Duration::from_secs(1),
        retry_interval: Duration::from_secs(3),
        refresh_interval: Duration::from_secs(5 * 60),
        // Longer than the swarm's 10 s connection timeout, so a dial-back that finds
        // nobody is reported as failed instead of timing out unanswered.
        timeout: Duration::from_secs(15),
        throttle_server_period: Duration::from_secs(10),
        use_connected: false,
        only_global_ips: false,
        ..autonat::Config::default()
    }
}

/// How one connection reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Over a private or loopback address: the same network.
    Lan,
    /// Over a public address, without help.
    Direct,
    /// Opened by DCUtR while a relayed connection existed.
    HolePunched,
    /// Through a relay (whose peer id, when known).
    Relayed(Option<PeerId>),
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lan => "lan",
            Kind::Direct => "direct",
            Kind::HolePunched => "hole_punched",
            Kind::Relayed(_) => "relayed",
        }
    }

    /// Which of several connections describes the peer best: a non-relayed one first.
    fn rank(self) -> u8 {
        match self {
            Kind::HolePunched => 0,
            Kind::Direct => 1,
            Kind::Lan => 2,
            Kind::Relayed(_) => 3,
        }
    }

    /// The kind of a connection. An inbound relayed connection shows only `/p2p/<src>` as
    /// the remote address; its local address is the relayed one.
    pub fn of(endpoint: &ConnectedPoint) -> Kind {
        let remote = endpoint.get_remote_address();
        if is_relayed(remote) {
            return Kind::Relayed(relay_of(remote));
        }
        if let ConnectedPoint::Listener { local_addr, .. } = endpoint {
            if is_relayed(local_addr) {
                return Kind::Relayed(relay_of(local_addr));
            }
        }
        if is_public(remote) {
            Kind::Direct
        } else {
            Kind::Lan
        }
    }
}

/// Whether `addr` is a QUIC address.
pub fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::QuicV1))
}

/// Whether `addr` goes through a relay (`.../p2p-circuit/...`).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// The relay's peer id in a `/.../p2p/RELAY/p2p-circuit/...` address.
pub fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut last = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(id) => last = Some(id),
            Protocol::P2pCircuit => return last,
            _ => {}
        }
    }
    None
}

#[derive(Debug)]
struct Reservation {
    relay: PeerId,
    accepted: bool,
}

/// What the relay service did for others (counts since start).
#[derive(Debug, Default, Clone)]
struct Served {
    reservations: HashMap<PeerId, u32>,
    circuits: u32,
    refused_reservations: u64,
    refused_circuits: u64,
}

/// The network task's NAT-traversal state.
pub(crate) struct Traversal {
    relay_service: bool,
    nat: autonat::NatStatus,
    /// Connected peers that serve relay v2 and are publicly reachable, with the address to
    /// reach them at.
    candidates: HashMap<PeerId, Multiaddr>,
    /// Their QUIC addresses: this node keeps a QUIC connection to each relay it uses.
    quic_addrs: HashMap<PeerId, Multiaddr>,
    /// When a QUIC connection to a relay was last dialled.
    quic_dialed: HashMap<PeerId, Instant>,
    /// Relay listeners this node opened.
    reservations: HashMap<libp2p::core::transport::ListenerId, Reservation>,
    /// Relays that refused or went away, and when.
    resting: HashMap<PeerId, Instant>,
    connections: HashMap<ConnectionId, (PeerId, Kind)>,
    /// Which of them run over QUIC.
    quic: std::collections::HashSet<ConnectionId>,
    dial_errors: HashMap<PeerId, String>,
    punch_errors: HashMap<PeerId, String>,
    /// Peers whose hole punching failed, reached only through a relay: how many times it
    /// was tried again, when to try next, and through which relay.
    punch_retries: HashMap<PeerId, PunchRetry>,
    served: Served,
}

/// Hole punching tried again for a peer reached only through `relay`.
struct PunchRetry {
    tried: usize,
    next: Instant,
    relay: PeerId,
}

/// After DCUtR gave up (its own three attempts on one relayed connection), hole punching is
/// tried again on a new relayed connection after these pauses: a punch can fail to a
/// momentary loss or a busy machine that misses the synchronised moment, and a relayed link
/// stays slow and bounded for as long as it lasts.
const PUNCH_RETRIES: [Duration; 3] = [
    Duration::from_secs(3),
    Duration::from_secs(20),
    Duration::from_secs(90),
];
/// Peers awaiting another hole punch at once, at most.
const MAX_PUNCH_RETRIES: usize = 256;

impl Traversal {
    pub fn new(relay_service: bool) -> Self {
        Self {
            relay_service,
            nat: autonat::NatStatus::Unknown,
            candidates: HashMap::new(),
            quic_addrs: HashMap::new(),
            quic_dialed: HashMap::new(),
            reservations: HashMap::new(),
            resting: HashMap::new(),
            connections: HashMap::new(),
            quic: Default::default(),
            dial_errors: HashMap::new(),
            punch_errors: HashMap::new(),
            punch_retries: HashMap::new(),
            served: Served::default(),
        }
    }

    pub fn nat_name(&self) -> &'static str {
        match self.nat {
            autonat::NatStatus::Public(_) => "public",
            autonat::NatStatus::Private => "private",
            autonat::NatStatus::Unknown => "unknown",
        }
    }

    pub fn set_nat(&mut self, nat: autonat::NatStatus) {
        tracing::info!("NAT status: {nat:?}");
        self.nat = nat;
    }

    /// A connection opened: classify it, and let AutoNAT ask the peer about us when it
    /// was reached over a public address (so a LAN neighbour never vouches for us).
    pub fn on_established(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        peer: PeerId,
        id: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let remote = endpoint.get_remote_address();
        let mut kind = Kind::of(endpoint);
        // A direct connection to a peer we reach through a relay at this moment: DCUtR's
        // work (its event confirms it, possibly a moment later).
        if kind == Kind::Direct
            && self
                .connections
                .values()
                .any(|(p, k)| *p == peer && matches!(k, Kind::Relayed(_)))
        {
            kind = Kind::HolePunched;
        }
        if kind == Kind::Direct {
            let server = if endpoint.is_dialer() {
                Some(remote.clone())
            } else {
                None
            };
            swarm.behaviour_mut().autonat.add_server(peer, server);
        }
        if kind != Kind::Lan && !matches!(kind, Kind::Relayed(_)) {
            self.dial_errors.remove(&peer);
        }
        if is_quic(remote) {
            self.quic.insert(id);
        }
        self.connections.insert(id, (peer, kind));
    }

    pub fn on_closed(&mut self, peer: PeerId, id: ConnectionId, remaining: u32) {
        self.connections.remove(&id);
        self.quic.remove(&id);
        if remaining == 0 {
            self.candidates.remove(&peer);
            self.quic_addrs.remove(&peer);
        }
    }

    pub fn on_dial_error(&mut self, peer: PeerId, error: &str) {
        remember(&mut self.dial_errors, peer, error);
    }

    pub fn on_dcutr(&mut self, swarm: &mut Swarm<Behaviour>, event: dcutr::Event) {
        match event.result {
            Ok(id) => {
                tracing::info!(peer = %event.remote_peer_id, "hole punched");
                self.punch_errors.remove(&event.remote_peer_id);
                self.punch_retries.remove(&event.remote_peer_id);
                if let Some(entry) = self.connections.get_mut(&id) {
                    entry.1 = Kind::HolePunched;
                }
                // The relay's budget is for peers that cannot punch: give the circuit back.
                let relayed: Vec<ConnectionId> = self
                    .connections
                    .iter()
                    .filter(|(_, (p, k))| {
                        *p == event.remote_peer_id && matches!(k, Kind::Relayed(_))
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in relayed {
                    swarm.close_connection(id);
                }
            }
            Err(e) => {
                tracing::info!(peer = %event.remote_peer_id, "hole punching failed: {e}");
                remember(&mut self.punch_errors, event.remote_peer_id, &e.to_string());
                self.schedule_punch_retry(event.remote_peer_id);
            }
        }
    }

    /// Plans another hole punch for `peer`, reached through a relay, unless it was tried
    /// again often enough.
    fn schedule_punch_retry(&mut self, peer: PeerId) {
        let relay = self.connections.values().find_map(|(p, k)| match k {
            Kind::Relayed(Some(relay)) if *p == peer => Some(*relay),
            _ => None,
        });
        let Some(relay) = relay else { return };
        let tried = self.punch_retries.get(&peer).map_or(0, |r| r.tried);
        let Some(pause) = PUNCH_RETRIES.get(tried) else {
            self.punch_retries.remove(&peer);
            return;
        };
        if self.punch_retries.len() >= MAX_PUNCH_RETRIES && !self.punch_retries.contains_key(&peer)
        {
            return;
        }
        self.punch_retries.insert(
            peer,
            PunchRetry {
                tried: tried + 1,
                next: Instant::now() + *pause,
                relay,
            },
        );
    }

    /// Due hole-punch retries: a new relayed connection to the peer, on which DCUtR tries
    /// again (the old one closes once a punch succeeds). Dropped once the peer is reached
    /// otherwise or not at all.
    fn retry_punches(&mut self, swarm: &mut Swarm<Behaviour>, now: Instant) {
        let connections = &self.connections;
        self.punch_retries.retain(|peer, _| {
            let mut kinds = connections.values().filter(|(p, _)| p == peer);
            let any = kinds.clone().next().is_some();
            any && kinds.all(|(_, k)| matches!(k, Kind::Relayed(_)))
        });
        for (peer, retry) in &mut self.punch_retries {
            if retry.next > now {
                continue;
            }
            // Not again until this try's outcome plans the next one.
            retry.next = now + PUNCH_RETRIES[PUNCH_RETRIES.len() - 1];
            let Some(relay_addr) = self.candidates.get(&retry.relay) else {
                continue;
            };
            let circuit = relay_addr
                .clone()
                .with_p2p(retry.relay)
                .unwrap_or_else(|a| a)
                .with(Protocol::P2pCircuit)
                .with(Protocol::P2p(*peer));
            tracing::info!(%peer, try = retry.tried, "hole punching again through {circuit}");
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(*peer)
                .addresses(vec![circuit])
                .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                .build();
            if let Err(e) = swarm.dial(opts) {
                tracing::debug!(%peer, "cannot dial through the relay again: {e}");
            }
        }
    }

    /// Identify told what a connected peer speaks: a publicly reachable relay becomes a
    /// candidate for reservations.
    pub fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        let serves = info.protocols.contains(&relay::HOP_PROTOCOL_NAME);
        let addr = info
            .listen_addrs
            .iter()
            .filter(|a| is_public(a) && !is_relayed(a))
            // QUIC first: the connection to the relay then keeps this node's UDP port
            // mapped in its router, and identify over it tells this node its public QUIC
            // address, the one hole punching works best with (a router that answers an
            // early TCP SYN with a reset defeats TCP's simultaneous open).
            .min_by_key(|a| !a.iter().any(|p| matches!(p, Protocol::QuicV1)))
            .cloned();
        match (serves, addr) {
            (true, Some(addr)) => {
                if self.candidates.len() < MAX_RELAY_CANDIDATES
                    || self.candidates.contains_key(&peer)
                {
                    if is_quic(&addr) {
                        self.quic_addrs.insert(peer, addr.clone());
                    }
                    self.candidates.insert(peer, addr);
                }
            }
            _ => {
                self.candidates.remove(&peer);
                self.quic_addrs.remove(&peer);
            }
        }
    }

    pub fn on_relay_client(&mut self, event: relay::client::Event) {
        if let relay::client::Event::ReservationReqAccepted {
            relay_peer_id,
            renewal,
            ..
        } = event
        {
            if !renewal {
                tracing::info!(relay = %relay_peer_id, "relay slot reserved");
            }
            for r in self.reservations.values_mut() {
                if r.relay == relay_peer_id {
                    r.accepted = true;
                }
            }
        }
    }

    pub fn on_relay_server(&mut self, event: relay::Event) {
        match event {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                let n = self.served.reservations.entry(src_peer_id).or_default();
                *n = n
                    .saturating_add(1)
                    .min(RELAY_MAX_RESERVATIONS_PER_PEER as u32);
            }
            relay::Event::ReservationClosed { src_peer_id }
            | relay::Event::ReservationTimedOut { src_peer_id } => {
                if let Some(n) = self.served.reservations.get_mut(&src_peer_id) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.served.reservations.remove(&src_peer_id);
                    }
                }
            }
            relay::Event::ReservationReqDenied { .. } => self.served.refused_reservations += 1,
            relay::Event::CircuitReqDenied { .. } => self.served.refused_circuits += 1,
            relay::Event::CircuitReqAccepted { .. } => self.served.circuits += 1,
            relay::Event::CircuitClosed { .. } => {
                self.served.circuits = self.served.circuits.saturating_sub(1)
            }
            _ => {}
        }
    }

    /// A listener closed: a relay reservation ends (refused, expired, relay gone).
    pub fn on_listener_closed(&mut self, id: libp2p::core::transport::ListenerId) {
        if let Some(r) = self.reservations.remove(&id) {
            tracing::info!(relay = %r.relay, "relay reservation ended");
            self.resting.insert(r.relay, Instant::now());
        }
    }

    /// Whether this node needs relays: nobody can dial it directly, as far as it knows.
    pub fn wants_relays(&self, listen: &[Multiaddr]) -> bool {
        wants_relays(&self.nat, listen)
    }

    /// Keeps up to [`MAX_RELAYS_USED`] reservations while this node needs them: replaces
    /// relays that went away, drops all once the node is publicly reachable.
    pub fn maintain(&mut self, swarm: &mut Swarm<Behaviour>, listen: &[Multiaddr]) {
        let now = Instant::now();
        self.retry_punches(swarm, now);
        self.resting
            .retain(|_, t| now.duration_since(*t) < RELAY_RETRY);
        if !self.wants_relays(listen) {
            for id in self.reservations.drain().map(|(id, _)| id) {
                swarm.remove_listener(id);
            }
            return;
        }
        // Reservations on relays we are no longer connected to are dead.
        let gone: Vec<_> = self
            .reservations
            .iter()
            .filter(|(_, r)| r.accepted && !swarm.is_connected(&r.relay))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            swarm.remove_listener(id);
            self.on_listener_closed(id);
        }
        let used: Vec<PeerId> = self.reservations.values().map(|r| r.relay).collect();
        // Over a QUIC connection to the relay, identify tells this node its public UDP
        // address and port, which DCUtR offers for hole punching; the connection also keeps
        // the router's UDP mapping open. The reservation may ride an older TCP connection,
        // so open one when there is none.
        for relay in &used {
            let recent = self
                .quic_dialed
                .get(relay)
                .is_some_and(|t| now.duration_since(*t) < RELAY_RETRY);
            if let (false, false, Some(addr)) =
                (self.has_quic(relay), recent, self.quic_addrs.get(relay))
            {
                self.quic_dialed.insert(*relay, now);
                dial_quic(swarm, *relay, addr.clone());
            }
        }
        self.quic_dialed
            .retain(|_, t| now.duration_since(*t) < RELAY_RETRY);
        let picks = pick_relays(&self.candidates, &used, &self.resting, MAX_RELAYS_USED);
        for (relay, addr) in picks {
            // Reserve once the QUIC connection is up (or after waiting for it in vain), so
            // the first relayed connection's hole punching already knows the UDP address.
            if let Some(quic) = self.quic_addrs.get(&relay) {
                if !self.has_quic(&relay) {
                    match self.quic_dialed.get(&relay) {
                        None => {
                            self.quic_dialed.insert(relay, now);
                            dial_quic(swarm, relay, quic.clone());
                            continue;
                        }
                        Some(t) if now.duration_since(*t) < QUIC_WAIT => continue,
                        Some(_) => {}
                    }
                }
            }
            let circuit = addr
                .with_p2p(relay)
                .unwrap_or_else(|a| a)
                .with(Protocol::P2pCircuit);
            match swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    tracing::info!("reserving a relay slot: {circuit}");
                    self.reservations.insert(
                        id,
                        Reservation {
                            relay,
                            accepted: false,
                        },
                    );
                }
                Err(e) => {
                    tracing::debug!("cannot listen on {circuit}: {e}");
                    self.resting.insert(relay, now);
                }
            }
        }
    }

    fn has_quic(&self, peer: &PeerId) -> bool {
        self.connections
            .iter()
            .any(|(id, (p, _))| p == peer && self.quic.contains(id))
    }

    /// Relays holding a slot for this node.
    pub fn reserved_relays(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .reservations
            .values()
            .filter(|r| r.accepted)
            .map(|r| r.relay.to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn relay_service(&self, serving: bool) -> RelayService {
        RelayService {
            enabled: self.relay_service,
            active: self.relay_service && serving,
            reservations: self.served.reservations.values().sum(),
            circuits: self.served.circuits,
            refused_reservations: self.served.refused_reservations,
            refused_circuits: self.served.refused_circuits,
        }
    }

    /// Fills in how `info`'s peer is connected and what last went wrong.
    pub fn annotate(&self, info: &mut PeerInfo) {
        let Ok(peer) = info.peer_id.parse::<PeerId>() else {
            return;
        };
        let best = self
            .connections
            .values()
            .filter(|(p, _)| *p == peer)
            .map(|(_, k)| *k)
            .min_by_key(|k| k.rank());
        info.connection = best.map(|k| k.name().to_owned());
        info.relay = match best {
            Some(Kind::Relayed(r)) => r.map(|r| r.to_string()),
            _ => None,
        };
        info.last_dial_error = self.dial_errors.get(&peer).cloned();
        info.hole_punch_error = self.punch_errors.get(&peer).cloned();
    }
}

fn dial_quic(swarm: &mut Swarm<Behaviour>, relay: PeerId, addr: Multiaddr) {
    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(relay)
        .addresses(vec![addr])
        .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
        .build();
    if let Err(e) = swarm.dial(opts) {
        tracing::debug!(%relay, "cannot dial the relay over QUIC: {e}");
    }
}

fn remember(map: &mut HashMap<PeerId, String>, peer: PeerId, error: &str) {
    if map.len() >= MAX_ERRORS && !map.contains_key(&peer) {
        if let Some(k) = map.keys().next().copied() {
            map.remove(&k);
        }
    }
    let mut text: String = error.chars().take(MAX_ERROR_LEN).collect();
    if text.len() < error.len() {
        text.push('…');
    }
    map.insert(peer, text);
}

/// A node needs relays when AutoNAT found it unreachable, or when it has no public
/// listen address and AutoNAT has not (yet) found it reachable.
pub fn wants_relays(nat: &autonat::NatStatus, listen: &[Multiaddr]) -> bool {
    match nat {
        autonat::NatStatus::Public(_) => false,
        autonat::NatStatus::Private => true,
        autonat::NatStatus::Unknown => !listen.iter().any(|a| is_public(a) && !is_relayed(a)),
    }
}

/// Up to `want - used.len()` new relays from `candidates`, skipping those in use or
/// resting, in a stable order.
pub fn pick_relays(
    candidates: &HashMap<PeerId, Multiaddr>,
    used: &[PeerId],
    resting: &HashMap<PeerId, Instant>,
    want: usize,
) -> Vec<(PeerId, Multiaddr)> {
    let mut free: Vec<(PeerId, Multiaddr)> = candidates
        .iter()
        .filter(|(p, _)| !used.contains(p) && !resting.contains_key(p))
        .map(|(p, a)| (*p, a.clone()))
        .collect();
    free.sort_by_key(|(p, _)| *p);
    free.truncate(want.saturating_sub(used.len()));
    free
}

/// What this node knows, gathered for [`diagnose`].
pub struct Facts<'a> {
    pub nat: &'a str,
    pub listen_addrs: &'a [String],
    pub relay_reservations: &'a [String],
    pub relay_service: &'a RelayService,
    pub peer_id: &'a str,
    /// The peer as this node sees it; `None`: never heard of.
    pub peer: Option<&'a PeerInfo>,
}

/// The port-mapping status a node behind NAT reports: Hearth asks no router to open ports
/// (ARCHITECTURE.md, "Across NAT": relays and hole punching carry it, transfers included).
pub const PORT_MAPPING: &str = "Port mapping (UPnP IGD, NAT-PMP): not used. Hearth reaches \
     peers behind routers through relays and hole punching, and carries transfers over those \
     connections, so no router port needs opening.";

/// Explains in plain words how a peer is reached, or why it is not and what would fix it.
pub fn diagnose(f: Facts<'_>) -> Diagnosis {
    let mut findings = Vec::new();
    let mut fixes = Vec::new();
    let public_listen = f.listen_addrs.iter().any(|a| {
        a.parse::<Multiaddr>()
            .is_ok_and(|m| is_public(&m) && !is_relayed(&m))
    });
    match f.nat {
        "public" => findings.push("Others can reach this node directly (AutoNAT: public).".into()),
        "private" => findings.push(
            "This node is behind a NAT or firewall: others cannot dial it directly (AutoNAT: private)."
                .into(),
        ),
        _ if public_listen => findings.push(
            "AutoNAT has not decided yet whether others can reach this node.".into(),
        ),
        _ => findings.push(
            "This node has only private addresses (behind a home router), so others cannot dial it directly."
                .into(),
        ),
    }
    let behind = f.nat != "public";
    if behind {
        findings.push(PORT_MAPPING.into());
        if f.relay_reservations.is_empty() {
            findings.push("No relay holds a slot for this node, so peers behind other routers cannot reach it.".into());
            fixes.push("Connect to a peer that others can reach (add it as a bootstrap address, or join with its invite); Hearth then reserves a relay slot on it.".into());
        } else {
            findings.push(format!(
                "Reachable through {} relay(s): {}.",
                f.relay_reservations.len(),
                f.relay_reservations.join(", ")
            ));
        }
    }
    let Some(p) = f.peer else {
        findings.push(format!("This node has never heard of {}.", f.peer_id));
        fixes.push("Check the peer id, or connect to the peer by address (hearth connect ADDR) or through a peer you both know.".into());
        return Diagnosis {
            peer_id: f.peer_id.to_owned(),
            reachable: false,
            connection: None,
            relay: None,
            nat: f.nat.to_owned(),
            relay_reservations: f.relay_reservations.to_vec(),
            addrs: Vec::new(),
            last_dial_error: None,
            summary: "unknown peer".into(),
            findings,
            fixes,
        };
    };
    let relayed_addrs = p
        .addrs
        .iter()
        .filter(|a| a.contains("/p2p-circuit"))
        .count();
    let public_addrs = p
        .addrs
        .iter()
        .filter(|a| {
            a.parse::<Multiaddr>()
                .is_ok_and(|m| is_public(&m) && !is_relayed(&m))
        })
        .count();
    let summary = match p.connection.as_deref() {
        Some("lan") => {
            findings.push("Connected over the local network.".into());
            "connected on the LAN".to_owned()
        }
        Some("direct") => {
            findings.push("Connected directly over the internet.".into());
            "connected directly".to_owned()
        }
        Some("hole_punched") => {
            findings.push(
                "Connected directly: both routers let a hole-punched connection through.".into(),
            );
            "connected directly (hole punched)".to_owned()
        }
        Some("relayed") => {
            let via = p.relay.as_deref().unwrap_or("a relay");
            findings.push(format!(
                "Connected only through {via}: chat, presence and the catalog work, within the relay's limits ({} MiB and {} minutes per circuit; a new circuit follows).",
                RELAY_MAX_CIRCUIT_BYTES >> 20,
                RELAY_MAX_CIRCUIT_DURATION.as_secs() / 60
            ));
            if let Some(e) = &p.hole_punch_error {
                findings.push(format!("Hole punching failed: {e}. One of the two routers probably gives every connection a new port (symmetric NAT)."));
            }
            fixes.push("For direct connections: enable UPnP or NAT-PMP on the router, forward port 4001 (TCP and UDP) to this computer, or use a network whose router keeps ports (not a carrier-grade or symmetric NAT).".into());
            "relayed only".to_owned()
        }
        _ => {
            if p.blocked {
                findings.push("You blocked this peer.".into());
                fixes.push("Unblock it (hearth unblock PEER_ID).".into());
            } else if !p.online {
                findings.push("The peer is offline: nobody has heard from it recently.".into());
                fixes.push("Ask them to start Hearth; it reconnects by itself.".into());
            } else {
                findings.push("The peer is online (others hear from it), but this node has no connection to it.".into());
            }
            if p.addrs.is_empty() {
                findings.push("No address of the peer is known.".into());
            } else if public_addrs == 0 && relayed_addrs == 0 {
                findings.push("It announces only private addresses (it is behind a router) and no relayed address.".into());
                fixes.push("The peer needs a relay: it reserves one once it is connected to a publicly reachable Hearth node with the relay service on.".into());
            } else if relayed_addrs > 0 {
                findings.push(format!("It announces {relayed_addrs} relayed address(es); dialling them is under way or failed."));
            }
            if let Some(e) = &p.last_dial_error {
                findings.push(format!("Last connection attempt failed: {e}"));
            }
            if behind && f.relay_reservations.is_empty() && public_addrs == 0 {
                fixes.push("Both of you are behind routers with no relay: one publicly reachable Hearth node you both connect to is enough.".into());
            }
            if f.relay_service.enabled && !f.relay_service.active && f.nat == "public" {
                fixes.push(
                    "This node could relay for others once AutoNAT confirms its public address."
                        .into(),
                );
            }
            "not connected".to_owned()
        }
    };
    Diagnosis {
        peer_id: p.peer_id.clone(),
        reachable: p.connection.is_some(),
        connection: p.connection.clone(),
        relay: p.relay.clone(),
        nat: f.nat.to_owned(),
        relay_reservations: f.relay_reservations.to_vec(),
        addrs: p.addrs.clone(),
        last_dial_error: p.last_dial_error.clone(),
        summary,
        findings,
        fixes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn connections_are_classified_by_their_remote_address() {
        let relay = PeerId::random();
        let dst = PeerId::random();
        let dialed = |a: &str| ConnectedPoint::Dialer {
            address: addr(a),
            role_override: libp2p::core::Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::Reuse,
        };
        assert_eq!(Kind::of(&dialed("/ip4/203.0.113.5/tcp/4001")), Kind::Direct);
        assert_eq!(Kind::of(&dialed("/ip4/10.0.1.5/tcp/4001")), Kind::Lan);
        assert_eq!(Kind::of(&dialed("/ip4/127.0.0.1/udp/1/quic-v1")), Kind::Lan);
        let circuit = format!("/ip4/203.0.113.10/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{dst}");
        assert_eq!(Kind::of(&dialed(&circuit)), Kind::Relayed(Some(relay)));
        assert_eq!(relay_of(&addr(&circuit)), Some(relay));
        // Inbound through a relay: the remote is only `/p2p/<src>`.
        let inbound = ConnectedPoint::Listener {
            local_addr: addr(&format!(
                "/ip4/203.0.113.10/udp/4001/quic-v1/p2p/{relay}/p2p-circuit"
            )),
            send_back_addr: addr(&format!("/p2p/{dst}")),
        };
        assert_eq!(Kind::of(&inbound), Kind::Relayed(Some(relay)));
    }

    #[test]
    fn only_nodes_nobody_can_dial_want_relays() {
        let home = [addr("/ip4/10.0.1.10/tcp/4001")];
        let public = [addr("/ip4/203.0.113.10/tcp/4001")];
        assert!(wants_relays(&autonat::NatStatus::Unknown, &home));
        assert!(!wants_relays(&autonat::NatStatus::Unknown, &public));
        assert!(wants_relays(&autonat::NatStatus::Private, &public));
        assert!(!wants_relays(
            &autonat::NatStatus::Public(public[0].clone()),
            &home
        ));
    }

    #[test]
    fn at_most_two_relays_and_never_a_resting_one() {
        let cands: HashMap<PeerId, Multiaddr> = (0..5)
            .map(|i| (PeerId::random(), addr(&format!("/ip4/203.0.113.{i}/tcp/1"))))
            .collect();
        let all = pick_relays(&cands, &[], &HashMap::new(), MAX_RELAYS_USED);
        assert_eq!(all.len(), 2);
        let used = [all[0].0];
        let mut resting = HashMap::new();
        resting.insert(all[1].0, Instant::now());
        let more = pick_relays(&cands, &used, &resting, MAX_RELAYS_USED);
        assert_eq!(more.len(), 1);
        assert!(more[0].0 != all[0].0 && more[0].0 != all[1].0);
        assert!(pick_relays(&cands, &[all[0].0, all[1].0], &HashMap::new(), 2).is_empty());
    }

    fn peer(connection: Option<&str>) -> PeerInfo {
        PeerInfo {
            peer_id: PeerId::random().to_string(),
            profile: None,
            addrs: vec!["/ip4/10.0.2.10/tcp/4001".into()],
            rtt_ms: None,
            online: true,
            connected: connection.is_some(),
            last_seen_ms: None,
            blocked: false,
            connection: connection.map(str::to_owned),
            relay: None,
            last_dial_error: Some("Network unreachable".into()),
            hole_punch_error: None,
        }
    }

    #[test]
    fn the_diagnosis_says_why_and_what_would_fix_it() {
        let service = RelayService::default();
        let p = peer(None);
        let d = diagnose(Facts {
            nat: "private",
            listen_addrs: &["/ip4/10.0.1.10/tcp/4001".into()],
            relay_reservations: &[],
            relay_service: &service,
            peer_id: &p.peer_id,
            peer: Some(&p),
        });
        assert!(!d.reachable);
        let text = d.findings.join("\n");
        assert!(text.contains("only private addresses"), "{text}");
        assert!(text.contains("Network unreachable"), "{text}");
        assert!(d.fixes.iter().any(|f| f.contains("relay")), "{:?}", d.fixes);

        let mut p = peer(Some("relayed"));
        p.hole_punch_error = Some("attempts exhausted".into());
        let d = diagnose(Facts {
            nat: "private",
            listen_addrs: &[],
            relay_reservations: &["relay".into()],
            relay_service: &service,
            peer_id: &p.peer_id,
            peer: Some(&p),
        });
        assert!(d.reachable);
        assert_eq!(d.summary, "relayed only");
        assert!(d.findings.join("\n").contains("symmetric NAT"));

        let d = diagnose(Facts {
            nat: "public",
            listen_addrs: &[],
            relay_reservations: &[],
            relay_service: &service,
            peer_id: "nobody",
            peer: None,
        });
        assert_eq!(d.summary, "unknown peer");
    }
}
