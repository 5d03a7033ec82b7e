//! The network actor: the only owner of the libp2p [`Swarm`].
//!
//! In: [`Command`]s from [`NetHandle`](super::NetHandle)s (bounded channel), swarm events,
//! and a presence tick. Out: answers on each command's oneshot, events on the
//! [`EventBus`], and the [`Presence`] state machine's decisions turned into dials,
//! disconnects and requests. Stops when the cancellation token fires or every handle is
//! dropped; dropping the swarm then closes every connection.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    autonat, gossipsub, identify, kad, mdns, ping, request_response,
    swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::nat::{is_relayed, Traversal};
use super::peer_book::{dialable, PeerBook, Source, REJOIN_DIALS};
use super::protocol::*;
use super::validate::{Job, RateLimit, Validator, Verdict};
use super::{
    Behaviour, BehaviourEvent, ChatInbound, Command, GossipError, Inbound, NetError, NetStatus,
};
use crate::api::dto::{NetRefusals, Profile};
use crate::config::PresenceConfig;
use crate::infra::events::{now_ms, EventBus};
use crate::net::presence::{strip_p2p, Announce, Input, Output, Presence, MAX_ADDRS};

/// How often presence timers (votes, staleness, redials) are checked.
const TICK: Duration = Duration::from_millis(200);
/// Outstanding `connect` requests; more are refused rather than queued without bound.
const MAX_PENDING_DIALS: usize = 64;
/// Bootstrap addresses without a peer id, waiting for identify to tell who answered.
const MAX_PENDING_BOOTSTRAP: usize = 64;
/// Most pending outbound requests tracked per protocol.
const MAX_PENDING_REQUESTS: usize = 1024;
/// Inbound catalog requests waiting for the catalog's answer; more are answered `Busy`.
const MAX_INBOUND_REQUESTS: usize = 256;
/// Provider lookups in flight.
const MAX_PROVIDER_QUERIES: usize = 64;
/// Peer dials presence may start per [`DIAL_WINDOW`], whoever asks: thousands of
/// announcing identities cannot turn this node into a dialer without bounds.
const DIAL_BUDGET: u32 = 64;
const DIAL_WINDOW: Duration = Duration::from_secs(10);
/// Relayed addresses put in an announcement (the rest are the direct ones).
const MAX_ANNOUNCED_RELAYED: usize = 4;

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    bus: EventBus,
    presence: Presence,
    presence_config: PresenceConfig,
    profile: Profile,
    announce_seq: u64,
    announce_due: bool,
    topic: gossipsub::IdentTopic,
    listen_addrs: Vec<Multiaddr>,
    /// Relays, AutoNAT, hole punching and how each connection reaches its peer.
    traversal: Traversal,
    /// Presence dials started in the current [`DIAL_WINDOW`], and when it began.
    dials: (u32, tokio::time::Instant),
    pending_dials: HashMap<ConnectionId, (String, oneshot::Sender<Result<PeerId, NetError>>)>,
    /// Connections opened to bootstrap addresses that did not name a peer id.
    bootstrap_connections: HashMap<ConnectionId, Multiaddr>,
    votes: HashMap<request_response::OutboundRequestId, (PeerId, PeerId)>,
    feed_topic: gossipsub::IdentTopic,
    have_topic: gossipsub::IdentTopic,
    inbound: mpsc::Sender<Inbound>,
    chat: mpsc::Sender<ChatInbound>,
    /// Whether each peer is connected, for chat, where its queue had no room when that
    /// changed: the latest state per peer (so at most one entry per peer), handed over as
    /// soon as the queue takes it. A room must never go on believing a member is away
    /// because a burst filled the queue at the moment it came back.
    chat_links: HashMap<PeerId, bool>,
    /// The worker that checks feed gossip (the catalog's check), and its queue.
    validator: Validator,
    /// Gossip messages per neighbour.
    gossip_rate: RateLimit,
    catalog_requests: HashMap<
        request_response::OutboundRequestId,
        oneshot::Sender<Result<CatalogResponse, NetError>>,
    >,
    catalog_channels: HashMap<u64, request_response::ResponseChannel<CatalogResponse>>,
    next_inbound_id: u64,
    provider_queries: HashMap<kad::QueryId, (Vec<PeerId>, oneshot::Sender<Vec<PeerId>>)>,
    /// Known peers, persisted (see [`PeerBook`]).
    book: PeerBook,
    /// What was refused over the limits, since start.
    refused: NetRefusals,
    cancel: CancellationToken,
}

