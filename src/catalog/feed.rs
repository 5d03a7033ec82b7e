//! Signed append-only feeds (as in Secure Scuttlebutt).
//!
//! Each identity writes one feed. An entry names its author, its sequence number (from 1),
//! the hash of the previous entry, a timestamp and a typed body, and is signed with the
//! author's ed25519 key. The signature covers the exact payload bytes that travel, so
//! verification never depends on re-encoding JSON the same way twice.
//!
//! This module is pure: encoding, signing, verification and body validation. Whether an
//! entry extends, duplicates or forks a stored feed is decided by [`check_append`].

use base64::Engine as _;
use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::api::dto::{FileEntry, Profile, ResourceKind};

/// Largest signed entry accepted from anyone, as it travels (payload, signature, framing).
/// A publish entry with a full thumbnail fits comfortably.
pub const MAX_ENTRY_BYTES: usize = 48 * 1024;
/// Current entry format.
pub const ENTRY_VERSION: u8 = 1;

pub const MAX_TITLE: usize = 300;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG: usize = 50;
pub const MAX_MIME: usize = 100;
pub const MAX_MAGNET: usize = 2048;
/// Files listed in a record; a torrent may have more, the record shows the first ones.
pub const MAX_RECORD_FILES: usize = 500;
pub const MAX_FILE_PATH: usize = 1024;
/// Raw thumbnail bytes (JPEG/PNG/WebP) carried in a publish entry.
pub const MAX_THUMBNAIL: usize = crate::infra::thumbnail::MAX_THUMBNAIL_BYTES;
/// Longest play length a record may claim.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3600 * 1000;
/// Entries may claim a time at most this far in the future.
const MAX_CLOCK_SKEW_MS: u64 = 24 * 3600 * 1000;

/// Why an entry was refused. Each reason is counted separately.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("entry is {0} bytes, more than the limit")]
    Oversize(usize),
    #[error("malformed entry: {0}")]
    Malformed(String),
    #[error("bad signature")]
    BadSignature,
    #[error("invalid entry body: {0}")]
    InvalidBody(String),
    #[error("entry does not follow the previous one (hash chain broken)")]
    BrokenChain,
    #[error("a different entry with sequence number {0} is already stored (fork)")]
    Fork(u64),
}

/// What travels and what is stored: the payload exactly as signed, and the signature (a
/// wire type, defined with the protocol that carries it).
pub use crate::net::protocol::SignedEntry;

/// The signed content of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub v: u8,
    /// Peer id of the author (base58).
    pub author: String,
    /// 1 for the first entry, then +1 per entry.
    pub seq: u64,
    /// Hash of the previous entry; `None` only for seq 1.
    pub prev: Option<String>,
    /// The author's clock when writing, Unix ms.
    pub ts_ms: u64,
    pub body: Body,
}

impl Entry {
    /// The resource an entry is about, if it is about one.
    pub fn body_content_id(&self) -> Option<String> {
        match &self.body {
            Body::Publish { resource } => Some(resource.content_id.clone()),
            Body::Unpublish { content_id } => Some(content_id.clone()),
            Body::Profile { .. } => None,
        }
    }
}

/// The typed body of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    Publish { resource: ResourceBody },
    Unpublish { content_id: String },
    Profile { profile: FeedProfile },
}

/// A published resource, as its author describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceBody {
    /// BitTorrent info-hash, 40 lowercase hex digits.
    pub content_id: String,
    pub magnet: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    pub tags: Vec<String>,
    pub size: u64,
    pub mime: String,
    pub files: Vec<RecordFile>,
    pub created_ms: u64,
    /// Small image, base64.
    #[serde(default)]
    pub thumbnail: Option<String>,
    /// Play length of a video or audio file, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

// The feed's own vocabulary. These are signed and stored, so they never change with the
// UI's types (`api::dto`), which convert to and from them; `tests/golden.rs` pins the bytes.

/// What kind of thing a resource is, as its author's entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Paper,
    Dataset,
    Video,
    Audio,
    Image,
    Other,
}

/// One file of a published resource: its path inside the resource ('/'-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFile {
    pub path: String,
    pub size: u64,
}

/// What a person says about themselves in their feed (and this node keeps of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedProfile {
    pub display_name: String,
    pub affiliation: String,
    pub bio: String,
    /// blake3 (hex) of the profile picture; signed with the rest of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl From<Kind> for ResourceKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Paper => Self::Paper,
            Kind::Dataset => Self::Dataset,
            Kind::Video => Self::Video,
            Kind::Audio => Self::Audio,
            Kind::Image => Self::Image,
            Kind::Other => Self::Other,
        }
    }
}

