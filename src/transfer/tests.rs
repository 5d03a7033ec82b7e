//! Real librqbit sessions on 127.0.0.1 in temporary folders, plus aria2c for interop.
//!
//! Over 1,200 lines on purpose: every test drives the one `Transfer` type through the same
//! small set of helpers (sessions, seeded files, waits) at the top of this file.

use super::*;
use std::{future::Future, net::TcpListener as StdListener, time::Instant};
use tempfile::TempDir;

mod window;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Polls `cond` every 50 ms until it holds; panics after `timeout`.
async fn eventually<F: FnMut() -> bool>(timeout: Duration, what: &str, mut cond: F) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Async variant of [`eventually`].
async fn eventually_async<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

struct Node {
    t: Transfer,
    cancel: CancellationToken,
    dir: PathBuf,
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

impl Node {
    async fn start(dir: &Path) -> Node {
        init_logs();
        let cfg = TransferConfig {
            listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ..TransferConfig::new(dir.join("state"), dir.join("downloads"))
        };
        let cancel = CancellationToken::new();
        let t = Transfer::start(cfg, &TaskTracker::new(), cancel.clone())
            .await
            .expect("start transfer");
        assert_ne!(t.bt_port(), 0);
        Node {
            t,
            cancel,
            dir: dir.to_path_buf(),
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.t.bt_port()))
    }

    fn stats(&self, hash: &str) -> TransferStats {
        self.t.stats(hash).expect("torrent is listed")
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.t.shutdown().await;
    }
}

/// Writes `data` as `<dir>/src/<name>` and returns the path.
fn source_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let d = dir.join("src");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

async fn wait_finished(n: &Node, hash: &str, timeout: Duration) {
    eventually(timeout, "download to finish", || {
        n.t.stats(hash).is_some_and(|s| s.finished)
    })
    .await;
}

fn free_port() -> u16 {
    StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// 1. One seeder, one downloader, 20 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_one_seeder() {
    let tmp = TempDir::new().unwrap();
    let seeder = Node::start(&tmp.path().join("seeder")).await;
    let leecher = Node::start(&tmp.path().join("leecher")).await;
    let data = random_bytes(20_000_000, 1);
    let src = source_file(&seeder.dir, "video.bin", &data);

    let p = seeder.t.publish(&src).await.unwrap();
    assert_eq!(p.info_hash.len(), 40);
    assert_eq!(p.total_size, data.len() as u64);
    assert_eq!(
        p.files,
        vec![FileEntry {
            path: "video.bin".into(),
            size: 20_000_000
        }]
    );
    assert!(p.magnet.starts_with(&format!(
        "magnet:?xt=urn:btih:{}&dn=video.bin&xl=20000000",
        p.info_hash
    )));
    assert_eq!(seeder.stats(&p.info_hash).state, TransferState::Seeding);
    // Seeded in place, nothing copied.
    assert_eq!(
        seeder.t.file_path(&p.info_hash).unwrap(),
        std::fs::canonicalize(&src).unwrap()
    );
    assert_eq!(seeder.t.torrent_bytes(&p.info_hash).unwrap(), p.torrent);

    let hash = leecher
        .t
        .download(&p.torrent, vec![seeder.addr()])
        .await
        .unwrap();
    assert_eq!(hash, p.info_hash);
    wait_finished(&leecher, &hash, Duration::from_secs(30)).await;
    let path = leecher.t.file_path(&hash).unwrap();
    assert!(path.starts_with(std::fs::canonicalize(leecher.dir.join("downloads")).unwrap()));
    assert!(
        std::fs::read(&path).unwrap() == data,
        "downloaded bytes differ"
    );
    // Downloaders seed.
    eventually(Duration::from_secs(5), "seeding state", || {
        leecher.stats(&hash).state == TransferState::Seeding
    })
    .await;
    // Adding it again is harmless; the original is never deleted by remove().
    assert_eq!(leecher.t.download(&p.torrent, vec![]).await.unwrap(), hash);
    seeder.t.remove(&p.info_hash, true).await.unwrap();
    assert!(
        src.exists(),
        "remove(delete_files) must not delete a published original"
    );
    assert!(seeder.t.stats(&p.info_hash).is_none());
    leecher.t.remove(&hash, true).await.unwrap();
    assert!(
        !path.exists(),
        "remove(delete_files) deletes downloaded data"
    );
    seeder.stop().await;
    leecher.stop().await;
}

// 2. Two holders at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_two_seeders() {
    let tmp = TempDir::new().unwrap();
    let a = Node::start(&tmp.path().join("a")).await;
    let b = Node::start(&tmp.path().join("b")).await;
    let d = Node::start(&tmp.path().join("d")).await;
    let data = random_bytes(24 * MIB, 2);
    let pa =
        a.t.publish(&source_file(&a.dir, "shared.bin", &data))
            .await
            .unwrap();
    let pb =
        b.t.publish(&source_file(&b.dir, "shared.bin", &data))
            .await
            .unwrap();
    assert_eq!(
        pa.info_hash, pb.info_hash,
        "same content and name, same torrent"
    );

    let hash =
        d.t.download(&pa.torrent, vec![a.addr(), b.addr()])
            .await
            .unwrap();
    wait_finished(&d, &hash, Duration::from_secs(30)).await;
    assert!(std::fs::read(d.t.file_path(&hash).unwrap()).unwrap() == data);
    let (ua, ub) = (a.stats(&hash).uploaded_bytes, b.stats(&hash).uploaded_bytes);
    assert!(
        ua > 0 && ub > 0,
        "both seeders should upload: {ua} and {ub}"
    );
    assert!(ua + ub >= data.len() as u64);
    for n in [a, b, d] {
        n.stop().await;
    }
}

