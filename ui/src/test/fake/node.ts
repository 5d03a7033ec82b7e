// A fake Hearth node that lives in the page: one handler per API command over an in-memory
// model of one node (peers, catalog, downloads, library, follows, chat), and the event
// stream its changes produce. Vitest drives it (`./index.ts` wraps every handler in a mock);
// the screenshot tool boots the app on it with some demo data (`./demo.ts`).
//
// It uses nothing of vitest or Node, so it runs in the browser too. Handlers that need
// another part of the node's state ask for it through `this.handlers`, so what a test
// substitutes for one command is seen by the others (as with a real node).
import type { CommandName, Commands } from '../../api/commands';
import type {
  ChatMessage,
  ChatRequest,
  ChatStatus,
  DmConversation,
  Download,
  Event,
  EventKind,
  Follow,
  HistoryPage,
  Holder,
  Library,
  MessageKind,
  MessageState,
  PeerInfo,
  Profile,
  Resource,
  ResourceKind,
  RoomInfo,
  RoomMember,
  SearchRequest,
  Settings,
  Status,
} from '../../api/types';
import type {
  NotificationAccess,
  Autostart,
  Backend,
  ConnectionHandler,
  EventHandler,
  FileDropEvent,
  RequestArgs,
  UploadMeta,
  UploadProgressHandler,
} from '../../backend/backend';
import { ApiError } from '../../backend/errors';
import { chatMessage, cid, download, follow, resource, roomInfo, settings, status } from './builders';

/** How the fake node answers one command. */
export type Handler<K extends CommandName> = (req: Commands[K]['req']) => Promise<Commands[K]['res']>;

/** A handler for every command: one missing or of the wrong type fails the typecheck. */
export type Handlers = { [K in CommandName]: Handler<K> };

interface Room {
  info: RoomInfo;
  /** Committed messages in `seq` order, then pending ones. */
  messages: ChatMessage[];
  nextSeq: number;
}

interface Dm {
  conv: DmConversation;
  messages: ChatMessage[];
  nextSeq: number;
}

/** The node's guess of a file's kind from its name. */
export function guessKind(name: string): ResourceKind {
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  if (['pdf', 'tex', 'ps', 'epub'].includes(ext)) return 'paper';
  if (['csv', 'parquet', 'json', 'h5', 'zip'].includes(ext)) return 'dataset';
  if (['mp4', 'webm', 'mkv'].includes(ext)) return 'video';
  if (['mp3', 'ogg', 'flac', 'wav'].includes(ext)) return 'audio';
  if (['png', 'jpg', 'jpeg', 'gif', 'webp'].includes(ext)) return 'image';
  return 'other';
}

/** A page of a conversation as the node answers it: committed messages below `before`, oldest first. */
export function historyPage(all: ChatMessage[], before: number | null, limit: number | null): HistoryPage {
  const max = limit ?? 100;
  const committed = all.filter((m) => m.seq !== null && (before === null || m.seq < before));
  const shown = committed.slice(Math.max(0, committed.length - max));
  const pending = before === null ? all.filter((m) => m.seq === null) : [];
  return { messages: [...shown, ...pending].map((m) => ({ ...m })), more: shown.length < committed.length };
}

const baseName = (path: string) => path.split('/').filter(Boolean).pop() ?? path;

const fail = (code: ApiError['code'], message: string, status: number): never => {
  throw new ApiError(code, message, status);
};

export class FakeNode implements Backend {
  kind: 'tauri' | 'http' = 'http';

  // ---- the node's state; tests and the demo set it directly ----

  /** What `status` answers, but for the profile and the peer counts. */
  statusNow: Status = status();
  profile: Profile = { ...status().profile };
  /** Every peer known, online or not. */
  peers: PeerInfo[] = [];
  /** What `get_settings` answers; the settings commands change it. */
  settingsNow: Settings = settings();
  /** Followed peers, in the order followed. */
  follows: Follow[] = [];
  /** The catalog: every resource known, as published (the node's view is added on reading). */
  readonly resources = new Map<string, Resource>();
  /** Who holds each resource (default: its author). */
  readonly holders = new Map<string, string[]>();
  readonly downloads = new Map<string, Download>();
  /** Shared folders and where uploads go. */
  library = { folders: ['/up'], uploads_folder: '/up' };
  /** The chat passphrase (`null`: none chosen yet) and whether chat is unlocked. */
  chatPassphrase: string | null = 'correct horse';
  chatUnlocked = true;
  /** Rooms by id, each with its messages (committed ones in `seq` order, then pending ones). */
  readonly chatRooms = new Map<string, Room>();
  /** Direct conversations by peer id. */
  readonly chatDms = new Map<string, Dm>();
  /** Direct messages and invitations from strangers, by peer id. */
  readonly chatRequests = new Map<string, ChatRequest>();
  /** What `list_requests` reports as refused (over the caps) and dropped (declined peers). */
  requestsRefused = 0;
  requestsDropped = 0;
  /** Every event emitted, for `events_since`. */
  readonly events: Event[] = [];

