//! Video across real nodes: byte ranges served while the file streams in from the swarm,
//! the errors of the media route, and mirrors (a follower that keeps a publisher's resources
//! available, within its quota).

mod kit;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hearth::api::dto::{
    ContentIdRequest, Download, DownloadState, ErrorCode, Follow, Holder, PublishRequest,
    QuotaRequest, Resource, SearchRequest, SearchResult,
};
use kit::{cli, eventually, random_file, star, TestNode, FAST_PRESENCE};

const MIB: usize = 1024 * 1024;

async fn publish(node: &TestNode, path: &Path) -> Resource {
    node.client
        .publish(&PublishRequest {
            path: path.display().to_string(),
            ..Default::default()
        })
        .await
        .expect("publish")
}

/// Waits until `node`'s catalog has `id` with an online holder.
async fn sees(node: &TestNode, id: &str) -> Resource {
    eventually(
        Duration::from_secs(30),
        &format!("{} sees {id} available", node.name),
        || async {
            let page: SearchResult = node.client.search(&SearchRequest::default()).await.ok()?;
            page.items
                .into_iter()
                .find(|r| r.content_id == id && r.available)
        },
    )
    .await
}

async fn downloads(node: &TestNode) -> Vec<Download> {
    node.client.list_downloads().await.expect("downloads")
}

async fn download(node: &TestNode, id: &str) -> Option<Download> {
    downloads(node)
        .await
        .into_iter()
        .find(|d| d.content_id == id)
}

fn media_url(node: &TestNode, id: &str) -> String {
    format!("{}/media/{id}?token={}", node.api.url, node.api.token)
}

