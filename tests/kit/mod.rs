//! Test harness: real `hearth run` processes on 127.0.0.1, driven through their HTTP API.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth::api::types::{PeerInfo, Status};
use hearth::client::{ApiFile, Client};

/// Presence settings short enough for tests to watch a kill being noticed.
pub const FAST_PRESENCE: &str = "[presence]\nping_interval_ms = 500\nannounce_interval_ms = 1000\n\
offline_after_ms = 3000\nvote_timeout_ms = 1000\nsuspicion_ratio = 0.5\n";

/// The chat passphrase every test node unlocks with at start.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// Polls `check` until it returns `Some`, or panics after `timeout` saying what was awaited.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `hearth run` process.
pub struct TestNode {
    pub name: String,
    pub dir: PathBuf,
    pub child: Child,
    pub client: Client,
    pub api: ApiFile,
    pub peer_id: String,
    pub addr: String,
}

impl TestNode {
    /// Starts a node on `dir` (creating it), writing `config_toml` as its config file.
    pub async fn start(
        name: &str,
        dir: &Path,
        bootstrap: &[String],
        config_toml: &str,
    ) -> TestNode {
        Self::start_with(name, dir, bootstrap, config_toml, Some(PASSPHRASE)).await
    }

    /// Like [`TestNode::start`]; `passphrase` (if any) unlocks chat at start.
    pub async fn start_with(
        name: &str,
        dir: &Path,
        bootstrap: &[String],
        config_toml: &str,
        passphrase: Option<&str>,
    ) -> TestNode {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("hearth.toml"), config_toml).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
        cmd.arg("run")
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--http",
                "127.0.0.1:0",
                "--no-mdns",
                "--bt-port",
                "0",
                "--name",
                name,
            ])
            .env("RUST_LOG", "warn,libp2p_kad=error")
            .env_remove("HEARTH_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for b in bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        if let Some(p) = passphrase {
            cmd.env("HEARTH_PASSPHRASE", p);
        }
        let child = cmd.spawn().expect("spawn hearth");
        let pid = child.id();
        let api = eventually(Duration::from_secs(20), "api.json", || async {
            ApiFile::read(dir).ok().filter(|f| f.pid == pid)
        })
        .await;
        let client = Client::new(&api.url, &api.token);
        let status: Status = client.get("/api/status").await.expect("status");
        TestNode {
            name: name.into(),
            dir: dir.into(),
            child,
            client,
            api,
            peer_id: status.peer_id,
            addr: status.listen_addrs[0].clone(),
        }
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.client.get("/api/peers").await.expect("peers")
    }

    pub async fn peer(&self, peer_id: &str) -> Option<PeerInfo> {
        self.peers()
            .await
            .into_iter()
            .find(|p| p.peer_id == peer_id)
    }

    /// Starts this node again on its data dir (after [`TestNode::kill`]).
    pub async fn restart(&mut self, bootstrap: &[String]) {
        let config = std::fs::read_to_string(self.dir.join("hearth.toml")).unwrap_or_default();
        self.kill();
        *self = TestNode::start(&self.name, &self.dir.clone(), bootstrap, &config).await;
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `size` seeded random bytes to `path` (creating its folder) and returns them.
pub fn random_file(path: &Path, size: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut bytes = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Runs the `hearth` CLI with `--json` on `dir`'s node and parses what it prints.
pub fn cli(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .output()
        .expect("run hearth");
    assert!(
        out.status.success(),
        "hearth {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}
