//! Collectors that read content ids from fast columns: the top hits by score or by date,
//! and a capped count of accepted hits.

use super::*;

/// The content id columns of one segment.
pub(super) struct IdColumns {
    a: Arc<dyn ColumnValues<u64>>,
    b: Arc<dyn ColumnValues<u64>>,
    c: Arc<dyn ColumnValues<u64>>,
}

impl IdColumns {
    pub(super) fn open(segment: &SegmentReader) -> Result<Self, SearchError> {
        let ff = segment.fast_fields();
        Ok(IdColumns {
            a: ff.u64(F_ID0)?.first_or_default_col(0),
            b: ff.u64(F_ID1)?.first_or_default_col(0),
            c: ff.u64(F_ID2)?.first_or_default_col(0),
        })
    }

    /// The content id of `doc` as lower-case hex, written into `buf`.
    pub(super) fn hex<'b>(&self, doc: DocId, buf: &'b mut [u8; 40]) -> &'b str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let parts = [
            (self.a.get_val(doc), 16),
            (self.b.get_val(doc), 16),
            (self.c.get_val(doc), 8),
        ];
        let mut at = 0;
        for (value, digits) in parts {
            for i in (0..digits).rev() {
                buf[at] = HEX[((value >> (i * 4)) & 0xf) as usize];
                at += 1;
            }
        }
        std::str::from_utf8(&buf[..]).expect("hex is ascii")
    }
}

/// Counts accepted hits, up to the caps.
pub(super) struct Counter {
    pub(super) count: usize,
    examined: usize,
    cap: usize,
    budget: usize,
    pub(super) stopped: bool,
}

impl Counter {
    pub(super) fn new(cap: usize, budget: usize) -> Self {
        Counter {
            count: 0,
            examined: 0,
            cap,
            budget,
            stopped: false,
        }
    }

    fn counting(&self) -> bool {
        !self.stopped
    }

    fn add(&mut self, accepted: bool) {
        self.examined += 1;
        self.count += usize::from(accepted);
        if self.count >= self.cap || self.examined >= self.budget {
            self.stopped = true;
        }
    }
}

/// The best `k` hits by a `u64` key, then a `u64` tie-breaker (higher is better; then the
/// earlier address).
pub(super) struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

/// Ordered worst-first, so that the max-heap's top is the worst kept hit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    key: u64,
    tie: u64,
    addr: (u32, DocId),
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.key, other.tie)
            .cmp(&(self.key, self.tie))
            .then_with(|| self.addr.cmp(&other.addr))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl TopK {
    pub(super) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
        }
    }

    fn would_enter(&self, key: u64, tie: u64, addr: (u32, DocId)) -> bool {
        if self.heap.len() < self.k {
            return true;
        }
        match self.heap.peek() {
            Some(worst) => Entry { key, tie, addr } < *worst,
            None => false,
        }
    }

    fn push(&mut self, key: u64, tie: u64, addr: (u32, DocId)) {
        self.heap.push(Entry { key, tie, addr });
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// The key a hit must beat to enter, once full.
    fn threshold(&self) -> Option<u64> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|e| e.key)
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<(u32, DocId)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.addr)
            .collect()
    }
}

/// An order-preserving map of scores to `u64`.
pub(super) fn score_key(score: Score) -> u64 {
    let bits = score.to_bits();
    u64::from(if bits & 0x8000_0000 == 0 {
        bits | 0x8000_0000
    } else {
        !bits
    })
}

pub(super) fn key_score(key: u64) -> Score {
    let bits = key as u32;
    Score::from_bits(if bits & 0x8000_0000 != 0 {
        bits & 0x7fff_ffff
    } else {
        !bits
    })
}

/// The best `k` accepted hits by relevance (equal scores: newest first), with block-WAND pruning:
/// only hits that would enter the page are shown to `accept`.
pub(super) fn top_by_score(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
    accept: &dyn Fn(&str) -> bool,
) -> Result<Vec<(u32, DocId)>, SearchError> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let mut top = TopK::new(k);
    let mut buf = [0u8; 40];
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as u32;
        let ids = IdColumns::open(segment)?;
        let created = segment
            .fast_fields()
            .u64(F_CREATED)?
            .first_or_default_col(0);
        let alive = segment.alive_bitset();
        // Pruning passes only scores above the threshold: just below the worst kept score, so
        // that equal scores still compete on the tie-breaker.
        let threshold = |top: &TopK| {
            top.threshold()
                .map(|key| key_score(key).next_down())
                .unwrap_or(Score::MIN)
        };
        weight.for_each_pruning(threshold(&top), segment, &mut |doc, score| {
            let key = score_key(score);
            let deleted = alive.is_some_and(|a| a.is_deleted(doc));
            if !deleted {
                let tie = created.get_val(doc);
                if top.would_enter(key, tie, (ord, doc)) && accept(ids.hex(doc, &mut buf)) {
                    top.push(key, tie, (ord, doc));
                }
            }
            threshold(&top)
        })?;
    }
    Ok(top.into_sorted())
}

/// Counts the accepted hits (up to the caps), without scoring.
pub(super) fn count_accepted(
    searcher: &Searcher,
    query: &dyn Query,
    accept: &dyn Fn(&str) -> bool,
    counter: &mut Counter,
) -> Result<(), SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut buf = [0u8; 40];
    for segment in searcher.segment_readers() {
        if !counter.counting() {
            break;
        }
        let ids = IdColumns::open(segment)?;
        let alive = segment.alive_bitset();
        let mut scorer = weight.scorer(segment, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED && counter.counting() {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                counter.add(accept(ids.hex(doc, &mut buf)));
            }
            doc = scorer.advance();
        }
    }
    Ok(())
}

/// The `k` newest accepted hits, counting accepted hits on the way (up to the caps).
pub(super) fn newest(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
    accept: &dyn Fn(&str) -> bool,
    counter: &mut Counter,
) -> Result<Vec<(u32, DocId)>, SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut top = TopK::new(k);
    let mut buf = [0u8; 40];
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        if k == 0 && !counter.counting() {
            break;
        }
        let ord = ord as u32;
        let ids = IdColumns::open(segment)?;
        let created = segment
            .fast_fields()
            .u64(F_CREATED)?
            .first_or_default_col(0);
        let alive = segment.alive_bitset();
        let mut scorer = weight.scorer(segment, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                let key = created.get_val(doc);
                let competitive = top.would_enter(key, 0, (ord, doc));
                let counting = counter.counting();
                if competitive || counting {
                    let accepted = accept(ids.hex(doc, &mut buf));
                    if counting {
                        counter.add(accepted);
                    }
                    if accepted && competitive {
                        top.push(key, 0, (ord, doc));
                    }
                } else if k == 0 {
                    break;
                }
            }
            doc = scorer.advance();
        }
    }
    Ok(top.into_sorted())
}
