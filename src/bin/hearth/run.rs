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
    let _ = std::fs::remove_file(data_dir.join(hearth::server::client::API_FILE));
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
