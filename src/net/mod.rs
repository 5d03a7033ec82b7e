//! The peer-to-peer network: one libp2p swarm, owned by one task ([`event_loop`]).
//!
//! Everything else talks to it through a cloneable [`NetHandle`] that sends [`Command`]s
//! over a bounded channel and gets answers on oneshot channels. What the network learns
//! reaches the rest of the node as events on the [`EventBus`].
//!
//! **Uses:** `infra` (events), `config` and the DTOs of `api::dto`. Drives [`presence`], the
//! pure state machine of who is online, and the [`peer_book`]. Features use `net`; `net` never
//! names a feature: messages a feature owns (feed entries on gossip, chat messages) it
//! carries as bytes, and the owner checks them through [`Checks`] before they are relayed or
//! acknowledged.

pub mod bt_stream;
pub mod codec;
mod event_loop;
pub mod invite;
pub mod nat;
pub mod peer_book;
pub mod presence;
pub mod protocol;
mod validate;

use std::time::Duration;

use libp2p::{
    allow_block_list, autonat, connection_limits, dcutr, gossipsub, identify, identity::Keypair,
    kad, mdns, memory_connection_limits, noise, ping, relay, request_response,
    swarm::behaviour::toggle::Toggle, swarm::NetworkBehaviour, tcp, yamux, Multiaddr, PeerId,
    StreamProtocol, Swarm, SwarmBuilder,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::api::dto::{NetRefusals, PeerInfo, Profile, RelayService};
use crate::config::Config;
use crate::infra::events::EventBus;
use codec::{CheckedCodec, JsonCodec, RequestCheck};
pub use peer_book::PeerBook;
use protocol::*;

/// Commands queued for the event loop; senders wait when it is full.
const COMMAND_CHANNEL: usize = 64;
/// How long `connect` waits for a connection.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections without streams are kept this long: presence wants them open.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Connections to one peer: TCP and QUIC, a relayed one and the hole-punched one that
/// replaces it. More are refused (counted in `NetStatus::refused`).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Established incoming connections in all (the relay's 64 reservations and a community).
pub const MAX_INCOMING_CONNECTIONS: u32 = 512;
/// Established connections in all.
pub const MAX_CONNECTIONS: u32 = 768;
/// Connections being negotiated (Noise, Yamux) at once, each way.
pub const MAX_PENDING_INCOMING: u32 = 64;
pub const MAX_PENDING_OUTGOING: u32 = 128;
/// New connections are refused while the process uses more memory than this.
pub const MAX_PROCESS_MEMORY: usize = 2 << 30;
/// Concurrent streams per connection and protocol (each may buffer one request: 4 MiB for
/// chat, 4 KiB for catalog requests but 4 MiB for the answers it reads).
pub const MAX_CHAT_STREAMS: usize = 16;
pub const MAX_CATALOG_STREAMS: usize = 8;

/// Network errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    #[error("the network task has stopped")]
    Stopped,
    #[error("cannot set up the network: {0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: Multiaddr, message: String },
    #[error("cannot connect to {addr}: {message}")]
    Dial { addr: String, message: String },
    #[error("timed out connecting to {0}")]
    DialTimeout(String),
    #[error("too many requests in flight; try again")]
    Busy,
    #[error("request to {peer} failed: {message}")]
    Request { peer: String, message: String },
}

/// The state of the network as `status` reports it.
#[derive(Debug, Clone)]
pub struct NetStatus {
    pub listen_addrs: Vec<Multiaddr>,
    /// Addresses others confirmed they can dial (AutoNAT), relayed ones excluded.
    pub external_addrs: Vec<Multiaddr>,
    pub peers_online: usize,
    pub peers_connected: usize,
    pub nat: String,
    /// Relays (peer ids) holding a slot for this node.
    pub relay_reservations: Vec<String>,
    pub relay_service: RelayService,
    pub refused: NetRefusals,
}

