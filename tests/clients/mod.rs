//! The BitTorrent clients people use, driven through their real binaries on 127.0.0.1:
//! Transmission 3 (transmission-daemon, driven by transmission-remote), qBittorrent-nox 4.5
//! (through its Web API) and aria2, each with its defaults except what would reach beyond
//! this machine (DHT, local peer discovery, peer exchange, port forwarding: off) and its
//! sockets bound to loopback. Shared by the interoperability tests (`tests/bt_clients.rs`)
//! and the clients benchmark (`benches/clients.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Creates a torrent of `file` with `transmission-create` at `out`; returns its bytes and
/// info hash.
pub fn create_torrent(file: &Path, out: &Path) -> (Vec<u8>, String) {
    need("transmission-create", "transmission-cli");
    let st = Command::new("transmission-create")
        .arg("-o")
        .arg(out)
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "transmission-create failed");
    let bytes = std::fs::read(out).unwrap();
    let hash = hearth::transfer::validate_metainfo(&bytes)
        .unwrap()
        .info_hash;
    (bytes, hash)
}

/// The path of `bin`, or a failure that names the Debian package to install.
pub fn need(bin: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(bin))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{bin} is required for this interoperability test: apt-get install {package} \
                 (scripts/setup.sh --test installs it)"
            )
        })
}

/// A client process, killed and reaped when dropped; its output goes to `log`.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the client");
        Proc { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The client's sockets that lead off this machine's loopback (none expected).
    pub fn off_loopback(&self) -> Vec<String> {
        let out = Command::new("ss")
            .args(["-tunapH"])
            .output()
            .expect("ss (iproute2) lists sockets");
        let pid = format!("pid={},", self.child.id());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&pid))
            .filter(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                // netid state recv-q send-q local peer process
                let peer = cols.get(5).copied().unwrap_or("");
                let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                !(host.starts_with("127.")
                    || host == "::1"
                    || host == "*"
                    || host == "0.0.0.0"
                    || host == "::"
                    || host == "::ffff:127.0.0.1")
            })
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for TCP and UDP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// An HTTP tracker on 127.0.0.1 that names `peer` to everyone who announces.
pub async fn tracker(peer: SocketAddr) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let SocketAddr::V4(v4) = peer else {
        panic!("the tracker names IPv4 peers")
    };
    let mut compact = v4.ip().octets().to_vec();
    compact.extend_from_slice(&v4.port().to_be_bytes());
    let mut body = b"d8:intervali30e5:peers6:".to_vec();
    body.extend_from_slice(&compact);
    body.push(b'e');
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let _ = s.read(&mut req).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (url, task)
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------- Transmission

pub struct Transmission {
    pub proc: Proc,
    pub rpc: u16,
    pub peer: u16,
    pub downloads: PathBuf,
}

impl Transmission {
    /// `encryption`: 0 allow plain, 1 prefer encryption (the default), 2 require it.
    pub async fn start(root: &Path, encryption: u8) -> Transmission {
        let daemon = need("transmission-daemon", "transmission-daemon");
        need("transmission-remote", "transmission-cli");
        let conf = root.join("transmission");
        let downloads = root.join("transmission-downloads");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(&downloads).unwrap();
        let (rpc, peer) = (free_port(), free_port());
        let settings = serde_json::json!({
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "port-forwarding-enabled": false,
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "peer-port": peer,
            "peer-port-random-on-start": false,
            "encryption": encryption,
            "rpc-enabled": true,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc,
            "rpc-authentication-required": false,
            "rpc-whitelist-enabled": false,
            "rpc-host-whitelist-enabled": false,
            "download-dir": downloads,
            "incomplete-dir-enabled": false,
            "watch-dir-enabled": false,
            "blocklist-enabled": false,
            "message-level": 2,
        });
        std::fs::write(conf.join("settings.json"), settings.to_string()).unwrap();
        let mut cmd = Command::new(daemon);
        cmd.arg("-f").arg("-g").arg(&conf);
        let t = Transmission {
            proc: Proc::spawn(cmd, root.join("transmission.log")),
            rpc,
            peer,
            downloads,
        };
        let started = Instant::now();
        while t.remote(&["-l"]).is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "transmission-daemon did not start:\n{}",
                t.proc.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        t
    }

    pub fn remote(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("transmission-remote")
            .arg(format!("127.0.0.1:{}", self.rpc))
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.peer))
    }

    pub fn info(&self) -> String {
        self.remote(&["-t", "1", "-i"]).unwrap_or_default()
    }

    pub fn complete(&self) -> bool {
        self.info().contains("Percent Done: 100%")
    }

    pub fn log(&self) -> String {
        format!("{}\n{}", self.info(), self.proc.log())
    }
}

