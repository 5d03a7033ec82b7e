//! Gossip validation off the swarm task: feed entries (JSON, ed25519, thumbnails decoded
//! with bounded memory) are checked by a feature's [`GossipCheck`] on a worker thread fed by
//! a bounded queue, and the verdicts go back to the network task, which reports them to
//! gossipsub. A full queue, or a sender over its rate ([`RateLimit`]), has its messages
//! ignored (not relayed) and counted; catch-up repairs what honest peers lose that way.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use libp2p::{gossipsub, PeerId};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::GossipCheck;

/// Messages waiting for validation; more are ignored.
pub const VALIDATION_QUEUE: usize = 256;
/// Gossip messages a neighbour may hand this node per second, on all topics, and in a burst.
pub const GOSSIP_RATE: f64 = 100.0;
pub const GOSSIP_BURST: f64 = 500.0;
/// Neighbours whose rate is tracked; beyond it the table starts over (a neighbour is a
/// connected peer, whose number the connection limits bound).
const MAX_TRACKED: usize = 4096;

pub(crate) struct Job {
    pub id: gossipsub::MessageId,
    pub source: PeerId,
    pub data: Vec<u8>,
}

pub(crate) struct Verdict {
    pub id: gossipsub::MessageId,
    pub source: PeerId,
    pub acceptance: gossipsub::MessageAcceptance,
}

/// The network task's end of the worker.
pub(crate) struct Validator {
    pub jobs: mpsc::Sender<Job>,
    pub verdicts: mpsc::Receiver<Verdict>,
    /// Blocked peers, as the worker sees them (the check ignores their entries).
    pub blocked: Arc<RwLock<HashSet<PeerId>>>,
}

/// Starts the worker thread that runs `check` on every job.
pub(crate) fn spawn(
    mut check: Box<dyn GossipCheck>,
    blocked: &[PeerId],
    tracker: &TaskTracker,
) -> Validator {
    let (jobs, mut rx) = mpsc::channel::<Job>(VALIDATION_QUEUE);
    let (tx, verdicts) = mpsc::channel(VALIDATION_QUEUE);
    let blocked = Arc::new(RwLock::new(blocked.iter().copied().collect::<HashSet<_>>()));
    let seen = blocked.clone();
    tracker.spawn_blocking(move || {
        // Ends when the network task drops its sender.
        while let Some(job) = rx.blocking_recv() {
            let acceptance = {
                let blocked = seen.read().unwrap_or_else(|p| p.into_inner());
                check.check(job.source, &job.data, &|p| blocked.contains(p))
            };
            let verdict = Verdict {
                id: job.id,
                source: job.source,
                acceptance,
            };
            if tx.blocking_send(verdict).is_err() {
                break;
            }
        }
    });
    Validator {
        jobs,
        verdicts,
        blocked,
    }
}

/// A token bucket per neighbour.
#[derive(Default)]
pub(crate) struct RateLimit {
    buckets: HashMap<PeerId, (f64, Instant)>,
}

impl RateLimit {
    /// Whether `peer` may hand over one more message now.
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&peer) {
            self.buckets.clear();
        }
        let (tokens, last) = self.buckets.entry(peer).or_insert((GOSSIP_BURST, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * GOSSIP_RATE).min(GOSSIP_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn forget(&mut self, peer: &PeerId) {
        self.buckets.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_neighbour_gets_its_burst_then_its_rate() {
        let mut r = RateLimit::default();
        let p = PeerId::random();
        let t = Instant::now();
        let allowed = (0..2_000).filter(|_| r.allow(p, t)).count();
        assert_eq!(allowed, GOSSIP_BURST as usize);
        let later = t + Duration::from_secs(1);
        let allowed = (0..2_000).filter(|_| r.allow(p, later)).count();
        assert_eq!(allowed, GOSSIP_RATE as usize);
        // Another neighbour has its own bucket.
        assert!(r.allow(PeerId::random(), later));
    }

    struct Slow;
    impl GossipCheck for Slow {
        fn check(
            &mut self,
            _: PeerId,
            data: &[u8],
            blocked: &dyn Fn(&PeerId) -> bool,
        ) -> gossipsub::MessageAcceptance {
            std::thread::sleep(Duration::from_millis(20));
            if data == b"ok" && !blocked(&PeerId::random()) {
                gossipsub::MessageAcceptance::Accept
            } else {
                gossipsub::MessageAcceptance::Reject
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_check_never_holds_up_the_caller_and_the_queue_is_bounded() {
        let tracker = TaskTracker::new();
        let mut v = spawn(Box::new(Slow), &[], &tracker);
        let started = Instant::now();
        let mut queued = 0;
        let mut refused = 0;
        for i in 0..VALIDATION_QUEUE * 2 {
            let job = Job {
                id: gossipsub::MessageId::new(&i.to_le_bytes()),
                source: PeerId::random(),
                data: if i % 2 == 0 {
                    b"ok".to_vec()
                } else {
                    b"no".to_vec()
                },
            };
            match v.jobs.try_send(job) {
                Ok(()) => queued += 1,
                Err(_) => refused += 1,
            }
        }
        // Handing over 512 jobs to a check that takes 20 ms each took no time at all.
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        assert!(
            refused > 0 && queued <= VALIDATION_QUEUE + 1,
            "{queued} {refused}"
        );
        let first = v.verdicts.recv().await.unwrap();
        assert_eq!(first.acceptance, gossipsub::MessageAcceptance::Accept);
        drop(v);
        tracker.close();
    }
}