// 3. Sizes that are exact multiples of the piece length (librqbit's create_torrent adds an
//    extra piece hash there; ours must not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_multiple_sizes() {
    let tmp = TempDir::new().unwrap();
    let seeder = Node::start(&tmp.path().join("seeder")).await;
    let leecher = Node::start(&tmp.path().join("leecher")).await;
    for (i, (size, pieces)) in [
        (4 * 256 * KIB, 4u32),
        (256 * KIB, 1),
        (8 * 256 * KIB + 1, 9),
    ]
    .into_iter()
    .enumerate()
    {
        let data = random_bytes(size, 10 + i as u64);
        let p = seeder
            .t
            .publish(&source_file(&seeder.dir, &format!("exact{i}.bin"), &data))
            .await
            .unwrap();
        let m = validate_metainfo(&p.torrent).unwrap();
        assert_eq!(p.piece_length, 256 * KIB as u32);
        assert_eq!(m.piece_count, pieces);
        assert_eq!(
            m.piece_count as u64,
            (size as u64).div_ceil(p.piece_length as u64)
        );
        let hash = leecher
            .t
            .download(&p.torrent, vec![seeder.addr()])
            .await
            .unwrap();
        wait_finished(&leecher, &hash, Duration::from_secs(20)).await;
        assert!(std::fs::read(leecher.t.file_path(&hash).unwrap()).unwrap() == data);
    }
    // A folder, too.
    let folder = seeder.dir.join("album");
    std::fs::create_dir_all(folder.join("disc 1")).unwrap();
    std::fs::write(
        folder.join("disc 1").join("a.bin"),
        random_bytes(256 * KIB, 20),
    )
    .unwrap();
    std::fs::write(folder.join("b.txt"), b"hello").unwrap();
    let p = seeder.t.publish(&folder).await.unwrap();
    assert_eq!(p.name, "album");
    assert_eq!(
        p.files,
        vec![
            FileEntry {
                path: "b.txt".into(),
                size: 5
            },
            FileEntry {
                path: "disc 1/a.bin".into(),
                size: 256 * KIB as u64
            },
        ]
    );
    let hash = leecher
        .t
        .download(&p.torrent, vec![seeder.addr()])
        .await
        .unwrap();
    wait_finished(&leecher, &hash, Duration::from_secs(20)).await;
    let got = leecher.t.file_path(&hash).unwrap();
    assert_eq!(std::fs::read(got.join("b.txt")).unwrap(), b"hello");
    seeder.stop().await;
    leecher.stop().await;
}

/// Makes `node` hold only the first `have` bytes of `p` (the rest zeroed) and seed them.
async fn partial_holder(node: &Node, p: &Published, data: &[u8], have: usize) {
    let mut partial = data.to_vec();
    partial[have..].fill(0);
    let dl = node.dir.join("downloads");
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(dl.join(&p.name), &partial).unwrap();
    let (vm, span) = meta::validate_with_span(&p.torrent).unwrap();
    let minimal = meta::minimal_torrent(&p.torrent, span);
    node.t
        .add_validated(vm, minimal, vec![], true)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "partial holder to check its data",
        || {
            node.t
                .stats(&p.info_hash)
                .is_some_and(|s| s.state == TransferState::Downloading)
        },
    )
    .await;
    assert_eq!(node.stats(&p.info_hash).have_bytes, have as u64);
}

// 4. Restart: the partial download comes back with its pieces (no rehash) and finishes later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_without_rehash() {
    let tmp = TempDir::new().unwrap();
    let full = Node::start(&tmp.path().join("full")).await;
    let half = Node::start(&tmp.path().join("half")).await;
    let data = random_bytes(8 * MIB, 4);
    let p = full
        .t
        .publish(&source_file(&full.dir, "movie.bin", &data))
        .await
        .unwrap();
    let m = validate_metainfo(&p.torrent).unwrap();
    let pl = p.piece_length as usize;
    let half_bytes = (m.piece_count as usize / 2) * pl;

    partial_holder(&half, &p, &data, half_bytes).await;
    assert_eq!(half.stats(&p.info_hash).have_bytes, half_bytes as u64);

    // Download from the partial holder only: stops at exactly half.
    let dir = tmp.path().join("leecher");
    let leecher = Node::start(&dir).await;
    let hash = leecher
        .t
        .download(&p.torrent, vec![half.addr()])
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "half of the data", || {
        leecher.stats(&hash).have_bytes == half_bytes as u64
    })
    .await;
    assert!(!leecher.stats(&hash).finished);
    let file = leecher.t.file_path(&hash).unwrap();
    // The fastresume bitfield on disk catches up within seconds (what a kill -9 relies on;
    // librqbit alone writes it only every 16 MiB).
    let bitv = dir
        .join("state")
        .join(SESSION_DIR)
        .join(format!("{hash}.bitv"));
    eventually(
        Duration::from_secs(5),
        "fastresume bitfield on disk",
        || std::fs::read(&bitv).is_ok_and(|b| have_from_bitfield(&b, &m) == half_bytes as u64),
    )
    .await;
    leecher.stop().await;

    // Put one valid piece of the missing half on disk behind librqbit's back: a full rehash
    // would find it, fastresume does not look.
    {
        use std::io::{Seek, SeekFrom, Write};
        let k = m.piece_count as usize - 2;
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.seek(SeekFrom::Start((k * pl) as u64)).unwrap();
        f.write_all(&data[k * pl..(k + 1) * pl]).unwrap();
    }

    let started = Instant::now();
    let leecher = Node::start(&dir).await;
    let s = leecher
        .t
        .stats(&hash)
        .expect("torrent restored after restart");
    assert_eq!(
        s.have_bytes, half_bytes as u64,
        "have_bytes right after restart: {s:?}"
    );
    assert_eq!(leecher.t.list().len(), 1);
    eventually(Duration::from_secs(10), "restored torrent to start", || {
        leecher.stats(&hash).state != TransferState::Initializing
    })
    .await;
    assert_eq!(
        leecher.stats(&hash).have_bytes,
        half_bytes as u64,
        "a rehash would have found the extra piece"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A full holder appears later.
    leecher.t.add_peers(&hash, vec![full.addr()]).await.unwrap();
    wait_finished(&leecher, &hash, Duration::from_secs(30)).await;
    assert!(std::fs::read(&file).unwrap() == data);
    for n in [full, half, leecher] {
        n.stop().await;
    }
}

