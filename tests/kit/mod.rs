//! The test kit shared by the integration tests (`tests/`) and the benchmarks (`benches/`,
//! which include this file by path): real `hearth run` processes on 127.0.0.1, driven
//! through the typed client of their HTTP API (`hearth::server::client::Client`, one method
//! per declared command), `eventually`, seeded random files, the CLI, and the figures
//! benchmarks report.
#![allow(dead_code)]

pub mod raw;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth::api::dto::{Download, DownloadState, PeerInfo};
use hearth::server::client::{ApiFile, Client};

/// The `hearth` binary under test.
pub const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");

/// Presence settings short enough for tests to watch a kill being noticed.
pub const FAST_PRESENCE: &str = "[presence]\nping_interval_ms = 500\nannounce_interval_ms = 1000\n\
offline_after_ms = 3000\nvote_timeout_ms = 1000\nsuspicion_ratio = 0.5\n";

/// The chat passphrase every test node unlocks with at start.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// How long a node may take to start before the kit gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until `from`'s request (a stranger's direct message or room invitation) reaches
/// `client`'s node, and accepts it: fresh test nodes have never interacted.
pub async fn accept_request(client: &Client, from: &str) {
    eventually(
        Duration::from_secs(30),
        "the stranger's request arrives",
        || async {
            let list = client.list_requests().await.ok()?;
            list.requests
                .iter()
                .any(|r| r.peer_id == from)
                .then_some(())
        },
    )
    .await;
    client
        .answer_request(&hearth::api::dto::AnswerRequest {
            peer_id: from.into(),
            accept: true,
        })
        .await
        .expect("accept the request");
}

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

/// How to start a node; [`Launch::new`] gives a test's defaults, [`Launch::quiet`] a
/// benchmark's.
pub struct Launch<'a> {
    /// Display name (`--name`); empty: none.
    pub name: &'a str,
    pub dir: &'a Path,
    pub bootstrap: &'a [String],
    /// Written as `hearth.toml` before the start (`None`: the file is left as it is).
    pub config_toml: Option<&'a str>,
    /// Unlocks chat at start.
    pub passphrase: Option<&'a str>,
    /// `RUST_LOG` of the node.
    pub log: &'a str,
    /// Whether the node's log reaches this process's stderr.
    pub show_log: bool,
    /// Network namespace to run in (`ip netns exec`); `None`: this process's own.
    pub netns: Option<&'a str>,
    /// Peer-to-peer listen addresses (`--listen`); empty: `/ip4/127.0.0.1/tcp/0`.
    pub listen: Vec<String>,
    /// Address of the HTTP API (`--http`); `None`: `127.0.0.1:0`.
    pub http: Option<String>,
    /// Local-network discovery (off unless a test wants it).
    pub mdns: bool,
}

impl<'a> Launch<'a> {
    pub fn new(name: &'a str, dir: &'a Path) -> Self {
        Self {
            name,
            dir,
            bootstrap: &[],
            config_toml: None,
            passphrase: Some(PASSPHRASE),
            log: "warn,libp2p_kad=error",
            show_log: true,
            netns: None,
            listen: Vec::new(),
            http: None,
            mdns: false,
        }
    }

    /// A benchmark's node: no name, chat locked, quiet.
    pub fn quiet(dir: &'a Path) -> Self {
        Self {
            passphrase: None,
            log: "error",
            show_log: false,
            ..Self::new("", dir)
        }
    }

    pub fn bootstrap(mut self, bootstrap: &'a [String]) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    pub fn config(mut self, config_toml: &'a str) -> Self {
        self.config_toml = Some(config_toml);
        self
    }

    pub fn passphrase(mut self, passphrase: Option<&'a str>) -> Self {
        self.passphrase = passphrase;
        self
    }

    /// Runs the node inside the network namespace `netns` (see `tests/netlab`).
    pub fn netns(mut self, netns: &'a str) -> Self {
        self.netns = Some(netns);
        self
    }

    /// Listens for peers on `addrs` instead of loopback.
    pub fn listen(mut self, addrs: Vec<String>) -> Self {
        self.listen = addrs;
        self
    }

    /// Serves the API on `addr` (inside the node's namespace).
    pub fn http(mut self, addr: String) -> Self {
        self.http = Some(addr);
        self
    }

    pub fn mdns(mut self, on: bool) -> Self {
        self.mdns = on;
        self
    }

