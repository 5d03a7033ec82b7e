//! The fuzz drivers on proptest: the corpus replayed, a seeded pass of every target in
//! `cargo test`, and `fuzz_for_a_while` (ignored; `make fuzz`) with a time budget per target.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};

use super::{Target, TARGETS};

/// Cases per target in the seeded pass of `cargo test`.
const SEEDED_CASES: u32 = 256;
/// Cases per fresh seed in `fuzz_for_a_while` (the time budget is checked between batches).
const BATCH: u32 = 100;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target)
}

/// The target's corpus files, in name order.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((name, std::fs::read(e.path()).ok()?))
        })
        .collect();
    files.sort();
    files
}

/// A value that breaks assumptions, put in place of a JSON node.
#[derive(Debug, Clone)]
enum Hostile {
    Null,
    Bool(bool),
    Int(i64),
    Huge,
    Float(f64),
    Text(String),
    LongText(usize),
    Deep(usize),
    Wide(usize),
    EmptyObject,
}

impl Hostile {
    fn value(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Hostile::Null => J::Null,
            Hostile::Bool(b) => J::Bool(*b),
            Hostile::Int(n) => J::from(*n),
            Hostile::Huge => J::from(u64::MAX),
            Hostile::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Hostile::Text(s) => J::String(s.clone()),
            Hostile::LongText(n) => J::String("\u{1F525}".repeat(*n)),
            Hostile::Deep(n) => (0..*n).fold(J::Null, |v, _| J::Array(vec![v])),
            Hostile::Wide(n) => J::Array(vec![J::from(0u8); *n]),
            Hostile::EmptyObject => J::Object(Default::default()),
        }
    }
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        Just(Hostile::Null),
        any::<bool>().prop_map(Hostile::Bool),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(i64::MIN),
            Just(i64::MAX),
            any::<i64>()
        ]
        .prop_map(Hostile::Int),
        Just(Hostile::Huge),
        any::<f64>().prop_map(Hostile::Float),
        ".{0,24}".prop_map(Hostile::Text),
        (0usize..20_000).prop_map(Hostile::LongText),
        (0usize..200).prop_map(Hostile::Deep),
        (0usize..50_000).prop_map(Hostile::Wide),
        Just(Hostile::EmptyObject),
    ]
}

/// One change to a valid encoding. Positions are taken modulo the length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Repeat(usize, usize, u16),
    /// Replace a JSON node (counted depth-first) by a hostile value.
    Json(usize, Hostile),
    /// Drop a key of a JSON object.
    DropKey(usize),
    /// Put another seed's bytes at a position.
    Splice(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(a, b)| Mutation::Flip(a, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(a, b)| Mutation::Insert(a, b)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(a, n)| Mutation::Remove(a, n)),
        1 => (any::<usize>(), 1usize..32, 1u16..2_000).prop_map(|(a, n, k)| Mutation::Repeat(a, n, k)),
        4 => (any::<usize>(), hostile()).prop_map(|(a, h)| Mutation::Json(a, h)),
        1 => any::<usize>().prop_map(Mutation::DropKey),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Splice(a, b)),
    ]
}

fn count_nodes(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(count_nodes).sum(),
        serde_json::Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Calls `f` on the `n`th node, depth-first; true once done.
fn with_node(
    v: &mut serde_json::Value,
    n: &mut usize,
    f: &mut dyn FnMut(&mut serde_json::Value),
) -> bool {
    if *n == 0 {
        f(v);
        return true;
    }
    *n -= 1;
    match v {
        serde_json::Value::Array(a) => a.iter_mut().any(|x| with_node(x, n, f)),
        serde_json::Value::Object(o) => o.values_mut().any(|x| with_node(x, n, f)),
        _ => false,
    }
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation], seeds: &[Vec<u8>]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        let at = |a: usize| if len == 0 { 0 } else { a % (len + 1) };
        match m {
            Mutation::Flip(a, bit) if len > 0 => bytes[a % len] ^= 1 << bit,
            Mutation::Flip(..) => {}
            Mutation::Truncate(a) => bytes.truncate(at(*a)),
            Mutation::Insert(a, b) => {
                let p = at(*a);
                bytes.splice(p..p, b.iter().copied());
            }
            Mutation::Remove(a, n) => {
                let p = at(*a);
                let end = (p + n).min(len);
                bytes.drain(p..end);
            }
            Mutation::Repeat(a, n, k) => {
                let p = at(*a);
                let end = (p + n).min(len);
                let piece = bytes[p..end].to_vec();
                let more: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * *k as usize)
                    .collect();
                bytes.splice(end..end, more);
            }
            Mutation::Json(a, h) => {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    let mut n = a % count_nodes(&v);
                    with_node(&mut v, &mut n, &mut |node| *node = h.value());
                    bytes = serde_json::to_vec(&v).expect("a JSON value encodes");
                }
            }
            Mutation::DropKey(a) => {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    let mut n = a % count_nodes(&v);
                    with_node(&mut v, &mut n, &mut |node| {
                        if let Some(map) = node.as_object_mut() {
                            if let Some(k) = map.keys().nth(a % map.len().max(1)).cloned() {
                                map.remove(&k);
                            }
                        }
                    });
                    bytes = serde_json::to_vec(&v).expect("a JSON value encodes");
                }
            }
            Mutation::Splice(a, s) if !seeds.is_empty() => {
                let p = at(*a);
                let other = &seeds[s % seeds.len()];
                bytes.splice(p..p, other.iter().copied());
            }
            Mutation::Splice(..) => {}
        }
    }
    bytes
}

