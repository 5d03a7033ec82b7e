//! Reading a magnet link's metadata from peers, retried until a deadline.
//!
//! librqbit asks each peer it is given once: a peer that refused the first connection (a
//! seeder that started a moment after us, a client that allows one connection per address
//! and still had one open) is never asked again. So lookups are started again with a
//! growing pause ([`FIRST_RETRY`], doubling up to [`MAX_RETRY`]) while the earlier ones
//! keep running; the first one to bring metadata wins and the others are stopped. Metadata
//! that librqbit refuses ends the lookup at once (asking again would bring the same).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse, Session};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{lookup_error, TransferError};

/// Pause before the second lookup.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest pause between two lookups.
pub const MAX_RETRY: Duration = Duration::from_secs(8);

type Found = (Bytes, Vec<SocketAddr>);

/// The info dictionary of `hash` (40 hex digits) and the peers seen, from `peers` (and
/// whatever the session's tracker names), within `timeout`.
pub(super) async fn metadata(
    session: Arc<Session>,
    tasks: &TaskTracker,
    stop: &CancellationToken,
    hash: &str,
    peers: Vec<SocketAddr>,
    timeout: Duration,
) -> Result<Found, TransferError> {
    let deadline = Instant::now() + timeout;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Found, TransferError>>(4);
    let mut running = Vec::new();
    let mut pause = FIRST_RETRY;
    let mut next = Instant::now();
    let mut last_error: Option<TransferError> = None;
    let outcome = loop {
        let now = Instant::now();
        if now >= deadline {
            break Err(last_error
                .take()
                .unwrap_or(TransferError::MetadataTimeout(timeout.as_secs())));
        }
        if now >= next {
            running.push(spawn_one(
                &session,
                tasks,
                stop,
                hash,
                peers.clone(),
                tx.clone(),
            ));
            next = now + pause;
            pause = (pause * 2).min(MAX_RETRY);
        }
        tokio::select! {
            Some(r) = rx.recv() => match r {
                Ok(found) => break Ok(found),
                Err(e @ TransferError::BadMetadata(_)) => break Err(e),
                Err(TransferError::Stopped) => break Err(TransferError::Stopped),
                Err(e) => {
                    tracing::debug!(%hash, "a metadata lookup failed: {e}");
                    last_error = Some(e);
                }
            },
            _ = tokio::time::sleep_until(next.min(deadline)) => {}
            _ = stop.cancelled() => break Err(TransferError::Stopped),
        }
    };
    for a in running {
        a.abort();
    }
    outcome
}

/// One librqbit lookup, in its own task: librqbit parses and checks the peer-supplied
/// info dictionary itself before we can (some malformed ones made it panic).
fn spawn_one(
    session: &Arc<Session>,
    tasks: &TaskTracker,
    stop: &CancellationToken,
    hash: &str,
    peers: Vec<SocketAddr>,
    tx: tokio::sync::mpsc::Sender<Result<Found, TransferError>>,
) -> tokio::task::AbortHandle {
    let session = session.clone();
    let stop = stop.clone();
    let url = format!("magnet:?xt=urn:btih:{hash}");
    let task = tasks.spawn(async move {
        let opts = AddTorrentOptions {
            list_only: true,
            initial_peers: Some(peers),
            ..Default::default()
        };
        let added = tokio::select! {
            r = session.add_torrent(AddTorrent::from_url(url), Some(opts)) => r,
            _ = stop.cancelled() => return,
        };
        let r = match added {
            Ok(AddTorrentResponse::ListOnly(l)) => Ok((l.torrent_bytes, l.seen_peers)),
            Ok(_) => Err(TransferError::Engine(
                "unexpected answer from librqbit".into(),
            )),
            Err(e) => Err(lookup_error(&e)),
        };
        let _ = tx.send(r).await;
    });
    task.abort_handle()
}
