//! Settings: every change is checked before anything is saved; speed limits, notifications
//! and the tray apply at once, the rest after a restart, which keeps the node's address,
//! token and identity.

mod kit;

use std::time::Duration;

use hearth::api::dto::{ErrorCode, NotificationSettings, SettingsUpdate};
use hearth::server::client::ClientError;
use kit::{eventually, TestNode, FAST_PRESENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_checked_saved_and_applied_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let node = TestNode::start("settler", &dir, &[], FAST_PRESENCE).await;
    let file = dir.join("hearth.toml");
    let saved = || std::fs::read_to_string(&file).unwrap_or_default();
    let before = saved();

    let bad = [
        (
            SettingsUpdate {
                listen: Some(vec!["/ip4/127.0.0.1/udp/4001".into()]),
                ..Default::default()
            },
            "cannot be listened on",
        ),
        (
            SettingsUpdate {
                listen: Some(vec![]),
                ..Default::default()
            },
            "listen addresses",
        ),
        (
            SettingsUpdate {
                download_dir: Some("relative/folder".into()),
                ..Default::default()
            },
            "not an absolute path",
        ),
        (
            SettingsUpdate {
                bt_upload_limit_bps: Some(5),
                // A good change beside a bad one is not saved either.
                relay_service: Some(false),
                ..Default::default()
            },
            "too low",
        ),
    ];
    for (update, words) in bad {
        let err = match node.client.update_settings(&update).await {
            Err(ClientError::Api(body)) => body,
            other => panic!("a bad setting is refused, got {other:?}"),
        };
        assert_eq!(err.code, ErrorCode::BadRequest, "{err:?}");
        assert!(err.message.contains(words), "{words:?} in {err:?}");
    }
    assert_eq!(saved(), before, "nothing was saved");
    assert!(node.client.get_settings().await.unwrap().relay_service);

    let downloads = tmp.path().join("elsewhere/downloads");
    let s = node
        .client
        .update_settings(&SettingsUpdate {
            bt_download_limit_bps: Some(200_000),
            relay_service: Some(false),
            download_dir: Some(downloads.display().to_string()),
            notifications: Some(NotificationSettings {
                followed_online: true,
                downloads: false,
                ..Default::default()
            }),
            close_to_tray: Some(false),
            ..Default::default()
        })
        .await
        .expect("update");
    assert_eq!(s.bt_download_limit_bps, Some(200_000));
    assert_eq!(s.bt_upload_limit_bps, None);
    assert!(!s.relay_service);
    assert!(s.notifications.followed_online && !s.notifications.downloads);
    assert!(s.notifications.chat, "what was not named keeps its default");
    assert!(!s.close_to_tray);
    assert_eq!(s.pending_restart, vec!["download_dir", "relay_service"]);
    assert!(
        downloads.is_dir(),
        "the new download folder is made at once"
    );
    let text = saved();
    for line in [
        "bt_download_limit_bps = 200000",
        "relay_service = false",
        "close_to_tray = false",
        "followed_online = true",
    ] {
        assert!(text.contains(line), "{line:?} in hearth.toml:\n{text}");
    }
    // 0 lifts a limit.
    let s = node
        .client
        .update_settings(&SettingsUpdate {
            bt_download_limit_bps: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.bt_download_limit_bps, None);

    // The restart: same process, same address and token, same identity; the saved
    // settings are in force and nothing is pending.
    let peer_id = node.client.status().await.unwrap().peer_id;
    node.client.restart().await.expect("restart");
    let status = eventually(Duration::from_secs(60), "the node to come back", || async {
        let s = node.client.status().await.ok()?;
        let settings = node.client.get_settings().await.ok()?;
        (settings.pending_restart.is_empty() && !s.relay_service.enabled).then_some(s)
    })
    .await;
    assert_eq!(status.peer_id, peer_id);
    let settings = node.client.get_settings().await.unwrap();
    assert_eq!(settings.download_dir, downloads.display().to_string());
    assert!(!settings.close_to_tray);
    assert!(settings.notifications.followed_online);
}