impl From<ResourceKind> for Kind {
    fn from(k: ResourceKind) -> Self {
        match k {
            ResourceKind::Paper => Self::Paper,
            ResourceKind::Dataset => Self::Dataset,
            ResourceKind::Video => Self::Video,
            ResourceKind::Audio => Self::Audio,
            ResourceKind::Image => Self::Image,
            ResourceKind::Other => Self::Other,
        }
    }
}

impl From<RecordFile> for FileEntry {
    fn from(f: RecordFile) -> Self {
        Self {
            path: f.path,
            size: f.size,
        }
    }
}

impl From<FileEntry> for RecordFile {
    fn from(f: FileEntry) -> Self {
        Self {
            path: f.path,
            size: f.size,
        }
    }
}

impl From<FeedProfile> for Profile {
    fn from(p: FeedProfile) -> Self {
        Self {
            display_name: p.display_name,
            affiliation: p.affiliation,
            bio: p.bio,
            avatar: p.avatar,
        }
    }
}

impl From<Profile> for FeedProfile {
    fn from(p: Profile) -> Self {
        Self {
            display_name: p.display_name,
            affiliation: p.affiliation,
            bio: p.bio,
            avatar: p.avatar,
        }
    }
}

/// An entry whose signature and body were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub entry: Entry,
    pub signed: SignedEntry,
    pub hash: String,
}

/// The stored tip of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// How a verified entry relates to what is stored for its feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Append {
    /// The next entry: store it.
    Next,
    /// Already stored.
    Duplicate,
    /// Entries are missing between the stored head and this one: fetch them first.
    Gap { have: u64 },
}

/// Hash of a signed entry: blake3 over payload and signature, hex.
pub fn hash_of(signed: &SignedEntry) -> String {
    let mut h = blake3::Hasher::new();
    h.update(signed.payload.as_bytes());
    h.update(b"\n");
    h.update(signed.sig.as_bytes());
    h.finalize().to_hex().to_string()
}

/// Writes and signs the entry that follows `head` in `key`'s feed.
pub fn sign_next(
    key: &Keypair,
    head: Option<&Head>,
    ts_ms: u64,
    body: Body,
) -> Result<Verified, FeedError> {
    let entry = Entry {
        v: ENTRY_VERSION,
        author: key.public().to_peer_id().to_string(),
        seq: head.map_or(1, |h| h.seq + 1),
        prev: head.map(|h| h.hash.clone()),
        ts_ms,
        body,
    };
    validate_body(&entry.body)?;
    let payload = serde_json::to_string(&entry).map_err(|e| FeedError::Malformed(e.to_string()))?;
    let sig = key
        .sign(payload.as_bytes())
        .map_err(|e| FeedError::Malformed(e.to_string()))?;
    let signed = SignedEntry {
        payload,
        sig: base64::engine::general_purpose::STANDARD.encode(sig),
    };
    let size = encoded_len(&signed);
    if size > MAX_ENTRY_BYTES {
        return Err(FeedError::Oversize(size));
    }
    let hash = hash_of(&signed);
    Ok(Verified {
        entry,
        signed,
        hash,
    })
}

fn encoded_len(signed: &SignedEntry) -> usize {
    // Both fields are JSON strings; escaping can only grow the payload, so measure it.
    serde_json::to_vec(signed).map_or(usize::MAX, |v| v.len())
}

/// Decodes an entry from the wire and verifies it completely (size, shape, signature, body).
pub fn decode(bytes: &[u8]) -> Result<Verified, FeedError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(FeedError::Oversize(bytes.len()));
    }
    let signed: SignedEntry =
        serde_json::from_slice(bytes).map_err(|e| FeedError::Malformed(e.to_string()))?;
    verify(signed)
}

/// Verifies a signed entry (size, shape, signature, body).
pub fn verify(signed: SignedEntry) -> Result<Verified, FeedError> {
    let size = signed.payload.len() + signed.sig.len();
    if size > MAX_ENTRY_BYTES {
        return Err(FeedError::Oversize(size));
    }
    let entry: Entry =
        serde_json::from_str(&signed.payload).map_err(|e| FeedError::Malformed(e.to_string()))?;
    if entry.v != ENTRY_VERSION {
        return Err(FeedError::Malformed(format!(
            "unknown entry version {}",
            entry.v
        )));
    }
    if entry.seq == 0 || (entry.seq == 1) != entry.prev.is_none() {
        return Err(FeedError::Malformed(
            "sequence and previous hash disagree".into(),
        ));
    }
    if let Some(prev) = &entry.prev {
        if !is_hex(prev, 64) {
            return Err(FeedError::Malformed("previous hash is not a hash".into()));
        }
    }
    let author: PeerId = entry
        .author
        .parse()
        .map_err(|_| FeedError::Malformed("author is not a peer id".into()))?;
    let key = public_key_of(&author).ok_or(FeedError::BadSignature)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&signed.sig)
        .map_err(|_| FeedError::BadSignature)?;
    if !key.verify(signed.payload.as_bytes(), &sig) {
        return Err(FeedError::BadSignature);
    }
    validate_body(&entry.body)?;
    if entry.ts_ms > crate::infra::events::now_ms().saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(FeedError::InvalidBody("timestamp is in the future".into()));
    }
    let hash = hash_of(&signed);
    Ok(Verified {
        entry,
        signed,
        hash,
    })
}

