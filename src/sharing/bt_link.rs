//! BitTorrent over libp2p: the glue between the engine (`transfer`) and `/hearth/bt/1`
//! streams (`net::bt_stream`).
//!
//! The engine names a holder reachable over libp2p by its synthetic address
//! (`net::bt_stream::addr_of`); [`BtLink`] is the engine's connector for that range and opens
//! a stream to the peer instead of a TCP dial. [`serve`] hands the streams peers open to us to
//! the engine, which matches them to a torrent by their handshake (or drops them).
//!
//! The link exists before the network (the engine is built first), so it is bound to the
//! network's stream control once that runs; until then, connects fail at once.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use librqbit::{ExternalConnector, ExternalStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::net::bt_stream::{self, BtStreams, Incoming};
use crate::transfer::Transfer;

/// The engine's connector for synthetic (libp2p) peer addresses.
#[derive(Default)]
pub struct BtLink {
    streams: OnceLock<BtStreams>,
}

impl BtLink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Binds the link to the network's stream control (once; later calls are ignored).
    pub fn bind(&self, streams: BtStreams) {
        let _ = self.streams.set(streams);
    }
}

impl ExternalConnector for BtLink {
    fn handles(&self, addr: SocketAddr) -> bool {
        bt_stream::is_synthetic(&addr)
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, std::io::Result<ExternalStream>> {
        let streams = self.streams.get().cloned();
        Box::pin(async move {
            let streams = streams.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotConnected, "network not started")
            })?;
            let peer = streams.peer_of(&addr).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{addr} names no peer we know"),
                )
            })?;
            let stream = streams.open(peer).await?;
            let (r, w) = tokio::io::split(stream);
            Ok::<ExternalStream, std::io::Error>((Box::new(r), Box::new(w)))
        })
    }
}

/// Hands the `/hearth/bt/1` streams peers open to us to the engine, until `cancel`.
pub async fn serve(
    transfer: Transfer,
    mut incoming: mpsc::Receiver<Incoming>,
    cancel: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => break,
            next = incoming.recv() => next,
        };
        let Some(Incoming {
            peer,
            addr,
            relayed,
            stream,
        }) = next
        else {
            break;
        };
        tracing::debug!(%peer, relayed, "BitTorrent stream accepted");
        if transfer.accept_stream(addr, stream).is_err() {
            break;
        }
    }
}