// ---------------------------------------------------------------- qBittorrent

pub struct QBittorrent {
    pub proc: Proc,
    pub web: String,
    pub peer: u16,
    pub downloads: PathBuf,
    pub http: reqwest::Client,
}

impl QBittorrent {
    pub async fn start(root: &Path) -> QBittorrent {
        let bin = need("qbittorrent-nox", "qbittorrent-nox");
        let profile = root.join("qbittorrent");
        let downloads = root.join("qbittorrent-downloads");
        let conf = profile.join("qBittorrent/config");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(&downloads).unwrap();
        let (web, peer) = (free_port(), free_port());
        // Defaults, except: no DHT, local peer discovery, peer exchange or UPnP; sockets on
        // the loopback interface; the Web API open to this machine without a login.
        let ini = format!(
            "[LegalNotice]\nAccepted=true\n\n[BitTorrent]\nSession\\DHTEnabled=false\n\
             Session\\LSDEnabled=false\nSession\\PeXEnabled=false\nSession\\Port={peer}\n\
             Session\\Interface=lo\nSession\\InterfaceName=lo\nSession\\DefaultSavePath={}\n\
             Session\\QueueingSystemEnabled=false\n\n[Preferences]\nConnection\\UPnP=false\n\
             Connection\\PortRangeMin={peer}\nWebUI\\Port={web}\nWebUI\\Address=127.0.0.1\n\
             WebUI\\LocalHostAuth=false\nWebUI\\CSRFProtection=false\n\
             WebUI\\HostHeaderValidation=false\n",
            downloads.display()
        );
        std::fs::write(conf.join("qBittorrent.conf"), ini).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--profile={}", profile.display()))
            .arg(format!("--webui-port={web}"))
            .env("HOME", &profile);
        let q = QBittorrent {
            proc: Proc::spawn(cmd, root.join("qbittorrent.log")),
            web: format!("http://127.0.0.1:{web}/api/v2"),
            peer,
            downloads,
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        while q.get("app/version").await.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "qbittorrent-nox did not start:\n{}",
                q.proc.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        q
    }

    pub async fn get(&self, path: &str) -> Option<String> {
        let r = self
            .http
            .get(format!("{}/{path}", self.web))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    }

    /// POST as multipart/form-data (what `torrents/add` takes).
    pub async fn post(&self, path: &str, fields: &[(&str, &str, &[u8])]) -> String {
        let boundary = "hearthtestboundary7d3f";
        let mut body = Vec::new();
        for (name, filename, value) in fields {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            if filename.is_empty() {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
            } else {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                         Content-Type: application/x-bittorrent\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let r = self
            .http
            .post(format!("{}/{path}", self.web))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "qBittorrent {path}: {}",
            r.status()
        );
        r.text().await.unwrap()
    }

    /// The torrent's progress, 0..=1.
    pub async fn progress(&self, hash: &str) -> f64 {
        let info = self
            .get(&format!("torrents/info?hashes={hash}"))
            .await
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&info).unwrap_or_default();
        v[0]["progress"].as_f64().unwrap_or(0.0)
    }

    pub async fn done(&self, hash: &str) -> bool {
        self.progress(hash).await >= 1.0
    }

    /// Complete and checked: serving it.
    pub async fn seeding(&self, hash: &str) -> bool {
        let info = self
            .get(&format!("torrents/info?hashes={hash}"))
            .await
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&info).unwrap_or_default();
        let state = v[0]["state"].as_str().unwrap_or("");
        v[0]["progress"].as_f64() == Some(1.0) && matches!(state, "uploading" | "stalledUP")
    }

    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.peer))
    }

    /// Switches uTP off (`bittorrent_protocol` 1: TCP only) and checks that it took.
    #[allow(dead_code)] // the benchmark's libtorrent-over-TCP baseline; no test needs it
    pub async fn tcp_only(&self) {
        self.post(
            "app/setPreferences",
            &[("json", "", br#"{"bittorrent_protocol":1}"#)],
        )
        .await;
        let prefs = self.get("app/preferences").await.unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&prefs).unwrap_or_default();
        assert_eq!(
            v["bittorrent_protocol"], 1,
            "qBittorrent kept uTP on: {prefs}"
        );
    }
}

// ---------------------------------------------------------------- aria2

pub fn aria2(root: &Path, args: &[&str], log: &str) -> Proc {
    let mut cmd = Command::new(need("aria2c", "aria2"));
    cmd.args([
        "--no-conf=true",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--file-allocation=none",
        "--disable-ipv6=true",
        "--interface=127.0.0.1",
    ])
    .args(args);
    Proc::spawn(cmd, root.join(log))
}
