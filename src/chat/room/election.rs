//! Host election: latency scores, votes and the choice of the next host.

use super::*;

impl<P: PeerKey> Room<P> {
    // -----------------------------------------------------------------------------------
    // Election.

    /// My own latency score bucket for `p` (self: median of my measured RTTs).
    pub(super) fn latency_bucket(&self, p: &P) -> u32 {
        if *p == self.meta.me {
            let mut v: Vec<u32> = self
                .connected
                .iter()
                .filter(|q| self.is_member(q))
                .filter_map(|q| self.rtt.get(q).copied())
                .collect();
            if v.is_empty() {
                return RTT_UNKNOWN_BUCKET;
            }
            v.sort_unstable();
            v[v.len() / 2] / RTT_BUCKET_MS
        } else {
            self.rtt
                .get(p)
                .map_or(RTT_UNKNOWN_BUCKET, |r| r / RTT_BUCKET_MS)
        }
    }

    /// When to stand: my rank among the members I can reach, by log completeness, then
    /// latency I measured, then the shared tie-break hash.
    pub(super) fn candidacy_delay(&self) -> u64 {
        let next_term = self.meta.term + 1;
        let room = self.meta.room;
        // (log completeness, my latency bucket, shared hash, peer): smallest first.
        type Candidate<P> = (Reverse<LogPos<P>>, u32, [u8; 32], P);
        let mut cands: Vec<Candidate<P>> = self
            .electorate()
            .into_iter()
            .map(|p| {
                let last = self
                    .known_last
                    .get(&p)
                    .cloned()
                    .unwrap_or_else(LogPos::zero);
                (
                    Reverse(last),
                    self.latency_bucket(&p),
                    tie_hash(&room, next_term, &p),
                    p,
                )
            })
            .collect();
        let me = self.meta.me.clone();
        cands.push((
            Reverse(self.last_pos()),
            self.latency_bucket(&me),
            tie_hash(&room, next_term, &me),
            me.clone(),
        ));
        cands.sort();
        let rank = cands.iter().position(|c| c.3 == me).unwrap_or(0) as u64;
        let h = tie_hash(&room, next_term ^ (self.attempts << 40), &me);
        let jitter = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        ELECTION_BASE_MS + rank * ELECTION_STAGGER_MS + jitter % ELECTION_JITTER_MS
    }

    pub(super) fn drive_election(&mut self, now: u64) {
        if !self.active() || self.hosting.is_some() {
            self.election = Election::Idle;
            return;
        }
        match self.election.clone() {
            Election::Idle => {
                if self.host_gone(now) {
                    if self.meta.host.is_some() {
                        self.lose_host_silently();
                    }
                    // Tell every connected member (their answers also show who runs this
                    // room: only those count in the electorate).
                    let hello = self.hello();
                    let targets = self.connected_members();
                    for p in targets {
                        self.send(p, hello.clone());
                    }
                    self.election = Election::Waiting {
                        at: now + self.candidacy_delay(),
                    };
                }
            }
            Election::Waiting { at } => {
                if !self.host_gone(now) {
                    self.election = Election::Idle;
                } else if now >= at {
                    self.stand(true, now);
                }
            }
            Election::Standing {
                term,
                pre,
                votes,
                last,
                started,
                last_sent,
                ..
            } => {
                if now >= started + ELECTION_ROUND_MS {
                    // A member asked all round long that never answered is not reachable,
                    // whatever its connection looks like (a partition that drops packets
                    // until the transport times the connection out). Like a frozen host it
                    // is no voter until it says something again.
                    let silent: Vec<P> = self
                        .electorate()
                        .into_iter()
                        .filter(|p| {
                            !votes.contains(p) && self.heard.get(p).is_none_or(|t| *t < started)
                        })
                        .collect();
                    for p in silent {
                        self.spoke.remove(&p);
                    }
                    self.abandon(now);
                } else if now >= last_sent + VOTE_RESEND_MS {
                    let msg = Wire::VoteRequest {
                        room: self.meta.room,
                        term,
                        last,
                        pre,
                        cert: self.meta.cert.clone(),
                    };
                    let targets: Vec<P> = self
                        .electorate()
                        .into_iter()
                        .filter(|p| !votes.contains(p))
                        .collect();
                    for p in targets {
                        self.send(p, msg.clone());
                    }
                    if let Election::Standing { last_sent, .. } = &mut self.election {
                        *last_sent = now;
                    }
                }
            }
        }
    }

