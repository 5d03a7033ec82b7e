//! The direct-message simulator: nodes running [`DirectMessages`] over the simulated
//! network.

use super::*;

struct DmNode {
    up: bool,
    dm: Option<DirectMessages<Peer>>,
    disk: DmSnapshot<Peer>,
    shown: Vec<(Peer, MsgId)>,
    timer_gen: u64,
    states: HashMap<MsgId, DmState>,
}

enum DmEv {
    Deliver {
        from: usize,
        to: usize,
        conn: u64,
        msg: DmWire,
    },
    Tick {
        node: usize,
        gen: u64,
    },
    Send {
        from: usize,
        to: usize,
        id: MsgId,
    },
    Crash(usize),
    Restart(usize),
}

struct DmSim {
    rng: Rng,
    now: u64,
    order: u64,
    queue: BTreeMap<(u64, u64), DmEv>,
    nodes: Vec<DmNode>,
    /// Link generation per pair; odd = up. Links are up when both nodes are up and the
    /// pair is not cut.
    conns: BTreeMap<(usize, usize), u64>,
    cut: BTreeSet<(usize, usize)>,
    /// A node that is "up" but drops everything it receives (a hung process).
    deaf: BTreeSet<usize>,
    net: NetCfg,
    sent: BTreeMap<MsgId, (usize, usize)>,
    /// Every wire message ever delivered, for replay tests.
    delivered_log: Vec<(usize, usize, DmWire)>,
    /// `Message`s put on the wire, per sender.
    tries: BTreeMap<usize, usize>,
}

impl DmSim {
    fn new(seed: u64, n: usize, net: NetCfg) -> Self {
        let nodes = (0..n)
            .map(|_| DmNode {
                up: true,
                dm: Some(DirectMessages::new()),
                disk: DmSnapshot::default(),
                shown: Vec::new(),
                timer_gen: 0,
                states: HashMap::new(),
            })
            .collect();
        let mut s = DmSim {
            rng: Rng::new(seed),
            now: 0,
            order: 0,
            queue: BTreeMap::new(),
            nodes,
            conns: BTreeMap::new(),
            cut: BTreeSet::new(),
            deaf: BTreeSet::new(),
            net,
            sent: BTreeMap::new(),
            delivered_log: Vec::new(),
            tries: BTreeMap::new(),
        };
        s.relink();
        s
    }

    fn at(&mut self, time: u64, ev: DmEv) {
        self.order += 1;
        self.queue.insert((time, self.order), ev);
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        a != b && self.nodes[a].up && self.nodes[b].up && !self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn conn(&self, a: usize, b: usize) -> u64 {
        self.conns.get(&(a.min(b), a.max(b))).copied().unwrap_or(0)
    }

    fn relink(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in a + 1..n {
                let want = self.linked(a, b);
                let gen = self.conn(a, b);
                if want == (gen % 2 == 1) {
                    continue;
                }
                self.conns.insert((a, b), gen + 1);
                for (x, y) in [(a, b), (b, a)] {
                    let ev = if want {
                        DmEvent::Online(y as Peer)
                    } else {
                        DmEvent::Offline(y as Peer)
                    };
                    self.feed(x, ev);
                }
            }
        }
    }

    fn feed(&mut self, i: usize, ev: DmEvent<Peer>) {
        if !self.nodes[i].up {
            return;
        }
        let now = self.now;
        let Some(dm) = self.nodes[i].dm.as_mut() else {
            return;
        };
        let actions = dm.handle(ev, now);
        let mut seen_other = false;
        for a in actions {
            match a {
                DmAction::Persist(op) => {
                    assert!(!seen_other, "persist after a non-persist action");
                    self.nodes[i].disk.apply(&op);
                    continue;
                }
                DmAction::Send { to, msg } => self.transmit(i, to as usize, msg),
                DmAction::Deliver { from, id, .. } => self.nodes[i].shown.push((from, id)),
                DmAction::State { id, state } => {
                    self.nodes[i].states.insert(id, state);
                }
                DmAction::Refused { id, .. } => {
                    self.sent.remove(&id);
                }
                DmAction::SetTimer { at } => {
                    self.nodes[i].timer_gen += 1;
                    let gen = self.nodes[i].timer_gen;
                    self.at(at.max(self.now + 1), DmEv::Tick { node: i, gen });
                }
            }
            seen_other = true;
        }
    }