  private roomCounter = 0;
  private nextEventId = 1;
  private listeners: { onEvent: EventHandler; onConnection: ConnectionHandler }[] = [];
  private drops: ((e: FileDropEvent) => void) | null = null;

  get selfId(): string {
    return this.statusNow.peer_id;
  }

  // ---- the Backend ----

  call<K extends CommandName>(cmd: K, ...req: RequestArgs<K>): Promise<Commands[K]['res']> {
    const handler = this.handlers[cmd] as Handler<K>;
    return handler((req[0] ?? null) as Commands[K]['req']);
  }

  upload = async (file: File, meta: UploadMeta, onProgress?: UploadProgressHandler): Promise<Resource> => {
    onProgress?.(0, file.size);
    const r = this.addResource(
      resource({
        title: meta.title || file.name,
        description: meta.description ?? '',
        kind: meta.kind ?? guessKind(file.name),
        tags: meta.tags ?? [],
        size: file.size,
        mime: file.type || 'application/octet-stream',
        files: [{ path: file.name, size: file.size }],
        created_ms: Date.now(),
        author: this.selfId,
        author_name: null,
      }),
    );
    const view = await this.view(r);
    this.emit({ type: 'resource_added', resource: view });
    onProgress?.(file.size, file.size);
    return view;
  };

  mediaUrl = async (contentId: string, file?: number): Promise<string> =>
    `/media/${contentId}${file ? `/${file}` : ''}?token=t`;

  thumbnailUrl = (contentId: string, hash: string): string => `/thumbs/${contentId}/${hash}?token=t`;

  avatarUrl = (hash: string): string => `/avatars/${hash}?token=t`;

  notify: ((title: string, body: string) => void) | null = null;

  /** How often `restart` was asked for. */
  restarts = 0;

  /** What `notificationPermission` answers, and `askNotifications` turns into. */
  notificationAccess: NotificationAccess = 'granted';
  notificationAnswer: NotificationAccess = 'granted';
  notificationPermission(): NotificationAccess {
    return this.notificationAccess;
  }
  async askNotifications(): Promise<NotificationAccess> {
    this.notificationAccess = this.notificationAnswer;
    return this.notificationAccess;
  }

  /** The folder the next `pickFolder` returns; `undefined` behaves like a browser (no picker). */
  pickedFolder: string | null | undefined = undefined;
  get pickFolder(): ((title: string) => Promise<string | null>) | null {
    const folder = this.pickedFolder;
    return folder === undefined ? null : async () => folder;
  }

  /** Like the desktop app when set: what `rememberPassphrase` stored (`undefined`: none). */
  keyring: { secret?: string; failure?: string } | null = null;
  get rememberPassphrase(): ((passphrase: string | null) => Promise<void>) | null {
    const keyring = this.keyring;
    if (!keyring) return null;
    return async (passphrase) => {
      if (keyring.failure) fail('unavailable', keyring.failure, 503);
      keyring.secret = passphrase ?? undefined;
    };
  }

