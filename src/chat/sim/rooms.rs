//! The room simulator: nodes running [`Room`]s over the simulated network, and the
//! invariants a run must keep (`check`).

use super::*;

/// A simulated node's identity key (each node holds only its own).
fn signer(id: Peer) -> std::sync::Arc<dyn Signer> {
    std::sync::Arc::new(TestSigner(id))
}

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
    /// A node that withholds this share of its acknowledgements (`AppendReply`).
    withhold: Option<(usize, f64)>,
    /// Nodes whose incoming messages are recorded in `heard` (for replays).
    spies: BTreeSet<usize>,
    heard: Vec<(usize, Wire<Peer>)>,
}

/// Most recorded messages kept for replays.
const MAX_HEARD: usize = 4_000;

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
            withhold: None,
            spies: BTreeSet::new(),
            heard: Vec::new(),
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
        let (room, actions) =
            Room::from_invitation(self.nodes[i].id, inv, self.now, signer(self.nodes[i].id));
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
        if let Some((node, share)) = self.withhold {
            if node == from && matches!(msg, Wire::AppendReply { .. }) && self.rng.chance(share) {
                return;
            }
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
            let (room, actions) = Room::restore(snap, self.now, signer(self.nodes[i].id));
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

    /// Handles the earliest queued event (`false` when there is none).
    fn step_one(&mut self) -> bool {
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
                    if self.spies.contains(&to) {
                        if self.heard.len() >= MAX_HEARD {
                            self.heard.remove(0);
                        }
                        self.heard.push((to, msg.clone()));
                    }
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

    /// Node 0 creates the room `name` and invites the nodes `invited`.
    fn create_and_invite(&mut self, name: &str, invited: std::ops::Range<usize>) {
        let (room, actions) =
            Room::create(self.room_id, 0, name.to_string(), self.now, signer(0)).expect("create");
        self.nodes[0].room = Some(room);
        self.perform(0, actions);
        self.relink();
        for i in invited {
            let id = self.fresh_id();
            let peer = self.nodes[i].id;
            self.feed(0, Event::Invite { id, peer });
        }
    }

    /// Node 0 creates the room and invites everyone else; wait until all have joined.
    fn setup_room(&mut self) {
        self.create_and_invite("general", 1..self.nodes.len());
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

impl Stepper for Sim {
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

#[cfg(test)]
mod byzantine;
#[cfg(test)]
mod tests;
