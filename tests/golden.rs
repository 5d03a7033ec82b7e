//! Golden bytes: the signed feed, the peer protocol and stored records, pinned byte for byte.
//!
//! These formats are signed, sent between versions of Hearth, or kept on disk, so a change
//! to them must be deliberate (a new protocol major, a migration) and never the side effect
//! of reshaping a type the UI sees. If one of these fails, something changed what goes on
//! the wire or the disk.

use hearth::catalog::feed::{self, Body, ResourceBody};
use hearth::chat::dm::DmWire;
use hearth::chat::room::{
    item_bytes, vote_bytes, Cert, Content, Epoch, Item, LogPos, PeerKey, Sig, Signer, Wire,
};
use hearth::chat::ChatWire;
use hearth::net::protocol::{
    CatalogRequest, CatalogResponse, ChatAck, FeedHead, HaveMessage, Holdings, ProfileRequest,
    VoteRequest, VoteResponse,
};
use libp2p::identity::Keypair;
use libp2p::PeerId;

/// The author every golden entry is signed by (a fixed ed25519 secret).
fn author() -> Keypair {
    Keypair::ed25519_from_bytes([7u8; 32]).unwrap()
}

fn peer(n: u8) -> PeerId {
    Keypair::ed25519_from_bytes([n; 32])
        .unwrap()
        .public()
        .to_peer_id()
}

fn key(n: u8) -> Keypair {
    Keypair::ed25519_from_bytes([n; 32]).unwrap()
}

