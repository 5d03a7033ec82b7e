//! `hearth status`, `peers`, `doctor`, `profile`, `connect`, `invite`, `join`, `block`,
//! `unblock`, `bootstrap`: this node and its peers.

use clap::Subcommand;
use hearth::api::dto::{AddrRequest, JoinRequest, PeerIdRequest, Profile};
use hearth::server::client::Client;

use super::output::print;

#[derive(Subcommand)]
pub enum Command {
    /// Show this node's status.
    Status,
    /// List known peers.
    Peers,
    /// Explain how a peer is reached, or why it cannot be and what would fix it. Without a
    /// peer id: this node's NAT and relays, and every known peer not connected directly.
    Doctor { peer_id: Option<String> },
    /// Show or change your profile.
    Profile {
        #[command(subcommand)]
        action: Option<ProfileAction>,
    },
    /// Connect to a peer by multiaddress.
    Connect { addr: String },
    /// Print an invite to this node: text a friend pastes into `hearth join` or the app.
    Invite,
    /// Join a friend's node with the invite they gave you (quote it in the shell).
    Join { invite: String },
    /// Block a peer: drop its connections and refuse new ones.
    Block { peer_id: String },
    /// Unblock a peer.
    Unblock { peer_id: String },
    /// Manage bootstrap addresses (peers to join through).
    Bootstrap {
        #[command(subcommand)]
        action: BootstrapAction,
    },
}

#[derive(Subcommand)]
pub enum ProfileAction {
    /// Change your profile; fields not given stay as they are.
    Set {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        affiliation: Option<String>,
        #[arg(long)]
        bio: Option<String>,
    },
    /// Set your profile picture from an image file (JPEG, PNG, GIF or WebP, at most 10 MB;
    /// the node makes a 256x256 picture of it), or remove it with `--remove`.
    Picture {
        #[arg(required_unless_present = "remove")]
        file: Option<std::path::PathBuf>,
        #[arg(long, conflicts_with = "file")]
        remove: bool,
    },
}

#[derive(Subcommand)]
pub enum BootstrapAction {
    List,
    Add { addr: String },
    Remove { addr: String },
}

