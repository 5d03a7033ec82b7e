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

type Peer = u64;

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

// =========================================================================================
// Rooms.

#[derive(Debug)]
enum Ev {
    /// A wire message arrives (if its connection still exists).
    Deliver {
        from: usize,
        to: usize,
        conn: u64,
        msg: Wire<Peer>,
    },
    Tick {
        node: usize,
        gen: u64,
    },
    /// A user command at a node (skipped if the node is down).
    Cmd {
        node: usize,
        event: Event<Peer>,
    },
    Crash(Target),
    Restart(usize),
    Partition(Vec<u32>),
    Heal,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Host,
    Node(usize),
}

struct Node {
    id: Peer,
    up: bool,
    room: Option<Room<Peer>>,
    /// What the node has persisted (the store).
    disk: Option<Snapshot<Peer>>,
    /// Entry ids in the order the UI showed them (the UI's history survives crashes).
    shown: Vec<MsgId>,
    /// Ids of shown `HostChange` markers.
    shown_markers: HashSet<MsgId>,
    timer_gen: u64,
    /// Invitation waiting for the node to be up.
    invitation: Option<Invitation<Peer>>,
    muted: bool,
    left: bool,
    deleted: bool,
    denied: bool,
}

/// Counters and observations of one run.
#[derive(Default, Debug)]
struct Trace {
    /// (time, term, host) each time a node became host.
    hosts: Vec<(u64, u64, Peer)>,
    /// (time, crashed host) each time the host was crashed.
    host_crashes: Vec<(u64, Peer)>,
    restarts: Vec<(u64, usize)>,
    /// Accepted `Send`s: id -> sender.
    sent: BTreeMap<MsgId, usize>,
    /// Ids whose sender saw "held by host" or "delivered".
    acked: BTreeSet<MsgId>,
    refused: Vec<(usize, MsgId, RoomError)>,
    messages: u64,
    partitioned: bool,
}

struct Sim {
    rng: Rng,
    now: u64,
    order: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    nodes: Vec<Node>,
    group: Vec<u32>,
    /// Connection generation per pair (a < b); odd = up.
    conns: BTreeMap<(usize, usize), u64>,
    base_delay: BTreeMap<(usize, usize), u64>,
    net: NetCfg,
    room_id: RoomId,
    next_id: u64,
    trace: Trace,
    verbose: bool,
    /// Directed links that silently lose everything (the connection stays up).
    mute: BTreeSet<(usize, usize)>,
}

impl Sim {
    fn new(seed: u64, n: usize, net: NetCfg) -> Self {
        let mut rng = Rng::new(seed);
        let mut base_delay = BTreeMap::new();
        for a in 0..n {
            for b in a + 1..n {
                base_delay.insert((a, b), rng.range(net.min_delay, net.max_delay));
            }
        }
        let mut room_id = [0u8; 32];
        room_id[..8].copy_from_slice(&seed.to_be_bytes());
        let nodes = (0..n)
            .map(|i| Node {
                id: i as Peer,
                up: true,
                room: None,
                disk: None,
                shown: Vec::new(),
                shown_markers: HashSet::new(),
                timer_gen: 0,
                invitation: None,
                muted: false,
                left: false,
                deleted: false,
                denied: false,
            })
            .collect();
        Sim {
            rng,
            now: 0,
            order: 0,
            queue: BTreeMap::new(),
            nodes,
            group: vec![0; n],
            conns: BTreeMap::new(),
            base_delay,
            net,
            room_id,
            next_id: 1,
            trace: Trace::default(),
            verbose: std::env::var("SIM_VERBOSE").is_ok(),
            mute: BTreeSet::new(),
        }
    }

    fn at(&mut self, time: u64, ev: Ev) {
        self.order += 1;
        self.queue.insert((time, self.order), ev);
    }

    fn fresh_id(&mut self) -> MsgId {
        self.next_id += 1;
        msg_id(self.next_id)
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        a != b && self.nodes[a].up && self.nodes[b].up && self.group[a] == self.group[b]
    }

    fn conn(&self, a: usize, b: usize) -> u64 {
        let k = (a.min(b), a.max(b));
        self.conns.get(&k).copied().unwrap_or(0)
    }