pub(crate) enum Command {
    /// Dials one peer at any of `addrs` (tried concurrently; the first to connect wins),
    /// or, with one address naming no peer, whoever answers there.
    Dial {
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Status {
        reply: oneshot::Sender<NetStatus>,
    },
    SetProfile {
        profile: Profile,
        reply: oneshot::Sender<()>,
    },
    SetBlocked {
        peer: PeerId,
        blocked: bool,
        reply: oneshot::Sender<()>,
    },
    AddBootstrap {
        addr: Multiaddr,
        reply: oneshot::Sender<()>,
    },
    Gossip {
        topic: &'static str,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), GossipError>>,
    },
    CatalogRequest {
        peer: PeerId,
        request: CatalogRequest,
        reply: oneshot::Sender<Result<CatalogResponse, NetError>>,
    },
    CatalogRespond {
        id: u64,
        response: CatalogResponse,
    },
    Provide {
        content_id: String,
        provide: bool,
    },
    GetProviders {
        content_id: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    ChatSend {
        peer: PeerId,
        msg: ChatBytes,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// Peers the features know (followed, in a room): presence keeps room for them.
    AddKnown {
        peers: Vec<PeerId>,
    },
}

/// Why a gossip message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    #[error("no peer is listening on this topic yet")]
    NoPeers,
    #[error("{0}")]
    Other(String),
}

/// What the network hands to the catalog: holder announcements and requests to answer
/// (with [`NetHandle::catalog_respond`]). Feed entries reach the catalog through its own
/// [`GossipCheck`].
#[derive(Debug)]
pub enum Inbound {
    Have {
        holder: PeerId,
        have: HaveMessage,
    },
    Request {
        id: u64,
        peer: PeerId,
        request: CatalogRequest,
    },
}

/// A feature's check of the gossip on a topic it owns, run on a worker thread
/// (`net::validate`) before gossipsub relays a message; the network task never waits for
/// it. What it accepts it hands to its owner itself; `blocked` says whether a peer is
/// blocked.
pub trait GossipCheck: Send + 'static {
    fn check(
        &mut self,
        source: PeerId,
        data: &[u8],
        blocked: &dyn Fn(&PeerId) -> bool,
    ) -> gossipsub::MessageAcceptance;
}

/// How the features that own messages the network carries check them, so that the network
/// refuses what is malformed without reading it itself.
pub struct Checks {
    /// Feed entries gossiped on [`FEED_TOPIC`] (the catalog's).
    pub feed: Box<dyn GossipCheck>,
    /// A `/hearth/chat/1` request, before it is acknowledged (chat's).
    pub chat: RequestCheck,
}

/// What the network hands to the chat actor.
#[derive(Debug)]
pub enum ChatInbound {
    Wire {
        from: PeerId,
        msg: ChatBytes,
    },
    /// The first connection to the peer opened.
    Connected(PeerId),
    /// The last connection to the peer closed.
    Disconnected(PeerId),
    /// A ping round trip to the peer.
    Rtt {
        peer: PeerId,
        ms: u32,
    },
}

/// Capacity of the network -> chat channel; messages beyond it are dropped (the chat
/// protocols retransmit).
pub const CHAT_INBOUND_CHANNEL: usize = 4096;

/// Capacity of the network -> catalog channel; gossip beyond it is dropped (catch-up
/// repairs it), requests beyond it are answered `Busy`.
pub const INBOUND_CHANNEL: usize = 1024;

/// A cloneable handle to the network task.
#[derive(Clone, Debug)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    local: PeerId,
    bt: bt_stream::BtStreams,
}

