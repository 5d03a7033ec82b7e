import {
  convertFileSrc as tauriConvertFileSrc,
  invoke as tauriInvoke,
  type InvokeArgs,
  type InvokeOptions,
} from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { getCurrentWebview, type DragDropEvent } from '@tauri-apps/api/webview';
import type { CommandName, Commands } from '../api/commands';
import type { Event, Resource } from '../api/types';
import type {
  NotificationAccess,
  Backend,
  ConnectionHandler,
  RequestArgs,
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

  /** Runs one command: `invoke(name, { req })`, or `invoke(name, {})` when it takes nothing. */
  call<K extends CommandName>(cmd: K, ...req: RequestArgs<K>): Promise<Commands[K]['res']> {
    const r: unknown = req[0] ?? null;
    return this.invokeRaw(cmd, r === null ? {} : { req: r });
  }

  /** One Tauri command (an API command or one of the shell's own); throws `ApiError`. */
  private async invokeRaw<T>(cmd: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
    try {
      return await this.invokeFn<T>(cmd, args, options);
    } catch (e) {
      throw toApiError(e);
    }
  }

  /** The shell's `remember_passphrase`: the OS keyring (Secret Service). */
  readonly rememberPassphrase = async (passphrase: string | null): Promise<void> => {
    await this.invokeRaw<null>('remember_passphrase', { passphrase });
  };

  /** The shell's XDG autostart entry. */
  readonly autostart = {
    get: (): Promise<boolean> => this.invokeRaw<boolean>('get_autostart'),
    set: (on: boolean): Promise<boolean> => this.invokeRaw<boolean>('set_autostart', { on }),
  };

  /** The system's file picker (the shell's `pick_files`, over Tauri's dialog plugin). */
  readonly pickFiles = async (): Promise<string[]> => {
    return await this.invokeRaw<string[]>('pick_files', { title: 'Publish files' });
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
    const resource = await this.invokeRaw<Resource>('upload', bytes, { headers: { [UPLOAD_HEADER]: header } });
    onProgress?.(total, total);
    return resource;
  }

  // Thumbnails come from the desktop shell's own URI scheme (it percent-decodes the path).
  // Media comes from the shell's loopback HTTP server: WebKitGTK's media backend cannot read
  // a custom scheme (WebKit bug 146351). The custom scheme serves the same byte ranges and is
  // the fallback when that server is not running.
  async mediaUrl(contentId: string, file?: number): Promise<string> {
    this.mediaServer ??= this.invokeRaw<{ url: string; token: string }>('media_server').catch((e: unknown) => {
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
  avatarUrl(hash: string): string {
    return this.fileSrcFn(`avatars/${hash}`, MEDIA_SCHEME);
  }

  /** The desktop shows notifications without asking (the notification plugin's default). */
  notificationPermission(): NotificationAccess {
    return 'granted';
  }

  async askNotifications(): Promise<NotificationAccess> {
    return 'granted';
  }

  /** The system's folder picker (Tauri's dialog plugin). */
  readonly pickFolder = async (title: string): Promise<string | null> => {
    const picked = await this.invokeRaw<string | string[] | null>('plugin:dialog|open', {
      options: { multiple: false, directory: true, title },
    });
    return Array.isArray(picked) ? (picked[0] ?? null) : picked;
  };

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
        const missed = await this.call('events_since', { since: this.lastEventId });
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
