//! The follower's side of the protocol: accepting appends, answering with a log summary
//! when behind.

use super::*;

impl<P: PeerKey> Room<P> {
    // -----------------------------------------------------------------------------------
    // Follower side.

    /// An `Append` from `from`; `commit` is (commit point, host's last seq).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_append(
        &mut self,
        from: P,
        epoch: Epoch<P>,
        prev: LogPos<P>,
        entries: Vec<Entry<P>>,
        (commit, host_last): (u64, u64),
        cert: Option<Cert<P>>,
        now: u64,
    ) {
        // Validate before touching anything. Only members host.
        if epoch.host != from
            || entries.len() > MAX_APPEND_ENTRIES
            || !self.is_member_or_invited(&from)
        {
            return;
        }
        let mut floor = prev.epoch.clone();
        for (expect_seq, e) in (prev.seq + 1..).zip(entries.iter()) {
            let epoch_ok = e.epoch <= epoch && floor.as_ref().is_none_or(|f| e.epoch >= *f);
            if e.seq != expect_seq || !epoch_ok || !content_ok(&e.item.content) {
                return;
            }
            floor = Some(e.epoch.clone());
        }
        match self.observe(epoch.term, Some(&from), cert.as_ref(), now) {
            Seen::Current => {}
            Seen::Behind => {
                let hello = self.hello();
                self.send(from, hello);
                return;
            }
            Seen::Unproven => {
                // Without a certificate the host may simply not know I need one: my `Hello`
                // makes it start over with me. A certificate that does not hold is ignored.
                if cert.is_none() {
                    let hello = self.hello();
                    self.send(from, hello);
                }
                return;
            }
        }
        if self.meta.host.as_ref() != Some(&from) || self.hosting.is_some() {
            return;
        }
        self.host_heard_ms = now;
        self.election = Election::Idle;
        if !self.has_pos(&prev) {
            let (end, segments) = self.segments_below(prev.seq);
            let msg = Wire::AppendReply {
                room: self.meta.room,
                epoch,
                ok: false,
                seq: end,
                segments,
            };
            self.send(from, msg);
            return;
        }
        let n = entries.len() as u64;
        for e in entries {
            let seq = e.seq;
            if seq <= self.last_seq() && self.log[seq as usize - 1].epoch == e.epoch {
                continue;
            }
            // An honest host never places an item its author did not sign; refuse the rest
            // of such a batch before it changes anything.
            if !self.item_ok(&e.item) {
                return;
            }
            if seq <= self.last_seq() {
                self.truncate_from(seq);
            }
            // Nor does it place an id twice.
            if self.index.contains_key(&e.item.id) || seq != self.last_seq() + 1 {
                return;
            }
            self.append_entry(e);
        }
        let matched = prev.seq + n;
        // Leftovers from an older epoch beyond the end of the host's log are not in it.
        if matched == host_last && self.last_seq() > matched {
            let next_epoch = &self.log[matched as usize].epoch;
            if *next_epoch != epoch {
                self.truncate_from(matched + 1);
            }
        }
        self.verified = self.verified.max(matched).min(self.last_seq());
        let upto = commit.min(self.verified);
        if upto > self.meta.displayed {
            self.display_to(upto, now);
        }
        let msg = Wire::AppendReply {
            room: self.meta.room,
            epoch,
            ok: true,
            seq: self.verified,
            segments: Vec::new(),
        };
        self.send(from, msg);
        self.flush_outbox(now);
    }

    pub(super) fn on_hello(
        &mut self,
        from: P,
        term: u64,
        host: Option<P>,
        last: LogPos<P>,
        cert: Option<Cert<P>>,
        now: u64,
    ) {
        if !self.is_member_or_invited(&from) {
            if self.hosting.is_some() {
                self.send(
                    from,
                    Wire::NotMember {
                        room: self.meta.room,
                    },
                );
            }
            return;
        }
        self.known_last.insert(from.clone(), last.clone());
        match self.observe(term, host.as_ref(), cert.as_ref(), now) {
            Seen::Current => {}
            Seen::Behind => {
                let hello = self.hello();
                self.send(from, hello);
                return;
            }
            Seen::Unproven => return,
        }
        if self.hosting.is_some() {
            if let Some(h) = self.hosting.as_mut() {
                h.followers.remove(&from);
            }
            self.send_append(&from, now);
        }
    }
}
