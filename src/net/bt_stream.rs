//! `/hearth/bt/1`: raw streams that carry BitTorrent peer connections over the libp2p
//! connections we already have (direct, hole-punched or relayed), so a file moves wherever
//! libp2p connects, also when the holder's BitTorrent TCP port cannot be reached.
//!
//! A stream is the BitTorrent peer wire protocol, byte for byte, from the handshake on. The
//! BitTorrent engine names a libp2p peer by a synthetic socket address ([`addr_of`]): an
//! IPv6 unique-local address (`fd48:6561:7274:1::/64`, "Heart") whose low 64 bits are a
//! hash of the peer id, so every Hearth node derives the same name for the same peer.
//!
//! Unlike `libp2p-stream` (whose alpha picks a random connection of the peer), a stream is
//! opened on a direct connection whenever the peer has one, and on a relayed connection only
//! when that is all there is: a relay limits the bytes of every circuit, so bulk data must
//! not ride one by chance after a hole punch succeeded. [`BtStreams::route`] tells which.
//!
//! Bounds: [`MAX_STREAMS_PER_PEER`] and [`MAX_STREAMS`] open streams (both directions),
//! [`INBOUND_QUEUE`] accepted streams waiting for the engine (more are reset), at most
//! [`MAX_NAMES`] remembered synthetic names. Blocked peers get no stream either way.
//!
//! This module is self-contained: a `NetworkBehaviour` plus its `ConnectionHandler`, and a
//! cloneable control ([`BtStreams`]) used without going through the event loop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::{transport::PortUse, upgrade::ReadyUpgrade, Endpoint};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound},
    ConnectionClosed, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId,
    FromSwarm, NetworkBehaviour, StreamUpgradeError, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use tokio::sync::{mpsc, oneshot};

pub const BT_PROTOCOL: StreamProtocol = StreamProtocol::new("/hearth/bt/1");
/// Open `/hearth/bt/1` streams with one peer, both directions.
pub const MAX_STREAMS_PER_PEER: usize = 16;
/// Open `/hearth/bt/1` streams in all.
pub const MAX_STREAMS: usize = 256;
/// Accepted streams waiting for the BitTorrent engine; more are reset.
pub const INBOUND_QUEUE: usize = 32;
/// Synthetic names remembered; names of peers without a connection go first.
pub const MAX_NAMES: usize = 4096;
/// Outbound stream requests queued on one connection.
const REQUESTS_PER_CONNECTION: usize = 16;
/// How long opening a stream may take (negotiation included).
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The port of every synthetic address (any port is accepted back: the prefix decides).
pub const SYNTHETIC_PORT: u16 = 1;
/// `fd48:6561:7274:1::/64`: a unique-local prefix ("Heart") no real network of ours uses.
const PREFIX: [u16; 4] = [0xfd48, 0x6561, 0x7274, 0x0001];

/// The synthetic address that names `peer` for the BitTorrent engine.
pub fn addr_of(peer: &PeerId) -> SocketAddr {
    let h = blake3::hash(&peer.to_bytes());
    let b = h.as_bytes();
    let seg = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let ip = Ipv6Addr::new(
        PREFIX[0],
        PREFIX[1],
        PREFIX[2],
        PREFIX[3],
        seg(0),
        seg(2),
        seg(4),
        seg(6),
    );
    SocketAddr::new(IpAddr::V6(ip), SYNTHETIC_PORT)
}

/// True for addresses in the synthetic range (whatever the port).
pub fn is_synthetic(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V6(ip) => ip.segments()[..4] == PREFIX,
        IpAddr::V4(_) => false,
    }
}

fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// How a peer can be reached for `/hearth/bt/1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// At least one connection that does not go through a relay.
    Direct,
    /// Only relayed connections: streams run within the relay's byte and time budget.
    RelayOnly,
    NotConnected,
}

/// An accepted stream, for the BitTorrent engine.
pub struct Incoming {
    pub peer: PeerId,
    /// The peer's synthetic address.
    pub addr: SocketAddr,
    pub relayed: bool,
    pub stream: BtStream,
}

struct Conn {
    peer: PeerId,
    relayed: bool,
    /// The peer's IP as this connection sees it (none for a relayed connection).
    remote_ip: Option<IpAddr>,
    requests: mpsc::Sender<oneshot::Sender<io::Result<Stream>>>,
}

