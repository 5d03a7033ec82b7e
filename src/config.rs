//! Node configuration: defaults, then `hearth.toml` in the data dir, then `HEARTH_*`
//! environment variables, then command-line flags (applied by the binaries through
//! [`Overrides`]). Later layers win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::api::dto::NotificationSettings;

/// Name of the configuration file inside the data dir.
pub const CONFIG_FILE: &str = "hearth.toml";
/// Default TCP and QUIC port for peer connections; if taken, an ephemeral port is used.
pub const DEFAULT_P2P_PORT: u16 = 4710;
/// Default port of the local HTTP API and UI; if taken, an ephemeral port is used.
pub const DEFAULT_HTTP_PORT: u16 = 4711;
/// Default TCP port of the BitTorrent engine; if taken, an ephemeral port is used.
pub const DEFAULT_BT_PORT: u16 = 4712;
/// Circuits the relay service carries at once by default (`relay_max_circuits`), and the
/// most it may be configured to carry (see `net::nat`).
pub const RELAY_MAX_CIRCUITS: usize = 32;
pub const RELAY_MAX_CIRCUITS_CEILING: usize = 1024;

/// Errors while loading or saving configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("no data directory: set HEARTH_DATA_DIR or pass --data-dir")]
    NoDataDir,
}

/// How presence (online/offline) is decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceConfig {
    /// How often connected peers are pinged; the RTTs feed the UI and, later, host election.
    pub ping_interval_ms: u64,
    /// How often this node announces itself (profile and addresses) to the network.
    pub announce_interval_ms: u64,
    /// A peer that is not connected and not heard from for this long is voted on again,
    /// and marked offline when the vote says so. Also bounds how long a kill goes unnoticed.
    pub offline_after_ms: u64,
    /// Fraction of answering peers that must report a peer unreachable before this node
    /// marks it offline (the disconnect vote).
    pub suspicion_ratio: f64,
    /// How long to wait for vote answers before counting the ones received.
    pub vote_timeout_ms: u64,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            ping_interval_ms: 5_000,
            announce_interval_ms: 10_000,
            offline_after_ms: 30_000,
            suspicion_ratio: 0.5,
            vote_timeout_ms: 2_000,
        }
    }
}

impl PresenceConfig {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }
    pub fn announce_interval(&self) -> Duration {
        Duration::from_millis(self.announce_interval_ms)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.suspicion_ratio > 0.0 && self.suspicion_ratio <= 1.0) {
            return Err(ConfigError::Invalid {
                name: "presence.suspicion_ratio",
                message: "must be in (0, 1]".into(),
            });
        }
        for (name, v) in [
            ("presence.ping_interval_ms", self.ping_interval_ms),
            ("presence.announce_interval_ms", self.announce_interval_ms),
            ("presence.offline_after_ms", self.offline_after_ms),
            ("presence.vote_timeout_ms", self.vote_timeout_ms),
        ] {
            if v < 50 {
                return Err(ConfigError::Invalid {
                    name,
                    message: "must be at least 50 ms".into(),
                });
            }
        }
        Ok(())
    }
}

/// `[catalog]` in `hearth.toml`: quotas on what other authors may fill (the defaults are
/// `catalog::default_quota`). Entries over them are refused and counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    pub max_entries_per_author: Option<u64>,
    pub max_bytes_per_author: Option<u64>,
    pub max_entries: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// Encrypted BitTorrent handshakes (MSE/PE), `bt_encryption` in `hearth.toml`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BtEncryption {
    /// Encrypted handshakes out (plain again for peers without them), both kinds in.
    #[default]
    Prefer,
    /// Only encrypted (RC4) connections.
    Require,
    /// Plain BitTorrent only.
    Off,
}

