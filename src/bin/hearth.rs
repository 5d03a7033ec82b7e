//! `hearth`: runs a headless node (`hearth run`) and talks to a running one (every other
//! subcommand is a client of the node's HTTP API, found through `api.json` in the data dir).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hearth::api::types::{AddrRequest, PeerInfo, Profile, Settings, Status};
use hearth::client::{ApiFile, Client};
use hearth::config::{self, Config, Overrides};
use hearth::{http, Node};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "hearth",
    version,
    about = "Hearth: share knowledge peer to peer"
)]
struct Cli {
    /// Data directory (default: the XDG data dir, e.g. ~/.local/share/hearth).
    #[arg(long, global = true, env = "HEARTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node and serve the UI and API on 127.0.0.1.
    Run(RunArgs),
    /// Show this node's status.
    Status,
    /// List known peers.
    Peers,
    /// Show or change your profile.
    Profile {
        #[command(subcommand)]
        action: Option<ProfileAction>,
    },
    /// Connect to a peer by multiaddress.
    Connect { addr: String },
    /// Block a peer: drop its connections and refuse new ones.
    Block { peer_id: String },
    /// Unblock a peer.
    Unblock { peer_id: String },
    /// Manage bootstrap addresses (peers to join through).
    Bootstrap {
        #[command(subcommand)]
        action: BootstrapAction,
    },
    /// Print the address (with access token) to open the UI in a browser.
    Url,
}

#[derive(Args)]
struct RunArgs {
    /// Multiaddress to listen on for peers (repeatable).
    #[arg(long)]
    listen: Vec<String>,
    /// Multiaddress of a peer to join through (repeatable).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Address of the local UI and API (default 127.0.0.1:4711).
    #[arg(long)]
    http: Option<String>,
    /// Do not discover peers on the local network.
    #[arg(long)]
    no_mdns: bool,
    /// Display name to use.
    #[arg(long)]
    name: Option<String>,
    /// Folder holding the built UI (default: next to the binary, or ui/dist in a checkout).
    #[arg(long, env = "HEARTH_UI_DIR")]
    ui_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ProfileAction {
    /// Change your profile; fields not given stay as they are.
    Set {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        affiliation: Option<String>,
        #[arg(long)]
        bio: Option<String>,
    },
}

#[derive(Subcommand)]
enum BootstrapAction {
    List,
    Add { addr: String },
    Remove { addr: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    if let Command::Run(args) = cli.command {
        return run(cli.data_dir, args).await;
    }
    let data_dir = config::resolve_data_dir(cli.data_dir.as_deref())?;
    if let Command::Url = cli.command {
        println!("{}", ApiFile::read(&data_dir)?.browser_url());
        return Ok(());
    }
    let client = Client::for_data_dir(&data_dir)?;
    match cli.command {
        Command::Status => {
            let s: Status = client.get("/api/status").await?;
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
                out
            })
        }
        Command::Peers => {
            let peers: Vec<PeerInfo> = client.get("/api/peers").await?;
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
                        "{name:<24} {state:<20} {rtt:>9}  {}{blocked}\n",
                        p.peer_id
                    ));
                }
                out
            })
        }
        Command::Profile { action } => {
            let profile: Profile = match action {
                None => client.get("/api/profile").await?,
                Some(ProfileAction::Set {
                    name,
                    affiliation,
                    bio,
                }) => {
                    let mut p: Profile = client.get("/api/profile").await?;
                    if let Some(v) = name {
                        p.display_name = v;
                    }
                    if let Some(v) = affiliation {
                        p.affiliation = v;
                    }
                    if let Some(v) = bio {
                        p.bio = v;
                    }
                    client.put("/api/profile", &p).await?
                }
            };
            print(json, &profile, || {
                format!(
                    "name:        {}\naffiliation: {}\nbio:         {}\n",
                    profile.display_name, profile.affiliation, profile.bio
                )
            })
        }
        Command::Connect { addr } => {
            let () = client
                .post("/api/peers/connect", &AddrRequest { addr: addr.clone() })
                .await?;
            print(json, &serde_json::json!({"connected": addr}), || {
                format!("connected to {addr}\n")
            })
        }
        Command::Block { peer_id } => {
            let () = client
                .post(&format!("/api/peers/{peer_id}/block"), &())
                .await?;
            print(json, &serde_json::json!({"blocked": peer_id}), || {
                format!("blocked {peer_id}\n")
            })
        }
        Command::Unblock { peer_id } => {
            let () = client
                .delete(&format!("/api/peers/{peer_id}/block"))
                .await?;
            print(json, &serde_json::json!({"unblocked": peer_id}), || {
                format!("unblocked {peer_id}\n")
            })
        }
        Command::Bootstrap { action } => {
            let s: Settings = match action {
                BootstrapAction::List => client.get("/api/settings").await?,
                BootstrapAction::Add { addr } => {
                    client
                        .post("/api/settings/bootstrap", &AddrRequest { addr })
                        .await?
                }
                BootstrapAction::Remove { addr } => {
                    client
                        .post("/api/settings/bootstrap/remove", &AddrRequest { addr })
                        .await?
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
        Command::Run(_) | Command::Url => unreachable!("handled above"),
    }
}

fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", human());
    }
    Ok(())
}

/// Where the built UI is: the flag, next to an installed binary, or the checkout's ui/dist.
fn find_ui_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    if flag.is_some() {
        return flag;
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from));
    let mut candidates = Vec::new();
    if let Some(d) = exe_dir {
        candidates.push(d.join("../share/hearth/ui"));
        candidates.push(d.join("ui"));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/dist"));
    candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
}

async fn run(data_dir: Option<PathBuf>, args: RunArgs) -> anyhow::Result<()> {
    http::init_logging();
    let config = Config::load(Overrides {
        data_dir,
        listen: args.listen,
        bootstrap: args.bootstrap,
        no_mdns: args.no_mdns,
        display_name: args.name,
        http: args.http,
    })?;
    let data_dir = config.data_dir.clone();
    let (http_addr, http_fallback) = (config.http, config.http_is_default);
    let node = Node::start(config).await?;

    let listener = http::bind(http_addr, http_fallback)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve the UI on {http_addr}: {e}"))?;
    let local = listener.local_addr()?;
    let token = http::random_token();
    let ui_dir = find_ui_dir(args.ui_dir);
    if ui_dir.is_none() {
        tracing::warn!("the UI is not built; the API works, the browser shows a notice");
    }
    let router = http::router(node.api(), token.clone(), local, ui_dir);
    let cancel = CancellationToken::new();
    let server = tokio::spawn(http::serve(listener, router, cancel.clone()));

    let api_file = ApiFile {
        url: format!("http://{local}"),
        token,
        pid: std::process::id(),
    };
    api_file.write(&data_dir)?;
    println!("Hearth is running. Open {}", api_file.browser_url());
    println!("peer id: {}", node.peer_id());

    wait_for_signal().await;
    println!("stopping…");
    cancel.cancel();
    let _ = server.await;
    node.shutdown().await;
    let _ = std::fs::remove_file(data_dir.join(hearth::client::API_FILE));
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
