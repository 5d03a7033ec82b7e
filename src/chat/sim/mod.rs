//! Deterministic network simulator for rooms and direct messages (tests only).
//!
//! No threads and no real time: one event queue ordered by (simulated ms, insertion
//! order), one seeded PRNG (splitmix64). Each run is reproducible from its seed.
//!
//! The network delivers a message after the pair's base delay plus jitter (so messages
//! overtake each other), drops some, duplicates some, and loses everything in flight on a
//! connection that goes down (a crash, a restart or a partition ends the connection, as a
//! real transport would). A crash loses all volatile state: the node restarts from the
//! operations it had persisted, serialized to JSON and read back (so the persisted types
//! are also exercised through serde). Because a node handles one event at a time and the
//! actions of a batch are carried out together, "persist before send" holds as in the
//! actor.
//!
//! After the faults stop, the network heals, every node restarts, and the run settles;
//! then the invariants are checked (see `check`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::dm::*;
use super::room::*;

mod dm;
mod rooms;

type Peer = u64;

/// What both simulators share: a queue of events by (time, insertion order) and a clock.
trait Stepper {
    /// When the earliest queued event is due.
    fn next_due(&self) -> Option<u64>;
    /// Handles the earliest queued event.
    fn step(&mut self) -> bool;
    /// Moves the clock forward to `t` (never back).
    fn advance_to(&mut self, t: u64);

    /// Handles every event due by `t`, then sets the clock to `t`.
    fn run_until(&mut self, t: u64) {
        while self.next_due().is_some_and(|when| when <= t) {
            self.step();
        }
        self.advance_to(t);
    }
}

/// splitmix64: tiny, good enough, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

fn msg_id(n: u64) -> MsgId {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    id[0] = 0xAB;
    id
}

/// Network behaviour.
#[derive(Clone, Debug)]
struct NetCfg {
    min_delay: u64,
    max_delay: u64,
    jitter: u64,
    drop: f64,
    dup: f64,
}

impl NetCfg {
    fn lossy() -> Self {
        NetCfg {
            min_delay: 5,
            max_delay: 60,
            jitter: 40,
            drop: 0.05,
            dup: 0.03,
        }
    }
    fn clean() -> Self {
        NetCfg {
            min_delay: 5,
            max_delay: 30,
            jitter: 5,
            drop: 0.0,
            dup: 0.0,
        }
    }
}

/// How many random runs a test makes: `env` overrides `default`.
fn seeds(env: &str, default: u64) -> u64 {
    std::env::var(env)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