/// The contents of `hearth.toml`. Every field is optional: absent means "default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<Vec<String>>,
    pub bootstrap: Option<Vec<String>>,
    pub mdns: Option<bool>,
    pub display_name: Option<String>,
    pub http: Option<String>,
    pub presence: Option<PresenceConfig>,
    pub download_dir: Option<PathBuf>,
    pub bt_port: Option<u16>,
    /// Download speed limit of the BitTorrent engine, bytes per second (none by default).
    pub bt_download_limit_bps: Option<u32>,
    /// Upload speed limit of the BitTorrent engine, bytes per second (none by default).
    pub bt_upload_limit_bps: Option<u32>,
    /// Encrypted BitTorrent handshakes (MSE/PE): "prefer" (default), "require" or "off".
    pub bt_encryption: Option<BtEncryption>,
    /// BitTorrent over uTP as well as TCP (on by default).
    pub bt_utp: Option<bool>,
    /// Folders whose files are published automatically.
    pub shared_folders: Option<Vec<PathBuf>>,
    /// Serve circuit relay v2 for peers behind NAT (on by default; it only serves once
    /// AutoNAT finds this node publicly reachable).
    pub relay_service: Option<bool>,
    /// Circuits the relay service carries at once (32 by default, at most 1024); a node
    /// that serves a large community raises it.
    pub relay_max_circuits: Option<usize>,
    pub catalog: Option<CatalogConfig>,
    /// Which desktop notifications to show (`[notifications]`, see `NotificationSettings`).
    pub notifications: Option<NotificationSettings>,
    /// Closing the desktop window keeps Hearth running in the tray (on by default).
    pub close_to_tray: Option<bool>,
}

impl ConfigFile {
    /// Reads the file; a missing file is an empty configuration.
    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path,
                message: e.message().to_owned(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    pub fn save(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid {
            name: "config",
            message: e.to_string(),
        })?;
        crate::infra::fs::write_atomic(&path, text.as_bytes())
            .map_err(|source| ConfigError::Write { path, source })
    }
}

/// Values given on the command line (or by a shell); `None` leaves the lower layers alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Vec<String>,
    pub bootstrap: Vec<String>,
    pub no_mdns: bool,
    pub display_name: Option<String>,
    pub http: Option<String>,
    pub download_dir: Option<PathBuf>,
    pub bt_port: Option<u16>,
}

/// The resolved configuration a node runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: Vec<Multiaddr>,
    /// True when `listen` is the default, so a taken port may fall back to an ephemeral one.
    pub listen_is_default: bool,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    /// Display name to set on start (used when the profile has none yet, or when given
    /// explicitly by flag or env).
    pub display_name: Option<String>,
    pub http: SocketAddr,
    pub http_is_default: bool,
    pub presence: PresenceConfig,
    /// Where downloads are written (nothing is ever written outside it).
    pub download_dir: PathBuf,
    /// TCP port of the BitTorrent engine; 0 = any free port.
    pub bt_port: u16,
    pub bt_port_is_default: bool,
    pub bt_download_limit_bps: Option<u32>,
    pub bt_upload_limit_bps: Option<u32>,
    pub bt_encryption: BtEncryption,
    pub bt_utp: bool,
    pub shared_folders: Vec<PathBuf>,
    /// Serve circuit relay v2 for others (see `ConfigFile::relay_service`).
    pub relay_service: bool,
    /// Circuits the relay service carries at once.
    pub relay_max_circuits: usize,
    /// Catalog quotas given in `hearth.toml` (the rest are the defaults).
    pub catalog: CatalogConfig,
    pub notifications: NotificationSettings,
    pub close_to_tray: bool,
    /// Unlocks chat at start (from `HEARTH_PASSPHRASE`, or the first line of the file
    /// `HEARTH_PASSPHRASE_FILE` names); never read from or written to the data dir.
    pub chat_passphrase: Option<Secret>,
}

/// A secret string: zeroed when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(zeroize::Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Config {
    /// The address the BitTorrent engine listens on: loopback when the peer-to-peer
    /// listeners are all on loopback, every interface otherwise.
    pub fn bt_listen_ip(&self) -> std::net::IpAddr {
        use libp2p::multiaddr::Protocol;
        let loopback_only = self.listen.iter().all(|a| {
            a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_loopback(),
                Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            })
        });
        if loopback_only {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        }
    }

    /// Where files uploaded through the UI are kept; always a shared folder.
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