    /// Bring connections in line with who is up and the partition; report changes.
    fn relink(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in a + 1..n {
                let want = self.linked(a, b);
                let gen = self.conn(a, b);
                let is_up = gen % 2 == 1;
                if want == is_up {
                    continue;
                }
                self.conns.insert((a, b), gen + 1);
                let rtt = 2 * self.base_delay[&(a, b)] as u32;
                for (x, y) in [(a, b), (b, a)] {
                    let peer = self.nodes[y].id;
                    if want {
                        self.feed(x, Event::Connected(peer));
                        self.feed(x, Event::Rtt { peer, ms: rtt });
                    } else {
                        self.feed(x, Event::Disconnected(peer));
                    }
                }
            }
        }
    }

    /// Hand an event to a node's room and carry out the actions.
    fn feed(&mut self, i: usize, event: Event<Peer>) {
        if !self.nodes[i].up {
            return;
        }
        let now = self.now;
        let Some(room) = self.nodes[i].room.as_mut() else {
            return;
        };
        let actions = room.handle(event, now);
        self.perform(i, actions);
    }

    fn perform(&mut self, i: usize, actions: Vec<Action<Peer>>) {
        let me = self.nodes[i].id;
        let mut seen_other = false;
        for a in actions {
            match a {
                Action::Persist(op) => {
                    assert!(!seen_other, "persist after a non-persist action");
                    match (&mut self.nodes[i].disk, op) {
                        (_, PersistOp::Snapshot(s)) => self.nodes[i].disk = Some(*s),
                        (Some(d), op) => d.apply(&op),
                        (None, _) => panic!("persist before a snapshot"),
                    }
                    continue;
                }
                Action::Send { to, msg } => self.transmit(i, to as usize, msg),
                Action::Deliver(e) => {
                    if e.item.content == Content::HostChange {
                        self.nodes[i].shown_markers.insert(e.item.id);
                    }
                    self.nodes[i].shown.push(e.item.id);
                }
                Action::DeliveryState { id, state } => {
                    if state != DeliveryState::Sending {
                        self.trace.acked.insert(id);
                    }
                }
                Action::Refused { id, error } => {
                    self.trace.sent.remove(&id);
                    self.trace.refused.push((i, id, error));
                }
                Action::HostChanged { term, host } => {
                    if self.verbose {
                        eprintln!(
                            "{:>6} node {i}: host changed term {term} -> {host:?}",
                            self.now
                        );
                    }
                    if host == Some(me) {
                        self.trace.hosts.push((self.now, term, me));
                    }
                }
                Action::Invitation { to, invitation } => {
                    // The app sends it through the persistent DM outbox: model as reliable.
                    let to = to as usize;
                    if to < self.nodes.len() && self.nodes[to].room.is_none() {
                        self.nodes[to].invitation = Some(invitation);
                        if self.nodes[to].up {
                            self.join(to);
                        }
                    }
                }
                Action::Muted => self.nodes[i].muted = true,
                Action::Left => self.nodes[i].left = true,
                Action::Deleted => self.nodes[i].deleted = true,
                Action::AccessDenied => self.nodes[i].denied = true,
                Action::MembersChanged(_) | Action::Renamed(_) => {}
                Action::SetTimer { at } => {
                    self.nodes[i].timer_gen += 1;
                    let gen = self.nodes[i].timer_gen;
                    self.at(at.max(self.now + 1), Ev::Tick { node: i, gen });
                }
            }
            seen_other = true;
        }
    }

    fn join(&mut self, i: usize) {
        let Some(inv) = self.nodes[i].invitation.take() else {
            return;
        };
        let (room, actions) = Room::from_invitation(self.nodes[i].id, inv, self.now);
        self.nodes[i].room = Some(room);
        self.perform(i, actions);
        self.announce_links(i);
    }

    /// After a room appears at node `i`, report its current connections.
    fn announce_links(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            if self.conn(i, j) % 2 == 1 {
                let peer = self.nodes[j].id;
                let rtt = 2 * self.base_delay[&(i.min(j), i.max(j))] as u32;
                self.feed(i, Event::Connected(peer));
                self.feed(i, Event::Rtt { peer, ms: rtt });
            }
        }
    }

    fn transmit(&mut self, from: usize, to: usize, msg: Wire<Peer>) {
        if self.verbose
            && matches!(
                msg,
                Wire::VoteRequest { .. } | Wire::VoteReply { .. } | Wire::Hello { .. }
            )
        {
            eprintln!(
                "{:>6} {from} -> {to}: {msg:?} (linked {})",
                self.now,
                self.linked(from, to)
            );
        }
        if to >= self.nodes.len() || !self.linked(from, to) {
            return;
        }
        self.trace.messages += 1;
        if self.rng.chance(self.net.drop) || self.mute.contains(&(from, to)) {
            return;
        }
        let conn = self.conn(from, to);
        let base = self.base_delay[&(from.min(to), from.max(to))];
        let copies = if self.rng.chance(self.net.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let t = self.now + base + self.rng.below(self.net.jitter + 1);
            self.at(
                t,
                Ev::Deliver {
                    from,
                    to,
                    conn,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn crash(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        if self.verbose {
            eprintln!("{:>6} CRASH {i}", self.now);
        }
        if self.nodes[i].room.as_ref().is_some_and(|r| r.is_host()) {
            self.trace.host_crashes.push((self.now, self.nodes[i].id));
        }
        self.nodes[i].up = false;
        self.nodes[i].room = None;
        self.relink();
    }

    fn restart(&mut self, i: usize) {
        if self.nodes[i].up {
            return;
        }
        self.nodes[i].up = true;
        if self.verbose {
            eprintln!("{:>6} RESTART {i}", self.now);
        }
        self.trace.restarts.push((self.now, i));
        if let Some(disk) = &self.nodes[i].disk {
            // Through the serialized form, as the store would.
            let bytes = serde_json::to_vec(disk).expect("serialize snapshot");
            let snap: Snapshot<Peer> = serde_json::from_slice(&bytes).expect("read snapshot");
            let (room, actions) = Room::restore(snap, self.now);
            self.nodes[i].room = Some(room);
            self.perform(i, actions);
        }
        self.relink();
        if self.nodes[i].room.is_none() && self.nodes[i].invitation.is_some() {
            self.join(i);
        }
    }

    fn host_index(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].up && self.nodes[i].room.as_ref().is_some_and(|r| r.is_host())
            })
            .max_by_key(|&i| self.nodes[i].room.as_ref().map(|r| r.host().0))
    }

    fn step(&mut self) -> bool {
        let Some(((t, _), ev)) = self.queue.pop_first() else {
            return false;
        };
        self.now = t;
        match ev {
            Ev::Deliver {
                from,
                to,
                conn,
                msg,
            } => {
                if self.conn(from, to) == conn && self.linked(from, to) {
                    let from_id = self.nodes[from].id;
                    self.feed(to, Event::Wire { from: from_id, msg });
                }
            }
            Ev::Tick { node, gen } => {
                if self.nodes[node].timer_gen == gen {
                    self.feed(node, Event::Tick);
                }
            }
            Ev::Cmd { node, event } => {
                if self.nodes[node].up && self.nodes[node].room.is_some() {
                    if let Event::Send { id, .. } = &event {
                        self.trace.sent.insert(*id, node);
                    }
                    self.feed(node, event);
                }
            }
            Ev::Crash(Target::Host) => {
                if let Some(i) = self.host_index() {
                    self.crash(i);
                }
            }
            Ev::Crash(Target::Node(i)) => self.crash(i),
            Ev::Restart(i) => self.restart(i),
            Ev::Partition(g) => {
                self.trace.partitioned = true;
                self.group = g;
                self.relink();
            }
            Ev::Heal => {
                self.group = vec![0; self.nodes.len()];
                self.relink();
            }
        }
        true
    }

    fn run_until(&mut self, t: u64) {
        while self
            .queue
            .first_key_value()
            .is_some_and(|((when, _), _)| *when <= t)
        {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Node 0 creates the room and invites everyone else; wait until all have joined.
    fn setup_room(&mut self) {
        let (room, actions) =
            Room::create(self.room_id, 0, "general".to_string(), self.now).expect("create");
        self.nodes[0].room = Some(room);
        self.perform(0, actions);
        self.relink();
        for i in 1..self.nodes.len() {
            let id = self.fresh_id();
            let peer = self.nodes[i].id;
            self.feed(0, Event::Invite { id, peer });
        }
        let deadline = self.now + 20_000;
        while self.now < deadline {
            self.run_until(self.now + 500);
            let n = self.nodes.len();
            let done = self.nodes.iter().all(|x| {
                x.room.as_ref().is_some_and(|r| {
                    r.members().len() == n && r.meta().displayed == r.log().len() as u64
                })
            });
            if done {
                return;
            }
        }
        panic!("room setup did not finish");
    }

    /// Schedule `count` messages from `senders` at random times in `[from, to]`.
    fn schedule_messages(&mut self, senders: &[usize], count: usize, from: u64, to: u64) {
        for k in 0..count {
            let node = senders[self.rng.below(senders.len() as u64) as usize];
            let t = self.rng.range(from, to);
            let id = self.fresh_id();
            let body = format!("m{k} from {node}");
            self.at(
                t,
                Ev::Cmd {
                    node,
                    event: Event::Send { id, body },
                },
            );
        }
    }

    /// Stop faults: heal, restart everyone, keep running until quiet.
    fn settle(&mut self, ms: u64) {
        self.at(self.now + 1, Ev::Heal);
        for i in 0..self.nodes.len() {
            self.at(self.now + 2, Ev::Restart(i));
        }
        self.run_until(self.now + ms);
    }

    fn room(&self, i: usize) -> &Room<Peer> {
        self.nodes[i].room.as_ref().expect("node has a room")
    }
}

/// What `check` verified.
#[derive(Debug, Default)]
struct Report {
    entries: usize,
    messages: u64,
    out_of_order_members: usize,
    /// Host crash -> new host, ms.
    failovers: Vec<u64>,
}

/// The invariants after a run has settled. `strict_order`: displayed order must equal the
/// log order on every member (no partitions, never all in-sync holders lost at once).
fn check(sim: &Sim, members: &[usize], strict_order: bool) -> Result<Report, String> {
    let reference = sim.room(members[0]);
    let key = |r: &Room<Peer>| -> Vec<(u64, Peer, u64, MsgId)> {
        r.log()
            .iter()
            .map(|e| (e.epoch.term, e.epoch.host, e.seq, e.item.id))
            .collect()
    };
    let ref_log = key(reference);
    let ref_ids: Vec<MsgId> = reference.log().iter().map(|e| e.item.id).collect();
    let ref_set: HashSet<MsgId> = ref_ids.iter().copied().collect();
    if ref_set.len() != ref_ids.len() {
        return Err("an id appears twice in the log".into());
    }
    let mut report = Report {
        entries: ref_ids.len(),
        messages: sim.trace.messages,
        ..Default::default()
    };
    let (term, host) = reference.host();
    let host = host.copied().ok_or("no host at the end")?;
    let mut hosts = 0;
    for &i in members {
        let node = &sim.nodes[i];
        let r = sim.room(i);
        if key(r) != ref_log {
            return Err(format!(
                "node {i} log differs (len {} vs {})",
                r.log().len(),
                ref_log.len()
            ));
        }
        if r.meta().displayed != r.log().len() as u64 {
            return Err(format!(
                "node {i} displayed {} of {}",
                r.meta().displayed,
                r.log().len()
            ));
        }
        if r.host() != (term, Some(&host)) {
            return Err(format!(
                "node {i} follows {:?}, node {} follows {:?}",
                r.host(),
                members[0],
                (term, host)
            ));
        }
        hosts += usize::from(r.is_host());
        if r.outbox_len() != 0 {
            return Err(format!(
                "node {i} still has {} items in its outbox",
                r.outbox_len()
            ));
        }
        let mut shown: HashSet<MsgId> = node.shown.iter().copied().collect();
        if shown.len() != node.shown.len() {
            return Err(format!("node {i} showed an entry twice"));
        }
        // After a split brain, the losing side showed its host's epoch marker; that marker is
        // not handed over (the epoch is gone). Nothing else may be missing.
        if !strict_order {
            shown.retain(|id| ref_set.contains(id) || !node.shown_markers.contains(id));
        }
        if shown != ref_set {
            return Err(format!(
                "node {i} showed {} entries, the log has {}",
                shown.len(),
                ref_set.len()
            ));
        }
        let shown_in_log: Vec<MsgId> = node
            .shown
            .iter()
            .filter(|id| ref_set.contains(*id))
            .copied()
            .collect();
        if shown_in_log != ref_ids {
            if strict_order {
                let at = node.shown.iter().zip(&ref_ids).position(|(a, b)| a != b);
                return Err(format!(
                    "node {i} showed entries out of log order (first at {at:?})"
                ));
            }
            report.out_of_order_members += 1;
        }
    }
    if hosts != 1 {
        return Err(format!("{hosts} hosts at the end"));
    }
    for (id, sender) in &sim.trace.sent {
        if !ref_set.contains(id) {
            let acked = sim.trace.acked.contains(id);
            return Err(format!(
                "message {id:?} from node {sender} lost (acked: {acked})"
            ));
        }
    }
    for id in &sim.trace.acked {
        if !ref_set.contains(id) {
            return Err(format!("acknowledged {id:?} lost"));
        }
    }
    if !sim.trace.partitioned {
        let mut per_term: BTreeMap<u64, BTreeSet<Peer>> = BTreeMap::new();
        for (_, t, h) in &sim.trace.hosts {
            per_term.entry(*t).or_default().insert(*h);
        }
        if let Some((t, hs)) = per_term.iter().find(|(_, hs)| hs.len() > 1) {
            return Err(format!("term {t} had hosts {hs:?}"));
        }
    }
    Ok(report)
}

/// After each host crash (with at least two other members up and the crashed host down
/// for the whole window), some member became host within `bound` ms.
fn check_failover(sim: &Sim, bound: u64) -> Result<Vec<u64>, String> {
    let mut waits = Vec::new();
    for &(t, old) in &sim.trace.host_crashes {
        let back_early = sim
            .trace
            .restarts
            .iter()
            .any(|&(rt, i)| i == old as usize && rt > t && rt <= t + bound);
        if back_early {
            continue;
        }
        match sim
            .trace
            .hosts
            .iter()
            .find(|(ht, _, h)| *ht > t && *h != old)
        {
            Some((ht, _, _)) if ht - t <= bound => waits.push(ht - t),
            Some((ht, _, _)) => return Err(format!("host crashed at {t}, new host only at {ht}")),
            None => return Err(format!("host crashed at {t}, no new host")),
        }
    }
    Ok(waits)
}

/// One random run. `partitions`: also split the network and crash several nodes at once.
fn random_run(seed: u64, partitions: bool) -> Result<Report, String> {
    let mut rng = Rng::new(seed.wrapping_mul(7919));
    let n = rng.range(3, 6) as usize;
    let mut sim = Sim::new(seed, n, NetCfg::lossy());
    sim.setup_room();
    let start = sim.now;
    let span = 20_000;
    let senders: Vec<usize> = (0..n).collect();
    let count = rng.range(30, 80) as usize;
    sim.schedule_messages(&senders, count, start, start + span);
    // Faults.
    let mut t = start + rng.range(500, 3_000);
    while t < start + span {
        if partitions && rng.chance(0.4) {
            let groups: Vec<u32> = (0..n).map(|_| rng.below(2) as u32).collect();
            let len = rng.range(1_000, 6_000);
            sim.at(t, Ev::Partition(groups));
            sim.at(t + len, Ev::Heal);
            t += len;
        } else {
            let target = if rng.chance(0.5) {
                Target::Host
            } else {
                Target::Node(rng.below(n as u64) as usize)
            };
            let down = rng.range(500, 8_000);
            sim.at(t, Ev::Crash(target));
            // Restart whoever is down afterwards (crashing the host picks the node late).
            for i in 0..n {
                sim.at(t + down, Ev::Restart(i));
            }
            if !partitions {
                t += down; // benign: at most one node down at a time
            }
        }
        t += rng.range(1_000, 5_000);
    }
    sim.run_until(start + span);
    sim.settle(60_000);
    let members: Vec<usize> = (0..n).collect();
    let mut report = check(&sim, &members, !partitions)?;
    if !partitions {
        report.failovers = check_failover(&sim, 5_000)?;
    }
    Ok(report)
}

// =========================================================================================
// Direct messages.

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

    fn step(&mut self) -> bool {
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

    fn run_until(&mut self, t: u64) {
        while self
            .queue
            .first_key_value()
            .is_some_and(|((when, _), _)| *when <= t)
        {
            self.step();
        }
        self.now = self.now.max(t);
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

// =========================================================================================
// Tests.

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(env: &str, default: u64) -> u64 {
        std::env::var(env)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    #[test]
    fn random_runs_with_crashes_drops_duplicates_delays() {
        let n = seeds("CHAT_SIM_SEEDS", 200);
        let mut entries = 0;
        let mut failovers = Vec::new();
        for seed in 0..n {
            match random_run(seed, false) {
                Ok(r) => {
                    entries += r.entries;
                    failovers.extend(r.failovers);
                }
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        assert!(entries > 0);
        failovers.sort_unstable();
        if let (Some(max), false) = (failovers.last(), failovers.is_empty()) {
            let median = failovers[failovers.len() / 2];
            eprintln!(
                "{n} seeds, {entries} entries, {} host crashes: failover median {median} ms, max {max} ms",
                failovers.len()
            );
        }
    }

    #[test]
    fn random_runs_with_partitions_and_simultaneous_crashes() {
        let n = seeds("CHAT_SIM_PARTITION_SEEDS", 100);
        let mut reordered = 0;
        for seed in 0..n {
            match random_run(10_000 + seed, true) {
                Ok(r) => reordered += r.out_of_order_members,
                Err(e) => panic!("seed {}: {e}", 10_000 + seed),
            }
        }
        eprintln!("partition runs: {reordered} member histories showed a split-brain window out of log order");
    }

    /// 5 members, 3 senders (the host among them), 2,000 messages; the host is killed in
    /// the middle of the burst and comes back later with its old epoch.
    #[test]
    fn host_crash_during_burst_of_2000() {
        let mut sim = Sim::new(42, 5, NetCfg::lossy());
        sim.setup_room();
        let start = sim.now;
        let host = sim.host_index().expect("host");
        let senders = [host, (host + 1) % 5, (host + 2) % 5];
        sim.schedule_messages(&senders, 2_000, start, start + 10_000);
        sim.at(start + 4_000, Ev::Crash(Target::Node(host)));
        sim.run_until(start + 9_000);
        let new_host = sim.host_index().expect("a new host");
        assert_ne!(new_host, host);
        let waits = check_failover(&sim, 5_000).expect("failover");
        assert_eq!(waits.len(), 1);
        // The old host returns with its old epoch and steps down.
        let old_log: Vec<Entry<Peer>> = sim.nodes[host]
            .disk
            .as_ref()
            .map(|d| d.log.clone())
            .unwrap_or_default();
        let old_len = old_log.len();
        let old_term = sim.nodes[host].disk.as_ref().map_or(0, |d| d.meta.term);
        let new_len = sim.room(new_host).log().len();
        sim.at(start + 14_000, Ev::Restart(host));
        sim.run_until(start + 14_001);
        assert_eq!(
            sim.room(host).host().0,
            old_term,
            "it came back with its old epoch"
        );
        eprintln!("burst: old host persisted {old_len} entries (term {old_term}); new host had {new_len} at t+9s");
        sim.run_until(start + 30_000);
        assert!(!sim.room(host).is_host(), "old host stepped down");
        sim.settle(30_000);
        let members: Vec<usize> = (0..5).collect();
        let report = check(&sim, &members, true).expect("invariants");
        // What the old host held beyond what the others had got was handed over and
        // re-sequenced (same ids, new places), not lost and not doubled.
        let final_log = sim.room(0).log();
        let moved = old_log
            .iter()
            .filter(|e| final_log.get(e.seq as usize - 1).map(|f| f.item.id) != Some(e.item.id))
            .filter(|e| e.item.content != Content::HostChange)
            .count();
        eprintln!(
            "burst: {moved} entries of the old host's tail were handed over and re-sequenced"
        );
        assert!(old_log.iter().all(|e| e.item.content == Content::HostChange
            || final_log.iter().any(|f| f.item.id == e.item.id)));
        let texts = final_log
            .iter()
            .filter(|e| matches!(e.item.content, Content::Text(_)))
            .count();
        assert_eq!(texts, sim.trace.sent.len());
        eprintln!(
            "burst: failover in {waits:?} ms, {} entries, {} wire messages",
            report.entries, report.messages
        );
    }

    /// The same with a clean network and a restarting host that resumes before anyone
    /// elected a new one.
    #[test]
    fn host_restarts_quickly() {
        let mut sim = Sim::new(7, 3, NetCfg::clean());
        sim.setup_room();
        let start = sim.now;
        sim.schedule_messages(&[0, 1, 2], 200, start, start + 5_000);
        sim.at(start + 2_000, Ev::Crash(Target::Node(0)));
        sim.at(start + 2_300, Ev::Restart(0));
        sim.run_until(start + 8_000);
        sim.settle(20_000);
        check(&sim, &[0, 1, 2], true).expect("invariants");
    }

    #[test]
    fn member_offline_during_500_messages_catches_up_in_order() {
        let mut sim = Sim::new(3, 4, NetCfg::lossy());
        sim.setup_room();
        let start = sim.now;
        sim.at(start + 100, Ev::Crash(Target::Node(3)));
        sim.schedule_messages(&[0, 1, 2], 500, start + 500, start + 8_000);
        sim.run_until(start + 10_000);
        let before = sim.nodes[3].shown.len();
        sim.at(start + 10_001, Ev::Restart(3));
        sim.run_until(start + 30_000);
        check(&sim, &[0, 1, 2, 3], true).expect("invariants");
        assert!(sim.nodes[3].shown.len() >= before + 500);
    }

    /// An old host cut off alone keeps hosting (only itself); the others elect a new host
    /// and go on. When the partition heals the old host steps down and hands over what it
    /// sequenced meanwhile: everything ends in every log once.
    #[test]
    fn isolated_old_host_steps_down_and_hands_over() {
        let mut sim = Sim::new(11, 4, NetCfg::clean());
        sim.setup_room();
        let start = sim.now;
        let old = sim.host_index().expect("host");
        let others: Vec<usize> = (0..4).filter(|&i| i != old).collect();
        let groups: Vec<u32> = (0..4).map(|i| u32::from(i == old)).collect();
        sim.at(start, Ev::Partition(groups));
        sim.schedule_messages(&[old], 20, start + 100, start + 6_000);
        sim.schedule_messages(&others, 20, start + 100, start + 6_000);
        sim.run_until(start + 7_000);
        let new_host = sim.host_index().expect("new host");
        assert_ne!(new_host, old);
        assert!(
            sim.room(old).is_host(),
            "the isolated host still hosts itself"
        );
        sim.at(start + 7_001, Ev::Heal);
        sim.run_until(start + 20_000);
        assert!(!sim.room(old).is_host());
        let report = check(&sim, &[0, 1, 2, 3], false).expect("invariants");
        // Only the old host saw its own messages before the others' ones.
        assert!(report.out_of_order_members <= 1);
        let old_epoch_texts = sim
            .room(new_host)
            .log()
            .iter()
            .filter(|e| e.epoch.host == old as Peer && matches!(e.item.content, Content::Text(_)))
            .count();
        assert_eq!(
            old_epoch_texts, 0,
            "messages of the stale epoch were re-sequenced"
        );
    }

    /// Node 3 has by far the lowest latency to everyone but misses the newest entries (its
    /// incoming link from the host silently loses everything). When the host dies, a
    /// member with the complete log is elected, not node 3.
    #[test]
    fn log_completeness_beats_latency() {
        let mut sim = Sim::new(29, 4, NetCfg::clean());
        for (&(a, b), d) in sim.base_delay.iter_mut() {
            *d = if a == 3 || b == 3 { 1 } else { 80 };
        }
        sim.setup_room();
        let start = sim.now;
        let host = sim.host_index().expect("host");
        assert_ne!(host, 3);
        sim.mute.insert((host, 3));
        let others: Vec<usize> = (0..3).filter(|&i| i != host).collect();
        sim.schedule_messages(&others, 30, start, start + 2_000);
        sim.run_until(start + 6_500);
        let lag = sim.room(3).log().len();
        let full = sim.room(host).log().len();
        assert!(lag < full, "node 3 is behind ({lag} < {full})");
        sim.at(start + 6_600, Ev::Crash(Target::Node(host)));
        sim.run_until(start + 12_000);
        let new_host = sim.host_index().expect("new host");
        assert_ne!(
            new_host, 3,
            "the fastest member with an incomplete log did not win"
        );
        sim.mute.clear();
        sim.settle(20_000);
        check(&sim, &[0, 1, 2, 3], true).expect("invariants");
    }

    #[test]
    fn two_member_room_survives_either_side_going_away() {
        let mut sim = Sim::new(5, 2, NetCfg::lossy());
        sim.setup_room();
        let start = sim.now;
        sim.schedule_messages(&[0, 1], 60, start, start + 20_000);
        sim.at(start + 3_000, Ev::Crash(Target::Node(0)));
        sim.at(start + 9_000, Ev::Restart(0));
        sim.at(start + 12_000, Ev::Crash(Target::Node(1)));
        sim.at(start + 16_000, Ev::Restart(1));
        sim.run_until(start + 20_000);
        sim.settle(30_000);
        check(&sim, &[0, 1], true).expect("invariants");
    }

    /// Five members; three go offline one after the other, then the host too: the two left
    /// elect a host and keep chatting.
    #[test]
    fn minority_keeps_chatting() {
        let mut sim = Sim::new(9, 5, NetCfg::lossy());
        sim.setup_room();
        let start = sim.now;
        let host = sim.host_index().expect("host");
        let rest: Vec<usize> = (0..5).filter(|&i| i != host).collect();
        sim.at(start + 1_000, Ev::Crash(Target::Node(rest[0])));
        sim.at(start + 2_000, Ev::Crash(Target::Node(rest[1])));
        sim.at(start + 3_000, Ev::Crash(Target::Node(host)));
        sim.run_until(start + 8_000);
        let new_host = sim
            .host_index()
            .expect("the two remaining members elected a host");
        assert!(new_host == rest[2] || new_host == rest[3]);
        let first = sim.trace.sent.len();
        sim.schedule_messages(&[rest[2], rest[3]], 30, start + 8_000, start + 12_000);
        sim.run_until(start + 14_000);
        let ids: Vec<MsgId> = sim.trace.sent.keys().copied().collect();
        assert_eq!(ids.len(), first + 30);
        for i in [rest[2], rest[3]] {
            let shown: HashSet<&MsgId> = sim.nodes[i].shown.iter().collect();
            assert!(
                ids.iter().all(|id| shown.contains(id)),
                "node {i} sees the chat"
            );
        }
        sim.settle(30_000);
        check(&sim, &[0, 1, 2, 3, 4], true).expect("invariants");
    }

    #[test]
    fn non_member_cannot_join_or_read() {
        let mut sim = Sim::new(13, 4, NetCfg::clean());
        // Only nodes 0..3 become members; node 3 forges an invitation.
        let (room, actions) = Room::create(sim.room_id, 0, "private".into(), 0).expect("create");
        sim.nodes[0].room = Some(room);
        sim.perform(0, actions);
        sim.relink();
        for i in 1..3 {
            let id = sim.fresh_id();
            sim.feed(
                0,
                Event::Invite {
                    id,
                    peer: i as Peer,
                },
            );
        }
        sim.run_until(5_000);
        let mut forged = sim.room(0).invitation();
        forged.members.insert(3);
        sim.nodes[3].invitation = Some(forged);
        sim.join(3);
        let id = sim.fresh_id();
        sim.at(
            5_100,
            Ev::Cmd {
                node: 3,
                event: Event::Send {
                    id,
                    body: "let me in".into(),
                },
            },
        );
        sim.schedule_messages(&[0, 1, 2], 10, 5_000, 8_000);
        sim.run_until(15_000);
        assert!(sim.nodes[3].denied, "host said no");
        assert!(sim.nodes[3].shown.is_empty(), "nothing readable");
        assert!(sim.room(3).log().is_empty());
        assert!(
            !sim.room(0).log().iter().any(|e| e.item.id == id),
            "its message was not placed"
        );
        assert!(!sim.room(0).members().contains(&3));
        sim.trace.sent.remove(&id);
        check(&sim, &[0, 1, 2], true).expect("invariants");
    }

    #[test]
    fn only_creator_can_delete() {
        let mut sim = Sim::new(17, 3, NetCfg::lossy());
        sim.setup_room();
        let start = sim.now;
        // A member may not delete: refused locally ...
        let id = sim.fresh_id();
        sim.at(
            start,
            Ev::Cmd {
                node: 1,
                event: Event::Delete { id },
            },
        );
        sim.run_until(start + 100);
        assert!(sim
            .trace
            .refused
            .iter()
            .any(|(n, i, e)| *n == 1 && *i == id && *e == RoomError::NotCreator));
        // ... and by the host when forged on the wire.
        let forged = sim.fresh_id();
        let host = sim.host_index().expect("host");
        let term = sim.room(1).host().0;
        let item = Item {
            id: forged,
            sender: 1,
            sent_ms: 0,
            content: Content::Delete,
        };
        let msg = Wire::Submit {
            room: sim.room_id,
            term,
            items: vec![item],
        };
        sim.feed(host, Event::Wire { from: 1, msg });
        sim.run_until(start + 2_000);
        assert!(!sim.nodes.iter().any(|n| n.deleted));
        // The creator (node 0) can, even when it is not the host.
        sim.at(start + 2_100, Ev::Crash(Target::Node(0)));
        sim.at(start + 6_000, Ev::Restart(0));
        sim.schedule_messages(&[1, 2], 10, start + 2_200, start + 5_000);
        let del = sim.fresh_id();
        sim.at(
            start + 9_000,
            Ev::Cmd {
                node: 0,
                event: Event::Delete { id: del },
            },
        );
        sim.run_until(start + 15_000);
        assert!(sim.nodes.iter().all(|n| n.deleted), "everyone was told");
        for i in 0..3 {
            assert!(sim.room(i).log().len() > 3, "history stays");
        }
        // No more sends.
        let late = sim.fresh_id();
        sim.at(
            start + 15_100,
            Ev::Cmd {
                node: 1,
                event: Event::Send {
                    id: late,
                    body: "x".into(),
                },
            },
        );
        sim.run_until(start + 16_000);
        assert!(sim
            .trace
            .refused
            .iter()
            .any(|(_, i, e)| *i == late && *e == RoomError::RoomDeleted));
        sim.settle(10_000);
        check(&sim, &[0, 1, 2], true).expect("invariants");
    }

    #[test]
    fn leave_removes_member_or_mutes_when_host_unreachable() {
        let mut sim = Sim::new(19, 4, NetCfg::lossy());
        sim.setup_room();
        let start = sim.now;
        let host = sim.host_index().expect("host");
        let a = (host + 1) % 4;
        let b = (host + 2) % 4;
        // a leaves normally.
        let id = sim.fresh_id();
        sim.at(
            start,
            Ev::Cmd {
                node: a,
                event: Event::Leave { id },
            },
        );
        sim.run_until(start + 3_000);
        assert!(sim.nodes[a].left);
        assert!(!sim.nodes[a].muted);
        assert!(!sim.room(host).members().contains(&(a as Peer)));
        // b is cut off from everyone and leaves: muted after the timeout.
        let groups: Vec<u32> = (0..4).map(|i| u32::from(i == b)).collect();
        sim.at(start + 3_000, Ev::Partition(groups));
        let id = sim.fresh_id();
        sim.at(
            start + 3_100,
            Ev::Cmd {
                node: b,
                event: Event::Leave { id },
            },
        );
        sim.run_until(start + 3_100 + LEAVE_TIMEOUT_MS + 500);
        assert!(sim.nodes[b].muted);
        assert!(!sim.nodes[b].left);
        // When it can reach the host again, the leave goes through.
        sim.at(sim.now + 1, Ev::Heal);
        sim.run_until(sim.now + 5_000);
        assert!(sim.nodes[b].left);
        let remaining: Vec<usize> = (0..4).filter(|&i| i != a && i != b).collect();
        for &i in &remaining {
            assert_eq!(sim.room(i).members().len(), 2);
        }
        check(&sim, &remaining, true).expect("invariants");
    }

    #[test]
    fn rename_and_late_invite_are_ordered_and_the_newcomer_reads_history() {
        let mut sim = Sim::new(23, 4, NetCfg::lossy());
        // Members 0..3 first; node 3 is invited later.
        let (room, actions) = Room::create(sim.room_id, 0, "a".into(), 0).expect("create");
        sim.nodes[0].room = Some(room);
        sim.perform(0, actions);
        sim.relink();
        for i in 1..3 {
            let id = sim.fresh_id();
            sim.feed(
                0,
                Event::Invite {
                    id,
                    peer: i as Peer,
                },
            );
        }
        sim.run_until(3_000);
        sim.schedule_messages(&[0, 1, 2], 40, 3_000, 6_000);
        let r = sim.fresh_id();
        sim.at(
            4_000,
            Ev::Cmd {
                node: 2,
                event: Event::Rename {
                    id: r,
                    name: "b".into(),
                },
            },
        );
        let inv = sim.fresh_id();
        sim.at(
            7_000,
            Ev::Cmd {
                node: 1,
                event: Event::Invite { id: inv, peer: 3 },
            },
        );
        sim.run_until(15_000);
        sim.settle(10_000);
        check(&sim, &[0, 1, 2, 3], true).expect("invariants");
        for i in 0..4 {
            assert_eq!(sim.room(i).meta().name, "b");
            assert_eq!(sim.room(i).members().len(), 4);
        }
    }

    #[test]
    fn oversized_and_malformed_input_is_refused() {
        let (mut room, _) = Room::create([1; 32], 0u64, "r".into(), 0).expect("create");
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        let actions = room.handle(
            Event::Send {
                id: [9; 16],
                body: big,
            },
            1,
        );
        assert!(actions.contains(&Action::Refused {
            id: [9; 16],
            error: RoomError::BodyTooLarge
        }));
        assert!(Room::create([1; 32], 0u64, String::new(), 0).is_err());
        // An append with a gap in its seqs is ignored without a reply.
        let mut inv = room.invitation();
        inv.members.insert(1);
        let (mut member, _) = Room::from_invitation(1u64, inv, 0);
        let e = room.log()[0].clone();
        let mut bad = e.clone();
        bad.seq = 5;
        let msg = Wire::Append {
            room: [1; 32],
            epoch: e.epoch.clone(),
            prev: LogPos::zero(),
            entries: vec![bad],
            commit: 1,
            host_last: 1,
        };
        let actions = member.handle(Event::Wire { from: 0, msg }, 2);
        assert!(actions.iter().all(|a| matches!(a, Action::SetTimer { .. })));
        // A message for another room is ignored.
        let msg = Wire::NotMember { room: [2; 32] };
        let actions = member.handle(Event::Wire { from: 0, msg }, 3);
        assert!(actions.iter().all(|a| matches!(a, Action::SetTimer { .. })));
        // The outbox is capped.
        let mut refused = 0;
        for k in 0..(MAX_OUTBOX + 5) as u64 {
            let id = msg_id(1_000_000 + k);
            let actions = member.handle(
                Event::Send {
                    id,
                    body: "hi".into(),
                },
                4,
            );
            refused += actions
                .iter()
                .filter(|a| {
                    matches!(
                        a,
                        Action::Refused {
                            error: RoomError::OutboxFull,
                            ..
                        }
                    )
                })
                .count();
        }
        assert_eq!(refused, 5);
    }

    #[test]
    fn absurd_numbers_on_the_wire_do_not_panic() {
        let (mut host, _) = Room::create([1; 32], 0u64, "r".into(), 0).expect("create");
        let mut inv = host.invitation();
        inv.members.insert(1);
        let (mut member, _) = Room::from_invitation(1u64, inv, 0);
        let big = u64::MAX;
        let epoch = Epoch { term: big, host: 0 };
        let pos = LogPos {
            epoch: Some(epoch.clone()),
            seq: big,
        };
        let msgs = vec![
            Wire::Append {
                room: [1; 32],
                epoch: epoch.clone(),
                prev: pos.clone(),
                entries: vec![],
                commit: big,
                host_last: big,
            },
            Wire::Hello {
                room: [1; 32],
                term: big,
                host: Some(0),
                last: pos.clone(),
            },
            Wire::VoteRequest {
                room: [1; 32],
                term: big,
                last: pos.clone(),
                pre: false,
            },
            Wire::AppendReply {
                room: [1; 32],
                epoch: epoch.clone(),
                ok: true,
                seq: big,
                segments: vec![],
            },
        ];
        for (t, msg) in msgs.into_iter().enumerate() {
            member.handle(
                Event::Wire {
                    from: 0,
                    msg: msg.clone(),
                },
                t as u64,
            );
            host.handle(Event::Wire { from: 1, msg }, t as u64);
        }
        for t in 0..100 {
            member.handle(Event::Tick, 1_000 * t);
            host.handle(Event::Tick, 1_000 * t);
        }
        assert_eq!(member.host().0, 1, "ignored");
        let mut dm: DirectMessages<u64> = DirectMessages::new();
        let msg = DmWire::Message {
            id: [0; 16],
            seq: big,
            low: big,
            body: String::new(),
            sent_ms: 0,
        };
        dm.handle(DmEvent::Wire { from: 5, msg }, 0);
        let msg = DmWire::Message {
            id: [0; 16],
            seq: 3,
            low: big - 1,
            body: String::new(),
            sent_ms: 0,
        };
        dm.handle(DmEvent::Wire { from: 5, msg }, 0);
    }

    #[test]
    fn persist_comes_first_in_every_batch() {
        // `perform` asserts it for every batch of every run; this run just exercises a lot.
        let _ = random_run(123_456, false).expect("run");
    }

    #[test]
    fn snapshots_round_trip_through_serde() {
        let (room, _) = Room::create([3; 32], [7u8; 32], "n".into(), 0).expect("create");
        let snap = room.snapshot();
        let json = serde_json::to_string(&snap).expect("ser");
        let back: Snapshot<[u8; 32]> = serde_json::from_str(&json).expect("de");
        assert_eq!(back, snap);
        let w: Wire<[u8; 32]> = Wire::Hello {
            room: [3; 32],
            term: 1,
            host: None,
            last: LogPos::zero(),
        };
        let json = serde_json::to_string(&w).expect("ser");
        assert_eq!(
            serde_json::from_str::<Wire<[u8; 32]>>(&json).expect("de"),
            w
        );
    }

    // ------------------------------------------------------------------------------------
    // Direct messages.

    #[test]
    fn dm_to_offline_peer_is_delivered_when_it_comes_online() {
        let mut sim = DmSim::new(1, 2, NetCfg::clean());
        sim.at(0, DmEv::Crash(1));
        for k in 0..5 {
            sim.at(
                10 + k,
                DmEv::Send {
                    from: 0,
                    to: 1,
                    id: msg_id(k),
                },
            );
        }
        sim.run_until(3_600_000);
        assert!(sim.nodes[1].shown.is_empty());
        assert_eq!(
            sim.nodes[0].states[&msg_id(0)],
            DmState::Queued,
            "waits, no tries burnt"
        );
        sim.at(sim.now + 1, DmEv::Restart(1));
        sim.run_until(sim.now + 5_000);
        sim.check().expect("delivered once");
    }

    #[test]
    fn dm_survives_sender_restart() {
        let mut sim = DmSim::new(2, 2, NetCfg::clean());
        sim.at(0, DmEv::Crash(1));
        sim.at(
            10,
            DmEv::Send {
                from: 0,
                to: 1,
                id: msg_id(1),
            },
        );
        sim.at(
            20,
            DmEv::Send {
                from: 0,
                to: 1,
                id: msg_id(2),
            },
        );
        sim.at(1_000, DmEv::Crash(0));
        sim.at(2_000, DmEv::Restart(1));
        sim.at(60_000, DmEv::Restart(0));
        sim.run_until(59_000);
        assert!(sim.nodes[1].shown.is_empty());
        sim.at(
            61_000,
            DmEv::Send {
                from: 0,
                to: 1,
                id: msg_id(3),
            },
        );
        sim.run_until(70_000);
        sim.check()
            .expect("delivered once after the sender restarted");
        let order: Vec<MsgId> = sim.nodes[1].shown.iter().map(|(_, id)| *id).collect();
        assert_eq!(order, vec![msg_id(1), msg_id(2), msg_id(3)]);
    }

    #[test]
    fn dm_backoff_ten_tries_then_not_delivered_yet_then_retried_online() {
        let mut sim = DmSim::new(3, 2, NetCfg::clean());
        sim.deaf.insert(1); // connected, but nothing gets through
        sim.at(
            0,
            DmEv::Send {
                from: 0,
                to: 1,
                id: msg_id(1),
            },
        );
        sim.run_until(40 * 3_600_000);
        assert_eq!(sim.nodes[0].states[&msg_id(1)], DmState::NotDeliveredYet);
        assert_eq!(
            sim.tries[&0], MAX_TRIES as usize,
            "ten tries, then it stops"
        );
        assert_eq!(
            sim.nodes[0].dm.as_ref().map(|d| d.pending().count()),
            Some(1),
            "still queued"
        );
        // Delays: 1 s, 3 s, 9 s ... capped at an hour.
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 3_000);
        assert_eq!(backoff_ms(5), 81_000);
        assert_eq!(backoff_ms(9), BACKOFF_CAP_MS);
        // The peer is seen online again (new connection): a new round delivers it.
        sim.deaf.clear();
        sim.set_cut(0, 1, true);
        sim.set_cut(0, 1, false);
        sim.run_until(sim.now + 2_000);
        sim.check().expect("delivered");
    }

    #[test]
    fn dm_replays_after_minutes_are_shown_once() {
        let mut sim = DmSim::new(4, 2, NetCfg::clean());
        for k in 0..20 {
            sim.at(
                k * 10,
                DmEv::Send {
                    from: 0,
                    to: 1,
                    id: msg_id(k),
                },
            );
        }
        sim.run_until(5_000);
        sim.check().expect("delivered");
        // Replay every message delivered to node 1, 2 minutes and then a day later.
        let replays: Vec<DmWire> = sim
            .delivered_log
            .iter()
            .filter(|(_, to, _)| *to == 1)
            .map(|(_, _, m)| m.clone())
            .collect();
        for later in [120_000, 86_400_000] {
            sim.run_until(sim.now + later);
            for m in &replays {
                sim.feed(
                    1,
                    DmEvent::Wire {
                        from: 0,
                        msg: m.clone(),
                    },
                );
            }
        }
        sim.check().expect("no message shown twice");
        assert_eq!(sim.nodes[1].shown.len(), 20);
        let mark = &sim.nodes[1].disk.inbox[&0];
        assert_eq!(mark.contiguous, 20);
        assert!(mark.above.is_empty(), "memory stays bounded");
    }

    #[test]
    fn dm_random_runs() {
        let n = seeds("CHAT_DM_SEEDS", 100);
        for seed in 0..n {
            let mut rng = Rng::new(seed + 77);
            let peers = rng.range(2, 4) as usize;
            let mut sim = DmSim::new(seed, peers, NetCfg::lossy());
            let mut id = 0;
            for _ in 0..rng.range(20, 120) {
                let from = rng.below(peers as u64) as usize;
                let to = (from + 1 + rng.below(peers as u64 - 1) as usize) % peers;
                id += 1;
                let t = rng.range(0, 60_000);
                sim.at(
                    t,
                    DmEv::Send {
                        from,
                        to,
                        id: msg_id(id),
                    },
                );
            }
            for _ in 0..rng.range(0, 6) {
                let node = rng.below(peers as u64) as usize;
                let t = rng.range(0, 60_000);
                sim.at(t, DmEv::Crash(node));
                sim.at(t + rng.range(100, 30_000), DmEv::Restart(node));
            }
            sim.run_until(100_000);
            for i in 0..peers {
                sim.at(sim.now + 1, DmEv::Restart(i));
            }
            sim.run_until(sim.now + 400_000);
            if let Err(e) = sim.check() {
                panic!("seed {seed}: {e}");
            }
        }
    }
}

/// Replays one random run with a trace: `SEED=n [PART=1] SIM_VERBOSE=1 cargo test
/// debug_seed -- --ignored --nocapture`.
#[cfg(test)]
mod debug {
    use super::*;

    #[test]
    #[ignore]
    fn debug_seed() {
        let seed: u64 = std::env::var("SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let partitions = std::env::var("PART").is_ok();
        eprintln!("{:?}", random_run(seed, partitions));
    }
}