struct Shared {
    conns: HashMap<ConnectionId, Conn>,
    open: HashMap<PeerId, usize>,
    total: usize,
    /// Streams opened since start, both directions.
    opened: u64,
    blocked: HashSet<PeerId>,
    names: HashMap<Ipv6Addr, PeerId>,
    names_order: VecDeque<Ipv6Addr>,
    inbound: mpsc::Sender<Incoming>,
    inbound_rx: Option<mpsc::Receiver<Incoming>>,
}

impl Shared {
    fn take_slot(&mut self, peer: PeerId) -> bool {
        if self.blocked.contains(&peer) || self.total >= MAX_STREAMS {
            return false;
        }
        let n = self.open.entry(peer).or_default();
        if *n >= MAX_STREAMS_PER_PEER {
            return false;
        }
        *n += 1;
        self.total += 1;
        self.opened += 1;
        true
    }

    fn release(&mut self, peer: &PeerId) {
        if let Some(n) = self.open.get_mut(peer) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(peer);
            }
            self.total -= 1;
        }
    }

    fn name(&mut self, peer: PeerId) -> SocketAddr {
        let addr = addr_of(&peer);
        let IpAddr::V6(ip) = addr.ip() else {
            unreachable!("synthetic addresses are IPv6")
        };
        if self.names.contains_key(&ip) {
            return addr;
        }
        while self.names.len() >= MAX_NAMES {
            // Forget the oldest name of a peer we have no connection with; if every name
            // belongs to a connected peer, forget the oldest anyway.
            let connected: HashSet<PeerId> = self.conns.values().map(|c| c.peer).collect();
            let pos = self
                .names_order
                .iter()
                .position(|ip| self.names.get(ip).is_none_or(|p| !connected.contains(p)))
                .unwrap_or(0);
            match self.names_order.remove(pos) {
                Some(old) => {
                    self.names.remove(&old);
                }
                None => break,
            }
        }
        self.names.insert(ip, peer);
        self.names_order.push_back(ip);
        addr
    }

    fn route(&mut self, peer: &PeerId) -> Route {
        self.conns.retain(|_, c| !c.requests.is_closed());
        let mut route = Route::NotConnected;
        for c in self.conns.values().filter(|c| c.peer == *peer) {
            if !c.relayed {
                return Route::Direct;
            }
            route = Route::RelayOnly;
        }
        route
    }

    fn seen_ips(&mut self, peer: Option<&PeerId>) -> Vec<IpAddr> {
        self.conns.retain(|_, c| !c.requests.is_closed());
        let mut ips: Vec<IpAddr> = Vec::new();
        for c in self.conns.values() {
            if peer.is_some_and(|p| *p != c.peer) {
                continue;
            }
            if let Some(ip) = c.remote_ip.filter(|ip| !ips.contains(ip)) {
                ips.push(ip);
            }
        }
        ips
    }
}

/// The IP a connection's remote address names (none when relayed).
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    if is_relayed(addr) {
        return None;
    }
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// The control of `/hearth/bt/1`: opens streams, names peers, hands accepted streams out.
#[derive(Clone)]
pub struct BtStreams {
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for BtStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtStreams").finish_non_exhaustive()
    }
}

impl BtStreams {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The synthetic address of `peer`, remembered so [`BtStreams::peer_of`] finds it.
    pub fn addr_of(&self, peer: PeerId) -> SocketAddr {
        self.lock().name(peer)
    }

    /// The peer a synthetic address names, if we gave it out (or accepted from it).
    pub fn peer_of(&self, addr: &SocketAddr) -> Option<PeerId> {
        match addr.ip() {
            IpAddr::V6(ip) if is_synthetic(addr) => self.lock().names.get(&ip).copied(),
            _ => None,
        }
    }

    pub fn route(&self, peer: &PeerId) -> Route {
        self.lock().route(peer)
    }

    /// The IPs our direct libp2p connections with `peer` reach it at: the networks we have
    /// seen it on.
    pub fn seen_ips(&self, peer: &PeerId) -> Vec<IpAddr> {
        self.lock().seen_ips(Some(peer))
    }

    /// The IPs of every direct libp2p connection we have, whoever the peer.
    pub fn all_seen_ips(&self) -> Vec<IpAddr> {
        self.lock().seen_ips(None)
    }

    pub fn set_blocked(&self, peer: PeerId, blocked: bool) {
        let mut s = self.lock();
        if blocked {
            s.blocked.insert(peer);
        } else {
            s.blocked.remove(&peer);
        }
    }

    /// Streams open now (both directions).
    pub fn open_streams(&self) -> usize {
        self.lock().total
    }

    /// Streams opened (or accepted) since start: a place in the bounds was taken.
    pub fn opened_streams(&self) -> u64 {
        self.lock().opened
    }