/// An item signed by its sender's key (ed25519 signatures are deterministic).
fn signed_item(room: &[u8; 32], mut item: Item<PeerId>, by: u8) -> Item<PeerId> {
    item.sig = Signer::sign(&key(by), &item_bytes(room, &item));
    assert!(item.sender.verify(&item_bytes(room, &item), &item.sig));
    item
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

/// Asserts `actual` is `expected`, printing the actual bytes to paste on a deliberate change.
fn pinned(what: &str, actual: String, expected: &str) {
    if std::env::var_os("HEARTH_PRINT_GOLDEN").is_some() {
        println!("GOLDEN {what}\n{actual}\n");
        return;
    }
    assert!(
        actual == expected,
        "the {what} format changed:\n  now:  {actual}\n  was:  {expected}"
    );
}

fn resource_body() -> ResourceBody {
    serde_json::from_value(serde_json::json!({
        "content_id": "0123456789abcdef0123456789abcdef01234567",
        "magnet": "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=notes.pdf",
        "title": "Field notes",
        "description": "Observations, 2026",
        "kind": "paper",
        "tags": ["ecology", "field"],
        "size": 123456,
        "mime": "application/pdf",
        "files": [{"path": "notes.pdf", "size": 123456}],
        "created_ms": 1_700_000_000_000u64,
        "thumbnail": null,
        "duration_ms": 42000
    }))
    .unwrap()
}

#[test]
fn a_signed_feed_entry_is_pinned() {
    let key = author();
    let first = feed::sign_next(
        &key,
        None,
        1_700_000_000_123,
        Body::Publish {
            resource: resource_body(),
        },
    )
    .unwrap();
    pinned(
        "signed publish entry",
        json(&first.signed),
        r#"{"payload":"{\"v\":1,\"author\":\"12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7\",\"seq\":1,\"prev\":null,\"ts_ms\":1700000000123,\"body\":{\"type\":\"publish\",\"resource\":{\"content_id\":\"0123456789abcdef0123456789abcdef01234567\",\"magnet\":\"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=notes.pdf\",\"title\":\"Field notes\",\"description\":\"Observations, 2026\",\"kind\":\"paper\",\"tags\":[\"ecology\",\"field\"],\"size\":123456,\"mime\":\"application/pdf\",\"files\":[{\"path\":\"notes.pdf\",\"size\":123456}],\"created_ms\":1700000000000,\"thumbnail\":null,\"duration_ms\":42000}}}","sig":"kPe0VUXxwql5lt9XtO84XLq9pv2sxMY1p5eYSuPOXoQI9nXEN3hrWRnzDYziGvTK6lmcdYUp7pidP/yUb5ZZBg=="}"#,
    );
    pinned(
        "entry hash",
        first.hash.clone(),
        "57dfa7dfa07ee55ce52b941af0c33860d336345377797b1f1f029196ef313801",
    );
    let profile: Body = serde_json::from_value(serde_json::json!({
        "type": "profile",
        "profile": {"display_name": "Ada", "affiliation": "Analytical Society", "bio": "Notes"}
    }))
    .unwrap();
    let head = feed::Head {
        seq: 1,
        hash: first.hash,
    };
    let second = feed::sign_next(&key, Some(&head), 1_700_000_000_456, profile).unwrap();
    pinned(
        "signed profile entry",
        json(&second.signed),
        r#"{"payload":"{\"v\":1,\"author\":\"12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7\",\"seq\":2,\"prev\":\"57dfa7dfa07ee55ce52b941af0c33860d336345377797b1f1f029196ef313801\",\"ts_ms\":1700000000456,\"body\":{\"type\":\"profile\",\"profile\":{\"display_name\":\"Ada\",\"affiliation\":\"Analytical Society\",\"bio\":\"Notes\"}}}","sig":"TfopixzJnbZsY1yorRcGopXt0l2+In1JjO3b8mfKcPoHJJkgGteDuyDzcjCYeME/QRF9f6HvrlybKmxU3v8aCg=="}"#,
    );
    let third = feed::sign_next(
        &key,
        Some(&feed::Head {
            seq: 2,
            hash: second.hash,
        }),
        1_700_000_000_789,
        Body::Unpublish {
            content_id: "0123456789abcdef0123456789abcdef01234567".into(),
        },
    )
    .unwrap();
    pinned(
        "signed unpublish entry",
        json(&third.signed),
        r#"{"payload":"{\"v\":1,\"author\":\"12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7\",\"seq\":3,\"prev\":\"6a42a696b543cbbdc4c034cb2f16a163b373bc14a29cf6ee8e653c94cc7b8169\",\"ts_ms\":1700000000789,\"body\":{\"type\":\"unpublish\",\"content_id\":\"0123456789abcdef0123456789abcdef01234567\"}}","sig":"fWTf2WIAbNGa1OFI3OkMz6F+r09sBR/tkAnSi17wAVWueflrTJbkQMtyukiie55AzuUdS881pGIQELBFQtg8AQ=="}"#,
    );
    // And what was pinned still verifies.
    feed::verify(third.signed).unwrap();
}

#[test]
fn catalog_protocol_messages_are_pinned() {
    let requests = [
        CatalogRequest::Heads,
        CatalogRequest::Entries {
            author: peer(1).to_string(),
            after: 5,
            limit: 64,
        },
        CatalogRequest::Holdings,
        CatalogRequest::Torrent {
            content_id: "0123456789abcdef0123456789abcdef01234567".into(),
        },
    ];
    pinned(
        "catalog requests",
        json(&requests),
        r#"[{"type":"heads"},{"type":"entries","author":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5","after":5,"limit":64},{"type":"holdings"},{"type":"torrent","content_id":"0123456789abcdef0123456789abcdef01234567"}]"#,
    );
    let holdings = Holdings {
        bt_port: 4712,
        complete: vec!["0123456789abcdef0123456789abcdef01234567".into()],
        partial: vec!["89abcdef0123456789abcdef0123456789abcdef".into()],
        mirrored: vec!["0123456789abcdef0123456789abcdef01234567".into()],
    };
    let entry = feed::sign_next(
        &author(),
        None,
        1_700_000_000_123,
        Body::Unpublish {
            content_id: "0123456789abcdef0123456789abcdef01234567".into(),
        },
    )
    .unwrap();
    let responses = [
        CatalogResponse::Heads {
            heads: vec![FeedHead {
                author: peer(1).to_string(),
                seq: 9,
            }],
        },
        CatalogResponse::Entries {
            entries: vec![entry.signed],
        },
        CatalogResponse::Holdings(holdings),
        CatalogResponse::Torrent {
            torrent: "ZDQ6aW5mb2Vl".into(),
        },
        CatalogResponse::NotFound,
        CatalogResponse::Busy,
    ];
    pinned(
        "catalog responses",
        json(&responses),
        r#"[{"type":"heads","heads":[{"author":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5","seq":9}]},{"type":"entries","entries":[{"payload":"{\"v\":1,\"author\":\"12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7\",\"seq\":1,\"prev\":null,\"ts_ms\":1700000000123,\"body\":{\"type\":\"unpublish\",\"content_id\":\"0123456789abcdef0123456789abcdef01234567\"}}","sig":"Ss9Pij2gVHTqImxbJsr/wyvXtGEetBtJxsSmEyDF90M9NbshesKyTdsf/D/LmBTlWCMX/M0vFb8KFFFxfDGLCA=="}]},{"type":"holdings","bt_port":4712,"complete":["0123456789abcdef0123456789abcdef01234567"],"partial":["89abcdef0123456789abcdef0123456789abcdef"],"mirrored":["0123456789abcdef0123456789abcdef01234567"]},{"type":"torrent","torrent":"ZDQ6aW5mb2Vl"},{"type":"not_found"},{"type":"busy"}]"#,
    );
    let have = HaveMessage {
        bt_port: 4712,
        complete: vec!["0123456789abcdef0123456789abcdef01234567".into()],
        partial: vec![],
        dropped: vec!["89abcdef0123456789abcdef0123456789abcdef".into()],
        mirrored: vec![],
    };
    pinned(
        "have gossip",
        json(&have),
        r#"{"bt_port":4712,"complete":["0123456789abcdef0123456789abcdef01234567"],"partial":[],"dropped":["89abcdef0123456789abcdef0123456789abcdef"],"mirrored":[]}"#,
    );
}

#[test]
fn presence_and_profile_messages_are_pinned() {
    pinned("profile request", json(&ProfileRequest {}), "{}");
    let profile: serde_json::Value = serde_json::json!({
        "display_name": "Ada", "affiliation": "Analytical Society", "bio": "Notes"
    });
    let announce: hearth::net::presence::Announce = serde_json::from_value(serde_json::json!({
        "seq": 3,
        "profile": profile,
        "addrs": ["/ip4/203.0.113.7/tcp/4710"]
    }))
    .unwrap();
    pinned(
        "presence announcement",
        json(&announce),
        r#"{"seq":3,"profile":{"display_name":"Ada","affiliation":"Analytical Society","bio":"Notes"},"addrs":["/ip4/203.0.113.7/tcp/4710"]}"#,
    );
    pinned(
        "vote request",
        json(&VoteRequest {
            about: peer(2).to_string(),
        }),
        r#"{"about":"12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"}"#,
    );
    pinned(
        "vote response",
        json(&VoteResponse { reachable: true }),
        r#"{"reachable":true}"#,
    );
}

#[test]
fn chat_protocol_messages_are_pinned() {
    let room = [9u8; 32];
    let epoch = Epoch {
        term: 2,
        host: peer(1),
    };
    let item = signed_item(
        &room,
        Item {
            id: [5u8; 16],
            sender: peer(2),
            sent_ms: 1_700_000_000_000,
            content: Content::Text("hello".into()),
            sig: Sig::NONE,
        },
        2,
    );
    let last = LogPos {
        epoch: Some(Epoch {
            term: 1,
            host: peer(1),
        }),
        seq: 6,
    };
    let vote = |by: u8| {
        let sig = Signer::sign(&key(by), &vote_bytes(&room, 2, &peer(1), &last));
        (peer(by), sig)
    };
    let cert = Cert {
        term: 2,
        host: peer(1),
        last: last.clone(),
        votes: vec![vote(1), vote(2)],
    };
    let messages = [
        ChatWire::Room(Wire::Hello {
            room,
            term: 2,
            host: Some(peer(1)),
            last: LogPos {
                epoch: Some(epoch.clone()),
                seq: 7,
            },
            cert: Some(cert),
        }),
        ChatWire::Room(Wire::VoteReply {
            room,
            term: 2,
            granted: true,
            last: last.clone(),
            pre: false,
            sig: Some(vote(2).1),
        }),
        ChatWire::Room(Wire::Submit {
            room,
            term: 2,
            items: vec![item],
        }),
        ChatWire::Room(Wire::Accepted {
            room,
            epoch,
            ids: vec![[5u8; 16]],
        }),
        ChatWire::Dm(DmWire::Message {
            id: [6u8; 16],
            seq: 1,
            low: 0,
            body: "hi".into(),
            sent_ms: 1_700_000_000_000,
        }),
        ChatWire::Dm(DmWire::Ack { seqs: vec![1, 2] }),
    ];
    pinned(
        "chat messages",
        json(&messages),
        r#"[{"room":{"Hello":{"room":[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9],"term":2,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5","last":{"epoch":{"term":2,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"},"seq":7},"cert":{"term":2,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5","last":{"epoch":{"term":1,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"},"seq":6},"votes":[["12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5","2fa1a676459964a80601875d68637fc970a2ccf591b67239e68d2e6c8420057240a711a678c82e4cec6c97c5c1420dfe330c081334ae04f32f726fcba5f0fd0c"],["12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq","a0cc1e424c07472d9f90c55e4a4db9c1bb71cd265f75fed8615996612bbff33c209aecde2bdc12145c4f72a60f3b607737e4d6bb290db32b18ea92b013e23b05"]]}}}},{"room":{"VoteReply":{"room":[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9],"term":2,"granted":true,"last":{"epoch":{"term":1,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"},"seq":6},"pre":false,"sig":"a0cc1e424c07472d9f90c55e4a4db9c1bb71cd265f75fed8615996612bbff33c209aecde2bdc12145c4f72a60f3b607737e4d6bb290db32b18ea92b013e23b05"}}},{"room":{"Submit":{"room":[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9],"term":2,"items":[{"id":[5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5],"sender":"12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq","sent_ms":1700000000000,"content":{"Text":"hello"},"sig":"d0331eb216ffd5fc94dc6f6766343d9223d32a5aeb22de5e43799bb220151195331c2eaf4349dafc24afd3086b6371c0b207c7dd2d10013fdcb37baad6104d0f"}]}}},{"room":{"Accepted":{"room":[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9],"epoch":{"term":2,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"},"ids":[[5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5]]}}},{"dm":{"Message":{"id":[6,6,6,6,6,6,6,6,6,6,6,6,6,6,6,6],"seq":1,"low":0,"body":"hi","sent_ms":1700000000000}}},{"dm":{"Ack":{"seqs":[1,2]}}}]"#,
    );
    pinned("chat ack", json(&ChatAck {}), "{}");
}

#[test]
fn a_stored_room_log_entry_is_pinned() {
    // What the chat actor seals into its `log` table (the plaintext under the encryption).
    let entry = hearth::chat::room::Entry {
        epoch: Epoch {
            term: 1,
            host: peer(1),
        },
        seq: 4,
        item: signed_item(
            &[9u8; 32],
            Item {
                id: [3u8; 16],
                sender: peer(2),
                sent_ms: 1_700_000_000_000,
                content: Content::Invite(peer(3)),
                sig: Sig::NONE,
            },
            2,
        ),
    };
    pinned(
        "stored room log entry",
        json(&entry),
        r#"{"epoch":{"term":1,"host":"12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"},"seq":4,"item":{"id":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"sender":"12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq","sent_ms":1700000000000,"content":{"Invite":"12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba"},"sig":"268ec5474a8ca803fb0bd199143e7ee7e54a384b5022e45095d2d636f0f1c8f5366e94d2368f3a79268a9be8a0e2925e7adf5255e4a4dedd11e44902d53e730a"}}"#,
    );
}
