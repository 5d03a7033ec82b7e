//! The index's behaviour: matching, ranking, paging, caps, persistence and locking.
//! Uses only the index itself (and a temporary folder).

use super::*;
use tempfile::TempDir;

fn id(n: u32) -> String {
    format!("{n:08x}{}", "ab".repeat(16))
}

struct Rec {
    id: String,
    title: &'static str,
    description: &'static str,
    tags: Vec<String>,
    kind: &'static str,
    author: &'static str,
    created_ms: u64,
}

fn rec(n: u32, title: &'static str, description: &'static str) -> Rec {
    Rec {
        id: id(n),
        title,
        description,
        tags: Vec::new(),
        kind: "paper",
        author: "peer-a",
        created_ms: 1_000 + u64::from(n),
    }
}

fn put(index: &SearchIndex, r: &Rec) {
    put_at(index, r, RecordRef { author: 7, seq: 1 });
}

fn put_at(index: &SearchIndex, r: &Rec, record: RecordRef) {
    index
        .upsert(&IndexDoc {
            record,
            content_id: &r.id,
            title: r.title,
            description: r.description,
            tags: &r.tags,
            kind: r.kind,
            author: r.author,
            created_ms: r.created_ms,
            size: 42,
        })
        .unwrap();
}

fn open() -> (TempDir, SearchIndex) {
    let dir = TempDir::new().unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    (dir, index)
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_string(),
        ..Default::default()
    }
}

fn all(_: &str) -> bool {
    true
}

fn ids(index: &SearchIndex, q: &SearchQuery) -> Vec<String> {
    index.search(q, &all).unwrap().ids
}

#[test]
fn is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<SearchIndex>();
}

#[test]
fn add_and_search() {
    let (_dir, index) = open();
    put(
        &index,
        &rec(1, "Quantum computing for beginners", "qubits and gates"),
    );
    put(&index, &rec(2, "A history of Rome", "emperors and legions"));
    // Not visible before commit.
    assert!(ids(&index, &query("quantum")).is_empty());
    assert_eq!(index.len(), 0);
    index.commit().unwrap();
    assert_eq!(index.len(), 2);
    let hits = index.search(&query("quantum"), &all).unwrap();
    assert_eq!(hits.ids, vec![id(1)]);
    assert_eq!(hits.total, 1);
    assert!(!hits.total_is_lower_bound);
    assert_eq!(ids(&index, &query("LEGIONS")), vec![id(2)]);
    assert!(ids(&index, &query("nothing-like-this")).is_empty());
}

#[test]
fn all_words_must_match_and_title_and_tags_rank_higher() {
    let (_dir, index) = open();
    put(
        &index,
        &rec(1, "Currents", "a survey of ocean data and climate models"),
    );
    put(&index, &rec(2, "Climate models", "a survey of ocean data"));
    let mut tagged = rec(3, "Untitled", "something about data");
    tagged.tags = vec!["Climate Science".into()];
    put(&index, &tagged);
    put(&index, &rec(4, "Climate", "nothing else"));
    index.commit().unwrap();
    // Both words required: 4 has no "ocean".
    let hits = ids(&index, &query("climate ocean "));
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0], id(2), "title match first");
    // A tag beats the description.
    let hits = ids(&index, &query("science data "));
    assert_eq!(hits, vec![id(3)]);
    let hits = ids(&index, &query("climate "));
    assert_eq!(hits.len(), 4);
    assert_eq!(hits.last().unwrap(), &id(1), "description-only match last");
}

#[test]
fn upsert_replaces() {
    let (_dir, index) = open();
    put(&index, &rec(1, "alpha", ""));
    index.commit().unwrap();
    put(&index, &rec(1, "beta", ""));
    index.commit().unwrap();
    assert_eq!(index.len(), 1);
    assert!(ids(&index, &query("alpha ")).is_empty());
    assert_eq!(ids(&index, &query("beta")), vec![id(1)]);
    // Twice in one batch, and with the id in upper case.
    put(&index, &rec(1, "gamma", ""));
    let mut upper = rec(1, "delta", "");
    upper.id = upper.id.to_uppercase();
    put(&index, &upper);
    index.commit().unwrap();
    assert_eq!(index.len(), 1);
    assert!(ids(&index, &query("gamma")).is_empty());
    assert_eq!(ids(&index, &query("delta")), vec![id(1)]);
}