/// Tiny bencode builder for crafted torrents.
enum B {
    I(i64),
    S(Vec<u8>),
    L(Vec<B>),
    D(Vec<(&'static str, B)>),
}

fn s(x: impl AsRef<[u8]>) -> B {
    B::S(x.as_ref().to_vec())
}

fn enc(b: &B, out: &mut Vec<u8>) {
    match b {
        B::I(n) => bencode::put_int(out, *n),
        B::S(v) => bencode::put_bytes(out, v),
        B::L(l) => {
            out.push(b'l');
            l.iter().for_each(|x| enc(x, out));
            out.push(b'e');
        }
        B::D(d) => {
            let mut d: Vec<_> = d.iter().collect();
            d.sort_by_key(|(k, _)| *k);
            out.push(b'd');
            for (k, v) in d {
                bencode::put_bytes(out, k.as_bytes());
                enc(v, out);
            }
            out.push(b'e');
        }
    }
}

fn torrent(info: Vec<(&'static str, B)>) -> Vec<u8> {
    let mut out = Vec::new();
    enc(
        &B::D(vec![
            ("announce", s("http://tracker.invalid/a")),
            ("info", B::D(info)),
        ]),
        &mut out,
    );
    out
}

const PL: i64 = 256 * 1024;

fn single(name: impl AsRef<[u8]>, len: i64, pl: i64, pieces: usize) -> Vec<u8> {
    torrent(vec![
        ("name", s(name)),
        ("length", B::I(len)),
        ("piece length", B::I(pl)),
        ("pieces", B::S(vec![7u8; pieces * 20])),
    ])
}

fn multi(files: Vec<(Vec<&[u8]>, i64)>) -> Vec<u8> {
    let total: i64 = files
        .iter()
        .map(|(_, l)| *l)
        .fold(0i64, |a, b| a.saturating_add(b));
    let pieces = if total > 0 {
        (total as u64).div_ceil(PL as u64) as usize
    } else {
        0
    };
    let files = files
        .into_iter()
        .map(|(p, l)| {
            B::D(vec![
                ("length", B::I(l)),
                ("path", B::L(p.into_iter().map(s).collect())),
            ])
        })
        .collect();
    torrent(vec![
        ("name", s("folder")),
        ("files", B::L(files)),
        ("piece length", B::I(PL)),
        ("pieces", B::S(vec![7u8; pieces.min(1000) * 20])),
    ])
}

fn path_case(component: &[u8]) -> Vec<u8> {
    multi(vec![(vec![b"ok", component], 10)])
}

fn bad(problem: PathProblem) -> impl Fn(&MetaError) -> bool {
    move |e| matches!(e, MetaError::UnsafePath { problem: p, .. } if *p == problem)
}

// 5. Hostile metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_is_rejected() {
    type Check = Box<dyn Fn(&MetaError) -> bool>;
    let many: Vec<(Vec<&[u8]>, i64)> = Vec::new();
    let names: Vec<String> = (0..=MAX_FILES).map(|i| format!("f{i}")).collect();
    let mut too_many = many;
    for n in &names {
        too_many.push((vec![n.as_bytes()], 1));
    }
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "not bencode",
            b"this is not a torrent".to_vec(),
            Box::new(|e| matches!(e, MetaError::NotBencode(_))),
        ),
        (
            "truncated",
            single("a", 10, PL, 1)[..40].to_vec(),
            Box::new(|e| matches!(e, MetaError::NotBencode(_))),
        ),
        (
            "trailing junk",
            [single("a", 10, PL, 1), b"xx".to_vec()].concat(),
            Box::new(|e| matches!(e, MetaError::NotBencode(_))),
        ),
        (
            "no info",
            {
                let mut o = Vec::new();
                enc(&B::D(vec![("announce", s("x"))]), &mut o);
                o
            },
            Box::new(|e| *e == MetaError::MissingField("info")),
        ),
        (
            "no name",
            torrent(vec![
                ("length", B::I(1)),
                ("piece length", B::I(PL)),
                ("pieces", B::S(vec![0; 20])),
            ]),
            Box::new(|e| *e == MetaError::MissingField("name")),
        ),
        (
            "no pieces",
            torrent(vec![
                ("name", s("a")),
                ("length", B::I(1)),
                ("piece length", B::I(PL)),
            ]),
            Box::new(|e| *e == MetaError::MissingField("pieces")),
        ),
        (
            "piece length 0",
            single("a", 10, 0, 1),
            Box::new(|e| *e == MetaError::BadPieceLength(0)),
        ),
        (
            "piece length not a power of two",
            single("a", 10, 3 * 16384, 1),
            Box::new(|e| *e == MetaError::BadPieceLength(49152)),
        ),
        (
            "piece length > 64 MiB",
            single("a", 10, 128 << 20, 1),
            Box::new(|e| *e == MetaError::BadPieceLength(128 << 20)),
        ),
        (
            "piece length < 16 KiB",
            single("a", 10, 8192, 1),
            Box::new(|e| *e == MetaError::BadPieceLength(8192)),
        ),
        (
            "negative piece length",
            single("a", 10, -PL, 1),
            Box::new(|e| *e == MetaError::BadPieceLength(-PL)),
        ),
        (
            "extra piece hash (librqbit create_torrent bug)",
            single("a", 4 * PL, PL, 5),
            Box::new(|e| {
                *e == MetaError::PieceCountMismatch {
                    expected: 4,
                    actual: 5,
                }
            }),
        ),
        (
            "missing piece hash",
            single("a", 4 * PL + 1, PL, 4),
            Box::new(|e| {
                *e == MetaError::PieceCountMismatch {
                    expected: 5,
                    actual: 4,
                }
            }),
        ),
        (
            "pieces not multiple of 20",
            torrent(vec![
                ("name", s("a")),
                ("length", B::I(1)),
                ("piece length", B::I(PL)),
                ("pieces", B::S(vec![0; 21])),
            ]),
            Box::new(|e| *e == MetaError::BadPiecesField(21)),
        ),
        (
            "size sum overflows u64",
            multi(vec![
                (vec![b"a"], i64::MAX),
                (vec![b"b"], i64::MAX),
                (vec![b"c"], i64::MAX),
            ]),
            Box::new(|e| *e == MetaError::SizeOverflow),
        ),
        (
            "negative size",
            single("a", -5, PL, 1),
            Box::new(|e| *e == MetaError::NegativeLength),
        ),
        (
            "over 1 TiB",
            single("a", (1i64 << 40) + 1, 64 << 20, 16385),
            Box::new(|e| matches!(e, MetaError::TooBig { .. })),
        ),
        (
            "zero bytes",
            single("a", 0, PL, 0),
            Box::new(|e| *e == MetaError::Empty),
        ),
        (
            "too many files",
            multi(too_many),
            Box::new(
                |e| matches!(e, MetaError::TooManyFiles { count, .. } if *count == MAX_FILES + 1),
            ),
        ),
        (
            "both length and files",
            torrent(vec![
                ("name", s("a")),
                ("length", B::I(1)),
                ("files", B::L(vec![])),
                ("piece length", B::I(PL)),
                ("pieces", B::S(vec![0; 20])),
            ]),
            Box::new(|e| *e == MetaError::AmbiguousLayout),
        ),
        (
            "neither length nor files",
            torrent(vec![
                ("name", s("a")),
                ("piece length", B::I(PL)),
                ("pieces", B::S(vec![0; 20])),
            ]),
            Box::new(|e| *e == MetaError::AmbiguousLayout),
        ),
        (
            "name too long",
            single("n".repeat(256), 10, PL, 1),
            Box::new(|e| *e == MetaError::NameTooLong(256)),
        ),
        (
            "name ..",
            single("..", 10, PL, 1),
            Box::new(bad(PathProblem::DotDot)),
        ),
        (
            "name absolute",
            single("/etc/passwd", 10, PL, 1),
            Box::new(bad(PathProblem::Separator)),
        ),
        (
            "name drive",
            single("C:evil", 10, PL, 1),
            Box::new(bad(PathProblem::DrivePrefix)),
        ),
        (
            "name reserved",
            single("con", 10, PL, 1),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "empty path list",
            multi(vec![(vec![], 10)]),
            Box::new(bad(PathProblem::Empty)),
        ),
        (
            "empty component",
            path_case(b""),
            Box::new(bad(PathProblem::Empty)),
        ),
        ("dot", path_case(b"."), Box::new(bad(PathProblem::Dot))),
        (
            "dotdot",
            path_case(b".."),
            Box::new(bad(PathProblem::DotDot)),
        ),
        (
            "absolute",
            path_case(b"/etc"),
            Box::new(bad(PathProblem::Separator)),
        ),
        (
            "slash",
            path_case(b"a/b"),
            Box::new(bad(PathProblem::Separator)),
        ),
        (
            "backslash",
            path_case(b"..\\..\\x"),
            Box::new(bad(PathProblem::Separator)),
        ),
        ("nul", path_case(b"a\0b"), Box::new(bad(PathProblem::Nul))),
        (
            "control char",
            path_case(b"a\x1b[31mb"),
            Box::new(bad(PathProblem::ControlChar)),
        ),
        (
            "C1 control char",
            path_case("a\u{85}b".as_bytes()),
            Box::new(bad(PathProblem::ControlChar)),
        ),
        (
            "drive prefix",
            path_case(b"C:evil"),
            Box::new(bad(PathProblem::DrivePrefix)),
        ),
        (
            "drive alone",
            path_case(b"d:"),
            Box::new(bad(PathProblem::DrivePrefix)),
        ),
        (
            "stream colon",
            path_case(b"file:stream"),
            Box::new(bad(PathProblem::Colon)),
        ),
        (
            "CON",
            path_case(b"CON"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "con.txt",
            path_case(b"con.txt"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "Nul.tar.gz",
            path_case(b"Nul.tar.gz"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "aux trailing dot",
            path_case(b"aux."),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "COM1",
            path_case(b"COM1"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "com9.log",
            path_case(b"com9.log"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "LPT1",
            path_case(b"LPT1"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "lpt9 with space",
            path_case(b"lpt9 .txt"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "prn",
            path_case(b"Prn"),
            Box::new(bad(PathProblem::Reserved)),
        ),
        (
            "not utf-8",
            path_case(b"\xff\xfe"),
            Box::new(bad(PathProblem::NotUtf8)),
        ),
        (
            "component too long",
            path_case("x".repeat(256).as_bytes()),
            Box::new(bad(PathProblem::TooLong)),
        ),
        (
            "too deep",
            multi(vec![(vec![b"d"; MAX_PATH_DEPTH_TEST + 1], 10)]),
            Box::new(bad(PathProblem::TooDeep)),
        ),
        (
            "case collision",
            multi(vec![(vec![b"Readme.txt"], 1), (vec![b"README.TXT"], 1)]),
            Box::new(|e| matches!(e, MetaError::CaseCollision { .. })),
        ),
        (
            "case collision in folder",
            multi(vec![(vec![b"Dir", b"a"], 1), (vec![b"dir", b"A"], 1)]),
            Box::new(|e| matches!(e, MetaError::CaseCollision { .. })),
        ),
        (
            "duplicate path",
            multi(vec![(vec![b"a"], 1), (vec![b"a"], 1)]),
            Box::new(|e| matches!(e, MetaError::CaseCollision { .. })),
        ),
        (
            "trailing dot collision",
            multi(vec![(vec![b"a."], 1), (vec![b"a"], 1)]),
            Box::new(|e| matches!(e, MetaError::CaseCollision { .. })),
        ),
        (
            "file and folder",
            multi(vec![(vec![b"a"], 1), (vec![b"A", b"b"], 1)]),
            Box::new(|e| matches!(e, MetaError::FileFolderConflict(_))),
        ),
        (
            "oversized file",
            vec![b'x'; MAX_TORRENT_FILE_BYTES + 1],
            Box::new(|e| matches!(e, MetaError::FileTooLarge { .. })),
        ),
    ];

    let tmp = TempDir::new().unwrap();
    let node = Node::start(&tmp.path().join("n")).await;
    let downloads = node.dir.join("downloads");
    for (what, bytes, check) in &cases {
        match validate_metainfo(bytes) {
            Ok(m) => panic!("{what}: accepted {m:?}"),
            Err(e) => assert!(check(&e), "{what}: wrong error {e:?}"),
        }
        match node
            .t
            .download(bytes, vec![SocketAddr::from(([127, 0, 0, 1], 9))])
            .await
        {
            Err(TransferError::Meta(e)) => assert!(check(&e), "{what}: wrong error {e:?}"),
            other => panic!("{what}: download gave {other:?}"),
        }
    }
    assert!(node.t.list().is_empty());
    assert_eq!(
        std::fs::read_dir(&downloads).unwrap().count(),
        0,
        "nothing written to downloads"
    );
    let session_files: Vec<_> = std::fs::read_dir(node.dir.join("state").join(SESSION_DIR))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| {
            n.to_string_lossy().ends_with(".torrent") || n.to_string_lossy().ends_with(".bitv")
        })
        .collect();
    assert!(session_files.is_empty(), "{session_files:?}");
    // Control: a sane torrent with the same helpers is accepted.
    let ok = multi(vec![(vec![b"docs", b"a.txt"], 10), (vec![b"b.txt"], 20)]);
    let m = validate_metainfo(&ok).unwrap();
    assert_eq!(m.files.len(), 2);
    assert_eq!(m.total_size, 30);
    node.stop().await;
}

const MAX_PATH_DEPTH_TEST: usize = meta::MAX_PATH_DEPTH;

#[test]
fn info_hash_is_sha1_of_exact_info_bytes() {
    // Hashing uses the info bytes as given (here with a key of ours we do not read), not a
    // re-encoding.
    let info =
        b"d6:lengthi5e4:name1:a12:piece lengthi262144e6:pieces20:aaaaaaaaaaaaaaaaaaaa1:zi0ee";
    let t = [&b"d4:info"[..], info, b"e"].concat();
    let m = validate_metainfo(&t).unwrap();
    assert_eq!(
        m.info_hash,
        hex::encode(<sha1::Sha1 as sha1::Digest>::digest(info))
    );
    // Keys out of order (BEP 3 wants them sorted): refused.
    let unsorted = b"d6:lengthi5e12:piece lengthi262144e4:name1:a6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let t = [&b"d4:info"[..], unsorted, b"e"].concat();
    assert!(matches!(
        validate_metainfo(&t),
        Err(MetaError::NotBencode(_))
    ));
}

#[test]
fn magnets_and_tracker_answers() {
    let h = "0123456789abcdef0123456789abcdef01234567";
    let m = meta::parse_magnet(&meta::magnet_uri(h, "a b/é", 5)).unwrap();
    assert_eq!(hex::encode(m.info_hash), h);
    assert_eq!(m.name.as_deref(), Some("a b/é"));
    let m = meta::parse_magnet(&format!(
        "magnet:?xt=urn:btih:{}&x.pe=127.0.0.1:7000&x.pe=bad",
        h.to_uppercase()
    ))
    .unwrap();
    assert_eq!(m.peers, vec!["127.0.0.1:7000".parse().unwrap()]);
    let b32 = meta::parse_magnet("magnet:?xt=urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH").unwrap();
    assert_eq!(hex::encode(b32.info_hash), h);
    assert!(meta::parse_magnet("magnet:?dn=x").is_err());
    assert!(meta::parse_magnet("http://x").is_err());

    let book = tracker::PeerBook::default();
    let id = [7u8; 20];
    book.add(
        id,
        &[
            "10.0.0.1:6881".parse().unwrap(),
            "[::1]:7000".parse().unwrap(),
            "0.0.0.0:1".parse().unwrap(),
        ],
    );
    let q = format!(
        "GET /s/announce?info_hash={}&left=0 HTTP/1.1\r\n\r\n",
        "%07".repeat(20)
    );
    let a = tracker::answer(q.as_bytes(), "/s/announce", &book).unwrap();
    let v = bencode::parse(&a).unwrap();
    assert!(
        matches!(v.get(b"peers"), Some(bencode::Value::Bytes(b)) if *b == [10, 0, 0, 1, 0x1a, 0xe1])
    );
    assert!(matches!(v.get(b"peers6"), Some(bencode::Value::Bytes(b)) if b.len() == 18));
    assert!(matches!(v.get(b"interval"), Some(bencode::Value::Int(60))));
    assert!(tracker::answer(q.as_bytes(), "/other/announce", &book).is_none());
}

fn aria2c() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("aria2c"))
            .find(|p| p.is_file())
    });
    found.expect("aria2c is required for the interop tests (Debian: apt-get install aria2)")
}

fn aria2_base() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(aria2c());
    c.args([
        "--no-conf=true",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--file-allocation=none",
    ])
    .kill_on_drop(true)
    .stdin(std::process::Stdio::null());
    c
}

// 6a. A standard client (aria2) downloads what Hearth publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2_downloads_from_hearth() {
    let tmp = TempDir::new().unwrap();
    let seeder = Node::start(&tmp.path().join("seeder")).await;
    // An exact multiple of the piece length: the size standard clients rejected.
    let data = random_bytes(16 * 256 * KIB, 61);
    let p = seeder
        .t
        .publish(&source_file(&seeder.dir, "from hearth.bin", &data))
        .await
        .unwrap();
    let tfile = tmp.path().join("x.torrent");
    std::fs::write(&tfile, &p.torrent).unwrap();