impl NetHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// BitTorrent peer connections over libp2p streams (`/hearth/bt/1`).
    pub fn bt_streams(&self) -> &bt_stream::BtStreams {
        &self.bt
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Connects to `addr` and returns the peer's id once the connection is up.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        let shown = addr.to_string();
        match tokio::time::timeout(
            DIAL_TIMEOUT,
            self.ask(|reply| Command::Dial {
                addrs: vec![addr],
                reply,
            }),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => Err(NetError::DialTimeout(shown)),
        }
    }

    /// Connects to `peer` at any of `addrs` (each ending in `/p2p/<peer>`), all tried at
    /// once, and waits until one connection is up.
    pub async fn dial_any(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        let shown = format!("{peer} ({} addresses)", addrs.len());
        match tokio::time::timeout(
            DIAL_TIMEOUT,
            self.ask(|reply| Command::Dial { addrs, reply }),
        )
        .await
        {
            Ok(Ok(Ok(got))) if got == peer => Ok(()),
            Ok(Ok(Ok(got))) => Err(NetError::Dial {
                addr: shown,
                message: format!("{got} answered instead"),
            }),
            Ok(r) => r?.map(|_| ()),
            Err(_) => Err(NetError::DialTimeout(shown)),
        }
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    pub async fn status(&self) -> Result<NetStatus, NetError> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Changes the profile this node announces, and announces it now.
    pub async fn set_profile(&self, profile: Profile) -> Result<(), NetError> {
        self.ask(|reply| Command::SetProfile { profile, reply })
            .await
    }

    pub async fn set_blocked(&self, peer: PeerId, blocked: bool) -> Result<(), NetError> {
        self.ask(|reply| Command::SetBlocked {
            peer,
            blocked,
            reply,
        })
        .await
    }

    /// Dials a bootstrap address and adds it to the DHT's routing table once identified.
    pub async fn add_bootstrap(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|reply| Command::AddBootstrap { addr, reply })
            .await
    }

    /// Publishes `data` on a gossipsub topic.
    pub async fn gossip(&self, topic: &'static str, data: Vec<u8>) -> Result<(), GossipError> {
        self.ask(|reply| Command::Gossip { topic, data, reply })
            .await
            .map_err(|e| GossipError::Other(e.to_string()))?
    }

    /// Asks `peer` a catalog question and waits for the answer (or the request timeout).
    pub async fn catalog_request(
        &self,
        peer: PeerId,
        request: CatalogRequest,
    ) -> Result<CatalogResponse, NetError> {
        self.ask(|reply| Command::CatalogRequest {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// Answers the inbound catalog request `id`.
    pub async fn catalog_respond(
        &self,
        id: u64,
        response: CatalogResponse,
    ) -> Result<(), NetError> {
        self.tx
            .send(Command::CatalogRespond { id, response })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Starts or stops announcing this node as a provider of `content_id` in the DHT.
    pub async fn provide(&self, content_id: String, provide: bool) -> Result<(), NetError> {
        self.tx
            .send(Command::Provide {
                content_id,
                provide,
            })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Sends a chat message to `peer` (dialing it if needed). Fire and forget: the chat
    /// protocols acknowledge and retransmit on their own.
    pub async fn chat_send(&self, peer: PeerId, msg: ChatBytes) -> Result<(), NetError> {
        self.tx
            .send(Command::ChatSend { peer, msg })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Tells presence about peers this node knows (followed, in a room, talked with): they
    /// keep their place in the peer table however many strangers announce themselves.
    pub async fn add_known(&self, peers: Vec<PeerId>) -> Result<(), NetError> {
        self.tx
            .send(Command::AddKnown { peers })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Peers with an open connection right now.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.ask(|reply| Command::ConnectedPeers { reply }).await
    }

    /// Peers the DHT lists as providers of `content_id`.
    pub async fn providers(&self, content_id: String) -> Result<Vec<PeerId>, NetError> {
        self.ask(|reply| Command::GetProviders { content_id, reply })
            .await
    }
}

/// Everything the swarm runs.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Refuses connections from blocked peers before they are established.
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Refuses connections over the counts above, and any while memory is short.
    limits: connection_limits::Behaviour,
    memory: memory_connection_limits::Behaviour,
    relay: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    dcutr: dcutr::Behaviour,
    autonat: autonat::Behaviour,
    /// Circuit relay v2 for others (`relay_service`; see `nat` for its limits).
    relay_server: Toggle<nat::RelayServer>,
    profile: request_response::Behaviour<JsonCodec<ProfileRequest, ProfileResponse>>,
    vote: request_response::Behaviour<JsonCodec<VoteRequest, VoteResponse>>,
    catalog: request_response::Behaviour<JsonCodec<CatalogRequest, CatalogResponse>>,
    chat: request_response::Behaviour<CheckedCodec<ChatAck>>,
    bt: bt_stream::Behaviour,
}

fn build_swarm(
    key: Keypair,
    config: &Config,
    chat_check: RequestCheck,
) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let ping_interval = config.presence.ping_interval();
    let mdns_on = config.mdns;
    let relay_on = config.relay_service;
    let (dns_cfg, dns_opts) = dns_config();
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_dns_config(dns_cfg, dns_opts)
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_behaviour(|key, relay| {
            let local = key.public().to_peer_id();
            let mdns = if mdns_on {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), local)?)
            } else {
                None
            };
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config.set_query_timeout(Duration::from_secs(30));
            let mut kad =
                kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), kad_config);
            // Loopback and LAN addresses never get confirmed as external, which would leave
            // the DHT in client mode and invisible to others.
            kad.set_mode(Some(kad::Mode::Server));

            let gossip_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(700))
                .validation_mode(gossipsub::ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(MAX_GOSSIP_BYTES)
                .build()
                .map_err(|e| e.to_string())?;
            let mut gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            let mut score = gossipsub::PeerScoreParams::default();
            // Peers on one host (or behind one NAT) share an IP; on loopback all do.
            score
                .ip_colocation_factor_whitelist
                .insert(std::net::Ipv4Addr::LOCALHOST.into());
            gossipsub.with_peer_score(score, gossipsub::PeerScoreThresholds::default())?;

            let rr = |p: StreamProtocol| [(p, request_response::ProtocolSupport::Full)];
            let rr_config =
                request_response::Config::default().with_request_timeout(Duration::from_secs(10));
            Ok(Behaviour {
                blocked: Default::default(),
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                        .with_max_established_incoming(Some(MAX_INCOMING_CONNECTIONS))
                        .with_max_established(Some(MAX_CONNECTIONS))
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                        .with_max_pending_outgoing(Some(MAX_PENDING_OUTGOING)),
                ),
                memory: memory_connection_limits::Behaviour::with_max_bytes(MAX_PROCESS_MEMORY),
                relay,
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_VERSION.into(), key.public())
                        .with_agent_version(format!("hearth/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(
                    ping::Config::new()
                        .with_interval(ping_interval)
                        .with_timeout(ping_timeout(ping_interval)),
                ),
                mdns: mdns.into(),
                kad,
                gossipsub,
                dcutr: dcutr::Behaviour::new(local),
                autonat: autonat::Behaviour::new(local, nat::autonat_config()),
                relay_server: relay_on
                    .then(|| nat::RelayServer::new(local, config.relay_max_circuits))
                    .into(),
                profile: request_response::Behaviour::with_codec(
                    JsonCodec::new(MAX_PROFILE_REQUEST, MAX_PROFILE_RESPONSE),
                    rr(PROFILE_PROTOCOL),
                    rr_config.clone(),
                ),
                vote: request_response::Behaviour::with_codec(
                    JsonCodec::new(MAX_VOTE_REQUEST, MAX_VOTE_RESPONSE),
                    rr(VOTE_PROTOCOL),
                    rr_config.clone(),
                ),
                catalog: request_response::Behaviour::with_codec(
                    JsonCodec::new(MAX_CATALOG_REQUEST, MAX_CATALOG_RESPONSE),
                    rr(CATALOG_PROTOCOL),
                    rr_config
                        .clone()
                        .with_max_concurrent_streams(MAX_CATALOG_STREAMS),
                ),
                chat: request_response::Behaviour::with_codec(
                    CheckedCodec::new(MAX_CHAT_REQUEST, MAX_CHAT_RESPONSE, chat_check),
                    rr(CHAT_PROTOCOL),
                    rr_config.with_max_concurrent_streams(MAX_CHAT_STREAMS),
                ),
                bt: bt_stream::Behaviour::new(),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

/// How long a ping may take: four intervals, within 2 to 20 seconds. A peer killed without
/// closing its QUIC connections is only noticed by pings failing (or QUIC's idle
/// timeout), and presence counts two failures in a row as "gone".
fn ping_timeout(interval: Duration) -> Duration {
    (interval * 4).clamp(Duration::from_secs(2), Duration::from_secs(20))
}

/// The resolver for `/dns4`, `/dns6` and `/dnsaddr` addresses: the system's configuration
/// (`/etc/resolv.conf`, and the hosts file), or the hosts file alone when the system names
/// no name server (an offline machine still starts).
fn dns_config() -> (libp2p::dns::ResolverConfig, libp2p::dns::ResolverOpts) {
    match hickory_resolver::system_conf::read_system_conf() {
        Ok(conf) => conf,
        Err(e) => {
            tracing::info!(
                "no system DNS configuration ({e}); names resolve from the hosts file only"
            );
            (
                libp2p::dns::ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
                libp2p::dns::ResolverOpts::default(),
            )
        }
    }
}

/// Starts the network: builds the swarm, starts listening (waiting until every listener
/// has an address), dials the bootstrap peers (or, with none configured, the freshest
/// peers of `book`) and spawns the event loop on `tracker`.
#[allow(clippy::too_many_arguments)] // what the network needs from the node, once
pub async fn start(
    key: Keypair,
    config: &Config,
    profile: Profile,
    blocked: Vec<PeerId>,
    book: PeerBook,
    bus: EventBus,
    inbound: mpsc::Sender<Inbound>,
    chat: mpsc::Sender<ChatInbound>,
    checks: Checks,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> Result<NetHandle, NetError> {
    let local = key.public().to_peer_id();
    let mut swarm = build_swarm(key, config, checks.chat)?;
    let mut listeners = 0;
    for addr in &config.listen {
        match swarm.listen_on(addr.clone()) {
            Ok(_) => listeners += 1,
            Err(e) if config.listen_is_default => {
                // The default port is taken (another node on this machine): any port will do.
                let fallback = with_port_zero(addr);
                tracing::info!(%addr, "port taken ({e}); listening on {fallback} instead");
                swarm
                    .listen_on(fallback.clone())
                    .map_err(|e| NetError::Listen {
                        addr: fallback,
                        message: e.to_string(),
                    })?;
                listeners += 1;
            }
            Err(e) => {
                return Err(NetError::Listen {
                    addr: addr.clone(),
                    message: e.to_string(),
                })
            }
        }
    }
    let (tx, rx) = mpsc::channel(COMMAND_CHANNEL);
    let bt = swarm.behaviour().bt.control();
    let validator = validate::spawn(checks.feed, &blocked, tracker);
    let mut event_loop = event_loop::EventLoop::new(
        swarm,
        rx,
        bus,
        config.presence.clone(),
        profile,
        blocked,
        book,
        inbound,
        chat,
        validator,
        cancel,
        config.relay_service,
    );
    event_loop.wait_for_listeners(listeners).await;
    for addr in &config.bootstrap {
        event_loop.add_bootstrap(addr.clone());
    }
    if config.bootstrap.is_empty() {
        event_loop.rejoin();
    }
    tracker.spawn(
        event_loop
            .run()
            .instrument(tracing::info_span!("net", peer = %local)),
    );
    Ok(NetHandle { tx, local, bt })
}

fn with_port_zero(addr: &Multiaddr) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    addr.iter()
        .map(|p| match p {
            Protocol::Tcp(_) => Protocol::Tcp(0),
            Protocol::Udp(_) => Protocol::Udp(0),
            other => other,
        })
        .collect()
}