/// The default data directory (XDG data dir on Linux).
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Hearth", "hearth").map(|d| d.data_dir().to_path_buf())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_list(name: &str) -> Option<Vec<String>> {
    env(name).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn parse_addrs(name: &'static str, list: &[String]) -> Result<Vec<Multiaddr>, ConfigError> {
    list.iter()
        .map(|s| {
            s.parse::<Multiaddr>().map_err(|e| ConfigError::Invalid {
                name,
                message: format!("{s:?}: {e}"),
            })
        })
        .collect()
}

/// Resolves the data dir alone (flags, then env, then the XDG default).
pub fn resolve_data_dir(flag: Option<&Path>) -> Result<PathBuf, ConfigError> {
    flag.map(Path::to_path_buf)
        .or_else(|| env("HEARTH_DATA_DIR").map(PathBuf::from))
        .or_else(default_data_dir)
        .ok_or(ConfigError::NoDataDir)
}

impl Config {
    /// Builds the configuration from every layer. Creates the data dir if needed.
    pub fn load(overrides: Overrides) -> Result<Self, ConfigError> {
        let data_dir = resolve_data_dir(overrides.data_dir.as_deref())?;
        std::fs::create_dir_all(&data_dir).map_err(|source| ConfigError::Write {
            path: data_dir.clone(),
            source,
        })?;
        let file = ConfigFile::load(&data_dir)?;

        let listen_given = (!overrides.listen.is_empty())
            .then_some(overrides.listen)
            .or_else(|| env_list("HEARTH_LISTEN"))
            .or(file.listen);
        let listen_is_default = listen_given.is_none();
        let listen = listen_given.unwrap_or_else(|| {
            vec![
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}"),
                format!("/ip4/0.0.0.0/udp/{DEFAULT_P2P_PORT}/quic-v1"),
            ]
        });
        let mut bootstrap = file.bootstrap.unwrap_or_default();
        bootstrap.extend(env_list("HEARTH_BOOTSTRAP").unwrap_or_default());
        bootstrap.extend(overrides.bootstrap);
        bootstrap.dedup();

        let mdns = if overrides.no_mdns {
            false
        } else if let Some(v) = env("HEARTH_MDNS") {
            !matches!(v.as_str(), "0" | "false" | "off" | "no")
        } else {
            file.mdns.unwrap_or(true)
        };
        let display_name = overrides
            .display_name
            .or_else(|| env("HEARTH_NAME"))
            .or(file.display_name);
        let http_given = overrides.http.or_else(|| env("HEARTH_HTTP")).or(file.http);
        let http_is_default = http_given.is_none();
        let http = match http_given {
            Some(s) => s.parse().map_err(|e| ConfigError::Invalid {
                name: "http",
                message: format!("{s:?}: {e}"),
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT)),
        };
        let presence = file.presence.unwrap_or_default();
        presence.validate()?;
        let download_dir = overrides
            .download_dir
            .or_else(|| env("HEARTH_DOWNLOAD_DIR").map(PathBuf::from))
            .or(file.download_dir)
            .unwrap_or_else(|| data_dir_downloads(&data_dir));
        let bt_given = match overrides.bt_port {
            Some(p) => Some(p),
            None => match env("HEARTH_BT_PORT") {
                Some(v) => Some(v.parse().map_err(|e| ConfigError::Invalid {
                    name: "bt_port",
                    message: format!("{v:?}: {e}"),
                })?),
                None => file.bt_port,
            },
        };