#[test]
fn remove_deletes() {
    let (_dir, index) = open();
    put(&index, &rec(1, "alpha", ""));
    put(&index, &rec(2, "alpha", ""));
    index.commit().unwrap();
    index.remove(&id(1)).unwrap();
    index.remove(&id(99)).unwrap(); // unknown: fine
    index.commit().unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(ids(&index, &query("alpha")), vec![id(2)]);
    // Remove then re-add in one batch: the re-add wins.
    index.remove(&id(2)).unwrap();
    put(&index, &rec(2, "omega", ""));
    index.commit().unwrap();
    assert_eq!(ids(&index, &query("omega")), vec![id(2)]);
    assert_eq!(index.len(), 1);
}

#[test]
fn invalid_content_ids_are_refused() {
    let (_dir, index) = open();
    for bad in ["", "abc", &"g".repeat(40), &"a".repeat(41), &"é".repeat(20)] {
        let err = index.remove(bad).unwrap_err();
        assert!(matches!(err, SearchError::InvalidContentId(_)), "{bad}");
        let mut r = rec(1, "x", "");
        r.id = bad.to_string();
        let err = index
            .upsert(&IndexDoc {
                record: RecordRef { author: 0, seq: 0 },
                content_id: &r.id,
                title: "x",
                description: "",
                tags: &[],
                kind: "paper",
                author: "a",
                created_ms: 0,
                size: 0,
            })
            .unwrap_err();
        assert!(err.to_string().contains("40 hexadecimal"), "{err}");
    }
}

#[test]
fn prefix_matches_the_last_word_only() {
    let (_dir, index) = open();
    put(&index, &rec(1, "Quantum field theory", ""));
    put(&index, &rec(2, "Quantile regression", "field notes"));
    put(&index, &rec(3, "Café culture", "in Paris"));
    index.commit().unwrap();
    let mut hits = ids(&index, &query("quant"));
    hits.sort();
    assert_eq!(hits, vec![id(1), id(2)]);
    assert_eq!(ids(&index, &query("quantu")), vec![id(1)]);
    assert_eq!(ids(&index, &query("q")).len(), 2);
    // A finished word (followed by a space or punctuation) is matched exactly.
    assert!(ids(&index, &query("quant ")).is_empty());
    assert!(ids(&index, &query("quant.")).is_empty());
    // Only the last word is a prefix.
    assert!(ids(&index, &query("quant field")).is_empty());
    assert_eq!(ids(&index, &query("field quantu")), vec![id(1)]);
    // Case and accents.
    assert_eq!(ids(&index, &query("CAFE")), vec![id(3)]);
    assert_eq!(ids(&index, &query("café cult")), vec![id(3)]);
}

