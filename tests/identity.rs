//! Identity at rest: the data dir is the user's alone, and the identity moves between data
//! dirs only sealed under a passphrase (`hearth identity export` / `import`).

mod kit;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use kit::{TestNode, FAST_PRESENCE, HEARTH};

const SEAL: &str = "a long export passphrase";

fn identity(dir: &Path, args: &[&str], passphrase: &str) -> Output {
    Command::new(HEARTH)
        .arg("--data-dir")
        .arg(dir)
        .arg("identity")
        .args(args)
        .env("HEARTH_PASSPHRASE", passphrase)
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_is_private_and_moves_only_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let a_dir = tmp.path().join("a");
    // Made earlier under a loose umask: tightened at start.
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::set_permissions(&a_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut a = TestNode::start("a", &a_dir, &[], FAST_PRESENCE).await;
    let a_id = a.peer_id.clone();
    a.kill();
    assert_eq!(mode(&a_dir), 0o700, "the data dir");
    assert_eq!(mode(&a_dir.join("db")), 0o700, "the store's folder");
    for f in std::fs::read_dir(a_dir.join("db")).unwrap().flatten() {
        if f.file_type().unwrap().is_file() {
            assert_eq!(mode(&f.path()) & 0o077, 0, "{}", f.path().display());
        }
    }

    // Export: a file only the user can read, with no key in the clear.
    let file = tmp.path().join("me.hearth-identity");
    let out = identity(&a_dir, &["export", file.to_str().unwrap()], SEAL);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("argon2id") && text.contains(&a_id));

    // A wrong passphrase: a clear error, nothing written.
    let b_dir = tmp.path().join("b");
    let out = identity(
        &b_dir,
        &["import", file.to_str().unwrap()],
        "not the passphrase",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong passphrase"), "{err}");

    // The right one: the fresh data dir starts with A's peer id.
    let out = identity(&b_dir, &["import", file.to_str().unwrap()], SEAL);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut b = TestNode::start("b", &b_dir, &[], FAST_PRESENCE).await;
    assert_eq!(b.peer_id, a_id, "the imported identity keeps the peer id");
    b.kill();

    // A data dir with an identity of its own keeps it unless --force.
    let c_dir = tmp.path().join("c");
    let mut c = TestNode::start("c", &c_dir, &[], FAST_PRESENCE).await;
    let c_id = c.peer_id.clone();
    c.kill();
    let out = identity(&c_dir, &["import", file.to_str().unwrap()], SEAL);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--force") && err.contains(&c_id), "{err}");
    let out = identity(
        &c_dir,
        &["import", "--force", file.to_str().unwrap()],
        "not the passphrase",
    );
    assert!(!out.status.success(), "a wrong passphrase with --force");
    let mut c = TestNode::start("c", &c_dir, &[], FAST_PRESENCE).await;
    assert_eq!(c.peer_id, c_id, "nothing was overwritten");
    c.kill();
    let out = identity(&c_dir, &["import", "--force", file.to_str().unwrap()], SEAL);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = TestNode::start("c", &c_dir, &[], FAST_PRESENCE).await;
    assert_eq!(c.peer_id, a_id);

    // Export needs the node stopped, and says so.
    let out = identity(
        &c_dir,
        &["export", tmp.path().join("x").to_str().unwrap()],
        SEAL,
    );
    assert!(!out.status.success());
    drop(c);
}