    /// The host is gone by my own timers: forget it (so I can vote), keep the term.
    pub(super) fn lose_host_silently(&mut self) {
        self.gone = self.meta.host.take();
        self.meta_dirty = true;
        self.out.push(Action::HostChanged {
            term: self.meta.term,
            host: None,
        });
    }

    pub(super) fn abandon(&mut self, now: u64) {
        self.attempts += 1;
        self.election = Election::Waiting {
            at: now + ELECTION_ROUND_MS / 2 + self.candidacy_delay(),
        };
    }

    /// Start a pre-vote (`pre`) or a real vote for term + 1. The term itself moves only
    /// when I win (or learn of a proven one).
    pub(super) fn stand(&mut self, pre: bool, now: u64) {
        let electorate = self.electorate();
        if electorate.is_empty() && self.meta.members.len() > 1 {
            // Alone: never elect myself; wait for someone to come back.
            self.election = Election::Waiting {
                at: now + ELECTION_ROUND_MS,
            };
            return;
        }
        let term = self.meta.term + 1;
        let me = self.meta.me.clone();
        let last = self.last_pos();
        let mut sigs = Vec::new();
        if pre {
            self.prevote = Some((term, me.clone(), now + ELECTION_ROUND_MS));
        } else {
            self.meta.voted_for = Some(me.clone());
            self.vote_until = now + ELECTION_ROUND_MS;
            self.meta.host = None;
            self.meta_dirty = true;
            let sig = self
                .signer
                .sign(&vote_bytes(&self.meta.room, term, &me, &last));
            sigs.push((me.clone(), sig));
        }
        self.election = Election::Standing {
            term,
            pre,
            votes: BTreeSet::from([me]),
            sigs,
            last: last.clone(),
            started: now,
            last_sent: now,
        };
        let msg = Wire::VoteRequest {
            room: self.meta.room,
            term,
            last,
            pre,
            cert: self.meta.cert.clone(),
        };
        // Ask every connected member, including ones that have not spoken yet.
        let targets = self.connected_members();
        for p in targets {
            self.send(p, msg.clone());
        }
        self.check_won(now);
    }

    pub(super) fn check_won(&mut self, now: u64) {
        let Election::Standing {
            term,
            pre,
            votes,
            sigs,
            last,
            ..
        } = &self.election
        else {
            return;
        };
        let electorate = self.electorate();
        let everyone = electorate.iter().all(|p| votes.contains(p));
        let enough = !electorate.is_empty() || self.meta.members.len() <= 1;
        if !(everyone && enough) {
            return;
        }
        if *pre {
            self.stand(false, now);
        } else {
            let cert = Cert {
                term: *term,
                host: self.meta.me.clone(),
                last: last.clone(),
                votes: sigs.clone(),
            };
            let votes = votes.clone();
            self.become_host(votes, cert, now);
        }
    }