pub async fn run(client: &Client, json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Status => {
            let s = client.status().await?;
            print(json, &s, || {
                let name = if s.profile.display_name.is_empty() {
                    "(no name)"
                } else {
                    &s.profile.display_name
                };
                let mut out = format!(
                    "{name}\npeer id:   {}\nversion:   {}\npeers:     {} online, {} connected\nnat:       {}\nuptime:    {}s\nlisten:\n",
                    s.peer_id, s.version, s.peers_online, s.peers_connected, s.nat, s.uptime_secs
                );
                for a in &s.listen_addrs {
                    out.push_str(&format!("  {a}\n"));
                }
                if s.relay_reservations.is_empty() {
                    out.push_str("relays:    none holds a slot for this node\n");
                } else {
                    out.push_str(&format!("relays:    {}\n", s.relay_reservations.join(", ")));
                }
                let r = &s.relay_service;
                out.push_str(&format!(
                    "relaying:  {} ({} reservations, {} circuits; refused {} reservations, {} circuits)\n",
                    match (r.enabled, r.active) {
                        (false, _) => "off",
                        (true, false) => "on, waiting until others can reach this node",
                        (true, true) => "serving",
                    },
                    r.reservations,
                    r.circuits,
                    r.refused_reservations,
                    r.refused_circuits
                ));
                out
            })
        }
        Command::Peers => {
            let peers = client.list_peers().await?;
            print(json, &peers, || {
                if peers.is_empty() {
                    return "no peers known yet\n".into();
                }
                let mut out = String::new();
                for p in &peers {
                    let name = p
                        .profile
                        .as_ref()
                        .map(|p| p.display_name.as_str())
                        .filter(|n| !n.is_empty())
                        .unwrap_or("(unnamed)");
                    let link = p
                        .connection
                        .as_deref()
                        .map(|c| c.replace('_', "-"))
                        .unwrap_or_default();
                    let state = match (p.online, p.connected) {
                        (true, true) => "online",
                        (true, false) => "online (via others)",
                        _ => "offline",
                    };
                    let rtt = p
                        .rtt_ms
                        .map(|r| format!("{r:.1} ms"))
                        .unwrap_or_else(|| "-".into());
                    let blocked = if p.blocked { "  [blocked]" } else { "" };
                    out.push_str(&format!(
                        "{name:<24} {state:<20} {link:<12} {rtt:>9}  {}{blocked}\n",
                        p.peer_id
                    ));
                }
                out
            })
        }
        Command::Invite => {
            let invite = client.create_invite().await?;
            print(json, &invite, || {
                format!(
                    "{}\n\n{}\nIt carries {} address{}:\n{}",
                    invite.text,
                    invite.explanation,
                    invite.addrs.len(),
                    if invite.addrs.len() == 1 { "" } else { "es" },
                    invite
                        .addrs
                        .iter()
                        .map(|a| format!("  {a}\n"))
                        .collect::<String>()
                )
            })
        }
        Command::Join { invite } => {
            let joined = client.join(&JoinRequest { invite }).await?;
            print(json, &joined, || {
                let who = if joined.name.is_empty() {
                    joined.peer_id.clone()
                } else {
                    format!("{} ({})", joined.name, joined.peer_id)
                };
                let how = joined
                    .connection
                    .as_deref()
                    .map(|c| format!(" ({})", c.replace('_', "-")))
                    .unwrap_or_default();
                if joined.already_connected {
                    format!("already connected to {who}{how}\n")
                } else {
                    format!("connected to {who}{how}\n")
                }
            })
        }
        Command::Doctor { peer_id } => {
            let ids: Vec<String> = match peer_id {
                Some(id) => vec![id],
                None => client
                    .list_peers()
                    .await?
                    .into_iter()
                    .filter(|p| {
                        !p.blocked
                            && !matches!(
                                p.connection.as_deref(),
                                Some("direct" | "lan" | "hole_punched")
                            )
                    })
                    .map(|p| p.peer_id)
                    .take(16)
                    .collect(),
            };
            let mut all = Vec::new();
            for id in ids {
                all.push(client.doctor(&PeerIdRequest { peer_id: id }).await?);
            }
            if all.is_empty() {
                let s = client.status().await?;
                return print(json, &s, || {
                    format!(
                        "NAT: {}; relays holding a slot: {}\nevery known peer is connected directly\n",
                        s.nat,
                        if s.relay_reservations.is_empty() { "none".into() } else { s.relay_reservations.join(", ") }
                    )
                });
            }
            print(json, &all, || {
                let mut out = String::new();
                for d in &all {
                    out.push_str(&format!("{}: {}\n", d.peer_id, d.summary));
                    for f in &d.findings {
                        out.push_str(&format!("  - {f}\n"));
                    }
                    for f in &d.fixes {
                        out.push_str(&format!("  fix: {f}\n"));
                    }
                }
                out
            })
        }
        Command::Profile { action } => {
            let profile: Profile = match action {
                None => client.get_profile().await?,
                Some(ProfileAction::Set {
                    name,
                    affiliation,
                    bio,
                }) => {
                    let mut p: Profile = client.get_profile().await?;
                    if let Some(v) = name {
                        p.display_name = v;
                    }
                    if let Some(v) = affiliation {
                        p.affiliation = v;
                    }
                    if let Some(v) = bio {
                        p.bio = v;
                    }
                    client.set_profile(&p).await?
                }
                Some(ProfileAction::Picture { file, remove: _ }) => {
                    use base64::Engine as _;
                    let image = match file {
                        Some(path) => {
                            let bytes = std::fs::read(&path).map_err(|e| {
                                anyhow::anyhow!("cannot read {}: {e}", path.display())
                            })?;
                            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
                        }
                        None => None,
                    };
                    client
                        .set_avatar(&hearth::api::dto::AvatarRequest { image })
                        .await?
                }
            };
            print(json, &profile, || {
                format!(
                    "name:        {}\naffiliation: {}\nbio:         {}\npicture:     {}\n",
                    profile.display_name,
                    profile.affiliation,
                    profile.bio,
                    profile.avatar.as_deref().unwrap_or("none")
                )
            })
        }
        Command::Connect { addr } => {
            let () = client.connect(&AddrRequest { addr: addr.clone() }).await?;
            print(json, &serde_json::json!({"connected": addr}), || {
                format!("connected to {addr}\n")
            })
        }
        Command::Block { peer_id } => {
            let () = client
                .block_peer(&PeerIdRequest {
                    peer_id: peer_id.clone(),
                })
                .await?;
            print(json, &serde_json::json!({"blocked": peer_id}), || {
                format!("blocked {peer_id}\n")
            })
        }
        Command::Unblock { peer_id } => {
            let () = client
                .unblock_peer(&PeerIdRequest {
                    peer_id: peer_id.clone(),
                })
                .await?;
            print(json, &serde_json::json!({"unblocked": peer_id}), || {
                format!("unblocked {peer_id}\n")
            })
        }
        Command::Bootstrap { action } => {
            let s = match action {
                BootstrapAction::List => client.get_settings().await?,
                BootstrapAction::Add { addr } => {
                    client.add_bootstrap(&AddrRequest { addr }).await?
                }
                BootstrapAction::Remove { addr } => {
                    client.remove_bootstrap(&AddrRequest { addr }).await?
                }
            };
            print(json, &s.bootstrap, || {
                if s.bootstrap.is_empty() {
                    "no bootstrap addresses\n".into()
                } else {
                    s.bootstrap.iter().map(|a| format!("{a}\n")).collect()
                }
            })
        }
    }
}
