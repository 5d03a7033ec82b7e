import {
  convertFileSrc as tauriConvertFileSrc,
  invoke as tauriInvoke,
  type InvokeArgs,
  type InvokeOptions,
} from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { getCurrentWebview, type DragDropEvent } from '@tauri-apps/api/webview';
import type {
  CatalogStats,
  ChangePassphraseRequest,
  ChatMessage,
  ChatStatus,
  CreateRoomRequest,
  DmConversation,
  DmHistoryRequest,
  Download,
  DownloadRequest,
  Event,
  FolderRequest,
  Follow,
  HistoryPage,
  HistoryRequest,
  Holder,
  InviteRequest,
  Library,
  MirrorRequest,
  PassphraseRequest,
  PeerIdRequest,
  PeerInfo,
  PreviewRequest,
  Profile,
  PublishRequest,
  QuotaRequest,
  RenameRoomRequest,
  Resource,
  RoomIdRequest,
  RoomInfo,
  SearchRequest,
  SendDmRequest,
  SendMessageRequest,
  SearchResult,
  Settings,
  Status,
  UpdateResourceRequest,
} from '../api/types';
import type {
  Backend,
  ConnectionHandler,
  EventHandler,
  FileDropEvent,
  UploadMeta,
  UploadProgressHandler,
} from './backend';
import { backoffDelay, mediaPath } from './http';
import { toApiError } from './errors';

/** Name of the Tauri event that carries each `Event` of the node. */
export const EVENT_NAME = 'hearth-event';

export type InvokeFn = <T>(cmd: string, args?: InvokeArgs, options?: InvokeOptions) => Promise<T>;

/** Header that carries an upload's description beside its raw bytes. */
export const UPLOAD_HEADER = 'x-hearth-upload';

/** Tauri's `convertFileSrc`: the address of `path` under a custom URI scheme (`protocol`). */
export type FileSrcFn = (path: string, protocol?: string) => string;

/** The URI scheme the desktop app serves media and thumbnails under. */
export const MEDIA_SCHEME = 'hearth';

export type DragDropFn = (handler: (event: DragDropEvent) => void) => Promise<() => void>;

/**
 * JSON with every character outside printable ASCII written as a `\uXXXX` escape: still the
 * same JSON value, but safe in an HTTP-style header (Tauri carries IPC headers as such, and
 * the Rust side reads them as visible ASCII), whatever language the title is in.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

export type ListenFn = (
  name: string,
  handler: (msg: { payload: Event }) => void,
) => Promise<() => void>;

export interface TauriBackendOptions {
  invoke?: InvokeFn;
  listen?: ListenFn;
  /** Builds media and thumbnail addresses (Tauri's `convertFileSrc`). */
  convertFileSrc?: FileSrcFn;
  /** Subscribes to the webview's drag-and-drop events. */
  onDragDrop?: DragDropFn;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/** Talks to the node embedded in the desktop app through Tauri commands. */
export class TauriBackend implements Backend {
  readonly kind = 'tauri' as const;
  private readonly invokeFn: InvokeFn;
  private readonly listenFn: ListenFn;
  private readonly fileSrcFn: FileSrcFn;
  private readonly dragDropFn: DragDropFn;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  /** Id of the last event delivered; catching up asks for the events after it. */
  lastEventId = 0;
  /** The shell's loopback media server, asked once. */
  private mediaServer: Promise<{ url: string; token: string } | null> | undefined;

