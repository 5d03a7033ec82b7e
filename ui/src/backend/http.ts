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
import { ApiError, errorFromResponse } from './errors';

/** The subset of the WebSocket API the event stream uses (so tests can supply a fake). */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * The subset of `XMLHttpRequest` an upload uses (so tests can supply a fake). Uploads use
 * it rather than `fetch` because only it reports how much of a request body has been sent.
 */
export interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Blob): void;
  abort(): void;
  readonly status: number;
  readonly statusText: string;
  readonly responseText: string;
  readonly upload: {
    onprogress: ((ev: { loaded: number; total: number; lengthComputable: boolean }) => void) | null;
  };
  onload: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onabort: ((ev: unknown) => void) | null;
  ontimeout: ((ev: unknown) => void) | null;
}

export interface HttpBackendOptions {
  /** Origin of the node, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  token: string;
  fetch?: FetchLike;
  createSocket?: (url: string) => SocketLike;
  createXhr?: () => XhrLike;
  /** Timer functions, replaceable in tests. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  /** Longest wait between reconnection attempts, in milliseconds. */
  maxBackoffMs?: number;
}

/** Delay before reconnection attempt number `attempt` (0-based): 250 ms doubling, capped. */
export function backoffDelay(attempt: number, maxMs = 5000): number {
  return Math.min(maxMs, 250 * 2 ** Math.min(attempt, 16));
}

/** The parsed JSON body of an API response; throws `ApiError` for an error status or a non-JSON body. */
export function parseResponse<T>(status: number, statusText: string, text: string): T {
  let parsed: unknown = undefined;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (status < 200 || status > 299) throw errorFromResponse(status, parsed, statusText);
  if (text.length > 0 && parsed === undefined) {
    throw new ApiError('internal', 'The node sent a response that is not JSON', status);
  }
  return (parsed ?? null) as T;
}

/** Talks to a headless node over its HTTP API (same origin as the page). */
export class HttpBackend implements Backend {
  readonly kind = 'http' as const;
  private readonly base: string;
  private readonly token: string;
  private readonly fetchFn: FetchLike;
  private readonly createSocket: (url: string) => SocketLike;
  private readonly createXhr: () => XhrLike;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly maxBackoffMs: number;
  /** Id of the last event delivered; the stream resumes after it. */
  lastEventId = 0;

  constructor(opts: HttpBackendOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.createXhr = opts.createXhr ?? (() => new XMLHttpRequest() as unknown as XhrLike);
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer =
      opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
  }

  /**
   * Runs one command: `POST /api/<name>` with its request as the JSON body (none when it
   * takes nothing). Answers the parsed JSON response; throws `ApiError`.
   */
  call<K extends CommandName>(cmd: K, ...req: RequestArgs<K>): Promise<Commands[K]['res']> {
    const body: unknown = req[0] ?? null;
    return this.request('POST', `/api/${cmd}`, body === null ? undefined : body);
  }

  /** Sends one API request and returns its parsed JSON body; throws `ApiError`. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.token}`,
      Accept: 'application/json',
    };
    const init: RequestInit = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.base + path, init);
    } catch (e) {
      throw new ApiError(
        'unavailable',
        `Cannot reach the node${e instanceof Error && e.message ? ` (${e.message})` : ''}`,
      );
    }
    const text = await res.text().catch(() => '');
    return parseResponse<T>(res.status, res.statusText, text);
  }

  /** Query string of an upload: the file's name and what the person said about it. */
  static uploadQuery(name: string, meta: UploadMeta): string {
    const q = new URLSearchParams({ name });
    if (meta.title) q.set('title', meta.title);
    if (meta.description) q.set('description', meta.description);
    if (meta.kind) q.set('kind', meta.kind);
    // Tags travel comma-separated, so a comma can never be part of one.
    const tags = (meta.tags ?? []).map((t) => t.replace(/,/g, ' ').trim()).filter(Boolean);
    if (tags.length > 0) q.set('tags', tags.join(','));
    return q.toString();
  }

  upload(file: File, meta: UploadMeta, onProgress?: UploadProgressHandler): Promise<Resource> {
    const url = `${this.base}/api/upload?${HttpBackend.uploadQuery(file.name, meta)}`;
    return new Promise<Resource>((resolve, reject) => {
      let xhr: XhrLike;
      try {
        xhr = this.createXhr();
        xhr.open('POST', url);
        xhr.setRequestHeader('Authorization', `Bearer ${this.token}`);
        xhr.setRequestHeader('Accept', 'application/json');
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      } catch (e) {
        reject(new ApiError('internal', e instanceof Error ? e.message : String(e)));
        return;
      }
      const total = file.size;
      xhr.upload.onprogress = (ev) => {
        onProgress?.(Math.min(ev.loaded, total), total);
      };
      xhr.onload = () => {
        try {
          const resource = parseResponse<Resource>(xhr.status, xhr.statusText, xhr.responseText ?? '');
          onProgress?.(total, total);
          resolve(resource);
        } catch (e) {
          reject(e);
        }
      };
      const lost = (what: string) => () =>
        reject(new ApiError('unavailable', `The upload ${what}: cannot reach the node`));
      xhr.onerror = lost('failed');
      xhr.ontimeout = lost('timed out');
      xhr.onabort = () => reject(new ApiError('unavailable', 'The upload was interrupted'));
      onProgress?.(0, total);
      xhr.send(file);
    });
  }

