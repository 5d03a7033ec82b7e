//! Benchmarks over a million synthetic records, run by hand (`--ignored`).

use super::*;

/// Synthetic catalog for the benchmarks below.
mod synthetic {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    pub const KINDS: [&str; 6] = ["paper", "dataset", "video", "audio", "image", "other"];

    pub struct Corpus {
        pub words: Vec<String>,
        cumulative: Vec<f64>,
        pub tags: Vec<String>,
        pub authors: Vec<String>,
    }

    impl Corpus {
        pub fn new(seed: u64) -> Self {
            let mut rng = StdRng::seed_from_u64(seed);
            let syllables = [
                "ka", "lo", "mi", "ne", "ra", "tu", "sa", "qu", "an", "tum", "dor", "el", "is",
                "gra", "phy", "ton", "ve", "ber", "ix", "ol", "ur", "sen", "mo", "ly", "ta", "ri",
                "po", "cy", "de", "fa", "gu", "ho", "ji", "ze", "wo", "ex",
            ];
            let mut seen = std::collections::HashSet::new();
            let mut words = Vec::new();
            while words.len() < 20_000 {
                let n = rng.gen_range(1..=4);
                let w: String = (0..n)
                    .map(|_| syllables[rng.gen_range(0..syllables.len())])
                    .collect();
                if seen.insert(w.clone()) {
                    words.push(w);
                }
            }
            // Zipf (s = 1) over the vocabulary.
            let mut acc = 0.0;
            let cumulative = (1..=words.len())
                .map(|r| {
                    acc += 1.0 / r as f64;
                    acc
                })
                .collect();
            let tags = (0..500)
                .map(|i| format!("{} {}", words[i * 7 % 2000], words[i + 100]))
                .collect();
            let b58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
            let authors = (0..1000)
                .map(|_| {
                    let tail: String = (0..44)
                        .map(|_| b58[rng.gen_range(0..b58.len())] as char)
                        .collect();
                    format!("12D3KooW{tail}")
                })
                .collect();
            Corpus {
                words,
                cumulative,
                tags,
                authors,
            }
        }

        pub fn word(&self, rng: &mut StdRng) -> &str {
            let x = rng.gen::<f64>() * self.cumulative.last().unwrap();
            let i = self.cumulative.partition_point(|c| *c < x);
            &self.words[i.min(self.words.len() - 1)]
        }

        pub fn text(&self, rng: &mut StdRng, n: usize, out: &mut String) {
            out.clear();
            for i in 0..n {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(self.word(rng));
            }
        }
    }

    pub struct Record {
        pub id: String,
        pub title: String,
        pub description: String,
        pub tags: Vec<String>,
        pub kind: &'static str,
        pub author: usize,
        pub created_ms: u64,
        pub size: u64,
    }

    impl Record {
        pub fn new() -> Self {
            Record {
                id: String::new(),
                title: String::new(),
                description: String::new(),
                tags: Vec::new(),
                kind: "",
                author: 0,
                created_ms: 0,
                size: 0,
            }
        }

        pub fn fill(&mut self, corpus: &Corpus, rng: &mut StdRng) {
            let id: [u8; 20] = rng.gen();
            self.id.clear();
            for b in id {
                self.id.push_str(&format!("{b:02x}"));
            }
            let n = rng.gen_range(3..=10);
            corpus.text(rng, n, &mut self.title);
            let n = rng.gen_range(20..=60);
            corpus.text(rng, n, &mut self.description);
            self.tags.clear();
            for _ in 0..rng.gen_range(0..=5) {
                let t = &corpus.tags[rng.gen_range(0..corpus.tags.len())];
                self.tags.push(t.clone());
            }
            self.kind = KINDS[rng.gen_range(0..KINDS.len())];
            self.author = rng.gen_range(0..corpus.authors.len());
            self.created_ms = 1_600_000_000_000 + rng.gen_range(0..100_000_000_000u64);
            self.size = rng.gen_range(1_000..10_000_000_000u64);
        }
    }
}

