//! `hearth follow`, `unfollow`, `follows`, `mirror`: following peers and mirroring them.

use clap::Subcommand;
use hearth::api::dto::{Follow, MirrorRequest, PeerIdRequest};
use hearth::server::client::Client;

use super::output::{bytes, print};

#[derive(Subcommand)]
pub enum Command {
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
}

pub async fn run(client: &Client, json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Follow { peer_id } => {
            let list: Vec<Follow> = client.follow(&PeerIdRequest { peer_id }).await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Unfollow { peer_id } => {
            let list: Vec<Follow> = client.unfollow(&PeerIdRequest { peer_id }).await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Follows => {
            let list: Vec<Follow> = client.list_follows().await?;
            print(json, &list, || follows_text(&list))
        }
        Command::Mirror { state, peer_id } => {
            let list: Vec<Follow> = client
                .set_mirror(&MirrorRequest {
                    peer_id,
                    on: state == "on",
                })
                .await?;
            print(json, &list, || follows_text(&list))
        }
    }
}

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