    /// Spawns the node and waits until its API answers.
    pub async fn start(self) -> TestNode {
        let started = Instant::now();
        let child = self.spawn();
        let pid = child.id();
        // Polled often: the benchmarks time the start.
        let api = loop {
            if let Some(f) = ApiFile::read(self.dir).ok().filter(|f| f.pid == pid) {
                break f;
            }
            assert!(started.elapsed() < START_TIMEOUT, "the node did not start");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let client = Client::new(&api.url, &api.token);
        let status = loop {
            match client.status().await {
                Ok(s) => break s,
                Err(e) => assert!(started.elapsed() < START_TIMEOUT, "no status: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        TestNode {
            name: self.name.into(),
            dir: self.dir.into(),
            child,
            client,
            api,
            peer_id: status.peer_id,
            addr: status.listen_addrs[0].clone(),
            started,
            ready: Instant::now(),
        }
    }

    /// Spawns the node's process and returns at once (a test that kills it while it starts).
    pub fn spawn(&self) -> Child {
        std::fs::create_dir_all(self.dir).unwrap();
        if let Some(config) = self.config_toml {
            std::fs::write(self.dir.join("hearth.toml"), config).unwrap();
        }
        // `ip netns exec` enters the namespace and executes the binary in place: the pid
        // stays the node's.
        let mut cmd = match self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, HEARTH]);
                c
            }
            None => Command::new(HEARTH),
        };
        cmd.arg("run").arg("--data-dir").arg(self.dir);
        if self.listen.is_empty() {
            cmd.args(["--listen", "/ip4/127.0.0.1/tcp/0"]);
        }
        for addr in &self.listen {
            cmd.args(["--listen", addr]);
        }
        cmd.args(["--http", self.http.as_deref().unwrap_or("127.0.0.1:0")])
            .args(["--bt-port", "0"]);
        if !self.mdns {
            cmd.arg("--no-mdns");
        }
        if !self.name.is_empty() {
            cmd.args(["--name", self.name]);
        }
        for b in self.bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        cmd.env("RUST_LOG", self.log)
            .env_remove("HEARTH_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if self.show_log {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        if let Some(p) = self.passphrase {
            cmd.env("HEARTH_PASSPHRASE", p);
        }
        cmd.spawn().expect("spawn hearth")
    }
}

/// One `hearth run` process; killed when dropped.
pub struct TestNode {
    pub name: String,
    pub dir: PathBuf,
    pub child: Child,
    pub client: Client,
    pub api: ApiFile,
    pub peer_id: String,
    pub addr: String,
    /// When the process was spawned, and when its API first answered.
    pub started: Instant,
    pub ready: Instant,
}

impl TestNode {
    /// Starts a node on `dir` (creating it), writing `config_toml` as its config file, with
    /// chat unlocked.
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
        Launch::new(name, dir)
            .bootstrap(bootstrap)
            .config(config_toml)
            .passphrase(passphrase)
            .start()
            .await
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.client.list_peers().await.expect("peers")
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
    let out = Command::new(HEARTH)
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

/// Runs the `hearth` CLI on `dir`'s node expecting it to fail, and returns what it printed
/// on stderr.
pub fn cli_fails(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(HEARTH)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run hearth");
    assert!(
        !out.status.success(),
        "hearth {args:?} should have failed, printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `p`-quantile (0..=1) of `v`, nearest rank; sorts `v`.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx]
}

/// Resident memory of a process, in MB (NaN when it cannot be read).
pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A benchmark's node ([`Launch::quiet`]) joining through `bootstrap`.
pub async fn quiet_node(dir: &Path, bootstrap: &[String]) -> TestNode {
    Launch::quiet(dir).bootstrap(bootstrap).start().await
}

/// Starts one node per name under `root` (each in a folder of its name, with
/// `config_toml`): the first alone, the others joining through it.
pub async fn star<const N: usize>(
    root: &Path,
    names: [&str; N],
    config_toml: &str,
) -> [TestNode; N] {
    let mut nodes: Vec<TestNode> = Vec::with_capacity(N);
    for name in names {
        let boot: Vec<String> = nodes.first().map(|n| n.addr.clone()).into_iter().collect();
        nodes.push(TestNode::start(name, &root.join(name), &boot, config_toml).await);
    }
    match nodes.try_into() {
        Ok(nodes) => nodes,
        Err(_) => unreachable!("one node per name"),
    }
}

/// `node`'s download of `id`, if it has one.
pub async fn download(node: &TestNode, id: &str) -> Option<Download> {
    let list: Vec<Download> = node.client.list_downloads().await.ok()?;
    list.into_iter().find(|d| d.content_id == id)
}

/// Waits until `node`'s download of `id` is complete.
pub async fn complete(node: &TestNode, id: &str, timeout: Duration) -> Download {
    eventually(
        timeout,
        &format!("{} completes {id}", node.name),
        || async {
            download(node, id)
                .await
                .filter(|d| d.state == DownloadState::Complete)
        },
    )
    .await
}