  /** Like the desktop app when not `null`: whether Hearth starts at login. */
  startsAtLogin: boolean | null = null;
  private readonly autostartImpl: Autostart = {
    get: async () => this.startsAtLogin ?? false,
    set: async (on) => {
      this.startsAtLogin = on;
      return on;
    },
  };
  get autostart(): Autostart | null {
    return this.startsAtLogin === null ? null : this.autostartImpl;
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
    const listener = { onEvent, onConnection: onConnectionChange };
    this.listeners.push(listener);
    queueMicrotask(() => onConnectionChange(true));
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  // ---- driving the node from outside ----

  /** Delivers an event on the stream (and keeps it for `events_since`). */
  emit(kind: EventKind): void {
    const e = { id: this.nextEventId++, time_ms: Date.now(), ...kind } as Event;
    this.events.push(e);
    if (this.events.length > 500) this.events.shift();
    for (const l of this.listeners) l.onEvent(e);
  }

  /** The event stream drops, and comes back after `ms`. */
  dropConnection(ms = 1500): void {
    for (const l of this.listeners) l.onConnection(false);
    setTimeout(() => {
      for (const l of this.listeners) l.onConnection(true);
    }, ms);
  }

  get watchingDrops(): boolean {
    return this.drops !== null;
  }

  /** Simulates files dropped on the desktop window. */
  dropPaths(paths: string[]): void {
    this.drops?.({ type: 'drop', paths });
  }

  /** Puts a resource in the catalog (held by `holderIds`, by default its author). */
  addResource(r: Resource, holderIds?: string[]): Resource {
    this.resources.set(r.content_id, r);
    this.holders.set(r.content_id, holderIds ?? [r.author]);
    return r;
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
    const members = [await this.member(creator, { host: true, creator: true }), await this.member(this.selfId)];
    for (const id of others) members.push(await this.member(id));
    const r: Room = {
      info: roomInfo({ room_id, name, creator, host: creator, is_host: false, members }),
      messages: [],
      nextSeq: 1,
    };
    this.chatRooms.set(room_id, r);
    this.commitEntry(r, creator, 'created', name);
    this.commitEntry(r, creator, 'invited', this.selfId);
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

  /** A stranger writes (or, with `invite`, invites me to a room named so): a request. */
  async receiveRequest(peerId: string, body: string | null, invite?: string): Promise<ChatRequest> {
    let r = this.chatRequests.get(peerId);
    if (!r) {
      const p = await this.peerNamed(peerId);
      r = { peer_id: peerId, display_name: p?.profile?.display_name ?? null, online: p?.online ?? false, received_ms: Date.now(), messages: [], invites: [] };
      this.chatRequests.set(peerId, r);
    }
    if (body !== null) r.messages.push(chatMessage({ peer_id: peerId, sender: peerId, body, seq: r.messages.length, state: 'received' }));
    if (invite) r.invites.push({ room_id: (r.invites.length + 1).toString(16).padStart(64, 'e'), name: invite, members: 2 });
    this.emit({ type: 'requests_changed', pending: this.chatRequests.size });
    return r;
  }

  // ---- the commands ----

  handlers: Handlers = {
    status: async () => {
      const peers = await this.handlers.list_peers(null);
      return {
        ...this.statusNow,
        profile: { ...this.profile },
        peers_online: peers.filter((p) => p.online).length,
        peers_connected: peers.filter((p) => p.connected).length,
      };
    },
    get_profile: async () => ({ ...this.profile }),
    set_profile: async (p) => {
      if (p.display_name.length > 64) fail('bad_request', 'display name is longer than 64 characters', 400);
      // The picture is kept: only `set_avatar` changes it.
      const next: Profile = { ...p, avatar: this.profile.avatar };
      this.profile = next;
      this.emit({ type: 'profile_changed', peer_id: this.selfId, profile: { ...next } });
      return { ...next };
    },
    set_avatar: async ({ image }) => {
      let avatar: string | undefined;
      if (image) {
        if (image.length > Math.ceil((10 * 1024 * 1024) / 3) * 4) fail('bad_request', 'the picture is larger than 10 MB', 400);
        if (!/^[A-Za-z0-9+/]+=*$/.test(image)) fail('bad_request', 'the picture is not base64', 400);
        // A stand-in for blake3 of the re-encoded picture: 64 hex digits from the input.
        let h = 0;
        for (let i = 0; i < image.length; i++) h = (h * 31 + image.charCodeAt(i)) >>> 0;
        avatar = h.toString(16).padStart(8, '0').repeat(8);
      }
      const next: Profile = { ...this.profile, avatar };
      this.profile = next;
      this.emit({ type: 'profile_changed', peer_id: this.selfId, profile: { ...next } });
      return { ...next };
    },
    list_peers: async () => this.peers.map((p) => ({ ...p })),
    doctor: async ({ peer_id }) => {
      const p = this.peers.find((x) => x.peer_id === peer_id);
      return {
        peer_id,
        reachable: !!p?.connected,
        connection: p?.connection ?? null,
        relay: p?.relay ?? null,
        nat: this.statusNow.nat,
        relay_reservations: [...this.statusNow.relay_reservations],
        addrs: p ? [...p.addrs] : [],
        last_dial_error: p?.last_dial_error ?? null,
        summary: p ? (p.connected ? 'connected directly' : 'not connected') : 'unknown peer',
        findings: [],
        fixes: [],
      };
    },
    connect: async ({ addr }) => {
      if (!addr.startsWith('/')) fail('bad_request', 'invalid multiaddr', 400);
      return null;
    },
    // The fake's invite names the peer in plain text; the real one is binary (net/invite.rs).
    create_invite: async () => {
      const addrs = this.statusNow.listen_addrs.map((a) => a.replace(`/p2p/${this.selfId}`, ''));
      return {
        text: `hearth:invite/fake.${this.selfId}`,
        peer_id: this.selfId,
        addrs,
        reach: 'local_network',
        explanation: 'This invite works only on your local network.',
      };
    },
    join: async ({ invite }) => {
      const m = /^hearth:invite\/fake\.(\S+)$/.exec(invite.trim());
      if (!m) return fail('bad_request', 'that is not a Hearth invite (it starts with "hearth:invite/")', 400);
      const peerId = m[1];
      if (peerId === this.selfId) fail('bad_request', 'that invite is your own: give it to the person you want to invite', 400);
      const p = this.peers.find((x) => x.peer_id === peerId);
      if (!p) return fail('unavailable', `could not reach ${peerId}: no answer. Is their Hearth running?`, 503);
      const already = p.connected;
      p.online = true;
      p.connected = true;
      p.connection ??= 'direct';
      this.emit({ type: 'peer_online', peer: { ...p } });
      return { peer_id: peerId, name: p.profile?.display_name ?? '', connection: p.connection, already_connected: already };
    },
    block_peer: async ({ peer_id }) => this.setBlocked(peer_id, true),
    unblock_peer: async ({ peer_id }) => this.setBlocked(peer_id, false),
    get_settings: async () => ({ ...this.settingsNow }),
    add_bootstrap: async ({ addr }) => this.setBootstrap(addr, true),
    remove_bootstrap: async ({ addr }) => this.setBootstrap(addr, false),
    update_settings: async (u) => {
      const next = { ...this.settingsNow, pending_restart: [...this.settingsNow.pending_restart] };
      const later = (name: string) => {
        if (!next.pending_restart.includes(name)) next.pending_restart.push(name);
      };
      const limit = (bps: number | null | undefined) => {
        if (bps != null && bps > 0 && bps < 10_000) fail('bad_request', `${bps} bytes/s is too low: at least 10000 (0 for no limit)`, 400);
        return bps == null ? undefined : bps === 0 ? null : bps;
      };
      const down = limit(u.bt_download_limit_bps);
      const up = limit(u.bt_upload_limit_bps);
      if (u.download_dir != null) {
        if (!u.download_dir.startsWith('/')) fail('bad_request', `"${u.download_dir}" is not an absolute path (it starts with /)`, 400);
        if (u.download_dir !== next.download_dir) later('download_dir');
        next.download_dir = u.download_dir;
      }
      if (u.listen != null) {
        if (u.listen.length === 0) fail('bad_request', 'give between 1 and 8 listen addresses', 400);
        if (u.listen.some((a) => !a.startsWith('/'))) fail('bad_request', 'cannot be listened on: use /ip4/ADDRESS/tcp/PORT', 400);
        if (u.listen.join() !== next.listen.join()) later('listen');
        next.listen = [...u.listen];
      }
      if (u.mdns != null && u.mdns !== next.mdns) {
        next.mdns = u.mdns;
        later('mdns');
      }
      if (u.relay_service != null && u.relay_service !== next.relay_service) {
        next.relay_service = u.relay_service;
        later('relay_service');
      }
      if (down !== undefined) next.bt_download_limit_bps = down;
      if (up !== undefined) next.bt_upload_limit_bps = up;
      if (u.notifications != null) next.notifications = { ...u.notifications };
      if (u.close_to_tray != null) next.close_to_tray = u.close_to_tray;
      this.settingsNow = next;
      this.emit({ type: 'settings_changed', settings: { ...next } });
      return { ...next };
    },
    restart: async () => {
      this.restarts += 1;
      this.settingsNow = { ...this.settingsNow, pending_restart: [] };
      return null;
    },
    set_mirror_quota: async ({ bytes }) => {
      this.settingsNow = { ...this.settingsNow, mirror_quota_bytes: bytes };
      return { ...this.settingsNow };
    },

    publish: async (req) => {
      if (!req.path.startsWith('/')) fail('bad_request', `${req.path}: not an absolute path`, 400);
      const name = baseName(req.path);
      const r = this.addResource(
        resource({
          title: req.title || name,
          description: req.description ?? '',
          kind: req.kind ?? guessKind(name),
          tags: req.tags,
          size: 1_234_567,
          mime: 'application/octet-stream',
          files: [{ path: name, size: 1_234_567 }],
          created_ms: Date.now(),
          author: this.selfId,
          author_name: null,
        }),
      );
      const view = await this.view(r);
      this.emit({ type: 'resource_added', resource: view });
      return view;
    },
    unpublish: async (req) => {
      const r = await this.handlers.get_resource(req);
      if (r.author !== this.selfId) fail('forbidden', 'not yours', 403);
      this.resources.delete(r.content_id);
      this.emit({ type: 'resource_removed', content_id: r.content_id });
      return null;
    },
    update_resource: async (req) => {
      const r = await this.handlers.get_resource({ content_id: req.content_id });
      if (!req.title.trim()) fail('bad_request', 'the title is empty', 400);
      const { content_id: _, ...fields } = req;
      const updated = { ...r, ...fields };
      if (this.resources.has(r.content_id)) this.resources.set(r.content_id, { ...this.resources.get(r.content_id)!, ...fields });
      this.emit({ type: 'resource_added', resource: updated });
      return updated;
    },
    search: async (req) => {
      const all = await Promise.all([...this.resources.values()].map((r) => this.view(r)));
      const hits = all.filter((r) => matches(r, req)).sort((a, b) => b.created_ms - a.created_ms);
      const limit = req.limit || 50;
      const items = hits.slice(req.offset, req.offset + limit);
      return { total: hits.length, total_is_lower_bound: false, items, took_ms: 1 };
    },
    get_resource: async ({ content_id }) => {
      const r = this.resources.get(content_id);
      if (!r) return fail('not_found', 'no such resource', 404);
      return this.view(r);
    },
    list_holders: async (req) => {
      const r = await this.handlers.get_resource(req);
      const peers = await this.handlers.list_peers(null);
      const ids = this.holders.get(r.content_id) ?? [r.author];
      return ids.map((id): Holder => {
        const p = peers.find((x) => x.peer_id === id);
        const isSelf = id === this.selfId;
        const online = isSelf || (p?.online ?? (id === r.author && r.available));
        const name = isSelf ? this.profile.display_name || null : (p?.profile?.display_name ?? (id === r.author ? r.author_name : null));
        return { peer_id: id, name, online, is_self: isSelf, bt_addr: online ? '127.0.0.1:6881' : null, mirror: false };
      });
    },
    set_preview: async (req) => {
      const r = await this.handlers.get_resource({ content_id: req.content_id });
      const updated = { ...r, thumbnail_hash: 'ab'.repeat(32), duration_ms: req.duration_ms };
      if (this.resources.has(r.content_id)) this.resources.set(r.content_id, updated);
      return updated;
    },
    catalog_stats: async () => ({
      resources: this.resources.size,
      feeds: new Set([...this.resources.values()].map((r) => r.author)).size,
      entries: this.resources.size,
      queued_announcements: 0,
      rejected: { bad_signature: 0, broken_chain: 0, fork: 0, oversize: 0, malformed: 0, invalid: 0, quota: 0 },
      bytes: 0,
      quota: { entries_per_author: 50000, bytes_per_author: 256 * 1024 * 1024, entries: 2000000, bytes: 8 * 1024 * 1024 * 1024 },
      holders_tracked: 0,
      holdings_dropped: 0,
    }),

    list_follows: async () => this.follows.map((f) => ({ ...f })),
    follow: async ({ peer_id }) => {
      if (peer_id === this.selfId) fail('bad_request', 'that is you', 400);
      if (!this.follows.some((f) => f.peer_id === peer_id)) {
        const p = await this.peerNamed(peer_id);
        this.follows.push(follow({ peer_id, name: p?.profile?.display_name ?? null, online: p?.online ?? false, since_ms: Date.now() }));
      }
      return this.followsChanged();
    },
    unfollow: async ({ peer_id }) => {
      this.follows = this.follows.filter((f) => f.peer_id !== peer_id);
      return this.followsChanged();
    },
    set_mirror: async ({ peer_id, on }) => {
      const f = this.follows.find((x) => x.peer_id === peer_id);
      if (!f) return fail('not_found', 'not followed', 404);
      f.mirror = on;
      if (!on) {
        f.mirrored_items = 0;
        f.mirrored_bytes = 0;
      }
      return this.followsChanged();
    },

    start_download: async (req) => {
      const content_id = req.content_id ?? /btih:([0-9a-f]{40})/i.exec(req.magnet ?? '')?.[1] ?? cid();
      const r = await this.handlers.get_resource({ content_id });
      if (this.downloads.has(content_id)) fail('conflict', 'already downloading', 409);
      const d = download({
        content_id,
        title: r.title,
        state: 'downloading',
        have_bytes: 0,
        total_bytes: r.size,
        progress: 0,
        down_bps: 0,
        peers: 0,
        eta_secs: null,
        path: `/home/me/Downloads/${r.files[0]?.path ?? r.title}`,
        started_ms: Date.now(),
      });
      this.downloads.set(content_id, d);
      this.emit({ type: 'download_progress', download: { ...d } });
      return { ...d };
    },
    pause_download: async (req) =>
      this.changeDownload(req.content_id, (d) => Object.assign(d, { state: 'paused', down_bps: 0, peers: 0, eta_secs: null })),
    resume_download: async (req) =>
      this.changeDownload(req.content_id, (d) => Object.assign(d, { state: 'downloading', error: null })),
    cancel_download: async (req) => {
      await this.findDownload(req.content_id);
      this.downloads.delete(req.content_id);
      this.emit({ type: 'download_removed', content_id: req.content_id });
      return null;
    },
    list_downloads: async () => [...this.downloads.values()].map((d) => ({ ...d })),
    open_folder: async (req) => {
      const r = await this.handlers.get_resource(req);
      return r.author === this.selfId ? this.library.uploads_folder : '/home/me/Downloads';
    },
    open_file: async (req) => {
      const r = await this.handlers.get_resource(req);
      return `/home/me/Downloads/${r.files[0]?.path ?? r.title}`;
    },
    get_library: async () => this.libraryNow(),
    add_shared_folder: async ({ path }) => this.setFolder(path, true),
    remove_shared_folder: async ({ path }) => this.setFolder(path, false),

    chat_status: async () => this.chatStatusNow(),
    unlock_chat: async ({ passphrase }) => {
      if (this.chatPassphrase === null) {
        if (passphrase.length < 8) fail('bad_request', 'The passphrase must be at least 8 characters', 400);
        this.chatPassphrase = passphrase;
      } else if (passphrase !== this.chatPassphrase) {
        fail('forbidden', 'wrong passphrase', 403);
      }
      this.chatUnlocked = true;
      const s = this.chatStatusNow();
      this.emit({ type: 'chat_status_changed', status: s });
      return s;
    },
    change_passphrase: async (req) => {
      this.chatGuard();
      if (req.old !== this.chatPassphrase) fail('forbidden', 'wrong passphrase', 403);
      this.chatPassphrase = req.new;
      return null;
    },
    list_rooms: async () => {
      this.chatGuard();
      return [...this.chatRooms.values()].map((r) => this.roomSnapshot(r));
    },
    create_room: async (req) => {
      this.chatGuard();
      const room_id = (++this.roomCounter).toString(16).padStart(64, 'c');
      const members = [await this.member(this.selfId, { host: true, creator: true })];
      for (const id of req.members) if (id !== this.selfId) members.push(await this.member(id));
      const r: Room = { info: roomInfo({ room_id, name: req.name, creator: this.selfId, host: this.selfId, members }), messages: [], nextSeq: 1 };
      this.chatRooms.set(room_id, r);
      this.commitEntry(r, this.selfId, 'created', req.name);
      for (const id of req.members) this.commitEntry(r, this.selfId, 'invited', id);
      this.roomChanged(r);
      return this.roomSnapshot(r);
    },
    get_room: async ({ room_id }) => {
      this.chatGuard();
      return this.roomSnapshot(this.room(room_id));
    },
    rename_room: async ({ room_id, name }) => {
      this.chatGuard();
      const r = this.room(room_id);
      r.info.name = name;
      this.commitEntry(r, this.selfId, 'renamed', name);
      this.roomChanged(r);
      return null;
    },
    invite: async ({ room_id, peer_id }) => {
      this.chatGuard();
      const r = this.room(room_id);
      if (r.info.members.some((m) => m.peer_id === peer_id)) fail('conflict', 'Already a member', 409);
      r.info.members.push(await this.member(peer_id));
      this.commitEntry(r, this.selfId, 'invited', peer_id);
      this.roomChanged(r);
      return null;
    },
    leave_room: async ({ room_id }) => {
      this.chatGuard();
      const r = this.room(room_id);
      this.commitEntry(r, this.selfId, 'left', '');
      r.info.left = true;
      r.info.members = r.info.members.filter((m) => m.peer_id !== this.selfId);
      this.roomChanged(r);
      return null;
    },
    delete_room: async ({ room_id }) => {
      this.chatGuard();
      const r = this.room(room_id);
      if (r.info.creator !== this.selfId) fail('forbidden', 'Only the creator can delete the room', 403);
      this.commitEntry(r, this.selfId, 'deleted', '');
      r.info.deleted = true;
      this.roomChanged(r);
      return null;
    },
    /** My message waits for the host (`sending`) until `deliverRoom` orders it. */
    send_message: async ({ room_id, body }) => {
      this.chatGuard();
      const r = this.room(room_id);
      if (r.info.left || r.info.deleted) fail('conflict', 'You can no longer write in this room', 409);
      const m = chatMessage({ room_id, sender: this.selfId, mine: true, body, seq: null, state: 'sending' });
      r.messages.push(m);
      return { ...m };
    },
    room_history: async (req) => {
      this.chatGuard();
      return historyPage(this.room(req.room_id).messages, req.before, req.limit);
    },
    mark_room_read: async ({ room_id }) => {
      this.chatGuard();
      const r = this.room(room_id);
      if (r.info.unread === 0) return null;
      r.info.unread = 0;
      this.roomChanged(r);
      return null;
    },
    list_dms: async () => {
      this.chatGuard();
      return [...this.chatDms.values()].map((d) => this.dmSnapshot(d));
    },
    send_dm: async ({ peer_id, body }) => {
      this.chatGuard();
      const d = await this.dm(peer_id);
      const online = (await this.peerNamed(peer_id))?.online ?? false;
      const m = chatMessage({ peer_id, sender: this.selfId, mine: true, body, seq: d.nextSeq++, state: online ? 'delivered' : 'queued' });
      d.messages.push(m);
      this.emit({ type: 'chat_message', message: m });
      this.emit({ type: 'dm_updated', conversation: this.dmSnapshot(d) });
      return { ...m };
    },
    dm_history: async (req) => {
      this.chatGuard();
      return historyPage(this.chatDms.get(req.peer_id)?.messages ?? [], req.before, req.limit);
    },
    mark_dm_read: async ({ peer_id }) => {
      this.chatGuard();
      const d = this.chatDms.get(peer_id);
      if (!d || d.conv.unread === 0) return null;
      d.conv.unread = 0;
      this.emit({ type: 'dm_updated', conversation: this.dmSnapshot(d) });
      return null;
    },

    list_requests: async () => {
      this.chatGuard();
      const requests = [...this.chatRequests.values()].sort((a, b) => b.received_ms - a.received_ms);
      return { requests: requests.map((r) => ({ ...r })), refused: this.requestsRefused, dropped: this.requestsDropped };
    },
    answer_request: async ({ peer_id, accept }) => {
      this.chatGuard();
      const r = this.chatRequests.get(peer_id);
      if (!r) return fail('not_found', 'there is no request from this peer', 404);
      this.chatRequests.delete(peer_id);
      this.emit({ type: 'requests_changed', pending: this.chatRequests.size });
      if (!accept) return null;
      for (const m of r.messages) await this.receiveDm(peer_id, m.body);
      for (const i of r.invites) await this.joinRoom(i.name, peer_id);
      return null;
    },

    events_since: async ({ since }) => this.events.filter((e) => e.id > since),
  };

  // ---- helpers of the handlers ----

  /** A resource as this node shows it: names, holders online and its local state filled in. */
  async view(r: Resource): Promise<Resource> {
    const holders = this.holders.get(r.content_id);
    if (!holders) return { ...r };
    const peers = await this.handlers.list_peers(null);
    const online = (id: string) => id === this.selfId || !!peers.find((p) => p.peer_id === id)?.online;
    const on = holders.filter(online).length;
    const author = peers.find((p) => p.peer_id === r.author);
    const dl = this.downloads.get(r.content_id);
    let local: Resource['local'] = r.author === this.selfId ? 'published' : 'none';
    if (dl) local = dl.state === 'complete' ? 'complete' : 'downloading';
    return {
      ...r,
      author_name: r.author === this.selfId ? this.profile.display_name || null : (author?.profile?.display_name ?? r.author_name),
      holders_known: holders.length,
      holders_online: on,
      available: on > 0,
      local,
    };
  }

  private async setBlocked(peerId: string, blocked: boolean): Promise<null> {
    const p = this.peers.find((x) => x.peer_id === peerId);
    if (p) {
      p.blocked = blocked;
      this.emit({ type: 'peer_updated', peer: { ...p } });
    }
    return null;
  }

  private setBootstrap(addr: string, on: boolean): Settings {
    if (!addr.startsWith('/')) fail('bad_request', 'invalid multiaddr', 400);
    const rest = this.settingsNow.bootstrap.filter((a) => a !== addr);
    this.settingsNow = { ...this.settingsNow, bootstrap: on ? [...rest, addr] : rest };
    return { ...this.settingsNow };
  }

  private async libraryNow(): Promise<Library> {
    const mine = [...this.resources.values()].filter((r) => r.author === this.selfId);
    return { ...this.library, folders: [...this.library.folders], published: await Promise.all(mine.map((r) => this.view(r))) };
  }

  private setFolder(path: string, on: boolean): Promise<Library> {
    if (!path.startsWith('/')) fail('bad_request', 'a shared folder needs an absolute path', 400);
    const rest = this.library.folders.filter((f) => f !== path);
    this.library = { ...this.library, folders: on ? [...rest, path] : rest };
    return this.libraryNow();
  }

  /** The download of `contentId`, as the node lists it. */
  private async findDownload(contentId: string): Promise<Download> {
    const known = this.downloads.get(contentId);
    if (known) return known;
    const listed = (await this.handlers.list_downloads(null)).find((d) => d.content_id === contentId);
    if (!listed) return fail('not_found', 'no such download', 404);
    const d = { ...listed };
    this.downloads.set(contentId, d);
    return d;
  }

  private async changeDownload(contentId: string, change: (d: Download) => void): Promise<null> {
    const d = await this.findDownload(contentId);
    change(d);
    this.emit({ type: 'download_progress', download: { ...d } });
    return null;
  }

  private followsChanged(): Follow[] {
    const list = this.follows.map((f) => ({ ...f }));
    this.emit({ type: 'follows_changed', follows: list });
    return list.map((f) => ({ ...f }));
  }

  private chatGuard(): void {
    if (!this.chatUnlocked) fail('unavailable', 'Chat is locked: unlock it with your passphrase', 503);
  }
  private chatStatusNow(): ChatStatus {
    return { unlocked: this.chatUnlocked, has_passphrase: this.chatPassphrase !== null };
  }
  private async peerNamed(id: string): Promise<PeerInfo | undefined> {
    return (await this.handlers.list_peers(null)).find((p) => p.peer_id === id);
  }
  async member(id: string, extra: Partial<RoomMember> = {}): Promise<RoomMember> {
    const self = id === this.selfId;
    const p = self ? null : await this.peerNamed(id);
    return {
      peer_id: id,
      display_name: self ? this.profile.display_name || null : (p?.profile?.display_name ?? null),
      online: self ? true : (p?.online ?? false),
      host: false,
      creator: false,
      ...extra,
    };
  }
  room(roomId: string): Room {
    const r = this.chatRooms.get(roomId);
    if (!r) return fail('not_found', 'No such room', 404);
    return r;
  }
  /** A new room, empty, with these members (`info` overrides what is left). */
  newRoom(info: Partial<RoomInfo>): Room {
    const room_id = info.room_id ?? (++this.roomCounter).toString(16).padStart(64, 'e');
    const r: Room = { info: roomInfo({ ...info, room_id }), messages: [], nextSeq: 1 };
    this.chatRooms.set(room_id, r);
    return r;
  }
  roomSnapshot(r: Room): RoomInfo {
    const pending = r.messages.filter((m) => m.mine && m.state !== 'delivered').length;
    return { ...r.info, pending, last_message: r.messages.at(-1) ?? null, members: r.info.members.map((m) => ({ ...m })) };
  }
  roomChanged(r: Room): void {
    this.emit({ type: 'room_updated', room: this.roomSnapshot(r) });
  }
  /** Adds a committed entry to a room (as its host would), telling the UI. */
  commitEntry(r: Room, sender: string, kind: MessageKind, body: string, extra: Partial<ChatMessage> = {}): ChatMessage {
    const mine = sender === this.selfId;
    const m = chatMessage({
      room_id: r.info.room_id,
      sender,
      mine,
      kind,
      body,
      seq: r.nextSeq++,
      state: mine ? 'delivered' : 'received',
      ...extra,
    });
    const firstPending = r.messages.findIndex((x) => x.seq === null);
    if (firstPending < 0) r.messages.push(m);
    else r.messages.splice(firstPending, 0, m);
    if (!m.mine && kind === 'text') r.info.unread += 1;
    this.emit({ type: 'chat_message', message: m });
    return m;
  }
  async dm(peerId: string): Promise<Dm> {
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
  dmSnapshot(d: Dm): DmConversation {
    const pending = d.messages.filter((m) => m.mine && m.state !== 'delivered').length;
    return { ...d.conv, pending, last_message: d.messages.at(-1) ?? null };
  }
}

function matches(r: Resource, req: SearchRequest): boolean {
  if (req.kinds.length > 0 && !req.kinds.includes(r.kind)) return false;
  if (req.author && r.author !== req.author) return false;
  if (req.available_only && !r.available) return false;
  const words = req.text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [r.title, r.description, r.tags.join(' '), r.author_name ?? ''].join(' ').toLowerCase();
  return words.every((w) => hay.includes(w));
}
