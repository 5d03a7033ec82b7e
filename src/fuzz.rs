//! Fuzz targets: every decoder of bytes that come from peers or from pasted text, each as
//! `fn(&[u8])` that decodes, and on success checks that the result holds up (re-encodes,
//! decodes again, or drives the state machine that would receive it). A decoder may refuse
//! anything; it may never panic, hang or allocate without bound. A target panics only
//! when one of these checks fails, so a panic is always a bug.
//!
//! Two drivers run them (see ARCHITECTURE.md, "Tests"): the unit tests below (a seeded
//! pass in `cargo test`, random bytes and structure-aware mutations of valid encodings and
//! of the corpus in `tests/fuzz-corpus/<target>/`, which every pass replays first) and
//! `make fuzz` (the same for a time budget per target, with fresh seeds; or coverage-guided
//! with AFL++ through `fuzz/afl.rs` when cargo-afl is installed).
//!
//! **Uses:** the decoders of `net`, `catalog`, `chat`, `transfer` and `infra`; nothing uses
//! it but its drivers.

use std::sync::Arc;

use libp2p::identity::Keypair;
use libp2p::PeerId;

use crate::catalog::feed;
use crate::chat::dm::{DirectMessages, DmEvent};
use crate::chat::room::{self, Room};
use crate::chat::ChatWire;
use crate::infra::thumbnail;
use crate::net::invite::Invite;
use crate::net::presence::Announce;
use crate::net::protocol::{
    CatalogRequest, CatalogResponse, HaveMessage, ProfileRequest, VoteRequest, VoteResponse,
    WireProfile, MAX_CATALOG_REQUEST, MAX_CATALOG_RESPONSE, MAX_CHAT_REQUEST, MAX_PROFILE_REQUEST,
    MAX_PROFILE_RESPONSE, MAX_VOTE_REQUEST, MAX_VOTE_RESPONSE,
};
use crate::transfer::decoders::{self, Bencode};

/// One decoder under fuzz.
pub struct Target {
    /// Also the corpus folder's name.
    pub name: &'static str,
    pub run: fn(&[u8]),
    /// Valid encodings to mutate (besides the corpus).
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "profile",
        run: profile,
        seeds: profile_seeds,
    },
    Target {
        name: "vote",
        run: vote,
        seeds: vote_seeds,
    },
    Target {
        name: "catalog_request",
        run: catalog_request,
        seeds: catalog_request_seeds,
    },
    Target {
        name: "catalog_response",
        run: catalog_response,
        seeds: catalog_response_seeds,
    },
    Target {
        name: "have",
        run: have,
        seeds: have_seeds,
    },
    Target {
        name: "presence",
        run: presence,
        seeds: presence_seeds,
    },
    Target {
        name: "feed_entry",
        run: feed_entry,
        seeds: feed_entry_seeds,
    },
    Target {
        name: "chat_wire",
        run: chat_wire,
        seeds: chat_wire_seeds,
    },
    Target {
        name: "room_invitation",
        run: room_invitation,
        seeds: room_invitation_seeds,
    },
    Target {
        name: "bencode",
        run: bencode,
        seeds: bencode_seeds,
    },
    Target {
        name: "metainfo",
        run: metainfo,
        seeds: metainfo_seeds,
    },
    Target {
        name: "magnet",
        run: magnet,
        seeds: magnet_seeds,
    },
    Target {
        name: "invite",
        run: invite,
        seeds: invite_seeds,
    },
    Target {
        name: "thumbnail",
        run: thumbnail_target,
        seeds: thumbnail_seeds,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// A fixed identity for the chat and feed targets (seeds must not change between runs).
fn key(n: u8) -> Keypair {
    Keypair::ed25519_from_bytes([n; 32]).expect("32 bytes make an ed25519 key")
}

/// JSON of a request-response protocol, as `JsonCodec` reads it: at most `max` bytes,
/// then one value; what decodes must encode and decode again to the same value.
fn json_round_trip<T>(bytes: &[u8], max: usize)
where
    T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if bytes.len() > max {
        return; // the codec stops reading at `max`
    }
    let Ok(value) = serde_json::from_slice::<T>(bytes) else {
        return;
    };
    let again = serde_json::to_vec(&value).expect("a decoded message encodes");
    let back: T = serde_json::from_slice(&again).expect("a re-encoded message decodes");
    assert_eq!(
        format!("{value:?}"),
        format!("{back:?}"),
        "the round trip changed the message"
    );
}

fn json_seeds<T: serde::Serialize>(values: &[T]) -> Vec<Vec<u8>> {
    values
        .iter()
        .map(|v| serde_json::to_vec(v).expect("seed encodes"))
        .collect()
}