  // Media and thumbnails are loaded by <video> and <img>, which cannot send headers: the
  // token goes in the query string.
  mediaUrl(contentId: string, file?: number): Promise<string> {
    return Promise.resolve(mediaPath(this.base, contentId, file, this.token));
  }
  thumbnailUrl(contentId: string, hash: string): string {
    return `${this.base}/thumbs/${encodeURIComponent(contentId)}/${encodeURIComponent(hash)}?token=${encodeURIComponent(this.token)}`;
  }
  avatarUrl(hash: string): string {
    return `${this.base}/avatars/${encodeURIComponent(hash)}?token=${encodeURIComponent(this.token)}`;
  }

  /** The browser's notifications, once the user allowed them (see `askNotifications`). */
  readonly notify = (title: string, body: string): void => {
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    try {
      new Notification(title, { body });
    } catch {
      // some browsers allow notifications only from a service worker: nothing to show then
    }
  };

  notificationPermission(): NotificationAccess {
    return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  }

  async askNotifications(): Promise<NotificationAccess> {
    if (typeof Notification === 'undefined') return 'unsupported';
    return await Notification.requestPermission();
  }

  /** A browser cannot pick a folder on the node's disk: the path is typed. */
  readonly pickFolder = null;

  /** The headless node's passphrase stays where it is (typed, or `HEARTH_PASSPHRASE`). */
  readonly rememberPassphrase = null;

  /** Starting at login is the desktop app's: a headless node runs as a service. */
  readonly autostart = null;

  /** A page's file input gives `File` objects, not paths: see `upload`. */
  readonly pickFiles = null;

  /** A browser delivers dropped files as `File` objects (page drop events), never as paths. */
  watchFileDrops(_onDrop: (event: FileDropEvent) => void): (() => void) | null {
    return null;
  }

  /** WebSocket address of the event stream, resuming after `since`. */
  eventsSocketUrl(since: number): string {
    const url = new URL(this.base + '/api/events/ws');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('since', String(since));
    url.searchParams.set('token', this.token);
    return url.toString();
  }

  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void {
    let stopped = false;
    let socket: SocketLike | null = null;
    let timer: unknown = null;
    let attempt = 0;
    // null until the first attempt settles, so the first failure is reported too.
    let connected: boolean | null = null;

    const report = (value: boolean) => {
      if (connected !== value) {
        connected = value;
        onConnectionChange(value);
      }
    };

    const open = () => {
      timer = null;
      if (stopped) return;
      let ws: SocketLike;
      try {
        ws = this.createSocket(this.eventsSocketUrl(this.lastEventId));
      } catch {
        report(false);
        retry();
        return;
      }
      socket = ws;
      ws.onopen = () => {
        if (stopped || socket !== ws) return;
        attempt = 0;
        report(true);
      };
      ws.onmessage = (msg) => {
        if (stopped || socket !== ws || typeof msg.data !== 'string') return;
        let event: Event;
        try {
          event = JSON.parse(msg.data) as Event;
        } catch {
          return;
        }
        if (typeof event !== 'object' || event === null || typeof event.id !== 'number') return;
        // Ids come from the node; after a `resync` (e.g. the node restarted) they may restart.
        this.lastEventId = event.id;
        onEvent(event);
      };
      ws.onerror = () => {
        // A close event follows; reconnection is handled there.
      };
      ws.onclose = () => {
        if (stopped || socket !== ws) return;
        socket = null;
        report(false);
        retry();
      };
    };

    const retry = () => {
      if (stopped || timer !== null) return;
      const delay = backoffDelay(attempt, this.maxBackoffMs);
      attempt += 1;
      timer = this.setTimer(open, delay);
    };

    open();

    return () => {
      stopped = true;
      if (timer !== null) this.clearTimer(timer);
      timer = null;
      const ws = socket;
      socket = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close(1000, 'unsubscribed');
        } catch {
          // ignore
        }
      }
    };
  }
}

/** `<base>/media/<id>[/<file>]?token=…`: the node's byte-range route for players. */
export function mediaPath(base: string, contentId: string, file: number | undefined, token: string): string {
  const n = file !== undefined && file > 0 ? `/${Math.floor(file)}` : '';
  return `${base}/media/${encodeURIComponent(contentId)}${n}?token=${encodeURIComponent(token)}`;
}
