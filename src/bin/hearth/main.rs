//! `hearth`: runs a headless node (`hearth run`) and talks to a running one (every other
//! subcommand is a client of the node's HTTP API, found through `api.json` in the data dir).

mod chat;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hearth::api::types::{
    AddrRequest, ContentIdRequest, Download, DownloadRequest, DownloadState, Follow, MirrorRequest,
    PeerIdRequest, PeerInfo, Profile, PublishRequest, Resource, ResourceKind, SearchRequest,
    SearchResult, Settings, SortOrder, Status,
};
use hearth::client::{ApiFile, Client};
use hearth::config::{self, Config, Overrides};
use hearth::infra::logging::init_logging;
use hearth::infra::token::random_token;
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
    /// Publish a file or folder from this disk.
    Share(ShareArgs),
    /// Retract one of your resources (the file stays on disk).
    Unshare { content_id: String },
    /// Search the network's catalog (no query: newest first).
    Search(SearchArgs),
    /// Download a resource by content id (or a magnet URI), showing progress.
    Get(GetArgs),
    /// List downloads.
    Downloads,
    /// Who holds a copy of a resource (and which holders are mirrors).
    Holders { content_id: String },
    /// Follow a peer: its catalog is fetched from it eagerly.
    Follow { peer_id: String },
    /// Stop following a peer (deletes its mirror copies).
    Unfollow { peer_id: String },
    /// List the peers you follow.
    Follows,
    /// Mirror a peer (`on`: download and seed everything it publishes, within the quota;
    /// follows it too) or stop (`off`: deletes its mirror copies).
    Mirror {
        #[arg(value_parser = ["on", "off"])]
        state: String,
        peer_id: String,
    },
    /// Unlock chat (passphrase from HEARTH_PASSPHRASE or the first line of stdin).
    Unlock,
    /// Group chat rooms.
    Room {
        #[command(subcommand)]
        action: chat::RoomAction,
    },
    /// Direct messages.
    Dm {
        #[command(subcommand)]
        action: chat::DmAction,
    },
}

#[derive(Args)]
struct ShareArgs {
    path: PathBuf,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// paper, dataset, video, audio, image or other (default: guessed from the file type).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<ResourceKind>,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
}