    // aria2 has no option for a peer address, so it gets a tracker that names the seeder.
    let book = Arc::new(tracker::PeerBook::default());
    let mut hash = [0u8; 20];
    hex::decode_to_slice(&p.info_hash, &mut hash).unwrap();
    book.add(hash, &[seeder.addr()]);
    let tracker_token = CancellationToken::new();
    let tr = tracker::Tracker::start(book, &TaskTracker::new(), tracker_token.clone())
        .await
        .unwrap();

    let out = tmp.path().join("aria2-out");
    let mut cmd = aria2_base();
    cmd.arg(format!("--dir={}", out.display()))
        .arg(format!("--bt-tracker={}", tr.url))
        .arg(format!("--listen-port={}", free_port()))
        .arg("--seed-time=0")
        .arg(&tfile);
    let res = tokio::time::timeout(Duration::from_secs(40), cmd.output())
        .await
        .expect("aria2c timed out")
        .unwrap();
    assert!(
        res.status.success(),
        "aria2c failed: {}\n{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(std::fs::read(out.join("from hearth.bin")).unwrap() == data);
    assert!(seeder.stats(&p.info_hash).uploaded_bytes >= data.len() as u64);
    tracker_token.cancel();
    seeder.stop().await;
}

// 6b. Hearth downloads, by magnet, what aria2 seeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_downloads_from_aria2_by_magnet() {
    let tmp = TempDir::new().unwrap();
    let data = random_bytes(6 * MIB + 123, 62);
    let seed_dir = tmp.path().join("aria2-seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let src = seed_dir.join("from aria2.bin");
    std::fs::write(&src, &data).unwrap();
    let built = meta::build_torrent(&src, &CancellationToken::new()).unwrap();
    let tfile = tmp.path().join("y.torrent");
    std::fs::write(&tfile, &built.torrent).unwrap();

    let port = free_port();
    let mut cmd = aria2_base();
    cmd.arg(format!("--dir={}", seed_dir.display()))
        .arg(format!("--listen-port={port}"))
        .args(["-V", "--seed-ratio=0.0", "--bt-seed-unverified=false"])
        .arg(&tfile)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    eventually_async(Duration::from_secs(15), "aria2c to listen", || async {
        tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
    })
    .await;

    let node = Node::start(&tmp.path().join("hearth")).await;
    let magnet = meta::magnet_uri(
        &built.meta.info_hash,
        &built.meta.name,
        built.meta.total_size,
    );
    let aria = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let hash = node.t.download_magnet(&magnet, vec![aria]).await.unwrap();
    assert_eq!(hash, built.meta.info_hash);
    wait_finished(&node, &hash, Duration::from_secs(30)).await;
    assert!(std::fs::read(node.t.file_path(&hash).unwrap()).unwrap() == data);
    // What we serve to other Hearth peers is the validated info dictionary.
    let served = node.t.torrent_bytes(&hash).unwrap();
    assert_eq!(validate_metainfo(&served).unwrap().info_hash, hash);
    let _ = child.kill().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_original_is_not_touched_after_restart() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("n");
    let node = Node::start(&dir).await;
    let data = random_bytes(300 * KIB, 7);
    let src = source_file(&dir, "notes.bin", &data);
    let p = node.t.publish(&src).await.unwrap();
    node.stop().await;

    // The user appends to the file while Hearth is not running.
    let mut grown = data.clone();
    grown.extend_from_slice(b"more");
    std::fs::write(&src, &grown).unwrap();
    let node = Node::start(&dir).await;
    let s = node.t.stats(&p.info_hash).unwrap();
    assert!(matches!(s.state, TransferState::Error(_)), "{s:?}");
    assert!(node.t.torrent_bytes(&p.info_hash).is_none());
    assert_eq!(
        std::fs::read(&src).unwrap(),
        grown,
        "librqbit must not truncate the original"
    );
    node.t.remove(&p.info_hash, true).await.unwrap();
    assert!(src.exists());
    assert!(node.t.list().is_empty());
    // Publishing it again works.
    node.t.publish(&src).await.unwrap();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_clear() {
    let tmp = TempDir::new().unwrap();
    let node = Node::start(&tmp.path().join("n")).await;
    // Second instance on the same state folder.
    let cfg = TransferConfig {
        listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..TransferConfig::new(node.dir.join("state"), node.dir.join("downloads"))
    };
    assert!(matches!(
        Transfer::start(cfg, &TaskTracker::new(), CancellationToken::new()).await,
        Err(TransferError::StateDirLocked(_))
    ));
    // Port in use.
    let busy = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let cfg = TransferConfig {
        listen_port: busy.local_addr().unwrap().port(),
        ..TransferConfig::new(tmp.path().join("o/state"), tmp.path().join("o/dl"))
    };
    let cfg = TransferConfig {
        listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..cfg
    };
    let e = Transfer::start(cfg, &TaskTracker::new(), CancellationToken::new())
        .await
        .expect_err("port is busy");
    assert!(matches!(e, TransferError::Listen { .. }), "{e}");

    let unknown = "00".repeat(20);
    assert!(matches!(
        node.t.pause(&unknown).await,
        Err(TransferError::NotFound(_))
    ));
    assert!(matches!(
        node.t.remove("xyz", false).await,
        Err(TransferError::BadInfoHash(_))
    ));
    assert!(node.t.stats(&unknown).is_none());
    assert!(matches!(
        node.t.publish(&tmp.path().join("missing")).await,
        Err(TransferError::Publish { .. })
    ));
    // Download target already there.
    let data = random_bytes(100 * KIB, 8);
    let built = meta::build_torrent(
        &source_file(&node.dir, "clash.bin", &data),
        &CancellationToken::new(),
    )
    .unwrap();
    std::fs::write(node.dir.join("downloads").join("clash.bin"), b"mine").unwrap();
    assert!(matches!(
        node.t.download(&built.torrent, vec![]).await,
        Err(TransferError::TargetExists(_))
    ));
    assert_eq!(
        std::fs::read(node.dir.join("downloads").join("clash.bin")).unwrap(),
        b"mine"
    );
    // Magnet without reachable peers.
    assert!(matches!(
        node.t
            .download_magnet("magnet:?xt=urn:btih:zz", vec![])
            .await,
        Err(TransferError::Magnet(_))
    ));
    // Pause and resume round trip.
    let p = node
        .t
        .publish(&node.dir.join("src").join("clash.bin"))
        .await
        .unwrap();
    node.t.pause(&p.info_hash).await.unwrap();
    assert_eq!(node.stats(&p.info_hash).state, TransferState::Paused);
    node.t.resume(&p.info_hash).await.unwrap();
    eventually(Duration::from_secs(5), "seeding again", || {
        node.stats(&p.info_hash).state == TransferState::Seeding
    })
    .await;
    let t = node.t.clone();
    node.stop().await;
    assert!(matches!(
        t.publish(&tmp.path().join("x")).await,
        Err(TransferError::Stopped)
    ));
}

// A holder that was unreachable comes back: passing its address again redials it at once
// instead of after librqbit's 10 s / 60 s / 6 min backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_holder_is_redialled_when_passed_again() {
    let tmp = TempDir::new().unwrap();
    let port = free_port();
    let holder = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let data = random_bytes(2 * MIB, 9);
    let src = source_file(&tmp.path().join("s"), "late.bin", &data);
    let built = meta::build_torrent(&src, &CancellationToken::new()).unwrap();

    let leecher = Node::start(&tmp.path().join("l")).await;
    let hash = leecher
        .t
        .download(&built.torrent, vec![holder])
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the first dial to fail", || {
        leecher
            .t
            .inner
            .handle(&hash)
            .ok()
            .and_then(|h| h.live())
            .is_some_and(|l| l.stats_snapshot().peer_stats.dead >= 1)
    })
    .await;

    let cfg = TransferConfig {
        listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        listen_port: port,
        ..TransferConfig::new(tmp.path().join("s/state"), tmp.path().join("s/downloads"))
    };
    let seeder = Transfer::start(cfg, &TaskTracker::new(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(seeder.bt_port(), port);
    seeder.publish(&src).await.unwrap();

    let t0 = Instant::now();
    leecher.t.add_peers(&hash, vec![holder]).await.unwrap();
    wait_finished(&leecher, &hash, Duration::from_secs(8)).await;
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert!(std::fs::read(leecher.t.file_path(&hash).unwrap()).unwrap() == data);
    seeder.shutdown().await;
    leecher.stop().await;
}

// librqbit's session file lost or corrupted: every torrent still comes back from our records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_corrupt_session_file() {
    let tmp = TempDir::new().unwrap();
    let seeder = Node::start(&tmp.path().join("s")).await;
    let data = random_bytes(600 * KIB, 11);
    let p = seeder
        .t
        .publish(&source_file(&seeder.dir, "doc.bin", &data))
        .await
        .unwrap();
    let dir = tmp.path().join("n");
    let node = Node::start(&dir).await;
    let own = node
        .t
        .publish(&source_file(&dir, "own.bin", &random_bytes(300 * KIB, 12)))
        .await
        .unwrap();
    let hash = node
        .t
        .download(&p.torrent, vec![seeder.addr()])
        .await
        .unwrap();
    wait_finished(&node, &hash, Duration::from_secs(20)).await;
    node.stop().await;

    std::fs::write(
        dir.join("state").join(SESSION_DIR).join("session.json"),
        b"{garbage",
    )
    .unwrap();
    let node = Node::start(&dir).await;
    assert_eq!(node.t.list().len(), 2);
    for h in [&hash, &own.info_hash] {
        eventually(Duration::from_secs(10), "restored torrent to seed", || {
            node.t
                .stats(h)
                .is_some_and(|s| s.state == TransferState::Seeding)
        })
        .await;
    }
    assert!(std::fs::read(node.t.file_path(&hash).unwrap()).unwrap() == data);
    // And it is saved again for the next start.
    node.stop().await;
    let node = Node::start(&dir).await;
    assert_eq!(node.t.list().len(), 2);
    node.stop().await;
    seeder.stop().await;
}

