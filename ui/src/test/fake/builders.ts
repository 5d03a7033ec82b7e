// Builders of API values for tests and the fake node, with fixed ids for a few peers.
import type {
  ChatMessage,
  Download,
  Event,
  EventKind,
  Follow,
  Holder,
  PeerInfo,
  Resource,
  RoomInfo,
  SearchResult,
  Settings,
  Status,
} from '../../api/types';

export const SELF_ID = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelf';
export const ADA_ID = '12D3KooWAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAda';
export const BOB_ID = '12D3KooWBobBobBobBobBobBobBobBobBobBobBobBob';
export const CAROL_ID = '12D3KooWCarCarCarCarCarCarCarCarCarCarCarCar';

let counter = 0;
/** A fresh 40-hex-digit content id. */
export function cid(n = ++counter): string {
  return n.toString(16).padStart(40, '0');
}

export function resource(extra: Partial<Resource> = {}): Resource {
  const content_id = extra.content_id ?? cid();
  return {
    content_id,
    magnet: `magnet:?xt=urn:btih:${content_id}`,
    title: 'Notes on the Analytical Engine',
    description: '',
    kind: 'paper',
    tags: [],
    size: 3_000_000,
    mime: 'application/pdf',
    files: [{ path: 'notes.pdf', size: 3_000_000 }],
    created_ms: 1_700_000_000_000,
    author: ADA_ID,
    author_name: 'Ada',
    thumbnail_hash: null,
    duration_ms: null,
    holders_known: 1,
    holders_online: 1,
    available: true,
    local: 'none',
    ...extra,
  };
}

export function download(extra: Partial<Download> = {}): Download {
  return {
    content_id: cid(),
    title: 'Notes on the Analytical Engine',
    state: 'downloading',
    have_bytes: 1_500_000,
    total_bytes: 3_000_000,
    progress: 0.5,
    down_bps: 1_000_000,
    up_bps: 0,
    uploaded_bytes: 0,
    peers: 2,
    eta_secs: 2,
    path: '/home/me/Downloads/notes.pdf',
    error: null,
    started_ms: 1_700_000_000_000,
    mirror: false,
    route: null,
    note: null,
    ...extra,
  };
}

export function holder(extra: Partial<Holder> = {}): Holder {
  return { peer_id: ADA_ID, name: 'Ada', online: true, is_self: false, bt_addr: '127.0.0.1:6881', mirror: false, ...extra };
}

export function status(extra: Partial<Status> = {}): Status {
  return {
    peer_id: SELF_ID,
    version: '0.1.0',
    profile: { display_name: 'Me', affiliation: '', bio: '' },
    listen_addrs: [],
    peers_online: 0,
    peers_connected: 0,
    uptime_secs: 1,
    nat: 'unknown',
    relay_reservations: [],
    relay_service: { enabled: true, active: false, reservations: 0, circuits: 0, refused_reservations: 0, refused_circuits: 0 },
    bt_port: 6881,
    bt_streams: 0,
    bt_streams_total: 0,
    video_previews: true,
    refused: { connections: 0, gossip_throttled: 0, gossip_unvalidated: 0, presence_ignored: 0, presence_dials_skipped: 0 },
    ...extra,
  };
}

export function peerInfo(id: string, name: string | null): PeerInfo {
  return {
    peer_id: id,
    profile: name === null ? null : { display_name: name, affiliation: '', bio: '' },
    addrs: [],
    rtt_ms: null,
    online: true,
    connected: true,
    last_seen_ms: null,
    blocked: false,
    connection: null,
    relay: null,
    last_dial_error: null,
    hole_punch_error: null,
  };
}

export function follow(extra: Partial<Follow> = {}): Follow {
  return {
    peer_id: ADA_ID,
    name: 'Ada',
    online: true,
    mirror: false,
    since_ms: 1_700_000_000_000,
    mirrored_items: 0,
    mirrored_bytes: 0,
    ...extra,
  };
}

export function settings(extra: Partial<Settings> = {}): Settings {
  return {
    bootstrap: [],
    mdns: true,
    listen: [],
    data_dir: '/d',
    download_dir: '/dl',
    mirror_quota_bytes: 20_000_000_000,
    mirror_used_bytes: 0,
    bt_download_limit_bps: null,
    bt_upload_limit_bps: null,
    relay_service: true,
    notifications: { chat: true, downloads: true, followed_items: true, mirror_full: true, followed_online: false },
    close_to_tray: true,
    pending_restart: [],
    ...extra,
  };
}

let msgCounter = 0;
/** A fresh 32-hex-digit message id. */
export function msgId(n = ++msgCounter): string {
  return n.toString(16).padStart(32, '0');
}

export function chatMessage(extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id: msgId(),
    room_id: null,
    peer_id: null,
    sender: ADA_ID,
    mine: false,
    kind: 'text',
    body: 'Hello',
    seq: null,
    sent_ms: Date.now(),
    state: 'received',
    ...extra,
  };
}

export function roomInfo(extra: Partial<RoomInfo> = {}): RoomInfo {
  return {
    room_id: 'ab'.repeat(32),
    name: 'Reading group',
    creator: SELF_ID,
    members: [],
    host: SELF_ID,
    is_host: true,
    term: 1,
    unread: 0,
    pending: 0,
    left: false,
    muted: false,
    deleted: false,
    last_message: null,
    ...extra,
  };
}

let nextEventId = 1;
export function ev(kind: EventKind, time_ms = 5000): Event {
  return { id: nextEventId++, time_ms, ...kind } as Event;
}

export function searchResult(items: Resource[], extra: Partial<SearchResult> = {}): SearchResult {
  return { total: items.length, total_is_lower_bound: false, items, took_ms: 1, ...extra };
}

/** A promise with its resolve and reject at hand. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

