//! Profile pictures: set on one node from an image file's bytes, scaled and re-encoded by
//! it, carried by hash in its signed profile, fetched by another node from it over the
//! catalog protocol, checked against the hash, and served by both at `/avatars/<hash>`.
//! Oversized and malformed images are refused and change nothing.

mod kit;

use std::io::Cursor;
use std::time::Duration;

use base64::Engine as _;
use hearth::api::dto::{AvatarRequest, ErrorCode};
use hearth::server::client::ClientError;
use kit::{cli, cli_fails, eventually, TestNode, FAST_PRESENCE};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 900x600 PNG of gradients.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(900, 600, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// GET /avatars/<hash> on `node`: the status, and the body.
async fn get_avatar(node: &TestNode, hash: &str) -> (u16, Vec<u8>) {
    let url = format!(
        "{}/avatars/{hash}?token={}",
        node.client.base_url(),
        node.api.token
    );
    let r = reqwest::get(&url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

async fn refused(node: &TestNode, image: String) -> String {
    match node
        .client
        .set_avatar(&AvatarRequest { image: Some(image) })
        .await
    {
        Err(ClientError::Api(body)) => {
            assert_eq!(body.code, ErrorCode::BadRequest, "{body:?}");
            body.message
        }
        other => panic!("the picture is refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_picture_travels_by_hash_and_bad_pictures_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = TestNode::start("Ada", &tmp.path().join("a"), &[], FAST_PRESENCE).await;
    let b = TestNode::start(
        "Bob",
        &tmp.path().join("b"),
        std::slice::from_ref(&a.addr),
        FAST_PRESENCE,
    )
    .await;

    let source = png();
    let profile = a
        .client
        .set_avatar(&AvatarRequest {
            image: Some(b64(&source)),
        })
        .await
        .unwrap();
    assert_eq!(profile.display_name, "Ada");
    let hash = profile.avatar.clone().expect("a picture hash");
    assert_eq!(hash.len(), 64);
    assert_eq!(
        a.client.get_profile().await.unwrap().avatar,
        Some(hash.clone())
    );

    // A serves it: a 256x256 JPEG under 64 KiB, named by its blake3.
    let (status, bytes) = get_avatar(&a, &hash).await;
    assert_eq!(status, 200);
    assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash);
    assert!(bytes.len() <= 64 * 1024, "{} bytes", bytes.len());
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    eprintln!(
        "a {} byte PNG became a {} byte avatar",
        source.len(),
        bytes.len()
    );

    // Saving the profile keeps the picture.
    let mut edited = profile.clone();
    edited.bio = "Maths".into();
    edited.avatar = None;
    let saved = a.client.set_profile(&edited).await.unwrap();
    assert_eq!(saved.avatar, Some(hash.clone()));

    // B sees the hash in A's profile, then fetches the picture from A.
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(20),
        "B sees A's picture hash",
        || async {
            let p = b.peer(&a.peer_id).await?;
            (p.profile?.avatar.as_deref() == Some(hash.as_str())).then_some(())
        },
    )
    .await;
    let fetched = eventually(Duration::from_secs(20), "B has A's picture", || async {
        let (status, bytes) = get_avatar(&b, &hash).await;
        (status == 200).then_some(bytes)
    })
    .await;
    eprintln!("B had A's picture {:?} after it was set", started.elapsed());
    assert_eq!(fetched, bytes);

    // Refused with a clear error, and nothing changes.
    let huge = vec![0x42u8; 20 * 1024 * 1024];
    let message = refused(&a, b64(&huge)).await;
    assert!(message.contains("larger than 10 MB"), "{message}");
    let message = refused(&a, b64(&vec![0x42u8; 10 * 1024 * 1024 + 1])).await;
    assert!(message.contains("larger than 10 MB"), "{message}");
    let mut broken = source.clone();
    broken.truncate(200);
    let message = refused(&a, b64(&broken)).await;
    assert!(message.contains("cannot use this picture"), "{message}");
    let message = refused(&a, b64(b"plain text, not an image")).await;
    assert!(
        message.contains("not a supported image format"),
        "{message}"
    );
    let message = refused(&a, "***".into()).await;
    assert!(message.contains("not base64"), "{message}");
    assert_eq!(
        a.client.get_profile().await.unwrap().avatar,
        Some(hash.clone())
    );

    // An unknown or malformed hash is not found / refused.
    assert_eq!(get_avatar(&b, &"0".repeat(64)).await.0, 404);
    assert_eq!(get_avatar(&b, "nothex").await.0, 400);

    // The command line sets and removes it too, from a file.
    let file = tmp.path().join("me.png");
    std::fs::write(&file, &source).unwrap();
    let set = cli(&a.dir, &["profile", "picture", file.to_str().unwrap()]);
    assert_eq!(set["avatar"].as_str(), Some(hash.as_str()), "{set}");
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "not a picture").unwrap();
    let err = cli_fails(&a.dir, &["profile", "picture", text.to_str().unwrap()]);
    assert!(err.contains("not a supported image format"), "{err}");
    let removed = cli(&a.dir, &["profile", "picture", "--remove"]);
    assert!(
        removed.get("avatar").is_none_or(|v| v.is_null()),
        "{removed}"
    );
    a.client
        .set_avatar(&AvatarRequest {
            image: Some(b64(&source)),
        })
        .await
        .unwrap();

    // No image removes the picture; B follows.
    let cleared = a
        .client
        .set_avatar(&AvatarRequest { image: None })
        .await
        .unwrap();
    assert_eq!(cleared.avatar, None);
    eventually(
        Duration::from_secs(20),
        "B sees A without picture",
        || async {
            let p = b.peer(&a.peer_id).await?;
            p.profile?.avatar.is_none().then_some(())
        },
    )
    .await;
}