impl EventLoop {
    #[allow(clippy::too_many_arguments)] // each is a separate piece of the loop's state
    pub(crate) fn new(
        mut swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        bus: EventBus,
        presence_config: PresenceConfig,
        profile: Profile,
        blocked: Vec<PeerId>,
        mut book: PeerBook,
        inbound: mpsc::Sender<Inbound>,
        chat: mpsc::Sender<ChatInbound>,
        validator: Validator,
        cancel: CancellationToken,
        relay_service: bool,
    ) -> Self {
        let local = *swarm.local_peer_id();
        let topic = gossipsub::IdentTopic::new(PRESENCE_TOPIC);
        let feed_topic = gossipsub::IdentTopic::new(FEED_TOPIC);
        let have_topic = gossipsub::IdentTopic::new(HAVE_TOPIC);
        for t in [&topic, &feed_topic, &have_topic] {
            if let Err(e) = swarm.behaviour_mut().gossipsub.subscribe(t) {
                tracing::error!("cannot subscribe to {t}: {e}");
            }
        }
        let mut presence = Presence::new(local, presence_config.clone());
        presence.add_known(book.connected_once());
        for peer in blocked {
            book.forget(&peer);
            presence.remember(peer, None, Vec::new(), true);
            swarm.behaviour_mut().blocked.block_peer(peer);
            swarm.behaviour().bt.control().set_blocked(peer, true);
        }
        Self {
            swarm,
            commands,
            bus,
            presence,
            presence_config,
            profile,
            announce_seq: 0,
            announce_due: true,
            topic,
            listen_addrs: Vec::new(),
            chat_links: HashMap::new(),
            traversal: Traversal::new(relay_service),
            dials: (0, tokio::time::Instant::now()),
            pending_dials: HashMap::new(),
            bootstrap_connections: HashMap::new(),
            votes: HashMap::new(),
            feed_topic,
            have_topic,
            inbound,
            chat,
            validator,
            gossip_rate: RateLimit::default(),
            catalog_requests: HashMap::new(),
            catalog_channels: HashMap::new(),
            next_inbound_id: 0,
            provider_queries: HashMap::new(),
            book,
            refused: NetRefusals::default(),
            cancel,
        }
    }

    /// Dials the peers of the book seen most recently: with no bootstrap configured, how a
    /// restarted node finds its way back.
    pub(crate) fn rejoin(&mut self) {
        for (peer, addrs) in self.book.freshest(REJOIN_DIALS) {
            tracing::debug!(%peer, "rejoining through a peer from the book");
            self.presence(Input::Discovered { peer, addrs });
        }
    }