    /// The accepted streams; `None` after the first call.
    pub fn take_incoming(&self) -> Option<mpsc::Receiver<Incoming>> {
        self.lock().inbound_rx.take()
    }

    /// Opens a stream to `peer` over an existing connection: a direct one if there is any,
    /// else a relayed one. Never dials (connecting is presence's job).
    pub async fn open(&self, peer: PeerId) -> io::Result<BtStream> {
        let (requests, relayed) = {
            let mut s = self.lock();
            if s.blocked.contains(&peer) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "peer is blocked",
                ));
            }
            let route = s.route(&peer);
            let pick = s
                .conns
                .values()
                .filter(|c| c.peer == peer)
                .find(|c| route != Route::Direct || !c.relayed)
                .map(|c| (c.requests.clone(), c.relayed));
            let Some(pick) = pick else {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("no libp2p connection to {peer}"),
                ));
            };
            if !s.take_slot(peer) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "too many BitTorrent streams open",
                ));
            }
            pick
        };
        let slot = Slot {
            shared: self.shared.clone(),
            peer,
        };
        let (tx, rx) = oneshot::channel();
        requests
            .try_send(tx)
            .map_err(|_| io::Error::new(io::ErrorKind::WouldBlock, "connection is busy"))?;
        let stream = match tokio::time::timeout(OPEN_TIMEOUT, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(io::ErrorKind::ConnectionReset.into()),
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        };
        tracing::debug!(%peer, relayed, "opened a BitTorrent stream");
        Ok(BtStream {
            inner: stream,
            relayed,
            _slot: slot,
        })
    }
}

/// Frees a stream's place in the bounds when the stream is dropped.
struct Slot {
    shared: Arc<Mutex<Shared>>,
    peer: PeerId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(&self.peer);
    }
}

/// A `/hearth/bt/1` stream as a tokio byte stream.
pub struct BtStream {
    inner: Stream,
    relayed: bool,
    _slot: Slot,
}

impl BtStream {
    /// It runs over a relayed connection (within the relay's budget).
    pub fn relayed(&self) -> bool {
        self.relayed
    }
}

impl tokio::io::AsyncRead for BtStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        let n = std::task::ready!(futures::AsyncRead::poll_read(
            Pin::new(&mut self.inner),
            cx,
            unfilled
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for BtStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::AsyncWrite::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::AsyncWrite::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::AsyncWrite::poll_close(Pin::new(&mut self.inner), cx)
    }
}

/// The swarm side of `/hearth/bt/1`.
pub struct Behaviour {
    shared: Arc<Mutex<Shared>>,
}

impl Behaviour {
    pub fn new() -> Self {
        let (inbound, rx) = mpsc::channel(INBOUND_QUEUE);
        Self {
            shared: Arc::new(Mutex::new(Shared {
                conns: HashMap::new(),
                open: HashMap::new(),
                total: 0,
                opened: 0,
                blocked: HashSet::new(),
                names: HashMap::new(),
                names_order: VecDeque::new(),
                inbound,
                inbound_rx: Some(rx),
            })),
        }
    }

    pub fn control(&self) -> BtStreams {
        BtStreams {
            shared: self.shared.clone(),
        }
    }

