//! The HTTP API's door: token, Host and Origin checks, clear errors, resumable events.

mod kit;

use std::time::Duration;

use futures::StreamExt;
use hearth::api::dto::{
    AddrRequest, ApiErrorBody, ErrorCode, Event, EventKind, PeerIdRequest, Profile, SinceRequest,
};
use kit::{TestNode, FAST_PRESENCE};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_need_the_token_and_our_own_host_and_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("door", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let url = format!("{}/api/status", node.api.url);
    let token = format!("Bearer {}", node.api.token);
    let status_req = || http().post(&url);

    let r = status_req().send().await.unwrap();
    assert_eq!(r.status(), 401, "no token");
    let body: ApiErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::Unauthorized);

    let r = status_req()
        .header("Authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "wrong token");

    let r = status_req()
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "right token");

    let r = status_req()
        .header("Authorization", &token)
        .header("Host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "foreign Host (DNS rebinding)");
    let body: ApiErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::Forbidden);

    let r = status_req()
        .header("Authorization", &token)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "foreign Origin (CSRF)");

    let port = node.api.url.rsplit(':').next().unwrap();
    let r = status_req()
        .header("Authorization", &token)
        .header("Origin", format!("http://localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "our own origin is fine");

    // The UI itself needs no token but still checks the Host; the token is never in it.
    let r = http()
        .get(format!("{}/", node.api.url))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http()
        .get(format!("{}/", node.api.url))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("content-security-policy").is_some(),
        "CSP is set"
    );
    assert!(!r.text().await.unwrap().contains(&node.api.token));

    // The WebSocket needs the token too.
    let ws_url = node.api.url.replace("http://", "ws://") + "/api/events/ws";
    assert!(
        tokio_tungstenite::connect_async(&ws_url).await.is_err(),
        "websocket without token refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("strict", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let url = format!("{}/api/set_profile", node.api.url);
    let auth = format!("Bearer {}", node.api.token);

    for (body, why) in [
        ("{not json".to_string(), "malformed JSON"),
        (
            serde_json::json!({"display_name": "x".repeat(65), "affiliation": "", "bio": ""})
                .to_string(),
            "too long",
        ),
        (
            serde_json::json!({"display_name": "a\u{7}b", "affiliation": "", "bio": ""})
                .to_string(),
            "control chars",
        ),
        ("x".repeat(200_000), "oversized body"),
    ] {
        let r = http()
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{why}: {}", r.status());
        if r.status() == 400 {
            let e: ApiErrorBody = r.json().await.unwrap();
            assert_eq!(e.code, ErrorCode::BadRequest, "{why}");
            assert!(!e.message.is_empty());
        }
    }
    let profile: Profile = node.client.get_profile().await.unwrap();
    assert_eq!(profile.display_name, "strict", "nothing changed");

    let e = node
        .client
        .connect(&AddrRequest {
            addr: "not an address".into(),
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is not a network address"), "{e}");
    let e = node
        .client
        .block_peer(&PeerIdRequest {
            peer_id: "nonsense".into(),
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is not a peer id"), "{e}");
    let e = node
        .client
        .call::<_, serde_json::Value>("no_such_command", &())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no such API command"), "{e}");
    let e = node
        .client
        .call::<_, serde_json::Value>("status", &serde_json::json!({"unexpected": 1}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("status takes no request"), "{e}");
    let e = node
        .client
        .call::<_, serde_json::Value>("block_peer", &serde_json::json!({"peer": 1}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("bad request for block_peer"), "{e}");
    // A path outside the commands gets a JSON error too.
    let r = http()
        .get(format!("{}/api/no/such/route", node.api.url))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: ApiErrorBody = r.json().await.unwrap();
    assert!(e.message.contains("no such API route"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_live_and_resume_after_a_reconnect() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("events", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let ws_url = |since: u64| {
        format!(
            "{}/api/events/ws?since={since}&token={}",
            node.api.url.replace("http://", "ws://"),
            node.api.token
        )
    };
    let set_name = |name: &'static str| {
        let client = node.client.clone();
        async move {
            let p = Profile {
                display_name: name.into(),
                ..Default::default()
            };
            let _: Profile = client.set_profile(&p).await.unwrap();
        }
    };

    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(0)).await.unwrap();
    set_name("first").await;
    let first = loop {
        let e = next_event(&mut ws).await;
        if let EventKind::ProfileChanged { profile, .. } = &e.kind {
            assert_eq!(profile.display_name, "first");
            break e;
        }
    };
    drop(ws);

    // Events that happen while disconnected are delivered on resume, in order, once.
    set_name("second").await;
    set_name("third").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(first.id))
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut last = first.id;
    while names.len() < 2 {
        let e = next_event(&mut ws).await;
        assert!(e.id > last, "ids increase");
        last = e.id;
        if let EventKind::ProfileChanged { profile, .. } = e.kind {
            names.push(profile.display_name);
        }
    }
    assert_eq!(names, ["second", "third"]);

    // A client from an earlier run (ids this run never issued) is told to resync.
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(1_000_000))
        .await
        .unwrap();
    let e = next_event(&mut ws).await;
    assert!(matches!(e.kind, EventKind::Resync));
    // ...and then gets live events after the id the resync named.
    set_name("fourth").await;
    loop {
        if let EventKind::ProfileChanged { profile, .. } = next_event(&mut ws).await.kind {
            assert_eq!(profile.display_name, "fourth");
            break;
        }
    }

    // The `events_since` command returns the same buffered events.
    let buffered: Vec<Event> = node
        .client
        .events_since(&SinceRequest { since: first.id })
        .await
        .unwrap();
    assert!(buffered.iter().all(|e| e.id > first.id));
    assert!(buffered.len() >= 3);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_event(ws: &mut Ws) -> Event {
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("event in time")
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}