  constructor(opts: TauriBackendOptions = {}) {
    this.invokeFn = opts.invoke ?? tauriInvoke;
    this.listenFn = opts.listen ?? ((name, handler) => tauriListen<Event>(name, handler));
    this.fileSrcFn = opts.convertFileSrc ?? tauriConvertFileSrc;
    this.dragDropFn =
      opts.onDragDrop ?? ((handler) => getCurrentWebview().onDragDropEvent((e) => handler(e.payload)));
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer =
      opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  private async call<T>(cmd: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
    try {
      return await this.invokeFn<T>(cmd, args, options);
    } catch (e) {
      throw toApiError(e);
    }
  }

  status(): Promise<Status> {
    return this.call('status');
  }
  getProfile(): Promise<Profile> {
    return this.call('get_profile');
  }
  setProfile(profile: Profile): Promise<Profile> {
    return this.call('set_profile', { profile });
  }
  listPeers(): Promise<PeerInfo[]> {
    return this.call('list_peers');
  }
  async connect(addr: string): Promise<void> {
    await this.call<null>('connect', { addr });
  }
  async blockPeer(peerId: string): Promise<void> {
    await this.call<null>('block_peer', { peerId });
  }
  async unblockPeer(peerId: string): Promise<void> {
    await this.call<null>('unblock_peer', { peerId });
  }
  getSettings(): Promise<Settings> {
    return this.call('get_settings');
  }
  addBootstrap(addr: string): Promise<Settings> {
    return this.call('add_bootstrap', { addr });
  }
  removeBootstrap(addr: string): Promise<Settings> {
    return this.call('remove_bootstrap', { addr });
  }
  publish(req: PublishRequest): Promise<Resource> {
    return this.call('publish', { req });
  }

  /** The system's file picker (Tauri's dialog plugin). */
  readonly pickFiles = async (): Promise<string[]> => {
    const picked = await this.call<string | string[] | null>('plugin:dialog|open', {
      options: { multiple: true, directory: false, title: 'Publish files' },
    });
    if (picked === null) return [];
    return Array.isArray(picked) ? picked : [picked];
  };
  async upload(file: File, meta: UploadMeta, onProgress?: UploadProgressHandler): Promise<Resource> {
    const total = file.size;
    onProgress?.(0, total);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await file.arrayBuffer());
    } catch (e) {
      throw toApiError(e instanceof Error ? new Error(`Cannot read ${file.name}: ${e.message}`) : e);
    }
    const header = asciiJson({
      name: file.name,
      title: meta.title || null,
      description: meta.description || null,
      kind: meta.kind ?? null,
      tags: meta.tags ?? [],
    });
    // A raw body goes over IPC in one piece, so there is no progress to report until it lands.
    const resource = await this.call<Resource>('upload', bytes, { headers: { [UPLOAD_HEADER]: header } });
    onProgress?.(total, total);
    return resource;
  }
  async unpublish(contentId: string): Promise<void> {
    await this.call<null>('unpublish', { contentId });
  }
  updateResource(req: UpdateResourceRequest): Promise<Resource> {
    return this.call('update_resource', { req });
  }
  search(req: SearchRequest): Promise<SearchResult> {
    return this.call('search', { req });
  }
  getResource(contentId: string): Promise<Resource> {
    return this.call('get_resource', { contentId });
  }
  listHolders(contentId: string): Promise<Holder[]> {
    return this.call('list_holders', { contentId });
  }
  catalogStats(): Promise<CatalogStats> {
    return this.call('catalog_stats');
  }
  startDownload(req: DownloadRequest): Promise<Download> {
    return this.call('start_download', { req });
  }
  async pauseDownload(contentId: string): Promise<void> {
    await this.call<null>('pause_download', { contentId });
  }
  async resumeDownload(contentId: string): Promise<void> {
    await this.call<null>('resume_download', { contentId });
  }
  async cancelDownload(contentId: string): Promise<void> {
    await this.call<null>('cancel_download', { contentId });
  }
  listDownloads(): Promise<Download[]> {
    return this.call('list_downloads');
  }
  openFolder(contentId: string): Promise<string> {
    return this.call('open_folder', { contentId });
  }
  openFile(contentId: string): Promise<string> {
    return this.call('open_file', { contentId });
  }

  // Thumbnails come from the desktop shell's own URI scheme (it percent-decodes the path).
  // Media comes from the shell's loopback HTTP server: WebKitGTK's media backend cannot read
  // a custom scheme (WebKit bug 146351). The custom scheme serves the same byte ranges and is
  // the fallback when that server is not running.
  async mediaUrl(contentId: string, file?: number): Promise<string> {
    this.mediaServer ??= this.call<{ url: string; token: string }>('media_server').catch((e: unknown) => {
      console.warn('no local media server; using the hearth: scheme', e);
      this.mediaServer = undefined;
      return null;
    });
    const server = await this.mediaServer;
    if (server) return mediaPath(server.url, contentId, file, server.token);
    const n = file !== undefined && file > 0 ? `/${Math.floor(file)}` : '';
    return this.fileSrcFn(`media/${contentId}${n}`, MEDIA_SCHEME);
  }
  thumbnailUrl(contentId: string, hash: string): string {
    return this.fileSrcFn(`thumbs/${contentId}/${hash}`, MEDIA_SCHEME);
  }
  setPreview(req: PreviewRequest): Promise<Resource> {
    return this.call('set_preview', { req });
  }

  listFollows(): Promise<Follow[]> {
    return this.call('list_follows');
  }
  follow(peerId: string): Promise<Follow[]> {
    const req: PeerIdRequest = { peer_id: peerId };
    return this.call('follow', { req });
  }
  unfollow(peerId: string): Promise<Follow[]> {
    const req: PeerIdRequest = { peer_id: peerId };
    return this.call('unfollow', { req });
  }
  setMirror(peerId: string, on: boolean): Promise<Follow[]> {
    const req: MirrorRequest = { peer_id: peerId, on };
    return this.call('set_mirror', { req });
  }
  setMirrorQuota(bytes: number): Promise<Settings> {
    const req: QuotaRequest = { bytes };
    return this.call('set_mirror_quota', { req });
  }
  getLibrary(): Promise<Library> {
    return this.call('get_library');
  }
  addSharedFolder(path: string): Promise<Library> {
    const req: FolderRequest = { path };
    return this.call('add_shared_folder', { req });
  }
  removeSharedFolder(path: string): Promise<Library> {
    const req: FolderRequest = { path };
    return this.call('remove_shared_folder', { req });
  }

  chatStatus(): Promise<ChatStatus> {
    return this.call('chat_status');
  }
  unlockChat(passphrase: string): Promise<ChatStatus> {
    const req: PassphraseRequest = { passphrase };
    return this.call('unlock_chat', { req });
  }
  async changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void> {
    const req: ChangePassphraseRequest = { old: oldPassphrase, new: newPassphrase };
    await this.call<null>('change_passphrase', { req });
  }
  listRooms(): Promise<RoomInfo[]> {
    return this.call('list_rooms');
  }
  createRoom(req: CreateRoomRequest): Promise<RoomInfo> {
    return this.call('create_room', { req });
  }
  getRoom(roomId: string): Promise<RoomInfo> {
    return this.call('get_room', { roomId });
  }
  async renameRoom(roomId: string, name: string): Promise<void> {
    const req: RenameRoomRequest = { room_id: roomId, name };
    await this.call<null>('rename_room', { req });
  }
  async invite(roomId: string, peerId: string): Promise<void> {
    const req: InviteRequest = { room_id: roomId, peer_id: peerId };
    await this.call<null>('invite', { req });
  }
  async leaveRoom(roomId: string): Promise<void> {
    const req: RoomIdRequest = { room_id: roomId };
    await this.call<null>('leave_room', { req });
  }
  async deleteRoom(roomId: string): Promise<void> {
    const req: RoomIdRequest = { room_id: roomId };
    await this.call<null>('delete_room', { req });
  }
  sendMessage(roomId: string, body: string): Promise<ChatMessage> {
    const req: SendMessageRequest = { room_id: roomId, body };
    return this.call('send_message', { req });
  }
  roomHistory(req: HistoryRequest): Promise<HistoryPage> {
    return this.call('room_history', { req });
  }
  async markRoomRead(roomId: string): Promise<void> {
    const req: RoomIdRequest = { room_id: roomId };
    await this.call<null>('mark_room_read', { req });
  }
  listDms(): Promise<DmConversation[]> {
    return this.call('list_dms');
  }
  sendDm(peerId: string, body: string): Promise<ChatMessage> {
    const req: SendDmRequest = { peer_id: peerId, body };
    return this.call('send_dm', { req });
  }
  dmHistory(req: DmHistoryRequest): Promise<HistoryPage> {
    return this.call('dm_history', { req });
  }
  async markDmRead(peerId: string): Promise<void> {
    const req: PeerIdRequest = { peer_id: peerId };
    await this.call<null>('mark_dm_read', { req });
  }

  /** A desktop notification (Tauri's notification plugin); failures are ignored. */
  readonly notify = (title: string, body: string): void => {
    this.invokeFn('plugin:notification|notify', { options: { title, body } }).catch(() => {
      // not permitted or not available: the message is in the chat anyway
    });
  };

  watchFileDrops(onDrop: (event: FileDropEvent) => void): () => void {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    this.dragDropFn((e) => {
      if (stopped) return;
      if (e.type === 'drop') onDrop({ type: 'drop', paths: e.paths });
      else if (e.type === 'leave') onDrop({ type: 'leave' });
      else onDrop({ type: 'hover' });
    }).then(
      (fn) => {
        if (stopped) fn();
        else unlisten = fn;
      },
      () => {
        // No drag-and-drop here (e.g. not permitted): the file picker still works.
      },
    );
    return () => {
      stopped = true;
      unlisten?.();
      unlisten = null;
    };
  }

  eventsSince(since: number): Promise<Event[]> {
    return this.call('events_since', { since });
  }

  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    let timer: unknown = null;
    let attempt = 0;
    let connected: boolean | null = null;
    // Live events that arrive while catching up wait here, then are delivered in order.
    let pending: Event[] | null = [];

    const report = (value: boolean) => {
      if (connected !== value) {
        connected = value;
        onConnectionChange(value);
      }
    };

    const deliver = (e: Event) => {
      if (e.type !== 'resync' && e.id <= this.lastEventId) return; // already seen
      this.lastEventId = e.id;
      onEvent(e);
    };

    const catchUp = async () => {
      timer = null;
      if (stopped) return;
      try {
        const missed = await this.eventsSince(this.lastEventId);
        if (stopped) return;
        for (const e of missed) deliver(e);
        const queued = pending ?? [];
        pending = null;
        for (const e of queued) deliver(e);
        attempt = 0;
        report(true);
      } catch {
        if (stopped) return;
        report(false);
        timer = this.setTimer(() => void catchUp(), backoffDelay(attempt++));
      }
    };

    this.listenFn(EVENT_NAME, (msg) => {
      if (stopped) return;
      if (pending) pending.push(msg.payload);
      else deliver(msg.payload);
    }).then(
      (fn) => {
        if (stopped) fn();
        else {
          unlisten = fn;
          void catchUp();
        }
      },
      () => {
        report(false);
      },
    );

    return () => {
      stopped = true;
      if (timer !== null) this.clearTimer(timer);
      timer = null;
      if (unlisten) unlisten();
      unlisten = null;
    };
  }
}
