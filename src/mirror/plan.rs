//! The mirrors' quota rule: which resources of the mirrored peers to fetch and which mirror
//! copies to delete for them. Pure and deterministic:
//! - The mirrored peers' resources not on this disk are taken newest first. One that fits in
//!   what the quota has left is fetched (its full size counts from the start).
//! - One that does not fit may push out mirror copies, the one watched longest ago first
//!   (a copy never watched counts as watched when it was published). Only copies last
//!   touched (published or watched) before the newcomer was published may go, so older
//!   content never pushes out newer and the mirror does not churn.
//! - A resource larger than the whole quota is never mirrored.
//!
//! (Cancelled mirror downloads and turned-off mirrors are the actor's business: see
//! [`super`].)

/// A resource of a mirrored peer that is not on this disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub size: u64,
    pub created_ms: u64,
}

/// A mirror copy on this disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    pub size: u64,
    pub created_ms: u64,
    pub watched_ms: u64,
}

impl Held {
    /// When it was last published or watched.
    fn touched(&self) -> u64 {
        self.created_ms.max(self.watched_ms)
    }
}

/// What the mirrors should do now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub fetch: Vec<String>,
    pub evict: Vec<String>,
    /// Candidates the quota has no room for (larger than the whole quota included).
    pub left_out: usize,
}

/// The quota rule (see the module documentation).
pub fn plan(candidates: &[Candidate], held: &[Held], quota: u64) -> Plan {
    let mut used: u64 = held.iter().map(|h| h.size).sum();
    let mut cands: Vec<&Candidate> = candidates.iter().filter(|c| c.size <= quota).collect();
    let too_big = candidates.len() - cands.len();
    cands.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
    // Eviction order: watched longest ago first.
    let mut keep: Vec<&Held> = held.iter().collect();
    keep.sort_by(|a, b| a.touched().cmp(&b.touched()).then(a.id.cmp(&b.id)));
    let mut out = Plan::default();
    for c in cands {
        if used.saturating_add(c.size) > quota {
            // Free room from copies last touched before this one was published.
            let need = used.saturating_add(c.size) - quota;
            let mut freed = 0u64;
            let mut victims = Vec::new();
            for (i, h) in keep.iter().enumerate() {
                if freed >= need {
                    break;
                }
                if h.touched() < c.created_ms {
                    freed += h.size;
                    victims.push(i);
                }
            }
            if freed < need {
                out.left_out += 1;
                continue;
            }
            for i in victims.into_iter().rev() {
                let h = keep.remove(i);
                used -= h.size;
                out.evict.push(h.id.clone());
            }
        }
        used += c.size;
        out.fetch.push(c.id.clone());
    }
    out.evict.sort();
    out.left_out += too_big;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, size: u64, created_ms: u64) -> Candidate {
        Candidate {
            id: id.into(),
            size,
            created_ms,
        }
    }

    fn held(id: &str, size: u64, created_ms: u64, watched_ms: u64) -> Held {
        Held {
            id: id.into(),
            size,
            created_ms,
            watched_ms,
        }
    }

    #[test]
    fn newest_first_until_the_quota_is_full() {
        let c = [cand("a", 40, 1), cand("b", 40, 2), cand("c", 40, 3)];
        let p = plan(&c, &[], 100);
        assert_eq!(p.fetch, vec!["c", "b"]);
        assert!(p.evict.is_empty());
    }

    #[test]
    fn a_newer_item_evicts_the_copy_watched_longest_ago() {
        // x was published first but watched recently; y is older content never watched.
        let h = [held("x", 40, 1, 50), held("y", 40, 2, 0)];
        let p = plan(&[cand("new", 40, 60)], &h, 100);
        assert_eq!(p.fetch, vec!["new"]);
        assert_eq!(p.evict, vec!["y"]);
    }

    #[test]
    fn older_content_never_pushes_out_newer() {
        let h = [held("x", 60, 10, 0)];
        let p = plan(&[cand("old", 60, 5)], &h, 100);
        let full = Plan {
            left_out: 1,
            ..Plan::default()
        };
        assert_eq!(p, full);
        // Nor a copy watched after the newcomer was published.
        let h = [held("x", 60, 1, 20)];
        assert_eq!(plan(&[cand("n", 60, 10)], &h, 100), full);
    }

    #[test]
    fn too_big_for_the_quota_is_skipped() {
        let p = plan(&[cand("huge", 101, 9), cand("s", 10, 1)], &[], 100);
        assert_eq!(p.fetch, vec!["s"]);
        assert_eq!(p.left_out, 1, "the quota is full for what was left out");
    }

    #[test]
    fn eviction_frees_only_what_is_needed() {
        let h = [
            held("a", 30, 1, 0),
            held("b", 30, 2, 0),
            held("c", 30, 3, 0),
        ];
        let p = plan(&[cand("n", 40, 9)], &h, 100);
        assert_eq!(p.fetch, vec!["n"]);
        assert_eq!(p.evict, vec!["a"]);
        let p = plan(&[cand("n", 50, 9)], &h, 100);
        assert_eq!(p.fetch, vec!["n"]);
        assert_eq!(p.evict, vec!["a", "b"]);
    }

    #[test]
    fn the_plan_is_stable_once_applied() {
        let c = [cand("a", 40, 1), cand("b", 40, 2), cand("c", 40, 3)];
        let first = plan(&c, &[], 100);
        let held: Vec<Held> = c
            .iter()
            .filter(|x| first.fetch.contains(&x.id))
            .map(|x| held(&x.id, x.size, x.created_ms, 0))
            .collect();
        let rest: Vec<Candidate> = c
            .iter()
            .filter(|x| !first.fetch.contains(&x.id))
            .cloned()
            .collect();
        // Nothing to fetch or evict; the one that does not fit is still counted as left out.
        assert_eq!(
            plan(&rest, &held, 100),
            Plan {
                left_out: 1,
                ..Plan::default()
            }
        );
    }
}
