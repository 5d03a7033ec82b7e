// Test helpers: builders for API values and a Backend that tests drive by hand.
import { vi } from 'vitest';
import type {
  ChatMessage,
  ChatStatus,
  CreateRoomRequest,
  DmConversation,
  DmHistoryRequest,
  Download,
  Event,
  EventKind,
  Follow,
  HistoryPage,
  HistoryRequest,
  Holder,
  Library,
  MessageKind,
  MessageState,
  PeerInfo,
  PreviewRequest,
  Resource,
  RoomInfo,
  RoomMember,
  SearchRequest,
  SearchResult,
  Settings,
  Status,
} from '../api/types';
import type { Backend, ConnectionHandler, EventHandler, FileDropEvent } from '../backend/backend';
import { ApiError } from '../backend/errors';

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
    bt_port: 6881,
    video_previews: true,
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

/** A page of a conversation as the node answers it: committed messages below `before`, oldest first. */
function page(all: ChatMessage[], before: number | null, limit: number | null): HistoryPage {
  const max = limit ?? 100;
  const committed = all.filter((m) => m.seq !== null && (before === null || m.seq < before));
  const shown = committed.slice(Math.max(0, committed.length - max));
  const pending = before === null ? all.filter((m) => m.seq === null) : [];
  return { messages: [...shown, ...pending].map((m) => ({ ...m })), more: shown.length < committed.length };
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

/**
 * A Backend whose answers the test sets (`vi.fn` mocks, so calls can be inspected) and
 * whose event stream the test feeds with `emit`.
 */
export class FakeBackend implements Backend {
  readonly kind = 'http' as const;
  private handlers: EventHandler[] = [];
  private drops: ((e: FileDropEvent) => void) | null = null;

  status = vi.fn(async () => status());
  getProfile = vi.fn(async () => status().profile);
  setProfile = vi.fn(async (p: Status['profile']) => p);
  listPeers = vi.fn(async (): Promise<PeerInfo[]> => []);
  connect = vi.fn(async () => {});
  blockPeer = vi.fn(async () => {});
  unblockPeer = vi.fn(async () => {});
  /** What `getSettings` answers; `setMirrorQuota` changes it. */
  settingsNow: Settings = settings();
  getSettings = vi.fn(async (): Promise<Settings> => ({ ...this.settingsNow }));
  addBootstrap = vi.fn(async (): Promise<Settings> => ({ ...this.settingsNow }));
  removeBootstrap = vi.fn(async (): Promise<Settings> => ({ ...this.settingsNow }));
  setMirrorQuota = vi.fn(async (bytes: number): Promise<Settings> => {
    this.settingsNow = { ...this.settingsNow, mirror_quota_bytes: bytes };
    return { ...this.settingsNow };
  });

  // ---- follows: an in-memory list, told on the event stream like the node does ----

  /** Followed peers, in the order followed. */
  follows: Follow[] = [];
  private followsChanged(): Follow[] {
    const list = this.follows.map((f) => ({ ...f }));
    this.emit({ type: 'follows_changed', follows: list });
    return list.map((f) => ({ ...f }));
  }
  listFollows = vi.fn(async (): Promise<Follow[]> => this.follows.map((f) => ({ ...f })));
  follow = vi.fn(async (peerId: string): Promise<Follow[]> => {
    if (peerId === SELF_ID) throw new ApiError('bad_request', 'that is you', 400);
    if (!this.follows.some((f) => f.peer_id === peerId)) {
      const p = await this.peerNamed(peerId);
      this.follows.push(follow({ peer_id: peerId, name: p?.profile?.display_name ?? null, online: p?.online ?? false, since_ms: Date.now() }));
    }
    return this.followsChanged();
  });
  unfollow = vi.fn(async (peerId: string): Promise<Follow[]> => {
    this.follows = this.follows.filter((f) => f.peer_id !== peerId);
    return this.followsChanged();
  });
  setMirror = vi.fn(async (peerId: string, on: boolean): Promise<Follow[]> => {
    const f = this.follows.find((x) => x.peer_id === peerId);
    if (!f) throw new ApiError('not_found', 'not followed', 404);
    f.mirror = on;
    if (!on) {
      f.mirrored_items = 0;
      f.mirrored_bytes = 0;
    }
    return this.followsChanged();
  });

  publish = vi.fn(async (req: { path: string; title: string | null }) => resource({ title: req.title ?? req.path, author: SELF_ID, local: 'published' }));
  upload = vi.fn(async (file: File, meta: { title?: string | null }, onProgress?: (s: number, t: number) => void) => {
    onProgress?.(file.size, file.size);
    return resource({ title: meta.title ?? file.name, author: SELF_ID, local: 'published' });
  });
  unpublish = vi.fn(async () => {});
  updateResource = vi.fn(async (req: { content_id: string; title: string }) => resource({ content_id: req.content_id, title: req.title, author: SELF_ID }));
  search = vi.fn(async (_req: SearchRequest): Promise<SearchResult> => searchResult([]));
  getResource = vi.fn(async (id: string) => resource({ content_id: id }));
  listHolders = vi.fn(async (): Promise<Holder[]> => [holder()]);
  catalogStats = vi.fn(async () => ({
    resources: 0,
    feeds: 0,
    entries: 0,
    queued_announcements: 0,
    rejected: { bad_signature: 0, broken_chain: 0, fork: 0, oversize: 0, malformed: 0, invalid: 0 },
  }));
  startDownload = vi.fn(async (req: { content_id: string | null }) => download({ content_id: req.content_id ?? cid(), progress: 0, have_bytes: 0 }));
  pauseDownload = vi.fn(async () => {});
  resumeDownload = vi.fn(async () => {});
  cancelDownload = vi.fn(async () => {});
  listDownloads = vi.fn(async (): Promise<Download[]> => []);
  openFolder = vi.fn(async () => '/home/me/Downloads');
  openFile = vi.fn(async (_contentId: string) => '/home/me/Downloads/lecture.mkv');
  mediaUrl = vi.fn(async (contentId: string, file?: number) => `/media/${contentId}${file ? `/${file}` : ''}?token=t`);
  thumbnailUrl = vi.fn((contentId: string, hash: string) => `/thumbs/${contentId}/${hash}?token=t`);
  setPreview = vi.fn(async (req: PreviewRequest) =>
    resource({ content_id: req.content_id, kind: 'video', author: SELF_ID, local: 'published', thumbnail_hash: 'ab'.repeat(32), duration_ms: req.duration_ms }),
  );
  getLibrary = vi.fn(async (): Promise<Library> => ({ folders: ['/up'], uploads_folder: '/up', published: [] }));
  addSharedFolder = vi.fn(async (path: string): Promise<Library> => ({ folders: ['/up', path], uploads_folder: '/up', published: [] }));
  removeSharedFolder = vi.fn(async (): Promise<Library> => ({ folders: ['/up'], uploads_folder: '/up', published: [] }));

  // ---- chat: a faithful enough in-memory model of one node's chat ----

  /** The chat passphrase (`null`: none chosen yet) and whether chat is unlocked. */
  chatPassphrase: string | null = 'correct horse';
  chatUnlocked = true;
  /** Rooms by id, each with its messages (committed ones in `seq` order, then pending ones). */
  readonly chatRooms = new Map<string, { info: RoomInfo; messages: ChatMessage[]; nextSeq: number }>();
  /** Direct conversations by peer id. */
  readonly chatDms = new Map<string, { conv: DmConversation; messages: ChatMessage[]; nextSeq: number }>();
  private roomCounter = 0;

  private chatGuard(): void {
    if (!this.chatUnlocked) throw new ApiError('unavailable', 'Chat is locked: unlock it with your passphrase', 503);
  }
  private chatStatusNow(): ChatStatus {
    return { unlocked: this.chatUnlocked, has_passphrase: this.chatPassphrase !== null };
  }
  private async peerNamed(id: string): Promise<PeerInfo | undefined> {
    return (await this.listPeers()).find((p) => p.peer_id === id);
  }
  private async member(id: string, extra: Partial<RoomMember> = {}): Promise<RoomMember> {
    const p = id === SELF_ID ? null : await this.peerNamed(id);
    return {
      peer_id: id,
      display_name: id === SELF_ID ? 'Me' : (p?.profile?.display_name ?? null),
      online: id === SELF_ID ? true : (p?.online ?? false),
      host: false,
      creator: false,
      ...extra,
    };
  }
  private room(roomId: string) {
    const r = this.chatRooms.get(roomId);
    if (!r) throw new ApiError('not_found', 'No such room', 404);
    return r;
  }
  private roomSnapshot(r: { info: RoomInfo; messages: ChatMessage[] }): RoomInfo {
    const pending = r.messages.filter((m) => m.mine && m.state !== 'delivered').length;
    return { ...r.info, pending, last_message: r.messages.at(-1) ?? null, members: r.info.members.map((m) => ({ ...m })) };
  }
  private roomChanged(r: { info: RoomInfo; messages: ChatMessage[] }): void {
    this.emit({ type: 'room_updated', room: this.roomSnapshot(r) });
  }
  /** Adds a committed entry to a room (as its host would), telling the UI. */
  private commitEntry(
    r: { info: RoomInfo; messages: ChatMessage[]; nextSeq: number },
    sender: string,
    kind: MessageKind,
    body: string,
  ): ChatMessage {
    const m = chatMessage({
      room_id: r.info.room_id,
      sender,
      mine: sender === SELF_ID,
      kind,
      body,
      seq: r.nextSeq++,
      state: sender === SELF_ID ? 'delivered' : 'received',
    });
    const firstPending = r.messages.findIndex((x) => x.seq === null);
    if (firstPending < 0) r.messages.push(m);
    else r.messages.splice(firstPending, 0, m);
    if (!m.mine && kind === 'text') r.info.unread += 1;
    this.emit({ type: 'chat_message', message: m });
    return m;
  }

  chatStatus = vi.fn(async (): Promise<ChatStatus> => this.chatStatusNow());
  unlockChat = vi.fn(async (passphrase: string): Promise<ChatStatus> => {
    if (this.chatPassphrase === null) {
      if (passphrase.length < 8) throw new ApiError('bad_request', 'The passphrase must be at least 8 characters', 400);
      this.chatPassphrase = passphrase;
    } else if (passphrase !== this.chatPassphrase) {
      throw new ApiError('forbidden', 'wrong passphrase', 403);
    }
    this.chatUnlocked = true;
    const s = this.chatStatusNow();
    this.emit({ type: 'chat_status_changed', status: s });
    return s;
  });
  changePassphrase = vi.fn(async (oldPassphrase: string, newPassphrase: string): Promise<void> => {
    this.chatGuard();
    if (oldPassphrase !== this.chatPassphrase) throw new ApiError('forbidden', 'wrong passphrase', 403);
    this.chatPassphrase = newPassphrase;
  });
  listRooms = vi.fn(async (): Promise<RoomInfo[]> => {
    this.chatGuard();
    return [...this.chatRooms.values()].map((r) => this.roomSnapshot(r));
  });
  createRoom = vi.fn(async (req: CreateRoomRequest): Promise<RoomInfo> => {
    this.chatGuard();
    const room_id = (++this.roomCounter).toString(16).padStart(64, 'c');
    const members = [await this.member(SELF_ID, { host: true, creator: true })];
    for (const id of req.members) if (id !== SELF_ID) members.push(await this.member(id));
    const r = { info: roomInfo({ room_id, name: req.name, members }), messages: [] as ChatMessage[], nextSeq: 1 };
    this.chatRooms.set(room_id, r);
    this.commitEntry(r, SELF_ID, 'created', req.name);
    for (const id of req.members) this.commitEntry(r, SELF_ID, 'invited', id);
    this.roomChanged(r);
    return this.roomSnapshot(r);
  });
  getRoom = vi.fn(async (roomId: string): Promise<RoomInfo> => {
    this.chatGuard();
    return this.roomSnapshot(this.room(roomId));
  });
  renameRoom = vi.fn(async (roomId: string, name: string): Promise<void> => {
    this.chatGuard();
    const r = this.room(roomId);
    r.info.name = name;
    this.commitEntry(r, SELF_ID, 'renamed', name);
    this.roomChanged(r);
  });
  invite = vi.fn(async (roomId: string, peerId: string): Promise<void> => {
    this.chatGuard();
    const r = this.room(roomId);
    if (r.info.members.some((m) => m.peer_id === peerId)) throw new ApiError('conflict', 'Already a member', 409);
    r.info.members.push(await this.member(peerId));
    this.commitEntry(r, SELF_ID, 'invited', peerId);
    this.roomChanged(r);
  });
  leaveRoom = vi.fn(async (roomId: string): Promise<void> => {
    this.chatGuard();
    const r = this.room(roomId);
    this.commitEntry(r, SELF_ID, 'left', '');
    r.info.left = true;
    r.info.members = r.info.members.filter((m) => m.peer_id !== SELF_ID);
    this.roomChanged(r);
  });
  deleteRoom = vi.fn(async (roomId: string): Promise<void> => {
    this.chatGuard();
    const r = this.room(roomId);
    if (r.info.creator !== SELF_ID) throw new ApiError('forbidden', 'Only the creator can delete the room', 403);
    this.commitEntry(r, SELF_ID, 'deleted', '');
    r.info.deleted = true;
    this.roomChanged(r);
  });
  /** My message waits for the host (`sending`) until `deliverRoom` orders it. */
  sendMessage = vi.fn(async (roomId: string, body: string): Promise<ChatMessage> => {
    this.chatGuard();
    const r = this.room(roomId);
    if (r.info.left || r.info.deleted) throw new ApiError('conflict', 'You can no longer write in this room', 409);
    const m = chatMessage({ room_id: roomId, sender: SELF_ID, mine: true, body, seq: null, state: 'sending' });
    r.messages.push(m);
    return { ...m };
  });
  roomHistory = vi.fn(async (req: HistoryRequest): Promise<HistoryPage> => {
    this.chatGuard();
    return page(this.room(req.room_id).messages, req.before, req.limit);
  });
  markRoomRead = vi.fn(async (roomId: string): Promise<void> => {
    this.chatGuard();
    const r = this.room(roomId);
    if (r.info.unread === 0) return;
    r.info.unread = 0;
    this.roomChanged(r);
  });
  listDms = vi.fn(async (): Promise<DmConversation[]> => {
    this.chatGuard();
    return [...this.chatDms.values()].map((d) => this.dmSnapshot(d));
  });
  sendDm = vi.fn(async (peerId: string, body: string): Promise<ChatMessage> => {
    this.chatGuard();
    const d = await this.dm(peerId);
    const online = (await this.peerNamed(peerId))?.online ?? false;
    const m = chatMessage({ peer_id: peerId, sender: SELF_ID, mine: true, body, seq: d.nextSeq++, state: online ? 'delivered' : 'queued' });
    d.messages.push(m);
    this.emit({ type: 'chat_message', message: m });
    this.emit({ type: 'dm_updated', conversation: this.dmSnapshot(d) });
    return { ...m };
  });
  dmHistory = vi.fn(async (req: DmHistoryRequest): Promise<HistoryPage> => {
    this.chatGuard();
    return page(this.chatDms.get(req.peer_id)?.messages ?? [], req.before, req.limit);
  });
  markDmRead = vi.fn(async (peerId: string): Promise<void> => {
    this.chatGuard();
    const d = this.chatDms.get(peerId);
    if (!d || d.conv.unread === 0) return;
    d.conv.unread = 0;
    this.emit({ type: 'dm_updated', conversation: this.dmSnapshot(d) });
  });
  notify = vi.fn((_title: string, _body: string) => {});

  private async dm(peerId: string) {
    let d = this.chatDms.get(peerId);
    if (!d) {
      const p = await this.peerNamed(peerId);
      d = {
        conv: { peer_id: peerId, display_name: p?.profile?.display_name ?? null, online: p?.online ?? false, unread: 0, pending: 0, last_message: null },
        messages: [],
        nextSeq: 1,
      };
      this.chatDms.set(peerId, d);
    }
    return d;
  }
  private dmSnapshot(d: { conv: DmConversation; messages: ChatMessage[] }): DmConversation {
    const pending = d.messages.filter((m) => m.mine && m.state !== 'delivered').length;
    return { ...d.conv, pending, last_message: d.messages.at(-1) ?? null };
  }

  /** The host orders my pending messages of a room: each becomes `state` with a `seq`. */
  deliverRoom(roomId: string, state: MessageState = 'delivered'): ChatMessage[] {
    const r = this.room(roomId);
    const pending = r.messages.filter((m) => m.seq === null);
    r.messages = r.messages.filter((m) => m.seq !== null);
    const done: ChatMessage[] = [];
    for (const p of pending) {
      const m = { ...p, seq: r.nextSeq++, state };
      r.messages.push(m);
      done.push(m);
      this.emit({ type: 'chat_message', message: m });
    }
    this.roomChanged(r);
    return done;
  }
  /** Someone else's message arrives in a room. */
  receiveRoom(roomId: string, sender: string, body: string): ChatMessage {
    const r = this.room(roomId);
    const m = this.commitEntry(r, sender, 'text', body);
    this.roomChanged(r);
    return m;
  }
  /** A room someone else created, with me invited. */
  async joinRoom(name: string, creator: string, others: string[] = []): Promise<RoomInfo> {
    const room_id = (++this.roomCounter).toString(16).padStart(64, 'd');
    const members = [await this.member(creator, { host: true, creator: true }), await this.member(SELF_ID)];
    for (const id of others) members.push(await this.member(id));
    const r = {
      info: roomInfo({ room_id, name, creator, host: creator, is_host: false, members }),
      messages: [] as ChatMessage[],
      nextSeq: 1,
    };
    this.chatRooms.set(room_id, r);
    this.commitEntry(r, creator, 'created', name);
    this.commitEntry(r, creator, 'invited', SELF_ID);
    for (const id of others) this.commitEntry(r, creator, 'invited', id);
    this.roomChanged(r);
    return this.roomSnapshot(r);
  }
  /** A direct message arrives from `peerId`. */
  async receiveDm(peerId: string, body: string): Promise<ChatMessage> {
    const d = await this.dm(peerId);
    const m = chatMessage({ peer_id: peerId, sender: peerId, body, seq: d.nextSeq++, state: 'received' });
    d.messages.push(m);
    d.conv.unread += 1;
    this.emit({ type: 'chat_message', message: m });
    this.emit({ type: 'dm_updated', conversation: this.dmSnapshot(d) });
    return m;
  }

  /** Paths the next `pickFiles` returns; `null` makes it behave like a browser (no picker). */
  pickedPaths: string[] | null = null;
  get pickFiles(): (() => Promise<string[]>) | null {
    const paths = this.pickedPaths;
    return paths === null ? null : async () => paths;
  }

  watchFileDrops(onDrop: (e: FileDropEvent) => void): (() => void) | null {
    this.drops = onDrop;
    return () => {
      if (this.drops === onDrop) this.drops = null;
    };
  }

  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void {
    this.handlers.push(onEvent);
    queueMicrotask(() => onConnectionChange(true));
    return () => {
      this.handlers = this.handlers.filter((h) => h !== onEvent);
    };
  }

  /** Delivers an event on the stream. */
  emit(kind: EventKind): void {
    const e = ev(kind);
    for (const h of this.handlers) h(e);
  }

  get watchingDrops(): boolean {
    return this.drops !== null;
  }

  /** Simulates files dropped on the desktop window. */
  dropPaths(paths: string[]): void {
    this.drops?.({ type: 'drop', paths });
  }
}