/// Random bytes, or a valid encoding (or corpus file) with a few mutations.
fn input(seeds: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len().max(1);
    prop_oneof![
        1 => vec(any::<u8>(), 0..512),
        4 => (0..n, vec(mutation(), 1..6)).prop_map(move |(i, ms)| {
            let start = seeds.get(i).cloned().unwrap_or_default();
            apply(start, &ms, &seeds)
        }),
    ]
}

fn seeds_of(t: &Target) -> Arc<Vec<Vec<u8>>> {
    let mut seeds = (t.seeds)();
    seeds.extend(corpus(t.name).into_iter().map(|(_, b)| b));
    Arc::new(seeds)
}

/// Runs `cases` inputs through `t`; on a failure, the smallest failing input found.
fn run(t: &Target, seeds: Arc<Vec<Vec<u8>>>, cases: u32, seed: u64) -> Result<(), Vec<u8>> {
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let run = t.run;
    match runner.run(&input(seeds), move |bytes| {
        run(&bytes);
        Ok(())
    }) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(_, bytes)) => Err(bytes),
        Err(TestError::Abort(why)) => panic!("{}: the fuzz run stopped: {why}", t.name),
    }
}

/// Keeps a failing input in the corpus, so every later pass replays it.
fn keep(t: &Target, bytes: &[u8]) -> PathBuf {
    let dir = corpus_dir(t.name);
    let _ = std::fs::create_dir_all(&dir);
    let hash = blake3::hash(bytes).to_hex();
    let path = dir.join(format!("crash-{}", &hash[..16]));
    let _ = std::fs::write(&path, bytes);
    path
}

#[test]
fn every_corpus_file_decodes_or_is_refused_without_a_panic() {
    let mut files = 0;
    for t in TARGETS {
        for (name, bytes) in corpus(t.name) {
            let r = std::panic::catch_unwind(|| (t.run)(&bytes));
            assert!(r.is_ok(), "{}: corpus file {name} panics", t.name);
            files += 1;
        }
    }
    assert!(files > 0, "the corpus is in tests/fuzz-corpus");
}

#[test]
fn every_decoder_survives_a_seeded_pass_of_random_and_mutated_inputs() {
    for (i, t) in TARGETS.iter().enumerate() {
        if let Err(bytes) = run(t, seeds_of(t), SEEDED_CASES, 0x4845_4152_5448 + i as u64) {
            let path = keep(t, &bytes);
            panic!(
                "{}: a decoder check failed; the input is kept in {}",
                t.name,
                path.display()
            );
        }
    }
}

#[test]
fn the_seeds_are_valid_encodings() {
    use crate::catalog::feed;
    use crate::net::presence::Announce;
    use crate::transfer::decoders;
    for s in (super::feed_entry_seeds)() {
        feed::decode(&s).expect("feed seed verifies");
    }
    for s in (super::presence_seeds)() {
        Announce::decode(&s).expect("announcement seed decodes");
    }
    for s in (super::metainfo_seeds)() {
        decoders::validate_metainfo(&s).expect("torrent seed is valid");
    }
    for s in (super::bencode_seeds)() {
        decoders::bencode(&s).expect("bencode seed parses");
    }
    for s in (super::magnet_seeds)() {
        decoders::parse_magnet(std::str::from_utf8(&s).unwrap()).expect("magnet seed parses");
    }
    for s in (super::invite_seeds)() {
        crate::net::invite::Invite::decode(std::str::from_utf8(&s).unwrap()).expect("invite");
    }
    for s in (super::thumbnail_seeds)() {
        crate::infra::thumbnail::validate(&s).expect("thumbnail seed is valid");
    }
    let chat = (super::chat_wire_seeds)();
    assert!(chat.len() >= 4, "direct and room messages: {}", chat.len());
    for s in chat {
        assert!(crate::chat::ChatWire::is_well_formed(&s));
    }
    let invitations = (super::room_invitation_seeds)();
    assert_eq!(invitations.len(), 1);
    for s in invitations {
        serde_json::from_slice::<crate::chat::room::Invitation<libp2p::PeerId>>(&s)
            .expect("invitation seed decodes");
    }
}

/// `make fuzz`: each target (or `HEARTH_FUZZ_TARGET`) for `HEARTH_FUZZ_SECS` seconds
/// (default 60) with fresh random seeds; a failing input is kept in the corpus.
#[test]
#[ignore = "long: run by `make fuzz`"]
fn fuzz_for_a_while() {
    let secs: u64 = std::env::var("HEARTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let only = std::env::var("HEARTH_FUZZ_TARGET").ok();
    let mut failed = Vec::new();
    for t in TARGETS {
        if only.as_deref().is_some_and(|o| o != t.name) {
            continue;
        }
        let seeds = seeds_of(t);
        let start = Instant::now();
        let mut cases = 0u64;
        while start.elapsed() < Duration::from_secs(secs) {
            if let Err(bytes) = run(t, seeds.clone(), BATCH, rand::random()) {
                let path = keep(t, &bytes);
                eprintln!("{}: FAILED, input kept in {}", t.name, path.display());
                failed.push(t.name);
                break;
            }
            cases += u64::from(BATCH);
        }
        eprintln!("{:>18}: {cases} inputs in {:.0?}", t.name, start.elapsed());
    }
    assert!(failed.is_empty(), "failing targets: {failed:?}");
}

/// Writes each target's valid encodings into its corpus folder as `seed-<n>` (the starting
/// inputs of `make fuzz-afl`); run again when an encoding changes.
#[test]
#[ignore = "writes files: run by hand when the encodings change"]
fn write_seed_corpus() {
    for t in TARGETS {
        let dir = corpus_dir(t.name);
        std::fs::create_dir_all(&dir).unwrap();
        for (n, s) in (t.seeds)().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{n}")), s).unwrap();
        }
    }
}
