//! `hearth`: runs a headless node (`hearth run`) and talks to a running one (every other
//! subcommand is a client of the node's HTTP API, found through `api.json` in the data dir).

mod catalog;
mod chat;
mod follows;
mod identity;
mod output;
mod peers;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hearth::config;
use hearth::server::client::{ApiFile, Client};

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
    Run(run::RunArgs),
    /// Print the address (with access token) to open the UI in a browser.
    Url,
    #[command(flatten)]
    Peers(peers::Command),
    #[command(flatten)]
    Catalog(catalog::Command),
    #[command(flatten)]
    Follows(follows::Command),
    #[command(flatten)]
    Chat(chat::Command),
    /// Export or import this node's identity (its key and peer id), sealed under a passphrase.
    #[command(subcommand)]
    Identity(identity::Command),
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
    let command = match cli.command {
        Command::Run(args) => return run::run(cli.data_dir, args).await,
        other => other,
    };
    let data_dir = config::resolve_data_dir(cli.data_dir.as_deref())?;
    let command = match command {
        Command::Identity(c) => return identity::run(&data_dir, c).await,
        other => other,
    };
    let client = match command {
        Command::Url => {
            println!("{}", ApiFile::read(&data_dir)?.browser_url());
            return Ok(());
        }
        _ => Client::for_data_dir(&data_dir)?,
    };
    match command {
        Command::Peers(c) => peers::run(&client, json, c).await,
        Command::Catalog(c) => catalog::run(&client, json, c).await,
        Command::Follows(c) => follows::run(&client, json, c).await,
        Command::Chat(c) => chat::run(&client, json, c).await,
        Command::Run(_) | Command::Url | Command::Identity(_) => unreachable!("handled above"),
    }
}