#[test]
fn kind_and_author_filters() {
    let (_dir, index) = open();
    let mut a = rec(1, "river data", "");
    a.kind = "dataset";
    a.author = "peer-x";
    let mut b = rec(2, "river film", "");
    b.kind = "video";
    b.author = "peer-y";
    let mut c = rec(3, "river paper", "");
    c.kind = "paper";
    c.author = "peer-x";
    for r in [&a, &b, &c] {
        put(&index, r);
    }
    index.commit().unwrap();
    let q = |text: &str, kinds: &[&str], authors: &[&str]| {
        let mut ids = ids(
            &index,
            &SearchQuery {
                text: text.into(),
                kinds: kinds.iter().map(|s| s.to_string()).collect(),
                authors: authors.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        );
        ids.sort();
        ids
    };
    assert_eq!(q("river", &["dataset"], &[]), vec![id(1)]);
    assert_eq!(q("river", &["dataset", "video"], &[]), vec![id(1), id(2)]);
    assert_eq!(q("river", &[], &["peer-x"]), vec![id(1), id(3)]);
    assert_eq!(q("river", &["paper"], &["peer-x"]), vec![id(3)]);
    assert_eq!(q("", &["video"], &[]), vec![id(2)]);
    assert_eq!(q("", &[], &["peer-y", "peer-z"]), vec![id(2)]);
    // Exact: no partial or case-folded match.
    assert!(q("river", &["Video"], &[]).is_empty());
    assert!(q("", &[], &["peer"]).is_empty());
    assert!(q("river", &["audio"], &[]).is_empty());
    // Many authors (set query path).
    let many: Vec<String> = (0..50)
        .map(|i| format!("peer-{i}"))
        .chain(["peer-y".into()])
        .collect();
    let hits = index
        .search(
            &SearchQuery {
                authors: many,
                ..Default::default()
            },
            &all,
        )
        .unwrap();
    assert_eq!(hits.ids, vec![id(2)]);
}

#[test]
fn accept_filter_and_paging() {
    let (_dir, index) = open();
    for n in 0..30 {
        put(&index, &rec(n, "common words here", "more common text"));
    }
    index.commit().unwrap();
    let even = |cid: &str| {
        u32::from_str_radix(&cid[..8], 16)
            .unwrap()
            .is_multiple_of(2)
    };
    for sort in [SortBy::Relevance, SortBy::Newest] {
        for text in ["common", ""] {
            let mut seen = Vec::new();
            for page in 0..5 {
                let hits = index
                    .search(
                        &SearchQuery {
                            text: text.into(),
                            sort,
                            offset: page * 4,
                            limit: 4,
                            ..Default::default()
                        },
                        &even,
                    )
                    .unwrap();
                assert_eq!(hits.total, 15, "{sort:?} {text:?}");
                assert!(!hits.total_is_lower_bound);
                assert!(hits.ids.iter().all(|i| even(i)));
                seen.extend(hits.ids);
            }
            let mut expected: Vec<String> = (0..30).filter(|n| n % 2 == 0).map(id).collect();
            if sort == SortBy::Newest || text.is_empty() {
                expected.reverse();
                assert_eq!(seen, expected, "newest first");
            } else {
                seen.sort();
                assert_eq!(seen, expected, "every accepted doc exactly once");
            }
        }
    }
    // limit 0: only the total.
    let hits = index
        .search(
            &SearchQuery {
                limit: 0,
                ..query("common")
            },
            &even,
        )
        .unwrap();
    assert_eq!((hits.total, hits.ids.len()), (15, 0));
    // Limit capped, offset bounded.
    let hits = index
        .search(
            &SearchQuery {
                limit: 1_000_000,
                ..query("")
            },
            &all,
        )
        .unwrap();
    assert_eq!(hits.ids.len(), 30);
    let err = index
        .search(
            &SearchQuery {
                offset: MAX_OFFSET + 1,
                ..query("")
            },
            &all,
        )
        .unwrap_err();
    assert!(matches!(err, SearchError::InvalidQuery(_)));
    let hits = index
        .search(
            &SearchQuery {
                offset: 100,
                ..query("")
            },
            &all,
        )
        .unwrap();
    assert!(hits.ids.is_empty());
    assert_eq!(hits.total, 30);
}

#[test]
fn count_stops_at_the_caps() {
    let (_dir, index) = open();
    for n in 0..40 {
        put(&index, &rec(n, "word", ""));
    }
    index.commit().unwrap();
    let even = |cid: &str| {
        u32::from_str_radix(&cid[..8], 16)
            .unwrap()
            .is_multiple_of(2)
    };
    for sort in [SortBy::Relevance, SortBy::Newest] {
        let q = SearchQuery {
            text: "word".into(),
            sort,
            limit: 5,
            ..Default::default()
        };
        let hits = index.search_with_caps(&q, &even, 10, 1000).unwrap();
        assert_eq!((hits.total, hits.total_is_lower_bound), (10, true));
        assert_eq!(hits.ids.len(), 5);
        let hits = index.search_with_caps(&q, &even, 1000, 8).unwrap();
        assert_eq!((hits.total, hits.total_is_lower_bound), (5, true));
        let hits = index.search_with_caps(&q, &even, 1000, 1000).unwrap();
        assert_eq!((hits.total, hits.total_is_lower_bound), (20, false));
        // The page is right even when counting stopped early.
        let deep = SearchQuery {
            offset: 15,
            ..q.clone()
        };
        let hits = index.search_with_caps(&deep, &even, 4, 4).unwrap();
        assert_eq!(hits.ids.len(), 5);
        assert!(hits.total >= 20 && hits.total_is_lower_bound);
    }
}

#[test]
fn hostile_queries_are_plain_words() {
    let (_dir, index) = open();
    put(
        &index,
        &rec(
            1,
            "title: AND OR NOT (x) \"quoted\" a*b",
            "+must -not field:value ~2 ^3",
        ),
    );
    put(&index, &rec(2, "plain", ""));
    index.commit().unwrap();
    let long = "word ".repeat(10_000);
    let unicode = "日本語 ✓ \u{0} \u{202e} e\u{301} 🦀".repeat(100);
    let hostile = [
        "\"",
        "\"unbalanced",
        "(",
        ")",
        "((((",
        "title:",
        ":",
        "a:b:c",
        "*",
        "?",
        "\\",
        "AND",
        "OR NOT",
        "-",
        "+",
        "~",
        "^",
        "[",
        "]",
        "{}",
        "[a TO b]",
        "field:value",
        "\u{0}",
        "  ",
        "\t\n",
        "'; DROP TABLE--",
        &long,
        &unicode,
        "ab*",
        "a~2",
        "x^10",
        "\u{fffd}",
        "🦀",
        "ÅÄÖ",
        "-not",
        "title:(quoted",
    ];
    for text in hostile {
        for sort in [SortBy::Relevance, SortBy::Newest] {
            let q = SearchQuery {
                text: text.to_string(),
                sort,
                kinds: vec![text.to_string()],
                ..Default::default()
            };
            index.search(&q, &all).unwrap();
            index.search(&query(text), &all).unwrap();
        }
    }
    assert_eq!(ids(&index, &query("title:(quoted")), vec![id(1)]);
    assert_eq!(ids(&index, &query("\"field:value\"")), vec![id(1)]);
    assert_eq!(ids(&index, &query("NOT AND")), vec![id(1)]);
    // No word at all: browse everything.
    assert_eq!(ids(&index, &query("!!! ::: ((")).len(), 2);
}

#[test]
fn equal_scores_newest_first() {
    let (_dir, index) = open();
    for (n, c) in [(1u32, 50u64), (2, 90), (3, 10), (4, 70)] {
        let mut r = rec(n, "same title", "");
        r.created_ms = c;
        put(&index, &r);
        index.commit().unwrap(); // one segment each
    }
    let expected = vec![id(2), id(4), id(1), id(3)];
    assert_eq!(ids(&index, &query("same")), expected);
    let page = |offset| {
        index
            .search(
                &SearchQuery {
                    offset,
                    limit: 1,
                    ..query("title ")
                },
                &all,
            )
            .unwrap()
            .ids
    };
    let paged: Vec<String> = (0..4).flat_map(page).collect();
    assert_eq!(paged, expected);
}

#[test]
fn newest_sort_and_browse() {
    let (_dir, index) = open();
    let created = [5_000u64, 1_000, 9_000, 3_000];
    for (n, c) in created.iter().enumerate() {
        let mut r = rec(
            n as u32,
            "report",
            if n == 2 { "" } else { "report report report" },
        );
        r.created_ms = *c;
        put(&index, &r);
    }
    index.commit().unwrap();
    let newest = vec![id(2), id(0), id(3), id(1)];
    let q = SearchQuery {
        text: "report".into(),
        sort: SortBy::Newest,
        ..Default::default()
    };
    assert_eq!(ids(&index, &q), newest);
    // Empty text: newest first whatever the sort.
    assert_eq!(ids(&index, &query("")), newest);
    // Relevance puts the doc without the word in its description last.
    assert_eq!(ids(&index, &query("report")).last().unwrap(), &id(2));
}

#[test]
fn locate_sees_uncommitted_changes_and_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let at = |author, seq| Some(RecordRef { author, seq });
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.checkpoint(), 0);
        put_at(&index, &rec(1, "one", ""), RecordRef { author: 1, seq: 10 });
        put_at(&index, &rec(2, "two", ""), RecordRef { author: 2, seq: 20 });
        assert_eq!(index.locate(&id(1)).unwrap(), at(1, 10));
        index.commit_through(2).unwrap();
        assert_eq!(index.locate(&id(1)).unwrap(), at(1, 10));
        // Replaced and removed before the next commit, and after it.
        put_at(
            &index,
            &rec(1, "one again", ""),
            RecordRef { author: 1, seq: 11 },
        );
        index.remove(&id(2)).unwrap();
        assert_eq!(index.locate(&id(1)).unwrap(), at(1, 11));
        assert_eq!(index.locate(&id(2)).unwrap(), None);
        index.commit_through(4).unwrap();
        assert_eq!(index.locate(&id(1)).unwrap(), at(1, 11));
        assert_eq!(index.locate(&id(2)).unwrap(), None);
        // Never committed: lost with the process, and the checkpoint says so.
        put_at(
            &index,
            &rec(3, "three", ""),
            RecordRef { author: 3, seq: 1 },
        );
        assert_eq!(index.locate(&id(3)).unwrap(), at(3, 1));
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.checkpoint(), 4);
    assert_eq!(index.locate(&id(1)).unwrap(), at(1, 11));
    assert_eq!(index.locate(&id(2)).unwrap(), None);
    assert_eq!(index.locate(&id(3)).unwrap(), None);
    // A clear hides committed records from `locate` at once, as a rebuild needs.
    index.clear().unwrap();
    assert_eq!(index.locate(&id(1)).unwrap(), None);
    put_at(&index, &rec(4, "four", ""), RecordRef { author: 4, seq: 1 });
    assert_eq!(index.locate(&id(4)).unwrap(), at(4, 1));
    // The checkpoint moves even when no record changed.
    index.commit_through(4).unwrap();
    index.commit_through(9).unwrap();
    drop(index);
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.checkpoint(), 9);
    assert_eq!(index.locate(&id(4)).unwrap(), at(4, 1));
    assert_eq!(index.len(), 1);
}

