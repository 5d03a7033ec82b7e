//! `hearth unlock`, `hearth room ...`, `hearth dm ...` and `hearth requests ...`: chat from
//! the command line, as a client of the running node's API.

use std::io::BufRead;

use clap::Subcommand;
use hearth::api::dto::{
    AnswerRequest, ChatMessage, ChatRequests, ChatStatus, CreateRoomRequest, DmConversation,
    DmHistoryRequest, HistoryPage, HistoryRequest, InviteRequest, MessageKind, MessageState,
    PassphraseRequest, PeerIdRequest, RenameRoomRequest, RoomIdRequest, RoomInfo, SendDmRequest,
    SendMessageRequest,
};
use hearth::server::client::Client;

use super::output::{print, short};

#[derive(Subcommand)]
pub enum Command {
    /// Unlock chat (passphrase from HEARTH_PASSPHRASE or the first line of stdin).
    Unlock,
    /// Group chat rooms.
    Room {
        #[command(subcommand)]
        action: RoomAction,
    },
    /// Direct messages.
    Dm {
        #[command(subcommand)]
        action: DmAction,
    },
    /// Messages and room invitations from people you have not talked with yet.
    Requests {
        #[command(subcommand)]
        action: Option<RequestAction>,
    },
}

#[derive(Subcommand)]
pub enum RequestAction {
    /// List the waiting requests (the default).
    List,
    /// Accept: the peer's messages become a conversation, its rooms are joined.
    Accept { peer_id: String },
    /// Decline: drop them, and what the peer sends later, until you write to it.
    Decline { peer_id: String },
}

pub async fn run(client: &Client, json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Unlock => unlock(client, json).await,
        Command::Room { action } => room(client, json, action).await,
        Command::Dm { action } => dm(client, json, action).await,
        Command::Requests { action } => requests(client, json, action).await,
    }
}

async fn requests(
    client: &Client,
    json: bool,
    action: Option<RequestAction>,
) -> anyhow::Result<()> {
    let (peer_id, accept) = match action.unwrap_or(RequestAction::List) {
        RequestAction::List => {
            let list: ChatRequests = client.list_requests().await?;
            return print(json, &list, || {
                let mut out = String::new();
                if list.requests.is_empty() {
                    out.push_str("no requests\n");
                }
                for r in &list.requests {
                    let name = r.display_name.clone().unwrap_or_else(|| short(&r.peer_id));
                    out.push_str(&format!(
                        "{name:<24} {:>3} messages {:>2} invitations  {}\n",
                        r.messages.len(),
                        r.invites.len(),
                        r.peer_id
                    ));
                    for m in &r.messages {
                        out.push_str(&format!("    {}\n", m.body));
                    }
                    for i in &r.invites {
                        out.push_str(&format!("    invites you to #{}\n", i.name));
                    }
                }
                if list.refused + list.dropped > 0 {
                    out.push_str(&format!(
                        "{} refused (too many requests), {} dropped (declined peers)\n",
                        list.refused, list.dropped
                    ));
                }
                out
            });
        }
        RequestAction::Accept { peer_id } => (peer_id, true),
        RequestAction::Decline { peer_id } => (peer_id, false),
    };
    let () = client
        .answer_request(&AnswerRequest {
            peer_id: peer_id.clone(),
            accept,
        })
        .await?;
    let word = if accept { "accepted" } else { "declined" };
    print(json, &serde_json::json!({ word: peer_id }), || {
        format!("{word} {peer_id}\n")
    })
}

