//! An in-process HTTP "tracker" on 127.0.0.1 that only serves peer addresses Hearth already
//! knows (learned over libp2p or passed by the caller). librqbit 9.1 has no public way to add
//! peers to a running torrent: its `initial_peers` are fixed when a torrent is added and are not
//! persisted. It does poll every session-wide tracker URL though, so this tracker is how holders
//! learned later — and holders of torrents restored after a restart — reach librqbit.
//! It never announces anything anywhere; it is reachable only from this machine, under a random
//! secret path.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bencode;

/// Most addresses remembered per torrent (the oldest are forgotten first).
pub(crate) const MAX_PEERS_PER_TORRENT: usize = 200;
/// Most torrents with remembered addresses.
const MAX_TORRENTS: usize = 100_000;
/// Concurrent tracker requests served; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 32;
/// Largest request head read.
const MAX_REQUEST: usize = 8 << 10;
/// Announce interval while a torrent still needs data, and once it is complete.
const INTERVAL_DOWNLOADING: u32 = 3;
const INTERVAL_SEEDING: u32 = 60;

#[derive(Default)]
pub(crate) struct PeerBook {
    map: Mutex<HashMap<[u8; 20], VecDeque<SocketAddr>>>,
}

impl PeerBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 20], VecDeque<SocketAddr>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers addresses; returns how many were new.
    pub(crate) fn add(&self, hash: [u8; 20], peers: &[SocketAddr]) -> usize {
        let mut map = self.lock();
        if !map.contains_key(&hash) && map.len() >= MAX_TORRENTS {
            return 0;
        }
        let list = map.entry(hash).or_default();
        let mut new = 0;
        for p in peers {
            if !usable(p) || list.contains(p) {
                continue;
            }
            if list.len() >= MAX_PEERS_PER_TORRENT {
                list.pop_front();
            }
            list.push_back(*p);
            new += 1;
        }
        new
    }

    pub(crate) fn get(&self, hash: &[u8; 20]) -> Vec<SocketAddr> {
        self.lock()
            .get(hash)
            .map(|l| l.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn forget(&self, hash: &[u8; 20]) {
        self.lock().remove(hash);
    }
}

/// An address worth dialling.
pub(crate) fn usable(a: &SocketAddr) -> bool {
    a.port() != 0 && !a.ip().is_unspecified() && !a.ip().is_multicast()
}

pub(crate) struct Tracker {
    pub url: String,
}

impl Tracker {
    /// Binds 127.0.0.1:0 and serves until `cancel`; its tasks run on `tasks`.
    pub(crate) async fn start(
        book: Arc<PeerBook>,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let secret = hex::encode(rand::random::<[u8; 16]>());
        let url = format!("http://{addr}/{secret}/announce");
        let path = format!("/{secret}/announce");
        let served = book;
        let conns = tasks.clone();
        tasks.spawn(async move {
            let sem = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                let permit = tokio::select! {
                    _ = cancel.cancelled() => return,
                    p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                };
                let (stream, _) = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!("local tracker accept: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let book = served.clone();
                let path = path.clone();
                conns.spawn(async move {
                    let _permit = permit;
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), serve(stream, &path, &book))
                            .await;
                });
            }
        });
        Ok(Self { url })
    }
}

async fn serve(mut s: TcpStream, path: &str, book: &PeerBook) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_REQUEST {
            return Ok(());
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let (status, body) = match answer(&buf, path, book) {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"d14:failure reason9:not founde".to_vec()),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    s.write_all(&resp).await?;
    s.shutdown().await
}

/// The bencoded answer to `GET <path>?info_hash=...&left=...`, or None for anything else.
pub(crate) fn answer(head: &[u8], path: &str, book: &PeerBook) -> Option<Vec<u8>> {
    let line = head.split(|&c| c == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if parts.next()? != "GET" {
        return None;
    }
    let target = parts.next()?;
    let (p, query) = target.split_once('?')?;
    if p != path {
        return None;
    }
    let mut hash = None;
    let mut seeding = false;
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "info_hash" => {
                let raw = decode_binary(v)?;
                hash = Some(<[u8; 20]>::try_from(raw.as_slice()).ok()?);
            }
            "left" => seeding = v == "0",
            _ => {}
        }
    }
    let peers = book.get(&hash?);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for p in peers {
        match p.ip() {
            IpAddr::V4(ip) => {
                v4.extend_from_slice(&ip.octets());
                v4.extend_from_slice(&p.port().to_be_bytes());
            }
            IpAddr::V6(ip) => {
                v6.extend_from_slice(&ip.octets());
                v6.extend_from_slice(&p.port().to_be_bytes());
            }
        }
    }
    let interval = if seeding {
        INTERVAL_SEEDING
    } else {
        INTERVAL_DOWNLOADING
    };
    let mut out = Vec::with_capacity(64 + v4.len() + v6.len());
    out.push(b'd');
    bencode::put_bytes(&mut out, b"interval");
    bencode::put_int(&mut out, interval as i64);
    bencode::put_bytes(&mut out, b"min interval");
    bencode::put_int(&mut out, interval as i64);
    bencode::put_bytes(&mut out, b"peers");
    bencode::put_bytes(&mut out, &v4);
    bencode::put_bytes(&mut out, b"peers6");
    bencode::put_bytes(&mut out, &v6);
    out.push(b'e');
    Some(out)
}

fn decode_binary(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(20);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
        if out.len() > 20 {
            return None;
        }
    }
    Some(out)
}