/// The public key inside an ed25519 peer id (which embeds it; other key types hash it).
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let mh = multihash_of(peer);
    // 0x00 is the identity multihash: the digest is the protobuf-encoded public key.
    (mh.0 == 0)
        .then(|| PublicKey::try_decode_protobuf(&mh.1).ok())
        .flatten()
}

fn multihash_of(peer: &PeerId) -> (u64, Vec<u8>) {
    let mh = peer.as_ref();
    (mh.code(), mh.digest().to_vec())
}

/// Decides how `next` relates to the stored feed whose head is `head`.
/// `stored_hash_at` looks up the hash stored for an older seq.
pub fn check_append(
    head: Option<&Head>,
    next: &Verified,
    stored_hash_at: impl FnOnce(u64) -> Option<String>,
) -> Result<Append, FeedError> {
    let have = head.map_or(0, |h| h.seq);
    let seq = next.entry.seq;
    if seq <= have {
        return match stored_hash_at(seq) {
            Some(h) if h == next.hash => Ok(Append::Duplicate),
            Some(_) => Err(FeedError::Fork(seq)),
            // Not stored (should not happen below the head): treat as a duplicate to ignore.
            None => Ok(Append::Duplicate),
        };
    }
    if seq > have + 1 {
        return Ok(Append::Gap { have });
    }
    if next.entry.prev.as_deref() != head.map(|h| h.hash.as_str()) {
        return Err(FeedError::BrokenChain);
    }
    Ok(Append::Next)
}

/// Checks everything about a body that does not depend on other entries.
pub fn validate_body(body: &Body) -> Result<(), FeedError> {
    let bad = |m: String| Err(FeedError::InvalidBody(m));
    match body {
        Body::Publish { resource: r } => {
            if !is_hex(&r.content_id, 40) {
                return bad("content id is not a 40-digit lowercase hex info-hash".into());
            }
            if r.title.trim().is_empty() {
                return bad("title is empty".into());
            }
            text_ok("title", &r.title, MAX_TITLE, false)?;
            text_ok("description", &r.description, MAX_DESCRIPTION, true)?;
            if r.tags.len() > MAX_TAGS {
                return bad(format!("more than {MAX_TAGS} tags"));
            }
            for t in &r.tags {
                if t.trim().is_empty() {
                    return bad("empty tag".into());
                }
                text_ok("tag", t, MAX_TAG, false)?;
            }
            text_ok("MIME type", &r.mime, MAX_MIME, false)?;
            if r.magnet.len() > MAX_MAGNET
                || !r.magnet.starts_with("magnet:?")
                || !r.magnet.to_ascii_lowercase().contains(&r.content_id)
            {
                return bad("magnet URI does not name the content id".into());
            }
            if r.files.is_empty() || r.files.len() > MAX_RECORD_FILES {
                return bad(format!(
                    "file list must have 1 to {MAX_RECORD_FILES} entries"
                ));
            }
            let mut sum: u64 = 0;
            for f in &r.files {
                if f.path.is_empty() || f.path.len() > MAX_FILE_PATH {
                    return bad("file path is empty or too long".into());
                }
                text_ok("file path", &f.path, MAX_FILE_PATH, false)?;
                sum = sum.saturating_add(f.size);
            }
            if sum > r.size {
                return bad("files are larger than the resource".into());
            }
            if r.duration_ms.is_some_and(|d| d > MAX_DURATION_MS) {
                return bad("duration is longer than a week".into());
            }
            if let Some(t) = &r.thumbnail {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(t)
                    .map_err(|_| FeedError::InvalidBody("thumbnail is not base64".into()))?;
                if bytes.len() > MAX_THUMBNAIL {
                    return bad("thumbnail is too large".into());
                }
                crate::infra::thumbnail::validate(&bytes)
                    .map_err(|e| FeedError::InvalidBody(format!("thumbnail: {e}")))?;
            }
            Ok(())
        }
        Body::Unpublish { content_id } => {
            if is_hex(content_id, 40) {
                Ok(())
            } else {
                bad("content id is not a 40-digit lowercase hex info-hash".into())
            }
        }
        Body::Profile { profile } => {
            crate::net::presence::validate_profile(&Profile::from(profile.clone()))
                .map_err(FeedError::InvalidBody)
        }
    }
}