        Ok(Self {
            listen: parse_addrs("listen", &listen)?,
            listen_is_default,
            bootstrap: parse_addrs("bootstrap", &bootstrap)?,
            mdns,
            display_name,
            http,
            http_is_default,
            presence,
            download_dir,
            bt_port: bt_given.unwrap_or(DEFAULT_BT_PORT),
            bt_port_is_default: bt_given.is_none(),
            bt_download_limit_bps: file.bt_download_limit_bps,
            bt_upload_limit_bps: file.bt_upload_limit_bps,
            bt_encryption: file.bt_encryption.unwrap_or_default(),
            bt_utp: file.bt_utp.unwrap_or(true),
            shared_folders: file.shared_folders.unwrap_or_default(),
            relay_service: file.relay_service.unwrap_or(true),
            relay_max_circuits: match file.relay_max_circuits {
                None => RELAY_MAX_CIRCUITS,
                Some(n) if (1..=RELAY_MAX_CIRCUITS_CEILING).contains(&n) => n,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "relay_max_circuits",
                        message: format!("must be between 1 and {}", RELAY_MAX_CIRCUITS_CEILING),
                    })
                }
            },
            catalog: file.catalog.unwrap_or_default(),
            notifications: file.notifications.unwrap_or_default(),
            close_to_tray: file.close_to_tray.unwrap_or(true),
            chat_passphrase: passphrase_from_env()?,
            data_dir,
        })
    }

    /// A configuration for tests and embedding: loopback only, ephemeral ports, no mDNS.
    pub fn ephemeral(data_dir: PathBuf) -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("static multiaddr")],
            listen_is_default: false,
            bootstrap: Vec::new(),
            mdns: false,
            display_name: None,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_is_default: false,
            presence: PresenceConfig::default(),
            download_dir: data_dir_downloads(&data_dir),
            bt_port: 0,
            bt_port_is_default: false,
            bt_download_limit_bps: None,
            bt_upload_limit_bps: None,
            bt_encryption: BtEncryption::Prefer,
            bt_utp: true,
            shared_folders: Vec::new(),
            relay_service: true,
            relay_max_circuits: RELAY_MAX_CIRCUITS,
            catalog: CatalogConfig::default(),
            notifications: NotificationSettings::default(),
            close_to_tray: true,
            chat_passphrase: None,
            data_dir,
        }
    }
}

fn passphrase_from_env() -> Result<Option<Secret>, ConfigError> {
    if let Some(p) = std::env::var_os("HEARTH_PASSPHRASE") {
        return Ok(Some(Secret::new(p.to_string_lossy().into_owned())));
    }
    let Some(path) = std::env::var_os("HEARTH_PASSPHRASE_FILE").map(PathBuf::from) else {
        return Ok(None);
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path, source })?,
    );
    Ok(Some(Secret::new(
        text.lines().next().unwrap_or_default().to_owned(),
    )))
}

fn data_dir_downloads(data_dir: &Path) -> PathBuf {
    data_dir.join("downloads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_are_used_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "listen = [\"/ip4/127.0.0.1/tcp/5000\"]\nmdns = false\ndisplay_name = \"From file\"\n\
             relay_service = false\n[presence]\noffline_after_ms = 1500\n",
        )
        .unwrap();
        let cfg = Config::load(Overrides {
            data_dir: Some(dir.path().into()),
            display_name: Some("From flag".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            cfg.listen,
            vec!["/ip4/127.0.0.1/tcp/5000".parse::<Multiaddr>().unwrap()]
        );
        assert!(!cfg.listen_is_default);
        assert!(!cfg.mdns);
        assert!(!cfg.relay_service);
        assert_eq!(cfg.display_name.as_deref(), Some("From flag"));
        assert_eq!(cfg.presence.offline_after_ms, 1500);
        assert_eq!(
            cfg.presence.ping_interval_ms,
            PresenceConfig::default().ping_interval_ms
        );
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "lisen = []\n").unwrap();
        let err = Config::load(Overrides {
            data_dir: Some(dir.path().into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");

        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "bootstrap = [\"not an addr\"]\n",
        )
        .unwrap();
        let err = Config::load(Overrides {
            data_dir: Some(dir.path().into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "bootstrap",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn saved_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile {
            bootstrap: Some(vec!["/ip4/10.0.0.1/tcp/4710".into()]),
            ..Default::default()
        };
        file.save(dir.path()).unwrap();
        assert_eq!(ConfigFile::load(dir.path()).unwrap(), file);
    }
}
