//! Hostile torrents and files, through the real binary: metadata that made librqbit panic,
//! paths that leave the download folder, hidden names, all fetched by `hearth get MAGNET
//! --peer ADDR` from a raw BitTorrent peer that answers ut_metadata (BEP 9, 10) with the
//! hostile info dictionary.

mod kit;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth::server::client::ApiFile;
use kit::HEARTH;
use sha1::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal BitTorrent peer that answers every ut_metadata request with `info` (one piece:
/// the dictionaries here are far below 16 KiB).
async fn metadata_peer(info: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let info = info.clone();
            tokio::spawn(async move {
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).await.is_err() {
                    return;
                }
                let mut reply = hs;
                reply[20..28].copy_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
                reply[48..68].copy_from_slice(b"-XX0001-hostilepeer!");
                let ext = format!("d1:md11:ut_metadatai3ee13:metadata_sizei{}ee", info.len());
                let mut msg = ((ext.len() + 2) as u32).to_be_bytes().to_vec();
                msg.extend_from_slice(&[20, 0]);
                msg.extend_from_slice(ext.as_bytes());
                if s.write_all(&reply).await.is_err() || s.write_all(&msg).await.is_err() {
                    return;
                }
                let mut their_id = 0u8;
                loop {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let len = u32::from_be_bytes(len) as usize;
                    if len > 1 << 20 {
                        return;
                    }
                    let mut body = vec![0u8; len];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if body.len() < 2 || body[0] != 20 {
                        continue;
                    }
                    if body[1] == 0 {
                        // Their extended handshake: the id they want ut_metadata sent under.
                        let key = b"11:ut_metadatai";
                        if let Some(at) = body.windows(key.len()).position(|w| w == key) {
                            let digits: String = body[at + key.len()..]
                                .iter()
                                .take_while(|b| b.is_ascii_digit())
                                .map(|b| *b as char)
                                .collect();
                            their_id = digits.parse().unwrap_or(0);
                        }
                    } else if body[1] == 3 {
                        let mut d =
                            format!("d8:msg_typei1e5:piecei0e10:total_sizei{}ee", info.len())
                                .into_bytes();
                        d.extend_from_slice(&info);
                        let mut m = ((d.len() + 2) as u32).to_be_bytes().to_vec();
                        m.extend_from_slice(&[20, their_id]);
                        m.append(&mut d);
                        if s.write_all(&m).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, task)
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(format!("{}:", b.len()).as_bytes());
    out.extend_from_slice(b);
}

fn int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(format!("i{n}e").as_bytes());
}

/// One file: `d6:lengthi..e4:name..12:piece lengthi..e6:pieces..e` (keys sorted).
fn single(name: &[u8], length: i64, piece_length: i64, pieces: usize) -> Vec<u8> {
    let mut o = b"d".to_vec();
    bytes(&mut o, b"length");
    int(&mut o, length);
    bytes(&mut o, b"name");
    bytes(&mut o, name);
    bytes(&mut o, b"piece length");
    int(&mut o, piece_length);
    bytes(&mut o, b"pieces");
    bytes(&mut o, &vec![7u8; pieces * 20]);
    o.push(b'e');
    o
}

/// A folder `name` holding one 10-byte file at `path`.
fn folder(path: &[&[u8]]) -> Vec<u8> {
    let mut o = b"d".to_vec();
    bytes(&mut o, b"files");
    o.extend_from_slice(b"ld");
    bytes(&mut o, b"length");
    int(&mut o, 10);
    bytes(&mut o, b"path");
    o.push(b'l');
    for c in path {
        bytes(&mut o, c);
    }
    o.extend_from_slice(b"eee");
    bytes(&mut o, b"name");
    bytes(&mut o, b"folder");
    bytes(&mut o, b"piece length");
    int(&mut o, 1 << 18);
    bytes(&mut o, b"pieces");
    bytes(&mut o, &[7u8; 20]);
    o.push(b'e');
    o
}

/// A `hearth run` process, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `hearth run` on `dir` with its log in `dir/node.log`; returns once its API answers.
async fn start_logged(dir: &Path) -> Node {
    std::fs::create_dir_all(dir).unwrap();
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let node = Node(
        Command::new(HEARTH)
            .arg("run")
            .arg("--data-dir")
            .arg(dir)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0"])
            .args(["--bt-port", "0", "--no-mdns"])
            .env("RUST_LOG", "warn,libp2p_kad=error")
            .env_remove("HEARTH_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        if let Ok(api) = ApiFile::read(dir) {
            if api.pid == node.0.id() {
                let client = hearth::server::client::Client::new(&api.url, &api.token);
                if client.status().await.is_ok() {
                    return node;
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every entry under `dir`, recursively (relative paths).
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_from_a_magnet_peer_is_refused_clearly_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let node = start_logged(&dir).await;
    let before = tree(tmp.path());

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "piece length 0",
            single(b"zero", 10, 0, 1),
            "piece length is 0",
        ),
        (
            "total length near 2^62",
            single(b"huge", 1 << 62, 16384, 1),
            "pieces",
        ),
        (
            "piece count mismatch",
            single(b"short", 3 << 18, 1 << 18, 1),
            "piece hashes",
        ),
        ("`..` in a path", folder(&[b"..", b"escape"]), "invalid"),
        ("an absolute path", folder(&[b"/etc/passwd"]), "invalid"),
        ("an empty component", folder(&[b"a", b"", b"b"]), "invalid"),
        (
            "a name starting with a dot",
            single(b".bashrc", 10, 1 << 18, 1),
            "starts with '.'",
        ),
    ];
    for (what, info, expected) in cases {
        let hash = hex::encode(sha1::Sha1::digest(&info));
        let (peer, task) = metadata_peer(info).await;
        let out = Command::new(HEARTH)
            .arg("--data-dir")
            .arg(&dir)
            .args(["get", &format!("magnet:?xt=urn:btih:{hash}")])
            .args(["--peer", &peer.to_string()])
            .output()
            .unwrap();
        task.abort();
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{what}: {}", stderr.trim());
        assert!(!out.status.success(), "{what}: accepted");
        assert!(
            stderr.contains(expected),
            "{what}: the error should say {expected:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }

    let log = std::fs::read_to_string(dir.join("node.log")).unwrap();
    assert!(
        !log.contains("panicked"),
        "the node's log shows a panic:\n{log}"
    );
    // Nothing was written for any of them, inside the download folder or next to it.
    let after: Vec<String> = tree(tmp.path())
        .into_iter()
        .filter(|p| !before.contains(p) && !p.starts_with("node/"))
        .collect();
    assert!(
        after.is_empty(),
        "new files outside the node's folder: {after:?}"
    );
    assert_eq!(tree(&dir.join("downloads")), Vec::<String>::new());
    drop(node);
}