async fn get_range(
    http: &reqwest::Client,
    url: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = http.get(url);
    if let Some(r) = range {
        req = req.header(reqwest::header::RANGE, r);
    }
    let resp = req.send().await.expect("media request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("media body").to_vec();
    (status, headers, body)
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_stream_from_the_swarm_and_match_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    // The publisher sends at 2 MB/s, so the viewer's first ranges come before the file.
    let slow = format!("bt_upload_limit_bps = 2000000\n{FAST_PRESENCE}");
    let a = TestNode::start("a", &tmp.path().join("a"), &[], &slow).await;
    let b = TestNode::start(
        "b",
        &tmp.path().join("b"),
        std::slice::from_ref(&a.addr),
        FAST_PRESENCE,
    )
    .await;
    let len = 12 * MIB;
    let file = tmp.path().join("files/lecture.mp4");
    let data = random_file(&file, len, 7);
    let id = publish(&a, &file).await.content_id;
    sees(&b, &id).await;

    let http = reqwest::Client::new();
    let url = media_url(&b, &id);
    let l = len as u64;
    // The end first (as a player reading an index at the end would), then the rest.
    let mut ranges: Vec<(String, u64, u64)> = vec![
        (format!("bytes={}-{}", l - 1000, l - 1), l - 1000, l - 1),
        ("bytes=0-99".into(), 0, 99),
        (format!("bytes=-{}", 65_536), l - 65_536, l - 1),
        (format!("bytes={}-", l - 300_000), l - 300_000, l - 1),
        (
            format!("bytes={}-{}", l / 2, l / 2 + 1_000_000),
            l / 2,
            l / 2 + 1_000_000,
        ),
        ("bytes=5000-5000".into(), 5000, 5000),
        (format!("bytes={}-{}", l - 10, l + 10_000), l - 10, l - 1),
    ];
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for _ in 0..12 {
        let first = rng.gen_range(0..l);
        let last = (first + rng.gen_range(0..2 * MIB as u64)).min(l - 1);
        ranges.push((format!("bytes={first}-{last}"), first, last));
    }
    let mut progress_at_first = None;
    for (range, first, last) in &ranges {
        let (status, h, body) = get_range(&http, &url, Some(range)).await;
        if progress_at_first.is_none() {
            progress_at_first = Some(download(&b, &id).await.map_or(0.0, |d| d.progress));
        }
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            header(&h, "content-range"),
            format!("bytes {first}-{last}/{l}")
        );
        assert_eq!(header(&h, "accept-ranges"), "bytes");
        assert_eq!(header(&h, "content-type"), "video/mp4");
        assert_eq!(header(&h, "content-length"), (last - first + 1).to_string());
        assert!(
            body == data[*first as usize..=*last as usize],
            "{range}: the bytes differ from the file's"
        );
    }
    let early = progress_at_first.unwrap();
    assert!(
        early < 1.0,
        "the file was whole before the first range ({early})"
    );

    // Watching downloads the rest, and the viewer then seeds it.
    let d = eventually(Duration::from_secs(60), "b has the whole file", || async {
        download(&b, &id)
            .await
            .filter(|d| d.state == DownloadState::Complete)
    })
    .await;
    assert_eq!(std::fs::read(PathBuf::from(&d.path)).unwrap(), data);
    // No range: the whole file.
    let (status, h, body) = get_range(&http, &url, None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert!(body == data);

    // A range outside the file: 416 naming the length.
    for bad in [
        format!("bytes={l}-"),
        format!("bytes={}-{}", l + 5, l + 9),
        "bytes=-0".into(),
    ] {
        let (status, h, _) = get_range(&http, &url, Some(&bad)).await;
        assert_eq!(status, 416, "{bad}");
        assert_eq!(header(&h, "content-range"), format!("bytes */{l}"));
    }
    // Without the token, or with a wrong one: 401. An unknown resource: 404; garbage: 400.
    let bare = format!("{}/media/{id}", b.api.url);
    assert_eq!(get_range(&http, &bare, Some("bytes=0-9")).await.0, 401);
    let wrong = format!("{bare}?token={}", "0".repeat(64));
    assert_eq!(get_range(&http, &wrong, None).await.0, 401);
    let unknown = media_url(&b, &"ab".repeat(20));
    assert_eq!(get_range(&http, &unknown, None).await.0, 404);
    let garbage = media_url(&b, "..%2F..%2Fetc%2Fpasswd");
    assert_eq!(get_range(&http, &garbage, None).await.0, 400);
    let no_file = format!("{}/media/{id}/3?token={}", b.api.url, b.api.token);
    assert_eq!(get_range(&http, &no_file, None).await.0, 404);
}

async fn mirror_copies(node: &TestNode) -> Vec<Download> {
    downloads(node)
        .await
        .into_iter()
        .filter(|d| d.mirror)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_keeps_a_publisher_available_when_it_goes_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let [mut a, m] = star(tmp.path(), ["a", "m"], FAST_PRESENCE).await;
    let c = TestNode::start(
        "c",
        &tmp.path().join("c"),
        std::slice::from_ref(&m.addr),
        FAST_PRESENCE,
    )
    .await;
    let mut files = Vec::new();
    for (i, name) in ["talk.mp4", "slides.pdf", "data.csv"].iter().enumerate() {
        let path = tmp.path().join("files").join(name);
        let bytes = random_file(&path, MIB + i * 1000, i as u64);
        files.push((publish(&a, &path).await.content_id, bytes));
    }

    // From the command line: follow, then mirror.
    let follows = cli(&m.dir, &["follow", &a.peer_id]);
    assert_eq!(follows[0]["peer_id"], a.peer_id.as_str());
    assert_eq!(follows[0]["mirror"], false);
    let follows = cli(&m.dir, &["mirror", "on", &a.peer_id]);
    assert_eq!(follows[0]["mirror"], true);

    eventually(
        Duration::from_secs(60),
        "m mirrors all of a's files",
        || async {
            let copies = mirror_copies(&m).await;
            files
                .iter()
                .all(|(id, _)| {
                    copies
                        .iter()
                        .any(|d| &d.content_id == id && d.state == DownloadState::Complete)
                })
                .then_some(())
        },
    )
    .await;
    let follows: Vec<Follow> = m.client.list_follows().await.unwrap();
    assert_eq!(follows[0].mirrored_items, 3);
    // Others see m as a mirror among the holders; the publisher sees two copies.
    for (id, _) in &files {
        eventually(Duration::from_secs(20), "c sees m as a mirror", || async {
            let holders = cli(&c.dir, &["holders", id]);
            holders
                .as_array()?
                .iter()
                .any(|h| h["peer_id"] == m.peer_id.as_str() && h["mirror"] == true)
                .then_some(())
        })
        .await;
        let r = a
            .client
            .get_resource(&ContentIdRequest {
                content_id: id.clone(),
            })
            .await
            .unwrap();
        assert_eq!(
            r.holders_known, 2,
            "the publisher sees its copy and the mirror's"
        );
    }

    // The publisher leaves; c gets everything from the mirror.
    a.kill();
    for (id, bytes) in &files {
        let d: Download = eventually(Duration::from_secs(30), "c starts from m", || async {
            c.client
                .start_download(&hearth::api::dto::DownloadRequest {
                    content_id: Some(id.clone()),
                    ..Default::default()
                })
                .await
                .ok()
        })
        .await;
        assert!(!d.mirror);
        let done = eventually(Duration::from_secs(60), "c completes from m", || async {
            download(&c, id)
                .await
                .filter(|d| d.state == DownloadState::Complete)
        })
        .await;
        assert_eq!(&std::fs::read(&done.path).unwrap(), bytes);
    }

    // Mirror off: the copies go, and so does the space they took.
    cli(&m.dir, &["mirror", "off", &a.peer_id]);
    eventually(Duration::from_secs(20), "m drops its copies", || async {
        mirror_copies(&m).await.is_empty().then_some(())
    })
    .await;
    let s: hearth::api::dto::Settings = m.client.get_settings().await.unwrap();
    assert_eq!(s.mirror_used_bytes, 0);
    let follows = cli(&m.dir, &["unfollow", &a.peer_id]);
    assert_eq!(follows, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_quota_evicts_the_copy_watched_longest_ago() {
    let tmp = tempfile::tempdir().unwrap();
    let [a, m] = star(tmp.path(), ["a", "m"], FAST_PRESENCE).await;
    // Room for two of a's 1 MiB files, not three.
    let quota = (2 * MIB + MIB / 2) as u64;
    let s: hearth::api::dto::Settings = m
        .client
        .set_mirror_quota(&QuotaRequest { bytes: quota })
        .await
        .unwrap();
    assert_eq!(s.mirror_quota_bytes, quota);
    let _: Vec<Follow> = m
        .client
        .set_mirror(&hearth::api::dto::MirrorRequest {
            peer_id: a.peer_id.clone(),
            on: true,
        })
        .await
        .unwrap();

    let held = |ids: Vec<String>| {
        let m = &m;
        async move {
            eventually(Duration::from_secs(60), &format!("m holds {ids:?}"), || {
                let ids = ids.clone();
                async move {
                    let mut have: Vec<String> = mirror_copies(m)
                        .await
                        .into_iter()
                        .filter(|d| d.state == DownloadState::Complete)
                        .map(|d| d.content_id)
                        .collect();
                    have.sort();
                    let mut want = ids;
                    want.sort();
                    (have == want).then_some(())
                }
            })
            .await
        }
    };
    let path = |n: u8| tmp.path().join(format!("files/part{n}.bin"));
    random_file(&path(1), MIB, 1);
    let first = publish(&a, &path(1)).await.content_id;
    held(vec![first.clone()]).await;
    random_file(&path(2), MIB, 2);
    let second = publish(&a, &path(2)).await.content_id;
    held(vec![first.clone(), second.clone()]).await;

    // The older item is watched now; the newer one was never watched.
    let http = reqwest::Client::new();
    let (status, _, _) = get_range(&http, &media_url(&m, &first), Some("bytes=0-1023")).await;
    assert_eq!(status, 206);

    // A third does not fit: the copy watched longest ago (the second) makes room.
    random_file(&path(3), MIB, 3);
    let third = publish(&a, &path(3)).await.content_id;
    held(vec![first.clone(), third.clone()]).await;
    let s: hearth::api::dto::Settings = m.client.get_settings().await.unwrap();
    assert!(
        s.mirror_used_bytes <= quota,
        "{} > {quota}",
        s.mirror_used_bytes
    );
    let holders: Vec<Holder> = m
        .client
        .list_holders(&ContentIdRequest {
            content_id: second.clone(),
        })
        .await
        .unwrap();
    assert!(
        holders.iter().all(|h| !h.is_self),
        "the evicted copy is gone"
    );

    // Something bigger than the whole quota is never mirrored.
    random_file(&path(4), 3 * MIB, 4);
    let big = publish(&a, &path(4)).await.content_id;
    sees(&m, &big).await;
    // A small one published after it is taken; by then the big one was passed over.
    random_file(&path(5), MIB / 10, 5);
    let small = publish(&a, &path(5)).await.content_id;
    held(vec![first, third, small]).await;
    assert!(
        download(&m, &big).await.is_none(),
        "the oversized item was fetched"
    );
}

/// A short H.264 video made by ffmpeg (which `make test` installs).
fn make_video(path: &Path, seconds: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate=25:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(path)
        .status()
        .expect("ffmpeg is needed for this test (scripts/setup.sh --test installs it)");
    assert!(status.success(), "ffmpeg failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_video_gets_a_thumbnail_and_duration_served_by_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let [a, b] = star(tmp.path(), ["a", "b"], FAST_PRESENCE).await;
    let video = tmp.path().join("files/clip.mp4");
    make_video(&video, 3);
    let id = publish(&a, &video).await.content_id;
    // The record is out at once; the preview follows it.
    let r = eventually(Duration::from_secs(30), "b sees the preview", || async {
        let r = b
            .client
            .get_resource(&ContentIdRequest {
                content_id: id.clone(),
            })
            .await
            .ok()?;
        (r.thumbnail_hash.is_some() && r.duration_ms.is_some()).then_some(r)
    })
    .await;
    let duration = r.duration_ms.unwrap();
    assert!((2900..=3100).contains(&duration), "duration {duration} ms");
    let hash = r.thumbnail_hash.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/thumbs/{id}/{hash}?token={}", b.api.url, b.api.token);
    let (status, h, body) = get_range(&http, &url, None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "image/jpeg");
    assert!(header(&h, "cache-control").contains("immutable"));
    assert!(body.len() <= 15 * 1024, "thumbnail is {} bytes", body.len());
    assert_eq!(blake3::hash(&body).to_hex().to_string(), hash);
    let stale = format!(
        "{}/thumbs/{id}/{}?token={}",
        b.api.url,
        "0".repeat(64),
        b.api.token
    );
    assert_eq!(get_range(&http, &stale, None).await.0, 404);
    let bare = format!("{}/thumbs/{id}/{hash}", b.api.url);
    assert_eq!(get_range(&http, &bare, None).await.0, 401);

    // A preview taken by the UI (for nodes without ffmpeg): only the author may set one,
    // and only a real image is taken.
    let png = {
        let img =
            image::RgbImage::from_fn(64, 36, |x, y| image::Rgb([x as u8 * 4, y as u8 * 7, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let req = |thumbnail: String| hearth::api::dto::PreviewRequest {
        content_id: id.clone(),
        thumbnail,
        duration_ms: Some(3000),
    };
    let set: Resource = a.client.set_preview(&req(b64.clone())).await.unwrap();
    assert_ne!(set.thumbnail_hash.as_deref(), Some(hash.as_str()));
    let code = |e: hearth::server::client::ClientError| match e {
        hearth::server::client::ClientError::Api(body) => body.code,
        other => panic!("not an API error: {other}"),
    };
    let not_mine = b.client.set_preview(&req(b64)).await.unwrap_err();
    assert_eq!(code(not_mine), ErrorCode::Forbidden);
    for bad in [
        "%%%".to_string(),
        base64::engine::general_purpose::STANDARD.encode(b"not an image"),
    ] {
        let err = a.client.set_preview(&req(bad)).await.unwrap_err();
        assert_eq!(code(err), ErrorCode::BadRequest);
    }
}