#[test]
fn reopen_persists_committed_only() {
    let dir = TempDir::new().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        put(&index, &rec(1, "persistent", ""));
        index.commit().unwrap();
        put(&index, &rec(2, "persistent uncommitted", ""));
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(ids(&index, &query("persistent")), vec![id(1)]);
    // The reopened index replaces documents of earlier sessions.
    put(&index, &rec(1, "renamed", ""));
    index.commit().unwrap();
    assert_eq!(index.len(), 1);
    assert!(ids(&index, &query("persistent ")).is_empty());
}

#[test]
fn second_open_is_locked() {
    let (dir, _index) = open();
    let err = SearchIndex::open(dir.path()).unwrap_err();
    assert!(matches!(err, SearchError::Locked { .. }), "{err}");
    let err = SearchIndex::recreate(dir.path()).unwrap_err();
    assert!(matches!(err, SearchError::Locked { .. }), "{err}");
}

#[test]
fn schema_version_is_checked() {
    let dir = TempDir::new().unwrap();
    let keep = dir.path().join("not-ours.txt");
    fs::write(&keep, "keep me").unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        put(&index, &rec(1, "old", ""));
        index.commit().unwrap();
    }
    fs::write(dir.path().join(VERSION_FILE), "0\n").unwrap();
    let err = SearchIndex::open(dir.path()).unwrap_err();
    assert!(err.needs_rebuild(), "{err}");
    assert!(err.to_string().contains("rebuilt"), "{err}");
    fs::remove_file(dir.path().join(VERSION_FILE)).unwrap();
    assert!(SearchIndex::open(dir.path()).unwrap_err().needs_rebuild());
    let index = SearchIndex::recreate(dir.path()).unwrap();
    assert_eq!(index.len(), 0);
    put(&index, &rec(2, "new", ""));
    index.commit().unwrap();
    assert_eq!(ids(&index, &query("new")), vec![id(2)]);
    assert!(keep.exists());
    drop(index);
    assert_eq!(SearchIndex::open(dir.path()).unwrap().len(), 1);
}

