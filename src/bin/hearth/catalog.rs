//! `hearth share`, `unshare`, `search`, `get`, `downloads`, `holders`: publishing, finding
//! and fetching resources.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hearth::api::dto::{
    ContentIdRequest, Download, DownloadRequest, DownloadState, PublishRequest, ResourceKind,
    SearchRequest, SortOrder,
};
use hearth::server::client::Client;

use super::output::{bytes, print, short};

#[derive(Subcommand)]
pub enum Command {
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
}

#[derive(Args)]
pub struct ShareArgs {
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
pub struct SearchArgs {
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
pub struct GetArgs {
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

pub async fn run(client: &Client, json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Share(a) => {
            let path = std::path::absolute(&a.path)?;
            let req = PublishRequest {
                path: path.display().to_string(),
                title: a.title,
                description: a.description,
                kind: a.kind,
                tags: a.tags,
            };
            let r = client.publish(&req).await?;
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
                .unpublish(&ContentIdRequest {
                    content_id: content_id.clone(),
                })
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
            let r = client.search(&req).await?;
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
            let mut d: Download = client.start_download(&req).await?;
            if !a.no_wait {
                d = follow_download(client, d, json).await?;
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
            let list: Vec<Download> = client.list_downloads().await?;
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
                        ) + &d
                            .note
                            .as_ref()
                            .map(|n| format!("    {n}\n"))
                            .unwrap_or_default()
                    })
                    .collect()
            })
        }
        Command::Holders { content_id } => {
            let list: Vec<hearth::api::dto::Holder> = client
                .list_holders(&ContentIdRequest {
                    content_id: content_id.trim().into(),
                })
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
    }
}

/// Polls a download until it completes or fails, drawing a progress bar on a terminal.
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
            ) + &d
                .note
                .as_ref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default();
            if tty {
                eprint!("\r{line}");
                let _ = std::io::stderr().flush();
            } else if line != last_line {
                eprintln!("{line}");
            }
            last_line = line;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let list: Vec<Download> = client.list_downloads().await?;
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