// ----- request-response protocols -----

fn profile(bytes: &[u8]) {
    json_round_trip::<ProfileRequest>(bytes, MAX_PROFILE_REQUEST);
    json_round_trip::<WireProfile>(bytes, MAX_PROFILE_RESPONSE);
}

fn profile_seeds() -> Vec<Vec<u8>> {
    let mut v = json_seeds(&[WireProfile {
        display_name: "Ada".into(),
        affiliation: "Lab".into(),
        bio: "Reads papers".into(),
        avatar: Some("ab".repeat(32)),
    }]);
    v.push(b"{}".to_vec());
    v
}

fn vote(bytes: &[u8]) {
    json_round_trip::<VoteRequest>(bytes, MAX_VOTE_REQUEST);
    json_round_trip::<VoteResponse>(bytes, MAX_VOTE_RESPONSE);
}

fn vote_seeds() -> Vec<Vec<u8>> {
    let about = PeerId::from(key(1).public()).to_string();
    let mut v = json_seeds(&[VoteRequest { about }]);
    v.extend(json_seeds(&[VoteResponse { reachable: true }]));
    v
}

fn catalog_request(bytes: &[u8]) {
    json_round_trip::<CatalogRequest>(bytes, MAX_CATALOG_REQUEST);
}

fn catalog_request_seeds() -> Vec<Vec<u8>> {
    json_seeds(&[
        CatalogRequest::Heads,
        CatalogRequest::Entries {
            author: PeerId::from(key(1).public()).to_string(),
            after: 3,
            limit: 64,
        },
        CatalogRequest::Holdings,
        CatalogRequest::Torrent {
            content_id: "ab".repeat(20),
        },
    ])
}

fn catalog_response(bytes: &[u8]) {
    json_round_trip::<CatalogResponse>(bytes, MAX_CATALOG_RESPONSE);
    // Entries in a response are checked one by one, like gossip.
    if let Ok(CatalogResponse::Entries { entries }) = serde_json::from_slice(bytes) {
        for e in entries {
            let _ = feed::verify(e);
        }
    }
}

fn catalog_response_seeds() -> Vec<Vec<u8>> {
    let entries = feed_entries().into_iter().map(|v| v.signed).collect();
    json_seeds(&[
        CatalogResponse::Heads {
            heads: vec![crate::net::protocol::FeedHead {
                author: PeerId::from(key(1).public()).to_string(),
                seq: 2,
            }],
        },
        CatalogResponse::Entries { entries },
        CatalogResponse::Holdings(Default::default()),
        CatalogResponse::Torrent {
            torrent: "ZDQ6aW5mb2Rl".into(),
        },
        CatalogResponse::NotFound,
        CatalogResponse::Busy,
    ])
}

// ----- gossip -----

fn have(bytes: &[u8]) {
    if let Ok(m) = HaveMessage::decode(bytes) {
        let again = serde_json::to_vec(&m).expect("encodes");
        assert_eq!(HaveMessage::decode(&again).as_ref(), Ok(&m));
    }
}

fn have_seeds() -> Vec<Vec<u8>> {
    json_seeds(&[HaveMessage {
        bt_port: 6881,
        complete: vec!["ab".repeat(20)],
        partial: vec!["cd".repeat(20)],
        dropped: vec![],
        mirrored: vec![],
    }])
}

fn presence(bytes: &[u8]) {
    if let Ok(a) = Announce::decode(bytes) {
        let again = serde_json::to_vec(&a).expect("encodes");
        assert_eq!(Announce::decode(&again).as_ref(), Ok(&a));
    }
}

fn presence_seeds() -> Vec<Vec<u8>> {
    json_seeds(&[Announce {
        seq: 7,
        profile: WireProfile {
            display_name: "Bea".into(),
            affiliation: String::new(),
            bio: String::new(),
            avatar: None,
        },
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4001".into(),
            "/ip6/::1/udp/4001/quic-v1".into(),
        ],
    }])
}

fn feed_entry(bytes: &[u8]) {
    if let Ok(v) = feed::decode(bytes) {
        // What verifies once verifies again, with the same hash.
        let again = serde_json::to_vec(&v.signed).expect("encodes");
        let back = feed::decode(&again).expect("a verified entry verifies again");
        assert_eq!(back.hash, v.hash);
    }
}