    fn handler(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        relayed: bool,
        remote: &Multiaddr,
    ) -> Handler {
        let (requests, rx) = mpsc::channel(REQUESTS_PER_CONNECTION);
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .conns
            .insert(
                id,
                Conn {
                    peer,
                    relayed,
                    remote_ip: if relayed { None } else { ip_of(remote) },
                    requests,
                },
            );
        Handler {
            peer,
            relayed,
            shared: self.shared.clone(),
            requests: rx,
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::new()
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let relayed = is_relayed(local_addr) || is_relayed(remote_addr);
        Ok(self.handler(id, peer, relayed, remote_addr))
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(id, peer, is_relayed(addr), addr))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) = event {
            self.shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .conns
                .remove(&connection_id);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

type Reply = oneshot::Sender<io::Result<Stream>>;

pub struct Handler {
    peer: PeerId,
    relayed: bool,
    shared: Arc<Mutex<Shared>>,
    requests: mpsc::Receiver<Reply>,
}

impl Handler {
    fn on_inbound(&mut self, stream: Stream) {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if !s.take_slot(self.peer) {
            tracing::debug!(peer = %self.peer, "BitTorrent stream refused: blocked or over the limits");
            return;
        }
        let addr = s.name(self.peer);
        let slot = Slot {
            shared: self.shared.clone(),
            peer: self.peer,
        };
        let incoming = Incoming {
            peer: self.peer,
            addr,
            relayed: self.relayed,
            stream: BtStream {
                inner: stream,
                relayed: self.relayed,
                _slot: slot,
            },
        };
        let inbound = s.inbound.clone();
        // The slot's drop takes the lock: release it before a refused stream is dropped.
        drop(s);
        if inbound.try_send(incoming).is_err() {
            tracing::debug!(peer = %self.peer, "BitTorrent stream refused: engine queue full");
        }
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Reply;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(BT_PROTOCOL), ())
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Reply, Self::ToBehaviour>> {
        match self.requests.poll_recv(cx) {
            Poll::Ready(Some(reply)) => {
                Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(ReadyUpgrade::new(BT_PROTOCOL), reply)
                        .with_timeout(OPEN_TIMEOUT),
                })
            }
            _ => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Reply>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => self.on_inbound(stream),
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: reply,
            }) => {
                let _ = reply.send(Ok(stream));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
                let e = match error {
                    StreamUpgradeError::Timeout => io::ErrorKind::TimedOut.into(),
                    StreamUpgradeError::NegotiationFailed => io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the peer does not speak /hearth/bt/1",
                    ),
                    StreamUpgradeError::Io(e) => e,
                    StreamUpgradeError::Apply(never) => match never {},
                };
                let _ = reply.send(Err(e));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_names_are_stable_and_recognised() {
        let a = PeerId::random();
        let b = PeerId::random();
        assert_eq!(addr_of(&a), addr_of(&a));
        assert_ne!(addr_of(&a), addr_of(&b));
        assert!(is_synthetic(&addr_of(&a)));
        let mut other = addr_of(&a);
        other.set_port(4712);
        assert!(is_synthetic(&other), "the prefix decides, not the port");
        assert!(!is_synthetic(&"127.0.0.1:1".parse().unwrap()));
        assert!(!is_synthetic(&"[fd00::1]:1".parse().unwrap()));
    }

    #[test]
    fn names_are_bounded_and_found_back() {
        let bt = Behaviour::new().control();
        let first = PeerId::random();
        let addr = bt.addr_of(first);
        assert_eq!(bt.peer_of(&addr), Some(first));
        for _ in 0..MAX_NAMES {
            bt.addr_of(PeerId::random());
        }
        assert_eq!(bt.lock().names.len(), MAX_NAMES);
        assert_eq!(bt.peer_of(&addr), None, "the oldest name went first");
    }

    #[test]
    fn slots_are_bounded_per_peer_and_refused_when_blocked() {
        let bt = Behaviour::new().control();
        let p = PeerId::random();
        let mut s = bt.lock();
        for _ in 0..MAX_STREAMS_PER_PEER {
            assert!(s.take_slot(p));
        }
        assert!(!s.take_slot(p));
        s.release(&p);
        assert!(s.take_slot(p));
        let q = PeerId::random();
        s.blocked.insert(q);
        assert!(!s.take_slot(q));
    }

    #[test]
    fn relayed_addresses_are_recognised() {
        let relayed: Multiaddr = "/ip4/203.0.113.10/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            .parse()
            .unwrap();
        assert!(is_relayed(&relayed));
        assert!(!is_relayed(&"/ip4/10.0.1.10/tcp/4001".parse().unwrap()));
    }

    // Three swarms in this process on loopback: a relay (circuit relay v2, with a small byte
    // budget), and two peers that first meet only through it, then also directly.
    mod over_relay {
        use super::super::*;
        use futures::StreamExt;
        use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
        use libp2p::{noise, relay, tcp, yamux, Swarm, SwarmBuilder};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        const BUDGET: u64 = 64 << 10;

        #[derive(NetworkBehaviour)]
        struct Peer {
            relay: relay::client::Behaviour,
            bt: Behaviour,
        }

