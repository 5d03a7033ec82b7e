//! Integrity: what members sign and how everyone checks it.
//!
//! **Items.** Every item is signed by its author (the peer named `sender`) over
//! [`item_bytes`]: a domain prefix, the room id, the item id, the author, the author's time
//! and the content, in a fixed binary layout. The host checks the signature before it gives
//! an item a place, members check it before they store an entry from an `Append`, and a
//! handed-over item keeps its author's signature, so nobody can put words (or a deletion, a
//! leave, a rename, an invitation) into someone else's name.
//!
//! **Votes and certificates.** A granted (real) vote is the voter's signature over
//! [`vote_bytes`]: room, term, candidate and the candidate's log position. A member signs
//! only for the term right after the last one it holds proof of (`term + 1`). The votes a
//! winner collected are its [`Cert`]; it carries it in `Hello`, `Append` (until the member
//! confirmed the epoch) and `VoteRequest`, and a member adopts a higher term, or another
//! host in its own term, only with a certificate that holds enough valid votes of members
//! it knows ([`Room::cert_valid`]). Terms therefore move by one per election that members
//! actually voted in: no peer can jump them, and nothing from a non-member counts.

use super::*;

/// Domain prefix of item signatures.
pub const ITEM_DOMAIN: &[u8] = b"hearth/room-item/1";
/// Domain prefix of vote signatures.
pub const VOTE_DOMAIN: &[u8] = b"hearth/room-vote/1";
/// Length of a signature (ed25519).
pub const SIG_LEN: usize = 64;

/// A signature (ed25519: 64 bytes; hex on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sig(pub [u8; SIG_LEN]);

impl Sig {
    /// A placeholder that verifies for no one.
    pub const NONE: Sig = Sig([0u8; SIG_LEN]);
}

impl Debug for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sig({}..)", hex::encode(&self.0[..4]))
    }
}

impl Serialize for Sig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Sig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let mut out = [0u8; SIG_LEN];
        if s.len() != SIG_LEN * 2 {
            return Err(serde::de::Error::invalid_length(s.len(), &"128 hex digits"));
        }
        hex::decode_to_slice(s.as_bytes(), &mut out).map_err(serde::de::Error::custom)?;
        Ok(Sig(out))
    }
}

/// This node's identity key, as the state machine needs it: it signs and never leaves the
/// implementation (the app passes its libp2p ed25519 keypair).
pub trait Signer: Send + Sync {
    fn sign(&self, msg: &[u8]) -> Sig;
}

/// Proof that `host` won `term`: the signed votes of members (the winner's own included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: Ord + Deserialize<'de>"))]
pub struct Cert<P> {
    pub term: u64,
    pub host: P,
    /// The log position the candidate stood with (part of every vote).
    pub last: LogPos<P>,
    /// At most one vote per member, at most `MAX_MEMBERS`.
    pub votes: Vec<(P, Sig)>,
}

fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// The bytes an item's author signs.
pub fn item_bytes<P: PeerKey>(room: &RoomId, item: &Item<P>) -> Vec<u8> {
    let mut b = Vec::with_capacity(96 + item.content.size());
    b.extend_from_slice(ITEM_DOMAIN);
    b.extend_from_slice(room);
    b.extend_from_slice(&item.id);
    put(&mut b, &item.sender.key_bytes());
    b.extend_from_slice(&item.sent_ms.to_be_bytes());
    match &item.content {
        Content::Text(t) => {
            b.push(0);
            put(&mut b, t.as_bytes());
        }
        Content::Created { name } => {
            b.push(1);
            put(&mut b, name.as_bytes());
        }
        Content::Invite(p) => {
            b.push(2);
            put(&mut b, &p.key_bytes());
        }
        Content::Rename(name) => {
            b.push(3);
            put(&mut b, name.as_bytes());
        }
        Content::Left(p) => {
            b.push(4);
            put(&mut b, &p.key_bytes());
        }
        Content::Delete => b.push(5),
        Content::HostChange => b.push(6),
    }
    b
}

/// The bytes a voter signs when it grants `candidate` its vote for `term`.
pub fn vote_bytes<P: PeerKey>(
    room: &RoomId,
    term: u64,
    candidate: &P,
    last: &LogPos<P>,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(VOTE_DOMAIN);
    b.extend_from_slice(room);
    b.extend_from_slice(&term.to_be_bytes());
    put(&mut b, &candidate.key_bytes());
    b.extend_from_slice(&last.seq.to_be_bytes());
    match &last.epoch {
        None => b.push(0),
        Some(e) => {
            b.push(1);
            b.extend_from_slice(&e.term.to_be_bytes());
            put(&mut b, &e.host.key_bytes());
        }
    }
    b
}

impl<P: PeerKey> Room<P> {
    /// Sign an item written here (its `sig` is replaced).
    pub(super) fn signed(&self, mut item: Item<P>) -> Item<P> {
        item.sig = self.signer.sign(&item_bytes(&self.meta.room, &item));
        item
    }

    /// Whether the item carries its author's valid signature (and sane content).
    pub(super) fn item_ok(&self, item: &Item<P>) -> bool {
        content_ok(&item.content)
            && item
                .sender
                .verify(&item_bytes(&self.meta.room, item), &item.sig)
    }

    /// Whether `cert` proves that members elected `host` in `term`: at least two votes (one
    /// in a room of one) of distinct members as this member knows them (invitations not yet
    /// committed do not count), the host among them, every signature valid.
    pub(super) fn cert_valid(&self, cert: &Cert<P>, term: u64, host: &P) -> bool {
        if cert.term != term
            || cert.host != *host
            || cert.votes.len() > MAX_MEMBERS
            || !self.is_member(host)
        {
            return false;
        }
        let bytes = vote_bytes(&self.meta.room, term, host, &cert.last);
        let mut voters = BTreeSet::new();
        for (voter, sig) in &cert.votes {
            if !self.is_member(voter) || !voters.insert(voter) || !voter.verify(&bytes, sig) {
                return false;
            }
        }
        let need = self.meta.members.len().clamp(1, 2);
        voters.len() >= need && voters.contains(host)
    }