/// A minimal BitTorrent peer that only answers ut_metadata requests (BEP 9, 10) with `info`.
async fn fake_metadata_peer(info: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
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
                reply[48..68].copy_from_slice(b"-XX0001-fakefakefake");
                let mut ext = format!("d1:md11:ut_metadatai3ee13:metadata_sizei{}ee", info.len())
                    .into_bytes();
                let mut msg = ((ext.len() + 2) as u32).to_be_bytes().to_vec();
                msg.extend_from_slice(&[20, 0]);
                msg.append(&mut ext);
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
                        if let Ok(v) = bencode::parse(&body[2..]) {
                            if let Some(bencode::Value::Int(id)) =
                                v.get(b"m").and_then(|m| m.get(b"ut_metadata"))
                            {
                                their_id = *id as u8;
                            }
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

// Metadata fetched for a magnet is untrusted too: validated before anything is added, and a
// malformed info dictionary that makes librqbit panic is contained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_from_a_magnet_peer() {
    let tmp = TempDir::new().unwrap();
    let node = Node::start(&tmp.path().join("n")).await;
    let dict = |d: Vec<(&'static str, B)>| {
        let mut o = Vec::new();
        enc(&B::D(d), &mut o);
        o
    };
    let info = |name: &str, pl: i64| {
        dict(vec![
            ("name", s(name)),
            ("length", B::I(10)),
            ("piece length", B::I(pl)),
            ("pieces", B::S(vec![1u8; 20])),
        ])
    };
    let folder = |path: Vec<&[u8]>| {
        dict(vec![
            ("name", s("folder")),
            (
                "files",
                B::L(vec![B::D(vec![
                    ("length", B::I(10)),
                    ("path", B::L(path.into_iter().map(s).collect())),
                ])]),
            ),
            ("piece length", B::I(PL)),
            ("pieces", B::S(vec![1u8; 20])),
        ])
    };
    type Check = fn(&TransferError) -> bool;
    fn unsafe_path(e: &TransferError, want: PathProblem) -> bool {
        matches!(e, TransferError::Meta(MetaError::UnsafePath { problem, .. }) if *problem == want)
    }
    let cases: Vec<(Vec<u8>, Check)> = vec![
        (info("CON", PL), |e| unsafe_path(e, PathProblem::Reserved)),
        (info("C:evil", PL), |e| {
            unsafe_path(e, PathProblem::DrivePrefix)
        }),
        // librqbit divided by the piece length while reading it (a panic in a debug build).
        (
            info("zero", 0),
            |e| matches!(e, TransferError::BadMetadata(m) if m.contains("piece length is 0")),
        ),
        // A total near 2^62 overflowed librqbit's piece count.
        (
            dict(vec![
                ("name", s("huge")),
                ("length", B::I(1 << 62)),
                ("piece length", B::I(16384)),
                ("pieces", B::S(vec![1u8; 20])),
            ]),
            |e| matches!(e, TransferError::BadMetadata(m) if m.contains("pieces")),
        ),
        // Two files whose sizes add up past 2^64.
        (
            dict(vec![
                ("name", s("sum")),
                (
                    "files",
                    B::L(vec![
                        B::D(vec![
                            ("length", B::I(i64::MAX)),
                            ("path", B::L(vec![s("a")])),
                        ]),
                        B::D(vec![
                            ("length", B::I(i64::MAX)),
                            ("path", B::L(vec![s("b")])),
                        ]),
                        B::D(vec![
                            ("length", B::I(i64::MAX)),
                            ("path", B::L(vec![s("c")])),
                        ]),
                    ]),
                ),
                ("piece length", B::I(PL)),
                ("pieces", B::S(vec![1u8; 20])),
            ]),
            |e| matches!(e, TransferError::BadMetadata(m) if m.contains("2^64")),
        ),
        // Three pieces' worth of data, one hash.
        (
            dict(vec![
                ("name", s("short")),
                ("length", B::I(3 * PL)),
                ("piece length", B::I(PL)),
                ("pieces", B::S(vec![1u8; 20])),
            ]),
            |e| matches!(e, TransferError::BadMetadata(m) if m.contains("piece hashes")),
        ),
        (folder(vec![b"..", b"escape"]), |e| {
            matches!(e, TransferError::BadMetadata(_)) || unsafe_path(e, PathProblem::DotDot)
        }),
        (folder(vec![b"/etc/passwd"]), |e| {
            matches!(e, TransferError::BadMetadata(_)) || unsafe_path(e, PathProblem::Separator)
        }),
        (folder(vec![b"a", b"", b"b"]), |e| {
            matches!(e, TransferError::BadMetadata(_)) || unsafe_path(e, PathProblem::Empty)
        }),
        (info(".bashrc", PL), |e| unsafe_path(e, PathProblem::Hidden)),
    ];
    for (bytes, check) in cases {
        let hash = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&bytes));
        let (peer, task) = fake_metadata_peer(bytes).await;
        let magnet = format!("magnet:?xt=urn:btih:{hash}");
        let res = tokio::time::timeout(
            Duration::from_secs(20),
            node.t.download_magnet(&magnet, vec![peer]),
        )
        .await
        .expect("magnet lookup should end");
        match res {
            Err(e) => assert!(check(&e), "{hash}: unexpected error {e}"),
            Ok(h) => panic!("hostile metadata accepted: {h}"),
        }
        task.abort();
    }
    assert!(node.t.list().is_empty());
    assert_eq!(
        std::fs::read_dir(node.dir.join("downloads"))
            .unwrap()
            .count(),
        0
    );
    // The node still works afterwards.
    let data = random_bytes(100 * KIB, 13);
    node.t
        .publish(&source_file(&node.dir, "still.bin", &data))
        .await
        .unwrap();
    node.stop().await;
}

