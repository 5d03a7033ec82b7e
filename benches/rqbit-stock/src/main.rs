//! Stock librqbit 9.1.0 for the transfer benchmark (`benches/transfer.rs`): one librqbit
//! session per process, driven by lines on stdin, the baseline Hearth is measured against.
//!
//! - `rqbit-stock node [UPLOAD_LIMIT_BPS]`: default `SessionOptions` except no DHT, no
//!   persistence, no local service discovery and a TCP listener on 127.0.0.1. Prints
//!   `listen <addr>`, then answers:
//!   `seed <torrent> <folder>` -> `ready`;
//!   `get <torrent> <folder> <peer,peer,...>` -> `done <first byte unix ns> <finished unix ns>`;
//!   `stats` -> `stats <uploaded> <have> <finished> <live peers>`.
//! - `rqbit-stock create <file> <out.torrent> [PIECE_LENGTH]`: `librqbit::create_torrent` with
//!   its defaults (2 MiB pieces) unless a piece length is given; prints the info hash.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use librqbit::{
    AddTorrent, AddTorrentOptions, ListenerOptions, ManagedTorrent, Session, SessionOptions,
};
use tokio::io::AsyncBufReadExt;

/// Poll interval for completion, as the benchmark polls Hearth.
const POLL: Duration = Duration::from_millis(20);

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn say(s: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

async fn node(upload_limit_bps: Option<u32>) {
    let opts = SessionOptions {
        ratelimits: librqbit::limits::LimitsConfig {
            upload_bps: upload_limit_bps.and_then(std::num::NonZeroU32::new),
            download_bps: None,
        },
        dht: None,
        persistence: None,
        fastresume: false,
        disable_local_service_discovery: true,
        listen: Some(ListenerOptions {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ipv4_only: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let session = Session::new_with_opts(std::env::temp_dir(), opts)
        .await
        .expect("librqbit session");
    say(format!(
        "listen {}",
        session.listen_addr().expect("listen addr")
    ));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut handle: Option<Arc<ManagedTorrent>> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.first().copied() {
            Some("seed") | Some("get") => {
                let seed = w[0] == "seed";
                let torrent = std::fs::read(w[1]).expect("read .torrent");
                let peers: Vec<SocketAddr> = w
                    .get(3)
                    .map(|p| p.split(',').map(|a| a.parse().unwrap()).collect())
                    .unwrap_or_default();
                let opts = AddTorrentOptions {
                    overwrite: seed,
                    output_folder: Some(w[2].to_owned()),
                    initial_peers: Some(peers),
                    ..Default::default()
                };
                let h = session
                    .add_torrent(AddTorrent::from_bytes(torrent), Some(opts))
                    .await
                    .expect("librqbit add_torrent")
                    .into_handle()
                    .expect("librqbit handle");
                handle = Some(h.clone());
                if seed {
                    h.wait_until_initialized().await.expect("librqbit check");
                    assert!(h.stats().finished, "librqbit seeder: data incomplete");
                    say("ready".into());
                } else {
                    tokio::spawn(async move {
                        let mut first = None;
                        loop {
                            let st = h.stats();
                            if let Some(e) = st.error {
                                eprintln!("librqbit download failed: {e}");
                                std::process::exit(1);
                            }
                            if first.is_none() && st.progress_bytes > 0 {
                                first = Some(now_ns());
                            }
                            if st.finished {
                                let done = now_ns();
                                say(format!("done {} {done}", first.unwrap_or(done)));
                                return;
                            }
                            tokio::time::sleep(POLL).await;
                        }
                    });
                }
            }
            Some("stats") => {
                let st = handle.as_ref().expect("no torrent").stats();
                let live = st.live.as_ref().map_or(0, |l| l.snapshot.peer_stats.live);
                say(format!(
                    "stats {} {} {} {live}",
                    st.uploaded_bytes, st.progress_bytes, st.finished
                ));
            }
            _ => panic!("unknown command {line:?}"),
        }
    }
}

async fn create(file: &str, out: &str, piece_length: Option<u32>) {
    let spawner = librqbit::spawn_utils::BlockingSpawner::new(1);
    let opts = librqbit::CreateTorrentOptions {
        piece_length,
        ..Default::default()
    };
    let t = librqbit::create_torrent(std::path::Path::new(file), opts, &spawner)
        .await
        .expect("librqbit create_torrent");
    std::fs::write(out, t.as_bytes().unwrap()).expect("write .torrent");
    say(t.info_hash().as_string());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    // Like `hearth run`: tokio's default multi-thread runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match arg(0) {
        Some("node") => {
            let cap = arg(1).map(|a| a.parse().expect("upload limit (bytes/s)"));
            rt.block_on(node(cap));
        }
        Some("create") => {
            let (Some(file), Some(out)) = (arg(1), arg(2)) else {
                panic!("usage: rqbit-stock create <file> <out.torrent> [piece length]");
            };
            let pl = arg(3).map(|a| a.parse().expect("piece length"));
            rt.block_on(create(file, out, pl));
        }
        _ => {
            eprintln!(
                "usage: rqbit-stock node [upload limit] | create <file> <out> [piece length]"
            );
            std::process::exit(2);
        }
    }
}