    /// Whether `(term, host)` is proven: the room's first term and its creator, the
    /// certificate I hold, or `cert`.
    pub(super) fn proven(&self, term: u64, host: &P, cert: Option<&Cert<P>>) -> bool {
        (term == 1 && *host == self.meta.creator)
            || self
                .meta
                .cert
                .as_ref()
                .is_some_and(|c| c.term == term && c.host == *host)
            || cert.is_some_and(|c| self.cert_valid(c, term, host))
    }

    /// Whether the entry may take effect and be shown: decided by every member alike, from
    /// the log before it. Entries up to `members_as_of` (before I joined) are checked for
    /// everything but membership, which the invitation summed up.
    pub(super) fn authorised(&self, e: &Entry<P>) -> bool {
        let s = &e.item.sender;
        let member = e.seq <= self.meta.members_as_of || self.is_member(s);
        match &e.item.content {
            Content::Created { .. } => e.seq == 1 && *s == self.meta.creator,
            Content::HostChange => *s == e.epoch.host,
            Content::Text(_) => member || self.departed.contains(s),
            Content::Rename(_) | Content::Invite(_) => member,
            Content::Left(p) => p == s && member,
            Content::Delete => *s == self.meta.creator && member,
        }
    }

    /// Host: may `item` (signature already checked) take a place now?
    pub(super) fn allowed(&self, item: &Item<P>, own: bool) -> Result<(), RoomError> {
        let member = self.is_member(&item.sender);
        // Own submissions need a current member; handed-over texts keep their author, who
        // may have left since.
        if own && !member {
            return Err(RoomError::NotMember);
        }
        match &item.content {
            Content::Text(_) if member || self.departed.contains(&item.sender) => Ok(()),
            _ if !member => Err(RoomError::NotMember),
            Content::Text(_) | Content::Rename(_) => Ok(()),
            Content::Invite(p) => {
                if !self.is_member(p) && self.meta.members.len() >= MAX_MEMBERS {
                    Err(RoomError::TooManyMembers)
                } else {
                    Ok(())
                }
            }
            Content::Left(p) if *p == item.sender => Ok(()),
            Content::Left(_) => Err(RoomError::Invalid),
            Content::Delete if item.sender == self.meta.creator => Ok(()),
            Content::Delete => Err(RoomError::NotCreator),
            Content::Created { .. } | Content::HostChange => Err(RoomError::Invalid),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Keys used by the tests and the simulator.

/// Test identities: peer `n` signs with a keyed hash only the holder of `TestSigner(n)`
/// computes in the simulator (each simulated node, honest or not, holds only its own).
#[cfg(test)]
pub(crate) struct TestSigner(pub u64);

#[cfg(test)]
fn test_sig(peer: u64, msg: &[u8]) -> Sig {
    let mut k = blake3::Hasher::new();
    k.update(b"hearth/test-identity");
    k.update(&peer.to_be_bytes());
    let h = blake3::keyed_hash(k.finalize().as_bytes(), msg);
    let mut s = [0u8; SIG_LEN];
    s[..32].copy_from_slice(h.as_bytes());
    s[32..].copy_from_slice(h.as_bytes());
    Sig(s)
}

#[cfg(test)]
impl Signer for TestSigner {
    fn sign(&self, msg: &[u8]) -> Sig {
        test_sig(self.0, msg)
    }
}

#[cfg(test)]
impl PeerKey for u64 {
    fn key_bytes(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn verify(&self, msg: &[u8], sig: &Sig) -> bool {
        test_sig(*self, msg) == *sig
    }
}

/// A real ed25519 key from a fixed seed (tests): its public key is the `[u8; 32]` peer.
#[cfg(test)]
pub(crate) struct SeedSigner(pub libp2p::identity::ed25519::Keypair);

#[cfg(test)]
impl SeedSigner {
    pub(crate) fn new(seed: u8) -> Self {
        let secret =
            libp2p::identity::ed25519::SecretKey::try_from_bytes([seed; 32]).expect("32-byte seed");
        SeedSigner(libp2p::identity::ed25519::Keypair::from(secret))
    }
    pub(crate) fn peer(&self) -> [u8; 32] {
        self.0.public().to_bytes()
    }
}

#[cfg(test)]
impl Signer for SeedSigner {
    fn sign(&self, msg: &[u8]) -> Sig {
        let mut s = [0u8; SIG_LEN];
        s.copy_from_slice(&self.0.sign(msg));
        Sig(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_items_verify_and_tampering_fails() {
        let key = SeedSigner::new(1);
        let me = key.peer();
        let room = [4u8; 32];
        let mut item = Item {
            id: [1; 16],
            sender: me,
            sent_ms: 5,
            content: Content::Text("hi".into()),
            sig: Sig::NONE,
        };
        item.sig = key.sign(&item_bytes(&room, &item));
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(me.verify(&item_bytes(&room, &item), &item.sig));
        }
        eprintln!("100 ed25519 verifications: {:?}", started.elapsed());
        let mut other = item.clone();
        other.content = Content::Delete;
        assert!(!me.verify(&item_bytes(&room, &other), &other.sig));
        assert!(!SeedSigner::new(2)
            .peer()
            .verify(&item_bytes(&room, &item), &item.sig));
        assert!(!me.verify(&item_bytes(&[5u8; 32], &item), &item.sig));
    }
}