const CRASH_DIR: &str = "HEARTH_TEST_CRASH_DIR";

/// Child half of `kill_9_resumes`: runs only when started by it (otherwise returns at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by kill_9_resumes in a child process"]
async fn kill_9_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR).map(PathBuf::from) else {
        return;
    };
    let torrent = std::fs::read(dir.join("t.torrent")).unwrap();
    let peer: SocketAddr = std::fs::read_to_string(dir.join("peer"))
        .unwrap()
        .parse()
        .unwrap();
    let want: u64 = std::fs::read_to_string(dir.join("want"))
        .unwrap()
        .parse()
        .unwrap();
    let node = Node::start(&dir.join("node")).await;
    let hash = node.t.download(&torrent, vec![peer]).await.unwrap();
    eventually(Duration::from_secs(20), "half of the data", || {
        node.stats(&hash).have_bytes == want
    })
    .await;
    // The moment a crash can come: nothing was shut down, fastresume is whatever is on disk.
    let m = validate_metainfo(&torrent).unwrap();
    let bitv = dir
        .join("node/state")
        .join(SESSION_DIR)
        .join(format!("{hash}.bitv"));
    eventually(
        Duration::from_secs(5),
        "fastresume bitfield on disk",
        || std::fs::read(&bitv).is_ok_and(|b| have_from_bitfield(&b, &m) == want),
    )
    .await;
    println!("CRASH-CHILD-READY");
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