#[test]
fn corrupt_meta_needs_rebuild() {
    let dir = TempDir::new().unwrap();
    drop(SearchIndex::open(dir.path()).unwrap());
    fs::write(dir.path().join("meta.json"), "{ not json").unwrap();
    let err = SearchIndex::open(dir.path()).unwrap_err();
    assert!(matches!(err, SearchError::Corrupt { .. }), "{err}");
    assert_eq!(SearchIndex::recreate(dir.path()).unwrap().len(), 0);
}

#[test]
fn clear_takes_effect_at_commit() {
    let (_dir, index) = open();
    put(&index, &rec(1, "old", ""));
    put(&index, &rec(2, "old", ""));
    index.commit().unwrap();
    put(&index, &rec(3, "uncommitted", ""));
    index.clear().unwrap();
    put(&index, &rec(4, "new", ""));
    put(&index, &rec(1, "new", ""));
    // Searches still see the old index until the commit.
    assert_eq!(index.len(), 2);
    assert_eq!(ids(&index, &query("old")).len(), 2);
    index.commit().unwrap();
    assert_eq!(index.len(), 2);
    assert!(ids(&index, &query("old")).is_empty());
    assert!(ids(&index, &query("uncommitted")).is_empty());
    let mut hits = ids(&index, &query("new"));
    hits.sort();
    assert_eq!(hits, vec![id(1), id(4)]);
    // The writer still works after the clear.
    put(&index, &rec(1, "again", ""));
    index.commit().unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(ids(&index, &query("again")), vec![id(1)]);
}

#[test]
fn shared_across_threads() {
    let (_dir, index) = open();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let index = index.clone();
            s.spawn(move || {
                for n in 0..50 {
                    put(&index, &rec(t * 1000 + n, "threaded", ""));
                }
                index.commit().unwrap();
                index.search(&query("threaded"), &all).unwrap();
            });
        }
    });
    index.commit().unwrap();
    assert_eq!(index.len(), 200);
    assert_eq!(index.search(&query("thread"), &all).unwrap().total, 200);
}

#[test]
fn score_keys_preserve_order() {
    let scores = [
        Score::MIN,
        -3.5,
        -0.0,
        0.0,
        1e-9,
        0.5,
        1.0,
        7.25,
        Score::MAX,
    ];
    for w in scores.windows(2) {
        assert!(score_key(w[0]) <= score_key(w[1]), "{w:?}");
    }
    for s in scores {
        assert_eq!(key_score(score_key(s)), s);
    }
}

mod bench;