        fn peer() -> Swarm<Peer> {
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
                .with_behaviour(|_, relay| Peer {
                    relay,
                    bt: Behaviour::new(),
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build()
        }

        /// Drives a swarm in the background; addresses sent on the channel are dialled.
        fn drive<B>(mut swarm: Swarm<B>) -> mpsc::UnboundedSender<Multiaddr>
        where
            B: NetworkBehaviour + Send + 'static,
        {
            let (tx, mut rx) = mpsc::unbounded_channel::<Multiaddr>();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some(addr) = rx.recv() => { let _ = swarm.dial(addr); }
                        _ = swarm.select_next_some() => {}
                    }
                }
            });
            tx
        }

        async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
            tokio::time::timeout(Duration::from_secs(20), f)
                .await
                .unwrap_or_else(|_| panic!("timed out: {what}"))
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn streams_prefer_a_direct_connection_and_stay_within_the_relay_budget() {
            // The relay.
            let mut server = SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(
                    tcp::Config::default(),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .unwrap()
                .with_behaviour(|k| {
                    relay::Behaviour::new(
                        k.public().to_peer_id(),
                        relay::Config {
                            max_circuit_bytes: BUDGET,
                            ..Default::default()
                        },
                    )
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build();
            let relay_id = *server.local_peer_id();
            server
                .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
            let relay_addr = within("relay listens", async {
                loop {
                    if let SwarmEvent::NewListenAddr { address, .. } =
                        server.select_next_some().await
                    {
                        break address;
                    }
                }
            })
            .await;
            server.add_external_address(relay_addr.clone());
            drive(server);
            let circuit = relay_addr
                .with(Protocol::P2p(relay_id))
                .with(Protocol::P2pCircuit);

            // A: reserves a slot on the relay, and listens directly too.
            let mut a = peer();
            let a_id = *a.local_peer_id();
            let a_bt = a.behaviour().bt.control();
            let mut incoming = a_bt.take_incoming().unwrap();
            a.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
            a.listen_on(circuit.clone()).unwrap();
            let a_direct = within("A listens and reserves", async {
                let (mut direct, mut reserved) = (None, false);
                while direct.is_none() || !reserved {
                    match a.select_next_some().await {
                        SwarmEvent::NewListenAddr { address, .. } if !is_relayed(&address) => {
                            direct = Some(address)
                        }
                        SwarmEvent::Behaviour(PeerEvent::Relay(
                            relay::client::Event::ReservationReqAccepted { .. },
                        )) => reserved = true,
                        _ => {}
                    }
                }
                direct.unwrap()
            })
            .await;
            drive(a);

            // B: reaches A through the relay only.
            let mut b = peer();
            let b_id = *b.local_peer_id();
            let b_bt = b.behaviour().bt.control();
            b.dial(circuit.with(Protocol::P2p(a_id))).unwrap();
            within("B connects to A through the relay", async {
                loop {
                    if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                        b.select_next_some().await
                    {
                        if peer_id == a_id {
                            break;
                        }
                    }
                }
            })
            .await;
            let b_dial = drive(b);

            assert_eq!(b_bt.route(&a_id), Route::RelayOnly);
            let mut relayed = within("stream over the relay", b_bt.open(a_id))
                .await
                .unwrap();
            assert!(relayed.relayed());
            let mut relayed_in = within("accepted", incoming.recv()).await.unwrap();
            assert_eq!(relayed_in.peer, b_id);
            assert!(relayed_in.relayed);
            assert_eq!(relayed_in.addr, addr_of(&b_id));
            relayed.write_all(b"hello").await.unwrap();
            relayed.flush().await.unwrap();
            let mut got = [0u8; 5];
            within("hello", relayed_in.stream.read_exact(&mut got))
                .await
                .unwrap();
            assert_eq!(&got, b"hello");

            // A direct connection opens beside the relayed one: new streams take it.
            b_dial.send(a_direct).unwrap();
            within("a direct connection", async {
                while b_bt.route(&a_id) != Route::Direct {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            let mut direct = within("stream, direct", b_bt.open(a_id)).await.unwrap();
            assert!(!direct.relayed());
            let mut direct_in = within("accepted", incoming.recv()).await.unwrap();
            assert!(!direct_in.relayed);
            let data = vec![7u8; 1 << 20];
            let send = data.clone();
            let writer = tokio::spawn(async move {
                direct.write_all(&send).await.unwrap();
                direct.shutdown().await.unwrap();
                direct
            });
            let mut back = Vec::new();
            within("1 MiB direct", direct_in.stream.read_to_end(&mut back))
                .await
                .unwrap();
            assert_eq!(back, data, "far beyond the relay's budget, direct");
            let _direct = writer.await.unwrap();
            assert_eq!(b_bt.open_streams(), 2);

            // The relayed stream runs within the relay's budget: past it, it ends (it does
            // not hang).
            tokio::spawn(async move {
                let _ = relayed.write_all(&vec![1u8; 1 << 20]).await;
                let _ = relayed.shutdown().await;
            });
            let mut sink = Vec::new();
            let r = within(
                "the relayed stream ends",
                relayed_in.stream.read_to_end(&mut sink),
            )
            .await;
            assert!(
                (sink.len() as u64) < BUDGET,
                "{} bytes through a {BUDGET}-byte budget ({r:?})",
                sink.len()
            );
        }
    }
}