#[derive(Subcommand)]
pub enum RoomAction {
    /// List your rooms.
    List,
    /// Create a room, inviting the given peers.
    Create {
        name: String,
        /// A peer id to invite (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Invite a peer to a room.
    Invite { room: String, peer_id: String },
    /// Rename a room.
    Rename { room: String, name: String },
    /// Leave a room.
    Leave { room: String },
    /// Delete a room for everyone (only its creator can).
    Delete { room: String },
    /// Send a message to a room.
    Send { room: String, text: Vec<String> },
    /// Show a room's messages, oldest first.
    History {
        room: String,
        /// How many of the newest messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages before this sequence number.
        #[arg(long)]
        before: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum DmAction {
    /// List direct conversations.
    List,
    /// Send a direct message.
    Send { peer_id: String, text: Vec<String> },
    /// Show a direct conversation, oldest first.
    History {
        peer_id: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        before: Option<u64>,
    },
}

/// Unlocks chat with the passphrase from `HEARTH_PASSPHRASE` or the first line of stdin.
async fn unlock(client: &Client, json: bool) -> anyhow::Result<()> {
    let passphrase = match std::env::var("HEARTH_PASSPHRASE") {
        Ok(p) => p,
        Err(_) => {
            let status: ChatStatus = client.chat_status().await?;
            if status.unlocked {
                return print(json, &status, || "chat is unlocked\n".into());
            }
            eprintln!(
                "{}",
                if status.has_passphrase {
                    "passphrase:"
                } else {
                    "choose a passphrase (at least 8 characters):"
                }
            );
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let status: ChatStatus = client
        .unlock_chat(&PassphraseRequest { passphrase })
        .await?;
    print(json, &status, || "chat is unlocked\n".into())
}

/// A room named by its id, a unique prefix of it (4 digits or more), or its exact name.
async fn resolve_room(client: &Client, given: &str) -> anyhow::Result<RoomInfo> {
    let rooms: Vec<RoomInfo> = client.list_rooms().await?;
    let lower = given.to_ascii_lowercase();
    let matches: Vec<&RoomInfo> = rooms
        .iter()
        .filter(|r| {
            r.room_id == lower
                || (lower.len() >= 4 && r.room_id.starts_with(&lower))
                || r.name == given
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => anyhow::bail!("no room {given:?} (see `hearth room list`)"),
        _ => anyhow::bail!("{given:?} names more than one room; give more of its id"),
    }
}

async fn room(client: &Client, json: bool, action: RoomAction) -> anyhow::Result<()> {
    match action {
        RoomAction::List => {
            let rooms: Vec<RoomInfo> = client.list_rooms().await?;
            print(json, &rooms, || {
                if rooms.is_empty() {
                    return "no rooms yet\n".into();
                }
                rooms.iter().map(room_line).collect()
            })
        }
        RoomAction::Create { name, members } => {
            let room: RoomInfo = client
                .create_room(&CreateRoomRequest { name, members })
                .await?;
            print(json, &room, || {
                format!("created {}\nroom id: {}\n", room.name, room.room_id)
            })
        }
        RoomAction::Invite { room, peer_id } => {
            let r = resolve_room(client, &room).await?;
            let () = client
                .invite(&InviteRequest {
                    room_id: r.room_id.clone(),
                    peer_id: peer_id.clone(),
                })
                .await?;
            done(json, "invited", &r, || {
                format!("invited {peer_id} to {}\n", r.name)
            })
        }
        RoomAction::Rename { room, name } => {
            let r = resolve_room(client, &room).await?;
            let () = client
                .rename_room(&RenameRoomRequest {
                    room_id: r.room_id.clone(),
                    name: name.clone(),
                })
                .await?;
            done(json, "renamed", &r, || {
                format!("renamed {} to {name}\n", r.name)
            })
        }
        RoomAction::Leave { room } => {
            let r = resolve_room(client, &room).await?;
            let () = client.leave_room(&room_req(&r)).await?;
            done(json, "left", &r, || format!("left {}\n", r.name))
        }
        RoomAction::Delete { room } => {
            let r = resolve_room(client, &room).await?;
            let () = client.delete_room(&room_req(&r)).await?;
            done(json, "deleted", &r, || format!("deleted {}\n", r.name))
        }
        RoomAction::Send { room, text } => {
            let r = resolve_room(client, &room).await?;
            let m: ChatMessage = client
                .send_message(&SendMessageRequest {
                    room_id: r.room_id.clone(),
                    body: text.join(" "),
                })
                .await?;
            print(json, &m, || format!("{} ({})\n", m.id, state_word(m.state)))
        }
        RoomAction::History {
            room,
            limit,
            before,
        } => {
            let r = resolve_room(client, &room).await?;
            let page: HistoryPage = client
                .room_history(&HistoryRequest {
                    room_id: r.room_id.clone(),
                    before,
                    limit: Some(limit),
                })
                .await?;
            let () = client.mark_room_read(&room_req(&r)).await?;
            print(json, &page, || history_text(&page, &|p| name_in(&r, p)))
        }
    }
}

async fn dm(client: &Client, json: bool, action: DmAction) -> anyhow::Result<()> {
    match action {
        DmAction::List => {
            let list: Vec<DmConversation> = client.list_dms().await?;
            print(json, &list, || {
                if list.is_empty() {
                    return "no direct conversations yet\n".into();
                }
                list.iter()
                    .map(|c| {
                        let name = c.display_name.clone().unwrap_or_else(|| short(&c.peer_id));
                        let online = if c.online { "online" } else { "offline" };
                        format!(
                            "{name:<24} {online:<8} {:>3} unread {:>3} pending  {}\n",
                            c.unread, c.pending, c.peer_id
                        )
                    })
                    .collect()
            })
        }
        DmAction::Send { peer_id, text } => {
            let m: ChatMessage = client
                .send_dm(&SendDmRequest {
                    peer_id,
                    body: text.join(" "),
                })
                .await?;
            print(json, &m, || format!("{} ({})\n", m.id, state_word(m.state)))
        }
        DmAction::History {
            peer_id,
            limit,
            before,
        } => {
            let page: HistoryPage = client
                .dm_history(&DmHistoryRequest {
                    peer_id: peer_id.clone(),
                    before,
                    limit: Some(limit),
                })
                .await?;
            let () = client.mark_dm_read(&PeerIdRequest { peer_id }).await?;
            print(json, &page, || history_text(&page, &|p| short(p)))
        }
    }
}

fn room_req(r: &RoomInfo) -> RoomIdRequest {
    RoomIdRequest {
        room_id: r.room_id.clone(),
    }
}

fn done(
    json: bool,
    what: &str,
    r: &RoomInfo,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    print(json, &serde_json::json!({ what: r.room_id }), human)
}

fn room_line(r: &RoomInfo) -> String {
    let mut marks = Vec::new();
    if r.deleted {
        marks.push("deleted");
    }
    if r.left {
        marks.push("left");
    } else if r.muted {
        marks.push("muted");
    }
    if r.is_host {
        marks.push("host");
    }
    let online = r.members.iter().filter(|m| m.online).count();
    format!(
        "{}  {:<24} {:>2}/{:<2} online {:>3} unread  {}\n",
        &r.room_id[..12],
        r.name,
        online,
        r.members.len(),
        r.unread,
        marks.join(", ")
    )
}

fn name_in(r: &RoomInfo, peer: &str) -> String {
    r.members
        .iter()
        .find(|m| m.peer_id == peer)
        .and_then(|m| m.display_name.clone())
        .unwrap_or_else(|| short(peer))
}

fn history_text(page: &HistoryPage, name: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    if page.more {
        out.push_str("(earlier messages: use --before)\n");
    }
    for m in &page.messages {
        let seq = m.seq.map_or_else(|| "-".into(), |s| s.to_string());
        let who = if m.mine {
            "you".into()
        } else {
            name(&m.sender)
        };
        let line = match m.kind {
            MessageKind::Text => format!("{who}: {}", m.body),
            MessageKind::Created => format!("* {who} created the room {:?}", m.body),
            MessageKind::Invited => format!("* {who} invited {}", name(&m.body)),
            MessageKind::Renamed => format!("* {who} renamed the room to {:?}", m.body),
            MessageKind::Left => format!("* {who} left"),
            MessageKind::Deleted => format!("* {who} deleted the room"),
            MessageKind::HostChanged => format!("* {who} is now the host"),
        };
        let state = if m.mine && m.kind == MessageKind::Text {
            format!("  ({})", state_word(m.state))
        } else {
            String::new()
        };
        out.push_str(&format!("{seq:>6} {} {line}{state}\n", clock(m.sent_ms)));
    }
    out
}

fn state_word(state: MessageState) -> &'static str {
    match state {
        MessageState::Sending => "sending",
        MessageState::HeldByHost => "held by host",
        MessageState::Delivered => "delivered",
        MessageState::Queued => "queued",
        MessageState::NotDeliveredYet => "not delivered yet",
        MessageState::Received => "received",
    }
}

/// `HH:MM` (UTC) of a unix time in milliseconds.
fn clock(ms: u64) -> String {
    let mins = ms / 60_000;
    format!("{:02}:{:02}", (mins / 60) % 24, mins % 60)
}