// The same as 4 with a real `kill -9` of a process in the middle of a download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_resumes() {
    use tokio::io::AsyncBufReadExt;
    let tmp = TempDir::new().unwrap();
    let full = Node::start(&tmp.path().join("full")).await;
    let half = Node::start(&tmp.path().join("half")).await;
    let data = random_bytes(6 * MIB, 5);
    let p = full
        .t
        .publish(&source_file(&full.dir, "crash.bin", &data))
        .await
        .unwrap();
    let m = validate_metainfo(&p.torrent).unwrap();
    let want = (m.piece_count as usize / 2) * p.piece_length as usize;
    partial_holder(&half, &p, &data, want).await;

    let dir = tmp.path().join("child");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.torrent"), &p.torrent).unwrap();
    std::fs::write(dir.join("peer"), half.addr().to_string()).unwrap();
    std::fs::write(dir.join("want"), want.to_string()).unwrap();
    let name = module_path!()
        .split_once("::")
        .map(|(_, rest)| rest)
        .unwrap_or("");
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("{name}::kill_9_child"),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DIR, &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains("CRASH-CHILD-READY") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "child did not reach the crash point");
    child.kill().await.unwrap(); // SIGKILL
    let _ = child.wait().await;

    let node = Node::start(&dir.join("node")).await;
    let s = node
        .t
        .stats(&p.info_hash)
        .expect("torrent restored after kill -9");
    assert_eq!(s.have_bytes, want as u64, "{s:?}");
    eventually(Duration::from_secs(10), "restored torrent to start", || {
        node.stats(&p.info_hash).state != TransferState::Initializing
    })
    .await;
    assert_eq!(node.stats(&p.info_hash).have_bytes, want as u64);
    node.t
        .add_peers(&p.info_hash, vec![full.addr()])
        .await
        .unwrap();
    wait_finished(&node, &p.info_hash, Duration::from_secs(30)).await;
    assert!(std::fs::read(node.t.file_path(&p.info_hash).unwrap()).unwrap() == data);
    for n in [full, half, node] {
        n.stop().await;
    }
}