fn text_ok(field: &str, value: &str, max: usize, newlines: bool) -> Result<(), FeedError> {
    if value.chars().count() > max {
        return Err(FeedError::InvalidBody(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(newlines && (c == '\n' || c == '\t')))
    {
        return Err(FeedError::InvalidBody(format!(
            "{field} contains control characters"
        )));
    }
    Ok(())
}

pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn resource(n: u8) -> ResourceBody {
        let id = hex::encode([n; 20]);
        ResourceBody {
            magnet: format!("magnet:?xt=urn:btih:{id}&dn=file{n}"),
            content_id: id,
            title: format!("Notes on topic {n}"),
            description: "A description".into(),
            kind: Kind::Paper,
            tags: vec!["physics".into()],
            size: 100,
            mime: "application/pdf".into(),
            files: vec![RecordFile {
                path: format!("file{n}.pdf"),
                size: 100,
            }],
            created_ms: 1,
            thumbnail: None,
            duration_ms: None,
        }
    }

    fn publish(n: u8) -> Body {
        Body::Publish {
            resource: resource(n),
        }
    }

    fn wire(v: &Verified) -> Vec<u8> {
        serde_json::to_vec(&v.signed).unwrap()
    }

    #[test]
    fn signed_entries_verify_and_chain() {
        let key = Keypair::generate_ed25519();
        let first = sign_next(&key, None, 10, publish(1)).unwrap();
        assert_eq!(first.entry.seq, 1);
        let decoded = decode(&wire(&first)).unwrap();
        assert_eq!(decoded, first);
        let head = Head {
            seq: 1,
            hash: first.hash.clone(),
        };
        let second = sign_next(&key, Some(&head), 11, publish(2)).unwrap();
        assert_eq!(second.entry.prev.as_deref(), Some(first.hash.as_str()));
        assert_eq!(
            check_append(Some(&head), &second, |_| None),
            Ok(Append::Next)
        );
        assert_eq!(check_append(None, &first, |_| None), Ok(Append::Next));
        assert_eq!(
            check_append(None, &second, |_| None),
            Ok(Append::Gap { have: 0 })
        );
    }

    #[test]
    fn a_changed_payload_or_foreign_signature_is_refused() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let e = sign_next(&key, None, 10, publish(1)).unwrap();
        let mut forged = e.signed.clone();
        forged.payload = forged.payload.replace("Notes on", "Lies on");
        assert_eq!(verify(forged), Err(FeedError::BadSignature));

        // Signed by someone else but claiming `key`'s authorship.
        let mut theirs = e.signed.clone();
        let sig = other.sign(theirs.payload.as_bytes()).unwrap();
        theirs.sig = base64::engine::general_purpose::STANDARD.encode(sig);
        assert_eq!(verify(theirs), Err(FeedError::BadSignature));
    }

    #[test]
    fn forks_and_broken_chains_are_detected() {
        let key = Keypair::generate_ed25519();
        let first = sign_next(&key, None, 10, publish(1)).unwrap();
        let head = Head {
            seq: 1,
            hash: first.hash.clone(),
        };
        let other_first = sign_next(&key, None, 12, publish(9)).unwrap();
        assert_eq!(
            check_append(Some(&head), &other_first, |_| Some(first.hash.clone())),
            Err(FeedError::Fork(1))
        );
        assert_eq!(
            check_append(Some(&head), &first, |_| Some(first.hash.clone())),
            Ok(Append::Duplicate)
        );
        let wrong_prev = Head {
            seq: 1,
            hash: "0".repeat(64),
        };
        let second = sign_next(&key, Some(&wrong_prev), 11, publish(2)).unwrap();
        assert_eq!(
            check_append(Some(&head), &second, |_| None),
            Err(FeedError::BrokenChain)
        );
    }

    #[test]
    fn bad_bodies_and_oversize_entries_are_refused() {
        let key = Keypair::generate_ed25519();
        let mut r = resource(1);
        r.title = "x".repeat(MAX_TITLE + 1);
        assert!(matches!(
            sign_next(&key, None, 1, Body::Publish { resource: r }),
            Err(FeedError::InvalidBody(_))
        ));
        let mut r = resource(1);
        r.content_id = "../../etc".into();
        assert!(matches!(
            sign_next(&key, None, 1, Body::Publish { resource: r }),
            Err(FeedError::InvalidBody(_))
        ));
        assert!(matches!(
            decode(&vec![b' '; MAX_ENTRY_BYTES + 1]),
            Err(FeedError::Oversize(_))
        ));
        assert!(matches!(
            decode(b"{\"payload\":1}"),
            Err(FeedError::Malformed(_))
        ));
        assert!(matches!(decode(b"\xff\xfe"), Err(FeedError::Malformed(_))));
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let key = Keypair::generate_ed25519();
        let good = wire(&sign_next(&key, None, 1, publish(3)).unwrap());
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..rng.gen_range(1..8) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            let _ = decode(&b);
        }
    }
}