fn feed_entries() -> Vec<feed::Verified> {
    let k = key(3);
    let profile = feed::sign_next(
        &k,
        None,
        1_700_000_000_000,
        feed::Body::Profile {
            profile: feed::FeedProfile {
                display_name: "Cy".into(),
                affiliation: "Library".into(),
                bio: String::new(),
                avatar: Some("cd".repeat(32)),
            },
        },
    )
    .expect("a profile entry signs");
    let head = feed::Head {
        seq: profile.entry.seq,
        hash: profile.hash.clone(),
    };
    let unpublish = feed::sign_next(
        &k,
        Some(&head),
        1_700_000_000_001,
        feed::Body::Unpublish {
            content_id: "ab".repeat(20),
        },
    )
    .expect("an unpublish entry signs");
    vec![profile, unpublish]
}

fn feed_entry_seeds() -> Vec<Vec<u8>> {
    feed_entries()
        .iter()
        .map(|v| serde_json::to_vec(&v.signed).expect("encodes"))
        .collect()
}

// ----- chat -----

/// A chat message as the network hands it on: checked, decoded, then fed to a direct
/// message state machine or to a room with the message's id (so it is not ignored).
fn chat_wire(bytes: &[u8]) {
    if bytes.len() > MAX_CHAT_REQUEST {
        return;
    }
    let well_formed = ChatWire::is_well_formed(bytes);
    let Ok(msg) = serde_json::from_slice::<ChatWire>(bytes) else {
        assert!(!well_formed);
        return;
    };
    assert!(well_formed);
    let again = serde_json::to_vec(&msg).expect("encodes");
    assert!(ChatWire::is_well_formed(&again));
    let me = PeerId::from(key(1).public());
    let from = PeerId::from(key(2).public());
    match msg {
        ChatWire::Dm(msg) => {
            let mut dm = DirectMessages::<PeerId>::new();
            dm.handle(DmEvent::Online(from), 1_000);
            dm.handle(DmEvent::Wire { from, msg }, 1_001);
            dm.handle(DmEvent::Tick, 2_000);
        }
        ChatWire::Room(msg) => {
            let signer: Arc<dyn room::Signer> = Arc::new(key(1));
            let Ok((mut r, _)) = Room::create(*msg.room(), me, "fuzz".into(), 1_000, signer) else {
                return;
            };
            r.handle(room::Event::Connected(from), 1_001);
            r.handle(room::Event::Wire { from, msg }, 1_002);
            r.handle(room::Event::Tick, 5_000);
        }
    }
}

fn chat_wire_seeds() -> Vec<Vec<u8>> {
    let me = PeerId::from(key(1).public());
    let from = PeerId::from(key(2).public());
    let dm = DmEventSeeds::messages();
    let mut seeds: Vec<Vec<u8>> = dm
        .into_iter()
        .map(|m| serde_json::to_vec(&ChatWire::Dm(m)).expect("encodes"))
        .collect();
    // A room's first messages, as its host sends them to an invited member.
    let signer: Arc<dyn room::Signer> = Arc::new(key(2));
    if let Ok((mut r, _)) = Room::create([9; 32], from, "Seeds".into(), 1_000, signer) {
        let mut actions = r.handle(
            room::Event::Invite {
                id: [1; 16],
                peer: me,
            },
            1_001,
        );
        actions.extend(r.handle(room::Event::Connected(me), 1_002));
        actions.extend(r.handle(
            room::Event::Send {
                id: [2; 16],
                body: "hello room".into(),
            },
            1_003,
        ));
        actions.extend(r.handle(room::Event::Tick, 2_000));
        for a in actions {
            if let room::Action::Send { msg, .. } = a {
                seeds.push(serde_json::to_vec(&ChatWire::Room(msg)).expect("encodes"));
            }
        }
    }
    seeds
}

struct DmEventSeeds;

impl DmEventSeeds {
    fn messages() -> Vec<crate::chat::dm::DmWire> {
        use crate::chat::dm::DmWire;
        vec![
            DmWire::Message {
                id: [1; 16],
                seq: 1,
                low: 1,
                body: r#"{"text":"hello"}"#.into(),
                sent_ms: 1_700_000_000_000,
            },
            DmWire::Ack {
                seqs: vec![1, 2, 3],
            },
        ]
    }
}

/// The body of a direct message that carries a room invitation: decoded, then joined.
fn room_invitation(bytes: &[u8]) {
    let Ok(inv) = serde_json::from_slice::<room::Invitation<PeerId>>(bytes) else {
        return;
    };
    let me = PeerId::from(key(1).public());
    let signer: Arc<dyn room::Signer> = Arc::new(key(1));
    let (mut r, _) = Room::from_invitation(me, inv, 1_000, signer);
    r.handle(room::Event::Tick, 5_000);
}