#[derive(Args)]
struct SearchArgs {
    /// Words to look for (prefix match on the last one).
    query: Vec<String>,
    /// Only this kind (repeatable).
    #[arg(long, value_parser = parse_kind)]
    kind: Vec<ResourceKind>,
    /// Only resources a holder has online.
    #[arg(long)]
    available: bool,
    /// Only this publisher (peer id).
    #[arg(long)]
    author: Option<String>,
    /// Newest first instead of best match first.
    #[arg(long)]
    newest: bool,
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

#[derive(Args)]
struct GetArgs {
    /// A content id from `hearth search`, or a magnet URI.
    id: String,
    /// A BitTorrent peer (ip:port) to ask besides known holders (repeatable).
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// Start the download and return without waiting for it to finish.
    #[arg(long)]
    no_wait: bool,
}

fn parse_kind(s: &str) -> Result<ResourceKind, String> {
    ResourceKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s.to_ascii_lowercase())
        .ok_or_else(|| {
            format!("unknown kind {s:?}: use paper, dataset, video, audio, image or other")
        })
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
    /// Folder downloads are saved to (default: downloads/ in the data dir).
    #[arg(long)]
    download_dir: Option<PathBuf>,
    /// TCP port of the BitTorrent engine (default 4712; 0 = any).
    #[arg(long)]
    bt_port: Option<u16>,
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
        Command::Unlock => chat::unlock(&client, json).await,
        Command::Room { action } => chat::room(&client, json, action).await,
        Command::Dm { action } => chat::dm(&client, json, action).await,
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
        Command::Share(a) => {
            let path = std::path::absolute(&a.path)?;
            let req = PublishRequest {
                path: path.display().to_string(),
                title: a.title,
                description: a.description,
                kind: a.kind,
                tags: a.tags,
            };
            let r: Resource = client.post("/api/resources/publish", &req).await?;
            print(json, &r, || {
                format!(
                    "published {}
content id: {}
magnet:     {}
",
                    r.title, r.content_id, r.magnet
                )
            })
        }
        Command::Unshare { content_id } => {
            let () = client
                .post(
                    "/api/resources/unpublish",
                    &ContentIdRequest {
                        content_id: content_id.clone(),
                    },
                )
                .await?;
            print(
                json,
                &serde_json::json!({"unpublished": content_id}),
                || {
                    format!(
                        "unpublished {content_id}
"
                    )
                },
            )
        }
        Command::Search(a) => {
            let req = SearchRequest {
                text: a.query.join(" "),
                kinds: a.kind,
                author: a.author,
                available_only: a.available,
                sort: if a.newest {
                    SortOrder::Newest
                } else {
                    SortOrder::Relevance
                },
                offset: 0,
                limit: a.limit,
            };
            let r: SearchResult = client.post("/api/search", &req).await?;
            print(json, &r, || {
                let mut out = String::new();
                for item in &r.items {
                    let who = item
                        .author_name
                        .clone()
                        .unwrap_or_else(|| short(&item.author));
                    let avail = if item.available {
                        format!("{} online", item.holders_online)
                    } else {
                        "unavailable".into()
                    };
                    out.push_str(&format!(
                        "{}  {:<7} {:>9}  {:<12} {}  ({who})
",
                        item.content_id,
                        item.kind.as_str(),
                        bytes(item.size),
                        avail,
                        item.title
                    ));
                }
                let more = if r.total_is_lower_bound { "+" } else { "" };
                out.push_str(&format!(
                    "{} of {}{more} results ({:.1} ms)
",
                    r.items.len(),
                    r.total,
                    r.took_ms
                ));
                out
            })
        }
        Command::Get(a) => {
            let req = if a.id.starts_with("magnet:") {
                DownloadRequest {
                    magnet: Some(a.id.clone()),
                    peers: a.peers,
                    ..Default::default()
                }
            } else {
                DownloadRequest {
                    content_id: Some(a.id.clone()),
                    peers: a.peers,
                    ..Default::default()
                }
            };
            let mut d: Download = client.post("/api/downloads", &req).await?;
            if !a.no_wait {
                d = follow_download(&client, d, json).await?;
            }
            print(json, &d, || {
                format!(
                    "{}: {:?}
saved to {}
",
                    d.title, d.state, d.path
                )
            })?;
            if d.state == DownloadState::Failed {
                anyhow::bail!(
                    "download failed: {}",
                    d.error.unwrap_or_else(|| "unknown error".into())
                );
            }
            Ok(())
        }
        Command::Downloads => {
            let list: Vec<Download> = client.get("/api/downloads").await?;
            print(json, &list, || {
                if list.is_empty() {
                    return "no downloads
"
                    .into();
                }
                list.iter()
                    .map(|d| {
                        format!(
                            "{}  {:<11} {:>5.1}%  {:>9}/s  {} peers  {}
",
                            d.content_id,
                            format!("{:?}", d.state).to_lowercase(),
                            d.progress * 100.0,
                            bytes(d.down_bps),
                            d.peers,
                            d.title
                        )
                    })
                    .collect()
            })
        }
        Command::Holders { content_id } => {
            let list: Vec<hearth::api::types::Holder> = client
                .get(&format!("/api/resources/{}/holders", content_id.trim()))
                .await?;
            print(json, &list, || {
                if list.is_empty() {
                    return "no known holder\n".into();
                }
                let online = list.iter().filter(|h| h.online).count();
                let mut out = format!("{} holders, {online} online\n", list.len());
                for h in &list {
                    let mut marks = vec![if h.online { "online" } else { "offline" }];
                    if h.mirror {
                        marks.push("mirror");
                    }
                    if h.is_self {
                        marks.push("you");
                    }
                    out.push_str(&format!(
                        "{}  {:<20}  {}\n",
                        h.peer_id,
                        h.name.as_deref().unwrap_or("-"),
                        marks.join(", ")
                    ));
                }
                out
            })
        }
        Command::Follow { peer_id } => {
            let list: Vec<Follow> = client
                .post("/api/follows", &PeerIdRequest { peer_id })
                .await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Unfollow { peer_id } => {
            let list: Vec<Follow> = client
                .post("/api/follows/remove", &PeerIdRequest { peer_id })
                .await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Follows => {
            let list: Vec<Follow> = client.get("/api/follows").await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Mirror { state, peer_id } => {
            let list: Vec<Follow> = client
                .post(
                    "/api/follows/mirror",
                    &MirrorRequest {
                        peer_id,
                        on: state == "on",
                    },
                )
                .await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Run(_) | Command::Url => unreachable!("handled above"),
    }
}

/// Polls a download until it completes or fails, drawing a progress bar on a terminal.
fn follows_text(list: &[Follow]) -> String {
    if list.is_empty() {
        return "you follow no one\n".into();
    }
    list.iter()
        .map(|f| {
            let mirror = if f.mirror {
                format!(
                    "mirror: {} items, {}",
                    f.mirrored_items,
                    bytes(f.mirrored_bytes)
                )
            } else {
                "no mirror".into()
            };
            format!(
                "{}  {:<20}  {:<7}  {mirror}\n",
                f.peer_id,
                f.name.as_deref().unwrap_or("-"),
                if f.online { "online" } else { "offline" }
            )
        })
        .collect()
}

async fn follow_download(
    client: &Client,
    mut d: Download,
    quiet: bool,
) -> anyhow::Result<Download> {
    use std::io::{IsTerminal, Write};
    let tty = !quiet && std::io::stderr().is_terminal();
    let mut last_line = String::new();
    loop {
        if matches!(d.state, DownloadState::Complete | DownloadState::Failed) {
            break;
        }
        if !quiet {
            const WIDTH: usize = 30;
            let filled = ((d.progress.clamp(0.0, 1.0)) * WIDTH as f64) as usize;
            let eta = d
                .eta_secs
                .map(|s| format!("{}:{:02}", s / 60, s % 60))
                .unwrap_or_else(|| "-".into());
            let line = format!(
                "[{}{}] {:>5.1}%  {:>9}/s  {} peers  eta {eta}",
                "#".repeat(filled),
                "-".repeat(WIDTH - filled),
                d.progress * 100.0,
                bytes(d.down_bps),
                d.peers
            );
            if tty {
                eprint!("\r{line}");
                let _ = std::io::stderr().flush();
            } else if line != last_line {
                eprintln!("{line}");
            }
            last_line = line;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let list: Vec<Download> = client.get("/api/downloads").await?;
        d = list
            .into_iter()
            .find(|x| x.content_id == d.content_id)
            .ok_or_else(|| anyhow::anyhow!("the download was cancelled"))?;
    }
    if tty {
        eprintln!();
    }
    Ok(d)
}

fn short(peer: &str) -> String {
    let tail: String = peer
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string_pretty(value)? + "\n"
    } else {
        human()
    };
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // The reader went away (`hearth search | head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
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
    init_logging();
    let config = Config::load(Overrides {
        data_dir,
        listen: args.listen,
        bootstrap: args.bootstrap,
        no_mdns: args.no_mdns,
        display_name: args.name,
        http: args.http,
        download_dir: args.download_dir,
        bt_port: args.bt_port,
    })?;
    let data_dir = config.data_dir.clone();
    let (http_addr, http_fallback) = (config.http, config.http_is_default);
    let node = Node::start(config).await?;

    let listener = http::bind(http_addr, http_fallback)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve the UI on {http_addr}: {e}"))?;
    let local = listener.local_addr()?;
    let token = random_token();
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
