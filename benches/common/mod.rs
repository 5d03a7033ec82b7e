//! What the benchmarks share: starting real `hearth run` processes and reading figures.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth::client::{ApiFile, Client};

pub const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");

pub struct Proc {
    pub child: Child,
    pub api: ApiFile,
    pub client: Option<Client>,
    pub peer_id: String,
    pub addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx]
}

pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub async fn start_node(dir: &Path, bootstrap: &[String]) -> (Proc, Instant, Instant) {
    start_node_with(dir, bootstrap, None).await
}

/// Like [`start_node`]; `passphrase` unlocks chat at start.
pub async fn start_node_with(
    dir: &Path,
    bootstrap: &[String],
    passphrase: Option<&str>,
) -> (Proc, Instant, Instant) {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(HEARTH);
    cmd.arg("run").arg("--data-dir").arg(dir);
    cmd.args([
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--http",
        "127.0.0.1:0",
        "--no-mdns",
        "--bt-port",
        "0",
    ]);
    for b in bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    if let Some(p) = passphrase {
        cmd.env("HEARTH_PASSPHRASE", p);
    }
    cmd.env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn hearth");
    let pid = child.id();
    let api = loop {
        if let Ok(f) = ApiFile::read(dir) {
            if f.pid == pid {
                break f;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node did not start"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let client = Client::new(&api.url, &api.token);
    let api_file = api.clone();
    let status: hearth::api::types::Status = loop {
        if let Ok(s) = client.get("/api/status").await {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let ready = Instant::now();
    let proc = Proc {
        child,
        api: api_file,
        client: Some(client),
        peer_id: status.peer_id,
        addr: status.listen_addrs[0].clone(),
    };
    (proc, started, ready)
}
