//! `hearth run`: a headless node serving the UI and the API on loopback.

use std::path::PathBuf;

use clap::Args;
use hearth::config::{Config, Overrides};
use hearth::infra::logging::init_logging;
use hearth::infra::token::random_token;
use hearth::server::client::ApiFile;
use hearth::server::http;
use hearth::Node;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct RunArgs {
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
    /// Allow `--http` on an address other machines can reach. Anyone who gets the access
    /// token then controls this node, and the traffic is not encrypted.
    #[arg(long)]
    http_allow_remote: bool,
}

/// Refuses an API address other machines can reach unless `allow_remote`; with it, warns.
fn check_http_addr(addr: std::net::SocketAddr, allow_remote: bool) -> anyhow::Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !allow_remote {
        anyhow::bail!(
            "refusing to serve the UI and API on {addr}, which other machines can reach: \
             anyone who learns the access token controls this node, and HTTP is not \
             encrypted. Use a loopback address (127.0.0.1), or add --http-allow-remote if \
             you really mean it"
        );
    }
    let warning = format!(
        "WARNING: the UI and API are served on {addr}, reachable from other machines, over \
         unencrypted HTTP. Anyone who learns the access token controls this node."
    );
    eprintln!("{warning}");
    tracing::warn!("{warning}");
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

pub async fn run(data_dir: Option<PathBuf>, args: RunArgs) -> anyhow::Result<()> {
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
    check_http_addr(http_addr, args.http_allow_remote)?;
    let node = Node::start(config).await?;

    let listener = http::bind(http_addr, http_fallback)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve the UI on {http_addr}: {e}"))?;
    let local = listener.local_addr()?;
    // A restart keeps the token, so the open browser tabs keep working.
    let token = std::env::var(RESTART_TOKEN)
        .ok()
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(random_token);
    std::env::remove_var(RESTART_TOKEN);
    let ui_dir = find_ui_dir(args.ui_dir);
    if ui_dir.is_none() {
        tracing::warn!("the UI is not built; the API works, the browser shows a notice");
    }
    let router = http::router(node.api(), token.clone(), local, ui_dir);
    let cancel = CancellationToken::new();
    let server = tokio::spawn(http::serve(listener, router, cancel.clone()));

    let api_file = ApiFile {
        url: format!("http://{local}"),
        token: token.clone(),
        pid: std::process::id(),
    };
    api_file.write(&data_dir)?;
    println!("Hearth is running. Open {}", api_file.browser_url());
    println!("peer id: {}", node.peer_id());

    let api = node.api();
    let restart = tokio::select! {
        _ = wait_for_signal() => false,
        _ = api.restart_requested() => true,
    };
    println!(
        "{}",
        if restart {
            "restarting…"
        } else {
            "stopping…"
        }
    );
    cancel.cancel();
    let _ = server.await;
    node.shutdown().await;
    let _ = std::fs::remove_file(data_dir.join(hearth::server::client::API_FILE));
    if restart {
        return Err(restart_in_place(local, &token));
    }
    Ok(())
}

/// Carries the API token from a process to the one a restart starts.
const RESTART_TOKEN: &str = "HEARTH_RESTART_TOKEN";

/// Starts this program again in this process, with the same arguments, the UI on the same
/// address and the same token (so the open UI reconnects), once the node has stopped.
/// Returns only on failure.
fn restart_in_place(local: std::net::SocketAddr, token: &str) -> anyhow::Error {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut skip = false;
    for arg in std::env::args_os().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if arg == "--http" {
            skip = true;
            continue;
        }
        if arg.to_string_lossy().starts_with("--http=") {
            continue;
        }
        args.push(arg);
    }
    args.push("--http".into());
    args.push(local.to_string().into());
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return anyhow::anyhow!("cannot restart: {e}"),
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(exe)
            .args(args)
            .env(RESTART_TOKEN, token)
            .exec();
        anyhow::anyhow!("cannot restart: {e}")
    }
    #[cfg(not(unix))]
    {
        match std::process::Command::new(exe)
            .args(args)
            .env(RESTART_TOKEN, token)
            .spawn()
        {
            Ok(_) => std::process::exit(0),
            Err(e) => anyhow::anyhow!("cannot restart: {e}"),
        }
    }
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