fn bench_dir() -> std::path::PathBuf {
    std::env::var_os("HEARTH_SEARCH_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("hearth-search-bench"))
}

fn bench_records() -> u64 {
    std::env::var("HEARTH_SEARCH_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn proc_status() -> String {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| {
            ["VmRSS", "VmHWM", "RssAnon", "RssFile"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn upsert_record(index: &SearchIndex, corpus: &synthetic::Corpus, r: &synthetic::Record) {
    index
        .upsert(&IndexDoc {
            record: RecordRef { author: 7, seq: 1 },
            content_id: &r.id,
            title: &r.title,
            description: &r.description,
            tags: &r.tags,
            kind: r.kind,
            author: &corpus.authors[r.author],
            created_ms: r.created_ms,
            size: r.size,
        })
        .unwrap();
}

/// Builds the benchmark index (1M synthetic records by default) from scratch.
/// `cargo test --release -- --ignored --nocapture bench_ingest` then `bench_search`.
#[test]
#[ignore]
fn bench_ingest() {
    use rand::SeedableRng;
    let n = bench_records();
    let dir = bench_dir();
    let _ = fs::remove_dir_all(&dir);
    let corpus = synthetic::Corpus::new(7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut r = synthetic::Record::new();
    // The cost of making the records, to subtract.
    let t = Instant::now();
    for _ in 0..n {
        r.fill(&corpus, &mut rng);
    }
    let generation = t.elapsed();

    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let index = SearchIndex::open(&dir).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        r.fill(&corpus, &mut rng);
        upsert_record(&index, &corpus, &r);
    }
    let upserts = t.elapsed();
    let tc = Instant::now();
    index.commit().unwrap();
    let commit = tc.elapsed();
    let total = t.elapsed();
    println!(
        "ingest {n} records: {:.1} s total (upserts {:.1} s, of which generating records {:.1} s; final commit {:.2} s)",
        total.as_secs_f64(),
        upserts.as_secs_f64(),
        generation.as_secs_f64(),
        commit.as_secs_f64()
    );
    println!(
        "after ingest: docs {}, segments {}, disk {:.1} MB, {}",
        index.len(),
        index.inner.reader.searcher().segment_readers().len(),
        dir_size(&dir) as f64 / 1e6,
        proc_status()
    );
    // Let background merges finish, as a node left running would (dropping the writer would
    // cancel them). The writer is consumed: an in-RAM index's stands in for it.
    let t = Instant::now();
    let writer = {
        let (schema, _) = build_schema();
        let stand_in = Index::create_in_ram(schema)
            .writer_with_num_threads(1, WRITER_HEAP_BYTES)
            .unwrap();
        std::mem::replace(&mut index.lock_writer().writer, stand_in)
    };
    writer.wait_merging_threads().unwrap();
    println!(
        "merges finished after {:.1} s more; disk {:.1} MB",
        t.elapsed().as_secs_f64(),
        dir_size(&dir) as f64 / 1e6
    );
}

/// Opens the benchmark index and measures searches and commits.
#[test]
#[ignore]
fn bench_search() {
    use rand::{Rng, SeedableRng};
    use std::hash::{Hash, Hasher};
    let dir = bench_dir();
    let before = proc_status();
    let t = Instant::now();
    let index = SearchIndex::open(&dir).unwrap();
    let open = t.elapsed();
    println!(
        "open: {:.1} ms, docs {}, segments {}, disk {:.1} MB; RSS before open: {before}; after open: {}",
        open.as_secs_f64() * 1000.0,
        index.len(),
        index.inner.reader.searcher().segment_readers().len(),
        dir_size(&dir) as f64 / 1e6,
        proc_status()
    );
    let corpus = synthetic::Corpus::new(7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut queries = Vec::new();
    for i in 0..1000 {
        let mut q = SearchQuery {
            limit: 20,
            ..Default::default()
        };
        let n = rng.gen_range(1..=3);
        let words: Vec<&str> = (0..n).map(|_| corpus.word(&mut rng)).collect();
        let category = i % 10;
        q.text = match category {
            // Prefix: the last word half typed.
            0 | 1 => {
                let mut t = words.join(" ");
                let last = words.last().unwrap();
                let cut = rng.gen_range(1..=last.len().min(5));
                t.truncate(t.len() - last.len() + cut);
                t
            }
            // Empty text with a filter.
            2 => String::new(),
            _ => format!("{} ", words.join(" ")),
        };
        if (2..=4).contains(&category) {
            q.kinds = vec![synthetic::KINDS[rng.gen_range(0..6)].to_string()];
        }
        if category == 5 || (category == 2 && i % 20 == 2) {
            q.authors = vec![corpus.authors[rng.gen_range(0..1000)].clone()];
        }
        if i % 3 == 0 {
            q.sort = SortBy::Newest;
        }
        if i % 17 == 0 {
            q.offset = 40;
        }
        queries.push(q);
    }
    let half = |id: &str| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        h.finish() & 1 == 0
    };
    let all = |_: &str| true;
    let few = |id: &str| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        h.finish().is_multiple_of(100)
    };
    // Warm up the page cache (a node that has been running has it warm).
    for q in &queries {
        index.search(q, &all).unwrap();
    }
    for (name, accept) in [
        ("accept all", &all as &dyn Fn(&str) -> bool),
        ("accept half", &half),
        ("accept 1%", &few),
    ] {
        let mut lat = Vec::new();
        let mut by_cat: Vec<Vec<f64>> = vec![Vec::new(); 10];
        let mut lower_bounds = 0;
        let mut hits = 0;
        for (i, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let res = index.search(q, accept).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            lat.push(ms);
            by_cat[i % 10].push(ms);
            lower_bounds += usize::from(res.total_is_lower_bound);
            hits += res.total;
        }
        let pct = |v: &mut Vec<f64>, p: f64| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
        };
        println!(
            "{name}: 1000 queries p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; mean total {}, {} totals capped",
            pct(&mut lat, 0.50),
            pct(&mut lat, 0.95),
            pct(&mut lat, 0.99),
            pct(&mut lat, 1.0),
            hits / 1000,
            lower_bounds
        );
        if std::env::var_os("HEARTH_SEARCH_BENCH_SLOWEST").is_some() {
            let mut timed = Vec::new();
            for (i, q) in queries.iter().enumerate() {
                let t = Instant::now();
                let res = index.search(q, accept).unwrap();
                timed.push((t.elapsed().as_secs_f64() * 1000.0, i, res.total));
            }
            timed.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
            for (ms, i, total) in timed.iter().take(15) {
                let q = &queries[*i];
                println!(
                    "    slow {ms:.2} ms {:?} {:?} kinds {:?} authors {} offset {} total {total}",
                    q.text,
                    q.sort,
                    q.kinds,
                    q.authors.len(),
                    q.offset
                );
            }
        }
        let names = [
            "prefix",
            "prefix",
            "empty+filter",
            "words+kind",
            "words+kind",
            "words+author",
            "words",
            "words",
            "words",
            "words",
        ];
        for (c, v) in by_cat.iter_mut().enumerate() {
            if c == 1 || c == 4 || c >= 7 {
                continue;
            }
            println!(
                "    {:<13} p50 {:.2} ms p95 {:.2} ms max {:.2} ms",
                names[c],
                pct(v, 0.5),
                pct(v, 0.95),
                pct(v, 1.0)
            );
        }
    }
    println!("after searching: {}", proc_status());

    // Commit cost on the big index: new records, then replaced ones (their deletes are
    // applied at commit). Seeded so that a rerun replaces the records of the previous run.
    let mut r = synthetic::Record::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    for (label, batch, rounds, reseed) in [
        ("1 new", 1usize, 10, false),
        ("1000 new", 1000, 5, false),
        ("1000 replacing", 1000, 3, true),
    ] {
        if reseed {
            rng = rand::rngs::StdRng::seed_from_u64(99);
        }
        let (mut upserts, mut commits) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            for _ in 0..batch {
                r.fill(&corpus, &mut rng);
                upsert_record(&index, &corpus, &r);
            }
            upserts.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            index.commit().unwrap();
            commits.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (v[v.len() / 2], v[v.len() - 1])
        };
        let (cm, cx) = median(&mut commits);
        let (um, _) = median(&mut upserts);
        println!(
            "commit after {label} upserts ({rounds} rounds): median {cm:.1} ms, max {cx:.1} ms (the upserts themselves: median {um:.1} ms)"
        );
    }
    println!("at the end: {}", proc_status());
}