    /// A candidate asks for my (pre-)vote for `term`. I sign only for my term + 1: terms
    /// move one election at a time. A candidate further ahead proves its term with `cert`
    /// (the certificate of `term - 1`), and I catch up first.
    pub(super) fn on_vote_request(
        &mut self,
        from: P,
        term: u64,
        last: LogPos<P>,
        pre: bool,
        cert: Option<Cert<P>>,
        now: u64,
    ) {
        if !self.active() || !self.is_member(&from) {
            return;
        }
        self.known_last.insert(from.clone(), last.clone());
        if term > self.meta.term + 1 {
            if let Some(c) = cert.as_ref().filter(|c| c.term + 1 == term) {
                // Its host is gone for the candidate; mine is older still.
                self.observe(c.term, None, Some(c), now);
            }
        }
        let my_last = self.last_pos();
        let room = self.meta.room;
        let reply = |granted: bool, sig: Option<Sig>| Wire::VoteReply {
            room,
            term,
            granted,
            last: my_last.clone(),
            pre,
            sig,
        };
        if term != self.meta.term + 1 || self.host_alive_for_vote(now) {
            let msg = reply(false, None);
            self.send(from.clone(), msg);
            if term <= self.meta.term {
                // The candidate is behind: my certificate lets it catch up.
                let hello = self.hello();
                self.send(from.clone(), hello);
            }
            if self.hosting.is_some() {
                self.send_append(&from, now);
            }
            return;
        }
        let log_ok = last >= my_last;
        let free = self.meta.voted_for.is_none()
            || self.meta.voted_for.as_ref() == Some(&from)
            || now >= self.vote_until;
        if pre {
            // One pre-vote candidate at a time, so that simultaneous candidates do not
            // both go on to split the real vote; a strictly better candidate (more complete
            // log, then the shared hash) takes the lock over, so they converge on one.
            let unlocked = match &self.prevote {
                Some((t, c, until)) if *c != from && *t == term && now < *until => {
                    let c_last = if *c == self.meta.me {
                        my_last.clone()
                    } else {
                        self.known_last.get(c).cloned().unwrap_or_else(LogPos::zero)
                    };
                    let rank =
                        |p: &P, l: &LogPos<P>| (l.clone(), Reverse(tie_hash(&room, term, p)));
                    rank(&from, &last) > rank(c, &c_last)
                }
                _ => true,
            };
            let granted = log_ok && free && unlocked;
            if granted {
                self.prevote = Some((term, from.clone(), now + ELECTION_ROUND_MS));
                // Give the candidate time before standing myself (also if I was standing).
                self.election = Election::Waiting {
                    at: now + ELECTION_ROUND_MS + self.candidacy_delay(),
                };
            }
            let msg = reply(granted, None);
            self.send(from, msg);
            return;
        }
        let granted = log_ok && free;
        let mut sig = None;
        if granted {
            // Lent for one round: a candidate that vanishes does not hold the term forever.
            self.meta.voted_for = Some(from.clone());
            self.vote_until = now + ELECTION_ROUND_MS;
            self.meta_dirty = true;
            sig = Some(self.signer.sign(&vote_bytes(&room, term, &from, &last)));
            // Give the candidate time before standing myself.
            self.election = Election::Waiting {
                at: now + ELECTION_ROUND_MS + self.candidacy_delay(),
            };
        }
        let msg = reply(granted, sig);
        self.send(from, msg);
    }

    /// A member answers my vote request (`term`, `granted`, `pre` as it echoes them).
    pub(super) fn on_vote_reply(
        &mut self,
        from: P,
        (term, granted, pre): (u64, bool, bool),
        last: LogPos<P>,
        sig: Option<Sig>,
        now: u64,
    ) {
        if !self.is_member(&from) {
            return;
        }
        self.known_last.insert(from.clone(), last);
        let Election::Standing {
            term: t,
            pre: p,
            last: my_last,
            ..
        } = &self.election
        else {
            return;
        };
        if *t != term || *p != pre {
            return;
        }
        if !granted {
            self.abandon(now);
            return;
        }
        let signed = match (pre, sig) {
            (true, _) => None,
            (false, Some(sig)) => {
                let bytes = vote_bytes(&self.meta.room, term, &self.meta.me, my_last);
                if !from.verify(&bytes, &sig) {
                    return;
                }
                Some(sig)
            }
            (false, None) => return,
        };
        if let Election::Standing { votes, sigs, .. } = &mut self.election {
            if votes.insert(from.clone()) {
                if let Some(sig) = signed {
                    sigs.push((from, sig));
                }
            }
        }
        self.check_won(now);
    }
}
