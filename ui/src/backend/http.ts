import type { AddrRequest, Event, PeerInfo, Profile, Settings, Status } from '../api/types';
import type { Backend, ConnectionHandler, EventHandler } from './backend';
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

export interface HttpBackendOptions {
  /** Origin of the node, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  token: string;
  fetch?: FetchLike;
  createSocket?: (url: string) => SocketLike;
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

/** Talks to a headless node over its HTTP API (same origin as the page). */
export class HttpBackend implements Backend {
  readonly kind = 'http' as const;
  private readonly base: string;
  private readonly token: string;
  private readonly fetchFn: FetchLike;
  private readonly createSocket: (url: string) => SocketLike;
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
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer =
      opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
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
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) throw errorFromResponse(res.status, parsed, res.statusText);
    if (text.length > 0 && parsed === undefined) {
      throw new ApiError('internal', 'The node sent a response that is not JSON', res.status);
    }
    return (parsed ?? null) as T;
  }

  status(): Promise<Status> {
    return this.request('GET', '/api/status');
  }
  getProfile(): Promise<Profile> {
    return this.request('GET', '/api/profile');
  }
  setProfile(profile: Profile): Promise<Profile> {
    return this.request('PUT', '/api/profile', profile);
  }
  listPeers(): Promise<PeerInfo[]> {
    return this.request('GET', '/api/peers');
  }
  async connect(addr: string): Promise<void> {
    const body: AddrRequest = { addr };
    await this.request<null>('POST', '/api/peers/connect', body);
  }
  async blockPeer(peerId: string): Promise<void> {
    await this.request<null>('POST', `/api/peers/${encodeURIComponent(peerId)}/block`);
  }
  async unblockPeer(peerId: string): Promise<void> {
    await this.request<null>('DELETE', `/api/peers/${encodeURIComponent(peerId)}/block`);
  }
  getSettings(): Promise<Settings> {
    return this.request('GET', '/api/settings');
  }
  addBootstrap(addr: string): Promise<Settings> {
    const body: AddrRequest = { addr };
    return this.request('POST', '/api/settings/bootstrap', body);
  }
  removeBootstrap(addr: string): Promise<Settings> {
    const body: AddrRequest = { addr };
    return this.request('POST', '/api/settings/bootstrap/remove', body);
  }
  /** Buffered events with an id greater than `since` (polling counterpart of the stream). */
  eventsSince(since: number): Promise<Event[]> {
    return this.request('GET', `/api/events?since=${since}`);
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