    fn transmit(&mut self, from: usize, to: usize, msg: DmWire) {
        if matches!(msg, DmWire::Message { .. }) {
            *self.tries.entry(from).or_default() += 1;
        }
        if !self.linked(from, to) || self.rng.chance(self.net.drop) {
            return;
        }
        let conn = self.conn(from, to);
        let copies = if self.rng.chance(self.net.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let t = self.now + self.net.min_delay + self.rng.below(self.net.jitter + 1);
            self.at(
                t,
                DmEv::Deliver {
                    from,
                    to,
                    conn,
                    msg: msg.clone(),
                },
            );
        }
    }

    /// Handles the earliest queued event (`false` when there is none).
    fn step_one(&mut self) -> bool {
        let Some(((t, _), ev)) = self.queue.pop_first() else {
            return false;
        };
        self.now = t;
        match ev {
            DmEv::Deliver {
                from,
                to,
                conn,
                msg,
            } => {
                if self.conn(from, to) == conn && self.linked(from, to) && !self.deaf.contains(&to)
                {
                    self.delivered_log.push((from, to, msg.clone()));
                    self.feed(
                        to,
                        DmEvent::Wire {
                            from: from as Peer,
                            msg,
                        },
                    );
                }
            }
            DmEv::Tick { node, gen } => {
                if self.nodes[node].timer_gen == gen {
                    self.feed(node, DmEvent::Tick);
                }
            }
            DmEv::Send { from, to, id } => {
                if self.nodes[from].up {
                    self.sent.insert(id, (from, to));
                    let body = format!("dm {id:?}");
                    self.feed(
                        from,
                        DmEvent::Send {
                            to: to as Peer,
                            id,
                            body,
                        },
                    );
                }
            }
            DmEv::Crash(i) => {
                self.nodes[i].up = false;
                self.nodes[i].dm = None;
                self.relink();
            }
            DmEv::Restart(i) => {
                if !self.nodes[i].up {
                    let bytes = serde_json::to_vec(&self.nodes[i].disk).expect("serialize");
                    let snap: DmSnapshot<Peer> = serde_json::from_slice(&bytes).expect("read");
                    self.nodes[i].dm = Some(DirectMessages::restore(snap));
                    self.nodes[i].up = true;
                    self.relink();
                    // Nothing else wakes it: one tick to arm its timer.
                    self.feed(i, DmEvent::Tick);
                }
            }
        }
        true
    }

    fn set_cut(&mut self, a: usize, b: usize, cut: bool) {
        let k = (a.min(b), a.max(b));
        if cut {
            self.cut.insert(k);
        } else {
            self.cut.remove(&k);
        }
        self.relink();
    }

    /// Every accepted message shown exactly once at its recipient; outboxes empty.
    fn check(&self) -> Result<(), String> {
        let mut counts: HashMap<(usize, MsgId), usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for (_, id) in &n.shown {
                *counts.entry((i, *id)).or_default() += 1;
            }
        }
        for (id, (from, to)) in &self.sent {
            match counts.get(&(*to, *id)) {
                Some(1) => {}
                Some(k) => return Err(format!("{id:?} from {from} shown {k} times at {to}")),
                None => return Err(format!("{id:?} from {from} never shown at {to}")),
            }
        }
        if counts.values().any(|&k| k != 1) {
            return Err("a message was shown twice".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(dm) = &n.dm {
                if dm.pending().count() != 0 {
                    return Err(format!(
                        "node {i} still has {} pending",
                        dm.pending().count()
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Stepper for DmSim {
    fn next_due(&self) -> Option<u64> {
        self.queue.first_key_value().map(|((when, _), _)| *when)
    }
    fn step(&mut self) -> bool {
        self.step_one()
    }
    fn advance_to(&mut self, t: u64) {
        self.now = self.now.max(t);
    }
}

#[cfg(test)]
mod tests;