fn room_invitation_seeds() -> Vec<Vec<u8>> {
    let me = PeerId::from(key(1).public());
    let host = PeerId::from(key(2).public());
    let signer: Arc<dyn room::Signer> = Arc::new(key(2));
    let Ok((mut r, _)) = Room::create([7; 32], host, "Invited".into(), 1_000, signer) else {
        return Vec::new();
    };
    let actions = r.handle(
        room::Event::Invite {
            id: [3; 16],
            peer: me,
        },
        1_001,
    );
    actions
        .into_iter()
        .filter_map(|a| match a {
            room::Action::Invitation { invitation, .. } => {
                Some(serde_json::to_vec(&invitation).expect("encodes"))
            }
            _ => None,
        })
        .collect()
}

// ----- BitTorrent -----

/// Writes a bencode value back (dictionary keys in their order).
fn bencode_write(v: &Bencode<'_>, out: &mut Vec<u8>) {
    match v {
        Bencode::Int(n) => out.extend_from_slice(format!("i{n}e").as_bytes()),
        Bencode::Bytes(b) => {
            out.extend_from_slice(format!("{}:", b.len()).as_bytes());
            out.extend_from_slice(b);
        }
        Bencode::List(items) => {
            out.push(b'l');
            for i in items {
                bencode_write(i, out);
            }
            out.push(b'e');
        }
        Bencode::Dict(entries) => {
            out.push(b'd');
            for (k, v, _) in entries {
                out.extend_from_slice(format!("{}:", k.len()).as_bytes());
                out.extend_from_slice(k);
                bencode_write(v, out);
            }
            out.push(b'e');
        }
    }
}

fn bencode(bytes: &[u8]) {
    let Ok(v) = decoders::bencode(bytes) else {
        return;
    };
    let mut again = Vec::new();
    bencode_write(&v, &mut again);
    let back = decoders::bencode(&again).expect("a written value parses");
    let mut twice = Vec::new();
    bencode_write(&back, &mut twice);
    assert_eq!(again, twice, "writing a parsed value is stable");
}

fn torrent_seed() -> Vec<u8> {
    let mut t =
        b"d8:announce0:4:infod6:lengthi20000e4:name5:a.txt12:piece lengthi16384e6:pieces40:"
            .to_vec();
    t.extend_from_slice(&[0x5a; 40]);
    t.extend_from_slice(b"ee");
    t
}

fn multi_file_seed() -> Vec<u8> {
    let mut t = b"d4:infod5:filesld6:lengthi3e4:pathl3:dir5:a.txteed6:lengthi4e4:pathl5:b.txteee4:name4:pack12:piece lengthi16384e6:pieces20:".to_vec();
    t.extend_from_slice(&[0x11; 20]);
    t.extend_from_slice(b"ee");
    t
}

fn bencode_seeds() -> Vec<Vec<u8>> {
    vec![
        torrent_seed(),
        multi_file_seed(),
        b"li-42e0:le4:spamd1:ai1eee".to_vec(),
    ]
}

fn metainfo(bytes: &[u8]) {
    let _ = decoders::validate_metainfo(bytes);
}

fn metainfo_seeds() -> Vec<Vec<u8>> {
    vec![torrent_seed(), multi_file_seed()]
}

fn magnet(bytes: &[u8]) {
    let _ = decoders::parse_magnet(&String::from_utf8_lossy(bytes));
}

fn magnet_seeds() -> Vec<Vec<u8>> {
    vec![format!(
        "magnet:?xt=urn:btih:{}&dn=A%20file&x.pe=127.0.0.1:6881",
        "ab".repeat(20)
    )
    .into_bytes()]
}

// ----- pasted text, images -----

fn invite(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(i) = Invite::decode(text) {
        let back = Invite::decode(&i.encode()).expect("an encoded invite decodes");
        assert_eq!(back.peer, i.peer);
    }
}

fn invite_seeds() -> Vec<Vec<u8>> {
    let peer = PeerId::from(key(4).public());
    let addrs: Vec<libp2p::Multiaddr> = vec![
        "/ip4/127.0.0.1/tcp/4001".parse().expect("address"),
        "/ip4/192.168.1.20/udp/4001/quic-v1"
            .parse()
            .expect("address"),
    ];
    vec![Invite::new(peer, "Dee", &[], &addrs).encode().into_bytes()]
}

fn thumbnail_target(bytes: &[u8]) {
    let _ = thumbnail::validate(bytes);
}

fn thumbnail_seeds() -> Vec<Vec<u8>> {
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(16, 12, |x, y| {
        image::Rgb([(x * 16) as u8, (y * 20) as u8, 128])
    }));
    let mut seeds = Vec::new();
    for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
        let mut out = std::io::Cursor::new(Vec::new());
        if image.write_to(&mut out, format).is_ok() {
            seeds.push(out.into_inner());
        }
    }
    seeds
}

#[cfg(test)]
mod tests;
