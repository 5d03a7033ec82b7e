//! The headless server's smaller doors: the token in a URL only where a browser cannot send
//! headers, a CSP that lets the UI talk to its own server only, media served as media only,
//! and no API on an address other machines reach unless asked for loudly.

mod kit;

use std::process::{Command, Stdio};
use std::time::Duration;

use hearth::api::dto::PublishRequest;
use kit::{TestNode, FAST_PRESENCE, HEARTH};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_in_a_url_opens_only_the_websocket_media_and_thumbnails() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("door", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let (url, token) = (&node.api.url, &node.api.token);

    // Commands: the header only.
    for command in ["status", "set_profile", "list_peers"] {
        let r = http()
            .post(format!("{url}/api/{command}?token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            401,
            "POST /api/{command}?token= without a header"
        );
    }
    let r = http()
        .post(format!("{url}/api/upload?name=x.txt&token={token}"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an upload with the token in its URL");
    let r = http()
        .post(format!("{url}/api/status"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The WebSocket, media and thumbnails (GETs a browser makes without headers): ?token=.
    let ws = format!(
        "{}/api/events/ws?token={token}",
        url.replace("http://", "ws://")
    );
    assert!(tokio_tungstenite::connect_async(&ws).await.is_ok());
    let id = "0".repeat(40);
    let r = http()
        .get(format!("{url}/media/{id}?token={token}"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 401, "media takes ?token=");
    let r = http()
        .get(format!("{url}/media/{id}?token=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .get(format!("{url}/thumbs/{id}/{id}?token={token}"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 401, "thumbnails take ?token=");

    // The CSP: the UI connects to its own server only (no `ws:` to any host).
    let r = http().get(format!("{url}/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let connect = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .unwrap();
    let port = url.rsplit(':').next().unwrap();
    let sources: Vec<&str> = connect.split_whitespace().skip(1).collect();
    assert!(sources.contains(&"'self'"), "{connect}");
    for s in &sources {
        assert!(
            *s == "'self'" || s.ends_with(&format!(":{port}")) && s.starts_with("ws://"),
            "connect-src allows {s}: {csp}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_served_as_media_only() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start("media", &tmp.path().join("n"), &[], FAST_PRESENCE).await;
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let get = |id: String| {
        let url = format!("{}/media/{id}", node.api.url);
        let auth = format!("Bearer {}", node.api.token);
        async move {
            http()
                .get(url)
                .header("Authorization", auth)
                .send()
                .await
                .unwrap()
        }
    };
    let publish = |name: &str, bytes: &[u8]| {
        let path = files.join(name);
        std::fs::write(&path, bytes).unwrap();
        let req = PublishRequest {
            path: path.display().to_string(),
            title: None,
            description: None,
            kind: None,
            tags: Vec::new(),
        };
        let client = &node.client;
        async move { client.publish(&req).await }
    };
    for (name, bytes) in [
        (
            "page.html",
            &b"<html><script>alert(document.cookie)</script>"[..],
        ),
        (
            "drawing.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
        ),
        ("app.desktop", b"[Desktop Entry]\nExec=sh"),
    ] {
        let r = publish(name, bytes).await.unwrap();
        let resp = get(r.content_id.clone()).await;
        assert_eq!(resp.status(), 200, "{name}");
        let h = resp.headers();
        assert_eq!(h["content-type"], "application/octet-stream", "{name}");
        assert_eq!(h["content-disposition"], "attachment", "{name}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{name}");
    }
    let r = publish("clip.mp4", b"\0\0\0\x18ftypisom\0\0\0\0")
        .await
        .unwrap();
    let resp = get(r.content_id).await;
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    assert!(resp.headers().get("content-disposition").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_a_remote_address_needs_http_allow_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let run = |extra: &[&str]| {
        let mut c = Command::new(HEARTH);
        c.arg("run")
            .arg("--data-dir")
            .arg(&dir)
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--bt-port",
                "0",
                "--no-mdns",
            ])
            .args(["--http", "0.0.0.0:0"])
            .args(extra)
            .env("RUST_LOG", "error")
            .env_remove("HEARTH_PASSPHRASE")
            .stdin(Stdio::null());
        c
    };
    let out = run(&[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(stderr.contains("--http-allow-remote"), "{stderr}");
    assert!(!dir.join("api.json").exists(), "nothing is served");

    // With the flag it starts, and says so loudly.
    let mut child = run(&["--http-allow-remote"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let warned = rx
        .recv_timeout(Duration::from_secs(30))
        .is_ok_and(|l| l.contains("WARNING") && l.contains("other machines"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "no warning");
}