// A shared folder's file swapped for a link to a file outside the folder after the watcher
// looked: publishing it refuses the link (it used to publish the link's target).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_swapped_into_a_shared_folder_is_not_published() {
    let tmp = TempDir::new().unwrap();
    let node = Node::start(&tmp.path().join("n")).await;
    std::fs::create_dir_all(tmp.path().join("shared")).unwrap();
    let shared = tmp.path().join("shared").canonicalize().unwrap();
    let secret = source_file(tmp.path(), "secret.key", &random_bytes(3000, 1));
    let file = source_file(&shared, "video.mp4", &random_bytes(3000, 2));
    // The watcher saw a regular file; then it becomes a link to the secret.
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&secret, &file).unwrap();
    let err = node.t.publish_no_follow(&file).await.unwrap_err();
    assert!(
        err.to_string().contains("symbolic link"),
        "unexpected error: {err}"
    );
    // A folder on the way swapped for a link to another folder: refused too.
    let elsewhere = tmp.path().join("elsewhere");
    source_file(&elsewhere, "b.bin", &random_bytes(3000, 3));
    std::os::unix::fs::symlink(elsewhere.join("src"), shared.join("sub")).unwrap();
    let err = node
        .t
        .publish_no_follow(&shared.join("sub").join("b.bin"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(node.t.list().is_empty());
    // The file opened for hashing is checked on its handle: a link there is never followed.
    let st = meta::FileStamp::of(&secret).unwrap();
    assert!(meta::open_no_follow(&file, &st).is_err());
    assert!(meta::open_no_follow(&secret, &st).is_ok());
    // A real file of the folder still publishes.
    let real = source_file(&shared, "real.bin", &random_bytes(3000, 4));
    node.t.publish_no_follow(&real).await.unwrap();
    node.stop().await;
}