    /// Drives the swarm until `n` listen addresses are known (or a few seconds passed), so
    /// `status` has addresses to show from the start.
    pub(crate) async fn wait_for_listeners(&mut self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.listen_addrs.len() < n {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => self.on_swarm_event(event),
                Err(_) => break,
            }
        }
    }

    pub(crate) fn add_bootstrap(&mut self, addr: Multiaddr) {
        match peer_of(&addr) {
            Some(peer) => {
                self.book.learn(
                    peer,
                    [addr.clone()],
                    Source::Bootstrap,
                    Some(&addr),
                    now_ms(),
                );
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, strip_p2p(addr.clone()));
                self.apply(vec![Output::Dial {
                    peer,
                    addrs: vec![strip_p2p(addr)],
                }]);
            }
            None => {
                if self.bootstrap_connections.len() >= MAX_PENDING_BOOTSTRAP {
                    return;
                }
                let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.bootstrap_connections.insert(id, addr);
                    }
                    Err(e) => tracing::warn!(%addr, "cannot dial bootstrap: {e}"),
                }
            }
        }
    }

    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut announce = tokio::time::interval(self.presence_config.announce_interval());
        announce.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(Verdict { id, source, acceptance }) = self.validator.verdicts.recv() => {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &source, acceptance);
                }
                _ = tick.tick() => {
                    self.flush_chat_links();
                    let out = self.presence.handle(Input::Tick, now_ms());
                    self.apply(out);
                    self.traversal.maintain(&mut self.swarm, &self.listen_addrs);
                    if self.announce_due {
                        self.announce();
                    }
                }
                _ = announce.tick() => self.announce_due = true,
            }
        }
        tracing::debug!("network loop stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ChatSend { peer, msg } => {
                if !self.presence.is_blocked(&peer) {
                    self.swarm.behaviour_mut().chat.send_request(&peer, msg);
                }
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Dial { addrs, reply } => {
                let shown = addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                if self.pending_dials.len() >= MAX_PENDING_DIALS {
                    let _ = reply.send(Err(NetError::Dial {
                        addr: shown,
                        message: "too many connection attempts in progress".into(),
                    }));
                    return;
                }
                let opts = match (addrs.as_slice(), addrs.first().and_then(peer_of)) {
                    ([addr], None) => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                    (_, Some(peer)) if addrs.iter().all(|a| peer_of(a) == Some(peer)) => {
                        DialOpts::peer_id(peer)
                            .addresses(addrs)
                            .condition(PeerCondition::Always)
                            .build()
                    }
                    _ => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: shown,
                            message: "the addresses must all name the same peer".into(),
                        }));
                        return;
                    }
                };
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.pending_dials.insert(id, (shown, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: shown,
                            message: e.to_string(),
                        }));
                    }
                }
            }
            Command::Peers { reply } => {
                let mut peers = self.presence.peers();
                for p in &mut peers {
                    self.traversal.annotate(p);
                }
                let _ = reply.send(peers);
            }
            Command::Status { reply } => {
                let _ = reply.send(NetStatus {
                    listen_addrs: self.listen_addrs.clone(),
                    external_addrs: self
                        .swarm
                        .external_addresses()
                        .filter(|a| !is_relayed(a))
                        .cloned()
                        .collect(),
                    peers_online: self.presence.online_count(),
                    peers_connected: self.presence.connected_count(),
                    nat: self.traversal.nat_name().into(),
                    relay_reservations: self.traversal.reserved_relays(),
                    relay_service: self
                        .traversal
                        .relay_service(self.swarm.external_addresses().any(|a| !is_relayed(a))),
                    refused: NetRefusals {
                        presence_ignored: self.presence.ignored,
                        presence_dials_skipped: self.presence.dials_capped,
                        ..self.refused.clone()
                    },
                });
            }
            Command::AddKnown { peers } => {
                self.presence.add_known(peers);
            }
            Command::SetProfile { profile, reply } => {
                self.profile = profile;
                self.announce();
                let _ = reply.send(());
            }
            Command::SetBlocked {
                peer,
                blocked,
                reply,
            } => {
                {
                    let mut set = self
                        .validator
                        .blocked
                        .write()
                        .unwrap_or_else(|p| p.into_inner());
                    if blocked {
                        set.insert(peer);
                    } else {
                        set.remove(&peer);
                    }
                }
                let input = if blocked {
                    self.book.forget(&peer);
                    Input::Block { peer }
                } else {
                    Input::Unblock { peer }
                };
                let out = self.presence.handle(input, now_ms());
                self.apply(out);
                self.swarm
                    .behaviour()
                    .bt
                    .control()
                    .set_blocked(peer, blocked);
                let _ = reply.send(());
            }
            Command::AddBootstrap { addr, reply } => {
                self.add_bootstrap(addr);
                let _ = reply.send(());
            }
            Command::Gossip { topic, data, reply } => {
                let topic = gossipsub::IdentTopic::new(topic);
                let result = match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
                    Ok(_) | Err(gossipsub::PublishError::Duplicate) => Ok(()),
                    Err(
                        gossipsub::PublishError::NoPeersSubscribedToTopic
                        | gossipsub::PublishError::AllQueuesFull(_),
                    ) => Err(GossipError::NoPeers),
                    Err(e) => Err(GossipError::Other(e.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::CatalogRequest {
                peer,
                request,
                reply,
            } => {
                if self.catalog_requests.len() >= MAX_PENDING_REQUESTS {
                    let _ = reply.send(Err(NetError::Busy));
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .catalog
                    .send_request(&peer, request);
                self.catalog_requests.insert(id, reply);
            }
            Command::CatalogRespond { id, response } => {
                if let Some(channel) = self.catalog_channels.remove(&id) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .catalog
                        .send_response(channel, response);
                }
            }
            Command::Provide {
                content_id,
                provide,
            } => {
                let key = kad::RecordKey::new(&content_id);
                let kad = &mut self.swarm.behaviour_mut().kad;
                if provide {
                    if let Err(e) = kad.start_providing(key) {
                        tracing::debug!("cannot provide {content_id}: {e}");
                    }
                } else {
                    kad.stop_providing(&key);
                }
            }
            Command::GetProviders { content_id, reply } => {
                if self.provider_queries.len() >= MAX_PROVIDER_QUERIES {
                    let _ = reply.send(Vec::new());
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&content_id));
                self.provider_queries.insert(id, (Vec::new(), reply));
            }
        }
    }

    /// Publishes this node's announcement (profile and addresses).
    fn announce(&mut self) {
        self.announce_due = false;
        self.announce_seq = now_ms().max(self.announce_seq + 1);
        // Relayed addresses first (bounded), so peers behind other routers always learn
        // one; then the direct ones.
        let (relayed, direct): (Vec<&Multiaddr>, Vec<&Multiaddr>) =
            self.listen_addrs.iter().partition(|a| is_relayed(a));
        let announce = Announce {
            seq: self.announce_seq,
            profile: self.profile.clone().into(),
            addrs: relayed
                .into_iter()
                .take(MAX_ANNOUNCED_RELAYED)
                .chain(direct)
                .take(MAX_ADDRS)
                .map(|a| strip_p2p(a.clone()).to_string())
                .collect(),
        };
        let bytes = match serde_json::to_vec(&announce) {
            Ok(b) => b,
            Err(e) => return tracing::error!("cannot encode announcement: {e}"),
        };
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), bytes)
        {
            Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::debug!("announcement not sent: {e}"),
        }
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Emit(kind) => {
                    self.bus.emit(kind);
                }
                Output::Dial { peer, addrs } => {
                    // Only what this node may dial (no loopback or foreign LAN a peer
                    // claims), within the budget.
                    let addrs: Vec<Multiaddr> = addrs
                        .into_iter()
                        .filter(|a| dialable(a, &self.listen_addrs))
                        .collect();
                    if addrs.is_empty() || !self.dial_allowed() {
                        continue;
                    }
                    // Relayed addresses get their own attempt, even while a direct one is
                    // still pending: a QUIC dial to a private address of another home
                    // waits out its handshake timeout, and the relay answers at once.
                    let (relayed, direct): (Vec<Multiaddr>, Vec<Multiaddr>) =
                        addrs.into_iter().partition(is_relayed);
                    for (addrs, condition) in [
                        (direct, PeerCondition::DisconnectedAndNotDialing),
                        (relayed, PeerCondition::Disconnected),
                    ] {
                        if addrs.is_empty() {
                            continue;
                        }
                        let opts = DialOpts::peer_id(peer)
                            .addresses(addrs)
                            .condition(condition)
                            .build();
                        if let Err(e) = self.swarm.dial(opts) {
                            tracing::debug!(%peer, "dial not started: {e}");
                        }
                    }
                }
                Output::Disconnect { peer } => {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Output::FetchProfile { peer } => {
                    self.swarm
                        .behaviour_mut()
                        .profile
                        .send_request(&peer, ProfileRequest {});
                }
                Output::AskVote { to, about } => {
                    if self.votes.len() >= MAX_PENDING_REQUESTS {
                        continue; // unanswered votes count as "no answer"
                    }
                    let id = self.swarm.behaviour_mut().vote.send_request(
                        &to,
                        VoteRequest {
                            about: about.to_string(),
                        },
                    );
                    self.votes.insert(id, (about, to));
                }
            }
        }
    }

    /// Counts a connection refused over a limit (not one of a blocked peer).
    fn count_denied(&mut self, cause: &libp2p::swarm::ConnectionDenied) {
        use libp2p::{
            connection_limits::Exceeded, memory_connection_limits::MemoryUsageLimitExceeded,
        };
        if cause.downcast_ref::<Exceeded>().is_some()
            || cause.downcast_ref::<MemoryUsageLimitExceeded>().is_some()
        {
            tracing::debug!("connection refused: {cause}");
            self.refused.connections += 1;
        }
    }

    /// Whether another presence dial fits in this window's budget.
    fn dial_allowed(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.dials.1) >= DIAL_WINDOW {
            self.dials = (0, now);
        }
        if self.dials.0 >= DIAL_BUDGET {
            tracing::debug!("dial budget spent; waiting for the next window");
            return false;
        }
        self.dials.0 += 1;
        true
    }

    fn presence(&mut self, input: Input) {
        let out = self.presence.handle(input, now_ms());
        self.apply(out);
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let local = *self.swarm.local_peer_id();
                let full = address.with_p2p(local).unwrap_or_else(|a| a);
                tracing::info!("listening on {full}");
                if !self.listen_addrs.contains(&full) {
                    self.listen_addrs.push(full);
                }
                self.announce_due = true;
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let local = *self.swarm.local_peer_id();
                let full = address.with_p2p(local).unwrap_or_else(|a| a);
                self.listen_addrs.retain(|a| *a != full);
                self.announce_due = true;
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                if let Err(e) = reason {
                    tracing::debug!("listener closed: {e}");
                }
                let local = *self.swarm.local_peer_id();
                for address in addresses {
                    let full = address.with_p2p(local).unwrap_or_else(|a| a);
                    self.listen_addrs.retain(|a| *a != full);
                }
                self.traversal.on_listener_closed(listener_id);
                self.announce_due = true;
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                if let Some(addr) = self.bootstrap_connections.remove(&connection_id) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
                self.traversal
                    .on_established(&mut self.swarm, peer_id, connection_id, &endpoint);
                let addr = endpoint
                    .is_dialer()
                    .then(|| endpoint.get_remote_address().clone());
                self.book.connected(peer_id, addr.as_ref(), now_ms());
                self.presence(Input::Connected {
                    peer: peer_id,
                    addr,
                    established: num_established.get(),
                });
                if num_established.get() == 1 {
                    self.chat_link(peer_id, true);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.traversal
                    .on_closed(peer_id, connection_id, num_established);
                self.presence(Input::Disconnected {
                    peer: peer_id,
                    remaining: num_established,
                });
                if num_established == 0 {
                    self.gossip_rate.forget(&peer_id);
                    self.book.disconnected(peer_id, now_ms());
                    self.chat_link(peer_id, false);
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                ..
            } => self.count_denied(&cause),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let libp2p::swarm::DialError::Denied { cause } = &error {
                    self.count_denied(cause);
                }
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial {
                        addr,
                        message: error.to_string(),
                    }));
                }
                if let Some(addr) = self.bootstrap_connections.remove(&connection_id) {
                    tracing::warn!(%addr, "bootstrap peer unreachable: {error}");
                }
                if let Some(peer) = peer_id {
                    self.traversal.on_dial_error(peer, &error.to_string());
                    self.book.dial_failed(peer);
                    self.presence(Input::DialFailed { peer });
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.traversal.on_identify(peer_id, &info);
                let own = &self.listen_addrs;
                let addrs: Vec<Multiaddr> = info
                    .listen_addrs
                    .into_iter()
                    .take(4 * MAX_ADDRS)
                    .filter(|a| dialable(a, own))
                    .take(MAX_ADDRS)
                    .collect();
                // The address the peer saw this node at tells which network links the two.
                self.book.learn(
                    peer_id,
                    addrs.iter().cloned(),
                    Source::Identify,
                    Some(&info.observed_addr),
                    now_ms(),
                );
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for a in &addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, a.clone());
                    }
                }
                self.presence(Input::Discovered {
                    peer: peer_id,
                    addrs,
                });
            }
            BehaviourEvent::Ping(ping::Event { peer, result, .. }) => {
                if let Ok(rtt) = &result {
                    let ms = u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX);
                    self.hand_to_chat(ChatInbound::Rtt { peer, ms });
                }
                self.presence(Input::Ping {
                    peer,
                    rtt: result.ok(),
                });
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in list {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    self.book
                        .learn(peer, addrs.iter().cloned(), Source::Mdns, None, now_ms());
                    self.presence(Input::Discovered { peer, addrs });
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer, addresses, ..
            }) => {
                let addrs = addresses.into_vec().into_iter().take(MAX_ADDRS).collect();
                self.presence(Input::Discovered { peer, addrs });
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.on_gossip(propagation_source, message_id, message);
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. })
                if topic == self.topic.hash() =>
            {
                // A new neighbour: let it (and through it, everyone) know us now.
                self.announce_due = true;
            }
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => {
                self.traversal.set_nat(new);
            }
            BehaviourEvent::Relay(event) => self.traversal.on_relay_client(event),
            BehaviourEvent::RelayServer(event) => self.traversal.on_relay_server(event),
            BehaviourEvent::Dcutr(event) => self.traversal.on_dcutr(&mut self.swarm, event),
            BehaviourEvent::Profile(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request { channel, .. } => {
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .profile
                            .send_response(channel, self.profile.clone().into());
                    }
                    request_response::Message::Response { response, .. } => {
                        let response = Profile::from(response);
                        match crate::net::presence::validate_profile(&response) {
                            Ok(()) => self.presence(Input::ProfileFetched {
                                peer,
                                profile: response,
                            }),
                            Err(e) => tracing::debug!(%peer, "invalid profile: {e}"),
                        }
                    }
                }
            }
            BehaviourEvent::Vote(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let reachable = request
                            .about
                            .parse::<PeerId>()
                            .map(|about| about != peer && self.presence.reaches(&about))
                            .unwrap_or(false);
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .vote
                            .send_response(channel, VoteResponse { reachable });
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some((about, from)) = self.votes.remove(&request_id) {
                            self.presence(Input::VoteAnswer {
                                about,
                                from,
                                reachable: Some(response.reachable),
                            });
                        }
                    }
                }
            }
            BehaviourEvent::Vote(request_response::Event::OutboundFailure {
                request_id, ..
            }) => {
                if let Some((about, from)) = self.votes.remove(&request_id) {
                    self.presence(Input::VoteAnswer {
                        about,
                        from,
                        reachable: None,
                    });
                }
            }
            BehaviourEvent::Vote(request_response::Event::InboundFailure {
                peer, error, ..
            })
            | BehaviourEvent::Profile(request_response::Event::InboundFailure {
                peer,
                error,
                ..
            })
            | BehaviourEvent::Catalog(request_response::Event::InboundFailure {
                peer,
                error,
                ..
            }) => {
                tracing::debug!(%peer, "bad inbound request: {error}");
            }
            // Blocked peers' messages fall through to the catch-all and are dropped.
            BehaviourEvent::Chat(request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) if !self.presence.is_blocked(&peer) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .chat
                    .send_response(channel, ChatAck {});
                self.hand_to_chat(ChatInbound::Wire {
                    from: peer,
                    msg: request,
                });
            }
            BehaviourEvent::Chat(request_response::Event::InboundFailure {
                peer, error, ..
            }) => {
                tracing::debug!(%peer, "bad chat message: {error}");
            }
            BehaviourEvent::Chat(request_response::Event::OutboundFailure {
                peer, error, ..
            }) => {
                tracing::debug!(%peer, "chat message not delivered: {error}");
            }
            BehaviourEvent::Catalog(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.on_catalog_request(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(reply) = self.catalog_requests.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                }
            }
            BehaviourEvent::Catalog(request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            }) => {
                if let Some(reply) = self.catalog_requests.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer: peer.to_string(),
                        message: error.to_string(),
                    }));
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) => self.on_providers(id, result, step.last),
            _ => {}
        }
    }

    /// Tells chat that `peer` is now connected or not. What the queue cannot take now waits
    /// in [`Self::chat_links`] (the latest state per peer) until it can.
    fn chat_link(&mut self, peer: PeerId, connected: bool) {
        self.chat_links.insert(peer, connected);
        self.flush_chat_links();
    }

    /// Hands waiting connectivity changes to chat while its queue has room.
    fn flush_chat_links(&mut self) {
        while let Some((&peer, &connected)) = self.chat_links.iter().next() {
            let item = if connected {
                ChatInbound::Connected(peer)
            } else {
                ChatInbound::Disconnected(peer)
            };
            match self.chat.try_send(item) {
                Ok(()) => {
                    self.chat_links.remove(&peer);
                }
                Err(mpsc::error::TrySendError::Full(_)) => return,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.chat_links.clear();
                    return;
                }
            }
        }
    }

    /// Hands something to the chat actor; dropped when it is far behind (chat retransmits;
    /// connection changes go through [`Self::chat_link`] instead).
    fn hand_to_chat(&mut self, item: ChatInbound) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.chat.try_send(item) {
            tracing::debug!("chat inbound queue full; dropping");
        }
    }

    fn on_providers(&mut self, id: kad::QueryId, result: kad::GetProvidersResult, last: bool) {
        let done = match result {
            Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => {
                if let Some((found, _)) = self.provider_queries.get_mut(&id) {
                    found.extend(providers.into_iter().take(MAX_ADDRS * 8));
                    found.sort();
                    found.dedup();
                }
                last
            }
            _ => true,
        };
        if done {
            if let Some((found, reply)) = self.provider_queries.remove(&id) {
                let _ = reply.send(found);
            }
            if let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                q.finish();
            }
        }
    }

    fn on_catalog_request(
        &mut self,
        peer: PeerId,
        request: CatalogRequest,
        channel: request_response::ResponseChannel<CatalogResponse>,
    ) {
        if self.presence.is_blocked(&peer) || self.catalog_channels.len() >= MAX_INBOUND_REQUESTS {
            let _ = self
                .swarm
                .behaviour_mut()
                .catalog
                .send_response(channel, CatalogResponse::Busy);
            return;
        }
        self.next_inbound_id += 1;
        let id = self.next_inbound_id;
        match self
            .inbound
            .try_send(Inbound::Request { id, peer, request })
        {
            Ok(()) => {
                self.catalog_channels.insert(id, channel);
            }
            Err(_) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .catalog
                    .send_response(channel, CatalogResponse::Busy);
            }
        }
    }

    fn on_gossip(&mut self, source: PeerId, id: gossipsub::MessageId, message: gossipsub::Message) {
        let acceptance = if !self.gossip_rate.allow(source, std::time::Instant::now()) {
            self.refused.gossip_throttled += 1;
            gossipsub::MessageAcceptance::Ignore
        } else if message.topic == self.feed_topic.hash() {
            // Checked on the worker; its verdict comes back to `run`.
            let job = Job {
                id,
                source,
                data: message.data,
            };
            match self.validator.jobs.try_send(job) {
                Ok(()) => return,
                Err(e) => {
                    self.refused.gossip_unvalidated += 1;
                    let job = e.into_inner();
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &job.id,
                            &source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                    return;
                }
            }
        } else if message.topic == self.have_topic.hash() {
            self.on_have_gossip(&message)
        } else if message.topic != self.topic.hash() {
            gossipsub::MessageAcceptance::Ignore
        } else {
            match (message.source, Announce::decode(&message.data)) {
                (Some(author), Ok(announce)) => {
                    if self.presence.is_blocked(&author) {
                        gossipsub::MessageAcceptance::Ignore
                    } else {
                        let addrs: Vec<Multiaddr> = announce
                            .addrs
                            .iter()
                            .filter_map(|a| a.parse().ok())
                            .collect();
                        let (relayed, direct): (Vec<_>, Vec<_>) =
                            addrs.into_iter().partition(is_relayed);
                        self.book
                            .learn(author, relayed, Source::Relay, None, now_ms());
                        self.book
                            .learn(author, direct, Source::Announcement, None, now_ms());
                        self.presence(Input::Announced {
                            peer: author,
                            announce,
                        });
                        gossipsub::MessageAcceptance::Accept
                    }
                }
                (_, Err(e)) => {
                    tracing::debug!(%source, "rejected announcement: {e}");
                    gossipsub::MessageAcceptance::Reject
                }
                (None, Ok(_)) => gossipsub::MessageAcceptance::Reject,
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
    }
}

impl EventLoop {
    fn on_have_gossip(&mut self, message: &gossipsub::Message) -> gossipsub::MessageAcceptance {
        match (message.source, HaveMessage::decode(&message.data)) {
            (Some(holder), Ok(have)) if !self.presence.is_blocked(&holder) => {
                let _ = self.inbound.try_send(Inbound::Have { holder, have });
                gossipsub::MessageAcceptance::Accept
            }
            (Some(_), Ok(_)) => gossipsub::MessageAcceptance::Ignore,
            _ => gossipsub::MessageAcceptance::Reject,
        }
    }
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}
